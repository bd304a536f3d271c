"""The text of each chat model call, for trace spans that may carry it (`ECHO_TRACE_CONTENT`).

Off by default: prompts and replies are a run's data, and a trace backend is often shared
more widely than the run history. When on, each call's messages and reply are kept until its
span is made (`engine.traced.llm_call`), in the OpenTelemetry GenAI conventions' shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from echo_orchestrator.engine.llm.handlers import ModelHandler

# (call id, input messages as JSON, output messages as JSON)
ContentSink = Callable[[str, str, str], None]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def _part(message: BaseMessage) -> dict[str, Any]:
    return {"role": _ROLES.get(message.type, message.type), "parts": [{"type": "text", "content": message.text}]}


class ContentCapture(ModelHandler):
    # Inline handlers run in the order of the run's list, and the driver puts this one
    # first: the text is kept before the usage recorder's `on_llm_end` makes the span.

    def __init__(self, on_content: ContentSink) -> None:
        self._on_content = on_content
        self._asked: dict[UUID, str] = {}

    async def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._asked[run_id] = json.dumps([_part(m) for batch in messages for m in batch], ensure_ascii=False)

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        asked = self._asked.pop(run_id, None)
        if asked is None:
            return
        replies = [_part(g.message) for batch in response.generations for g in batch if isinstance(g, ChatGeneration)]
        self._on_content(str(run_id), asked, json.dumps(replies, ensure_ascii=False))

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._asked.pop(run_id, None)
