"""Usage of every LLM call: model, tokens, latency, cost.

A LangChain callback handler, so it sees every chat model call made anywhere inside a
graph (workflow agents, plugin graphs) whatever the provider.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from echo_orchestrator.engine.llm.handlers import ModelHandler
from echo_orchestrator.engine.llm.prices import PriceTable
from echo_orchestrator.models import LLMUsage

# (the usage, the call's id: LangChain's run id, also that of its `llm_token` pieces)
UsageSink = Callable[[LLMUsage, str], Awaitable[None] | None]
# (provider, model, estimated prompt tokens, graph node or None, the call's id)
StartSink = Callable[[str, str, int, str | None, str], Awaitable[None] | None]


def _usage_tokens(result: LLMResult) -> tuple[int, int, str | None]:
    """(prompt, completion, model) from the standard `usage_metadata`, else `llm_output`."""
    for generations in result.generations:
        for generation in generations:
            if isinstance(generation, ChatGeneration):
                meta = getattr(generation.message, "usage_metadata", None)
                model = generation.message.response_metadata.get("model_name")
                if meta:
                    return int(meta.get("input_tokens", 0)), int(meta.get("output_tokens", 0)), model
    output = result.llm_output or {}
    usage = output.get("token_usage") or output.get("usage") or {}
    prompt = int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0)
    completion = int(usage.get("completion_tokens") or usage.get("output_tokens") or 0)
    return prompt, completion, output.get("model_name")


class UsageRecorder(ModelHandler):
    """Calls `on_usage` with an LLMUsage when each chat model call ends."""

    def __init__(self, prices: PriceTable, on_usage: UsageSink, on_start: StartSink | None = None) -> None:
        self._prices = prices
        self._on_usage = on_usage
        self._on_start = on_start
        self._started: dict[UUID, tuple[float, str, str, str | None]] = {}
        self.calls: list[LLMUsage] = []

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        metadata = metadata or {}
        provider = str(metadata.get("ls_provider") or "unknown")
        model = str(metadata.get("ls_model_name") or (kwargs.get("invocation_params") or {}).get("model") or "unknown")
        node = metadata.get("langgraph_node")
        self._started[run_id] = (time.perf_counter(), provider, model, str(node) if node else None)
        if self._on_start is not None:
            from echo_orchestrator.engine.llm.echo import estimate_tokens

            prompt = sum(estimate_tokens(str(m.content)) for batch in messages for m in batch)
            maybe = self._on_start(provider, model, prompt, str(node) if node else None, str(run_id))
            if maybe is not None:
                await maybe

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        started, provider, model, node = self._started.pop(run_id, (time.perf_counter(), "unknown", "unknown", None))
        prompt, completion, reported_model = _usage_tokens(response)
        model = reported_model or model
        usage = LLMUsage(
            provider=provider,
            model=model,
            node=node,
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
            cost_usd=self._prices.cost(model, prompt, completion),
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        self.calls.append(usage)
        maybe = self._on_usage(usage, str(run_id))
        if maybe is not None:
            await maybe

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._started.pop(run_id, None)
