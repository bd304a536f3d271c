"""The workflow catalogue of the ouroboros document, through HTTP, on one workflow model
shared with the echoai lifecycle."""

from __future__ import annotations

import json
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

Client = TestClient[Litestar]

MARKET: dict[str, Any] = {
    "name": "Market Research Workflow",
    "description": "Comprehensive market research and analysis",
    "category": "research",
    "tags": ["market", "research", "analysis"],
    "graph_name": "ASIS",
    "strategy_definition": {
        "steps": [
            {"step_number": 1, "name": "Market Analysis", "description": "Analyze market conditions"},
            {
                "step_number": 2,
                "name": "Report",
                "dependencies": [1],
                "retry_policy": {"max_retries": 2, "retry_delay": 1, "exponential_backoff": True},
                "requires_mcp": ["perplexity"],
                "output_schema": {"type": "object", "properties": {"report": {"type": "string"}}},
            },
        ]
    },
    "input_fields": [
        {"name": "task", "type": "string", "required": True, "description": "What to plan"},
        {"name": "industry", "type": "string", "validation": {"enum": ["retail", "tech"]}, "default": "tech"},
        {"name": "budget", "type": "number", "validation": {"minimum": 1000, "maximum": 10000000}},
    ],
    "misc_data": {"author": "Ouroboros Team", "examples": [{"name": "Tech", "inputs": {"task": "plan"}}]},
}


def error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"detail", "error"}
    return body


def test_create_then_inspect_run_and_list(shipped_client: Client) -> None:
    c = shipped_client
    created = c.post("/workflows", json=MARKET)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["slug"] == "market-research-workflow" and body["status"] == "created" and body["workflow_id"].startswith("wf_")
    error(c.post("/workflows", json=MARKET), 409)  # the derived slug is taken

    detail = c.get("/workflows/market-research-workflow").json()
    assert detail["status"] == "final" and detail["version"] == "1.0" and detail["graph_name"] == "ASIS"
    assert [s["name"] for s in detail["strategy_definition"]["steps"]] == ["Market Analysis", "Report"]
    assert detail["statistics"] == {
        "total_executions": 0,
        "successful_executions": 0,
        "failed_executions": 0,
        "cancelled_executions": 0,
        "avg_duration_seconds": None,
        "success_rate": None,
    }
    assert c.get(f"/workflows/{body['workflow_id']}").json()["slug"] == "market-research-workflow"  # by id too

    fields = c.get("/workflows/market-research-workflow/input-fields").json()
    schema = fields["json_schema"]
    assert schema["required"] == ["task"] and schema["properties"]["industry"] == {
        "type": "string",
        "enum": ["retail", "tech"],
        "default": "tech",
    }
    assert schema["properties"]["budget"] == {"type": "number", "minimum": 1000, "maximum": 10000000}

    bad = c.post("/workflows/market-research-workflow/validate-input", json={"inputs": {"industry": "coffee", "budget": 5}}).json()
    assert bad["valid"] is False
    problems = {e["field"]: e["message"] for e in bad["errors"]}
    assert set(problems) == {"task", "industry", "budget"} and "required" in problems["task"].lower()
    good = c.post("/workflows/market-research-workflow/validate-input", json={"inputs": {"task": "plan"}}).json()
    assert good == {"valid": True, "message": "Input validation successful", "normalized_inputs": {"task": "plan", "industry": "tech"}}

    steps = c.get("/workflows/market-research-workflow/steps").json()
    assert steps["total_steps"] == 2 and steps["steps"][1]["dependencies"] == [1]
    step = c.get("/workflows/market-research-workflow/steps/2").json()
    assert step["retry_policy"] == {"max_retries": 2, "retry_delay": 1.0, "exponential_backoff": True} and step["requires_mcp"] == [
        "perplexity"
    ]
    error(c.get("/workflows/market-research-workflow/steps/9"), 404)
    assert c.get("/workflows/market-research-workflow/misc").json()["misc_data"]["author"] == "Ouroboros Team"

    run = c.post("/workflows/market-research-workflow/execute", json={"inputs": {"task": "plan"}})
    assert run.status_code == 202, run.text  # what the catalogue creates runs at once

    listed = c.get("/workflows", params={"category": "research", "tags": "market,analysis"}).json()
    assert [w["slug"] for w in listed["workflows"]] == ["market-research-workflow"] and listed["total"] == 1
    assert listed["workflows"][0]["execution_count"] == 1
    assert c.get("/workflows", params={"search": "COMPREHENSIVE market"}).json()["total"] == 1
    assert c.get("/workflows", params={"tags": "market,nope"}).json()["total"] == 0


def test_upload_a_workflow_file(shipped_client: Client) -> None:
    c = shipped_client
    document = {**MARKET, "name": "Uploaded", "slug": "uploaded"}
    r = c.post("/workflows", files={"file": ("uploaded.json", json.dumps(document).encode(), "application/json")})
    assert r.status_code == 201, r.text
    assert c.get("/workflows/uploaded").json()["name"] == "Uploaded"
    error(c.post("/workflows", files={"file": ("x.json", b"{not json", "application/json")}), 422)
    error(c.post("/workflows", files={"other": ("x.json", b"{}", "application/json")}), 422)


def test_invalid_workflows_name_every_problem(shipped_client: Client) -> None:
    c = shipped_client
    body = error(c.post("/workflows", json={"name": "Broken", "graph_name": "NOPE", "agents": ["ghost"]}), 422)
    messages = [e["message"] for e in body["error"]["details"]["errors"]]
    assert any("ghost" in m for m in messages) and any("NOPE" in m for m in messages)
    assert (
        error(c.post("/workflows", json={"name": "x", "category": "nope"}), 422)["error"]["details"]["errors"][0]["field"]
        == "workflow.category"
    )
    error(c.post("/workflows", json={"description": "no name"}), 422)
    error(c.post("/workflows", json=[1, 2]), 422)


def test_archived_workflows_are_hidden_and_not_runnable(shipped_client: Client) -> None:
    c = shipped_client
    c.post("/workflows", json=MARKET)
    slug = "market-research-workflow"
    before = c.get("/workflows").json()["total"]
    assert c.post(f"/workflows/{slug}/archive").json()["status"] == "archived"
    assert c.get("/workflows").json()["total"] == before - 1
    assert slug in [w["slug"] for w in c.get("/workflows", params={"include_archived": True}).json()["workflows"]]
    assert [w["slug"] for w in c.get("/workflows", params={"status": "archived"}).json()["workflows"]] == [slug]
    assert error(c.post(f"/workflows/{slug}/execute", json={"inputs": {"task": "x"}}), 409)["error"]["details"]["status"] == "archived"
    assert c.get(f"/workflows/{slug}").json()["status"] == "archived"  # still inspectable
    assert c.post(f"/workflows/{slug}/unarchive").json()["status"] == "final"
    assert c.post(f"/workflows/{slug}/execute", json={"inputs": {"task": "x"}}).status_code == 202


def test_sorting_and_hostile_queries(shipped_client: Client) -> None:
    c = shipped_client
    names = [w["name"] for w in c.get("/workflows", params={"sort": "name", "include_archived": True}).json()["workflows"]]
    assert names == sorted(names)
    by_name_desc = [
        w["name"] for w in c.get("/workflows", params={"sort": "name", "order": "desc", "include_archived": True}).json()["workflows"]
    ]
    assert by_name_desc == sorted(names, reverse=True)
    for params in ({"sort": "colour"}, {"order": "up"}, {"status": "gone"}, {"limit": 10**9}, {"offset": -1}):
        r = c.get("/workflows", params=params)
        assert r.status_code in (400, 422), (params, r.text)
    for params in (
        {"granularity": "fortnight"},
        {"start_date": "yesterday"},
        {"start_date": "2026-02-01", "end_date": "2026-01-01"},
        {"granularity": "hour", "start_date": "2000-01-01"},
    ):
        error(c.get("/workflows/sales-insights/analytics", params=params), 422)
    error(c.get("/workflows/no-such-workflow"), 404)
    error(c.get("/workflows/no-such-workflow/analytics"), 404)


def _run(c: Client, slug: str, inputs: dict[str, Any]) -> dict[str, Any]:
    started = c.post(f"/workflows/{slug}/execute", json={"inputs": inputs})
    assert started.status_code == 202, started.text
    return _wait(c, started.json()["execution_id"])


def test_analytics_come_from_real_runs(fresh_client: Client) -> None:
    c = fresh_client
    agent = {"agent_id": "analyst", "output_schema": ["analysis"], "llm": {"provider": "echo", "model": "echo-slow", "latency_ms": 150}}
    assert c.post("/agents/register", json=agent).status_code == 201
    steps = [
        {"step_number": 1, "name": "Analyse", "agent_id": "analyst"},
        {
            "step_number": 2,
            "name": "Compute",
            "tool_id": "plugins-calculator",
            "input_mapping": {"expression": "expr"},
            "dependencies": [1],
            "retry_policy": {"max_retries": 1, "retry_delay": 0},
        },
    ]
    workflow = {
        "name": "Sums",
        "agents": ["analyst"],
        "strategy_definition": {"steps": steps},
        "input_fields": [{"name": "expr", "type": "string", "required": True}],
    }
    assert c.post("/workflows", json=workflow).status_code == 201, c.post("/workflows", json=workflow).text
    ended = [_run(c, "sums", {"expr": "1+1"}) for _ in range(3)] + [_run(c, "sums", {"expr": "1/0"}) for _ in range(2)]
    assert [e["status"] for e in ended] == ["completed"] * 3 + ["failed"] * 2

    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()
    start = (today - timedelta(days=2)).isoformat()
    body = c.get("/workflows/sums/analytics", params={"start_date": start, "granularity": "day"}).json()
    summary = body["summary"]
    assert (summary["total_executions"], summary["successful_executions"], summary["failed_executions"]) == (5, 3, 2)
    assert summary["success_rate"] == 0.6
    # Every successful run waited 150 ms on its model; none took seconds.
    assert 0.15 <= summary["median_duration_seconds"] <= summary["p95_duration_seconds"] < 5
    assert 0.15 <= summary["avg_duration_seconds"] < 5
    by_step = {s["step_number"]: s for s in body["step_analytics"]}
    assert by_step[1]["runs"] == 5 and by_step[1]["failure_rate"] == 0.0 and by_step[1]["avg_duration"] >= 0.15
    assert by_step[2]["failure_rate"] == 0.4 and by_step[2]["retry_count_avg"] == 0.4  # each failure retried once
    assert list(body["cost_breakdown"]["llm_costs"]) == ["echo-slow"] and body["cost_breakdown"]["by_provider"] == {"echo": 0.0}
    assert summary["total_tokens"] > 0 and body["cost_breakdown"]["tokens_by_model"]["echo-slow"] == summary["total_tokens"]
    timeline = body["timeline"]
    assert [p["date"] for p in timeline] == [(today - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    assert [p["executions"] for p in timeline] == [0, 0, 5] and timeline[-1]["successes"] == 3 and timeline[0]["avg_duration"] is None
    assert body["time_range"]["start"] == f"{start}T00:00:00Z" and body["time_range"]["end"].endswith("Z")

    detail = c.get("/workflows/sums").json()["statistics"]
    assert (detail["total_executions"], detail["successful_executions"], detail["failed_executions"], detail["success_rate"]) == (
        5,
        3,
        2,
        0.6,
    )
    listed = c.get("/workflows", params={"sort": "execution_count", "order": "desc"}).json()["workflows"]
    assert listed[0]["slug"] == "sums" and listed[0]["execution_count"] == 5
    # With history, a run is estimated to take the median of its workflow's completed runs
    # (remembered for a minute, so the median of those there were when it was first asked).
    accepted = c.post("/workflows/sums/execute", json={"inputs": {"expr": "2+2"}}).json()
    expected = datetime.fromisoformat(accepted["estimated_completion"]) - datetime.fromisoformat(accepted["started_at"])
    assert 0.15 <= expected.total_seconds() <= summary["p95_duration_seconds"] + 0.001
    hourly = c.get("/workflows/sums/analytics", params={"granularity": "hour", "start_date": f"{today.isoformat()}T00:00:00Z"}).json()
    assert sum(p["executions"] for p in hourly["timeline"]) == 5 and all(p["date"].endswith(":00:00Z") for p in hourly["timeline"])


def test_one_workflow_model_for_both_documents(shipped_client: Client) -> None:
    """Created in the catalogue, then cloned, edited and saved as version 2.0 through the
    echoai routes: both documents' views show the new version."""
    c = shipped_client
    created = c.post("/workflows", json=MARKET).json()
    wid, slug = created["workflow_id"], created["slug"]
    assert c.post("/workflows/clone", json={"workflow_id": wid, "from_version": "1.0"}).status_code == 200
    draft = c.get(f"/workflows/{wid}/draft").json()
    edited = {**draft, "description": "Version two"}
    assert c.post("/workflows/validate/final", json={"workflow": edited}).json()["valid"] is True
    saved = c.post("/workflows/final/save", json={"workflow": c.get(f"/workflows/{wid}/draft").json(), "version": "2.0"})
    assert saved.status_code == 201, saved.text
    assert c.get(f"/workflows/{wid}/versions").json()["versions"] == ["1.0", "2.0"]
    detail = c.get(f"/workflows/{slug}").json()
    assert (detail["version"], detail["description"], detail["versions"]) == ("2.0", "Version two", ["1.0", "2.0"])
    listed = {w["slug"]: w for w in c.get("/workflows", params={"search": "market research"}).json()["workflows"]}
    assert listed[slug]["version"] == "2.0"
    graphs = {g["name"]: g for g in c.get("/graphs", params={"source": "workflow"}).json()["graphs"]}
    assert graphs[f"workflow:{slug}"]["version"] == "2.0"
    run = c.post(f"/workflows/{slug}/execute", json={"inputs": {"task": "plan"}}).json()
    assert _wait(c, run["execution_id"])["status"] == "completed"
    assert c.get(f"/executions/{run['execution_id']}").json()["workflow_slug"] == slug


def _wait(c: Client, execution_id: str) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = c.get(f"/executions/{execution_id}").json()
        if status["status"] in ("completed", "failed", "cancelled"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"{execution_id} did not end")
