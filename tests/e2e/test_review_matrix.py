"""A review a workflow asks for happens in every execution model and step shape (agents by
model, explicit agent steps, steps with dependencies, tool and graph steps, review points by
agent or step number), through the real server: the run pauses with the prompt of the right
step, and goes on when approved. Review points that could not pause a run are refused when
the workflow is saved."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers.server import RunningServer, running_server
from tests.helpers.storage import copy_storage

pytestmark = pytest.mark.e2e

AGENTS = ("rv_one", "rv_two", "rv_three")
FIELDS = [{"name": "topic", "type": "string", "required": True}, {"name": "expr", "type": "string", "default": "6*7"}]


def agent_step(number: int, agent: str, **extra: Any) -> dict[str, Any]:
    return {"step_number": number, "name": f"Step {number}", "agent_id": agent, **extra}


def workflow(slug: str, model: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": slug.replace("-", " ").title(),
        "slug": slug,
        "execution_model": model,
        "agents": list(AGENTS),
        "input_fields": FIELDS,
        **fields,
    }


def reviewing(*points: str | int) -> dict[str, Any]:
    return {"human_in_loop": {"enabled": True, "review_points": list(points)}}


# (workflow, the step number its prompt names)
ACCEPTED: dict[str, tuple[dict[str, Any], int]] = {
    "sequential agents": (workflow("rv-seq", "sequential", **reviewing("rv_two")), 2),
    "parallel agents": (workflow("rv-par", "parallel", **reviewing("rv_two")), 2),
    "hierarchical delegate": (
        workflow("rv-hier", "hierarchical", hierarchy={"master_agent": "rv_one", "delegation_order": ["rv_two", "rv_three"]}, **reviewing("rv_two")),
        2,
    ),
    "hybrid agents": (
        workflow("rv-hyb", "hybrid", connections=[{"from": "rv_one", "to": "rv_two"}, {"from": "rv_one", "to": "rv_three"}], **reviewing("rv_two")),
        2,
    ),
    "agent steps, interactive": (
        workflow("rv-steps", "sequential", strategy_definition={"steps": [agent_step(1, "rv_one"), agent_step(2, "rv_two", interactive=True), agent_step(3, "rv_three")]}),
        2,
    ),
    "agent steps with dependencies, interactive": (
        workflow("rv-deps", "sequential", strategy_definition={"steps": [
            agent_step(1, "rv_one"), agent_step(2, "rv_two", dependencies=[1], interactive=True), agent_step(3, "rv_three", dependencies=[2]),
        ]}),
        2,
    ),
    "parallel steps joined, first interactive": (
        workflow("rv-join", "parallel", strategy_definition={"steps": [
            agent_step(1, "rv_one", interactive=True), agent_step(2, "rv_two"), agent_step(3, "rv_three", dependencies=[1, 2]),
        ]}),
        1,
    ),
    "hierarchical steps with dependencies, review point by number": (
        workflow("rv-hier-steps", "hierarchical", hierarchy={"master_agent": "rv_one"}, strategy_definition={"steps": [
            agent_step(1, "rv_one"), agent_step(2, "rv_two", dependencies=[1]), agent_step(3, "rv_three", dependencies=[1]),
        ]}, **reviewing(3)),
        3,
    ),
    "hybrid steps, review point by agent": (
        workflow("rv-hyb-steps", "hybrid", strategy_definition={"steps": [
            agent_step(1, "rv_one"), agent_step(2, "rv_two", dependencies=[1]), agent_step(3, "rv_three", dependencies=[1, 2]),
        ]}, **reviewing("rv_three")),
        3,
    ),
    "tool step, interactive": (
        workflow("rv-tool", "sequential", strategy_definition={"steps": [
            {"step_number": 1, "name": "Compute", "tool_id": "plugins-calculator", "input_mapping": {"expression": "expr"}, "interactive": True},
            agent_step(2, "rv_one", dependencies=[1]), agent_step(3, "rv_two"), agent_step(4, "rv_three"),
        ]}),
        1,
    ),
    "graph step, interactive": (
        workflow("rv-graph", "sequential", strategy_definition={"steps": [
            {"step_number": 1, "name": "Plan", "graph_name": "ASIS", "input_mapping": {"task": "topic"}, "interactive": True},
            agent_step(2, "rv_one", dependencies=[1]), agent_step(3, "rv_two"), agent_step(4, "rv_three"),
        ]}),
        1,
    ),
}  # fmt: skip

REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "plugin graph with an interactive step": (
        {"name": "Rv Plugin", "slug": "rv-plugin", "graph_name": "ASIS", "input_fields": [{"name": "task", "type": "string", "required": True}],
         "strategy_definition": {"steps": [{"step_number": 1, "name": "Plan", "interactive": True}]}},
        "cannot pause for a review",
    ),
    "an interactive step that runs nothing": (
        workflow("rv-nothing", "sequential", strategy_definition={"steps": [agent_step(1, "rv_one"), {"step_number": 2, "name": "Look", "interactive": True}]}),
        "is interactive but runs nothing",
    ),
    "a review point no step runs": (
        workflow("rv-missing", "sequential", strategy_definition={"steps": [agent_step(1, "rv_one"), agent_step(2, "rv_two", dependencies=[1])]}, **reviewing("rv_three")),
        "names an agent no step runs",
    ),
    "a hierarchical master": (
        workflow("rv-master", "hierarchical", hierarchy={"master_agent": "rv_one"}, **reviewing("rv_one")),
        "master",
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("reviews")
    storage = copy_storage(root / "storage")
    with running_server(storage, "--plugins-dir", str(root / "plugins")) as running:
        for agent_id in AGENTS:
            registered = httpx.post(
                f"{running.url}/agents/register",
                json={"agent_id": agent_id, "name": agent_id, "input_schema": ["topic"], "output_schema": [f"{agent_id}_out"]},
            )
            assert registered.status_code == 201, registered.text
        yield running


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_the_review_a_workflow_asks_for_happens(server: RunningServer, case: str) -> None:
    definition, reviewed_step = ACCEPTED[case]
    with httpx.Client(base_url=server.url, timeout=60) as c:
        created = c.post("/workflows", json=definition)
        assert created.status_code == 201, created.text
        started = c.post(f"/workflows/{definition['slug']}/execute", json={"inputs": {"topic": "tea"}})
        assert started.status_code == 202, started.text
        execution_id = started.json()["execution_id"]
        deadline = time.monotonic() + 30
        while (record := c.get(f"/executions/{execution_id}").json())["status"] not in ("paused", "completed", "failed", "cancelled"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert record["status"] == "paused", (case, record)  # never completes without asking anyone
        prompt = record["pending_prompt"]
        assert prompt["step_number"] == reviewed_step and prompt["options"] == ["approve", "reject", "modify"], (case, prompt)
        assert (
            c.post(f"/executions/{execution_id}/respond", json={"prompt_id": prompt["prompt_id"], "response": "approve"}).status_code == 200
        )
        while (record := c.get(f"/executions/{execution_id}").json())["status"] not in ("completed", "failed", "cancelled"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert record["status"] == "completed" and record["pending_prompt"] is None, (case, record)
        events = [e["event_type"] for e in c.get(f"/executions/{execution_id}/events", params={"limit": 1000}).json()["events"]]
        assert events.count("interactive_prompt") == 1, (case, events)
        nodes = c.get(f"/executions/{execution_id}/node-executions").json()["node_executions"]
        reviews = [n for n in nodes if n["node_type"] == "review_node"]
        assert len(reviews) == 1 and reviews[0]["status"] == "completed" and reviews[0]["step_number"] == reviewed_step, (case, reviews)


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_review_that_could_not_happen_is_refused_when_saved(server: RunningServer, case: str) -> None:
    definition, reason = REFUSED[case]
    refused = httpx.post(f"{server.url}/workflows", json=definition)
    assert refused.status_code == 422, (case, refused.text)
    assert any(reason in e["message"] for e in refused.json()["error"]["details"]["errors"]), (case, refused.json())
    assert httpx.get(f"{server.url}/workflows/{definition['slug']}").status_code == 404  # nothing saved
    check = httpx.post(f"{server.url}/workflows/validate/draft", json={"workflow": {**definition, "workflow_id": "wf_check"}}).json()
    assert not check["valid"] and any(reason in e for e in check["errors"]), (case, check)
