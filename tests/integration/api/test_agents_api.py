"""Agent APIs of the echoai document, through HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

Client = TestClient[Litestar]

REGISTER = {
    "agent_id": "custom_agt_001",
    "name": "Custom Analyzer",
    "role": "Data Analysis",
    "description": "Analyzes complex datasets",
    "llm": {"provider": "openai", "model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 2000},
    "tools": ["plugins-calculator"],
    "input_schema": ["input_data", "parameters"],
    "output_schema": ["analysis_result", "metrics"],
    "constraints": {"max_steps": 5, "timeout_seconds": 30, "budget_tokens": 5000},
    "permissions": {"can_call_agents": False, "allowed_agents": []},
}


def agent_files(client: Client) -> list[str]:
    root = Path(client.get("/service/health").json()["storage"]["root"])
    return sorted(p.name for p in (root / "agents").iterdir())


def test_agent_lifecycle(fresh_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    c = fresh_client
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    # 1. Register
    r = c.post("/agents/register", json=REGISTER)
    assert r.status_code == 201
    assert r.json()["agent_id"] == "custom_agt_001" and r.json()["path"].endswith("agents/custom_agt_001.json")
    stored = c.get("/agents/custom_agt_001").json()
    assert stored["constraints"]["budget_tokens"] == 5000 and "registered_at" in stored["metadata"]
    # 2. Update: merges, keeps the rest, stamps updated_at
    r = c.put(
        "/agents/custom_agt_001",
        json={"name": "Updated Analyzer", "llm": {"provider": "anthropic", "model": "claude-sonnet-4-5", "temperature": 0.3}},
    )
    updated = r.json()
    assert r.status_code == 200 and updated["name"] == "Updated Analyzer" and updated["role"] == "Data Analysis"
    assert updated["llm"]["provider"] == "anthropic" and updated["tools"] == ["plugins-calculator"]
    assert updated["metadata"]["registered_at"] == stored["metadata"]["registered_at"] and "updated_at" in updated["metadata"]
    # 3. Instantiate: really built, honest about what is missing
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    inst = c.post("/agents/instantiate/custom_agt_001").json()
    assert inst["llm"]["ready"] is False and "ANTHROPIC_API_KEY" in inst["llm"]["reason"]
    assert inst["tools"] == [{"tool_id": "plugins-calculator", "name": "Calculator", "bound": True, "reason": None}]
    assert inst["runtime_ready"] is False and inst["constraints"] == {"max_steps": 5, "timeout_seconds": 30.0, "budget_tokens": 5000}
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    assert c.post("/agents/instantiate/custom_agt_001").json()["runtime_ready"] is True
    unbound = c.post("/agents/instantiate/custom_agt_001?bind_tools=false").json()
    assert unbound["tools"][0]["bound"] is False and unbound["runtime_ready"] is True
    # 5. Delete
    r = c.delete("/agents/custom_agt_001")
    assert r.status_code == 200 and r.json() == {"message": "Agent deleted", "agent_id": "custom_agt_001"}
    assert c.get("/agents/custom_agt_001").status_code == 404
    assert c.delete("/agents/custom_agt_001").status_code == 404


def test_list_and_role(fresh_client: Client) -> None:
    c = fresh_client
    for i, role in enumerate(["Data Analysis", "Research", "Data Analysis"]):
        assert c.post("/agents/register", json={"agent_id": f"agt_00{i}", "name": f"A{i}", "role": role}).status_code == 201
    listing = c.get("/agents/registry/list").json()
    assert listing == {
        "agents": [
            {"agent_id": "agt_000", "name": "A0", "role": "Data Analysis"},
            {"agent_id": "agt_001", "name": "A1", "role": "Research"},
            {"agent_id": "agt_002", "name": "A2", "role": "Data Analysis"},
        ],
        "count": 3,
    }
    by_role = c.get("/agents/role/Data Analysis").json()
    assert by_role["role"] == "Data Analysis" and by_role["count"] == 2
    legacy = c.get("/agents/list").json()
    assert legacy["count"] == 3 and legacy["agents"][0]["llm"]["provider"] == "echo"


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"agent_id": "list", "name": "x"}, 422, "reserved"),
        ({"agent_id": "instantiate"}, 422, "reserved"),
        ({"agent_id": "x", "llm": {"provider": "gemini", "model": "g"}}, 422, "unknown LLM provider 'gemini'"),
        ({"agent_id": "x", "llm": {"provider": "echo", "temperature": "hot"}}, 422, "llm.temperature"),
        ({"agent_id": "../x"}, 422, "agent_id"),
        ({"name": "no id"}, 422, "agent_id"),
        ({"agent_id": "x", "tolls": []}, 422, "tolls"),
    ],
)
def test_bad_registrations_write_nothing(fresh_client: Client, body: dict[str, Any], status: int, fragment: str) -> None:
    r = fresh_client.post("/agents/register", json=body)
    assert r.status_code == status and fragment in r.text, r.text
    assert agent_files(fresh_client) == []


def test_duplicate_and_update_errors(fresh_client: Client) -> None:
    c = fresh_client
    assert c.post("/agents/register", json={"agent_id": "a1", "name": "First"}).status_code == 201
    dup = c.post("/agents/register", json={"agent_id": "a1", "name": "Second"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "ERR_CONFLICT_001"
    assert c.get("/agents/a1").json()["name"] == "First"
    assert c.put("/agents/nope", json={"name": "x"}).status_code == 404
    assert c.put("/agents/a1", json={"agent_id": "a2"}).status_code == 422
    bad = c.put("/agents/a1", json={"llm": {"provider": "echo", "max_tokens": -5}})
    assert bad.status_code == 422 and "llm.max_tokens" in bad.text
    before = c.get("/agents/a1").json()
    same = c.put("/agents/a1", json={"name": "First"}).json()
    assert same == before  # nothing changed: no updated_at, no write


def test_delete_refuses_an_agent_in_use(fresh_client: Client) -> None:
    c = fresh_client
    design = c.post("/workflows/design/prompt", json={"prompt": "Analyze churn and write a memo"}).json()
    used = next(iter(design["agents"]))
    r = c.delete(f"/agents/{used}")
    assert r.status_code == 409 and design["workflow"]["workflow_id"] in r.json()["error"]["details"]["workflows"]
    assert c.delete(f"/agents/{used}?force=true").status_code == 200


def test_instantiate_batch_reports_unknown_ids(fresh_client: Client) -> None:
    c = fresh_client
    c.post("/agents/register", json={"agent_id": "agt_001", "name": "Analyzer", "tools": ["nobody-tool"]})
    c.post("/agents/register", json={"agent_id": "agt_002", "name": "Synthesizer"})
    body = c.post("/agents/instantiate/batch", json={"agent_ids": ["agt_001", "agt_002", "agt_003"]}).json()
    assert body["count"] == 3
    assert body["instances"]["agt_002"] == {"agent_id": "agt_002", "name": "Synthesizer", "runtime_ready": True}
    assert body["instances"]["agt_001"]["runtime_ready"] is False and "nobody-tool" in body["instances"]["agt_001"]["reasons"][0]
    assert body["instances"]["agt_003"] == {"agent_id": "agt_003", "runtime_ready": False, "reasons": ["Agent not found"]}
    assert c.post("/agents/instantiate/agt_404").status_code == 404


HIER = {
    "workflow_id": "wf_abc123",
    "execution_model": "hierarchical",
    "agents": ["agt_001", "agt_002", "agt_003"],
    "hierarchy": {"master_agent": "agt_001", "delegation_order": ["agt_002", "agt_003"]},
}
HIER_AGENTS = {
    "agt_001": {"agent_id": "agt_001", "permissions": {"can_call_agents": True}},
    "agt_002": {"agent_id": "agt_002"},
    "agt_003": {"agent_id": "agt_003"},
}


def test_permissions_endpoints(fresh_client: Client) -> None:
    c = fresh_client
    check = c.post(
        "/agents/permissions/check", json={"caller_id": "agt_001", "target_id": "agt_002", "workflow": HIER, "agents": HIER_AGENTS}
    )
    assert check.json() == {"caller_id": "agt_001", "target_id": "agt_002", "allowed": True}
    denied = c.post(
        "/agents/permissions/check", json={"caller_id": "agt_002", "target_id": "agt_003", "workflow": HIER, "agents": HIER_AGENTS}
    )
    assert denied.json()["allowed"] is False
    valid = c.post("/agents/permissions/validate", json={"workflow": HIER, "agents": HIER_AGENTS}).json()
    assert valid == {"valid": True, "errors": []}
    bad_agents = {**HIER_AGENTS, "agt_002": {"agent_id": "agt_002", "permissions": {"can_call_agents": True}}}
    invalid = c.post("/agents/permissions/validate", json={"workflow": HIER, "agents": bad_agents}).json()
    assert invalid == {"valid": False, "errors": ["Sub-agent 'agt_002' cannot have can_call_agents in hierarchical workflow"]}
    # GET with the document's JSON body
    targets = c.request("GET", "/agents/permissions/targets/agt_001", json={"workflow": HIER, "agents": HIER_AGENTS})
    assert targets.json() == {"agent_id": "agt_001", "allowed_targets": ["agt_002", "agt_003"]}
    sub = c.request("GET", "/agents/permissions/targets/agt_002", json={"workflow": HIER, "agents": HIER_AGENTS})
    assert sub.json() == {"agent_id": "agt_002", "allowed_targets": ["agt_001"]}
    assert c.get("/agents/permissions/targets/agt_001").status_code == 400
    assert c.request("GET", "/agents/permissions/targets/agt_009", json={"workflow": HIER}).status_code == 404


def test_permission_targets_of_a_stored_workflow(fresh_client: Client) -> None:
    c = fresh_client
    design = c.post("/workflows/design/prompt", json={"prompt": "Research the market, then write a plan"}).json()
    first, second = design["workflow"]["agents"]
    targets = c.get(f"/agents/permissions/targets/{first}?workflow_id={design['workflow']['slug']}").json()
    assert targets == {"agent_id": first, "allowed_targets": []}  # designed agents may not call others
    c.put(f"/agents/{first}", json={"permissions": {"can_call_agents": True}})
    targets = c.get(f"/agents/permissions/targets/{first}?workflow_id={design['workflow']['workflow_id']}").json()
    assert targets["allowed_targets"] == [second]  # sequential: the next one


def test_legacy_agent_routes(fresh_client: Client) -> None:
    c = fresh_client
    created = c.post("/agents/create/prompt", json={"prompt": "Summarize support tickets"}).json()
    assert created["agent"]["role"] == "Result Synthesis" and c.get(f"/agents/{created['agent_id']}").status_code == 200
    card = c.post("/agents/create/card", json={"name": "Ticket Router", "role": "Routing", "tools": ["plugins-text_stats"]}).json()
    assert card["agent_id"].startswith("ticket_router_") and card["agent"]["tools"] == ["plugins-text_stats"]
    assert c.post("/agents/validate", json={"agent_id": "ok", "name": "x"}).json()["valid"] is True
    report = c.post("/agents/validate", json={"agent_id": "x", "tools": ["nope-tool"], "llm": {"provider": "gemini"}}).json()
    assert report["valid"] is False and len(report["errors"]) == 2
