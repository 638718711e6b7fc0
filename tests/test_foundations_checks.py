"""Chapter 2's checks can fail: each plausible mistake below, put into the chapter's own code,
must make one of the chapter's asserts fire in the cell where the mistake is made.

The chapter (chapters/02_foundations.ipynb) is run from its stored code, cell by cell, in a
fresh namespace; nbval checks its outputs, this file checks that its asserts are not vacuous.
A mistake whose text is no longer in the chapter fails the test with a message: update the
list below together with the chapter.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pytest

matplotlib.use("Agg")

CHAPTER = Path(__file__).resolve().parent.parent / "chapters" / "02_foundations.ipynb"
SKIP = {"colab-setup", "chapter-timing"}  # Colab install; the timing shown in the book

# (cell id, text in the cell's code, the mistake that replaces it, what the mistake is)
MISTAKES = [
    ("fd-03", "step2 = math.log((p[on] * ratio).sum().item())",
     "step2 = (p[on] * ratio.log()).sum().item()", "Gibbs step 2 with log and expectation swapped"),
    ("fd-03", "assert step1 < step2", "assert step2 < step1", "Jensen's inequality the wrong way"),
    ("fd-03", "step3 = q[on].sum().item()", "step3 = q.sum().item()",
     "Gibbs step 3 summing q where p = 0 as well"),
    ("fd-07a", "log_normal(xs, th[0], math.exp(th[1])), log_p_a",
     "log_p_a, log_normal(xs, th[0], math.exp(th[1]))", "the mode-seeking table with the forward KL"),
    ("fd-07a", "log_normal(xs, a, 0.6))\n        - LOG2\n", "log_normal(xs, a, 0.6))\n",
     "the two-mode target without its weights 1/2"),
    ("fd-15", "np.logaddexp(log_p(t), log_q(t)) - LOG2", "np.logaddexp(log_p(t), log_q(t))",
     "the JSD's mixture M without its 1/2"),
    ("fd-15", "return 0.5 * kl_quad(log_p, log_m, lo, hi, points) + 0.5 * kl_quad(",
     "return kl_quad(log_p, log_m, lo, hi, points) + 0.5 * kl_quad(", "weight 1 on KL(p||M)"),
    ("fd-15", "        log_q, log_m, lo, hi, points\n", "        log_p, log_m, lo, hi, points\n",
     "KL(p||M) counted twice, KL(q||M) never"),
    ("fd-15", "return 0.5 * math.log(2 * math.pi * math.e * sigma**2)",
     "return 0.5 * math.log(2 * math.pi * sigma**2)", "the Gaussian entropy without its e"),
    ("fd-18a", "torch.randn(n_samples, 1, generator=g, dtype=F64) * torch.tensor(",
     "torch.randn(n_samples, 2, generator=g, dtype=F64) * torch.tensor(",
     "a 'generator' with d = n, which has a density"),
    ("fd-18b1", "spike = radius[:, None] *", "spike = radius[:, None].sqrt() *",
     "the spike density drawn as the uniform disc"),
    ("fd-18b1", "normal = torch.tensor([-0.5, 1.0]", "normal = torch.tensor([1.0, 0.5]",
     "distances measured along the line, not across it"),
    ("fd-18b1", "    return h + arc", "    return arc", "the band under rho without the disc of radius h"),
    ("fd-18c", "log_gauss(delta, s),", "log_gauss(delta, 0.5),",
     "the blur taken away from p_data only"),
    ("fd-19", "p_data_grid * logsigmoid(D) + p_g_grid * logsigmoid(-D), grid",
     "p_data_grid * logsigmoid(D) + p_g_grid * logsigmoid(D), grid",
     "V(D, G) with log sigma(D) for the generated samples"),
    ("fd-19", "c_from_jsd = -math.log(4) + 2 * jsd_quad(", "c_from_jsd = -math.log(4) + jsd_quad(",
     "C(G) = -log 4 + JSD (a factor 2 lost)"),
    ("fd-19", "c_from_jsd = -math.log(4) + 2 * jsd_quad(", "c_from_jsd = -math.log(2) + 2 * jsd_quad(",
     "C(G) with -log 2 in place of -log 4"),
    ("fd-19", "sigma_d_star = (p_data_grid / (p_data_grid + p_g_grid))[both]",
     "sigma_d_star = (p_g_grid / (p_data_grid + p_g_grid))[both]",
     "the optimal discriminator the wrong way round"),
    ("fd-19b", "res = optimize.minimize(jsd_to_target, start, **opts)",
     "res = optimize.minimize(lambda th: jsd_to_target([0.0, th[1]]), start, **opts)",
     "a JSD fit that never moves off the middle"),
    ("fd-21", "x_exp = -torch.log1p(-u) / lam", "x_exp = -torch.log1p(-u) * lam",
     "the exponential sampler times lambda"),
    ("fd-21", "x_exp = -torch.log1p(-u) / lam", "x_exp = -torch.log1p(-u) / lam * 1.02",
     "the exponential sampler 2 % off"),
    ("fd-26", "counts = torch.bincount(nearest, minlength=8)",
     "counts = torch.bincount(nearest, minlength=8)\nsamples = samples * 1.01",
     "the ring's covariance 2 % off"),
    ("fd-28b", "per_sample = torch.floor(z_step) * eps_step / sigma_step",
     "per_sample = torch.floor(z_step) * eps_step", "the score function without its 1/sigma"),
    ("fd-28b", "jumps = torch.arange(-50, 51, dtype=F64)", "jumps = torch.arange(0, 51, dtype=F64)",
     "the exact derivative summed over the jumps at k >= 0 only"),
    ("fd-28b", "mean_and_se(z_step**2 * eps_step / sigma_step)",
     "mean_and_se(z_step**2 * eps_step * sigma_step)", "the score of N(mu, sigma^2) as eps sigma"),
    ("fd-34", "x_tri = u.sqrt()", "x_tri = u", "the triangle sampler without the square root"),
    ("fd-36", "z_exp = -torch.log1p(-u) / lam_t", "z_exp = -torch.log1p(-u) / (2 * lam_t)",
     "the exponential's reparameterisation with a factor 1/2"),
    ("fd-38", "return (kl_to_mix(a) + kl_to_mix(b)) / 2", "return kl_to_mix(a) + kl_to_mix(b) / 2",
     "the coin JSD with one weight 1/2 lost"),
]


def _cells():
    """The chapter's code cells, less those that only draw a figure (they check nothing)."""
    nb = json.loads(CHAPTER.read_text())
    cells = [(c["id"], "".join(c["source"])) for c in nb["cells"]
             if c["cell_type"] == "code" and c.get("id") not in SKIP]
    return [(i, s) for i, s in cells if "plt.show()" not in s or "assert" in s]


def _run(cells, upto=None, mistake=None):
    """Run the cells in order (up to ``upto``), with ``mistake`` = (old, new) in cell ``upto``."""
    namespace: dict = {}
    for cell_id, source in cells:
        if cell_id == upto:
            old, new = mistake
            assert old in source, f"{old!r} is no longer in cell {cell_id}: update MISTAKES"
            source = source.replace(old, new, 1)
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(source, f"<cell {cell_id}>", "exec"), namespace)
        plt.close("all")
        if cell_id == upto:
            return namespace
    assert upto is None, f"no code cell {upto}"
    return namespace


def test_the_chapter_runs_and_its_checks_pass():
    cells = _cells()
    namespace = _run(cells)  # the chapter's own asserts run inside
    # every cell ran to its end, and the cells that hold the chapter's checks were among them
    checked = [cell_id for cell_id, source in cells if "assert" in source]
    assert len(checked) >= 10 and {m[0] for m in MISTAKES} <= {cell_id for cell_id, _ in cells}
    assert "torch" in namespace


@pytest.mark.parametrize("cell_id, old, new, what", MISTAKES, ids=[m[3] for m in MISTAKES])
def test_a_plausible_mistake_fails_a_check(cell_id, old, new, what):
    with pytest.raises(AssertionError) as info:
        _run(_cells(), upto=cell_id, mistake=(old, new))
    assert "update MISTAKES" not in str(info.value), str(info.value)
