"""Definition reads answered by the gate, past Litestar's per-route machinery.

A `GET` of a final version, an agent or a workflow's catalogue page is the API's most
frequent call and does the same work whatever the request holds but the ids in its path:
Litestar's signature model, dependency injection, header parsing and `Response` building
were half of such a request's time (docs/performance.md). A route handler whose `opt`
carries a `FastRead` is answered here, once the gate has let the request through (same
keys, limits, Host and Origin rules, request id and counting), with the same status,
headers and bytes the route would send (a contract test compares them). Anything but a
plain success (an unknown id, a bad path value) is left to the route, which answers it
with the one error body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar.serialization import encode_json
from litestar.types import Scope, Send

from echo_orchestrator.errors import EchoError
from echo_orchestrator.services.preconditions import matches
from echo_orchestrator.store.definitions.representations import Encoded

if TYPE_CHECKING:
    from echo_orchestrator.container import Services

# The route handler `opt` key a fast read is kept under.
FAST_READ = "fast_read"
IMMUTABLE = b"public, max-age=31536000, immutable"
_JSON = (b"content-type", b"application/json")


@dataclass(frozen=True, slots=True)
class FastRead:
    """How to read a route's answer from the services and its path parameters: an entity
    as stored (`Encoded`: its bytes and ETag), the JSON the route would send (`bytes`), or
    a model the route would have encoded."""

    read: Callable[[Services, dict[str, Any]], Awaitable[Encoded | bytes | Any]]
    immutable: bool = False


async def answer(fast: FastRead, scope: Scope, send: Send, if_none_match: str | None) -> bool:
    """Send the route's answer; False (nothing sent) when the route should answer instead."""
    try:
        found = await fast.read(scope["litestar_app"].state.services, scope["path_params"])
    except EchoError:
        return False  # the route meets it again, with its checks and the error body
    headers: list[tuple[bytes, bytes]] = []
    if isinstance(found, Encoded):
        body, tag = found.body, found.etag.encode("latin-1")
        headers.append((b"etag", tag))
        if fast.immutable:
            headers.append((b"cache-control", IMMUTABLE))
        if if_none_match is not None and matches(if_none_match, found.etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return True
    else:
        body = found if isinstance(found, bytes) else encode_json(found)
    headers += [_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
    return True
