"""Helper of ``scripts/mutation_test.sh``: mutation testing of minigen's equation code with mutmut 3.

    python scripts/mutation_helper.py stage DIR    # copy the package and its tests into DIR
    python scripts/mutation_helper.py globs        # the mutant-name globs of the equation functions
    python scripts/mutation_helper.py list [FUNC]  # print each mutant of the equation functions (no run)
    python scripts/mutation_helper.py report DIR   # after `mutmut run` in DIR: counts, kill rate, survivors

Why a staged copy: mutmut 3 does not mutate decorated functions, and the likelihood bounds of
``minigen.vae`` (``log_weights``, ``evaluate``, ``kl_per_dimension``) are decorated with
``@torch.no_grad()``. ``stage`` rewrites each such function as the undecorated ``def`` followed by
``name = torch.no_grad()(name)``, which is what the decorator means, so that mutmut mutates it.
Nothing else changes; the repository's own files are never touched.

The equation functions are listed in :data:`EQUATIONS`. Mutants that cannot change any result
(equivalent mutants) are listed, with the reason, in :data:`EQUIVALENT`, and those that only
change the device of a tensor (equivalent on a machine without a GPU) in :data:`CPU_ONLY`;
``report`` sets them aside when it computes the kill rate, and flags an entry whose mutant no
longer matches (after an edit of the package, mutmut renumbers the mutants of the edited
function). It exits with status 0 when at least 95 % of the mutants are killed once the
equivalent ones are set aside.
"""
from __future__ import annotations

import ast
import fnmatch
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: module file -> the functions that implement an equation of the book (losses, bounds, metrics,
#: and the training steps that backpropagate them).
EQUATIONS = {
    "minigen/vae.py": [
        "reparameterize", "kl_terms", "gaussian_kl", "bernoulli_log_likelihood",
        "gaussian_log_likelihood", "elbo", "decoder_log_likelihood", "vae_loss", "iwae_bound",
        "train_step", "log_weights", "evaluate", "kl_per_dimension",
    ],
    "minigen/cvae.py": ["conditional_elbo", "train_step"],
    "minigen/gan.py": [
        "value_function", "discriminator_loss", "generator_loss_minimax",
        "generator_loss_nonsaturating", "lsgan_discriminator_loss", "lsgan_generator_loss",
        "optimal_discriminator", "r1_penalty", "train_step",
    ],
    "minigen/cyclegan.py": [
        "cycle_loss", "identity_loss", "generator_objective", "discriminator_objective",
        "train_step", "evaluate_translation",
    ],
    "minigen/metrics.py": [
        "_psd_sqrt", "frechet_distance", "_polynomial_kernel", "_random_subsets",
        "_subset_kernel_sums", "kid", "precision_recall", "_coverage_from_logits",
        "class_coverage", "evaluate_images", "mode_coverage", "label_preservation",
        "pixel_error", "grey_share",
    ],
}

_ZERO_GRAD = ("gradients are zeroed instead of freed; every parameter of these networks gets a "
              "gradient in every backward pass, so each step sees the same gradients")
_BATCH = ("the classifier's batch size: the same images in other batches, the same outputs up to "
          "float rounding")
_NAME = "'images' is check_images's default name: the same checks and messages"

#: mutant name -> (a piece of the mutated line, why the mutant cannot change any result). Found
#: by a full run (bash scripts/mutation_test.sh); mutmut numbers the mutants of a function in
#: order, so an edit of that function can renumber them: ``report`` then flags the entry as stale.
EQUIVALENT: dict[str, tuple[str, str]] = {
    "minigen.cyclegan.x_train_step__mutmut_21": (
        "set_grad_enabled(c.lambda_id >= 0)",
        "with lambda_id = 0 the identity loss is also built with gradients, but it enters the objective "
        "times 0, which adds exact zeros to the gradients; for lambda_id > 0 nothing changes"),
    "minigen.cyclegan.x_train_step__mutmut_49": ('optimizers["GF"].zero_grad(set_to_none=None)', _ZERO_GRAD),
    "minigen.cyclegan.x_train_step__mutmut_52": ('optimizers["GF"].zero_grad(set_to_none=False)', _ZERO_GRAD),
    "minigen.cyclegan.x_train_step__mutmut_71": ('optimizers["D"].zero_grad(set_to_none=None)', _ZERO_GRAD),
    "minigen.cyclegan.x_train_step__mutmut_74": ('optimizers["D"].zero_grad(set_to_none=False)', _ZERO_GRAD),
    "minigen.gan.x_train_step__mutmut_12": (
        "requires_grad_(c.r1 >= 0)",
        "with r1 = 0 the real batch (a fresh detached copy) also records its gradient, which nothing "
        "reads: the penalty is only computed for r1 > 0"),
    "minigen.metrics.x__subset_kernel_sums__mutmut_1": (
        "chunk: int = 1025",
        "how many rows of the kernel matrix are built at a time: the same sum in other groups, equal up "
        "to float rounding"),
    "minigen.metrics.x_class_coverage__mutmut_8": ("_run_classifier(images, device, 501)", _BATCH),
    "minigen.metrics.x_evaluate_images__mutmut_10": ("_run_classifier(generated, device, 501)", _BATCH),
    "minigen.metrics.x_label_preservation__mutmut_17": ("_run_classifier(translated, device, 501)", _BATCH),
    "minigen.metrics.x_evaluate_images__mutmut_36": (
        "precision_recall(feat_ref, feat_gen, )", "k = 3 is precision_recall's default: the same k"),
    "minigen.metrics.x_grey_share__mutmut_7": ("check_images(images, )", _NAME),
    "minigen.metrics.x_pixel_error__mutmut_5": ("check_images(images, )", _NAME),
    "minigen.metrics.x_precision_recall__mutmut_31": (
        "kthvalue(k + 1, )", "the default dim = -1 of the square (N, N) distance matrix is dim 1"),
    "minigen.vae.x_kl_per_dimension__mutmut_1": (
        "batch_size: int = 501",
        "how many images are encoded at a time: the same per-dimension sum in other groups, equal up "
        "to float rounding"),
    "minigen.vae.x_log_weights__mutmut_14": (
        "log_var.expand(*log_var.shape)",
        "log_var (B, d) broadcasts against mu and eps (k, B, d) in reparameterize: the same z"),
}

_CPU = ("on a machine without a GPU every tensor is on the CPU, the default device, so leaving out "
        "or dropping the device changes nothing there")

#: Mutants that only change the device a tensor is created on or moved to: equivalent on a
#: CPU-only machine (there is nothing else to move to), so no CPU test can catch them; on a GPU
#: they would put a tensor on the wrong device. Same format as EQUIVALENT.
CPU_ONLY: dict[str, tuple[str, str]] = {
    **{f"minigen.gan.x_train_step__mutmut_{i}": (frag, _CPU) for i, frag in (
        (6, "device = None"), (11, "real().to(None)"), (18, "generator=generator, device=None)"),
        (22, "torch.randn(len(x), c.z_dim, generator=generator, )"), (45, "torch.zeros((), device=None)"),
        (47, "torch.zeros((), )"), (57, "generator=generator, device=None)"),
        (61, "torch.randn(c.batch_size, c.z_dim, generator=generator, )"))},
    "minigen.vae.x_evaluate__mutmut_4": ('check_images(x, "x").to(None)', _CPU),
    "minigen.vae.x_kl_per_dimension__mutmut_3": ('check_images(x, "x").to(None)', _CPU),
    "minigen.vae.x_gaussian_log_likelihood__mutmut_4": ("dtype=x.dtype, device=None)", _CPU),
    "minigen.vae.x_gaussian_log_likelihood__mutmut_7": ("dtype=x.dtype, )", _CPU),
    "minigen.vae.x_reparameterize__mutmut_1": ("gen_device = None", _CPU),
    "minigen.vae.x_reparameterize__mutmut_2": ("(generator is not None) and False", _CPU),
    "minigen.vae.x_reparameterize__mutmut_8": ("generator=generator, device=None, dtype=mu.dtype", _CPU),
    "minigen.vae.x_reparameterize__mutmut_12": ("torch.randn(mu.shape, generator=generator, dtype=mu.dtype)", _CPU),
    "minigen.vae.x_reparameterize__mutmut_19": ("eps.to(None)", _CPU),
    "minigen.metrics.x_mode_coverage__mutmut_4": ("detach().to(None, torch.float64)", _CPU),
    "minigen.metrics.x_mode_coverage__mutmut_6": ("torch.as_tensor(samples).detach().to(torch.float64)", _CPU),
    "minigen.metrics.x_mode_coverage__mutmut_23": ("means.detach().to(None, torch.float64)", _CPU),
    "minigen.metrics.x_mode_coverage__mutmut_25": ("mixture.means.detach().to(torch.float64)", _CPU),
    "minigen.metrics.x_pixel_error__mutmut_21": ("y.double().to(None)", _CPU),
}


def module_of(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def globs() -> list[str]:
    return [f"{module_of(path)}.x_{name}__mutmut_*" for path, names in EQUATIONS.items() for name in names]


def is_equation_mutant(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, g) for g in globs())


# --------------------------------------------------------------------------------------------
# stage
# --------------------------------------------------------------------------------------------
def undecorate_no_grad(source: str) -> str:
    """Rewrite ``@torch.no_grad()`` on top-level functions as ``name = torch.no_grad()(name)``."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    drop, after = set(), {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or len(node.decorator_list) != 1:
            continue
        deco = node.decorator_list[0]
        if ast.unparse(deco) != "torch.no_grad()":
            continue
        drop.add(deco.lineno - 1)
        after[node.end_lineno - 1] = f"{node.name} = torch.no_grad()({node.name})\n"
    out = []
    for i, line in enumerate(lines):
        if i not in drop:
            out.append(line)
        if i in after:
            out.append(after[i])
    result = "".join(out)
    ast.parse(result)
    return result


def stage(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    src = ROOT / "minigen"
    target = dest / "minigen"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
    for path in EQUATIONS:
        (dest / path).write_text(undecorate_no_grad((ROOT / path).read_text()))
    if (dest / "tests").exists():
        shutil.rmtree(dest / "tests")
    shutil.copytree(ROOT / "tests", dest / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    # mutmut reuses its mutants when the source is older than them: a fresh copy is newer, so a
    # changed package or test is always seen
    print(f"staged minigen/, tests/ and pyproject.toml in {dest}")


# --------------------------------------------------------------------------------------------
# list
# --------------------------------------------------------------------------------------------
def list_mutants(only: str | None) -> None:
    import libcst as cst
    from mutmut.mutation.file_mutation import create_mutations

    for path, names in EQUATIONS.items():
        code = undecorate_no_grad((ROOT / path).read_text())
        module, mutations, _, _ = create_mutations(path, code)
        count: dict[str, int] = {}
        for m in mutations:
            func = m.contained_by_top_level_function
            if not isinstance(func, cst.FunctionDef) or func.name.value not in names:
                continue
            fname = func.name.value
            count[fname] = count.get(fname, 0) + 1
            if only and fname != only:
                continue
            before = module.code_for_node(m.original_node).strip().replace("\n", " ")
            after = module.code_for_node(m.mutated_node).strip().replace("\n", " ")
            print(f"{module_of(path)}.x_{fname}__mutmut_{count[fname]}: {before[:90]}  ->  {after[:90]}")


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
STATUS = {1: "killed", 3: "killed", 0: "survived", 33: "no tests", 5: "no tests", 36: "timeout",
          -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", None: "not checked",
          -11: "segfault", -9: "segfault"}


def report(dest: Path) -> int:
    results: dict[str, int | None] = {}
    for path in EQUATIONS:
        meta = dest / "mutants" / (path + ".meta")
        if not meta.exists():
            print(f"no results for {path}: run mutmut first")
            return 2
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if is_equation_mutant(name):
                results[name] = code
    status = {name: STATUS.get(code, "suspicious") for name, code in results.items()}
    unchecked = sorted(n for n, s in status.items() if s == "not checked")
    if unchecked:  # a partial run (MUTANT_GLOBs given): report on what was checked
        print(f"{len(unchecked)} equation mutants not checked in this run (left out of the counts)")
        status = {n: s for n, s in status.items() if s != "not checked"}
    counts: dict[str, int] = {}
    for s in status.values():
        counts[s] = counts.get(s, 0) + 1
    total = len(status)
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    survivors = sorted(n for n, s in status.items() if s != "killed" and s != "timeout")

    diffs = {}
    if survivors:
        import os

        from mutmut.mutation.diff_apply import get_diff_for_mutant

        here = os.getcwd()
        os.chdir(dest)
        try:
            for name in survivors:
                path = next(p for p in EQUATIONS if name.startswith(module_of(p) + "."))
                diffs[name] = get_diff_for_mutant(name, path=path)
        finally:
            os.chdir(here)

    def added_lines(diff: str) -> str:
        return "\n".join(line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++"))

    known = {**EQUIVALENT, **CPU_ONLY}
    equivalent, cpu_only, stale, real = [], [], [], []
    for name in survivors:
        if name in known and known[name][0] in added_lines(diffs[name]):
            (equivalent if name in EQUIVALENT else cpu_only).append(name)
        else:
            real.append(name)
            if name in known:
                stale.append(name)

    print(f"\nmutation testing of the equation code: {len(EQUATIONS)} modules, "
          f"{sum(map(len, EQUATIONS.values()))} functions")
    print(f"mutants: {total}; " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))

    def rate(aside: int) -> str:
        kept = total - aside
        return f"{killed}/{kept} = {100 * killed / kept:.1f} %" if kept else "n/a"

    print(f"kill rate, all mutants:                                {rate(0)}")
    print(f"kill rate, {len(equivalent)} equivalent mutants set aside:           {rate(len(equivalent))}")
    print(f"kill rate, those and {len(cpu_only)} CPU-only-equivalent set aside: "
          f"{rate(len(equivalent) + len(cpu_only))}")
    if real:
        print(f"\n{len(real)} mutants not killed and not known to be equivalent:")
        for name in real:
            print(f"\n{name} ({status[name]}){' [stale entry: the mutant changed]' if name in stale else ''}")
            print(added_lines(diffs[name]))
    def mutated_line(name: str) -> str:
        return added_lines(diffs[name]).strip()[1:].strip()

    if equivalent:
        print(f"\n{len(equivalent)} equivalent mutants (they cannot change any result):")
        for name in equivalent:
            print(f"  {name}: {mutated_line(name)}\n      -> {EQUIVALENT[name][1]}")
    if cpu_only:
        print(f"\n{len(cpu_only)} CPU-only-equivalent mutants: {_CPU}:")
        for name in cpu_only:
            print(f"  {name}: {mutated_line(name)}")
    unused = sorted(n for n in set(known) - set(survivors) if n in status)
    if unused:
        print(f"\nlisted as equivalent but killed in this run (remove them from the lists): {unused}")
    kept = total - len(equivalent)  # the bar: 95 % once the equivalent mutants are set aside
    return 0 if kept and killed / kept >= 0.95 else 1


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("stage", "globs", "list", "report"):
        print(__doc__)
        return 2
    if argv[0] == "stage":
        stage(Path(argv[1]))
    elif argv[0] == "globs":
        print("\n".join(globs()))
    elif argv[0] == "list":
        list_mutants(argv[1] if len(argv) > 1 else None)
    else:
        return report(Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
