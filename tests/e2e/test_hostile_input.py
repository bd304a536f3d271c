"""Hostile input gets a clear 4xx with the error body, never a 500, against the real server:
the cases users found by hand, bounded conditions (memory measured on the server process),
and schemathesis over the whole OpenAPI document."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest

from tests.helpers.server import RunningServer, running_server
from tests.helpers.storage import copy_storage

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("hostile")
    copy_storage(root / "storage")
    # Fuzzing sends thousands of requests: no rate limit here (the limits have their own tests).
    env = {"ECHO_RATE_LIMIT_PER_HOUR": "0", "ECHO_MCP_TOOL_CALLS_PER_HOUR": "0"}
    with running_server(root / "storage", "--plugins-dir", str(root / "plugins"), env=env) as running:
        yield running


def error(r: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    body: dict[str, Any] = r.json()
    assert set(body) == {"detail", "error"} and body["error"]["code"].startswith("ERR_")
    return body


def test_hand_found_cases_are_4xx(server: RunningServer) -> None:
    deep = "[" * 977 + "]" * 977
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for method, route in (
            ("POST", "/agents/register"),
            ("PUT", "/agents/analyzer"),
            ("POST", "/workflows/validate/draft"),
            ("POST", "/graphs/ASIS/execute"),
        ):
            body = '{"agent_id": "a", "metadata": {"x": ' + deep + "}}"
            r = c.request(method, route, content=body, headers={"Content-Type": "application/json"})
            assert "nested deeper than 64" in error(r, 400)["detail"]
        r = c.post("/agents/register", content=b'{"agent_id": "a\xff"}', headers={"Content-Type": "application/json"})
        assert "UTF-8" in error(r, 400)["detail"]
        error(c.post("/agents/register", json={"agent_id": "ends-in-newline\n"}), 422)
        for path in ("/agents/a%0A", "/workflows/a%00b/temp", "/agents/" + "a" * 5000, "/workflows/" + "w" * 5000 + "/temp"):
            error(c.get(path), 404, 422)
            error(c.delete(path), 404, 422)
        error(c.post("/workflows/temp/save", json={"workflow_id": "a" * 5000}), 422)
        error(c.post("/workflows/final/save", json={"workflow": {"workflow_id": "wf_x\n"}}), 422)
        for query in ("offset=" + "9" * 25, "limit=-1", "limit=10000000", "offset=-1"):
            error(c.get(f"/executions?{query}"), 422)
        error(c.get("/executions/x/stream", headers={"Last-Event-ID": "9" * 30}), 404, 422)
        for prompt in ("", "   ", ",,,"):
            error(c.post("/agents/create/prompt", json={"prompt": prompt}), 422)
            error(c.post("/workflows/design/prompt", json={"prompt": prompt}), 422)
    assert "Traceback" not in server.output()


def test_a_condition_cannot_exhaust_memory(server: RunningServer) -> None:
    process = psutil.Process(server.process.pid)
    with httpx.Client(base_url=server.url, timeout=60) as c:
        for agent_id in ("cond_a", "cond_b", "cond_d"):
            c.post("/agents/register", json={"agent_id": agent_id, "output_schema": [f"{agent_id}_out"]})
        before = process.memory_info().rss
        hybrid = {
            "workflow_id": "wf_greedy",
            "status": "validated",
            "execution_model": "hybrid",
            "agents": ["cond_a", "cond_b", "cond_d"],
            "connections": [
                {"from": "cond_a", "to": "cond_b", "condition": "len('x' * 1000000000) > 0"},
                {"from": "cond_a", "to": "cond_d"},
            ],
        }
        report = c.post("/workflows/validate/final", json={"workflow": hybrid}).json()
        assert not report["valid"] and any("at most 100,000" in e for e in report["errors"]), report
        error(c.post("/workflows/temp/save", json=hybrid), 400, 422)
        # A bound broken only by the run's state fails the run with the reason.
        on_state = {**hybrid, "workflow_id": "wf_greedy_state", "slug": "greedy-state"}
        on_state["connections"] = [
            {"from": "cond_a", "to": "cond_b", "condition": "len(cond_a_out * 100000) > 0"},
            {"from": "cond_a", "to": "cond_d"},
        ]
        assert c.post("/workflows/temp/save", json=on_state).status_code == 200
        run = c.post("/workflows/greedy-state/execute", json={"inputs": {}}).json()
        deadline = time.monotonic() + 30
        while (status := c.get(f"/executions/{run['execution_id']}").json())["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert status["status"] == "failed" and "at most 100,000" in status["error"]["message"]
        grown = (process.memory_info().rss - before) / 2**20
    print(f"server RSS grew {grown:.1f} MB")
    assert grown < 30  # a few MB of ordinary work; 'x' * 10**9 alone would be 1 GB


@pytest.mark.slow
def test_schemathesis_finds_nothing(server: RunningServer, tmp_path: Any) -> None:
    """Every operation of /docs/openapi.json, fuzzed with a fixed seed: no server error, only
    documented statuses and content types, and bodies matching their documented schemas."""
    checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
    result = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/docs/openapi.json",
            "--checks", checks, "--max-examples", "12", "--seed", "20261122",
            "--phases", "examples,coverage,fuzzing", "--report-dir", str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # its cache goes there, not into the repository
    )  # fmt: skip
    tail = result.stdout[-4000:]
    assert result.returncode == 0, tail
    assert " passed" in tail and "failure" not in tail.split("SUMMARY")[-1], tail
    assert "Traceback" not in server.output()
