"""The pool's check of a connection before it is handed out, on a real server: a connection
given back a moment ago goes out unchecked (no round trip); one idle for longer is checked,
and one the server closed meanwhile is replaced, not failed on."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from echo_orchestrator.store.runtime import postgres_connect
from echo_orchestrator.store.runtime.postgres_connect import conninfo, opened_pool

pytestmark = pytest.mark.anyio


async def _backend_pid(pool: AsyncConnectionPool[Any]) -> int:
    async with pool.connection() as conn:
        return int(conn.info.backend_pid)


async def test_a_connection_used_a_moment_ago_is_not_checked_and_a_closed_one_is_replaced(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[int] = []
    real = AsyncConnectionPool.check_connection

    async def counted(conn: psycopg.AsyncConnection[Any]) -> None:
        checks.append(conn.info.backend_pid)
        await real(conn)

    monkeypatch.setattr(AsyncConnectionPool, "check_connection", counted)
    pool = await opened_pool(conninfo(postgres_database), name="fresh-test", max_size=1, wait_seconds=5)
    try:
        first = await _backend_pid(pool)  # never handed out before: checked
        for _ in range(5):
            assert await _backend_pid(pool) == first
        assert len(checks) == 1  # the five after it went out as they were

        monkeypatch.setattr(postgres_connect, "FRESH_SECONDS", 0.0)  # now everything is idle "long"
        async with await psycopg.AsyncConnection.connect(postgres_database, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        replaced = await _backend_pid(pool)  # checked, found closed, replaced: no error
        assert replaced != first and len(checks) >= 2
    finally:
        await pool.close()
