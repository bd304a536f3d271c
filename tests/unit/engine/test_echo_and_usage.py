from __future__ import annotations

import time
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from echo_orchestrator.engine.llm.echo import OFFLINE_PREFIX, EchoChatModel, estimate_tokens, pieces
from echo_orchestrator.engine.llm.prices import Price, PriceTable
from echo_orchestrator.engine.llm.providers import _echo_model
from echo_orchestrator.engine.llm.tokens import TokenStreamer
from echo_orchestrator.engine.llm.usage import UsageRecorder
from echo_orchestrator.models import LLMConfig, LLMUsage

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
    recorder = UsageRecorder(prices, lambda usage, _call: seen.append(usage), lambda p, m, t, _node, _call: started.append((p, m, t)))
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


def test_a_long_prompt_is_echoed_as_its_first_words_whatever_its_spacing() -> None:
    model = EchoChatModel()
    prompt = "  lead\n\n" + "word \t" * 300_000  # spaces collapse; the reply stops at 400 characters
    whole = " ".join(prompt.split())
    reply = model.reply_for([HumanMessage(prompt)])
    assert reply == f"{OFFLINE_PREFIX} {whole[:397]}..."
    assert model.reply_for([HumanMessage("  short   prompt ")]) == f"{OFFLINE_PREFIX} short prompt"


def test_pieces_join_back_to_the_text() -> None:
    for text in ["", "one", "a  b c\n", "  leading", "trailing  ", "line\nbreaks\n\n here"]:
        assert "".join(pieces(text)) == text
    assert pieces("ask the model") == ["ask", " the", " model"]


async def test_echo_streams_only_when_asked_and_its_pieces_reach_the_token_streamer() -> None:
    """`stream_delay_ms` set: the reply comes in word pieces that far apart, the usage is the
    unstreamed call's; unset, a TokenStreamer among the callbacks does not make it stream."""
    got: list[tuple[str, int, str]] = []
    seen: list[LLMUsage] = []

    def callbacks() -> list[Any]:
        return [
            TokenStreamer(lambda call, _node, index, delta: got.append((call, index, delta))),
            UsageRecorder(PriceTable(), lambda u, _c: seen.append(u)),
        ]

    streaming = _echo_model(LLMConfig(stream_delay_ms=30))
    started = time.perf_counter()
    reply = await streaming.ainvoke("three small words", config={"callbacks": callbacks()})
    took = time.perf_counter() - started
    words = str(reply.content).split(" ")
    assert [delta for _, _, delta in got] == [words[0]] + [" " + w for w in words[1:]]
    assert [index for _, index, _ in got] == list(range(len(words)))
    assert took >= 0.03 * (len(words) - 1)
    plain = await EchoChatModel().ainvoke("three small words")
    assert seen[0].prompt_tokens == plain.usage_metadata["input_tokens"]  # type: ignore[index]
    assert seen[0].completion_tokens == plain.usage_metadata["output_tokens"]  # type: ignore[index]

    got.clear()
    await _echo_model(LLMConfig()).ainvoke("not streamed", config={"callbacks": callbacks()})
    assert got == []
