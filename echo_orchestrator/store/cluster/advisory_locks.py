"""Entity locks as PostgreSQL advisory locks: they hold across hosts that share a storage
folder on a network filesystem, where `flock` does not (`store.locks`).

A lock is a session-level `pg_advisory_lock` on a 64-bit key made from the entity key's
hash, held on a connection of a small pool of its own (so holders never starve the runtime
store's pool). A connection that dies releases its locks: PostgreSQL's doing, not ours.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from psycopg_pool import AsyncConnectionPool

from echo_orchestrator.store.runtime.postgres_connect import advisory_lock, conninfo, opened_pool


class PostgresMutexes:
    def __init__(self, url: str, *, max_held: int = 32) -> None:
        self._conninfo = conninfo(url)
        self._max_held = max_held
        self._pool: AsyncConnectionPool[Any] | None = None

    async def open(self) -> None:
        # A write waits 5 s at most for a lock's connection while the server is away (503).
        pool = await opened_pool(self._conninfo, name="echo-locks", max_size=self._max_held, wait_seconds=5.0)
        self._pool = pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def held(self, key: str) -> AbstractAsyncContextManager[object]:
        assert self._pool is not None, "open() first"
        return advisory_lock(self._pool, f"entity:{key}")
