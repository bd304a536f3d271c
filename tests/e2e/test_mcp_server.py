"""The MCP server face as clients meet it: the real server (uvicorn, API keys) at `/mcp`, the
official `mcp` client over Streamable HTTP in both protocol eras, `echo-orchestrator mcp`
over stdio (local, and bridging to the server), the MCP Inspector's CLI (a client no one
here wrote, from the npm registry), and the service's own hub calling its own `/mcp` (one
workflow calling another, and one calling itself until the depth bound stops it).

One server serves the module: each test starts what it needs on it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ToolsListChanged
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import ToolListChangedNotification

from tests.helpers.server import REPO, RunningServer, free_port, running_server
from tests.helpers.storage import copy_storage
from tests.integration.mcp_server.test_face import add_slow_workflow

OWNER = "eo_owner_key_0123456789abcdef"
READER = "eo_reader_key_0123456789abcdef"
MAX_DEPTH = 2
TERMINAL = ("completed", "failed", "cancelled")


def step_calling(tool_id: str) -> dict[str, Any]:
    """A final version whose one step calls a hub tool with the run's `topic`."""
    return {"step_number": 1, "name": f"Call {tool_id}", "tool_id": tool_id, "input_mapping": {"topic": "topic"}}


def add_tool_workflow(storage: Path, slug: str, tool_id: str) -> None:
    workflow = {
        "workflow_id": f"wf_{slug.replace('-', '_')}",
        "slug": slug,
        "name": slug.replace("-", " ").title(),
        "status": "final",
        "version": "1.0",
        "strategy_definition": {"steps": [step_calling(tool_id)]},
        "input_fields": [{"name": "topic", "type": "string", "required": True}],
    }
    (storage / "workflows" / "final" / f"{workflow['workflow_id']}.v1.0.json").write_text(json.dumps(workflow))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("mcp-face")
    storage = copy_storage(root / "storage")
    add_slow_workflow(storage, latency_ms=3000)
    port = free_port()
    # The service's own /mcp as one of its hub's servers (dogfood), with a key by reference.
    self_server = {"url": f"http://127.0.0.1:{port}/mcp", "headers": {"Authorization": "Bearer ${ECHO_SELF_KEY}"}, "timeout": 60}
    (storage / "mcp_settings.json").write_text(json.dumps({"mcpServers": {"self": self_server}}))
    add_tool_workflow(storage, "relay", "self-market-research")
    add_tool_workflow(storage, "loop", "self-loop")
    env = {
        "ECHO_API_KEYS": f"{OWNER} id=owner,{READER} id=reader read-only",
        "ECHO_SELF_KEY": OWNER,
        "ECHO_MCP_MAX_DEPTH": str(MAX_DEPTH),
    }
    with running_server(storage, "--plugins-dir", str(root / "plugins"), "--log-level", "info", env=env, port=port) as running:
        yield running


def mcp_client(server: RunningServer, key: str | None = OWNER, mode: str = "auto", **options: Any) -> Client:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"} if key else None)
    return Client(streamable_http_client(f"{server.url}/mcp", http_client=http), mode=mode, **options)


def rest(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {OWNER}"})


def wait_status(c: httpx.Client, execution_id: str, statuses: tuple[str, ...] = TERMINAL, within: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while (record := c.get(f"/executions/{execution_id}").json())["status"] not in statuses:
        assert time.monotonic() < deadline, record
        time.sleep(0.1)
    return dict(record)


def runs_of(c: httpx.Client, slug: str) -> list[dict[str, Any]]:
    return list(c.get("/executions", params={"workflow_slug": slug, "limit": 100}).json()["executions"])


# -- the door: who may come in ------------------------------------------------------------------


def test_no_key_a_bad_key_and_a_foreign_origin_are_refused_with_the_error_body(server: RunningServer) -> None:
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28"}
    with httpx.Client(base_url=server.url, timeout=10) as c:
        nobody = c.post("/mcp", json=initialize, headers=headers)
        wrong = c.post("/mcp", json=initialize, headers={**headers, "Authorization": "Bearer eo_not_a_key_0123456789"})
        foreign = c.post("/mcp", json=initialize, headers={**headers, "Authorization": f"Bearer {OWNER}", "Origin": "http://evil.example"})
        foreign_get = c.get("/mcp", headers={"Authorization": f"Bearer {OWNER}", "Origin": "http://evil.example"})
        other_host = c.post("/mcp", json=initialize, headers={**headers, "Authorization": f"Bearer {OWNER}", "Host": "evil.example"})
    assert nobody.status_code == 401 and nobody.json()["error"]["code"] == "ERR_AUTH_001"
    assert nobody.headers["www-authenticate"].startswith("Bearer")
    assert wrong.status_code == 401
    for refused in (foreign, foreign_get):
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "ERR_AUTH_002", refused.text
        assert "ECHO_ALLOWED_ORIGINS" in refused.json()["detail"]
    assert other_host.status_code == 400 and "ECHO_ALLOWED_HOSTS" in other_host.json()["detail"]
    assert "X-RateLimit-Limit" in nobody.headers or "x-ratelimit-limit" in nobody.headers


def test_a_read_only_key_may_list_and_read_but_not_start_a_run(server: RunningServer) -> None:
    async def scenario() -> tuple[set[str], MCPError, int]:
        async with mcp_client(server, READER) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            await client.read_resource("echo://workflows/market-research/versions/1.0")
            try:
                await client.call_tool("sales-insights", {"input_data": "q3"})
            except MCPError as exc:
                return names, exc, len(runs_of(rest(server), "sales-insights"))
        raise AssertionError("the call was not refused")

    names, refused, runs = anyio.run(scenario)
    assert {"market-research", "relay", "loop", "slow-lane"} <= names
    assert refused.code == -32003 and refused.data["error"]["code"] == "ERR_AUTH_002" and refused.data["detail"]
    assert runs == 0


# -- calls over Streamable HTTP, both eras --------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_a_call_answers_the_outputs_with_progress_in_order_and_records_the_caller(server: RunningServer, mode: str) -> None:
    async def scenario() -> tuple[str, Any, list[float], dict[str, Any]]:
        progress: list[float] = []

        async def seen(value: float, total: float | None, message: str | None) -> None:
            progress.append(value)

        async with mcp_client(server, mode=mode) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert tools["market-research"].input_schema["required"] == ["topic"]
            result = await client.call_tool("market-research", {"topic": "tea"}, progress_callback=seen)
            return client.protocol_version, result, progress, tools["market-research"].input_schema

    version, result, progress, schema = anyio.run(scenario)
    assert version == ("2026-07-28" if mode == "auto" else "2025-11-25")
    assert result.is_error is False and result.structured_content["status"] == "completed"
    assert progress == sorted(progress) and len(progress) >= 4 and progress[-1] == 3.0, progress
    with rest(server) as c:
        record = c.get(f"/executions/{result.structured_content['execution_id']}").json()
    assert record["status"] == "completed"
    listed = [r for r in runs_of(rest(server), "market-research") if r["execution_id"] == record["execution_id"]]
    assert listed[0]["caller"] == "key:owner"
    assert schema["properties"]["topic"]["type"] == "string"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_a_cancelled_call_cancels_its_run(server: RunningServer, mode: str) -> None:
    with rest(server) as c:
        before = {r["execution_id"] for r in runs_of(c, "slow-lane")}

        async def scenario() -> None:
            async with mcp_client(server, mode=mode) as client:
                with anyio.move_on_after(1.5):
                    await client.call_tool("slow-lane", {"topic": "tea"})
                await anyio.sleep(0.3)  # the handshake era says so in a notification of its own

        anyio.run(scenario)
        started = [r["execution_id"] for r in runs_of(c, "slow-lane") if r["execution_id"] not in before]
        assert len(started) == 1
        assert wait_status(c, started[0], within=20)["status"] == "cancelled"


def test_a_paused_run_is_answered_through_the_tool_it_names(server: RunningServer) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with mcp_client(server) as client:
            paused = await client.call_tool("article-desk", {"brief": "a tea shop opens"})
            arguments = {**paused.structured_content["next"]["arguments"], "response": "approve"}
            return paused, await client.call_tool("respond_to_execution", arguments)

    paused, done = anyio.run(scenario)
    assert paused.structured_content["status"] == "paused" and paused.structured_content["pending_prompt"]["message"]
    assert done.structured_content["status"] == "completed", done.structured_content


def test_clients_of_both_eras_hear_when_a_saved_definition_adds_a_tool(server: RunningServer) -> None:
    heard: list[Any] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, ToolListChangedNotification):
            heard.append(message)

    async def scenario() -> set[str]:
        async with mcp_client(server) as modern, mcp_client(server, mode="legacy", message_handler=on_message) as legacy:
            await legacy.list_tools()  # the session is known to the server now
            async with modern.listen(tools_list_changed=True) as subscription:
                body = {"name": "Fresh Face", "agents": ["researcher"], "input_fields": [{"name": "topic", "required": True}]}
                with rest(server) as c:
                    assert c.post("/workflows", json=body).status_code == 201
                with anyio.fail_after(10):
                    async for event in subscription:
                        assert isinstance(event, ToolsListChanged)
                        break
            with anyio.fail_after(10):
                while not heard:
                    await anyio.sleep(0.05)
            return {t.name for t in (await modern.list_tools()).tools}

    assert "fresh-face" in anyio.run(scenario)


# -- the hub using the face (dogfood) ------------------------------------------------------------


def test_a_workflow_calls_another_through_the_services_own_mcp_server(server: RunningServer) -> None:
    with rest(server) as c:
        started = c.post("/workflows/relay/execute", json={"inputs": {"topic": "tea"}}).json()["execution_id"]
        outer = wait_status(c, started)
        assert outer["status"] == "completed", outer
        inner = [r for r in runs_of(c, "market-research") if r["caller"] == "key:owner"]
        nested = [c.get(f"/executions/{r['execution_id']}").json() for r in inner]
        children = [e for e in nested if e.get("parent_execution_id") == started]
    assert len(children) == 1 and children[0]["call_depth"] == 1 and children[0]["status"] == "completed"


def test_a_workflow_calling_itself_stops_at_the_depth_bound(server: RunningServer) -> None:
    with rest(server) as c:
        started = c.post("/workflows/loop/execute", json={"inputs": {"topic": "tea"}}).json()["execution_id"]
        top = wait_status(c, started, within=90)
        chain = [c.get(f"/executions/{r['execution_id']}").json() for r in runs_of(c, "loop")]
    assert top["status"] == "failed"
    assert sorted(e["call_depth"] for e in chain) == list(range(MAX_DEPTH + 1))  # 0, 1, 2: the next call refused
    assert all(e["status"] == "failed" for e in chain)
    deepest = next(e for e in chain if e["call_depth"] == MAX_DEPTH)
    assert "ECHO_MCP_MAX_DEPTH" in json.dumps(deepest["error"]), deepest["error"]


# -- stdio: `echo-orchestrator mcp` --------------------------------------------------------------


def stdio(*args: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "echo_orchestrator", "mcp", *args], cwd=str(REPO), env={**os.environ, **(env or {})}
    )


def test_stdio_serves_a_local_storage_folder_and_bridges_to_a_server(server: RunningServer, tmp_path: Path) -> None:
    storage = copy_storage(tmp_path / "storage")

    async def scenario() -> tuple[Any, set[str], MCPError | None]:
        async with Client(stdio_client(stdio("--storage", str(storage)))) as local:
            result = await local.call_tool("market-research", {"topic": "tea"})
        bridged = stdio("--server", server.url, env={"ECHO_API_KEY": READER})
        refused: MCPError | None = None
        async with Client(stdio_client(bridged), mode="legacy") as remote:
            names = {t.name for t in (await remote.list_tools()).tools}
            try:
                await remote.call_tool("market-research", {"topic": "tea"})
            except MCPError as exc:
                refused = exc
        return result, names, refused

    result, names, refused = anyio.run(scenario)
    assert result.structured_content["status"] == "completed"
    assert "relay" in names  # the server's tools, not the local folder's
    assert refused is not None and refused.code == -32003 and refused.data["error"]["code"] == "ERR_AUTH_002"


def test_the_stdio_command_exits_cleanly_when_its_client_goes_and_says_why_it_cannot_start(tmp_path: Path) -> None:
    storage = copy_storage(tmp_path / "storage")
    command = [sys.executable, "-m", "echo_orchestrator", "mcp"]
    process = subprocess.Popen(
        [*command, "--storage", str(storage)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO
    )
    time.sleep(1.0)
    assert process.stdin is not None
    process.stdin.close()  # the client went away
    assert process.wait(timeout=20) == 0
    assert process.stdout is not None and process.stdout.read() == b""  # nothing but the protocol on stdout
    unreachable = subprocess.run([*command, "--server", f"127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=30, cwd=REPO)
    assert unreachable.returncode == 2 and "echo-orchestrator mcp:" in unreachable.stderr, unreachable.stderr


# -- a client no one here wrote ------------------------------------------------------------------

INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"


def inspector(server: RunningServer, *args: str) -> Any:
    command = ["npx", "-y", INSPECTOR, "--cli", f"{server.url}/mcp", "--transport", "http"]
    command += ["--header", f"Authorization: Bearer {OWNER}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_the_mcp_inspector_cli_lists_and_calls_the_tools(server: RunningServer) -> None:
    if shutil.which("npx") is None:
        if os.environ.get("ECHO_REQUIRE_NPX"):
            pytest.fail("npx is required here (ECHO_REQUIRE_NPX) to run the MCP Inspector's CLI")
        pytest.skip("npx (Node.js) is not installed: the MCP Inspector's CLI cannot run")
    listed = inspector(server, "--method", "tools/list")
    tools = {t["name"]: t for t in listed["tools"]}
    assert tools["market-research"]["inputSchema"]["required"] == ["topic"]
    called = inspector(server, "--method", "tools/call", "--tool-name", "market-research", "--tool-arg", "topic=tea")
    assert called["structuredContent"]["status"] == "completed" and called["isError"] is False


def test_the_stdio_entry_docs_mcp_md_shows_runs_as_pasted(tmp_path: Path) -> None:
    """The Claude Desktop entry of docs/mcp.md, with only its storage path filled in."""
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", (REPO / "docs" / "mcp.md").read_text(), re.DOTALL)]
    entry = next(b["mcpServers"]["echo"] for b in blocks if "echo" in b.get("mcpServers", {}))
    storage = copy_storage(tmp_path / "storage")
    args = [str(storage) if a == "/path/to/storage" else a for a in entry["args"]]
    command = shutil.which(entry["command"], path=str(Path(sys.executable).parent)) or entry["command"]

    async def scenario() -> Any:
        async with Client(stdio_client(StdioServerParameters(command=command, args=args, cwd=str(tmp_path)))) as client:
            return await client.call_tool("sales-insights", {"input_data": "q3: 120 units"})

    assert anyio.run(scenario).structured_content["status"] == "completed"
