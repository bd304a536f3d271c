"""Entity locks as PostgreSQL advisory locks: they hold across hosts that share a storage
folder on a network filesystem, where `flock` does not (`store.locks`).

A lock is a session-level `pg_advisory_lock` on a 64-bit key made from the entity key's
hash, held on a connection of a small pool of its own (so holders never starve the runtime
store's pool). A connection that dies releases its locks: PostgreSQL's doing, not ours.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
from psycopg_pool import AsyncConnectionPool

from echo_orchestrator.store.postgres_runtime import conninfo

# Keys of this kind are kept apart from the runtime's own (migrations, set-up).
_NAMESPACE = b"echo-orchestrator/entity/"


def advisory_key(key: str) -> int:
    digest = hashlib.sha256(_NAMESPACE + key.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresMutexes:
    def __init__(self, url: str, *, max_held: int = 32) -> None:
        self._conninfo = conninfo(url)
        self._max_held = max_held
        self._pool: AsyncConnectionPool[Any] | None = None

    async def open(self) -> None:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self._conninfo, min_size=1, max_size=self._max_held, kwargs={"autocommit": True}, open=False, name="echo-locks"
        )
        await pool.open(wait=True, timeout=15)
        self._pool = pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @contextlib.asynccontextmanager
    async def held(self, key: str) -> AsyncIterator[None]:
        assert self._pool is not None, "open() first"
        number = advisory_key(key)
        async with self._pool.connection() as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", (number,))
            try:
                yield
            finally:
                # Never back in the pool still holding the lock: unlock even when cancelled,
                # and if that fails, close the session (PostgreSQL then releases its locks).
                with anyio.CancelScope(shield=True):
                    try:
                        await conn.execute("SELECT pg_advisory_unlock(%s)", (number,))
                    except Exception:
                        await conn.close()
                        raise
