"""Entity tags on definition reads: `ETag` on every `GET` of an agent, a draft, a temp copy
or a final version; `If-None-Match` answers 304 (finals are immutable, so their tag never
changes). Writes take `If-Match` (checked by the services, inside the entity's lock)."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from litestar import Response
from litestar.params import HeaderParameter

from echo_orchestrator.services.preconditions import matches
from echo_orchestrator.store.definitions import codec
from echo_orchestrator.store.definitions.representations import Encoded

T = TypeVar("T")

IfMatch = Annotated[
    str | None,
    HeaderParameter(name="If-Match", required=False, max_length=1000, description="the ETag read; 412 if the entity changed since"),
]
IfNoneMatch = Annotated[
    str | None, HeaderParameter(name="If-None-Match", required=False, max_length=1000, description="304 when it still matches")
]


def tagged(entity: T, if_none_match: str | None, *, immutable: bool = False) -> Response[T]:
    """An entity just written (its tag computed here)."""
    return _answer(entity, codec.etag(entity), if_none_match, immutable)


def representation(encoded: Encoded, if_none_match: str | None, *, immutable: bool = False) -> Response[Any]:
    """A stored entity read: its bytes and tag as the store keeps them (the handler's return
    annotation names the model, for the OpenAPI schema; the bytes are that model's JSON)."""
    return _answer(encoded.body, encoded.etag, if_none_match, immutable)


def _answer(content: Any, tag: str, if_none_match: str | None, immutable: bool) -> Response[Any]:
    headers = {"ETag": tag}
    if immutable:
        headers["Cache-Control"] = "public, max-age=31536000, immutable"
    if if_none_match is not None and matches(if_none_match, tag):
        return Response(content=None, status_code=304, headers=headers)
    return Response(content, headers=headers)
