"""Execution and step execution endpoints of the ouroboros document, through HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from echo_orchestrator.api.app import create_app
from echo_orchestrator.settings import Settings
from tests.helpers.server import LOCAL
from tests.helpers.storage import add_draft_only, copy_storage

Client = TestClient[Litestar]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    """The app on a copy of the shipped storage, plus a workflow that has only a draft."""
    storage = copy_storage(tmp_path / "storage")
    add_draft_only(storage)
    app = create_app(Settings(storage_dir=storage, plugins_dir=None, watch=False, watch_plugins=False))  # type: ignore[arg-type]
    with TestClient(app, base_url=LOCAL) as c:
        yield c


def wait_done(c: Client, execution_id: str, within: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        body = c.get(f"/executions/{execution_id}").json()
        if body["status"] in ("completed", "failed", "cancelled"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.02)


def _timestamps(value: Any) -> list[str]:
    import re

    if isinstance(value, str):
        return [value] if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value) else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _timestamps(v)]
    if isinstance(value, list):
        return [s for v in value for s in _timestamps(v)]
    return []


def test_execute_a_workflow_by_slug_and_follow_it(client: Client) -> None:
    r = client.post("/workflows/sales-insights/execute", json={"inputs": {"input_data": "Q1 10"}, "metadata": {"user_id": "u1"}})
    assert r.status_code == 202
    started = r.json()
    eid = started["execution_id"]
    assert eid.startswith("wfexec_") and started["status"] == "initializing"
    assert started["websocket_url"] == f"/executions?execution_id={eid}"
    done = wait_done(client, eid)
    assert done["status"] == "completed" and done["progress"]["percentage"] == 100.0 and done["metadata"] == {"user_id": "u1"}

    info = client.get(f"/executions/{eid}/info").json()
    assert info["inputs"] == {"input_data": "Q1 10"} and "final_output" in info["outputs"]
    assert [s["step_name"] for s in info["steps_completed"]] == ["Analyzer", "Synthesizer"]
    assert info["checkpoints"] and all(c["checkpoint_id"] and c["created_at"] for c in info["checkpoints"])
    assert info["checkpoints"][0]["step_number"] == 2  # newest first: after the last step
    assert info["llm_calls"] == {
        "total": 2,
        "by_model": {"echo": 2},
        "total_tokens": info["llm_calls"]["total_tokens"],
        "estimated_cost_usd": 0.0,
    }

    steps = client.get(f"/executions/{eid}/steps").json()
    assert (steps["total_steps"], steps["completed_steps"], steps["failed_steps"], steps["running_steps"]) == (2, 2, 0, 0)
    first = steps["step_executions"][0]
    assert first["llm_call_count"] == 1 and first["tokens_used"] > 0 and first["metrics"]["avg_latency_ms"] is not None
    assert first["llm_calls"] == 1  # a count in the execution's list, as the document has it
    detail = client.get(f"/step-executions/{first['step_execution_id']}").json()
    assert detail["execution_id"] == eid and detail["workflow_slug"] == "sales-insights"
    (call,) = detail["llm_calls"]
    assert call["tokens"] == call["total_tokens"] == first["tokens_used"] and call["model"] == "echo"

    nodes = client.get(f"/executions/{eid}/node-executions").json()
    assert (nodes["total_nodes"], nodes["completed_nodes"], nodes["failed_nodes"]) == (2, 2, 0)
    assert nodes["node_executions"][0]["node_name"] == "analyzer"

    events = client.get(f"/executions/{eid}/events").json()
    assert events["events"][0]["event_type"] == "execution_started" and events["events"][-1]["event_type"] == "execution_completed"
    # As the document's stream has it: started when accepted (initializing), then running.
    assert events["events"][0]["data"]["status"] == "initializing"
    assert events["events"][0]["data"]["started_at"] == started["started_at"]
    assert (events["events"][1]["event_type"], events["events"][1]["data"]["status"]) == ("execution_progress", "running")
    assert [e["seq"] for e in events["events"]] == list(range(1, events["total"] + 1))
    llm_events = client.get(f"/executions/{eid}/events?event_type=llm_call_completed&limit=1&offset=1").json()
    assert llm_events["total"] == 2 and len(llm_events["events"]) == 1
    # The document's short forms: an `llm_call` event per call, `duration` beside duration_seconds.
    short = client.get(f"/executions/{eid}/events?event_type=llm_call").json()["events"]
    assert [(e["data"]["model"], e["data"]["tokens"] > 0) for e in short] == [("echo", True), ("echo", True)]
    ended = events["events"][-1]["data"]
    assert ended["duration"] == ended["duration_seconds"]

    # One timestamp format in every answer and event: RFC 3339, UTC, `Z`.
    seen = [
        stamp
        for path in (
            f"/executions/{eid}",
            f"/executions/{eid}/info",
            f"/executions/{eid}/steps",
            f"/executions/{eid}/events",
            "/workflows/checkpoints",
        )
        for stamp in _timestamps(client.get(path).json())
    ]
    assert len(seen) > 20 and all(stamp.endswith("Z") for stamp in seen), [s for s in seen if not s.endswith("Z")][:3]

    listed = client.get("/executions?workflow_slug=sales-insights&status=completed").json()
    assert [e["execution_id"] for e in listed["executions"]] == [eid] and listed["total"] == 1
    assert client.get(f"/step-executions?execution_id={eid}").json()["total"] == 2
    assert client.get("/service/metrics").json()["executions"]["completed_today"] == 1


def test_execute_graphs(client: Client) -> None:
    llm = {"provider": "echo", "responses": ["1. invite\n2. cook", "invited", "cooked", "party planned"]}
    sync = client.post("/graphs/ASIS/execute", json={"input": {"task": "plan a party", "llm": llm}})
    body = sync.json()
    assert sync.status_code == 200 and body["status"] == "completed" and body["graph_name"] == "ASIS"
    assert body["result"]["output"]["result"] == "party planned"
    assert body["result"]["metadata"]["nodes_executed"] == 4 and body["result"]["metadata"]["llm_calls"] == 4
    steps = client.get(f"/executions/{body['execution_id']}/steps").json()
    assert [s["step_name"] for s in steps["step_executions"]] == ["planner", "executor", "executor", "summarizer"]

    queued = client.post("/graphs/ASIS/execute", json={"input": {"task": "x"}, "async": True})
    assert queued.status_code == 202 and queued.json()["status"] == "initializing"
    assert wait_done(client, queued.json()["execution_id"])["status"] == "completed"

    legacy = client.post("/execute", json={"graph_name": "ASIS", "input": {"task": "Analyze market trends"}})
    assert legacy.json()["status"] == "completed"
    via_workflow = client.post("/graphs/workflow:sales-insights/execute", json={"input": {"input_data": "d"}})
    assert via_workflow.json()["status"] == "completed"
    for durability in ("sync", "async", "exit"):
        fast = client.post("/graphs/ASIS/execute", json={"input": {"task": "t"}, "config": {"durability": durability}}).json()
        assert fast["status"] == "completed", fast
        assert client.get(f"/executions/{fast['execution_id']}/info").json()["checkpoints"]  # exit: one, at the end


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/graphs/ASIS/execute", {"input": {}}, 422),  # task is required by the graph's input schema
        ("/graphs/ASIS/execute", {"input": {"task": 3}}, 422),
        ("/graphs/NOPE/execute", {"input": {}}, 404),
        ("/workflows/sales-insights/execute", {"inputs": {}}, 422),  # input_data is required
        ("/workflows/only-draft/execute", {"inputs": {"brief": "x"}}, 409),  # a draft: nothing to run
        ("/workflows/nope/execute", {"inputs": {}}, 404),
        ("/execute", {"graph_name": "ASIS"}, 422),
        ("/graphs/ASIS/execute", {"input": {"task": "t"}, "config": {"durability": "later"}}, 422),
        ("/workflows/sales-insights/execute", {"inputs": {"input_data": "d"}, "config": {"durability": 1}}, 422),
    ],
)
def test_execute_errors_start_nothing(client: Client, path: str, body: dict[str, Any], status: int) -> None:
    assert client.post(path, json=body).status_code == status
    assert client.get("/executions").json()["total"] == 0


def test_cancel_through_http(client: Client) -> None:
    slow = {"provider": "echo", "latency_ms": 400}
    r = client.post("/graphs/ASIS/execute", json={"input": {"task": "slow", "llm": slow}, "async": True})
    eid = r.json()["execution_id"]
    time.sleep(0.2)
    cancel = client.post(f"/executions/{eid}/cancel", json={"reason": "changed my mind", "graceful": False})
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelling"
    assert wait_done(client, eid)["status"] == "cancelled"
    again = client.post(f"/executions/{eid}/cancel")
    assert again.status_code == 409
    assert client.post("/executions/wfexec_nope/cancel").status_code == 404


def test_cancel_a_step(client: Client) -> None:
    slow = {"provider": "echo", "latency_ms": 600}
    eid = client.post("/graphs/ASIS/execute", json={"input": {"task": "slow", "llm": slow}, "async": True}).json()["execution_id"]
    deadline = time.monotonic() + 5
    while not (running := client.get(f"/step-executions?execution_id={eid}&status=running").json()["step_executions"]):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    r = client.post(f"/step-executions/{running[0]['step_execution_id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert wait_done(client, eid)["status"] == "cancelled"
    assert client.post(f"/step-executions/{running[0]['step_execution_id']}/cancel").status_code == 409
    assert client.get("/step-executions/stepexec_nope").status_code == 404


def test_step_metrics(client: Client) -> None:
    for data in ("a", "b"):
        eid = client.post("/workflows/sales-insights/execute", json={"inputs": {"input_data": data}}).json()["execution_id"]
        wait_done(client, eid)
    client.post("/graphs/ASIS/execute", json={"input": {"task": "t"}})
    metrics = client.get("/metrics/step-executions").json()
    assert metrics["summary"]["total_step_executions"] == 4 + 3
    assert metrics["summary"]["success_rate"] == 1.0 and metrics["summary"]["avg_retry_count"] == 0
    assert metrics["by_workflow"]["sales-insights"]["total"] == 4
    by_step = {s["step_name"]: s for s in metrics["by_step"]}
    assert by_step["Analyzer"]["total_executions"] == 2 and by_step["Analyzer"]["failure_rate"] == 0
    assert len(metrics["slow_steps"]) <= 5 and metrics["slow_steps"][0]["slowest_execution"] is not None
    only = client.get("/metrics/step-executions?workflow_slug=sales-insights").json()
    assert only["summary"]["total_step_executions"] == 4
    future = client.get("/metrics/step-executions?start_date=2099-01-01T00:00:00Z").json()
    assert future["summary"]["total_step_executions"] == 0
