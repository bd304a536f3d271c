"""MCP servers and tools (ouroboros document, MCP Server Endpoints)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, QueryParameter

from echo_orchestrator.api.schemas.mcp import (
    McpServerCheck,
    McpServerList,
    McpServerOptions,
    McpServerSettingsView,
    McpSettingsView,
    McpStatusReport,
    McpToolList,
    ToolExecuteRequest,
    ToolExecuteResponse,
)
from echo_orchestrator.container import Services
from echo_orchestrator.models import utcnow_iso
from echo_orchestrator.security.redaction import MASK, api_key_env, mask_args, mask_url, mask_value


class McpController(Controller):
    tags = ["mcp"]

    @get("/mcp-servers", summary="MCP servers, with the plugin tools as one more")
    async def list_mcp_servers(self, services: NamedDependency[Services]) -> McpServerList:
        servers = await services.hub.servers()
        available = sum(1 for s in servers if s.status == "available")
        return McpServerList(mcp_servers=servers, total=len(servers), available=available, unavailable=len(servers) - available)

    @get("/mcp-servers/tools", summary="Tools of every available server")
    async def list_mcp_tools(
        self,
        services: NamedDependency[Services],
        server: FromQuery[str | None] = None,
        capability: FromQuery[str | None] = None,
    ) -> McpToolList:
        tools = await services.hub.tools(server=server, capability=capability)
        return McpToolList(tools=tools, total=len(tools))

    @get("/mcp-servers/status", summary="Check every server now: status, response time, error")
    async def check_mcp_servers(self, services: NamedDependency[Services]) -> McpStatusReport:
        servers = await services.hub.check()
        enabled = [s for s in servers if s.enabled]
        down = sum(1 for s in enabled if s.status != "available")
        overall = "healthy" if down == 0 else "unhealthy" if down == len(enabled) else "degraded"
        return McpStatusReport(
            overall_status=overall,
            servers=[
                McpServerCheck(name=s.name, status=s.status, last_check=s.last_check, response_time_ms=s.response_time_ms, error=s.error)
                for s in servers
            ],
            timestamp=utcnow_iso(),
        )

    @get("/mcp-servers/settings", summary="Server settings with secret values masked")
    async def get_mcp_settings(self, services: NamedDependency[Services]) -> McpSettingsView:
        hub = services.hub
        views: list[McpServerSettingsView] = []
        for name, config, source in hub.configured():
            views.append(
                McpServerSettingsView(
                    name=name,
                    source=source,
                    enabled=config.enabled,
                    transport="stdio" if config.command is not None else "http",
                    command=config.command,
                    args=mask_args(config.args),
                    url=None if config.url is None else mask_url(config.url),
                    env={k: mask_value(config.env[k]) for k in sorted(config.env)},
                    env_vars=sorted(config.env),
                    headers={k: mask_value(config.headers[k]) for k in sorted(config.headers)},
                    config=McpServerOptions(
                        timeout=config.timeout,
                        display_name=config.display_name,
                        description=config.description,
                        capabilities=list(config.capabilities),
                        cost_per_call_usd=config.cost_per_call_usd,
                        max_retries=config.max_retries,
                        api_key_env=api_key_env(config.env),
                        inherit_env=list(config.inherit_env),
                        cwd=config.cwd if config.cwd is None or not Path(config.cwd).is_absolute() else MASK,
                    ),
                )
            )
        # The configured root, as the operator gave it, never the resolved server path.
        root = services.settings.storage_dir
        return McpSettingsView(
            mcp_base_path=root.as_posix(),
            mcp_settings_file=(root / "mcp_settings.json").as_posix(),
            servers=views,
        )

    @post("/mcp-tools/execute", status_code=200, summary="Call one tool by id (`<server>-<tool>`)")
    async def execute_mcp_tool(
        self,
        services: NamedDependency[Services],
        data: JSONBody[ToolExecuteRequest],
        timeout: Annotated[float | None, QueryParameter(gt=0, le=3600, required=False)] = None,
    ) -> ToolExecuteResponse:
        result = await services.hub.call(
            data.tool_id,
            data.input,
            timeout=data.config.timeout or timeout,
            retry_unavailable=data.config.retry_on_failure,
        )
        return ToolExecuteResponse(
            tool_id=result.tool_id,
            status=result.status,
            output=result.output,
            content=result.content,
            execution_time_ms=result.execution_time_ms,
            cost_usd=result.cost_usd,
        )
