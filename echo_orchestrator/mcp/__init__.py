"""The MCP hub: servers from `storage/mcp_settings.json` and plugins, their tools, tool calls."""

from __future__ import annotations

from echo_orchestrator.mcp.hub import McpHub
from echo_orchestrator.mcp.types import ServerStatus, ToolBinding, ToolCallResult, ToolInfo

__all__ = ["McpHub", "ServerStatus", "ToolBinding", "ToolCallResult", "ToolInfo"]
