"""Shared building blocks of the models: the base Struct, constrained strings, ids, time."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

# Ids become file names, so they are restricted to characters that are safe on every
# filesystem and never form a path ("..", "/"). Every pattern ends `(?!\n)$`: msgspec
# searches with `re`, where a bare `$` also matches before a final newline ("a\n" would
# pass); the lookahead keeps the pattern valid JSON Schema (ECMA) syntax, unlike `\Z`.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}(?!\n)$"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,127}(?!\n)$"
# Versions compare as dotted integers ("1.10" > "1.9"); up to four parts.
VERSION_PATTERN = r"^(0|[1-9][0-9]{0,8})(\.(0|[1-9][0-9]{0,8})){0,3}(?!\n)$"

Identifier = Annotated[str, msgspec.Meta(pattern=IDENTIFIER_PATTERN, description="letters, digits, _ . -")]
Slug = Annotated[str, msgspec.Meta(pattern=SLUG_PATTERN, description="lower-case letters, digits and -")]
Version = Annotated[str, msgspec.Meta(pattern=VERSION_PATTERN, examples=["1.0", "1.10", "2.1.0"])]
# A JSON object whose shape is its author's (inputs, outputs, run state, metadata, a JSON
# Schema): kept free-form on purpose, and named so where it appears.
FreeForm = dict[str, Any]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]
# Durations that must be more than nothing (a timeout of 0 or less could never be met).
Seconds = Annotated[float, msgspec.Meta(gt=0, description="seconds, more than 0")]


class Model(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every definition model.

    Unknown fields are refused rather than silently dropped: a typo in a hand-edited file
    under git ("agnets") is reported by `echo-orchestrator validate` instead of vanishing
    on the next save.
    """


class Record(msgspec.Struct, kw_only=True):
    """Base of runtime records (executions, events): tolerant, they are not hand-edited."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """The one timestamp format of every answer and event: RFC 3339 in UTC with `Z`, as
    msgspec encodes the models' own datetimes."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def utcnow_iso() -> str:
    """Second-precision UTC timestamp, as stored in definition metadata."""
    return rfc3339(utcnow().replace(microsecond=0))


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"
