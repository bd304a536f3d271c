"""Who may call, from where, how often: the middleware every route passes through.

Three layers, outermost first (`middleware()` gives them in that order):

1. `IdentifyCaller`: who is calling (API key, JWT, or nobody) and from which address; put in
   the scope's state. It never answers by itself, so a refused request still counts.
2. `CallerRateLimit`: Litestar's rate-limit middleware counting per caller (or address), with
   the ouroboros document's `X-RateLimit-*` headers on every response and a 429 with
   `Retry-After`; `ToolCallRateLimit` does the same for `POST /mcp-tools/execute` alone.
3. `Guard`: refuses what may not pass: a foreign `Host` (DNS rebinding), a browser `Origin`
   we do not serve, a body that is not JSON (so no cross-site form or `text/plain` post can
   act), no or bad credentials (401), a read-only caller writing (403).

`/health` and the docs are open. Socket.IO authenticates at its namespace's `connect` (its
`auth` payload or the same headers), where a browser can present a key.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.rate_limit import DURATION_VALUES, RateLimitConfig, RateLimitMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from echo_orchestrator.api.error_handling import handle_domain_error, status_of
from echo_orchestrator.api.request_context import request_id_of
from echo_orchestrator.api.traces import TraceRequests
from echo_orchestrator.backends import counters_for
from echo_orchestrator.errors import BadRequest, EchoError, Forbidden, RateLimited, Unauthorized, UnsupportedMediaType
from echo_orchestrator.logs import REQUEST_ID
from echo_orchestrator.security.callers import ANONYMOUS, Authenticator, Caller, bearer_of
from echo_orchestrator.security.network import (
    client_address,
    effective_allowed_hosts,
    host_allowed,
    local_by_name,
    origin_allowed,
    requests_per_hour,
)
from echo_orchestrator.settings import Settings
from echo_orchestrator.store.counters import Window, WindowCounters

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

    def origin_ok(self, headers: Headers, scheme: str) -> bool:
        return origin_allowed(headers.get("origin"), headers.get("host"), scheme, self.allowed_origins)

    async def identify(self, headers: Headers, address: str) -> Caller:
        caller = await self.authenticator.authenticate(bearer=bearer_of(headers.get("authorization")), api_key=headers.get("x-api-key"))
        return caller.at(address)


def is_open(scope: Scope, open_paths: tuple[str, ...] = OPEN_PATHS) -> bool:
    """Needs no caller: /health, the docs (and `/metrics` when the operator opened it), and
    routes that authenticate for themselves."""
    path = scope["path"]
    handler = scope.get("route_handler")
    if handler is not None and handler.opt.get(SELF_AUTHENTICATED):
        return True
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


class IdentifyCaller:
    def __init__(self, app: ASGIApp, policy: SecurityPolicy) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in (ScopeType.HTTP, ScopeType.WEBSOCKET):
            headers = Headers.from_scope(scope)
            peer = scope.get("client")
            address = client_address(peer[0] if peer else None, headers.get("x-forwarded-for"), self.policy.trusted_proxies)
            state = scope.setdefault("state", {})
            state["started"] = time.perf_counter()
            REQUEST_ID.set(request_id_of(scope))  # log records of this request carry its id
            if is_open(scope, self.policy.open_paths) or scope.get("method") == "OPTIONS":
                state["caller"] = ANONYMOUS.at(address)
            else:
                try:
                    state["caller"] = await self.policy.identify(headers, address)
                except Unauthorized as exc:
                    state["caller"], state["auth_error"] = ANONYMOUS.at(address), exc
        await self.app(scope, receive, send)


class Guard:
    def __init__(self, app: ASGIApp, policy: SecurityPolicy) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in (ScopeType.HTTP, ScopeType.WEBSOCKET):
            await self.app(scope, receive, send)
            return
        try:
            self.check(scope)
        except EchoError as exc:
            if scope["type"] == ScopeType.WEBSOCKET:
                await deny_websocket(scope, receive, send, status_of(exc), exc)
            else:
                await send_error(scope, receive, send, exc)
            return
        await self.app(scope, receive, send)

    def check(self, scope: Scope) -> None:
        headers = Headers.from_scope(scope)
        host = headers.get("host")
        if not host_allowed(host, self.policy.allowed_hosts) and not local_by_name(host, scope.get("client")):
            raise BadRequest("This server does not answer to that Host name (see ECHO_ALLOWED_HOSTS)", details={"host": (host or "")[:100]})
        method = scope.get("method", "GET")
        is_socket = scope["type"] == ScopeType.WEBSOCKET
        handler = scope.get("route_handler")
        opt = handler.opt if handler is not None else {}
        checks_origin = is_socket or method not in READ_METHODS or opt.get(ORIGIN_ON_EVERY_METHOD)
        if checks_origin and not self.policy.origin_ok(headers, scope.get("scheme", "http")):
            raise Forbidden(
                "Requests from this browser origin are not allowed (see ECHO_ALLOWED_ORIGINS)",
                details={"origin": (headers.get("origin") or "")[:200]},
            )
        if not is_socket and method not in READ_METHODS:
            self._check_body_type(scope, headers)
        if is_open(scope, self.policy.open_paths) or method == "OPTIONS":
            return
        state = scope.get("state", {})
        if (error := state.get("auth_error")) is not None:
            raise error
        if caller_of(scope).read_only and not is_socket and method not in READ_METHODS and not opt.get(READS_BY_PROTOCOL):
            raise Forbidden("This key may only read (GET and live streams)")

    @staticmethod
    def _check_body_type(scope: Scope, headers: Headers) -> None:
        has_body = headers.get("transfer-encoding") is not None or (headers.get("content-length") or "0").strip() not in ("", "0")
        if not has_body:
            return
        media = (headers.get("content-type") or "").split(";", 1)[0].strip().lower()
        if media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json")):
            return
        handler = scope.get("route_handler")
        if media == UPLOAD_TYPE and handler is not None and handler.opt.get(ACCEPTS_UPLOAD):
            return
        raise UnsupportedMediaType(
            f"Content-Type {media or '(none)'!r} is not accepted: send the body as application/json",
            details={"content_type": media[:100]},
        )


class CallerRateLimit(RateLimitMiddleware):
    """Litestar's rate-limit middleware, counting in fixed windows per caller (one small
    record per caller instead of a timestamp per request) in `store.counters` (this
    process, or one PostgreSQL table for every node), with the document's headers:
    `X-RateLimit-Reset` in epoch seconds, `Retry-After` on a 429. Requests it does not
    count (/health, the docs) still carry the caller's current figures."""

    headers_on_success = True

    def __init__(self, app: ASGIApp, config: RateLimitConfig, counters: WindowCounters) -> None:
        super().__init__(app, config)
        self.counters = counters
        # WebSocket handshakes count as requests too: a stream opened past the limit, or a
        # key guessed over WebSockets, is refused like any request (429 before the upgrade).
        self.scopes = {ScopeType.HTTP, ScopeType.WEBSOCKET}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope["litestar_app"]
        request: Request[Any, Any, Any] = app.request_class(scope)
        counted = await self.should_check_request(request=request)
        is_socket = scope["type"] == ScopeType.WEBSOCKET
        if not counted and (is_socket or not self.headers_on_success):
            await self.app(scope, receive, send)
            return
        key = self.cache_key_from_request(request)
        window = await self.counters.hit(key, DURATION_VALUES[self.unit], count=counted)
        headers = self._headers(window)
        if counted and window.count > self.max_requests:
            retry = max(1, window.reset - int(time.time()))
            exc = RateLimited(
                f"Rate limit exceeded: {self.max_requests} requests per {self.unit}; retry in {retry} s",
                retry_after=retry,
                details={"limit": self.max_requests, "window": self.unit},
            )
            if is_socket:
                await deny_websocket(scope, receive, send, status_of(exc), exc, {**headers, "Retry-After": str(retry)})
            else:
                await send_error(scope, receive, send, exc, headers)
            return
        if is_socket:  # a handshake's answer carries no headers of ours
            await self.app(scope, receive, send)
            return
        if self.headers_on_success:
            send = _with_headers(send, headers)
        await self.app(scope, receive, send)

    def cache_key_from_request(self, request: Request[Any, Any, Any]) -> str:
        # One window per caller, whatever it calls (Litestar's own key gives mounted apps,
        # such as Socket.IO, a window of their own).
        return f"{type(self).__name__}::{self.get_identifier_for_request(request)}"

    def _headers(self, window: Window) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.max_requests),
            "X-RateLimit-Remaining": str(max(0, self.max_requests - window.count)),
            "X-RateLimit-Reset": str(window.reset),
        }


class ToolCallRateLimit(CallerRateLimit):
    """MCP tool calls per caller (`POST /mcp-tools/execute`); its headers only on a 429, so
    the global limit's headers stay on every response."""

    headers_on_success = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Every request passes here; only one route counts (and nothing else needs a Request).
        if scope.get("path") != TOOL_ROUTE:
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            target = MutableScopeHeaders.from_message(message)
            for name, value in headers.items():
                # A limit further in (tool calls) that refused the request set its own figures.
                if name not in target:
                    target[name] = value
        await send(message)

    return wrapped


def _limit_key(request: Request[Any, Any, Any]) -> str:
    return caller_of(request.scope).limit_key


# The two predicates are coroutines: Litestar runs a plain function given as
# `check_throttle_handler` in a worker thread, a thread hop per request (a quarter of a
# simple GET's time under load, measured by benchmarks/bench_throughput.py).
async def _is_tool_call(request: Request[Any, Any, Any]) -> bool:
    return request.method == "POST" and request.scope["path"] == TOOL_ROUTE


async def _counted(request: Request[Any, Any, Any]) -> bool:
    scope = request.scope
    handler = scope.get("route_handler")
    if handler is not None and handler.opt.get(SELF_AUTHENTICATED):
        # Socket.IO: a request without `sid` opens a session (a handshake, polling or a
        # WebSocket): counted. Its packets (polling requests with the session's `sid`) are not.
        return b"sid=" not in scope.get("query_string", b"")
    return not is_open(scope)


def _hourly(
    limit: int, kind: type[CallerRateLimit], counts: Callable[[Request[Any, Any, Any]], Awaitable[bool]], counters: WindowCounters
) -> list[DefineMiddleware]:
    """A per-caller hourly limit, or nothing when it is switched off (0)."""
    if limit <= 0:
        return []
    config = RateLimitConfig(
        rate_limit=("hour", limit), middleware_class=kind, identifier_for_request=_limit_key, check_throttle_handler=counts
    )
    return [DefineMiddleware(kind, config=config, counters=counters)]


def middleware(policy: SecurityPolicy) -> list[DefineMiddleware]:
    """The security middleware, outermost first."""
    return [
        DefineMiddleware(TraceRequests),
        DefineMiddleware(IdentifyCaller, policy=policy),
        *_hourly(policy.rate_limit_per_hour, CallerRateLimit, _counted, policy.counters),
        DefineMiddleware(Guard, policy=policy),
        *_hourly(policy.tool_calls_per_hour, ToolCallRateLimit, _is_tool_call, policy.counters),
    ]
