"""The SQLite runtime store against the runtime contract, and its checkpointer against
LangGraph's published checkpoint conformance suite."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from echo_orchestrator.store.runtime.sqlite import SqliteRuntimeStore
from tests.contract.checkpoint_conformance import assert_conformance
from tests.contract.opening import opening
from tests.contract.retention_contract import RetentionContract, add_run
from tests.contract.runtime_contract import RuntimeFactory, RuntimeStoreContract


class TestSqliteRuntimeContract(RuntimeStoreContract, RetentionContract):
    @pytest.fixture
    async def make_runtime(self, tmp_path: Path) -> AsyncIterator[RuntimeFactory]:
        async with opening(lambda owner: SqliteRuntimeStore(tmp_path / "runtime.sqlite", owner=owner)) as factory:
            yield factory


@pytest.mark.anyio
async def test_buffered_sqlite_saver_passes_langgraph_checkpoint_conformance(tmp_path: Path) -> None:
    count = 0

    async def new_store() -> SqliteRuntimeStore:
        nonlocal count
        count += 1
        return SqliteRuntimeStore(tmp_path / f"conformance-{count}.sqlite", owner="test")

    await assert_conformance("BufferedSqliteSaver", new_store)


@pytest.mark.anyio
async def test_a_database_made_before_retention_is_switched_to_incremental_vacuum_once(tmp_path: Path) -> None:
    path = tmp_path / "runtime.sqlite"
    with sqlite3.connect(path) as made_before:  # no auto_vacuum, as releases before retention made them
        made_before.execute("CREATE TABLE kept (x)")
        made_before.execute("INSERT INTO kept VALUES (1)")
    store = SqliteRuntimeStore(path, owner="test")
    await store.open()
    await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # INCREMENTAL
        assert db.execute("SELECT x FROM kept").fetchall() == [(1,)]  # nothing lost by the VACUUM


@pytest.mark.anyio
async def test_a_little_free_space_is_kept_for_new_runs_rather_than_given_back(tmp_path: Path) -> None:
    store = SqliteRuntimeStore(tmp_path / "runtime.sqlite", owner="test")
    await store.open()
    try:
        ids = [f"run_{n}" for n in range(20)]
        for execution_id in ids:
            await add_run(store, execution_id, status="completed", ended_days_ago=40)
        await store.delete_ended(ids)
        free = (await store.database_size()).free_bytes
        assert free and await store.reclaim_space() == 0  # far below 64 MB: new runs reuse it
        assert (await store.database_size()).free_bytes == free
        assert await store.reclaim_space(above_bytes=0) > 0 and (await store.database_size()).free_bytes == 0
    finally:
        await store.close()
