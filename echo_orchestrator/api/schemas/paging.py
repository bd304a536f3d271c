"""Bounds of every paged list: a page is at most 1000 rows (10,000 for events), and an
offset past ten million is refused (422), so no query parameter reaches the database as a
number it cannot hold."""

from __future__ import annotations

MAX_OFFSET = 10_000_000
# Event sequence numbers a client may name (`after_seq`, `Last-Event-ID`).
MAX_SEQ = 1_000_000_000_000
