"""`storage/mcp_settings.json`: MCP servers in the form MCP clients write it."""

from __future__ import annotations

import msgspec

from echo_orchestrator.models.base import Model, NonNegativeFloat, NonNegativeInt


class McpServerConfig(Model):
    # stdio servers
    command: str | None = None
    args: list[str] = msgspec.field(default_factory=list)
    env: dict[str, str] = msgspec.field(default_factory=dict)
    # Names of variables of the service's own environment the server also gets (proxies, CA
    # bundles, tokens): read when it starts, so their values are never written in the file.
    inherit_env: list[str] = msgspec.field(default_factory=list)
    cwd: str | None = None
    # streamable HTTP servers
    url: str | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    # ours, optional
    enabled: bool = True
    timeout: NonNegativeFloat = 30.0
    display_name: str | None = None
    description: str | None = None
    # What the server is for ("search", "scrape"): declared here, listed and filterable.
    capabilities: list[str] = msgspec.field(default_factory=list)
    # A known price per tool call, if the server's tools cost money.
    cost_per_call_usd: NonNegativeFloat | None = None
    # How many times a call whose connection was lost (the server died, the network broke)
    # is made again on a fresh connection; never for a tool's own error or a timeout.
    max_retries: NonNegativeInt = 0

    def __post_init__(self) -> None:
        if (self.command is None) == (self.url is None):
            raise ValueError("a server needs exactly one of `command` (stdio) or `url` (HTTP)")


class McpSettings(Model, rename={"mcp_servers": "mcpServers"}):
    mcp_servers: dict[str, McpServerConfig] = msgspec.field(default_factory=dict)
