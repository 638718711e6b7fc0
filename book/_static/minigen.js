// Loaded on every page of the HTML book (book/_ext/minigen_html.py).
// A solution's title links to its exercise ("Solution to Exercise 8 (...)"). sphinx-togglebutton
// opens the solution on a click on the title, but a click on that link threw a ReferenceError
// in its handler and followed the link away: make the link open the solution like the title.
document.addEventListener(
  "click",
  (event) => {
    const link = event.target.closest(".toggle > .admonition-title a");
    if (!link) return;
    const button = link.closest(".admonition-title").querySelector(".toggle-button");
    if (!button) return;
    event.preventDefault();
    event.stopPropagation();
    button.click();
  },
  true,
);
