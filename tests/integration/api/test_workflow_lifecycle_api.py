"""Workflow APIs of the echoai document, through HTTP: the document's lifecycle and every
endpoint's errors, with nothing written on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

Client = TestClient[Litestar]


def storage_files(client: Client) -> list[str]:
    root = Path(client.get("/service/health").json()["storage"]["root"])
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.json"))


def designed(client: Client, prompt: str = "Create a workflow to analyze sales data and generate insights") -> dict[str, Any]:
    r = client.post(
        "/workflows/design/prompt", json={"prompt": prompt, "default_llm": {"provider": "echo", "model": "echo", "temperature": 0.2}}
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_the_documents_workflow_lifecycle(fresh_client: Client) -> None:
    c = fresh_client
    # 1. Design
    design = designed(c)
    wf, agents = design["workflow"], design["agents"]
    wid = wf["workflow_id"]
    assert wf["status"] == "draft" and wf["version"] == "0.1" and len(wf["agents"]) == 2
    assert [a["name"] for a in agents.values()] == ["Analyzer", "Synthesizer"]
    assert all(a["llm"]["temperature"] == 0.2 for a in agents.values())
    assert c.get(f"/agents/{wf['agents'][0]}").status_code == 200  # agents registered
    # 2. Validate draft
    assert c.post("/workflows/validate/draft", json={"workflow": wf, "agents": agents}).json() == {
        "valid": True,
        "errors": [],
        "warnings": [],
    }
    # 3. HITL edit (frontend) and 4. re-validate final: the stored draft becomes validated
    wf["description"] = "Edited by a human"
    assert c.post("/workflows/validate/final", json={"workflow": wf, "agents": agents}).json()["valid"] is True
    assert c.get(f"/graphs/workflow:{wid}").status_code == 409  # validated but nothing runnable yet
    # 5. Save temp
    assert c.post("/workflows/temp/save", json=wf).status_code == 400  # this body still says "draft"
    wf["status"] = "validated"
    saved = c.post("/workflows/temp/save", json=wf).json()
    assert saved == {"workflow_id": wid, "path": saved["path"], "state": "temp"} and saved["path"].endswith(f"{wid}.temp.json")
    temp = c.get(f"/workflows/{wid}/temp").json()
    assert temp["status"] == "testing" and temp["metadata"]["is_temp"] is True and temp["description"] == "Edited by a human"
    # 6. Test execute
    run = c.post(
        "/workflows/execute", json={"workflow_id": wid, "mode": "test", "input_payload": {"input_data": "Sample sales data"}}
    ).json()
    assert run["status"] == "completed" and run["execution_mode"] == "test"
    tracked = c.get(f"/executions/{run['run_id']}").json()  # the run is an execution like any other
    assert tracked["status"] == "completed" and tracked["workflow_slug"] == wf["slug"]
    assert c.get(f"/executions/{run['run_id']}/steps").json()["completed_steps"] == 2
    assert "Sample sales data" in run["output"]["analysis_result"]  # the analyzer really read its input
    assert run["output"]["final_output"].startswith("[echo: offline")
    assert len(run["llm_calls"]) == 2 and run["llm_calls"][0]["provider"] == "echo"
    assert run["workspace"] == "default" and run["output_files"] == []  # its agents use no file tools
    # 7. Save final
    final = c.post("/workflows/final/save", json={"workflow": {**wf, "version": "1.0"}})
    assert final.status_code == 201 and final.json()["version"] == "1.0" and final.json()["path"].endswith(f"{wid}.v1.0.json")
    # 8. Production
    prod = c.post(
        "/workflows/execute",
        json={"workflow_id": wid, "mode": "final", "version": "1.0", "input_payload": {"input_data": "Production data"}},
    ).json()
    assert prod["status"] == "completed" and prod["version"] == "1.0" and "Production data" in prod["output"]["analysis_result"]
    loaded = c.get(f"/workflows/{wid}/final/1.0").json()
    assert loaded["status"] == "final" and loaded["metadata"]["immutable"] is True
    elsewhere = c.post(
        "/workflows/execute",
        json={"workflow_id": wid, "mode": "final", "version": "1.0", "input_payload": {"input_data": "x"}, "workspace": "team"},
    )
    assert elsewhere.status_code == 404
    assert elsewhere.json()["error"]["details"]["workspace"] == "team"


def ready_workflow(c: Client) -> tuple[str, dict[str, Any]]:
    design = designed(c)
    wf = {**design["workflow"], "status": "validated"}
    assert c.post("/workflows/validate/final", json={"workflow": wf}).json()["valid"]
    return wf["workflow_id"], wf


def test_final_versions(fresh_client: Client) -> None:
    c = fresh_client
    wid, wf = ready_workflow(c)
    for version in ("1.9", "1.10", "2.0"):
        assert c.post("/workflows/final/save", json={"workflow": {**wf, "version": version}}).status_code == 201
    assert c.get(f"/workflows/{wid}/versions").json() == {"workflow_id": wid, "versions": ["1.9", "1.10", "2.0"]}
    # no version in the body: the next one
    body = {k: v for k, v in wf.items() if k != "version"}
    assert c.post("/workflows/final/save", json={"workflow": body}).json()["version"] == "2.1"
    assert c.post("/workflows/final/save", json={"workflow": wf, "version": "3.0"}).json()["version"] == "3.0"
    # the workflow's own version, already saved: the next one (a second save of a draft never 409s)
    assert c.post("/workflows/final/save", json={"workflow": {**wf, "version": "1.10"}}).json()["version"] == "3.1"
    # a version named at the top level is exact
    before = storage_files(c)
    dup = c.post("/workflows/final/save", json={"workflow": wf, "version": "1.10"})
    assert dup.status_code == 409
    bad = c.post("/workflows/final/save", json={"workflow": {**wf, "version": "v2"}})
    assert bad.status_code == 422 and "version" in bad.text
    assert c.post("/workflows/final/save", json={"workflow": {**wf, "status": "draft", "version": "4.0"}}).status_code == 400
    assert storage_files(c) == before  # nothing written by the failures
    assert c.get(f"/workflows/{wid}/final/9.9").json()["detail"] == "Workflow version not found"
    assert c.get(f"/workflows/{wid}/final/v1").status_code == 422
    assert c.get("/workflows/wf_nope/versions").json()["detail"] == "No versions found"


def test_temp_errors(fresh_client: Client) -> None:
    c = fresh_client
    wid, wf = ready_workflow(c)
    r = c.post("/workflows/temp/save", json={**wf, "status": "draft"})
    assert r.status_code == 400 and r.json()["detail"] == "Workflow must be validated before saving as temp"
    broken = c.post("/workflows/temp/save", json={**wf, "agents": [*wf["agents"], "agt_ghost"]})
    assert broken.status_code == 400 and "Agent 'agt_ghost' not found" in broken.json()["error"]["details"]["errors"]
    assert c.get(f"/workflows/{wid}/temp").status_code == 404
    assert c.get(f"/workflows/{wid}/temp").json()["detail"] == "Temp workflow not found"
    assert c.post("/workflows/temp/save", json=wf).status_code == 200
    deleted = c.delete(f"/workflows/{wid}/temp")
    assert deleted.json() == {"message": "Temp workflow deleted", "workflow_id": wid}
    assert c.delete(f"/workflows/{wid}/temp").status_code == 404


def test_validation_responses(fresh_client: Client) -> None:
    c = fresh_client
    wf = {
        "workflow_id": "wf_abc123",
        "name": "Test",
        "execution_model": "sequential",
        "agents": ["agt_001", "agt_003"],
        "connections": [{"from": "agt_001", "to": "agt_003"}],
    }
    agents = {
        "agt_001": {"agent_id": "agt_001", "output_schema": ["missing_data"]},
        "agt_002": {"agent_id": "agt_002", "output_schema": ["missing_data"]},
    }
    report = c.post("/workflows/validate/draft", json={"workflow": wf, "agents": agents}).json()
    assert report["valid"] is False and "Agent 'agt_003' not found" in report["errors"]
    two_writers = {**wf, "agents": ["agt_001", "agt_002"], "connections": [{"from": "agt_001", "to": "agt_002"}]}
    report = c.post("/workflows/validate/draft", json={"workflow": two_writers, "agents": agents}).json()
    assert "State key 'missing_data' written by multiple agents: agt_001, agt_002" in report["errors"]
    final = c.post("/workflows/validate/final", json={"workflow": two_writers, "agents": agents}).json()
    assert final["valid"] is False
    assert storage_files(c) == []  # an invalid final validation stores nothing
    assert c.post("/workflows/validate", json={"workflow": two_writers, "agents": agents}).json() == report  # legacy


def test_clone(fresh_client: Client) -> None:
    c = fresh_client
    wid, wf = ready_workflow(c)
    c.post("/workflows/final/save", json={"workflow": {**wf, "version": "1.0"}})
    # The document's own lifecycle: the draft equals the version just saved, so nothing is lost.
    r = c.post("/workflows/clone", json={"workflow_id": wid, "from_version": "1.0"})
    assert r.json() == {"message": "Workflow cloned to draft", "workflow_id": wid, "base_version": "1.0"}, r.text
    # A draft with edits saved nowhere else is kept unless the caller says overwrite.
    edited = {**wf, "description": "edited, not saved anywhere"}
    assert c.post("/workflows/validate/final", json={"workflow": edited}).json()["valid"] is True
    refused = c.post("/workflows/clone", json={"workflow_id": wid, "from_version": "1.0"})
    assert refused.status_code == 409 and "overwrite" in refused.json()["detail"]
    assert c.get(f"/workflows/{wid}/draft").json()["description"] == "edited, not saved anywhere"
    r = c.post("/workflows/clone", json={"workflow_id": wid, "from_version": "1.0", "overwrite": True})
    assert r.status_code == 200 and c.get(f"/workflows/{wid}/draft").json()["description"] == wf.get("description", "")
    missing = c.post("/workflows/clone", json={"workflow_id": wid, "from_version": "7.0"})
    assert missing.status_code == 404 and missing.json()["detail"] == "Final workflow not found"


def test_graph_view(fresh_client: Client) -> None:
    c = fresh_client
    wid, wf = ready_workflow(c)
    c.post("/workflows/temp/save", json=wf)
    view = c.get(f"/workflows/{wid}/graph").json()
    first, second = wf["agents"]
    agent_nodes = [n for n in view["nodes"] if n["type"] == "agent"]
    assert [n["label"] for n in agent_nodes] == ["Analyzer", "Synthesizer"]
    assert agent_nodes[0]["metadata"]["role"] == "Data Analysis" and agent_nodes[0]["metadata"]["llm"] == {
        "provider": "echo",
        "model": "echo",
    }
    assert {"source": first, "target": second, "condition": None} in view["edges"]
    assert c.get(f"/workflows/{wid}/graph?state=final").status_code == 404
    mermaid = c.get(f"/workflows/{wid}/graph?state=draft&format=mermaid")
    assert mermaid.headers["content-type"].startswith("text/vnd.mermaid") and f"{first} --> {second}" in mermaid.text
    assert c.get("/workflows/wf_nope/graph").json()["detail"] == "Workflow not found"


def test_hybrid_graph_view_shows_conditions(fresh_client: Client) -> None:
    c = fresh_client
    for agent_id in ("a", "b", "d"):
        c.post("/agents/register", json={"agent_id": agent_id, "output_schema": [f"{agent_id}_out"]})
    wf = {
        "workflow_id": "wf_h",
        "status": "validated",
        "execution_model": "hybrid",
        "agents": ["a", "b", "d"],
        "connections": [{"from": "a", "to": "b", "condition": "len(a_out) > 3"}, {"from": "a", "to": "d"}],
    }
    assert c.post("/workflows/temp/save", json=wf).status_code == 200
    edges = c.get("/workflows/wf_h/graph").json()["edges"]
    assert {"source": "a", "target": "b", "condition": "len(a_out) > 3"} in edges
    assert {"source": "a", "target": "d", "condition": None} in edges


def test_execute_errors(fresh_client: Client) -> None:
    c = fresh_client
    wid, wf = ready_workflow(c)
    assert c.post("/workflows/execute", json={"workflow_id": wid, "mode": "test"}).status_code == 404  # no temp copy
    c.post("/workflows/temp/save", json=wf)
    missing_input = c.post("/workflows/execute", json={"workflow_id": wid, "mode": "test", "input_payload": {}})
    assert missing_input.status_code == 422 and missing_input.json()["error"]["details"]["errors"] == [
        {"field": "input_data", "message": "Required field is missing"}
    ]
    no_version = c.post("/workflows/execute", json={"workflow_id": wid, "mode": "final"})
    assert no_version.status_code == 422 and no_version.json()["detail"] == "version is required in final mode"
    assert c.post("/workflows/execute", json={"workflow_id": wid, "mode": "final", "version": "1.0"}).status_code == 404
    assert c.post("/workflows/execute", json={"workflow_id": wid, "mode": "sometimes"}).status_code == 422


def test_a_run_that_fails_reports_failed(fresh_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    c = fresh_client
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # the operator points it at a dead port
    c.post(
        "/agents/register",
        json={
            "agent_id": "remote",
            "output_schema": ["answer"],
            "llm": {"provider": "openai", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1"},
        },
    )
    wf = {"workflow_id": "wf_remote", "status": "validated", "agents": ["remote"]}
    assert c.post("/workflows/temp/save", json=wf).status_code == 200
    run = c.post("/workflows/execute", json={"workflow_id": "wf_remote", "mode": "test"}).json()
    assert run["status"] == "failed" and run["error"]["code"] == "ERR_EXEC_001" and "Connection" in run["error"]["message"]


def test_legacy_workflow_routes(fresh_client: Client) -> None:
    c = fresh_client
    created = c.post("/workflows/create/prompt", json={"prompt": "Classify feedback and report trends"}).json()
    assert created["status"] == "draft" and len(created["agents"]) == 2
    c.post("/agents/register", json={"agent_id": "existing", "output_schema": ["notes"]})
    canvas = {
        "name": "Canvas flow",
        "execution_model": "hybrid",
        "nodes": [
            {"id": "n1", "agent_id": "existing"},
            {"id": "n2", "agent": {"name": "Inline", "role": "Review", "input_schema": ["notes"], "output_schema": ["review"]}},
        ],
        "edges": [{"source": "n1", "target": "n2", "condition": "notes != None"}],
    }
    made = c.post("/workflows/create/canvas", json=canvas)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["workflow"]["agents"] == ["existing", "n2"] and body["workflow"]["connections"][0]["condition"] == "notes != None"
    assert c.get("/agents/n2").json()["name"] == "Inline"
    before = storage_files(c)
    bad = c.post("/workflows/create/canvas", json={**canvas, "edges": [{"source": "n1", "target": "n9"}]})
    assert bad.status_code == 422 and "no node 'n9'" in bad.text
    loop = {**canvas, "nodes": [{"id": "x", "agent": {"name": "X"}}], "edges": [{"source": "x", "target": "x"}]}
    assert c.post("/workflows/create/canvas", json=loop).status_code == 422
    assert storage_files(c) == before  # nothing half-saved


def test_design_errors(fresh_client: Client) -> None:
    c = fresh_client
    assert c.post("/workflows/design/prompt", json={"prompt": "  "}).status_code == 422
    assert c.post("/workflows/design/prompt", json={"prompt": "x", "default_llm": {"provider": "gemini"}}).status_code == 422
    assert c.post("/workflows/design/prompt", json={}).status_code == 422
    assert storage_files(c) == []


def test_design_with_a_model(fresh_client: Client) -> None:
    answer = {
        "name": "Churn study",
        "execution_model": "parallel",
        "agents": [
            {"key": "m", "name": "Miner", "role": "Mining", "input_schema": ["input_data"], "output_schema": ["signals"]},
            {"key": "s", "name": "Surveyor", "role": "Survey", "input_schema": ["input_data"], "output_schema": ["survey"]},
        ],
    }
    r = fresh_client.post(
        "/workflows/design/prompt", json={"prompt": "Study churn", "default_llm": {"provider": "echo", "responses": [json.dumps(answer)]}}
    )
    body = r.json()
    assert body["designed_by"] == "llm" and body["workflow"]["execution_model"] == "parallel"
    assert sorted(a["name"] for a in body["agents"].values()) == ["Miner", "Surveyor"]
