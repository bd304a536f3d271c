"""`/mcp`: the MCP server face over Streamable HTTP, mounted in the app.

Every request has passed the API's middleware first: the caller is identified (API key or
JWT, as every route), counted against the same hourly limit, and refused for a foreign
`Host`, for an `Origin` we do not serve (on every method, as the MCP specification asks),
or for missing or bad credentials. A read-only caller's requests pass the guard, and the
face tells its reads (list, read, wait) from its writes (start or answer a run). Sessions
of handshake-era clients are bound to the caller that opened them, by the SDK's own rule.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import asgi
from litestar.handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken

from echo_orchestrator.api.security import ORIGIN_ON_EVERY_METHOD, READS_BY_PROTOCOL, caller_of, send_error
from echo_orchestrator.container import Services
from echo_orchestrator.errors import NotFound
from echo_orchestrator.mcp_server import McpFace

PATH = "/mcp"


class McpEndpoint:
    def __init__(self) -> None:
        self._app: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None

    @asynccontextmanager
    async def serving(self, services: Services) -> AsyncIterator[None]:
        """Serve `/mcp` while inside (unless `ECHO_MCP_SERVER` is false)."""
        settings = services.settings
        if not settings.mcp_server:
            yield
            return
        # Handshake-era sessions live in one process: on by default for one process, off for
        # a cluster (any node answers any request; 2026-07-28 clients need none either way).
        sessions = settings.mcp_sessions if settings.mcp_sessions is not None else not services.runtime.shared
        async with McpFace(services).http(sessions=sessions) as app:
            self._app = app
            try:
                yield
            finally:
                self._app = None

    def route(self) -> ASGIRouteHandler:
        endpoint = self

        @asgi(
            PATH,
            is_mount=True,
            copy_scope=True,
            include_in_schema=False,
            opt={READS_BY_PROTOCOL: True, ORIGIN_ON_EVERY_METHOD: True},
        )
        async def mcp(scope: Scope, receive: Receive, send: Send) -> None:
            app = endpoint._app
            if app is None:
                await send_error(scope, receive, send, NotFound("The MCP server is off here (ECHO_MCP_SERVER=false)"))
                return
            caller = caller_of(scope)
            # The SDK binds a session to the principal that opened it: ours.
            principal = AccessToken(token="-", client_id=caller.limit_key, scopes=[])
            scoped: Any = scope
            scoped["user"] = AuthenticatedUser(principal)
            await app(scope, receive, send)

        return mcp
