"""The real server, started through the CLI, over real HTTP on loopback."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.server import RunningServer, running_server
from tests.helpers.storage import copy_storage

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    storage = tmp_path_factory.mktemp("e2e") / "storage"
    copy_storage(storage)
    with running_server(storage) as running:
        yield running


def test_health(server: RunningServer) -> None:
    r = httpx.get(f"{server.url}/health")
    assert r.status_code == 200 and r.json()["status"] == "healthy"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r.json()["timestamp"])


def test_service_health_reports_storage(server: RunningServer) -> None:
    body = httpx.get(f"{server.url}/service/health").json()
    assert body["status"] == "healthy"
    storage = body["storage"]
    assert storage["root"] == str(server.storage.resolve())
    assert storage["writable"] is True and storage["problems"] == []
    assert storage["counts"] == {"agents": 7, "workflows": 3, "drafts": 1, "temps": 0, "finals": 3}


def test_metrics_count_requests_by_route(server: RunningServer) -> None:
    before = httpx.get(f"{server.url}/service/metrics").json()["requests"]
    for _ in range(3):
        httpx.get(f"{server.url}/health")
    httpx.get(f"{server.url}/definitely/not/here")
    body = httpx.get(f"{server.url}/service/metrics").json()
    requests = body["requests"]
    assert requests["total"] == before["total"] + 5
    assert requests["by_endpoint"]["/health"] >= 3
    assert requests["by_endpoint"]["<unmatched>"] >= 1
    assert requests["per_minute"] >= 5
    assert body["resources"]["memory_usage_mb"] > 10
    assert body["resources"]["storage_files"] >= 10
    assert body["executions"]["active"] == 0


def test_docs_work_offline(server: RunningServer) -> None:
    page = httpx.get(f"{server.url}/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    urls = re.findall(r"""(?:href|src)=['"]([^'"]+)""", page.text)
    assert urls and all(u.startswith("/docs-assets/") for u in urls), urls
    for url in urls:
        asset = httpx.get(f"{server.url}{url}")
        assert asset.status_code == 200 and len(asset.content) > 500
    schema = httpx.get(f"{server.url}/docs/openapi.json").json()
    assert schema["info"]["title"] == "Echo Orchestrator"
    health = schema["paths"]["/service/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert health["$ref"].endswith("ServiceHealth")


def test_error_body_and_request_id_over_http(server: RunningServer) -> None:
    r = httpx.get(f"{server.url}/workflows-nope", headers={"X-Request-ID": "e2e-1"})
    assert r.status_code == 404 and r.headers["x-request-id"] == "e2e-1"
    assert r.json()["error"]["request_id"] == "e2e-1"
    r = httpx.put(f"{server.url}/service/health")
    assert r.status_code == 405 and r.json()["error"]["code"] == "ERR_METHOD_001"
    assert r.headers["x-request-id"].startswith("req_")


def test_git_checkout_is_visible_through_the_api(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    copy_storage(storage)

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=storage, check=True, capture_output=True)

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "shipped")
    for name in ("analyzer", "synthesizer", "researcher"):
        (storage / "agents" / f"{name}.json").unlink()
    (storage / "agents" / "broken.json").write_text("{")
    git("add", "-A")
    git("commit", "-qm", "remove three, break one")

    with running_server(storage) as server:
        counts = httpx.get(f"{server.url}/service/health").json()["storage"]
        assert counts["counts"]["agents"] == 4 and len(counts["problems"]) == 1
        git("checkout", "-q", "HEAD~1")
        deadline = time.monotonic() + 2.0
        while True:
            storage_health = httpx.get(f"{server.url}/service/health").json()["storage"]
            if storage_health["counts"]["agents"] == 7 and not storage_health["problems"]:
                break
            assert time.monotonic() < deadline, storage_health
            time.sleep(0.05)


def test_sigterm_stops_the_server_promptly_and_cleanly(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    with running_server(storage) as server:
        started = time.monotonic()
    stopped_in = time.monotonic() - started
    # uvicorn finishes its graceful shutdown, then re-raises SIGTERM for the process manager.
    assert server.process.returncode in (0, -signal.SIGTERM), server.output()
    assert "Traceback" not in server.output()
    assert stopped_in < 3.0, f"shutdown took {stopped_in:.2f}s (a watcher not stopped first takes ~5 s)"
