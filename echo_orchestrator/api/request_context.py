"""Request ids and request counting, for every HTTP response including routing 404s.

Litestar's route middleware does not run for requests that match no route, so both are
done in an app-level `before_send` hook, with the id kept in the ASGI scope state where
the error handlers read it too.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections import Counter
from typing import Any

import msgspec
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import BeforeMessageSendHookHandler, Message, Scope

from echo_orchestrator import metrics as prometheus

REQUEST_ID_HEADER = "x-request-id"
_HEADER_BYTES = REQUEST_ID_HEADER.encode()
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNMATCHED = "<unmatched>"
# New ids: a random prefix per process and a counter (unique, not secret; a fresh random
# id per request cost more than the rest of the request-id handling).
_ID_PREFIX = secrets.token_hex(4)
_id_counter = itertools.count(1)


def request_id_from(given: str | None) -> str:
    """The client's `X-Request-ID` if it is sane, else a new one."""
    if given is not None and _VALID_ID.match(given):
        return given
    return f"req_{_ID_PREFIX}{next(_id_counter) & 0xFFFFFFFF:08x}"


def request_id_of(scope: Scope) -> str:
    """The request's id, stable per request (the gate sets it; a request that matched no
    route never passed the gate)."""
    state = scope.setdefault("state", {})
    rid = state.get("request_id")
    if rid is None:
        given = next((value for name, value in scope.get("headers", ()) if name == _HEADER_BYTES), None)
        rid = state["request_id"] = request_id_from(None if given is None else given.decode("latin-1"))
    return str(rid)


class RequestCounts(msgspec.Struct, kw_only=True):
    total: int
    per_minute: float
    by_endpoint: dict[str, int]
    by_status: dict[str, int]


class RequestMetrics:
    """Counts responses by route template and status; a 60-slot ring gives the last minute."""

    def __init__(self) -> None:
        self.total = 0
        self.by_endpoint: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self._slots = [0] * 60
        self._slot_second = [0] * 60

    def record(self, endpoint: str, status: int, now: float | None = None) -> None:
        second = int(time.time() if now is None else now)
        i = second % 60
        if self._slot_second[i] != second:
            self._slot_second[i], self._slots[i] = second, 0
        self._slots[i] += 1
        self.total += 1
        self.by_endpoint[endpoint] += 1
        self.by_status[str(status)] += 1

    def last_minute(self, now: float | None = None) -> int:
        second = int(time.time() if now is None else now)
        return sum(n for n, s in zip(self._slots, self._slot_second, strict=True) if second - s < 60)

    def snapshot(self) -> RequestCounts:
        return RequestCounts(
            total=self.total,
            per_minute=float(self.last_minute()),
            by_endpoint=dict(self.by_endpoint.most_common()),
            by_status=dict(sorted(self.by_status.items())),
        )


ACCESS = logging.getLogger("echo_orchestrator.access")


def make_before_send(metrics: RequestMetrics, *, access_log: bool = False) -> BeforeMessageSendHookHandler:
    # prometheus_client's `labels()` hashes and checks its arguments each time (about 2 µs,
    # twice a request); the children are few (method x route x status) and kept here.
    counted: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope["type"] != ScopeType.HTTP:
            return
        rid = request_id_of(scope)
        MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = rid
        route = scope.get("path_template") or UNMATCHED
        metrics.record(route, message["status"])
        method = str(scope.get("method", "GET"))
        key = (method, route, message["status"])
        children = counted.get(key)
        if children is None:
            children = counted[key] = (
                prometheus.HTTP_REQUESTS.labels(method, route, str(key[2])),
                prometheus.HTTP_SECONDS.labels(method, route),
            )
        children[0].inc()
        started = scope.get("state", {}).get("started")
        if started is not None:
            children[1].observe(time.perf_counter() - started)
        if access_log and ACCESS.isEnabledFor(logging.INFO):
            state = scope.get("state", {})
            started = state.get("started")
            caller = state.get("caller")
            ACCESS.info(
                "%s %s %s",
                scope.get("method"),
                scope.get("path"),
                message["status"],
                extra={
                    "request_id": rid,
                    "method": scope.get("method"),
                    "route": route,
                    "path": scope.get("path"),
                    "status": message["status"],
                    "duration_ms": None if started is None else round((time.perf_counter() - started) * 1000, 2),
                    "caller": getattr(caller, "id", None),
                },
            )

    return before_send
