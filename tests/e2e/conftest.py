"""Every test under tests/e2e/ starts real processes: marked `e2e`, so the fast loop
(`-m "not e2e and not slow"`) leaves them out whether or not a file says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.server import RunningServer, running_server
from tests.helpers.storage import copy_storage

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    """A fresh copy of the shipped storage folder (a file may define its own)."""
    return copy_storage(tmp_path / "storage")


@pytest.fixture
def server(storage: Path, tmp_path: Path) -> Iterator[RunningServer]:
    """The real server on it, logging at info (a file may define its own)."""
    with running_server(storage, "--plugins-dir", str(tmp_path / "plugins"), "--log-level", "info") as running:
        yield running
