"""What the hub reports and answers: servers, tools, bindings, call results."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

PLUGIN_SERVER = "plugins"
ServerState = Literal["available", "unavailable", "connecting", "disabled"]


class ToolInfo(msgspec.Struct, kw_only=True):
    tool_id: str
    server: str
    name: str
    display_name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    capabilities: list[str]


class ServerStatus(msgspec.Struct, kw_only=True):
    name: str
    display_name: str
    description: str
    source: Literal["settings", "plugin"]
    transport: Literal["stdio", "http", "python"]
    enabled: bool
    status: ServerState
    version: str | None
    capabilities: list[str]
    tools_count: int
    last_check: str | None
    response_time_ms: float | None
    error: str | None


class ToolBinding(msgspec.Struct, kw_only=True):
    tool_id: str
    name: str
    bound: bool
    reason: str | None


class ToolCallResult(msgspec.Struct, kw_only=True):
    tool_id: str
    status: Literal["completed"]
    output: Any
    content: list[dict[str, Any]]
    execution_time_ms: float
    cost_usd: float | None


def text_of(content: list[dict[str, Any]]) -> str:
    """The text parts of an MCP tool result's content, joined."""
    return "\n".join(str(c.get("text", "")) for c in content if c.get("type") == "text")
