"""Rate-limit windows shared by the nodes of a cluster: in PostgreSQL, or in Redis when
`ECHO_REDIS_URL` is set. One contract, both backends: two nodes, one count."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import anyio
import pytest

from echo_orchestrator.store.cluster.postgres_counters import PostgresCounters
from echo_orchestrator.store.cluster.redis_counters import RedisCounters
from echo_orchestrator.store.counters import WindowCounters
from tests.helpers.postgres import new_schema
from tests.helpers.redis import forget_cluster

pytestmark = pytest.mark.anyio

Factory = Callable[[], WindowCounters]


@pytest.fixture(params=["postgres", "redis"])
async def make_counters(request: pytest.FixtureRequest, postgres_database: str) -> AsyncIterator[Factory]:
    url = new_schema(postgres_database)
    redis = request.getfixturevalue("redis_server") if request.param == "redis" else None
    opened: list[WindowCounters] = []

    def make() -> WindowCounters:
        counters: WindowCounters = PostgresCounters(url) if redis is None else RedisCounters(redis, url)
        opened.append(counters)
        return counters

    yield make
    for counters in opened:
        await counters.close()
    if redis is not None:
        forget_cluster(url)


async def test_two_nodes_hitting_at_once_share_one_count(make_counters: Factory) -> None:
    nodes = [make_counters(), make_counters()]
    for node in nodes:
        await node.open()
    counts: list[int] = []

    async def hit(node: WindowCounters) -> None:
        counts.append((await node.hit("key:shared", 3600, count=True)).count)

    async with anyio.create_task_group() as tg:
        for i in range(40):
            tg.start_soon(hit, nodes[i % 2])
    assert sorted(counts) == list(range(1, 41))  # no count given twice, none lost
    read = await nodes[1].hit("key:shared", 3600, count=False)
    assert read.count == 40 and 0 < read.reset - int(time.time()) <= 3600
    assert (await nodes[0].hit("key:other", 3600, count=False)).count == 0


@pytest.mark.slow  # waits on real timeouts (seconds): out of the fast loop, in every full run
async def test_an_ended_window_starts_over(make_counters: Factory) -> None:
    node = make_counters()
    await node.open()
    assert (await node.hit("key:a", 1, count=True)).count == 1
    assert (await node.hit("key:a", 1, count=True)).count == 2
    await anyio.sleep(2.1)
    assert (await node.hit("key:a", 1, count=True)).count == 1
