"""Hub tools as LangChain tools, so an agent's chat model can bind and call them."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from echo_orchestrator.errors import Unavailable
from echo_orchestrator.mcp import McpHub

_TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]")


ToolObserver = Callable[[str, str, dict[str, Any]], Awaitable[None]]


async def langchain_tools(hub: McpHub, tool_ids: Sequence[str], *, on_call: ToolObserver | None = None) -> list[BaseTool]:
    """Tools for `bind_tools`; each call goes through the hub (and is reported to `on_call`)."""
    catalogue = {t.tool_id: t for t in await hub.tools()}
    missing = [t for t in tool_ids if t not in catalogue]
    for tool_id in missing:  # not listed yet (a server still connecting): ask the hub directly
        binding = await hub.binding(tool_id)
        if not binding.bound:
            raise Unavailable(f"Tool '{tool_id}' is not available: {binding.reason}", details={"tool_id": tool_id})
    if missing:
        catalogue = {t.tool_id: t for t in await hub.tools()}
    tools: list[BaseTool] = []
    for tool_id in tool_ids:
        info = catalogue.get(tool_id)
        if info is None:
            continue

        async def call(_tool_id: str = tool_id, **arguments: Any) -> Any:
            if on_call is not None:
                await on_call(_tool_id, "started", {"arguments": arguments})
            result = await hub.call(_tool_id, arguments)
            if on_call is not None:
                await on_call(_tool_id, "completed", {"execution_time_ms": result.execution_time_ms, "cost_usd": result.cost_usd})
            return result.output

        tools.append(
            StructuredTool.from_function(
                coroutine=call,
                name=_TOOL_NAME.sub("_", tool_id)[:64],
                description=info.description or info.display_name,
                args_schema=info.input_schema,
            )
        )
    return tools
