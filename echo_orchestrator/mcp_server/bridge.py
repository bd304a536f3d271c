"""`echo-orchestrator mcp --server URL`: a client's stdio server that is a running service's `/mcp`.

For a client that starts MCP servers as commands (Claude Desktop, editors): every request
is sent on to the server's `/mcp` with the SDK's client, under `ECHO_API_KEY` (so the
server's auth, limits and rules apply, not this process's), and its answer, progress and
refusals come back as they are. A cancelled call cancels the server's call (and so its
run); the server's list changes are passed on.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ListenNotSupportedError, PromptsListChanged, ResourcesListChanged, ToolsListChanged
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.shared._httpx_utils import create_mcp_http_client

from echo_orchestrator import __version__
from echo_orchestrator.mcp.lineage import DEPTH_KEY, PARENT_KEY
from echo_orchestrator.mcp_server.server import INSTRUCTIONS

log = logging.getLogger(__name__)
FORWARDED_META = (PARENT_KEY, DEPTH_KEY)


def endpoint(server: str) -> str:
    """`host:port`, a base URL, or the `/mcp` URL itself."""
    url = server if "://" in server else f"http://{server}"
    url = url.rstrip("/")
    return url if url.endswith("/mcp") else f"{url}/mcp"


class Bridge:
    def __init__(self, server: str, api_key: str | None) -> None:
        self.url = endpoint(server)
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._bus = InMemorySubscriptionBus()
        self._upstream: Client | None = None

    @property
    def upstream(self) -> Client:
        assert self._upstream is not None, "run() first"
        return self._upstream

    def _server(self) -> Server[Any]:
        async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
            return await self.upstream.list_tools(cursor=params.cursor if params else None, cache_mode="refresh")

        async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
            async def forward(progress: float, total: float | None, message: str | None) -> None:
                await ctx.session.report_progress(progress, total, message)

            meta = {k: v for k, v in (ctx.meta or {}).items() if k in FORWARDED_META}
            result: types.CallToolResult = await self.upstream.call_tool(
                params.name,
                params.arguments,
                progress_callback=forward,
                meta=meta or None,  # type: ignore[arg-type]
            )
            return result

        async def list_resources(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
            return await self.upstream.list_resources(cursor=params.cursor if params else None, cache_mode="refresh")

        async def list_templates(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListResourceTemplatesResult:
            return await self.upstream.list_resource_templates(cursor=params.cursor if params else None, cache_mode="refresh")

        async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
            return await self.upstream.read_resource(str(params.uri), cache_mode="refresh")

        async def list_prompts(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
            return await self.upstream.list_prompts(cursor=params.cursor if params else None, cache_mode="refresh")

        async def get_prompt(ctx: Any, params: types.GetPromptRequestParams) -> types.GetPromptResult:
            result: types.GetPromptResult = await self.upstream.get_prompt(params.name, params.arguments)
            return result

        return Server(
            "echo-orchestrator",
            version=__version__,
            title="Echo Orchestrator",
            instructions=INSTRUCTIONS,
            on_list_tools=list_tools,
            on_call_tool=call_tool,
            on_list_resources=list_resources,
            on_list_resource_templates=list_templates,
            on_read_resource=read_resource,
            on_list_prompts=list_prompts,
            on_get_prompt=get_prompt,
            on_subscriptions_listen=ListenHandler(self._bus),
        )

    async def run(self) -> None:
        """Connect to the server first (a wrong URL or key fails here, with the reason), then
        serve this process's stdin and stdout until the client closes them."""
        http = create_mcp_http_client(headers=self._headers)
        async with http, Client(streamable_http_client(self.url, http_client=http)) as upstream:
            self._upstream = upstream
            server = self._server()
            async with stdio_server() as (read, write), anyio.create_task_group() as tg:
                tg.start_soon(self._relay_changes)
                await server.run(read, write, server.create_initialization_options())
                tg.cancel_scope.cancel()

    async def _relay_changes(self) -> None:
        """The server's list changes, to this process's own listeners."""
        try:
            async with self.upstream.listen(tools_list_changed=True, resources_list_changed=True, prompts_list_changed=True) as sub:
                async for event in sub:
                    if isinstance(event, ToolsListChanged | ResourcesListChanged | PromptsListChanged):
                        await self._bus.publish(event)
        except ListenNotSupportedError:
            log.info("the server speaks a protocol version without subscriptions: list changes are not passed on")
        except Exception as exc:  # the tools still work; only change notices stop
            log.warning("list changes of %s are no longer passed on: %s", self.url, exc)
