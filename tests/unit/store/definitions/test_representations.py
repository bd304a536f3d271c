from __future__ import annotations

import msgspec

from echo_orchestrator.store.definitions import codec
from echo_orchestrator.store.definitions.representations import Representations
from tests.factories import agent


def test_an_entity_is_encoded_once_and_as_the_api_sends_it() -> None:
    cache = Representations()
    entity = agent("agt_1")
    first = cache.of(entity)
    assert cache.of(entity) is first
    assert first.body == msgspec.json.encode(entity)
    assert first.etag == codec.etag(entity)


def test_an_equal_but_new_object_is_encoded_afresh() -> None:
    # The index replaces an entity on change: a new object must never get an old encoding.
    cache = Representations()
    old = cache.of(agent("agt_1", name="Old"))
    new = cache.of(agent("agt_1", name="New"))
    assert new.etag != old.etag and b'"New"' in new.body


def test_the_cache_is_bounded_and_keeps_what_is_read() -> None:
    cache = Representations(size=2)
    a, b, c = agent("agt_a"), agent("agt_b"), agent("agt_c")
    kept = cache.of(a)
    cache.of(b)
    cache.of(a)  # read again: the most recent
    cache.of(c)  # b goes
    assert cache.of(a) is kept
    assert len(cache._items) == 2
