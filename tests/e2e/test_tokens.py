"""Live `llm_token` pieces on the real server: an agent's model (the OpenAI client against a
local fake server that streams its reply a word at a time) streams; WebSocket, Socket.IO and
SSE subscribers that ask for tokens get every piece in order and the pieces make the
recorded output; subscribers that did not ask get none; nothing of them is stored or
replayed; the CLI shows the text as it comes (in a pty)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import socketio
import websockets

from tests.helpers.fake_llm import fake_llm_server
from tests.helpers.server import RunningServer, running_server
from tests.helpers.storage import copy_storage
from tests.helpers.streams import TERMINAL, data, sse_events, ws_url

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

TOPIC = "a bakery that opens at dawn in the old harbour"


def _agent(llm_url: str, model: str) -> dict[str, Any]:
    return {
        "agent_id": "storyteller",
        "name": "Storyteller",
        "role": "Telling the story asked for",
        # Waits before answering (the subscribers are in by then), then streams a word at a time.
        "llm": {"provider": "openai", "model": model, "base_url": f"{llm_url}/v1"},
        "input_schema": ["topic"],
        "output_schema": ["story"],
    }


def _workflow() -> dict[str, Any]:
    return {
        "workflow_id": "wf_token_story",
        "slug": "token-story",
        "name": "Token story",
        "status": "final",
        "version": "1.0",
        "execution_model": "sequential",
        "agents": ["storyteller"],
        "input_fields": [{"name": "topic", "type": "string", "required": True}],
        "metadata": {"immutable": True},
    }


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    with fake_llm_server() as url:
        yield url


def _storage(dest: Path, llm_url: str, model: str) -> Path:
    storage = copy_storage(dest)
    (storage / "agents" / "storyteller.json").write_text(json.dumps(_agent(llm_url, model)))
    (storage / "workflows" / "final" / "wf_token_story.v1.0.json").write_text(json.dumps(_workflow()))
    return storage


def _env(llm_url: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-test-tokens", "ECHO_LLM_ALLOWED_BASE_URLS": llm_url}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llm_url: str) -> Iterator[RunningServer]:
    storage = _storage(tmp_path_factory.mktemp("tokens") / "storage", llm_url, "slow-1200-drip-30")
    with running_server(storage, env=_env(llm_url)) as running:
        yield running


async def _start(server: RunningServer) -> str:
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.post("/workflows/token-story/execute", json={"inputs": {"topic": TOPIC}})
        assert r.status_code == 202, r.text
        return str(r.json()["execution_id"])


async def _ws(server: RunningServer, execution_id: str, query: str) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with websockets.connect(ws_url(server, f"/ws/executions/{execution_id}{query}")) as ws:
        with anyio.fail_after(30):
            while not frames or frames[-1]["event"] not in TERMINAL:
                frames.append(json.loads(await ws.recv()))
    return frames


async def _sse(server: RunningServer, execution_id: str, query: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    got: list[tuple[str, str | None, dict[str, Any]]] = []
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=60) as c,
        c.stream("GET", f"/executions/{execution_id}/stream{query}") as r,
    ):
        assert r.status_code == 200
        with anyio.fail_after(30):
            async for event in sse_events(r):
                if event.event is not None:
                    got.append((event.event, event.id, data(event)))
    return got


async def _socketio(server: RunningServer, execution_id: str) -> list[tuple[str, dict[str, Any]]]:
    client = socketio.AsyncClient(reconnection=False)
    got: list[tuple[str, dict[str, Any]]] = []
    done = anyio.Event()

    @client.on("*", namespace="/executions")  # type: ignore[untyped-decorator]
    async def any_event(event: str, payload: dict[str, Any]) -> None:
        got.append((event, payload))
        if event in TERMINAL:
            done.set()

    await client.connect(server.url, namespaces=["/executions"], transports=["websocket"])
    try:
        await client.emit("join_execution", {"execution_id": execution_id, "tokens": True}, namespace="/executions")
        with anyio.fail_after(30):
            await done.wait()
    finally:
        await client.disconnect()
    return got


def _pieces(tokens: list[dict[str, Any]]) -> tuple[str, list[int], set[str]]:
    return "".join(t["delta"] for t in tokens), [t["index"] for t in tokens], {t["call_id"] for t in tokens}


async def test_subscribers_that_ask_get_every_piece_and_the_pieces_make_the_output(server: RunningServer) -> None:
    execution_id = await _start(server)
    results: dict[str, Any] = {}

    async def keep(name: str, coroutine: Any) -> None:
        results[name] = await coroutine

    async with anyio.create_task_group() as tg:
        tg.start_soon(keep, "ws", _ws(server, execution_id, "?tokens=true"))
        tg.start_soon(keep, "ws_plain", _ws(server, execution_id, ""))
        tg.start_soon(keep, "sse", _sse(server, execution_id, "?tokens=true"))
        tg.start_soon(keep, "sse_plain", _sse(server, execution_id, ""))
        tg.start_soon(keep, "sio", _socketio(server, execution_id))

    async with httpx.AsyncClient(base_url=server.url) as c:
        execution = (await c.get(f"/executions/{execution_id}/info")).json()
        stored = (await c.get(f"/executions/{execution_id}/events?limit=1000")).json()["events"]
    assert execution["status"] == "completed"
    story = execution["outputs"]["story"]
    assert story == f"reply to: {json.dumps({'topic': TOPIC})}"
    (completed,) = [e for e in stored if e["event_type"] == "llm_call_completed"]
    call_id = completed["data"]["call_id"]
    # Usage of the streamed call as the server counted it (stream_options.include_usage).
    assert completed["data"]["completion_tokens"] == len(story) // 4
    assert [e["data"]["call_id"] for e in stored if e["event_type"] == "llm_call_started"] == [call_id]
    words = len(story.split(" "))

    ws_tokens = [f["data"] for f in results["ws"] if f["event"] == "llm_token"]
    assert results["ws"][0]["event"] == "connected" and results["ws"][0]["data"]["tokens"] is True
    sse_tokens = [d for name, _, d in results["sse"] if name == "llm_token"]
    sio_tokens = [d for name, d in results["sio"] if name == "llm_token"]
    for tokens in (ws_tokens, sse_tokens, sio_tokens):
        text, indexes, calls = _pieces(tokens)
        assert text == story and indexes == list(range(words)) and calls == {call_id}
        assert all(
            t["execution_id"] == execution_id and t["step_number"] == 1 and t["node"] == "storyteller" and "seq" not in t for t in tokens
        )
    # Each piece came between the call's start and its end, in the stream's order.
    names = [f["event"] for f in results["ws"]]
    first, last = names.index("llm_token"), len(names) - 1 - names[::-1].index("llm_token")
    assert names.index("llm_call_started") < first and last < names.index("llm_call_completed")
    # SSE: token frames carry no id, so Last-Event-ID stays the last stored event's seq.
    assert all(event_id is None for name, event_id, _ in results["sse"] if name == "llm_token")
    assert [int(event_id or 0) for name, event_id, _ in results["sse"] if name != "llm_token"] == [e["seq"] for e in stored]

    # Those that did not ask: the events they always had, no piece.
    assert "llm_token" not in {f["event"] for f in results["ws_plain"]}
    assert "tokens" not in results["ws_plain"][0]["data"]
    assert [f["data"]["seq"] for f in results["ws_plain"] if f["event"] != "connected"] == [e["seq"] for e in stored]
    assert "llm_token" not in {name for name, _, _ in results["sse_plain"]}
    # Nothing stored, nothing replayed.
    assert "llm_token" not in {e["event_type"] for e in stored}
    replay = await _ws(server, execution_id, "?tokens=true")
    assert "llm_token" not in {f["event"] for f in replay}


async def test_a_join_with_a_bad_tokens_flag_is_an_error_frame(server: RunningServer) -> None:
    execution_id = await _start(server)
    async with websockets.connect(ws_url(server, "/ws/executions")) as ws:
        await ws.send(json.dumps({"event": "join_execution", "data": {"execution_id": execution_id, "tokens": "yes"}}))
        frame = json.loads(await ws.recv())
    assert frame["event"] == "error" and frame["data"]["code"] == "ERR_VALIDATION_001" and "tokens" in frame["data"]["message"]
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.get(f"/executions/{execution_id}/stream?tokens=maybe")
    assert r.status_code == 422 and "tokens" in r.text


def _read_pty(fd: int, until: float) -> bytes:
    ready, _, _ = select.select([fd], [], [], max(0.0, until - time.monotonic()))
    if not ready:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:  # the child closed its end
        return b""


def test_the_cli_shows_the_text_as_it_arrives(tmp_path: Path, llm_url: str) -> None:
    """`run --server` in a terminal: the reply's words show while the run is still going
    (before its result), a word at a time, and the run ends 0."""
    slow = _storage(tmp_path / "storage", llm_url, "slow-300-drip-150")
    with running_server(slow, env=_env(llm_url)) as srv:
        main, child = pty.openpty()
        env = {**os.environ, "COLUMNS": "160", "LINES": "40", "TERM": "xterm-256color"}
        cmd = [sys.executable, "-m", "echo_orchestrator", "run", "token-story", "--input", f"topic={TOPIC}", "--server", srv.url]
        process = subprocess.Popen(cmd, stdin=child, stdout=child, stderr=child, env=env, close_fds=True)
        os.close(child)
        seen = b""
        first_word_at = result_at = None
        deadline = time.monotonic() + 40
        try:
            while process.poll() is None and time.monotonic() < deadline:
                seen += _read_pty(main, min(deadline, time.monotonic() + 0.5))
                now = time.monotonic()
                if first_word_at is None and b"reply to:" in seen:
                    first_word_at, words_then = now, seen
                if result_at is None and b"completed" in seen:
                    result_at = now
            seen += _read_pty(main, time.monotonic() + 1)
        finally:
            process.kill() if process.poll() is None else None
            os.close(main)
        assert process.wait(timeout=10) == 0, seen.decode(errors="replace")[-2000:]
    text = seen.decode(errors="replace")
    assert first_word_at is not None and result_at is not None, text[-2000:]
    # The first words were on screen while later ones were still to come (a word every 150 ms).
    assert b"harbour" not in words_then and result_at - first_word_at > 0.5, text[-2000:]
    assert "harbour" in text
