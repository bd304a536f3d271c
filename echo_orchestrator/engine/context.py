"""The context graph builders receive: chat models by `llm` block, tools by id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import msgspec
from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool

from echo_orchestrator.engine.files import RunFiles
from echo_orchestrator.engine.llm.factory import ModelFactory, as_llm_config
from echo_orchestrator.errors import BadRequest, Unavailable
from echo_orchestrator.models import LLMConfig

ToolCaller = Callable[[str, Mapping[str, Any]], Awaitable[Any]]
ToolBinder = Callable[[Sequence[str]], Awaitable[list[BaseTool]]]


class EngineGraphContext:
    """One per run: the same `llm` block gets the same model instance throughout the run
    (so the echo provider's scripted `responses` are used in turn across nodes)."""

    def __init__(
        self, models: ModelFactory, call_tool: ToolCaller | None = None, bind: ToolBinder | None = None, files: RunFiles | None = None
    ) -> None:
        self._models = models
        self._files = files
        self._call_tool = call_tool
        self._bind = bind
        self._cache: dict[bytes, BaseChatModel] = {}

    async def agent_tools(self, tool_ids: Sequence[str]) -> list[BaseTool]:
        """LangChain tools for an agent's tool ids, calling the MCP hub."""
        if not tool_ids:
            return []
        if self._bind is None:
            raise Unavailable("No tool hub is available in this context")
        return await self._bind(tool_ids)

    def chat_model(self, llm: LLMConfig | Mapping[str, Any] | None = None) -> BaseChatModel:
        config = as_llm_config(llm)
        key = msgspec.json.encode(config)
        model = self._cache.get(key)
        if model is None:
            model = self._cache[key] = self._models.create(config)
        return model

    def run_files(self) -> RunFiles:
        if self._files is None:
            raise BadRequest("This graph is not running as an execution: it has no run folder")
        return self._files

    async def call_tool(self, tool_id: str, arguments: Mapping[str, Any]) -> Any:
        if self._call_tool is None:
            raise Unavailable("No tool hub is available in this context")
        return await self._call_tool(tool_id, arguments)


current_context: ContextVar[EngineGraphContext | None] = ContextVar("echo_graph_context", default=None)


class RunContext:
    """The context of whichever run is executing: a graph built with it can be compiled once
    and run many times, each run seeing its own models and tools (set in `current_context`,
    which LangGraph's node tasks inherit)."""

    def __init__(self, fallback: EngineGraphContext) -> None:
        self._fallback = fallback

    def _current(self) -> EngineGraphContext:
        return current_context.get() or self._fallback

    def chat_model(self, llm: LLMConfig | Mapping[str, Any] | None = None) -> BaseChatModel:
        return self._current().chat_model(llm)

    async def call_tool(self, tool_id: str, arguments: Mapping[str, Any]) -> Any:
        return await self._current().call_tool(tool_id, arguments)

    async def agent_tools(self, tool_ids: Sequence[str]) -> list[BaseTool]:
        return await self._current().agent_tools(tool_ids)

    def run_files(self) -> RunFiles:
        return self._current().run_files()
