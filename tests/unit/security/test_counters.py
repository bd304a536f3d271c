from __future__ import annotations

import time

import pytest

from echo_orchestrator.backends import counters_for
from echo_orchestrator.store.counters import MemoryCounters


@pytest.mark.anyio
async def test_a_window_counts_then_starts_over_when_it_ends() -> None:
    counters = MemoryCounters()
    first = await counters.hit("key:a", 1, count=True)
    assert first.count == 1 and first.reset >= int(time.time())
    assert (await counters.hit("key:a", 1, count=True)).count == 2
    assert (await counters.hit("key:a", 1, count=False)).count == 2  # a read counts nothing
    assert (await counters.hit("key:b", 1, count=True)).count == 1  # per key
    counters._windows["key:a"] = (2, int(time.time()) - 1)  # the window has ended
    assert (await counters.hit("key:a", 1, count=True)).count == 1


def test_the_shared_runtime_gets_shared_counters() -> None:
    from echo_orchestrator.store.cluster.postgres_counters import PostgresCounters

    assert isinstance(counters_for(None), MemoryCounters)
    assert isinstance(counters_for("sqlite:///x.sqlite"), MemoryCounters)
    assert isinstance(counters_for("postgresql://u@h/db"), PostgresCounters)
    from echo_orchestrator.store.cluster.redis_counters import RedisCounters

    assert isinstance(counters_for("postgresql://u@h/db", "redis://h:6379/0"), RedisCounters)
