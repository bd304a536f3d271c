"""An agent's prompt: its inputs as JSON, encoded off the event loop when they are heavy."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from echo_orchestrator.engine import agent_node
from echo_orchestrator.engine.agent_node import THREADED_WEIGHT, prompt_text

pytestmark = pytest.mark.anyio


async def encoded_on(inputs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[str, threading.Thread]:
    seen: list[threading.Thread] = []
    encode = agent_node._prompt_json

    def recording(value: dict[str, Any]) -> str:
        seen.append(threading.current_thread())
        return encode(value)

    monkeypatch.setattr(agent_node, "_prompt_json", recording)
    return await prompt_text(inputs), seen[0]


async def test_light_inputs_are_encoded_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = {"topic": "tides", "when": ["today"], "ü": 1}
    text, thread = await encoded_on(inputs, monkeypatch)
    assert thread is threading.current_thread()
    assert text == json.dumps(inputs, default=str, ensure_ascii=False)


async def test_heavy_inputs_are_encoded_in_a_worker_thread_to_the_same_text(monkeypatch: pytest.MonkeyPatch) -> None:
    heavy = {"data": [list(range(100)) for _ in range(THREADED_WEIGHT // 50)]}  # decoded JSON: nothing shared
    text, thread = await encoded_on(heavy, monkeypatch)
    assert thread is not threading.current_thread()
    assert text == json.dumps(heavy, default=str, ensure_ascii=False)
    deep: dict[str, Any] = {}
    for _ in range(300):  # deeper than a walk goes: the thread's encoder meets it
        deep = {"in": deep}
    _, thread = await encoded_on(deep, monkeypatch)
    assert thread is not threading.current_thread()
