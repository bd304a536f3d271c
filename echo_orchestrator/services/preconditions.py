"""Optimistic concurrency for editors: `If-Match` against the stored entity's ETag.

Checked inside the entity's lock (see `store.editing_agent` / `editing_workflow`), so between
the check and the write no other writer can slip in.
"""

from __future__ import annotations

from typing import Any

from echo_orchestrator.errors import PreconditionFailed
from echo_orchestrator.store.definitions import codec


def matches(if_match: str, current_etag: str | None) -> bool:
    """RFC 9110 `If-Match`: `*` for "exists", else a list of strong tags (weak ones never match)."""
    if if_match.strip() == "*":
        return current_etag is not None
    tags = [t.strip() for t in if_match.split(",")]
    return current_etag is not None and current_etag in tags


def require_match(if_match: str | None, current: Any | None, what: str) -> None:
    if if_match is None:
        return
    current_etag = None if current is None else codec.etag(current)
    if not matches(if_match, current_etag):
        raise PreconditionFailed(
            f"{what} changed since it was read (If-Match {if_match[:80]} does not match): read it again",
            details={"etag": current_etag},
        )
