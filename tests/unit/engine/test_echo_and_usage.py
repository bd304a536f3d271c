from __future__ import annotations

import time

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from echo_orchestrator.engine.llm.echo import OFFLINE_PREFIX, EchoChatModel, estimate_tokens
from echo_orchestrator.engine.llm.prices import Price, PriceTable
from echo_orchestrator.engine.llm.usage import UsageRecorder
from echo_orchestrator.models import LLMUsage

pytestmark = pytest.mark.anyio


async def test_echo_is_deterministic_and_honest() -> None:
    model = EchoChatModel()
    messages = [SystemMessage("You analyse."), HumanMessage("Analyze   sales\n data")]
    first, second = await model.ainvoke(messages), await model.ainvoke(messages)
    assert first.content == second.content == f"{OFFLINE_PREFIX} Analyze sales data"
    prompt = estimate_tokens("You analyse.") + estimate_tokens("Analyze   sales\n data")
    completion = estimate_tokens(str(first.content))
    assert first.usage_metadata == {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion}
    assert first.response_metadata["token_counts"] == "estimated"


async def test_scripted_responses_are_used_in_turn() -> None:
    model = EchoChatModel(responses=["one", "two"])
    replies = [(await model.ainvoke("x")).content for _ in range(3)]
    assert replies == ["one", "two", "one"]
    assert model.invoke("sync too").content == "two"


async def test_simulated_latency() -> None:
    model = EchoChatModel(latency_ms=120)
    started = time.perf_counter()
    await model.ainvoke("x")
    assert time.perf_counter() - started >= 0.12


async def test_usage_recorder_measures_every_call() -> None:
    seen: list[LLMUsage] = []
    started: list[tuple[str, str, int]] = []
    prices = PriceTable({"echo-priced": Price(1.0, 2.0)})
    recorder = UsageRecorder(prices, seen.append, lambda p, m, t, _node: started.append((p, m, t)))
    model = EchoChatModel(model_name="echo-priced", latency_ms=20)
    await model.ainvoke("a" * 400, config={"callbacks": [recorder]})
    (usage,) = seen
    assert (usage.provider, usage.model) == ("echo", "echo-priced")
    assert (usage.prompt_tokens, usage.total_tokens) == (100, 100 + usage.completion_tokens)
    assert usage.cost_usd == pytest.approx((100 * 1.0 + usage.completion_tokens * 2.0) / 1e6)
    assert usage.latency_ms >= 20
    assert started == [("echo", "echo-priced", 100)]


def test_price_lookup() -> None:
    table = PriceTable()
    assert table.cost("gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)
    assert table.cost("gpt-4o", 0, 1_000_000) == pytest.approx(10.0)
    assert table.cost("some-local-llama", 10, 10) is None
    assert table.cost("echo", 10_000, 10_000) == 0.0
