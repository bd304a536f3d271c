"""The interactive docs as a person meets them: /docs loaded in headless Chromium with no
network but loopback, the whole OpenAPI 3.1 document rendered by the vendored Swagger UI."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.server import RunningServer, running_server
from tests.helpers.storage import copy_storage

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (Debian: apt-get install chromium)")


def rendered_dom(url: str, tmp: Path) -> str:
    assert CHROMIUM is not None
    result = subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            f"--user-data-dir={tmp / 'profile'}", "--virtual-time-budget=15000", "--dump-dom", url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("docs")
    copy_storage(root / "storage")
    with running_server(root / "storage", "--plugins-dir", str(root / "plugins")) as running:
        yield running


@needs_chromium
def test_docs_render_every_operation(server: RunningServer, tmp_path: Path) -> None:
    spec = httpx.get(f"{server.url}/docs/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    operations = sum(1 for item in spec["paths"].values() for method in item if method in ("get", "post", "put", "patch", "delete"))
    dom = rendered_dom(f"{server.url}/docs", tmp_path)
    assert "Unable to render this definition" not in dom
    rendered = len(re.findall(r'class="opblock-summary-path"', dom))
    assert rendered == operations, (rendered, operations)
    assert "Echo Orchestrator" in dom and "/workflows/{workflow_slug}/execute" in dom
    # Within each tag, operations are listed by path, as in an index.
    sections = re.split(r'class="opblock-tag-section', dom)[1:]
    assert len(sections) > 5
    for section in sections:
        tag = re.search(r'data-tag="([^"]+)"', section)
        paths = re.findall(r'data-path="([^"]+)"', section)
        assert paths and paths == sorted(paths), (tag and tag.group(1), paths)


@needs_chromium
def test_docs_offer_the_key_when_keys_exist(tmp_path: Path) -> None:
    copy_storage(tmp_path / "storage")
    env = {"ECHO_API_KEYS": "eo_docs-browser-key-0123456789abcdef"}
    with running_server(tmp_path / "storage", "--plugins-dir", str(tmp_path / "p"), env=env) as secured:
        assert httpx.get(f"{secured.url}/docs").status_code == 200  # open, though the API needs a key
        dom = rendered_dom(f"{secured.url}/docs", tmp_path)
    assert "btn authorize" in dom and "opblock-summary-path" in dom
