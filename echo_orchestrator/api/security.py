"""Who may call, from where: the policy the gate (`api/gate.py`) applies to every route,
and the answers it refuses with.

`/health` and the docs are open. Socket.IO authenticates at its namespace's `connect` (its
`auth` payload or the same headers), where a browser can present a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request
from litestar.types import Receive, Scope, Send

from echo_orchestrator.api.error_handling import handle_domain_error
from echo_orchestrator.backends import counters_for
from echo_orchestrator.errors import EchoError
from echo_orchestrator.security.callers import ANONYMOUS, Authenticator, Caller, bearer_of
from echo_orchestrator.security.network import (
    effective_allowed_hosts,
    requests_per_hour,
)
from echo_orchestrator.settings import Settings
from echo_orchestrator.store.counters import WindowCounters

# Open to anyone: liveness, and the docs (they hold no secret).
OPEN_PATHS = ("/health", "/health/ready")
# The pages and their files: Swagger UI, and the console (whose data comes from the API,
# with the key the person enters).
OPEN_PREFIXES = ("/docs", "/docs-assets", "/ui")
# A route handler's `opt` key saying it authenticates its callers itself (Socket.IO, at connect).
SELF_AUTHENTICATED = "self_authenticated"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
JSON_TYPES = ("application/json",)
UPLOAD_TYPE = "multipart/form-data"
# A route handler's `opt` key saying it takes multipart uploads besides JSON.
ACCEPTS_UPLOAD = "accepts_upload"
# `opt` keys of a protocol endpoint whose every request is a POST (MCP's `/mcp`): it tells a
# read-only caller's reads from writes itself, and checks `Origin` on every method (the MCP
# specification's rule against DNS rebinding), not only on writes.
READS_BY_PROTOCOL = "reads_by_protocol"
ORIGIN_ON_EVERY_METHOD = "origin_on_every_method"
TOOL_ROUTE = "/mcp-tools/execute"


@dataclass(frozen=True, slots=True)
class SecurityPolicy:
    authenticator: Authenticator
    allowed_hosts: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    trusted_proxies: tuple[str, ...]
    rate_limit_per_hour: int
    tool_calls_per_hour: int
    open_paths: tuple[str, ...]
    counters: WindowCounters  # opened and closed with the app (its lifespan)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecurityPolicy:
        return cls(
            authenticator=Authenticator.from_settings(settings),
            allowed_hosts=effective_allowed_hosts(settings.host, settings.allowed_hosts),
            allowed_origins=settings.allowed_origins,
            trusted_proxies=settings.trusted_proxies,
            rate_limit_per_hour=requests_per_hour(settings),
            tool_calls_per_hour=settings.mcp_tool_calls_per_hour,
            open_paths=OPEN_PATHS + (("/metrics",) if settings.metrics_public else ()),
            counters=counters_for(settings.runtime_url, settings.redis_url),
        )

    async def identify(self, headers: Mapping[str, str], address: str) -> Caller:
        caller = await self.authenticator.authenticate(bearer=bearer_of(headers.get("authorization")), api_key=headers.get("x-api-key"))
        return caller.at(address)


def is_open_path(path: str, open_paths: tuple[str, ...] = OPEN_PATHS) -> bool:
    """Needs no caller: /health, the docs (and `/metrics` when the operator opened it)."""
    return path in open_paths or any(path == p or path.startswith(p + "/") for p in OPEN_PREFIXES)


def caller_of(scope: Scope) -> Caller:
    caller = scope.get("state", {}).get("caller")
    return caller if isinstance(caller, Caller) else ANONYMOUS


async def send_error(scope: Scope, receive: Receive, send: Send, exc: EchoError, headers: dict[str, str] | None = None) -> None:
    """Answer with the one error body, from a middleware (inside the rate-limit headers)."""
    request: Request[Any, Any, Any] = Request(scope, receive)
    response = handle_domain_error(request, exc)
    if headers:
        response.headers.update(headers)
    await response.to_asgi_response(app=None, request=request)(scope, receive, send)


async def deny_websocket(
    scope: Scope, receive: Receive, send: Send, status: int, exc: EchoError, extra: dict[str, str] | None = None
) -> None:
    """Refuse a WebSocket handshake with an HTTP status and the error body where the server
    can send one (uvicorn can), else with a policy-violation close."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in (scope.get("extensions") or {}):
        body = msgspec.json.encode({"detail": exc.message, "error": {"type": exc.type, "message": exc.message, "code": exc.code}})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        headers += [(name.lower().encode(), value.encode()) for name, value in (extra or {}).items()]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="echo-orchestrator"'))
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body, "more_body": False})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": exc.message[:120]})
