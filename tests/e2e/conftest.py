"""Every test under tests/e2e/ starts real processes: marked `e2e`, so the fast loop
(`-m "not e2e and not slow"`) leaves them out whether or not a file says so."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)
