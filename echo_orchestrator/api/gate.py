"""The one ASGI layer every route sits behind: who calls, how often, from where.

Each request passes once, in this order (the order the five layers it replaces had):

1. A server span, when traces are exported (`traces.traced`).
2. Who is calling (API key, JWT, or nobody) and from which address, put in the scope's
   state with the request's id. Nothing is refused yet, so a refused request still counts.
3. The caller's hourly limit (`X-RateLimit-*` on every response, 429 with `Retry-After`).
4. What may not pass: a foreign `Host` (DNS rebinding), a browser `Origin` we do not serve, a
   body that is not JSON (so no cross-site form or `text/plain` post can act), no or bad
   credentials (401), a read-only caller writing (403).
5. The caller's hourly MCP tool calls (`POST /mcp-tools/execute` alone; its figures only on
   its 429, so the global limit's stay on every response).

The headers it needs are read from the scope once, as bytes (Litestar's `Headers` and
`Request`, built by each of the five layers, were a fifth of a small GET's time: measured by
`benchmarks/bench_throughput.py`, see docs/performance.md).
"""

from __future__ import annotations

import time
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware.base import DefineMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from echo_orchestrator import tracing
from echo_orchestrator.api.error_handling import status_of
from echo_orchestrator.api.fast_reads import FAST_READ, answer
from echo_orchestrator.api.request_context import REQUEST_ID_HEADER, request_id_from
from echo_orchestrator.api.security import (
    ACCEPTS_UPLOAD,
    JSON_TYPES,
    ORIGIN_ON_EVERY_METHOD,
    READ_METHODS,
    READS_BY_PROTOCOL,
    SELF_AUTHENTICATED,
    TOOL_ROUTE,
    UPLOAD_TYPE,
    SecurityPolicy,
    deny_websocket,
    is_open_path,
    send_error,
)
from echo_orchestrator.api.traces import traced
from echo_orchestrator.errors import BadRequest, EchoError, Forbidden, RateLimited, Unauthorized, UnsupportedMediaType
from echo_orchestrator.logs import REQUEST_ID
from echo_orchestrator.security.callers import ANONYMOUS, Caller
from echo_orchestrator.security.network import client_address, host_allowed, local_by_name, origin_allowed
from echo_orchestrator.store.counters import Window

HOUR = 3600
# The headers the gate reads; the rest of a request's are not decoded here.
_READ = frozenset(
    {
        b"host",
        b"origin",
        b"authorization",
        b"x-api-key",
        b"x-forwarded-for",
        b"content-type",
        b"content-length",
        b"transfer-encoding",
        b"if-none-match",
        REQUEST_ID_HEADER.encode(),
    }
)
_NO_OPT: dict[str, Any] = {}
# Host headers seen and whether they pass: a handful in practice; forgotten when it grows
# past this (a client sending a new name each time gains nothing but the check itself).
_HOSTS_KEPT = 256


def middleware(policy: SecurityPolicy) -> list[DefineMiddleware]:
    """What every route sits behind: the gate."""
    return [DefineMiddleware(Gate, policy=policy)]


def read_headers(scope: Scope) -> dict[str, str]:
    """The first value of each header the gate reads (ASGI names are lower case)."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in _READ:
            key = name.decode("latin-1")
            if key not in found:
                found[key] = value.decode("latin-1")
    return found


class Gate:
    def __init__(self, app: ASGIApp, policy: SecurityPolicy) -> None:
        self.app, self.policy = app, policy
        self.hourly, self.tool_hourly = policy.rate_limit_per_hour, policy.tool_calls_per_hour
        self._hosts: dict[str, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == ScopeType.HTTP:
            if tracing.enabled():
                await traced(scope, receive, send, self._pass)
            else:
                await self._pass(scope, receive, send)
        elif kind == ScopeType.WEBSOCKET:
            await self._pass(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _pass(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = read_headers(scope)
        state = scope.setdefault("state", {})
        state["started"] = time.perf_counter()
        rid = state.get("request_id") or request_id_from(headers.get(REQUEST_ID_HEADER))
        state["request_id"] = rid
        REQUEST_ID.set(rid)  # log records of this request carry its id
        handler = scope.get("route_handler")
        opt = handler.opt if handler is not None else _NO_OPT
        opened = bool(opt.get(SELF_AUTHENTICATED)) or is_open_path(scope["path"], self.policy.open_paths)
        state["caller"] = caller = await self._identify(scope, headers, state, opened)
        socket = scope["type"] == ScopeType.WEBSOCKET
        figures: dict[str, str] | None = None
        if self.hourly > 0:
            counted = b"sid=" not in scope.get("query_string", b"") if opt.get(SELF_AUTHENTICATED) else not is_open_path(scope["path"])
            if counted or not socket:  # uncounted requests still carry the caller's figures
                window = await self.policy.counters.hit(f"CallerRateLimit::{caller.limit_key}", HOUR, count=counted)
                figures = _figures(self.hourly, window)
                if counted and window.count > self.hourly:
                    await _refuse(scope, receive, send, _limited(self.hourly, window), figures)
                    return
                if socket:  # a handshake's answer carries no headers of ours
                    figures = None
        try:
            self._check(scope, headers, opt, opened)
        except EchoError as exc:
            await _refuse(scope, receive, send, exc, figures)
            return
        if self.tool_hourly > 0 and scope["path"] == TOOL_ROUTE and scope.get("method") == "POST":
            window = await self.policy.counters.hit(f"ToolCallRateLimit::{caller.limit_key}", HOUR, count=True)
            if window.count > self.tool_hourly:
                await _refuse(scope, receive, send, _limited(self.tool_hourly, window), _figures(self.tool_hourly, window))
                return
        send = send if figures is None else _with_headers(send, figures)
        fast = opt.get(FAST_READ)
        if fast is not None and scope.get("method") == "GET" and await answer(fast, scope, send, headers.get("if-none-match")):
            return
        await self.app(scope, receive, send)

    async def _identify(self, scope: Scope, headers: dict[str, str], state: dict[str, Any], opened: bool) -> Caller:
        peer = scope.get("client")
        address = client_address(peer[0] if peer else None, headers.get("x-forwarded-for"), self.policy.trusted_proxies)
        if opened or scope.get("method") == "OPTIONS":
            return ANONYMOUS.at(address)
        try:
            return await self.policy.identify(headers, address)
        except Unauthorized as exc:  # answered after the limit has counted the attempt
            state["auth_error"] = exc
            return ANONYMOUS.at(address)

    def _host_ok(self, host: str | None, scope: Scope) -> bool:
        known = self._hosts.get(host or "")
        if known is None:
            if len(self._hosts) >= _HOSTS_KEPT:
                self._hosts.clear()
            known = self._hosts[host or ""] = host_allowed(host, self.policy.allowed_hosts)
        return known or local_by_name(host, scope.get("client"))

    def _check(self, scope: Scope, headers: dict[str, str], opt: dict[str, Any], opened: bool) -> None:
        host = headers.get("host")
        if not self._host_ok(host, scope):
            raise BadRequest("This server does not answer to that Host name (see ECHO_ALLOWED_HOSTS)", details={"host": (host or "")[:100]})
        is_socket = scope["type"] == ScopeType.WEBSOCKET
        method = "GET" if is_socket else scope.get("method", "GET")
        if (is_socket or method not in READ_METHODS or opt.get(ORIGIN_ON_EVERY_METHOD)) and not origin_allowed(
            headers.get("origin"), host, scope.get("scheme", "http"), self.policy.allowed_origins
        ):
            raise Forbidden(
                "Requests from this browser origin are not allowed (see ECHO_ALLOWED_ORIGINS)",
                details={"origin": (headers.get("origin") or "")[:200]},
            )
        if not is_socket and method not in READ_METHODS:
            _check_body_type(headers, opt)
        if opened or method == "OPTIONS":
            return
        state = scope["state"]
        if (error := state.get("auth_error")) is not None:
            raise error
        if state["caller"].read_only and not is_socket and method not in READ_METHODS and not opt.get(READS_BY_PROTOCOL):
            raise Forbidden("This key may only read (GET and live streams)")


def _check_body_type(headers: dict[str, str], opt: dict[str, Any]) -> None:
    has_body = "transfer-encoding" in headers or headers.get("content-length", "0").strip() not in ("", "0")
    if not has_body:
        return
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json")):
        return
    if media == UPLOAD_TYPE and opt.get(ACCEPTS_UPLOAD):
        return
    raise UnsupportedMediaType(
        f"Content-Type {media or '(none)'!r} is not accepted: send the body as application/json",
        details={"content_type": media[:100]},
    )


def _figures(limit: int, window: Window) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(0, limit - window.count)),
        "X-RateLimit-Reset": str(window.reset),
    }


def _limited(limit: int, window: Window) -> RateLimited:
    retry = max(1, window.reset - int(time.time()))
    return RateLimited(
        f"Rate limit exceeded: {limit} requests per hour; retry in {retry} s",
        retry_after=retry,
        details={"limit": limit, "window": "hour"},
    )


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: EchoError, figures: dict[str, str] | None) -> None:
    if scope["type"] == ScopeType.WEBSOCKET:
        headers = dict(figures or {})
        if isinstance(exc, RateLimited):  # an HTTP answer gets it from the error mapping
            headers["Retry-After"] = str(exc.retry_after)
        await deny_websocket(scope, receive, send, status_of(exc), exc, headers or None)
    else:
        await send_error(scope, receive, send, exc, figures)


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            target = MutableScopeHeaders.from_message(message)
            for name, value in headers.items():
                # A refusal further in (tool calls) set its own figures.
                if name not in target:
                    target[name] = value
        await send(message)

    return wrapped
