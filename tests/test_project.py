"""The project's own files agree with each other."""
import re
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch": "torch"}


def _name_and_spec(req: str) -> tuple[str, str]:
    m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", req)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_reqs = list(meta["dependencies"])
    for extra in meta["optional-dependencies"].values():
        pip_reqs += extra
    pip = dict(_name_and_spec(r) for r in pip_reqs)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name, spec = _name_and_spec(dep)
            if name not in ("python", "pip"):
                conda[CONDA_TO_PYPI.get(name, name)] = spec
    assert conda == pip


def test_package_metadata_has_no_torch_upper_pin_and_no_torchvision():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = dict(_name_and_spec(r) for r in meta["dependencies"])
    assert "torchvision" not in reqs
    assert "<" not in reqs["torch"] and "==" not in reqs["torch"]


def test_every_notebook_has_the_current_setup_cell():
    out = subprocess.run([sys.executable, "scripts/sync_notebooks.py", "--check"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_toc_lists_existing_files_and_every_chapter():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for f in files:
        found = [p for p in (ROOT / f).parent.glob(Path(f).name + ".*") if p.suffix in (".md", ".ipynb")]
        assert len(found) == 1, f"{f}: expected exactly one .md or .ipynb, found {found}"
    listed = set(files)
    for nb in (ROOT / "chapters").glob("*.ipynb"):
        assert f"chapters/{nb.stem}" in listed, f"{nb.name} is not in _toc.yml"


def test_bibliography_keys_cited_exist():
    bib = (ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    cited = set()
    for p in list((ROOT / "book").glob("*.md")) + list((ROOT / "chapters").glob("*.*")):
        for group in re.findall(r"\{cite(?::[pt])?\}`([^`]+)`", p.read_text()):
            cited |= {k.strip() for k in group.split(",")}
    assert cited, "no citations found"
    assert cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"


def test_readme_gives_exactly_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```(?:bash|sh)\n(.*?)```", readme, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert len(commands) == 2, commands
    test_cmd = [c for c in commands if "run_tests" in c][0].split("#")[0].strip()
    assert test_cmd.removeprefix("bash ") in (ROOT / ".ci" / "run").read_text()
