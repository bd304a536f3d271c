"""Bodies of the MCP endpoints (ouroboros document, MCP Server Endpoints)."""

from __future__ import annotations

from typing import Any

import msgspec

from echo_orchestrator.mcp import ServerStatus, ToolInfo
from echo_orchestrator.models.base import FreeForm, Seconds


class McpServerList(msgspec.Struct, kw_only=True):
    mcp_servers: list[ServerStatus]
    total: int
    available: int
    unavailable: int


class McpToolList(msgspec.Struct, kw_only=True):
    tools: list[ToolInfo]
    total: int


class McpServerCheck(msgspec.Struct, kw_only=True):
    name: str
    status: str
    last_check: str | None
    response_time_ms: float | None
    error: str | None


class McpStatusReport(msgspec.Struct, kw_only=True):
    overall_status: str  # healthy | degraded | unhealthy
    servers: list[McpServerCheck]
    timestamp: str


class McpServerSettingsView(msgspec.Struct, kw_only=True):
    name: str
    source: str
    enabled: bool
    transport: str
    command: str | None
    args: list[str]
    url: str | None
    # Values are never shown: masked, or the `${VAR}` reference they are written as.
    env: dict[str, str]
    env_vars: list[str]
    headers: dict[str, str]
    config: McpServerOptions


class McpServerOptions(msgspec.Struct, kw_only=True):
    """A server's options of ours, as `GET /mcp-servers/settings` shows them (no secret)."""

    timeout: float
    display_name: str | None
    description: str | None
    capabilities: list[str]
    cost_per_call_usd: float | None
    max_retries: int
    # The variable of `env` that carries the server's key, by name (its value never shown).
    api_key_env: str | None
    # What it inherits from the service's environment, by name only.
    inherit_env: list[str]
    # A relative folder says how it is laid out; an absolute one is a server path (masked).
    cwd: str | None


class McpSettingsView(msgspec.Struct, kw_only=True):
    mcp_base_path: str
    mcp_settings_file: str
    servers: list[McpServerSettingsView]


class ToolExecuteConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    timeout: Seconds | None = msgspec.field(default=None)
    retry_on_failure: bool = False


class ToolExecuteRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    tool_id: str
    input: FreeForm = msgspec.field(default_factory=dict)
    config: ToolExecuteConfig = msgspec.field(default_factory=ToolExecuteConfig)


class ToolExecuteResponse(msgspec.Struct, kw_only=True):
    tool_id: str
    status: str
    output: Any
    content: list[FreeForm]  # the MCP content blocks, as the server sent them
    execution_time_ms: float
    cost_usd: float | None
