"""JupyterLab, as book/how_to_use.md tells readers to use it: after either README command has set
up .venv, ``source .venv/bin/activate && jupyter lab chapters/`` starts JupyterLab on the chapters,
with a Python kernel that runs in the same environment (where minigen is installed)."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the environment the tests run in: .venv after set-up
DOCUMENTED = "source .venv/bin/activate && jupyter lab chapters/"


def test_how_to_use_gives_the_command_and_the_environment_provides_it():
    how_to = (ROOT / "book" / "how_to_use.md").read_text()
    assert DOCUMENTED in how_to and "--allow-root" in how_to
    book = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["book"]
    assert any(re.match(r"jupyterlab\b", r) for r in book), "jupyterlab is not in the book extra"
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    assert any(isinstance(d, str) and re.match(r"jupyterlab\b", d) for d in conda)
    assert "[book" in (ROOT / "scripts" / "setup_venv.sh").read_text(), "set-up no longer installs the book extra"


def test_jupyter_lab_runs_from_the_environment():
    out = subprocess.run([str(BIN / "jupyter"), "lab", "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip().split(".")[0]) >= 4, out.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyter_lab_serves_the_chapters_with_this_environments_kernel(tmp_path):
    port, token = _free_port(), "minigen-test"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "JUPYTER_RUNTIME_DIR": str(tmp_path),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    # what the documented command runs, with the browser off and a known port and token
    # (as root, JupyterLab refuses to start without --allow-root: book/how_to_use.md says so)
    root = ["--allow-root"] if os.geteuid() == 0 else []
    server = subprocess.Popen(["jupyter", "lab", "chapters/", *root, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                               f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def get(path: str):
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read().decode()
            return json.loads(body) if r.headers.get_content_type() == "application/json" else body

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                get("/api/status")
                break
            except OSError:
                assert server.poll() is None, f"jupyter lab exited: {server.stdout.read()}"
                assert time.monotonic() < deadline, "jupyter lab did not answer in 120 s"
                time.sleep(0.5)
        assert "JupyterLab" in get("/lab")  # the JupyterLab page, not only a bare server
        listed = {item["name"] for item in get("/api/contents/")["content"]}
        chapters = {p.name for p in (ROOT / "chapters").glob("*.ipynb")}
        assert chapters <= listed, f"the notebooks are not at the root: {sorted(listed)}"
        specs = get("/api/kernelspecs")
        argv = specs["kernelspecs"][specs["default"]]["spec"]["argv"]
        python = shutil.which(argv[0], path=env["PATH"])  # "python": the activated environment's
        check = subprocess.run([python, "-c", "import minigen, sys; print(sys.prefix)"], capture_output=True,
                               text=True, timeout=120)
        assert check.returncode == 0, f"the default kernel cannot import minigen: {check.stderr}"
        assert Path(check.stdout.strip()).resolve() == Path(sys.prefix).resolve()
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
