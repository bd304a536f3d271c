"""The request class: JSON bodies are checked for invalid UTF-8 and excessive nesting
before anything decodes them (400 with the error body, never a 500 from deep in a decoder)."""

from __future__ import annotations

from typing import Any, TypeVar

import anyio.to_thread
import msgspec
from litestar import Request

from echo_orchestrator.errors import BadRequest
from echo_orchestrator.security.payloads import DEFAULT_MAX_DEPTH, check_json_payload
from echo_orchestrator.store.definitions import codec

T = TypeVar("T")

# A body this large is checked in a worker thread, not on the event loop.
_THREADED_BYTES = 256 * 1024


async def checked_body(request: Request[Any, Any, Any]) -> bytes:
    return await checked_json(request, await request.body())


async def checked_json(request: Request[Any, Any, Any], data: bytes) -> bytes:
    """`data` (a body, an uploaded JSON file) checked as every JSON body is: UTF-8, nesting."""
    depth = int(request.app.state.get("max_json_depth", DEFAULT_MAX_DEPTH))
    if len(data) > _THREADED_BYTES:
        await anyio.to_thread.run_sync(check_json_payload, data, depth)
    else:
        check_json_payload(data, depth)
    return data


def parse_json(body: bytes) -> Any:
    """A body a route reads itself: malformed JSON is a 400, as for the bodies Litestar decodes."""
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BadRequest(f"JSON is malformed: {exc}") from None


def decode_body(body: bytes, into: type[T]) -> T:
    """The same, as a model: a schema problem is a 422 naming the field."""
    return codec.convert(parse_json(body), into)


class EchoRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        await checked_body(self)
        return await super().json()
