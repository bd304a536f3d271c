from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from echo_orchestrator.api.app import create_app
from echo_orchestrator.settings import Settings
from tests.helpers.server import LOCAL
from tests.helpers.storage import copy_storage


@pytest.fixture
def fresh_client(tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    """The app on an empty storage folder (no plugins folder, no watchers)."""
    app = create_app(Settings(storage_dir=tmp_path / "storage", plugins_dir=None, watch=False, watch_plugins=False))  # type: ignore[arg-type]
    with TestClient(app, base_url=LOCAL) as client:
        yield client


REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def shipped_client(tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    """The app on a copy of the shipped storage folder (no plugins folder, no watchers)."""
    storage = tmp_path / "storage"
    copy_storage(storage)
    app = create_app(Settings(storage_dir=storage, plugins_dir=None, watch=False, watch_plugins=False))  # type: ignore[arg-type]
    with TestClient(app, base_url=LOCAL) as client:
        yield client
