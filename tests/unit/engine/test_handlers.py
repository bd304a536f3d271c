"""Our LangChain handlers are offered only the events they listen to: a model handler no
chain event, a chain handler no model event (nor `on_llm_start` with the messages turned
into strings, LangChain's fallback for a handler without `on_chat_model_start`)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.runnables import RunnableLambda

from echo_orchestrator.engine.llm.handlers import ChainHandler, ModelHandler

pytestmark = pytest.mark.anyio


class Recorder:
    """Every event a handler can be offered here, recorded by name."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def on_chain_start(self, *args: Any, **kwargs: Any) -> None:
        self.events.append("on_chain_start")

    async def on_chain_end(self, *args: Any, **kwargs: Any) -> None:
        self.events.append("on_chain_end")

    async def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.events.append("on_chat_model_start")

    async def on_llm_start(self, *args: Any, **kwargs: Any) -> None:
        self.events.append("on_llm_start")

    async def on_llm_end(self, *args: Any, **kwargs: Any) -> None:
        self.events.append("on_llm_end")


class ModelSpy(Recorder, ModelHandler):
    pass


class ChainSpy(Recorder, ChainHandler):
    pass


class PlainChainSpy(ChainHandler):
    """A chain handler with no model method at all: LangChain's fallback must not reach it."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def on_llm_start(self, *args: Any, **kwargs: Any) -> None:
        self.events.append("on_llm_start")


async def test_each_handler_gets_only_its_events() -> None:
    model_spy, chain_spy, plain = ModelSpy(), ChainSpy(), PlainChainSpy()
    chain = RunnableLambda(lambda text: f"say {text}") | FakeListChatModel(responses=["hello"])
    reply = await chain.ainvoke("hi", config={"callbacks": [model_spy, chain_spy, plain]})
    assert reply.content == "hello"
    assert model_spy.events == ["on_chat_model_start", "on_llm_end"]
    assert chain_spy.events and set(chain_spy.events) == {"on_chain_start", "on_chain_end"}
    assert plain.events == []
