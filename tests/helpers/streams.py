"""Clients for the live-event transports, as a user would write them."""

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

    def json(self) -> Any:
        return json.loads(self.data)


async def sse_events(response: httpx.Response) -> AsyncIterator[SseEvent]:
    """Server-Sent Events as the WHATWG spec parses them (blank line ends an event); a
    keep-alive comment with no fields comes through as an event with only `comments`."""
    current = SseEvent()
    async for line in response.aiter_lines():
        if line == "":
            if current.event or current.data or current.comments:
                yield current
            current = SseEvent()
            continue
        if line.startswith(":"):
            current.comments.append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            current.event = value
        elif name == "id":
            current.id = value
        elif name == "data":
            current.data = value if not current.data else current.data + "\n" + value


def seqs(frames: list[dict[str, Any]]) -> list[int]:
    return [f["data"]["seq"] for f in frames if "seq" in f.get("data", {})]
