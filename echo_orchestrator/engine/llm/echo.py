"""`echo`: the offline, deterministic chat model. No network, no key, no model weights.

It says plainly that no model was called. For tests, demos and benchmarks an `llm` block
may add `latency_ms` (simulated latency per call), `responses` (scripted replies, used
in turn) and `stream_delay_ms` (the reply streams in word pieces that far apart, as a real
model's tokens do). Token counts are estimated (about four characters a token) and marked so.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import PrivateAttr

OFFLINE_PREFIX = "[echo: offline, no model was called]"


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


_PIECES = re.compile(r"\s*\S+")  # a word with the space before it: pieces join back exactly


def pieces(text: str) -> list[str]:
    """The text in word pieces that join back to it exactly (trailing space included)."""
    found = _PIECES.findall(text)
    rest = text[sum(map(len, found)) :]
    if rest:
        found.append(rest)
    return found


_WORD = re.compile(r"\S+")


def _first_words(text: str, limit: int) -> str:
    """The text's words joined by single spaces, only as far as past `limit` characters
    (the reply shows no more; a megabyte prompt is not split whole on the event loop)."""
    words: list[str] = []
    size = -1
    for match in _WORD.finditer(text):
        words.append(match.group())
        size += len(words[-1]) + 1
        if size > limit:
            break
    return " ".join(words)


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in content]
    return " ".join(p for p in parts if p)


class EchoChatModel(BaseChatModel):
    model_name: str = "echo"
    latency_ms: int = 0
    responses: list[str] = []
    # Streams (in word pieces, this far apart) only when set: `disable_streaming` keeps
    # LangChain from asking for a stream otherwise, so an unstreamed run costs no more.
    stream_delay_ms: int | None = None
    _turns: itertools.count[int] = PrivateAttr(default_factory=itertools.count)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return LangSmithParams(ls_provider="echo", ls_model_name=self.model_name, ls_model_type="chat")

    def bind_tools(self, tools: Any, **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        # Offline: tools are accepted (so agents with tools can be built) but never called.
        return self.bind(**kwargs)

    def reply_for(self, messages: list[BaseMessage]) -> str:
        if self.responses:
            with self._lock:
                turn = next(self._turns)
            return self.responses[turn % len(self.responses)]
        last = next((m for m in reversed(messages) if m.type == "human"), messages[-1] if messages else None)
        said = _first_words(_text(last), 400) if last is not None else ""
        if len(said) > 400:
            said = said[:397] + "..."
        return f"{OFFLINE_PREFIX} {said}".rstrip()

    def _metadata(self, messages: list[BaseMessage], reply: str) -> dict[str, Any]:
        prompt_tokens = sum(estimate_tokens(_text(m)) for m in messages)
        completion_tokens = estimate_tokens(reply)
        return {
            "usage_metadata": {
                "input_tokens": prompt_tokens,
                "output_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "response_metadata": {"model_name": self.model_name, "model_provider": "echo", "token_counts": "estimated"},
        }

    def _result(self, messages: list[BaseMessage]) -> ChatResult:
        reply = self.reply_for(messages)
        message = AIMessage(content=reply, **self._metadata(messages, reply))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _chunks(self, messages: list[BaseMessage]) -> Iterator[ChatGenerationChunk]:
        """The reply in pieces; the usage rides on the last one (LangChain adds the chunks up
        and tells the callbacks of each piece itself)."""
        reply = self.reply_for(messages)
        parts = pieces(reply) or [""]
        for i, part in enumerate(parts):
            extra = self._metadata(messages, reply) if i == len(parts) - 1 else {}
            yield ChatGenerationChunk(message=AIMessageChunk(content=part, **extra))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        for i, chunk in enumerate(self._chunks(messages)):
            if i and self.stream_delay_ms:
                time.sleep(self.stream_delay_ms / 1000)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if self.latency_ms:
            await anyio.sleep(self.latency_ms / 1000)
        for i, chunk in enumerate(self._chunks(messages)):
            if i and self.stream_delay_ms:
                await anyio.sleep(self.stream_delay_ms / 1000)
            yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        return self._result(messages)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency_ms:
            await anyio.sleep(self.latency_ms / 1000)
        return self._result(messages)
