"""Helpers for the live-event transport tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import websockets

from tests.helpers.server import RunningServer

TERMINAL = ("execution_completed", "execution_failed", "execution_cancelled")


@dataclass
class SseEvent:
    event: str | None = None
    id: str | None = None
    data: str = ""
    comments: list[str] = field(default_factory=list)


async def sse_events(response: httpx.Response) -> AsyncIterator[SseEvent]:
    """The raw frames, comments included (the keep-alives the tests look for), which a
    client library such as httpx-sse rightly drops: a blank line ends a frame."""
    current = SseEvent()
    async for line in response.aiter_lines():
        if line == "":
            if current.event or current.data or current.comments:
                yield current
            current = SseEvent()
        elif line.startswith(":"):
            current.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name in ("event", "id"):
                setattr(current, name, value)
            elif name == "data":
                current.data = value if not current.data else current.data + "\n" + value


def data(event: SseEvent) -> Any:
    return json.loads(event.data)


def seqs(frames: list[dict[str, Any]]) -> list[int]:
    return [f["data"]["seq"] for f in frames if "seq" in f.get("data", {})]


# -- following a run on a real server --------------------------------------------------


def ws_url(server: RunningServer, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


async def stored_seqs(server: RunningServer, execution_id: str) -> list[int]:
    async with httpx.AsyncClient(base_url=server.url) as c:
        events = (await c.get(f"/executions/{execution_id}/events?limit=1000")).json()["events"]
    return [e["seq"] for e in events]


async def follow_ws(
    server: RunningServer,
    execution_id: str,
    frames: list[dict[str, Any]] | None = None,
    *,
    after_seq: int = 0,
    timeout: float | None = 30,
) -> list[dict[str, Any]]:
    """The run's frames over WebSocket up to its end (also appended to `frames` as they come)."""
    frames = [] if frames is None else frames
    url = ws_url(server, f"/ws/executions/{execution_id}?after_seq={after_seq}")
    async with websockets.connect(url, max_queue=None) as ws:
        assert json.loads(await ws.recv())["event"] == "connected"
        with anyio.fail_after(timeout):
            while True:
                frame = json.loads(await ws.recv())
                frames.append(frame)
                if frame["event"] in TERMINAL:
                    return frames


async def follow_sse(
    server: RunningServer, execution_id: str, got: list[tuple[str, int]] | None = None, *, timeout: float | None = 30
) -> list[tuple[str, int]]:
    """The run's (event, seq) over `GET /executions/{id}/stream` up to its end, keep-alives skipped."""
    got = [] if got is None else got
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=60) as c,
        c.stream("GET", f"/executions/{execution_id}/stream") as r,
    ):
        assert r.status_code == 200
        with anyio.fail_after(timeout):
            async for event in sse_events(r):
                if event.event is None:
                    continue  # keep-alive
                assert data(event)["execution_id"] == execution_id
                got.append((event.event, int(event.id or 0)))
    return got
