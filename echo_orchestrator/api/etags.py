"""Entity tags on definition reads: `ETag` on every `GET` of an agent, a draft, a temp copy
or a final version; `If-None-Match` answers 304 (finals are immutable, so their tag never
changes). Writes take `If-Match` (checked by the services, inside the entity's lock)."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from litestar import Response
from litestar.params import HeaderParameter

from echo_orchestrator.services.preconditions import matches
from echo_orchestrator.store import codec

T = TypeVar("T")

IfMatch = Annotated[
    str | None,
    HeaderParameter(name="If-Match", required=False, max_length=1000, description="the ETag read; 412 if the entity changed since"),
]
IfNoneMatch = Annotated[
    str | None, HeaderParameter(name="If-None-Match", required=False, max_length=1000, description="304 when it still matches")
]


def tagged(entity: T, if_none_match: str | None, *, immutable: bool = False) -> Response[T]:
    tag = codec.etag(entity)
    headers = {"ETag": tag}
    if immutable:
        headers["Cache-Control"] = "public, max-age=31536000, immutable"
    if if_none_match is not None and matches(if_none_match, tag):
        response: Response[Any] = Response(content=None, status_code=304, headers=headers)
        return response
    return Response(entity, headers=headers)
