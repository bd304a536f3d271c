"""Live events against the real server on loopback: the `websockets` library, a stock
python-socketio client, and an SSE reader over httpx."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
import socketio
import websockets

from tests.helpers.server import REPO, RunningServer, running_server
from tests.helpers.storage import copy_storage
from tests.helpers.streams import TERMINAL, SseEvent, data, seqs, sse_events, stored_seqs, ws_url

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

FIREHOSE = REPO / "tests" / "fixtures" / "firehose-plugin"
SLOW_RUN = {"input": {"task": "stream me", "llm": {"provider": "echo", "latency_ms": 150}}, "async": True}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("streaming")
    copy_storage(root / "storage")
    shutil.copytree(FIREHOSE, root / "plugins" / "echo-firehose")
    env = {"ECHO_SSE_KEEPALIVE_SECONDS": "0.2"}
    with running_server(root / "storage", "--plugins-dir", str(root / "plugins"), env=env) as running:
        wf = httpx.get(f"{running.url}/workflows/sales-insights/final/1.0").json()
        reviewed = {**wf, "workflow_id": "wf_reviewed", "slug": "reviewed", "status": "validated",
                    "human_in_loop": {"enabled": True, "review_points": ["analyzer"]}}  # fmt: skip
        assert httpx.post(f"{running.url}/workflows/temp/save", json=reviewed).status_code == 200
        yield running


async def start_slow(server: RunningServer) -> str:
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.post("/graphs/ASIS/execute", json=SLOW_RUN)
        assert r.status_code == 202, r.text
        return str(r.json()["execution_id"])


async def frames_until_end(ws: Any, execution_id: str | None = None) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    with anyio.fail_after(20):
        while True:
            frame = json.loads(await ws.recv())
            frames.append(frame)
            if frame["event"] in TERMINAL and (execution_id is None or frame["data"]["execution_id"] == execution_id):
                return frames


async def test_join_gets_connected_then_every_event_in_order(server: RunningServer) -> None:
    eid = await start_slow(server)
    async with websockets.connect(ws_url(server, "/ws/executions")) as ws:
        await ws.send(json.dumps({"event": "join_execution", "data": {"execution_id": eid}}))
        connected = json.loads(await ws.recv())
        assert connected["event"] == "connected" and connected["data"]["execution_id"] == eid
        assert connected["data"]["status"] in ("initializing", "running")
        frames = await frames_until_end(ws)
    names = [f["event"] for f in frames]
    assert names[0] == "execution_started" and names[-1] == "execution_completed"
    for kind in ("step_started", "node_started", "llm_call_started", "llm_call_completed", "step_completed", "execution_progress"):
        assert kind in names, kind
    assert seqs(frames) == list(range(1, len(frames) + 1)) == await stored_seqs(server, eid)
    assert all(f["data"]["execution_id"] == eid and f["data"]["event_id"] for f in frames)


async def test_two_executions_on_one_socket(server: RunningServer) -> None:
    a, b = await start_slow(server), await start_slow(server)
    async with websockets.connect(ws_url(server, "/ws/executions")) as ws:
        for eid in (a, b):
            await ws.send(json.dumps({"event": "join_execution", "data": {"execution_id": eid}}))
        got: dict[str, list[int]] = {a: [], b: []}
        ended: set[str] = set()
        with anyio.fail_after(20):
            while ended != {a, b}:
                frame = json.loads(await ws.recv())
                if frame["event"] == "connected":
                    continue
                got[frame["data"]["execution_id"]].append(frame["data"]["seq"])
                if frame["event"] in TERMINAL:
                    ended.add(frame["data"]["execution_id"])
    assert got[a] == await stored_seqs(server, a) and got[b] == await stored_seqs(server, b)


async def test_bad_commands_get_error_frames_and_the_socket_stays_open(server: RunningServer) -> None:
    async with websockets.connect(ws_url(server, "/ws/executions")) as ws:

        async def reply(raw: str) -> dict[str, Any]:
            await ws.send(raw)
            return dict(json.loads(await ws.recv()))

        assert (await reply("{not json"))["data"]["code"] == "ERR_REQUEST_001"
        assert (await reply("[1, 2]"))["event"] == "error"
        unknown = await reply(json.dumps({"event": "teleport", "data": {}}))
        assert unknown["event"] == "error" and "join_execution" in unknown["data"]["message"]
        missing = await reply(json.dumps({"event": "join_execution", "data": {}}))
        assert missing["data"]["code"] == "ERR_VALIDATION_001" and missing["data"]["command"] == "join_execution"
        nowhere = await reply(json.dumps({"event": "join_execution", "data": {"execution_id": "wfexec_missing"}}))
        assert nowhere["data"]["code"] == "ERR_NOT_FOUND_001"
        bad_seq = await reply(json.dumps({"event": "join_execution", "data": {"execution_id": "x", "after_seq": -1}}))
        assert bad_seq["data"]["code"] == "ERR_VALIDATION_001"
        nobody = await reply(json.dumps({"event": "submit_response", "data": {"prompt_id": "prompt_x", "response": "approve"}}))
        assert nobody["data"]["code"] == "ERR_NOT_FOUND_001"
        left = await reply(json.dumps({"event": "leave_execution", "data": {"execution_id": "wfexec_never"}}))
        assert left == {"event": "left", "data": {"execution_id": "wfexec_never", "was_joined": False}}
        assert await reply(json.dumps({"event": "ping", "data": {"n": 1}})) == {"event": "pong", "data": {"n": 1}}


async def test_reconnect_with_after_seq_misses_nothing_and_doubles_nothing(server: RunningServer) -> None:
    eid = await start_slow(server)
    first: list[dict[str, Any]] = []
    async with websockets.connect(ws_url(server, f"/ws/executions/{eid}")) as ws:
        assert json.loads(await ws.recv())["event"] == "connected"
        with anyio.fail_after(10):
            while len(first) < 5:
                first.append(json.loads(await ws.recv()))
    # gone mid-run; the run goes on without us
    last = first[-1]["data"]["seq"]
    async with websockets.connect(ws_url(server, f"/ws/executions/{eid}?after_seq={last}")) as ws:
        connected = json.loads(await ws.recv())
        assert connected["data"]["after_seq"] == last
        rest = await frames_until_end(ws)
    assert first[-1]["event"] not in TERMINAL and rest[-1]["event"] == "execution_completed"
    assert seqs(first) + seqs(rest) == await stored_seqs(server, eid)  # no gap, no double


async def test_leave_stops_the_events(server: RunningServer) -> None:
    eid = await start_slow(server)
    async with websockets.connect(ws_url(server, f"/ws/executions/{eid}")) as ws:
        assert json.loads(await ws.recv())["event"] == "connected"
        await ws.send(json.dumps({"event": "leave_execution", "data": {"execution_id": eid}}))
        with anyio.fail_after(10):
            while (frame := json.loads(await ws.recv()))["event"] != "left":
                pass
        assert frame["data"] == {"execution_id": eid, "was_joined": True}
        await ws.send(json.dumps({"event": "ping", "data": {}}))
        # nothing of the execution after `left`: the next frame is our pong
        assert json.loads(await ws.recv())["event"] == "pong"


async def test_interactive_run_answered_over_websocket(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as c:
        eid = (await c.post("/workflows/reviewed/execute", json={"inputs": {"input_data": "Q1"}})).json()["execution_id"]
    async with websockets.connect(ws_url(server, f"/ws/executions/{eid}")) as ws:
        with anyio.fail_after(15):
            while (frame := json.loads(await ws.recv()))["event"] != "interactive_prompt":
                pass
            prompt = frame["data"]
            assert prompt["options"] == ["approve", "reject", "modify"] and prompt["prompt_id"].startswith("prompt_")
            # the document's frame names only the prompt: the joined execution waiting on it is found
            await ws.send(json.dumps({"event": "submit_response", "data": {"prompt_id": "prompt_wrong", "response": "approve"}}))
            assert json.loads(await ws.recv())["event"] == "error"
            await ws.send(json.dumps({"event": "submit_response", "data": {"prompt_id": prompt["prompt_id"], "response": "approve"}}))
            while (frame := json.loads(await ws.recv()))["event"] != "response_accepted":
                pass
            assert frame["data"]["execution_id"] == eid
            rest = await frames_until_end(ws)
    assert rest[-1]["event"] == "execution_completed"
    assert "execution_resumed" in [f["event"] for f in rest]


async def test_socketio_client_gets_the_same_events(server: RunningServer) -> None:
    eid = await start_slow(server)
    other = await start_slow(server)
    client = socketio.AsyncClient(reconnection=False)
    got: dict[str, list[tuple[str, dict[str, Any]]]] = {eid: [], other: []}
    done = {eid: anyio.Event(), other: anyio.Event()}
    connected: list[dict[str, Any]] = []

    @client.on("*", namespace="/executions")  # type: ignore[untyped-decorator]
    async def any_event(event: str, data: dict[str, Any]) -> None:
        if event == "connected":
            connected.append(data)
            return
        got[data["execution_id"]].append((event, data))
        if event in TERMINAL:
            done[data["execution_id"]].set()

    # the document's URL form: ?execution_id= joins at once
    await client.connect(f"{server.url}?execution_id={eid}", namespaces=["/executions"], transports=["websocket"])
    try:
        await client.emit("join_execution", {"execution_id": other}, namespace="/executions")
        with anyio.fail_after(20):
            await done[eid].wait()
            await done[other].wait()
    finally:
        await client.disconnect()
    assert {c["execution_id"] for c in connected} == {eid, other}
    for execution_id, events in got.items():
        assert [d["seq"] for _, d in events] == await stored_seqs(server, execution_id)
        assert events[0][0] == "execution_started" and events[-1][0] == "execution_completed"


async def test_sse_execute_stream_runs_a_workflow(server: RunningServer) -> None:
    events: list[SseEvent] = []
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as c:
        async with c.stream("POST", "/workflows/market-research/execute/stream", json={"inputs": {"topic": "tea"}}) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            async for event in sse_events(r):
                if event.event:
                    events.append(event)
        # bad input is refused before any stream starts
        bad = await c.post("/workflows/market-research/execute/stream", json={"inputs": {}})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "ERR_VALIDATION_001"
        missing = await c.get("/executions/wfexec_nope/stream")
        assert missing.status_code == 404
    assert events[0].event == "execution_started" and events[-1].event == "execution_completed"  # the stream ends with the run
    eid = data(events[0])["execution_id"]
    assert [int(e.id or 0) for e in events] == [data(e)["seq"] for e in events] == await stored_seqs(server, eid)


async def test_sse_last_event_id_resumes_mid_run(server: RunningServer) -> None:
    eid = await start_slow(server)
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as c:
        first: list[SseEvent] = []
        async with c.stream("GET", f"/executions/{eid}/stream") as r:
            async for event in sse_events(r):
                if event.event:
                    first.append(event)
                if len(first) == 6:
                    break  # the connection drops mid-run
        rest: list[SseEvent] = []
        async with c.stream("GET", f"/executions/{eid}/stream", headers={"Last-Event-ID": str(first[-1].id)}) as r:
            async for event in sse_events(r):
                if event.event:
                    rest.append(event)
        assert (await c.get(f"/executions/{eid}/stream", headers={"Last-Event-ID": "x"})).status_code == 422
    assert first[-1].event not in TERMINAL and rest[-1].event == "execution_completed"
    assert [int(e.id or 0) for e in first + rest] == await stored_seqs(server, eid)


async def test_sse_keep_alive_on_an_idle_stream(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as c:
        eid = (await c.post("/workflows/reviewed/execute", json={"inputs": {"input_data": "Q1"}})).json()["execution_id"]
        keep_alives = 0
        with anyio.fail_after(15):
            async with c.stream("GET", f"/executions/{eid}/stream") as r:
                async for event in sse_events(r):
                    if event.event == "interactive_prompt":
                        prompt_id = data(event)["prompt_id"]
                    if "keep-alive" in event.comments:  # paused: nothing happens, the stream stays alive
                        keep_alives += 1
                        if keep_alives == 2:
                            break
        assert prompt_id
        r2 = await c.post(f"/executions/{eid}/respond", json={"prompt_id": prompt_id, "response": "approve"})
        assert r2.status_code == 200


async def test_node_progress_events_from_a_plugin_graph(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as c:
        r = await c.post("/graphs/firehose/execute", json={"input": {"count": 25}})
        assert r.status_code == 200 and r.json()["status"] == "completed", r.text
        eid = r.json()["execution_id"]
        events = (await c.get(f"/executions/{eid}/events?event_type=node_progress&limit=100")).json()["events"]
    assert [e["data"]["data"]["i"] for e in events] == list(range(25))
    assert {e["data"]["node_name"] for e in events} == {"emit"} and {e["data"]["step_number"] for e in events} == {1}


async def test_a_stalled_subscriber_is_dropped_while_a_fast_one_gets_everything(server: RunningServer) -> None:
    """8,000 events of 2 KB: the stalled client (it never reads, and its receive buffer is
    tiny) fills the kernel buffers, then its queue, and is closed with 4008 and a reason;
    the fast client next to it receives every event, in order, and the run is not held up."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        body = {"input": {"count": 8000, "rate": 4000, "size": 2000}, "async": True}
        eid = (await c.post("/graphs/firehose/execute", json=body)).json()["execution_id"]
    stalled_sock = socket.socket()
    stalled_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled_sock.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    async with (
        websockets.connect(ws_url(server, f"/ws/executions/{eid}"), max_size=None) as fast,
        websockets.connect(ws_url(server, f"/ws/executions/{eid}"), sock=stalled_sock, max_queue=1) as stalled,
    ):
        assert json.loads(await fast.recv())["event"] == "connected"
        frames = await frames_until_end(fast)
        # now read what the stalled client was sent: it ends with the close, and its reason
        with anyio.fail_after(20):
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await stalled.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
    assert "too slow" in closed.value.rcvd.reason and "after_seq=" in closed.value.rcvd.reason
    stored = await stored_seqs_all(server, eid)
    assert seqs(frames) == stored and len(stored) > 8000
    assert frames[-1]["event"] == "execution_completed"


async def stored_seqs_all(server: RunningServer, execution_id: str) -> list[int]:
    out: list[int] = []
    async with httpx.AsyncClient(base_url=server.url) as c:
        while True:
            page = (await c.get(f"/executions/{execution_id}/events?limit=1000&offset={len(out)}")).json()["events"]
            out += [e["seq"] for e in page]
            if len(page) < 1000:
                return out


async def test_a_client_that_vanishes_leaves_nothing_behind_and_the_run_goes_on(server: RunningServer) -> None:
    eid = await start_slow(server)
    ws = await websockets.connect(ws_url(server, f"/ws/executions/{eid}"))
    assert json.loads(await ws.recv())["event"] == "connected"
    await ws.recv()
    ws.transport.abort()  # gone without a close frame
    async with httpx.AsyncClient(base_url=server.url) as c:
        with anyio.fail_after(15):
            while (await c.get("/service/metrics")).json()["live"]["subscriptions"]:
                await anyio.sleep(0.05)
            while (await c.get(f"/executions/{eid}")).json()["status"] != "completed":
                await anyio.sleep(0.05)
    assert (await stored_seqs(server, eid))[-1] > 5  # every event of the run is still stored


async def test_a_stalled_socketio_client_is_disconnected(server: RunningServer) -> None:
    """Socket.IO's engine.io queues without a bound, so the server watches that queue: a
    client that stops reading is sent nothing more once it holds more than the buffer, and
    its namespace is disconnected (engine.io closes the connection itself at its ping
    timeout)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        dropped_before = (await c.get("/service/metrics")).json()["live"]["dropped"]
        body = {"input": {"count": 8000, "rate": 4000, "size": 2000, "delay": 0.5}, "async": True}
        eid = (await c.post("/graphs/firehose/execute", json=body)).json()["execution_id"]
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    # the Socket.IO protocol spoken by hand over a WebSocket, so that the client can stop reading
    async with websockets.connect(ws_url(server, "/socket.io/?EIO=4&transport=websocket"), sock=sock, max_queue=1) as raw:
        assert str(await raw.recv()).startswith("0{")  # engine.io open
        await raw.send("40/executions,")
        assert str(await raw.recv()).startswith("40/executions,")
        await raw.send("42/executions," + json.dumps(["join_execution", {"execution_id": eid}]))
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
            with anyio.fail_after(30):
                while (await c.get(f"/executions/{eid}")).json()["status"] != "completed":
                    await anyio.sleep(0.1)  # the run is not held up by the client
                assert (await c.get("/service/metrics")).json()["live"]["dropped"] == dropped_before + 1
        events = 0
        with anyio.fail_after(20):
            while (packet := str(await raw.recv())) != "41/executions,":  # the namespace's disconnect
                events += packet.startswith("42/executions,")
    assert 1000 <= events < 8000  # what was queued before the drop, not the whole run
