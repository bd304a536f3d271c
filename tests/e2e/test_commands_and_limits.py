"""Limits that could be walked around, commands that were lost, and shapes of the ouroboros
document that were partial, each through the real server: resumes and answers held to the
concurrency limit, WebSocket and Socket.IO handshakes to the request limit, a paused run
cancelled, answered prompts cleared, graph inputs checked when saved, a clear Socket.IO
protocol error, tool steps recorded, and the catalogue's steps, health's pool, dates,
statuses, estimates, workspace times and tool-limit headers."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import socketio
import websockets

from tests.helpers.mcp_servers import TEST_SERVER
from tests.helpers.server import RunningServer, running_server
from tests.helpers.streams import ws_url

pytestmark = pytest.mark.e2e

KEY = "eo_limits-test-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
SLOW = {"input": {"task": "slow", "llm": {"provider": "echo", "latency_ms": 30_000}}, "async": True}
TERMINAL = ("completed", "failed", "cancelled")


def wait_for(c: httpx.Client, execution_id: str, statuses: tuple[str, ...], within: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while (record := c.get(f"/executions/{execution_id}").json())["status"] not in statuses:
        assert time.monotonic() < deadline, record
        time.sleep(0.05)
    return dict(record)


# -- 4. the concurrency limit holds for resumed and answered runs -----------------------------


def test_resuming_or_answering_counts_against_the_concurrency_limit(storage: Path, tmp_path: Path) -> None:
    env = {"ECHO_API_KEYS": KEY, "ECHO_MAX_EXECUTIONS_PER_CALLER": "3"}
    with running_server(storage, "--plugins-dir", str(tmp_path / "p"), env=env) as s, httpx.Client(base_url=s.url, headers=AUTH) as c:
        cancelled: list[str] = []
        for _ in range(3):  # the walk-around: start until 429, cancel one, resume it
            while (started := c.post("/graphs/ASIS/execute", json=SLOW)).status_code == 202:
                pass
            assert started.status_code == 429
            active = [
                e["execution_id"]
                for e in c.get("/executions", params={"limit": 100}).json()["executions"]
                if e["status"] in ("initializing", "running")
            ]
            victim = active[0]
            assert c.post(f"/executions/{victim}/cancel", json={"graceful": False}).status_code == 200
            wait_for(c, victim, ("cancelled",))
            assert c.post("/graphs/ASIS/execute", json=SLOW).status_code == 202  # its slot is free again
            refused = c.post(f"/executions/{victim}/resume")
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "ERR_RATE_001", refused.text
            cancelled.append(victim)
        running = [
            e for e in c.get("/executions", params={"limit": 100}).json()["executions"] if e["status"] in ("initializing", "running")
        ]
        assert len(running) == 3
        # With a slot free, the resume goes through and holds it.
        assert c.post(f"/executions/{running[0]['execution_id']}/cancel", json={"graceful": False}).status_code == 200
        wait_for(c, running[0]["execution_id"], ("cancelled",))
        assert c.post(f"/executions/{cancelled[0]}/resume").status_code == 202
        assert c.post("/graphs/ASIS/execute", json=SLOW).status_code == 429
        # An answer to a review is a run going on again: refused while the caller is at its limit.
        reviewed = c.post("/workflows/article-desk/execute", json={"inputs": {"brief": "x"}})
        assert reviewed.status_code == 429  # no slot even to start it
        for execution in c.get("/executions", params={"limit": 100}).json()["executions"]:
            if execution["status"] in ("initializing", "running"):
                c.post(f"/executions/{execution['execution_id']}/cancel", json={"graceful": False})
        paused_id = c.post("/workflows/article-desk/execute", json={"inputs": {"brief": "x"}}).json()["execution_id"]
        prompt = wait_for(c, paused_id, ("paused",))["pending_prompt"]["prompt_id"]
        for _ in range(3):
            assert c.post("/graphs/ASIS/execute", json=SLOW).status_code == 202
        answer = c.post(f"/executions/{paused_id}/respond", json={"prompt_id": prompt, "response": "approve"})
        assert answer.status_code == 429, answer.text
        assert c.get(f"/executions/{paused_id}").json()["status"] == "paused"  # still waiting: nothing lost


# -- 5. handshakes count against the request limit --------------------------------------------


def test_websocket_and_socketio_handshakes_count_against_the_request_limit(storage: Path, tmp_path: Path) -> None:
    env = {"ECHO_API_KEYS": KEY, "ECHO_RATE_LIMIT_PER_HOUR": "5"}
    with running_server(storage, "--plugins-dir", str(tmp_path / "p"), env=env) as s:

        async def guess(key: str) -> int:
            try:
                async with websockets.connect(ws_url(s, "/ws/executions"), additional_headers={"Authorization": f"Bearer {key}"}):
                    return 101
            except websockets.InvalidStatus as exc:
                return int(exc.response.status_code)

        codes = [anyio.run(guess, f"eo_wrong-guess-{i:04d}-0123456789abcdef") for i in range(7)]
        assert codes[:5] == [401] * 5 and codes[5:] == [429, 429], codes  # guesses count against the address
        # A caller past its own hourly limit opens no stream either.
        assert anyio.run(guess, KEY) == 101
        for _ in range(4):
            assert httpx.get(f"{s.url}/agents/list", headers=AUTH).status_code == 200
        assert httpx.get(f"{s.url}/agents/list", headers=AUTH).status_code == 429
        assert anyio.run(guess, KEY) == 429
        # Socket.IO's handshake (a new engine.io session) is a request like any other.
        handshake = httpx.get(f"{s.url}/socket.io/", params={"EIO": "4", "transport": "polling"}, headers=AUTH)
        assert handshake.status_code == 429 and handshake.json()["error"]["code"] == "ERR_RATE_001"


def test_socketio_handshakes_of_wrong_keys_are_throttled(storage: Path, tmp_path: Path) -> None:
    env = {"ECHO_API_KEYS": KEY, "ECHO_RATE_LIMIT_PER_HOUR": "4"}
    with running_server(storage, "--plugins-dir", str(tmp_path / "p"), env=env) as s:

        async def attempt(key: str) -> str:
            client = socketio.AsyncClient(reconnection=False)
            try:
                await client.connect(s.url, namespaces=["/executions"], transports=["websocket"], auth={"token": key}, wait_timeout=10)
            except socketio.exceptions.ConnectionError as exc:
                return str(exc)
            await client.disconnect()
            return "connected"

        results = [anyio.run(attempt, f"eo_wrong-guess-{i:04d}-0123456789abcdef") for i in range(6)]
        # Four sessions opened and refused at the namespace (a wrong key), then no session at all.
        assert results[:4] == ["One or more namespaces failed to connect: /executions"] * 4, results
        assert results[4:] == ["Connection error"] * 2, results
        refused = httpx.get(f"{s.url}/socket.io/", params={"EIO": "4", "transport": "polling"})
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "ERR_RATE_001" and "retry-after" in refused.headers


# -- 6, 7. a paused run cancelled; answered prompts cleared ----------------------------------


def test_cancelling_a_paused_run_ends_it(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        execution_id = c.post("/workflows/article-desk/execute", json={"inputs": {"brief": "x"}}).json()["execution_id"]
        prompt = wait_for(c, execution_id, ("paused",))["pending_prompt"]["prompt_id"]
        cancelled = c.post(f"/executions/{execution_id}/cancel", json={"reason": "nobody will review it"})
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
        record = c.get(f"/executions/{execution_id}").json()
        assert record["status"] == "cancelled" and record["pending_prompt"] is None and record["completed_at"]
        events = c.get(f"/executions/{execution_id}/events", params={"limit": 1000}).json()["events"]
        assert events[-1]["event_type"] == "execution_cancelled" and events[-1]["data"]["reason"] == "nobody will review it"
        late = c.post(f"/executions/{execution_id}/respond", json={"prompt_id": prompt, "response": "approve"})
        assert late.status_code == 409  # the answer comes too late: nothing runs
        time.sleep(0.3)
        assert c.get(f"/executions/{execution_id}").json()["status"] == "cancelled"
        nodes = c.get(f"/executions/{execution_id}/node-executions").json()["node_executions"]
        assert "pending" not in {n["status"] for n in nodes}


@pytest.mark.parametrize("response", ["approve", "reject"])
def test_an_answered_prompt_is_cleared_and_the_review_has_one_record(server: RunningServer, response: str) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        execution_id = c.post("/workflows/article-desk/execute", json={"inputs": {"brief": "x"}}).json()["execution_id"]
        prompt = wait_for(c, execution_id, ("paused",))["pending_prompt"]["prompt_id"]
        assert c.post(f"/executions/{execution_id}/respond", json={"prompt_id": prompt, "response": response}).status_code == 200
        record = wait_for(c, execution_id, TERMINAL)
        assert record["status"] == ("completed" if response == "approve" else "cancelled") and record["pending_prompt"] is None
        nodes = c.get(f"/executions/{execution_id}/node-executions").json()["node_executions"]
        reviews = [n for n in nodes if n["node_type"] == "review_node"]
        assert len(reviews) == 1 and reviews[0]["status"] in ("completed", "cancelled", "failed"), reviews
        assert "pending" not in {n["status"] for n in nodes}


# -- 8. a graph workflow's inputs are checked against its graph ------------------------------


def test_a_graph_workflow_must_give_its_graph_the_inputs_it_needs(server: RunningServer) -> None:
    documents_example = {
        "name": "Market Research Workflow", "slug": "market-research-doc", "category": "research", "graph_name": "ASIS",
        "strategy_definition": {"steps": [{"step_number": 1, "name": "Market Analysis", "description": "Analyze market conditions"}]},
        "input_fields": [{"name": "industry", "type": "string", "required": True, "description": "Target industry"}],
    }  # fmt: skip
    refused = httpx.post(f"{server.url}/workflows", json=documents_example)
    assert refused.status_code == 422, refused.text
    assert any("needs the input 'task'" in e["message"] for e in refused.json()["error"]["details"]["errors"])
    fixed = {
        **documents_example,
        "input_fields": [*documents_example["input_fields"], {"name": "task", "type": "string", "required": True}],
    }
    created = httpx.post(f"{server.url}/workflows", json=fixed)
    assert created.status_code == 201, created.text
    wrong_type = {**fixed, "slug": "typed", "name": "Typed", "input_fields": [{"name": "task", "type": "number", "required": True}]}
    assert "graph 'ASIS' takes string" in httpx.post(f"{server.url}/workflows", json=wrong_type).text


# -- 9. the Socket.IO URL spoken to in the native protocol -----------------------------------


def test_a_json_frame_on_the_socketio_url_gets_a_protocol_error(server: RunningServer) -> None:
    async def speak() -> tuple[list[str], int | None]:
        frames: list[str] = []
        async with websockets.connect(ws_url(server, "/socket.io/?EIO=4&transport=websocket")) as ws:
            frames.append(str(await ws.recv()))  # engine.io's open packet
            await ws.send(json.dumps({"event": "join_execution", "data": {"execution_id": "wfexec_x"}}))
            try:
                while True:
                    frames.append(str(await ws.recv()))
            except websockets.ConnectionClosed as closed:
                return frames, closed.rcvd.code if closed.rcvd else None

    frames, code = anyio.run(speak)
    error = json.loads(frames[-1])
    assert error["event"] == "error" and "/ws/executions" in error["data"]["message"] and code == 1002, (frames, code)
    assert "not an engine.io packet" in server.output()


# -- 10. tool steps record their tools -----------------------------------------------------------


def test_tool_steps_record_their_calls_and_their_price(storage: Path, tmp_path: Path) -> None:
    settings = {"mcpServers": {"tools": {"command": sys.executable, "args": [str(TEST_SERVER)], "cost_per_call_usd": 0.25}}}
    (storage / "mcp_settings.json").write_text(json.dumps(settings))
    workflow = {
        "name": "Adder", "input_fields": [
            {"name": "a", "type": "integer", "required": True}, {"name": "b", "type": "integer", "required": True},
            {"name": "word", "type": "string", "required": True},
        ],
        "strategy_definition": {"steps": [
            {"step_number": 1, "name": "Add", "tool_id": "tools-add", "input_mapping": {"a": "a", "b": "b"}},
            {"step_number": 2, "name": "Shout", "tool_id": "tools-shout", "input_mapping": {"text": "word"}},
            {"step_number": 3, "name": "Done", "tool_id": "tools-add", "dependencies": [1, 2], "input_mapping": {"a": "a", "b": "a"}},
        ]},
    }  # fmt: skip
    with running_server(storage, "--plugins-dir", str(tmp_path / "p")) as s, httpx.Client(base_url=s.url, timeout=60) as c:
        deadline = time.monotonic() + 30
        while c.post("/workflows", json=workflow).status_code != 201:  # the MCP server may still be connecting
            assert time.monotonic() < deadline
            time.sleep(0.2)
        execution_id = c.post("/workflows/adder/execute", json={"inputs": {"a": 2, "b": 3, "word": "hi"}}).json()["execution_id"]
        record = wait_for(c, execution_id, TERMINAL)
        assert record["status"] == "completed", record
        steps = {x["step_number"]: x for x in c.get(f"/executions/{execution_id}/steps").json()["step_executions"]}
        assert [steps[n]["mcp_tools_used"] for n in (1, 2, 3)] == [["tools-add"], ["tools-shout"], ["tools-add"]]
        assert all(steps[n]["cost_usd"] == 0.25 for n in (1, 2, 3))
        detail = c.get(f"/step-executions/{steps[1]['step_execution_id']}").json()
        assert detail["mcp_tools_used"] == ["tools-add"] and detail["metrics"]["total_cost_usd"] == 0.25
        events = c.get(f"/executions/{execution_id}/events", params={"limit": 1000}).json()["events"]
        calls = [
            (e["event_type"], e["data"]["tool_id"], e["data"]["step_number"]) for e in events if e["event_type"].startswith("tool_call")
        ]
        assert sorted(calls) == sorted(
            [
                (f"tool_call_{p}", t, n)
                for n, t in ((1, "tools-add"), (2, "tools-shout"), (3, "tools-add"))
                for p in ("started", "completed")
            ]
        )
        completed = [e["data"] for e in events if e["event_type"] == "tool_call_completed"]
        assert {d["cost_usd"] for d in completed} == {0.25}
        info = c.get(f"/executions/{execution_id}/info").json()
        assert info["llm_calls"]["estimated_cost_usd"] == 0.0  # no model was called: the cost is the tools'
        listed = [e for e in c.get("/executions").json()["executions"] if e["execution_id"] == execution_id]
        assert listed


# -- 11. the document's shapes -------------------------------------------------------------------


def test_agent_workflows_list_the_steps_their_runs_record(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        steps = c.get("/workflows/market-research/steps").json()
        assert steps["total_steps"] == 3
        assert [(s["step_number"], s["name"], s["agent_id"], s["dependencies"]) for s in steps["steps"]] == [
            (1, "Researcher", "researcher", []),
            (2, "Competitor Scout", "competitor_scout", []),
            (3, "Merge", None, [1, 2]),
        ]
        assert c.get("/workflows/market-research/steps/3").json()["name"] == "Merge"
        assert c.get("/workflows/market-research/steps/4").status_code == 404
        desk = c.get("/workflows/article-desk/steps").json()["steps"]
        assert [(s["agent_id"], s["dependencies"], s["interactive"]) for s in desk] == [
            ("editor_in_chief", [], False),
            ("writer", [1], True),
            ("fact_checker", [1], False),
        ]
        execution_id = c.post("/workflows/market-research/execute", json={"inputs": {"topic": "tea"}}).json()["execution_id"]
        wait_for(c, execution_id, TERMINAL)
        ran = sorted({(x["step_number"], x["step_name"]) for x in c.get(f"/executions/{execution_id}/steps").json()["step_executions"]})
        assert ran == [(s["step_number"], s["name"]) for s in steps["steps"]]


def test_health_shows_the_connection_pool(server: RunningServer) -> None:
    database = httpx.get(f"{server.url}/service/health").json()["database"]
    assert database["kind"] == "sqlite" and database["connection_pool"]["size"] == 1
    assert database["connection_pool"]["in_use"] + database["connection_pool"]["available"] == 1


def test_dates_statuses_and_query_errors_are_read_as_the_document_says(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get("/metrics/step-executions", params={"start_date": "2026-12-01"}).status_code == 200
        assert c.get("/metrics/step-executions", params={"start_date": "2026-12-01", "end_date": "2026-12-02T00:00:00Z"}).status_code == 200
        bad = c.get("/metrics/step-executions", params={"start_date": "first of december"})
        assert bad.status_code == 422 and bad.json()["error"]["details"]["errors"][0]["field"] == "start_date"
        backwards = c.get("/metrics/step-executions", params={"start_date": "2026-12-02", "end_date": "2026-12-01"})
        assert backwards.status_code == 422
        for path in ("/executions", "/step-executions"):
            wrong = c.get(path, params={"status": "bogus"})
            assert wrong.status_code == 422, (path, wrong.text)
            error = wrong.json()["error"]["details"]["errors"][0]
            assert (error["field"], error["source"]) == ("status", "query"), error
        limit = c.get("/executions", params={"limit": "many"}).json()["error"]["details"]["errors"][0]
        assert (limit["field"], limit["source"]) == ("limit", "query")
        body = c.post("/workflows/sales-insights/execute", json={"inputs": {"input_data": "x"}, "config": {"max_retries": "x"}})
        assert body.json()["error"]["details"]["errors"][0]["source"] == "body"


def test_graph_workflows_estimate_their_completion_from_their_steps(server: RunningServer) -> None:
    workflow = {
        "name": "Estimated", "graph_name": "ASIS", "input_fields": [{"name": "task", "type": "string", "required": True}],
        "strategy_definition": {"steps": [
            {"step_number": 1, "name": "Plan", "estimated_duration": 120},
            {"step_number": 2, "name": "Do", "estimated_duration": 60},
        ]},
    }  # fmt: skip
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.post("/workflows", json=workflow).status_code == 201
        started = c.post("/workflows/estimated/execute", json={"inputs": {"task": "t"}}).json()
        assert started["estimated_completion"] is not None
        seconds = time.mktime(time.strptime(started["estimated_completion"][:19], "%Y-%m-%dT%H:%M:%S")) - time.mktime(
            time.strptime(started["started_at"][:19], "%Y-%m-%dT%H:%M:%S")
        )
        assert 178 <= seconds <= 182, started


def test_a_workspace_keeps_its_creation_time(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.post("/service/workspaces", json={"name": "team"}).status_code in (200, 201)

        def created() -> str:
            return str(next(w for w in c.get("/service/workspaces").json()["workspaces"] if w["name"] == "team")["created_at"])

        first = created()
        time.sleep(1.1)
        made = c.post("/workspace/directories", json={"action": "create", "directory_name": "notes", "workspace": "team"})
        assert made.status_code in (200, 201), made.text
        assert created() == first
        files = c.get("/service/workspaces/team/files").json()
        assert all(".echo" not in f["path"] for f in files["files"])


def test_a_tool_call_refused_by_its_limit_shows_that_limit(storage: Path, tmp_path: Path) -> None:
    env = {"ECHO_API_KEYS": KEY, "ECHO_MCP_TOOL_CALLS_PER_HOUR": "2"}
    with running_server(storage, "--plugins-dir", str(tmp_path / "p"), env=env) as s, httpx.Client(base_url=s.url, headers=AUTH) as c:
        call = {"tool_id": "plugins-calculator", "input": {"expression": "1+1"}}
        assert [c.post("/mcp-tools/execute", json=call).status_code for _ in range(2)] == [200, 200]
        over = c.post("/mcp-tools/execute", json=call)
        assert over.status_code == 429 and over.headers["x-ratelimit-limit"] == "2" and over.headers["x-ratelimit-remaining"] == "0"
        assert c.get("/agents/list").headers["x-ratelimit-limit"] == "1000"  # the general one, everywhere else
