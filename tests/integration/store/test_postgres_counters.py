"""Rate-limit windows counted in PostgreSQL: two nodes, one count."""

from __future__ import annotations

import anyio
import pytest

from echo_orchestrator.store.postgres_counters import PostgresCounters
from tests.helpers.postgres import new_schema


@pytest.mark.anyio
async def test_two_nodes_hitting_at_once_share_one_count(postgres_database: str) -> None:
    url = new_schema(postgres_database)
    nodes = [PostgresCounters(url), PostgresCounters(url)]
    for node in nodes:
        await node.open()
    counts: list[int] = []

    async def hit(node: PostgresCounters) -> None:
        counts.append((await node.hit("key:shared", 3600, count=True)).count)

    async with anyio.create_task_group() as tg:
        for i in range(40):
            tg.start_soon(hit, nodes[i % 2])
    assert sorted(counts) == list(range(1, 41))  # no count given twice, none lost
    read = await nodes[1].hit("key:shared", 3600, count=False)
    assert read.count == 40
    assert (await nodes[0].hit("key:other", 3600, count=False)).count == 0
    for node in nodes:
        await node.close()


@pytest.mark.anyio
async def test_an_ended_window_starts_over(postgres_database: str) -> None:
    node = PostgresCounters(new_schema(postgres_database))
    await node.open()
    assert (await node.hit("key:a", 1, count=True)).count == 1
    assert (await node.hit("key:a", 1, count=True)).count == 2
    await anyio.sleep(2.1)
    assert (await node.hit("key:a", 1, count=True)).count == 1
    await node.close()
