"""The file backend against the store contract."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from echo_orchestrator.store.definitions.files import FileDefinitionStore
from tests.contract.definition_store_contract import DefinitionStoreContract, StoreFactory
from tests.contract.opening import opening


class TestFileStoreContract(DefinitionStoreContract):
    @pytest.fixture
    async def make_store(self, tmp_path: Path) -> AsyncIterator[StoreFactory]:
        async with opening(lambda: FileDefinitionStore(tmp_path / "storage")) as factory:
            yield factory
