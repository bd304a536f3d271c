from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from echo_orchestrator.api.app import create_app
from echo_orchestrator.settings import Settings


@pytest.fixture
def fresh_client(tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    """The app on an empty storage folder (no plugins folder, no watchers)."""
    app = create_app(Settings(storage_dir=tmp_path / "storage", plugins_dir=None, watch=False, watch_plugins=False))  # type: ignore[arg-type]
    with TestClient(app) as client:
        yield client
