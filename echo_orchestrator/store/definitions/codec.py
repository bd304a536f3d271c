"""Definition files as bytes: deterministic out, strict in.

Same content gives the same bytes: struct fields in declaration order, free-form dict keys
sorted, 2-space indent, UTF-8 (no `\\u` escapes), one trailing newline. So `git diff`
after an edit shows only the edit.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, TypeVar

import msgspec

from echo_orchestrator.errors import Invalid

T = TypeVar("T")

_encoder = msgspec.json.Encoder(order="deterministic")
_AT_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def encode(value: Any) -> bytes:
    return msgspec.json.format(_encoder.encode(value), indent=2) + b"\n"


def etag(value: Any) -> str:
    """A strong HTTP entity tag of a definition: the hash of the bytes its file holds, so
    it changes exactly when the file would."""
    return '"' + hashlib.sha256(encode(value)).hexdigest()[:32] + '"'


# Building a decoder for a model costs far more than one decode: one per type, reused.
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def decode(data: bytes, type: type[T]) -> T:
    decoder = _decoders.get(type)
    if decoder is None:
        decoder = _decoders[type] = msgspec.json.Decoder(type, strict=True)
    result: T = decoder.decode(data)
    return result


def split_error(exc: Exception) -> tuple[str, str]:
    """Split a msgspec error into (field path, message): "agents[0]", "Expected `str`, got `int`"."""
    text = str(exc)
    match = _AT_PATH.match(text)
    if match is None:  # pragma: no cover - the pattern matches any string
        return "", text
    path = (match.group("path") or "").lstrip(".")
    return path, match.group("message")


def convert(data: Any, into: type[T], *, where: str | None = None) -> T:
    """A request's plain data as a model, strictly; a schema problem is `Invalid` naming
    the field (under `where`, the part of the request the data came from)."""
    try:
        return msgspec.convert(data, into)
    except msgspec.ValidationError as exc:
        field, message = split_error(exc)
        path = ".".join(p for p in (where, field) if p) or "(body)"
        raise Invalid.at(path, message, f"Invalid {into.__name__.lower()}: {path}: {message}") from None
