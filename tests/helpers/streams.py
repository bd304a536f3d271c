"""Helpers for the live-event transport tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

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
