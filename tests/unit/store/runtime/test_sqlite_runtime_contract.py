"""The SQLite runtime store against the runtime contract, and its checkpointer against
LangGraph's published checkpoint conformance suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from echo_orchestrator.store.runtime.sqlite import SqliteRuntimeStore
from tests.contract.checkpoint_conformance import assert_conformance
from tests.contract.opening import opening
from tests.contract.runtime_contract import RuntimeFactory, RuntimeStoreContract


class TestSqliteRuntimeContract(RuntimeStoreContract):
    @pytest.fixture
    async def make_runtime(self, tmp_path: Path) -> AsyncIterator[RuntimeFactory]:
        async with opening(lambda owner: SqliteRuntimeStore(tmp_path / "runtime.sqlite", owner=owner)) as factory:
            yield factory


@pytest.mark.anyio
async def test_records_first_saver_passes_langgraph_checkpoint_conformance(tmp_path: Path) -> None:
    count = 0

    async def new_store() -> SqliteRuntimeStore:
        nonlocal count
        count += 1
        return SqliteRuntimeStore(tmp_path / f"conformance-{count}.sqlite", owner="test")

    await assert_conformance("RecordsFirstSaver", new_store)
