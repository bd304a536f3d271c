from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of this test session's own on the test PostgreSQL server (its URL)."""
    from tests.helpers.postgres import temporary_database

    with temporary_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The test Redis server's URL (it answered)."""
    from tests.helpers.redis import require_redis

    return require_redis()
