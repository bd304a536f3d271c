"""Definitions as the API sends them, encoded once per version of the file.

A read of an agent or a workflow version is answered with the entity's JSON and its ETag.
Both are pure functions of the entity, and the index never changes an entity it holds (a
change loads a new object; readers get copies), so an entity object's encoding never
changes: it is kept, keyed by the object's identity (the object itself is kept too, so the
identity cannot be reused). A final version is immutable, so its bytes are computed once in
the process's life; an edited draft is a new object, so it is encoded once per edit.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import msgspec

from echo_orchestrator.store.definitions import codec

# Bounded so that a store with many definitions holds the most read ones, not all.
DEFAULT_SIZE = 4096


class Encoded(msgspec.Struct, frozen=True):
    """An entity's JSON as the API sends it (compact) and its ETag (the hash of its file's bytes)."""

    body: bytes
    etag: str


class Representations:
    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[int, tuple[Any, Encoded]] = OrderedDict()

    def of(self, entity: Any) -> Encoded:
        key = id(entity)
        held = self._items.get(key)
        if held is not None and held[0] is entity:
            self._items.move_to_end(key)
            return held[1]
        encoded = Encoded(body=msgspec.json.encode(entity), etag=codec.etag(entity))
        self._items[key] = (entity, encoded)
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return encoded
