"""Hostile JSON, refused before it is decoded: invalid UTF-8, and nesting deeper than a cap.

Deep nesting (`[[[[…]]]]` a thousand levels down) makes recursive decoders and everything
that walks the result afterwards run out of stack; the cap (default 64, `ECHO_MAX_JSON_DEPTH`)
is far deeper than any definition needs. The depth is measured without decoding and at C
speed: strings are cut out, everything but brackets is dropped, then innermost `[]`/`{}` pairs
are removed one level per pass; what is left after `limit` passes is deeper than allowed.
"""

from __future__ import annotations

import re

from echo_orchestrator.errors import BadRequest

DEFAULT_MAX_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


def nesting_exceeds(data: bytes, limit: int) -> bool:
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        if not brackets:
            return False
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if len(shorter) == len(brackets):
            return False  # unbalanced: malformed, which the decoder reports in its own words
        brackets = shorter
    return bool(brackets)


def check_json_payload(data: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """BadRequest (400) for a body no JSON route should try to decode."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest.at("(body)", "invalid UTF-8", f"The body is not valid UTF-8 (byte {exc.start})") from None
    if nesting_exceeds(data, max_depth):
        raise BadRequest.at(
            "(body)", f"nesting deeper than {max_depth}", f"JSON nested deeper than {max_depth} levels is not accepted", max_depth=max_depth
        )
