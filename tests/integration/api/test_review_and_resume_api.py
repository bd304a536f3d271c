"""Human review, resume and checkpoints through HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

Client = TestClient[Litestar]


@pytest.fixture
def client(shipped_client: Client) -> Client:
    return shipped_client


def wait_for(c: Client, eid: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while (body := c.get(f"/executions/{eid}").json())["status"] not in statuses:
        assert time.monotonic() < deadline, body
        time.sleep(0.02)
    return body


def reviewed_workflow(c: Client) -> None:
    wf = c.get("/workflows/sales-insights/final/1.0").json()
    wf = {
        **wf,
        "workflow_id": "wf_reviewed",
        "slug": "reviewed",
        "status": "validated",
        "human_in_loop": {"enabled": True, "review_points": ["analyzer"]},
    }
    assert c.post("/workflows/temp/save", json=wf).status_code == 200


def test_review_over_http(client: Client) -> None:
    reviewed_workflow(client)
    eid = client.post("/workflows/reviewed/execute", json={"inputs": {"input_data": "Q1"}}).json()["execution_id"]
    assert wait_for(client, eid, ("paused",))["status"] == "paused"
    (prompt,) = client.get(f"/executions/{eid}/events?event_type=interactive_prompt").json()["events"]
    data = prompt["data"]
    assert data["prompt_type"] == "confirmation" and data["options"] == ["approve", "reject", "modify"] and data["step_number"] == 1
    assert client.post(f"/executions/{eid}/respond", json={"prompt_id": "prompt_other", "response": "approve"}).status_code == 409
    assert client.post(f"/executions/{eid}/respond", json={"prompt_id": data["prompt_id"], "response": "maybe"}).status_code == 422
    r = client.post(
        f"/executions/{eid}/respond",
        json={"prompt_id": data["prompt_id"], "response": "modify", "changes": {"analysis_result": "reviewed"}},
    )
    assert r.status_code == 200 and r.json()["status"] == "resuming"
    done = wait_for(client, eid, ("completed", "failed", "cancelled"))
    assert done["status"] == "completed"
    assert client.get(f"/executions/{eid}/info").json()["outputs"]["analysis_result"] == "reviewed"


def test_reject_ends_cancelled(client: Client) -> None:
    reviewed_workflow(client)
    eid = client.post("/workflows/reviewed/execute", json={"inputs": {"input_data": "Q1"}}).json()["execution_id"]
    wait_for(client, eid, ("paused",))
    prompt_id = client.get(f"/executions/{eid}/events?event_type=interactive_prompt").json()["events"][0]["data"]["prompt_id"]
    client.post(f"/executions/{eid}/respond", json={"prompt_id": prompt_id, "response": "reject", "reason": "wrong quarter"})
    done = wait_for(client, eid, ("completed", "failed", "cancelled"))
    assert done["status"] == "cancelled" and "wrong quarter" in done["error"]["message"]


def test_checkpoints_and_resume(client: Client) -> None:
    slow = {"input": {"task": "slow", "llm": {"provider": "echo", "latency_ms": 300}}, "async": True}
    eid = client.post("/graphs/ASIS/execute", json=slow).json()["execution_id"]
    deadline = time.monotonic() + 5
    while client.get(f"/executions/{eid}/steps").json()["completed_steps"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    client.post(f"/executions/{eid}/cancel", json={"graceful": False})
    assert wait_for(client, eid, ("cancelled",))["status"] == "cancelled"

    listing = client.get(f"/workflows/checkpoints?execution_id={eid}").json()
    assert listing["total"] >= 2
    latest = listing["checkpoints"][0]
    assert latest["resumable"] is True and latest["state_snapshot"]["completed_steps"] == [1]
    assert latest["step_name"] == "planner" and all(not c["resumable"] for c in listing["checkpoints"][1:])
    workspace = client.get("/service/workspaces/default/checkpoints").json()
    assert workspace["workspace"] == "default" and workspace["total"] == listing["total"]

    r = client.post(f"/executions/{eid}/resume")
    assert r.status_code == 202 and r.json()["resumed_count"] == 1
    done = wait_for(client, eid, ("completed", "failed"))
    assert done["status"] == "completed"
    planners = [s for s in client.get(f"/executions/{eid}/steps").json()["step_executions"] if s["step_name"] == "planner"]
    assert len(planners) == 1  # the finished step was not redone
    assert client.post(f"/executions/{eid}/resume").status_code == 409  # completed: nothing to resume
