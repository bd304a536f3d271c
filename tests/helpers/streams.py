"""Helpers for the live-event transport tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from echo_orchestrator.console import SseEvent
from echo_orchestrator.console import sse_events as parse_sse

TERMINAL = ("execution_completed", "execution_failed", "execution_cancelled")


async def sse_events(response: httpx.Response) -> AsyncIterator[SseEvent]:
    async for event in parse_sse(response.aiter_lines()):
        yield event


def data(event: SseEvent) -> Any:
    return json.loads(event.data)


def seqs(frames: list[dict[str, Any]]) -> list[int]:
    return [f["data"]["seq"] for f in frames if "seq" in f.get("data", {})]
