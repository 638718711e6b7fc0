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

// Beside the launch button's "Colab" entry, the student edition of the same chapter at the same
// release (classroom/student/, built by `python -m minigen.classroom build`; book/teaching.md).
document.addEventListener("DOMContentLoaded", () => {
  for (const link of document.querySelectorAll("a.dropdown-item[href*='colab.research.google.com']")) {
    if (!link.href.includes("/chapters/")) continue;
    const item = link.closest("li").cloneNode(true);
    const student = item.querySelector("a");
    student.href = link.href.replace("/chapters/", "/classroom/student/");
    student.title = "Launch the student edition (for assignments) on Colab";
    student.classList.add("minigen-student-edition");
    student.querySelector(".btn__text-container").textContent = "Colab: student edition";
    link.closest("li").after(item);
  }
});
