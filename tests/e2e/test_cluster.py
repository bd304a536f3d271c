"""Two API nodes over one storage folder and one PostgreSQL runtime: any node serves any
run. Runs started on node A are followed to the end from node B over WebSocket and SSE
(every event, in order, no gap, no double), and cancelled through node B. Every test runs
with the nodes signalling each other over PostgreSQL's NOTIFY and over Redis."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import socketio
import websockets

from tests.helpers.postgres import new_schema
from tests.helpers.redis import forget_cluster
from tests.helpers.server import RunningServer, running_server
from tests.helpers.storage import copy_storage
from tests.helpers.streams import TERMINAL, follow_sse, follow_ws, seqs, stored_seqs, ws_url

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

SLOW = {"input": {"task": "cluster", "llm": {"provider": "echo", "latency_ms": 150}}, "async": True}
VERY_SLOW = {"input": {"task": "cancel me", "llm": {"provider": "echo", "latency_ms": 3000}}, "async": True}


@pytest.fixture(params=["notify", "redis"])
def cluster_env(request: pytest.FixtureRequest, postgres_database: str) -> Iterator[dict[str, str]]:
    """The environment of a cluster's nodes: a runtime schema of its own, and Redis or not."""
    url = new_schema(postgres_database)
    if request.param == "notify":
        yield {"ECHO_RUNTIME_URL": url}
        return
    yield {"ECHO_RUNTIME_URL": url, "ECHO_REDIS_URL": request.getfixturevalue("redis_server")}
    forget_cluster(url)


@pytest.fixture
def nodes(tmp_path: Path, cluster_env: dict[str, str]) -> Iterator[tuple[RunningServer, RunningServer]]:
    storage = copy_storage(tmp_path / "storage")
    plugins = ("--plugins-dir", str(tmp_path / "plugins"))
    with (
        running_server(storage, *plugins, env=cluster_env, timeout=40) as a,
        running_server(storage, *plugins, env=cluster_env, timeout=40) as b,
    ):
        yield a, b


async def start(node: RunningServer, body: dict[str, Any]) -> str:
    async with httpx.AsyncClient(base_url=node.url) as c:
        r = await c.post("/graphs/ASIS/execute", json=body)
        assert r.status_code == 202, r.text
        return str(r.json()["execution_id"])


async def test_runs_started_on_one_node_are_followed_live_from_the_other(nodes: tuple[RunningServer, RunningServer]) -> None:
    a, b = nodes
    ids = [await start(a, SLOW) for _ in range(6)]
    ws_frames: dict[str, list[dict[str, Any]]] = {}
    sse_frames: dict[str, list[tuple[str, int]]] = {}

    async def both(execution_id: str) -> None:
        async def by_ws() -> None:
            ws_frames[execution_id] = await follow_ws(b, execution_id)

        async def by_sse() -> None:
            sse_frames[execution_id] = await follow_sse(b, execution_id)

        async with anyio.create_task_group() as tg:
            tg.start_soon(by_ws)
            tg.start_soon(by_sse)

    async with anyio.create_task_group() as tg:
        for execution_id in ids:
            tg.start_soon(both, execution_id)
    for execution_id in ids:
        expected = await stored_seqs(a, execution_id)
        assert expected == list(range(1, len(expected) + 1)) and len(expected) > 5
        assert seqs(ws_frames[execution_id]) == expected  # every event, in order, no double
        assert [seq for _, seq in sse_frames[execution_id]] == expected
        assert ws_frames[execution_id][-1]["event"] == "execution_completed"
        assert sse_frames[execution_id][-1][0] == "execution_completed"


async def test_a_socketio_client_on_the_other_node_gets_every_event(nodes: tuple[RunningServer, RunningServer]) -> None:
    a, b = nodes
    ids = [await start(a, SLOW) for _ in range(3)]
    client = socketio.AsyncClient(reconnection=False)
    got: dict[str, list[tuple[str, int]]] = {execution_id: [] for execution_id in ids}
    done = {execution_id: anyio.Event() for execution_id in ids}

    @client.on("*", namespace="/executions")  # type: ignore[untyped-decorator]
    async def any_event(event: str, data: dict[str, Any]) -> None:
        if event != "connected":
            got[data["execution_id"]].append((event, data["seq"]))
            if event in TERMINAL:
                done[data["execution_id"]].set()

    await client.connect(b.url, namespaces=["/executions"], transports=["websocket"])
    try:
        for execution_id in ids:
            await client.emit("join_execution", {"execution_id": execution_id}, namespace="/executions")
        with anyio.fail_after(30):
            for event in done.values():
                await event.wait()
    finally:
        await client.disconnect()
    for execution_id, events in got.items():
        assert [seq for _, seq in events] == await stored_seqs(a, execution_id)  # replay then live: every event, once
        assert events[-1][0] == "execution_completed"


async def test_a_run_is_known_to_every_node_as_soon_as_its_id_is_answered(nodes: tuple[RunningServer, RunningServer]) -> None:
    a, b = nodes
    async with httpx.AsyncClient(base_url=b.url) as c:
        for _ in range(10):
            execution_id = await start(a, SLOW)
            assert (await c.get(f"/executions/{execution_id}")).status_code == 200


async def test_health_shows_what_carries_the_signals(nodes: tuple[RunningServer, RunningServer], cluster_env: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=nodes[0].url) as c:
        health = (await c.get("/service/health")).json()
    database = health["database"]
    assert database["kind"] == "postgresql" and database["status"] == "connected" and database["postgresql"] == "connected"
    pool = database["connection_pool"]
    assert pool["size"] >= 2 and pool["open"] >= 1 and pool["in_use"] + pool["available"] == pool["open"], pool
    if "ECHO_REDIS_URL" not in cluster_env:
        assert health["redis"] is None
        return
    redis = health["redis"]
    assert redis["status"] == "connected" and redis["response_time_ms"] >= 0 and redis["url"].startswith("redis://")
    assert "events" in redis["carries"] and "rate limits" in redis["carries"]


async def test_a_follower_on_the_other_node_gets_events_live_not_only_stored_ones(
    nodes: tuple[RunningServer, RunningServer],
) -> None:
    a, b = nodes
    execution_id = await start(a, SLOW)
    async with websockets.connect(ws_url(b, f"/ws/executions/{execution_id}")) as ws:
        assert json.loads(await ws.recv())["event"] == "connected"
        arrivals: list[float] = []
        with anyio.fail_after(30):
            while True:
                frame = json.loads(await ws.recv())
                arrivals.append(time.monotonic())
                if frame["event"] in TERMINAL:
                    break
    # Live: the events come spread over the run, not all at once when it has ended.
    assert arrivals[-1] - arrivals[0] > 0.3


async def test_token_pieces_reach_a_subscriber_on_the_other_node(nodes: tuple[RunningServer, RunningServer]) -> None:
    """A run streams (echo, a piece every 40 ms); a token subscriber on each node: the run is on
    one of them, so the other's pieces came through the relay. Each gets every piece of every
    call, in order; a subscriber that did not ask gets none."""
    a, b = nodes
    llm = {"provider": "echo", "latency_ms": 800, "stream_delay_ms": 40}
    execution_id = await start(a, {"input": {"task": "relay", "llm": llm}, "async": True})
    got: dict[str, list[dict[str, Any]]] = {}

    async def follow(name: str, node: RunningServer, query: str) -> None:
        frames: list[dict[str, Any]] = []
        async with websockets.connect(ws_url(node, f"/ws/executions/{execution_id}{query}")) as ws:
            with anyio.fail_after(40):
                while not frames or frames[-1]["event"] not in TERMINAL:
                    frames.append(json.loads(await ws.recv()))
        got[name] = frames

    async with anyio.create_task_group() as tg:
        tg.start_soon(follow, "a", a, "?tokens=true")
        tg.start_soon(follow, "b", b, "?tokens=true")
        tg.start_soon(follow, "plain", b, "")
    calls = [f["data"]["call_id"] for f in got["a"] if f["event"] == "llm_call_completed"]
    assert len(calls) >= 2
    for name in ("a", "b"):
        tokens = [f["data"] for f in got[name] if f["event"] == "llm_token"]
        for call_id in calls:
            pieces = [t for t in tokens if t["call_id"] == call_id]
            assert [t["index"] for t in pieces] == list(range(len(pieces))) and len(pieces) > 5, name
            assert "".join(t["delta"] for t in pieces).startswith("[echo: offline, no model was called]")
    assert "llm_token" not in {f["event"] for f in got["plain"]}


async def test_a_run_on_one_node_is_cancelled_through_the_other(nodes: tuple[RunningServer, RunningServer]) -> None:
    a, b = nodes
    execution_id = await start(a, VERY_SLOW)
    async with httpx.AsyncClient(base_url=b.url) as c:
        deadline = time.monotonic() + 10
        while (await c.get(f"/executions/{execution_id}")).json()["status"] != "running":
            assert time.monotonic() < deadline
            await anyio.sleep(0.05)
        r = await c.post(f"/executions/{execution_id}/cancel", json={"graceful": False, "reason": "from node B"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelling"
        frames = await follow_ws(b, execution_id)
        assert frames[-1]["event"] == "execution_cancelled"
        record = (await c.get(f"/executions/{execution_id}")).json()
    assert record["status"] == "cancelled"
    async with httpx.AsyncClient(base_url=a.url) as c:  # the node that ran it agrees
        assert (await c.get(f"/executions/{execution_id}")).json()["status"] == "cancelled"
    ended_at = (await stored_seqs(b, execution_id))[-1]
    async with httpx.AsyncClient(base_url=b.url) as c:  # and it resumes on the other node
        assert (await c.post(f"/executions/{execution_id}/resume")).status_code == 202
        frames = await follow_ws(a, execution_id, after_seq=ended_at)  # followed from the node that ran it first
    assert frames[-1]["event"] == "execution_completed"


async def test_a_review_asked_on_one_node_is_answered_through_the_other(nodes: tuple[RunningServer, RunningServer]) -> None:
    a, b = nodes
    async with httpx.AsyncClient(base_url=a.url) as c:
        wf = (await c.get("/workflows/sales-insights/final/1.0")).json()
        reviewed = {**wf, "workflow_id": "wf_reviewed", "slug": "reviewed", "status": "validated",
                    "human_in_loop": {"enabled": True, "review_points": ["analyzer"]}}  # fmt: skip
        assert (await c.post("/workflows/temp/save", json=reviewed)).status_code == 200
        started = await c.post("/workflows/reviewed/execute", json={"inputs": {"input_data": "Q1"}})
        assert started.status_code == 202, started.text
        execution_id = started.json()["execution_id"]
    async with websockets.connect(ws_url(b, f"/ws/executions/{execution_id}")) as ws:
        with anyio.fail_after(20):
            while (frame := json.loads(await ws.recv()))["event"] != "interactive_prompt":
                pass
        prompt_id = frame["data"]["prompt_id"]
        answer = {"prompt_id": prompt_id, "response": "approve"}
        codes: list[int] = []

        async def respond(node: RunningServer) -> None:
            async with httpx.AsyncClient(base_url=node.url) as c:
                codes.append((await c.post(f"/executions/{execution_id}/respond", json=answer)).status_code)

        async with anyio.create_task_group() as tg:  # answered on both nodes at once: run once
            tg.start_soon(respond, a)
            tg.start_soon(respond, b)
        assert sorted(codes) == [200, 409], codes
        with anyio.fail_after(20):
            while (frame := json.loads(await ws.recv()))["event"] not in TERMINAL:
                pass
    assert frame["event"] == "execution_completed"
    async with httpx.AsyncClient(base_url=a.url) as c:
        assert (await c.get(f"/executions/{execution_id}")).json()["status"] == "completed"
        events = (await c.get(f"/executions/{execution_id}/events?limit=1000")).json()["events"]
    assert [e["event_type"] for e in events].count("execution_resumed") == 1
    assert await stored_seqs(a, execution_id) == list(range(1, len(await stored_seqs(a, execution_id)) + 1))


def test_a_callers_rate_limit_counts_across_nodes(tmp_path: Path, cluster_env: dict[str, str]) -> None:
    storage = copy_storage(tmp_path / "storage")
    env = {**cluster_env, "ECHO_RATE_LIMIT_PER_HOUR": "6"}
    plugins = ("--plugins-dir", str(tmp_path / "plugins"))
    with running_server(storage, *plugins, env=env, timeout=40) as a, running_server(storage, *plugins, env=env, timeout=40) as b:
        answers = [httpx.get(f"{node.url}/agents/registry/list") for node in (a, b, a, b, a, b)]
        assert [r.status_code for r in answers] == [200] * 6
        assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["5", "4", "3", "2", "1", "0"]
        refused = httpx.get(f"{b.url}/agents/registry/list")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert httpx.get(f"{a.url}/agents/registry/list").status_code == 429
        assert httpx.get(f"{a.url}/health").headers["X-RateLimit-Remaining"] == "0"  # not counted, still told


def test_a_callers_concurrent_runs_are_counted_across_nodes(tmp_path: Path, cluster_env: dict[str, str]) -> None:
    storage = copy_storage(tmp_path / "storage")
    env = {**cluster_env, "ECHO_MAX_EXECUTIONS_PER_CALLER": "3"}
    plugins = ("--plugins-dir", str(tmp_path / "plugins"))
    with running_server(storage, *plugins, env=env, timeout=40) as a, running_server(storage, *plugins, env=env, timeout=40) as b:
        url = "/graphs/ASIS/execute"
        started = [httpx.post(f"{node.url}{url}", json=VERY_SLOW) for node in (a, b, a)]
        assert [r.status_code for r in started] == [202, 202, 202]
        refused = httpx.post(f"{b.url}{url}", json=VERY_SLOW)  # the fourth, on the other node
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["details"] == {"limit": 3, "active": 3}
        first = started[0].json()["execution_id"]
        assert httpx.post(f"{b.url}/executions/{first}/cancel", json={"graceful": False}).status_code == 200
        deadline = time.monotonic() + 15
        while httpx.get(f"{a.url}/executions/{first}").json()["status"] != "cancelled":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert httpx.post(f"{b.url}{url}", json=VERY_SLOW).status_code == 202  # a slot is free again


def test_a_definition_written_on_one_node_is_listed_on_the_other_without_a_watcher(tmp_path: Path, cluster_env: dict[str, str]) -> None:
    # Node B watches nothing, as on a network filesystem where no change event crosses hosts.
    storage = copy_storage(tmp_path / "storage")
    env = cluster_env
    plugins = ("--plugins-dir", str(tmp_path / "plugins"))
    with (
        running_server(storage, *plugins, env=env, timeout=40) as a,
        running_server(storage, *plugins, env={**env, "ECHO_WATCH": "false"}, timeout=40) as b,
    ):

        def listed_on_b() -> set[str]:
            return {agent["agent_id"] for agent in httpx.get(f"{b.url}/agents/registry/list").json()["agents"]}

        def within_a_second(condition: Any) -> None:
            deadline = time.monotonic() + 1.0
            while not condition():
                assert time.monotonic() < deadline, "not seen on the other node within a second"
                time.sleep(0.02)

        assert httpx.post(f"{a.url}/agents/register", json={"agent_id": "shared_agent", "role": "Writer"}).status_code == 201
        within_a_second(lambda: "shared_agent" in listed_on_b())
        assert httpx.put(f"{a.url}/agents/shared_agent", json={"role": "Editor"}).status_code == 200
        within_a_second(lambda: any(x["role"] == "Editor" for x in httpx.get(f"{b.url}/agents/role/Editor").json()["agents"]))
        assert httpx.delete(f"{a.url}/agents/shared_agent").status_code in (200, 204)
        within_a_second(lambda: "shared_agent" not in listed_on_b())


async def test_mcp_clients_need_no_affinity_to_a_node(nodes: tuple[RunningServer, RunningServer]) -> None:
    """The MCP server face on a cluster: a 2026-07-28 client's requests are self-contained,
    and handshake-era sessions are off (ECHO_MCP_SESSIONS unset with PostgreSQL), so a load
    balancer may send any request to any node."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    a, b = nodes
    async with Client(streamable_http_client(f"{a.url}/mcp")) as on_a, Client(streamable_http_client(f"{b.url}/mcp")) as on_b:
        assert "graph_ASIS" in {t.name for t in (await on_a.list_tools()).tools}
        result = await on_b.call_tool("graph_ASIS", SLOW["input"])
        assert result.structured_content["status"] == "completed", result.structured_content
        record = await on_a.read_resource(f"echo://executions/{result.structured_content['execution_id']}")
        assert json.loads(record.contents[0].text)["execution"]["status"] == "completed"
    legacy = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    async with httpx.AsyncClient() as c:
        opened = await c.post(f"{a.url}/mcp", json=legacy, headers={"Accept": "application/json, text/event-stream"})
        assert opened.status_code == 200 and "mcp-session-id" not in opened.headers
        listed = await c.post(
            f"{b.url}/mcp",
            json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"},
        )
    assert listed.status_code == 200 and "graph_ASIS" in listed.text
