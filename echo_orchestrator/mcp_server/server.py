"""The MCP server face: the official SDK's low-level server, its handlers calling the services.

One `McpFace` serves both transports: Streamable HTTP (`http()`, mounted at `/mcp` by the
API, behind the API's own middleware: the caller it identified, its limits, its Host and
Origin rules) and stdio (`stdio()`, for `echo-orchestrator mcp`, whose caller is the
person who started it). Refusals carry the API's error body: as a JSON-RPC error's `data`
(who may call, what exists), or as a failed tool result (a run that could not start).

List changes reach clients of both protocol eras: `subscriptions/listen` streams
(2026-07-28) through the SDK's subscription bus, and the standalone stream of each
handshake-era session (2025-*) that has one.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
import msgspec
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourcesListChanged, ToolsListChanged
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from echo_orchestrator import __version__
from echo_orchestrator.container import Services
from echo_orchestrator.errors import EchoError, Forbidden, NotFound, Unauthorized
from echo_orchestrator.mcp.lineage import from_meta
from echo_orchestrator.mcp_server.calls import Progress, RunCalls, refused
from echo_orchestrator.mcp_server.prompts import PROMPTS, Prompts
from echo_orchestrator.mcp_server.resources import TEMPLATES, Resources
from echo_orchestrator.mcp_server.tools import ToolCatalogue, paged
from echo_orchestrator.models import new_id
from echo_orchestrator.security.callers import Caller
from echo_orchestrator.security.payloads import check_json_payload
from echo_orchestrator.services.error_bodies import domain_error_body

log = logging.getLogger(__name__)

# JSON-RPC codes of refusals (the server-defined range): who may call, what exists.
REFUSED = -32003
RESOURCE_NOT_FOUND = -32002
TOOLS_PAGE = 500
CHANGES_INTERVAL = 0.5
LEGACY_SESSIONS_KEPT = 1000
INSTRUCTIONS = (
    "Echo Orchestrator runs AI agent workflows. Each workflow is a tool named by its slug (plugin graphs: graph_<name>); "
    "a call starts an execution and answers its outputs, or, for a run that waits for a person or runs long, its execution "
    "id with the next step (respond_to_execution, wait_for_execution). Definitions and executions are resources "
    "(echo://workflows/{slug}/versions/{version}, echo://executions/{id}); the design_workflow prompt helps design one."
)


class _EchoServer(Server[Any]):
    """The SDK's server, announcing list changes to handshake-era clients as well."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        changes = notification_options or NotificationOptions(tools_changed=True, resources_changed=True)
        return super().create_initialization_options(changes, experimental_capabilities, extensions)


class McpFace:
    def __init__(self, services: Services, *, local_caller: Caller | None = None) -> None:
        """`local_caller`: who calls over stdio (HTTP callers are the API middleware's)."""
        self.services = services
        self._local_caller = local_caller
        self.catalogue = ToolCatalogue(services.store, services.registry, services.settings)
        self.calls = RunCalls(services.executions, services.feed, services.settings)
        self.resources = Resources(services.store, services.executions)
        self.prompts = Prompts(services.store)
        self.bus = InMemorySubscriptionBus()
        self._sessions: OrderedDict[str, ServerSession] = OrderedDict()
        self.server = _EchoServer(
            "echo-orchestrator",
            version=__version__,
            title="Echo Orchestrator",
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_templates,
            on_read_resource=self._read_resource,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
            on_subscriptions_listen=ListenHandler(self.bus),
        )

    # -- transports ----------------------------------------------------------------------

    @asynccontextmanager
    async def http(self, *, sessions: bool) -> AsyncIterator[Callable[..., Awaitable[None]]]:
        """The Streamable HTTP endpoint (an ASGI app), live inside this context. Host, Origin,
        credentials and limits are the API middleware's; the body cap is the API's."""
        manager = StreamableHTTPSessionManager(
            self.server, stateless=not sessions, max_request_body_size=self.services.settings.max_body_bytes
        )
        async with manager.run(), anyio.create_task_group() as tg:
            tg.start_soon(self.follow_changes)
            try:
                yield manager.handle_request
            finally:
                self.calls.stopping = True  # calls end with the server; their runs go on
                tg.cancel_scope.cancel()

    async def stdio(self) -> None:
        """Serve one client over this process's stdin and stdout until it closes them."""
        async with stdio_server() as (read, write), anyio.create_task_group() as tg:
            tg.start_soon(self.follow_changes)
            await self.server.run(read, write, self.server.create_initialization_options())
            self.calls.stopping = True
            tg.cancel_scope.cancel()

    # -- who calls -----------------------------------------------------------------------

    def _caller(self, ctx: Any) -> tuple[Caller, str]:
        """The caller and request id of a request: the API middleware's, or the local person's."""
        request = ctx.request
        if request is None:
            if self._local_caller is None:
                raise self._refusal(Unauthorized("No caller"), new_id("req"), REFUSED)
            self._remember_session(ctx, "stdio")  # one client, on this process's pipes
            return self._local_caller, new_id("req")
        state = request.scope.get("state") or {}
        request_id = str(state.get("request_id") or new_id("req"))
        caller = state.get("caller")
        if not isinstance(caller, Caller):  # never past the middleware; refused, not guessed
            raise self._refusal(Unauthorized("Authentication required"), request_id, REFUSED)
        self._remember_session(ctx, request.headers.get("mcp-session-id"))
        return caller, request_id

    def _remember_session(self, ctx: Any, session_id: str | None) -> None:
        """A handshake-era session with a standalone stream, for its list_changed notices."""
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return
        if session_id:
            self._sessions[session_id] = ctx.session
            self._sessions.move_to_end(session_id)
            while len(self._sessions) > LEGACY_SESSIONS_KEPT:
                self._sessions.popitem(last=False)

    @staticmethod
    def _refusal(exc: EchoError, request_id: str, code: int) -> MCPError:
        body = msgspec.to_builtins(domain_error_body(exc, request_id))
        return MCPError(code, body["detail"], body)

    async def _guarded(self, request_id: str, run: Callable[[], Awaitable[Any]], not_found: int = types.INVALID_PARAMS) -> Any:
        """Run a handler; the service's refusals become JSON-RPC errors with the error body."""
        try:
            return await run()
        except NotFound as exc:
            raise self._refusal(exc, request_id, not_found) from None
        except (Unauthorized, Forbidden) as exc:
            raise self._refusal(exc, request_id, REFUSED) from None
        except EchoError as exc:
            code = types.INVALID_PARAMS if exc.code.startswith("ERR_VALID") else types.INTERNAL_ERROR
            raise self._refusal(exc, request_id, code) from None

    # -- handlers ------------------------------------------------------------------------

    async def _list_tools(self, ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        self._caller(ctx)
        tools, following = paged(await self.catalogue.tools(), params.cursor if params is not None else None, TOOLS_PAGE)
        return types.ListToolsResult(tools=tools, next_cursor=following)

    async def _call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        caller, request_id = self._caller(ctx)
        arguments = params.arguments or {}
        # Followed only for a client that asked (a token on the wire; in process, where a
        # callback takes its place, always: reporting is a no-op without one).
        asked = ctx.request is None or (ctx.meta is not None and ctx.meta.get("progress_token") is not None)
        progress: Progress | None = ctx.session.report_progress if asked else None

        async def call() -> types.CallToolResult:
            target = await self.catalogue.resolve(params.name)
            if target.kind == "wait":
                return await self.calls.wait_for(arguments, progress)
            if caller.read_only:
                raise Forbidden("This key may only read: it may list and read, and wait for runs, but not start or answer them")
            # The same cap on nesting as every JSON body the API reads.
            check_json_payload(msgspec.json.encode(arguments), self.services.settings.max_json_depth)
            try:
                if target.kind == "respond":
                    execution_id = await self.calls.respond(arguments, caller)
                    return await self.calls.follow(execution_id, progress, owned=False)
                execution = await self.calls.start(target, arguments, caller, from_meta(ctx.meta))
            except (Unauthorized, Forbidden):
                raise
            except EchoError as exc:  # the run could not start: the caller's model may correct it
                return refused(exc, request_id)
            return await self.calls.follow(execution.execution_id, progress, owned=True)

        result: types.CallToolResult = await self._guarded(request_id, call)
        return result

    async def _list_resources(self, ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        self._caller(ctx)
        return await self.resources.page(params.cursor if params is not None else None)

    async def _list_templates(self, ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListResourceTemplatesResult:
        self._caller(ctx)
        return types.ListResourceTemplatesResult(resource_templates=TEMPLATES)

    async def _read_resource(self, ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        _, request_id = self._caller(ctx)
        result: types.ReadResourceResult = await self._guarded(request_id, lambda: self.resources.read(str(params.uri)), RESOURCE_NOT_FOUND)
        return result

    async def _list_prompts(self, ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        self._caller(ctx)
        return types.ListPromptsResult(prompts=PROMPTS)

    async def _get_prompt(self, ctx: Any, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        _, request_id = self._caller(ctx)
        result: types.GetPromptResult = await self._guarded(request_id, lambda: self.prompts.get(params.name, params.arguments))
        return result

    # -- list changes --------------------------------------------------------------------

    async def follow_changes(self) -> None:
        """Tell clients when the tools or resources they listed changed: a definition saved,
        archived or edited on disk, a plugin added. Polls two counters (cheap), and compares
        what a client would see, so a change no list shows (a draft) says nothing."""
        store, registry = self.services.store, self.services.registry
        seen = (store.revision, registry.snapshot.generation)
        tools, resources = await self.catalogue.fingerprint(), await self.resources.fingerprint()
        while True:
            await anyio.sleep(CHANGES_INTERVAL)
            now = (store.revision, registry.snapshot.generation)
            if now == seen:
                continue
            seen = now
            try:
                listed, readable = await self.catalogue.fingerprint(), await self.resources.fingerprint()
            except Exception:  # a definition half-written: the next change tells
                log.exception("could not list the MCP tools and resources after a change")
                continue
            if listed != tools:
                tools = listed
                await self._announce(ToolsListChanged(), "send_tool_list_changed")
            if readable != resources:
                resources = readable
                await self._announce(ResourcesListChanged(), "send_resource_list_changed")

    async def _announce(self, event: ToolsListChanged | ResourcesListChanged, legacy: str) -> None:
        await self.bus.publish(event)
        for session_id, session in list(self._sessions.items()):
            try:
                with anyio.fail_after(2):
                    await getattr(session, legacy)()
            except Exception:  # the session ended: forget it
                self._sessions.pop(session_id, None)
