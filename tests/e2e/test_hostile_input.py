"""Hostile input gets a clear 4xx with the error body, never a 500, against the real server:
the cases users found by hand, bounded conditions (memory measured on the server process),
and schemathesis over the whole OpenAPI document."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
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


MEMBERS = ("cond_a", "cond_b", "cond_d")


def hybrid(workflow_id: str, condition: str, **extra: Any) -> dict[str, Any]:
    """A validated hybrid workflow of the test agents whose first edge has `condition`."""
    return {
        "workflow_id": workflow_id, "status": "validated", "execution_model": "hybrid", "agents": list(MEMBERS),
        "connections": [{"from": "cond_a", "to": "cond_b", "condition": condition}, {"from": "cond_a", "to": "cond_d"}],
        **extra,
    }  # fmt: skip


def register_members(c: httpx.Client) -> None:
    for agent_id in MEMBERS:
        c.post("/agents/register", json={"agent_id": agent_id, "output_schema": [f"{agent_id}_out"]})


def run_to_end(c: httpx.Client, slug: str, body: str = '{"inputs": {}}') -> dict[str, Any]:
    started = c.post(f"/workflows/{slug}/execute", content=body, headers={"Content-Type": "application/json"})
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 60
    while (status := c.get(f"/executions/{started.json()['execution_id']}").json())["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return dict(status)


def test_a_condition_cannot_exhaust_memory(server: RunningServer) -> None:
    process = psutil.Process(server.process.pid)
    with httpx.Client(base_url=server.url, timeout=60) as c:
        register_members(c)
        before = process.memory_info().rss
        greedy = hybrid("wf_greedy", "len('x' * 1000000000) > 0")
        report = c.post("/workflows/validate/final", json={"workflow": greedy}).json()
        assert not report["valid"] and any("at most 100,000" in e for e in report["errors"]), report
        error(c.post("/workflows/temp/save", json=greedy), 400, 422)
        # A bound broken only by the run's state fails the run with the reason.
        on_state = hybrid("wf_greedy_state", "len(cond_a_out * 100000) > 0", slug="greedy-state")
        assert c.post("/workflows/temp/save", json=on_state).status_code == 200
        status = run_to_end(c, "greedy-state")
        assert status["status"] == "failed" and "at most 100,000" in status["error"]["message"]
        grown = (process.memory_info().rss - before) / 2**20
    print(f"server RSS grew {grown:.1f} MB")
    assert grown < 30  # a few MB of ordinary work; 'x' * 10**9 alone would be 1 GB


def while_health_is_polled(
    server: RunningServer, send: Callable[[], httpx.Response], *, at_least: float = 0.3
) -> tuple[httpx.Response, float]:
    """Send a hostile request in a thread while `GET /health` is asked every few ms: its
    answer, and the slowest `/health` answer meanwhile (ms), which a blocked event loop
    would show."""
    answer: list[httpx.Response] = []
    worker = threading.Thread(target=lambda: answer.append(send()))
    worst = 0.0
    with httpx.Client(base_url=server.url, timeout=60) as c:
        started = time.monotonic()
        worker.start()
        while worker.is_alive() or time.monotonic() - started < at_least:
            asked = time.perf_counter()
            assert c.get("/health").status_code == 200
            worst = max(worst, time.perf_counter() - asked)
            time.sleep(0.005)
    worker.join()
    return answer[0], worst * 1000


def slowest_health(server: RunningServer) -> float:
    """The slowest `/health` (ms) with nothing hostile going on: how loaded the machine is now
    (the suite may run beside other tests). A blocked event loop shows as far more than this."""
    _, worst = while_health_is_polled(server, lambda: httpx.Response(200))
    return worst


def test_conditions_bound_their_work_and_never_hold_the_server(server: RunningServer) -> None:
    process = psutil.Process(server.process.pid)
    with httpx.Client(base_url=server.url, timeout=120) as c:
        register_members(c)
        bound = max(100.0, 4 * slowest_health(server))
        before = process.memory_info().rss
        # n² comparisons hidden in 56 characters: refused by what they weigh, at once.
        quadratic = "[['a'*100000]*3000]*3000 == [['a'*100000]*3000]*3000"
        report, worst = while_health_is_polled(
            server, lambda: c.post("/workflows/validate/final", json={"workflow": hybrid("wf_quadratic", quadratic)})
        )
        assert not report.json()["valid"] and any("weighing more than 1,000,000" in e for e in report.json()["errors"]), report.text
        print(f"quadratic condition: /health at worst {worst:.1f} ms (bound {bound:.0f} ms)")
        assert worst < bound
        # Text estimated before it is built: no 400 MB string on the way to a refusal.
        text = c.post("/workflows/validate/final", json={"workflow": hybrid("wf_text", "str(['a'*1000]*90) == ''")}).json()
        assert not text["valid"] and any("into text of more than 100,000" in e for e in text["errors"]), text
        big = c.post("/workflows/validate/final", json={"workflow": hybrid("wf_text2", "str(['a'*100000]*4000) == ''")}).json()
        assert not big["valid"], big
        grown = (process.memory_info().rss - before) / 2**20
        assert grown < 30, grown
        # A heavy value from the run's own state: the run fails with the reason, evaluated
        # off the event loop (its numbers walked in a worker thread).
        heavy = hybrid("wf_heavy", "data == data", slug="heavy-state", input_fields=[{"name": "data", "type": "array", "required": True}])
        assert c.post("/workflows/temp/save", json=heavy).status_code == 200
        body = json.dumps({"inputs": {"data": [[0] * 1000] * 600}})  # compared with itself: 1.2 million
        status, worst = while_health_is_polled(server, lambda: httpx.Response(200, json=run_to_end(c, "heavy-state", body)))
        assert status.json()["status"] == "failed" and "weighing more than 1,000,000" in status.json()["error"]["message"]
        print(f"a run's heavy condition: /health at worst {worst:.1f} ms (bound {bound:.0f} ms)")
        assert worst < bound


def test_input_patterns_run_in_linear_time_and_unusable_ones_are_refused(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        workflow = {
            "name": "Pattern Trap", "graph_name": "ASIS",
            "input_fields": [
                {"name": "task", "type": "string", "required": True},
                {"name": "code", "type": "string", "validation": {"pattern": "^(a+)+$"}},
            ],
        }  # fmt: skip
        created = c.post("/workflows", json=workflow)
        assert created.status_code == 201, created.text
        bound = max(100.0, 4 * slowest_health(server))
        for size in (26, 20_000):
            evil = {"inputs": {"task": "t", "code": "a" * size + "!"}}
            checked, worst = while_health_is_polled(server, lambda evil=evil: c.post("/workflows/pattern-trap/validate-input", json=evil))
            assert checked.json()["valid"] is False and checked.json()["errors"][0]["field"] == "code", checked.text
            print(f"pattern ^(a+)+$ on {size + 1} characters: /health at worst {worst:.1f} ms (bound {bound:.0f} ms)")
            assert worst < bound
            refused = c.post("/workflows/pattern-trap/execute", json=evil)
            assert refused.status_code == 422 and "code" in refused.text
        assert c.post("/workflows/pattern-trap/validate-input", json={"inputs": {"task": "t", "code": "aaa"}}).json()["valid"]
        # A pattern the linear-time engine cannot run (lookahead) is refused when saved, by its place.
        lookahead = {**workflow, "name": "Lookahead", "input_fields": [
            {"name": "task", "type": "string", "required": True},
            {"name": "code", "type": "string", "validation": {"pattern": "^(?=.*[0-9]).+$"}},
        ]}  # fmt: skip
        refused = error(c.post("/workflows", json=lookahead), 422)
        messages = [e["message"] for e in refused["error"]["details"]["errors"]]
        assert any(m.startswith("input_fields[1].validation.pattern: pattern") and "lookaround" in m for m in messages), messages


def test_an_uploaded_workflow_file_is_checked_like_a_body(server: RunningServer) -> None:
    def upload(content: bytes) -> httpx.Response:
        return httpx.post(f"{server.url}/workflows", files={"file": ("wf.json", content, "application/json")}, timeout=60)

    for depth in (100_000, 950):
        deep = ('{"name": "deep", "metadata": {"x": ' + "[" * depth + "]" * depth + "}}").encode()
        assert "nested deeper than 64" in error(upload(deep), 400)["detail"]
    assert "UTF-8" in error(upload(b'{"name": "bad \xff"}'), 400)["detail"]
    for send in (lambda b: upload(json.dumps(b).encode()), lambda b: httpx.post(f"{server.url}/workflows", json=b)):
        wrong = error(send({"name": "m", "metadata": [1]}), 422)
        assert wrong["error"]["details"]["errors"][0]["field"] == "metadata"
    assert "Traceback" not in server.output()


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
