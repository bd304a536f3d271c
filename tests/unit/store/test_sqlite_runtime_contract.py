"""The SQLite runtime store against the runtime contract, and its checkpointer against
LangGraph's published checkpoint conformance suite."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate

from echo_orchestrator.store.checkpoints import RecordsFirstSaver
from echo_orchestrator.store.sqlite_runtime import SqliteRuntimeStore
from tests.contract.runtime_contract import RuntimeFactory, RuntimeStoreContract


class TestSqliteRuntimeContract(RuntimeStoreContract):
    @pytest.fixture
    async def make_runtime(self, tmp_path: Path) -> AsyncIterator[RuntimeFactory]:
        opened: list[SqliteRuntimeStore] = []

        async def factory(owner: str) -> SqliteRuntimeStore:
            store = SqliteRuntimeStore(tmp_path / "runtime.sqlite", owner=owner)
            await store.open()
            opened.append(store)
            return store

        yield factory
        for store in opened:
            await store.close()


@pytest.mark.anyio
async def test_records_first_saver_passes_langgraph_checkpoint_conformance(tmp_path: Path) -> None:
    flushes: list[int] = []
    count = 0

    @checkpointer_test(name="RecordsFirstSaver")
    async def saver() -> AsyncGenerator[RecordsFirstSaver, None]:
        nonlocal count
        count += 1
        store = SqliteRuntimeStore(tmp_path / f"conformance-{count}.sqlite", owner="test")
        await store.open()
        checkpointer = await store.checkpointer()
        assert isinstance(checkpointer, RecordsFirstSaver)
        original = checkpointer._flush_records

        async def counted() -> None:
            flushes.append(1)
            await original()

        checkpointer._flush_records = counted
        yield checkpointer
        await store.close()

    report = await validate(saver)
    failures = {name: result for name, result in report.results.items() if result.passed is False}
    assert not failures, failures
    # every base capability ran and passed; the records were flushed before the writes
    assert all(report.results[name].passed for name in ("put", "put_writes", "get_tuple", "list", "delete_thread"))
    assert flushes and report.results["put"].tests_passed > 0
