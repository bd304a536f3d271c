"""Plugins for real: dropped into a running server's folder, and pip-installed into a venv."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.plugins import copy_example, write_plugin
from tests.helpers.server import running_server

pytestmark = pytest.mark.e2e


def wait_for(check: Callable[[], Any], within: float = 10.0) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within, "condition not reached in time"
        time.sleep(0.1)
    return time.monotonic() - started


def graphs(url: str) -> dict[str, dict[str, Any]]:
    return {g["name"]: g for g in httpx.get(f"{url}/graphs").json()["graphs"]}


def test_drop_in_appears_changes_breaks_and_goes_without_restart(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    with running_server(tmp_path / "storage", "--plugins-dir", str(plugins)) as server:
        assert "draft_review" not in graphs(server.url)

        plugin = copy_example(plugins)
        seconds = wait_for(lambda: "draft_review" in graphs(server.url))
        print(f"dropped-in plugin visible after {seconds:.2f}s")
        assert graphs(server.url)["draft_review"]["origin"]["kind"] == "drop-in"
        r = httpx.post(f"{server.url}/mcp-tools/execute", json={"tool_id": "plugins-slugify", "input": {"text": "Hello, Wörld!"}})
        assert r.status_code == 200 and r.json()["output"] == {"result": "hello-world"}

        graphs_py = plugin / "echo_example_plugin" / "graphs.py"
        graphs_py.write_text(graphs_py.read_text().replace('version="1.0.0"', 'version="1.0.1"'))
        wait_for(lambda: graphs(server.url)["draft_review"]["version"] == "1.0.1")

        write_plugin(
            plugins,
            "broken",
            "broken_plugin",
            "import not_a_module_anywhere\n",
            '[project.entry-points."echo_orchestrator.graphs"]\nx = "broken_plugin:x"\n',
        )
        wait_for(lambda: httpx.get(f"{server.url}/service/health").json()["plugins"]["problems"])
        health = httpx.get(f"{server.url}/service/health").json()
        assert health["status"] == "degraded"
        (problem,) = health["plugins"]["problems"]
        assert problem["plugin"] == "broken" and "ModuleNotFoundError" in problem["error"]
        assert {"ASIS", "draft_review"} <= set(graphs(server.url))  # nothing else hidden

        shutil.rmtree(plugin)
        shutil.rmtree(plugins / "broken")
        wait_for(lambda: "draft_review" not in graphs(server.url))
        assert httpx.get(f"{server.url}/service/health").json()["plugins"]["problems"] == []
        assert "Traceback" not in server.output()


@pytest.mark.slow
def test_pip_installed_plugin(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    # The venv sees the packages of the environment running the tests (echo-orchestrator and
    # its dependencies, whether that is a venv or the system's), through a .pth file that adds
    # its site folders (their own .pth files included, as an editable install needs); the
    # plugin is installed into the new venv alone.
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    child_site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True, capture_output=True, text=True
    ).stdout.strip()
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(child_site) / "parent_environment.pth").write_text("".join(f"import site; site.addsitedir({folder!r})\n" for folder in ours))
    source = copy_example(tmp_path / "src")  # building writes into the source folder: not the repo's
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", str(source)],
        check=True,
        capture_output=True,
    )
    empty = tmp_path / "no-drop-ins"
    empty.mkdir()
    listing = subprocess.run(
        [python, "-m", "echo_orchestrator", "plugins", "--json", "--plugins-dir", str(empty)],
        capture_output=True,
        text=True,
    )
    assert listing.returncode == 0, listing.stdout + listing.stderr
    loaded = {(p["kind"], p["name"]): p for p in json.loads(listing.stdout)["loaded"]}
    assert loaded[("graph", "draft_review")]["origin"] == "installed"
    assert loaded[("graph", "draft_review")]["distribution"] == "echo-example-plugin"
    assert loaded[("tool", "keywords")]["path"] is None
    assert loaded[("graph", "ASIS")]["origin"] == "builtin"

    with running_server(tmp_path / "storage", "--plugins-dir", str(empty), python=python) as server:
        assert graphs(server.url)["draft_review"]["origin"]["kind"] == "installed"
        r = httpx.post(f"{server.url}/mcp-tools/execute", json={"tool_id": "plugins-keywords", "input": {"text": "ship it, ship it now"}})
        assert r.json()["output"]["result"][0] == {"word": "ship", "count": 2}
