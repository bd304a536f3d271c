"""Hub tools as LangChain tools, so an agent's chat model can bind and call them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from echo_orchestrator.mcp import McpHub

_TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]")


async def langchain_tools(hub: McpHub, tool_ids: Sequence[str]) -> list[BaseTool]:
    catalogue = {t.tool_id: t for t in await hub.tools()}
    tools: list[BaseTool] = []
    for tool_id in tool_ids:
        info = catalogue.get(tool_id)
        if info is None:
            continue

        async def call(_tool_id: str = tool_id, **arguments: Any) -> Any:
            return (await hub.call(_tool_id, arguments)).output

        tools.append(
            StructuredTool.from_function(
                coroutine=call,
                name=_TOOL_NAME.sub("_", tool_id)[:64],
                description=info.description or info.display_name,
                args_schema=info.input_schema,
            )
        )
    return tools
