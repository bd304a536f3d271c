"""Definitions edited under PostgreSQL advisory locks (the runtime being PostgreSQL): the
definition store contract with them, and their exclusion between processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from echo_orchestrator.store.cluster.advisory_locks import PostgresMutexes
from echo_orchestrator.store.definitions.files import FileDefinitionStore
from echo_orchestrator.store.definitions.locks import EntityLocks
from echo_orchestrator.store.runtime.postgres_connect import advisory_key
from tests.contract.definition_store_contract import DefinitionStoreContract, StoreFactory
from tests.contract.opening import opening
from tests.helpers.postgres import new_schema


class TestFileStoreWithPostgresLocksContract(DefinitionStoreContract):
    @pytest.fixture
    async def make_store(self, tmp_path: Path, postgres_database: str) -> AsyncIterator[StoreFactory]:
        url = new_schema(postgres_database)
        async with opening(lambda: FileDefinitionStore(tmp_path / "storage", mutexes=PostgresMutexes(url))) as factory:
            yield factory


@pytest.fixture
async def two_processes(postgres_database: str) -> AsyncIterator[tuple[EntityLocks, EntityLocks]]:
    # Two sets of locks with pools of their own: as two nodes would have.
    first, second = PostgresMutexes(postgres_database), PostgresMutexes(postgres_database)
    await first.open()
    await second.open()
    yield EntityLocks(first), EntityLocks(second)
    await first.close()
    await second.close()


@pytest.mark.anyio
async def test_a_lock_held_by_one_node_excludes_the_other_until_released(two_processes: tuple[EntityLocks, EntityLocks]) -> None:
    node_a, node_b = two_processes
    order: list[str] = []

    async def b_wants_it() -> None:
        async with node_b.hold("agent:shared"):
            order.append("b holds")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg, node_a.hold("agent:shared"):
            tg.start_soon(b_wants_it)
            await anyio.sleep(0.5)
            order.append("a releases")
    assert order == ["a releases", "b holds"]
    async with node_a.hold("agent:shared", "agent:shared"), node_a.hold("agent:shared"):  # re-entrant, and free again
        pass


@pytest.mark.anyio
async def test_a_waiter_cancelled_leaves_no_lock_behind(two_processes: tuple[EntityLocks, EntityLocks]) -> None:
    node_a, node_b = two_processes
    async with node_a.hold("workflow:w1"):
        with anyio.move_on_after(0.3) as waited:
            async with node_b.hold("workflow:w1"):
                pytest.fail("got a lock another node holds")
        assert waited.cancelled_caught
    with anyio.fail_after(5):  # neither node keeps it
        async with node_b.hold("workflow:w1"), node_a.hold("workflow:w2"):
            pass


def test_keys_spread_over_64_bits_and_differ_by_kind() -> None:
    keys = {advisory_key(f"entity:agent:{i}") for i in range(1000)}
    assert len(keys) == 1000 and advisory_key("entity:agent:x") != advisory_key("entity:slug:x")
    assert all(-(2**63) <= k < 2**63 for k in keys)
