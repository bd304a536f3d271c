from __future__ import annotations

import time

import anyio
import pytest

from echo_orchestrator.backends import counters_for
from echo_orchestrator.store.counters import FailOpen, MemoryCounters, Window


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
    shared = counters_for("postgresql://u@h/db")
    assert isinstance(shared, FailOpen) and isinstance(shared.inner, PostgresCounters)
    from echo_orchestrator.store.cluster.redis_counters import RedisCounters

    on_redis = counters_for("postgresql://u@h/db", "redis://h:6379/0")
    assert isinstance(on_redis, FailOpen) and isinstance(on_redis.inner, RedisCounters)


class _Away:
    """Counters whose store is gone (raises) or hangs."""

    def __init__(self, hang: bool) -> None:
        self.hang = hang

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def hit(self, key: str, seconds: int, *, count: bool) -> Window:
        if self.hang:
            await anyio.sleep(60)
        raise ConnectionError("gone")


@pytest.mark.anyio
@pytest.mark.parametrize("hang", [False, True])
async def test_counters_whose_store_is_away_let_requests_through_uncounted(hang: bool) -> None:
    counters = FailOpen(_Away(hang), seconds=0.05)
    with anyio.fail_after(2):  # a hung store costs the request its bound, not a hang
        window = await counters.hit("key:a", 10, count=True)
    assert window.count == 0 and window.reset >= int(time.time()) + 9
