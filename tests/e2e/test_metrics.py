"""`GET /metrics` as a Prometheus scraper meets it: the real server, real runs and a real MCP
tool call, the exposition parsed with prometheus_client's own parser; behind the API's
keys unless ECHO_METRICS_PUBLIC opens it; with two worker processes (PostgreSQL runtime),
every process's requests in one scrape of either; and a queue `worker`'s own listener."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.mcp_servers import TEST_SERVER
from tests.helpers.postgres import new_schema
from tests.helpers.server import RunningServer, free_port, running_server, running_worker
from tests.helpers.storage import copy_storage

KEY = "eo_metrics_key_0123456789abcdef"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float:
    return sum(v for (n, have), v in found.items() if n == name and set(labels.items()) <= set(have))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("metrics")
    storage = copy_storage(root / "storage")
    tools = {"command": sys.executable, "args": [str(TEST_SERVER)]}
    (storage / "mcp_settings.json").write_text(json.dumps({"mcpServers": {"tools": tools}}))
    with running_server(storage, "--plugins-dir", str(root / "plugins"), env={"ECHO_API_KEYS": f"{KEY} id=ops"}) as running:
        yield running


def test_runs_steps_llm_calls_tool_calls_and_requests_are_counted(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {KEY}"}) as c:
        assert httpx.get(f"{server.url}/metrics").status_code == 401  # behind the same keys
        execution_id = c.post("/workflows/market-research/execute", json={"inputs": {"topic": "tea"}}).json()["execution_id"]
        deadline = time.monotonic() + 30
        while c.get(f"/executions/{execution_id}").json()["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        deadline = time.monotonic() + 30  # the tool server may still be starting
        while (tool := c.post("/mcp-tools/execute", json={"tool_id": "tools-add", "input": {"a": 1, "b": 2}})).status_code != 200:
            assert time.monotonic() < deadline, tool.text
            time.sleep(0.2)
        scrape = c.get("/metrics")
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    found = samples(scrape.text)
    workflow = {"kind": "workflow", "workflow": "market-research"}
    assert value(found, "echo_executions_started_total", **workflow) == 1
    assert value(found, "echo_executions_ended_total", status="completed", **workflow) == 1
    assert value(found, "echo_execution_duration_seconds_count", status="completed", **workflow) == 1
    assert value(found, "echo_step_duration_seconds_count", workflow="market-research", status="completed") == 3
    assert value(found, "echo_llm_calls_total", provider="echo", model="echo") == 2
    assert value(found, "echo_llm_tokens_total", provider="echo", direction="output") > 0
    assert value(found, "echo_mcp_tool_calls_total", server="tools", outcome="completed") >= 1
    route = {"method": "POST", "route": "/workflows/{workflow_slug}/execute"}
    assert value(found, "echo_http_requests_total", status="202", **route) == 1
    assert value(found, "echo_http_request_duration_seconds_count", **route) == 1
    assert value(found, "echo_executions_running") == 0
    assert "wfexec_" not in scrape.text and "key:ops" not in scrape.text  # no unbounded or caller labels


def test_metrics_public_opens_the_route_to_a_scraper(tmp_path: Path) -> None:
    storage = copy_storage(tmp_path / "storage")
    env = {"ECHO_API_KEYS": f"{KEY} id=ops", "ECHO_METRICS_PUBLIC": "true"}
    with running_server(storage, "--plugins-dir", str(tmp_path / "plugins"), env=env) as s:
        assert httpx.get(f"{s.url}/metrics").status_code == 200
        assert httpx.get(f"{s.url}/executions").status_code == 401  # only that route


def test_two_worker_processes_are_counted_together(tmp_path: Path, postgres_database: str) -> None:
    storage = copy_storage(tmp_path / "storage")
    env = {"ECHO_RUNTIME_URL": new_schema(postgres_database)}
    with running_server(storage, "--plugins-dir", str(tmp_path / "plugins"), "--workers", "2", env=env, timeout=40) as s:
        for _ in range(30):  # a new connection each: the kernel spreads them over both processes
            assert httpx.get(f"{s.url}/workflows/market-research").status_code == 200
        scrapes = [samples(httpx.get(f"{s.url}/metrics").text) for _ in range(6)]
    route = {"method": "GET", "route": "/workflows/{workflow_slug}", "status": "200"}
    assert all(value(found, "echo_http_requests_total", **route) == 30 for found in scrapes), [
        value(found, "echo_http_requests_total", **route) for found in scrapes
    ]


def test_a_worker_serves_the_figures_of_the_runs_it_runs_behind_the_same_keys(tmp_path: Path, postgres_database: str) -> None:
    """API node `--no-worker` + a `worker --metrics-port`: the runs are counted on the worker
    (where they run), its listener wants the API's keys (401 with the error body without),
    answers /health, and stops with the worker."""
    storage = copy_storage(tmp_path / "storage")
    env = {"ECHO_RUNTIME_URL": new_schema(postgres_database), "ECHO_API_KEYS": f"{KEY} id=ops"}
    port = free_port()
    plugins = ("--plugins-dir", str(tmp_path / "plugins"))
    auth = {"Authorization": f"Bearer {KEY}"}
    with (
        running_server(storage, *plugins, "--no-worker", env=env, timeout=40) as api,
        running_worker(storage, *plugins, "--metrics-port", str(port), env=env) as worker,
    ):
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=api.url, headers=auth, timeout=30) as c:
            ids = [c.post("/workflows/market-research/execute", json={"inputs": {"topic": "tea"}}).json()["execution_id"] for _ in range(3)]
            deadline = time.monotonic() + 40
            while any(c.get(f"/executions/{i}").json()["status"] != "completed" for i in ids):
                assert time.monotonic() < deadline
                time.sleep(0.1)
        refused = httpx.get(f"{url}/metrics")
        found = samples(httpx.get(f"{url}/metrics", headers=auth).text)
        health = httpx.get(f"{url}/health")
        api_found = samples(httpx.get(f"{api.url}/metrics", headers=auth).text)
        assert f"metrics on http://127.0.0.1:{port}/metrics" in worker.output()
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "ERR_AUTH_001"
    assert health.status_code == 200 and health.json()["role"] == "worker"
    ended = {"kind": "workflow", "workflow": "market-research", "status": "completed"}
    assert value(found, "echo_executions_ended_total", **ended) == 3
    assert value(found, "echo_llm_calls_total", provider="echo") == 6  # two agents a run
    assert value(api_found, "echo_executions_ended_total", **ended) == 0  # the API node ran none
    assert value(api_found, "echo_executions_started_total", kind="workflow", workflow="market-research") == 3


def test_a_worker_will_not_serve_metrics_to_the_network_without_keys_nor_start_on_a_busy_port(
    tmp_path: Path, postgres_database: str
) -> None:
    env = {**os.environ, "ECHO_RUNTIME_URL": new_schema(postgres_database)}
    command = [sys.executable, "-m", "echo_orchestrator", "worker", "--storage", str(copy_storage(tmp_path / "storage"))]
    done = subprocess.run([*command, "--metrics-port", "9", "--host", "0.0.0.0"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "without authentication" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    with socket.socket() as busy:  # a port in use: the worker says so and ends, exit 2
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([*command, "--metrics-port", str(port)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in done.stderr.splitlines()[-1]
