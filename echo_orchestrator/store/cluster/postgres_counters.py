"""Rate-limit windows in PostgreSQL (`store.counters`): one row per caller and limit,
counted by one upsert, so every node sees one count."""

from __future__ import annotations

import time
from typing import Any

from psycopg_pool import AsyncConnectionPool

from echo_orchestrator.store.counters import Window
from echo_orchestrator.store.runtime.postgres_connect import conninfo, opened_pool

# The table is made here (not by the runtime's migrations): rows are throw-away counts,
# an UNLOGGED table skips the write-ahead log for them.
_TABLE = "CREATE UNLOGGED TABLE IF NOT EXISTS rate_windows (key TEXT PRIMARY KEY, count BIGINT NOT NULL, reset BIGINT NOT NULL)"
_HIT = """
INSERT INTO rate_windows AS w (key, count, reset) VALUES (%(key)s, 1, %(new_reset)s)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN w.reset <= %(now)s THEN 1 ELSE w.count + 1 END,
    reset = CASE WHEN w.reset <= %(now)s THEN %(new_reset)s ELSE w.reset END
RETURNING count, reset
"""
_READ = "SELECT count, reset FROM rate_windows WHERE key = %(key)s AND reset > %(now)s"
_SWEEP = "DELETE FROM rate_windows WHERE reset <= %(now)s"


class PostgresCounters:
    def __init__(self, url: str, *, max_connections: int = 8) -> None:
        self._conninfo = conninfo(url)
        self._max = max_connections
        self._pool: AsyncConnectionPool[Any] | None = None
        self._next_sweep = 0.0

    async def open(self) -> None:
        pool = await opened_pool(self._conninfo, name="echo-limits", max_size=self._max, wait_seconds=2.0)
        self._pool = pool
        async with pool.connection() as conn:
            await conn.execute(_TABLE)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close(timeout=0.5)
            self._pool = None

    async def hit(self, key: str, seconds: int, *, count: bool) -> Window:
        assert self._pool is not None, "open() first"
        now = int(time.time())
        args = {"key": key, "now": now, "new_reset": now + seconds}
        async with self._pool.connection() as conn:
            if now >= self._next_sweep:  # ended windows go, at most once a minute per node
                self._next_sweep = now + 60
                await conn.execute(_SWEEP, args)
            cursor = await conn.execute(_HIT if count else _READ, args)
            row = await cursor.fetchone()
        if row is None:  # nothing counted yet in a live window
            return Window(count=0, reset=now + seconds)
        return Window(count=int(row[0]), reset=int(row[1]))
