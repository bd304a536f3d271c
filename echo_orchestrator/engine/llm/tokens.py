"""The pieces of a streaming model's reply, as they arrive: the source of `llm_token` events.

A LangChain callback handler, so it sees every chat model call inside a run's graph
(workflow agents and plugin graphs alike) whatever the provider. Its presence also asks
the models to stream: LangChain streams a call when a handler has `tap_output_aiter` /
`tap_output_iter` (its `_StreamingCallbackHandler` protocol, the one LangGraph's own
`messages` stream mode relies on), and a model that cannot stream is asked normally.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.messages import BaseMessage

from echo_orchestrator.engine.llm.handlers import ModelHandler

T = TypeVar("T")

# (call id, graph node or None, index of the piece within the call, the text)
TokenSink = Callable[[str, str | None, int, str], None]


class TokenStreamer(ModelHandler):
    """Calls `on_token` with each non-empty text piece of each chat model call, numbered
    from 0 per call. `on_token` must not block: it runs between two pieces of the reply."""

    run_inline = True  # in order, on the model's own task: no task per piece

    def __init__(self, on_token: TokenSink) -> None:
        self._on_token = on_token
        self._calls: dict[UUID, list[Any]] = {}  # run id -> [node, pieces so far]

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        node = (metadata or {}).get("langgraph_node")
        self._calls[run_id] = [str(node) if node else None, 0]

    async def on_llm_new_token(self, token: str | list[str | dict[str, Any]], *, run_id: UUID, **kwargs: Any) -> None:
        call = self._calls.get(run_id)
        text = token if isinstance(token, str) else _text_of(token)
        if call is None or not text:  # not a chat call of ours, or a usage or tool-call piece
            return
        index = call[1]
        call[1] = index + 1
        self._on_token(str(run_id), call[0], index, text)

    async def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._calls.pop(run_id, None)

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._calls.pop(run_id, None)

    # LangChain's streaming-handler protocol: a pass-through (the pieces come through
    # `on_llm_new_token`); having these is what makes models stream.
    def tap_output_aiter(self, run_id: UUID, output: AsyncIterator[T]) -> AsyncIterator[T]:
        return output

    def tap_output_iter(self, run_id: UUID, output: Iterator[T]) -> Iterator[T]:
        return output


def _text_of(blocks: list[str | dict[str, Any]]) -> str:
    """The text in content blocks (Anthropic streams its pieces so): tool-call arguments and
    other non-text blocks are not the reply's text."""
    parts = [b if isinstance(b, str) else str(b.get("text") or "") for b in blocks if isinstance(b, str) or b.get("type") == "text"]
    return "".join(parts)
