"""The chapters' Colab set-up cell: it installs the release that matches the book, never a branch,
and leaves the versions of what Colab already has alone.

The slow test runs the cell's own code in a fresh virtual environment laid out like Colab's: a
torch (the one this environment has, linked in, so nothing is downloaded; checked "unchanged"
only), *other* versions of numpy, matplotlib, pillow and ipywidgets than this environment's,
scipy, pandas and scikit-learn, and neither tqdm nor mlxtend. The repository address is pointed
at a bare clone of this repository, with the release tag created in the clone. A control first
asks pip what a plain ``pip install git+URL@TAG`` would do there: it would upgrade numpy and
matplotlib (the newest mlxtend needs newer ones), so a cell that installed that way fails this test.
"""
from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import sync_notebooks  # noqa: E402

# Colab-like versions that differ from this environment's (tests/test_colab_setup.py checks they do)
COLAB_VERSIONS = {"numpy": "2.0.2", "pillow": "11.3.0", "matplotlib": "3.10.0", "ipywidgets": "8.0.7"}
MISSING = {"tqdm", "mlxtend"}  # minigen needs them; the cell must add them
# Linked in from this environment with what they need, unchanged: pip itself, torch, and what
# Colab has besides (the kernel side of ipywidgets, SciPy, pandas, scikit-learn, matplotlib's parts).
LINKED = ["pip", "setuptools", "torch", "ipykernel", "ipython", "comm", "traitlets", "scipy", "pandas",
          "scikit-learn", "contourpy", "cycler", "fonttools", "kiwisolver", "packaging", "pyparsing",
          "python-dateutil"]


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_setup_cell_installs_the_release_tag_from_the_configured_repository():
    source = sync_notebooks.setup_source()
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    tag = sync_notebooks.release_tag()
    version = re.search(r'(?m)^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text())[1]
    assert tag == f"v{version}"
    assert source.count(f"git+{url}@{tag}") == 1, source
    assert "@main" not in source and "@master" not in source
    assert re.findall(r"git\+\S+@[\w.]+", source) == [f"git+{url}@{tag}"]  # one install of minigen
    assert '"--no-deps"' in source and '"-c", pins.name' in source


def test_every_chapter_starts_with_the_generated_setup_cell():
    expected = sync_notebooks.setup_source()
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        first = json.loads(path.read_text())["cells"][0]
        assert "".join(first["source"]) == expected, f"{path.name}: run scripts/sync_notebooks.py"
        assert first["metadata"]["tags"] == ["colab-setup", "remove-cell"], path.name


def test_installed_minigen_version_is_pyprojects():
    import minigen

    assert minigen.release_tag() == sync_notebooks.release_tag(), "reinstall: pip install -e ."


def _closure(roots: list[str], exclude: set[str]) -> list[md.Distribution]:
    """The installed distributions ``roots`` need, with their own requirements, minus ``exclude``."""
    env = {**default_environment(), "extra": ""}
    seen: dict[str, md.Distribution] = {}
    todo = list(roots)
    while todo:
        name = norm(todo.pop())
        if name in seen or name in exclude:
            continue
        dist = md.distribution(name)
        seen[name] = dist
        for req in map(Requirement, dist.requires or []):
            if req.marker is None or req.marker.evaluate(env):
                todo.append(req.name)
    return list(seen.values())


def _link_into(dists: list[md.Distribution], site: Path) -> None:
    """Install ``dists`` into ``site`` by hard-linking their files (a copy where links fail).

    pip removes a file before writing over it, so nothing done in the new environment can
    change this one's files."""
    for dist in dists:
        for f in dist.files or []:
            if f.parts[0] == "..":  # console scripts outside site-packages: not needed
                continue
            src, dst = Path(dist.locate_file(f)), site / f
            if not src.is_file() or dst.exists():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)


def _versions(python: Path, env: dict, cwd: Path) -> dict[str, str]:
    code = ("import importlib.metadata as m, json\n"
            "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))")
    return {norm(k): v for k, v in json.loads(_run([str(python), "-c", code], env, cwd).stdout).items()}


def _run(cmd: list[str], env: dict, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    import time
    t = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    print(f"{time.perf_counter() - t:6.1f} s  {' '.join(cmd)[:150]}")
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def test_setup_cell_in_a_colab_like_environment(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("this test needs git and a git checkout of the repository (it clones it)")
    for name, version in COLAB_VERSIONS.items():
        assert md.version(name) != version, f"{name} {version} is this environment's own version: pick another"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PIP_TARGET"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # Build minigen with the setuptools that is there instead of a fresh one each time (half the
    # time of this test); what gets installed, and with which versions, is unchanged.
    env["PIP_NO_BUILD_ISOLATION"] = "0"

    # The repository, as Colab would see it: a clone with the release tag.
    tag = sync_notebooks.release_tag()
    bare = tmp_path / "minigen.git"
    _run(["git", "clone", "--quiet", "--bare", str(ROOT), str(bare)], env, tmp_path)
    _run(["git", "-C", str(bare), "tag", "--force", tag, "HEAD"], env, tmp_path)
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    source = sync_notebooks.setup_source().replace(f"git+{url}@", f"git+{bare.as_uri()}@")
    assert bare.as_uri() in source

    # The Colab-like environment.
    venv = tmp_path / "colab"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env, tmp_path)
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     env, tmp_path).stdout.strip())
    _link_into(_closure(LINKED, set(COLAB_VERSIONS) | MISSING | {"minigen", "widgetsnbextension",
                                                                  "jupyterlab-widgets", "numpy", "pillow"}), site)
    _run([str(python), "-m", "pip", "install", "-q", *(f"{n}=={v}" for n, v in COLAB_VERSIONS.items())], env, tmp_path)
    before = _versions(python, env, tmp_path)
    assert {n: before.get(n) for n in COLAB_VERSIONS} == COLAB_VERSIONS
    assert before["torch"] == md.version("torch") and not MISSING & before.keys()

    # The control: a plain install of the same release would change what Colab has.
    report = tmp_path / "plain.json"
    _run([str(python), "-m", "pip", "install", "--dry-run", "-q", "--report", str(report),
          f"git+{bare.as_uri()}@{tag}"], env, tmp_path)
    plain = {norm(i["metadata"]["name"]): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}
    would_change = {n for n in plain if n in before and plain[n] != before[n]}
    assert would_change, f"a plain install would change nothing here, so this test could not fail: {plain}"

    # The cell itself, as Colab runs it (its last line picks the device).
    cell = tmp_path / "setup_cell.py"
    # then minigen at work with what was there: the data, as numpy and torch tensors
    cell.write_text(source + "\nprint('device', device, 'minigen', minigen.__version__)\n"
                    "import minigen.data\nx, y = minigen.data.digits('train')\nprint(tuple(x.shape))\n")
    out = _run([str(python), str(cell)], env, tmp_path)
    assert f"minigen {tag[1:]}" in out.stdout and "(4000, 1, 28, 28)" in out.stdout, out.stdout

    after = _versions(python, env, tmp_path)
    changed = {n: (v, after.get(n)) for n, v in before.items() if after.get(n) != v}
    assert not changed, f"the set-up cell changed installed versions: {changed}"
    added = set(after) - set(before)
    assert {"minigen"} | MISSING <= added, (added, before.get("minigen"), after.get("minigen"))
    info = _run([str(python), "-c", "import importlib.metadata as m; print(m.distribution('minigen')"
                 ".read_text('direct_url.json'))"], env, tmp_path).stdout
    assert json.loads(info)["vcs_info"]["requested_revision"] == tag, info
