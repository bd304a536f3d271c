"""The file backend against the store contract."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from echo_orchestrator.store import FileDefinitionStore
from tests.contract.definition_store_contract import DefinitionStoreContract, StoreFactory


class TestFileStoreContract(DefinitionStoreContract):
    @pytest.fixture
    async def make_store(self, tmp_path: Path) -> AsyncIterator[StoreFactory]:
        opened: list[FileDefinitionStore] = []

        async def factory() -> FileDefinitionStore:
            store = FileDefinitionStore(tmp_path / "storage")
            await store.open()
            opened.append(store)
            return store

        yield factory
        for store in opened:
            await store.close()
