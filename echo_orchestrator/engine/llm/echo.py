"""`echo`: the offline, deterministic chat model. No network, no key, no model weights.

It says plainly that no model was called. For tests, demos and benchmarks an `llm` block
may add `latency_ms` (simulated latency per call) and `responses` (scripted replies, used
in turn). Token counts are estimated (about four characters a token) and marked so.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from typing import Any

import anyio
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from pydantic import PrivateAttr

OFFLINE_PREFIX = "[echo: offline, no model was called]"


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


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
        said = " ".join(_text(last).split()) if last is not None else ""
        if len(said) > 400:
            said = said[:397] + "..."
        return f"{OFFLINE_PREFIX} {said}".rstrip()

    def _result(self, messages: list[BaseMessage]) -> ChatResult:
        reply = self.reply_for(messages)
        prompt_tokens = sum(estimate_tokens(_text(m)) for m in messages)
        completion_tokens = estimate_tokens(reply)
        message = AIMessage(
            content=reply,
            usage_metadata={
                "input_tokens": prompt_tokens,
                "output_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            response_metadata={"model_name": self.model_name, "model_provider": "echo", "token_counts": "estimated"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

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
