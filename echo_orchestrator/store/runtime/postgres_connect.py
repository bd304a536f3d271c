"""What every PostgreSQL part of the store shares: the URL (checked, and shown without its
password) and advisory locks held on a pooled connection."""

from __future__ import annotations

import contextlib
import hashlib
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import psycopg
from psycopg_pool import AsyncConnectionPool

from echo_orchestrator.errors import ConfigurationError, RuntimeUnavailable

SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
RECONNECT_SECONDS = 4.0
# A connection given back to the pool less than this long ago is handed out again unchecked.
FRESH_SECONDS = 1.0
_NAMESPACE = b"echo-orchestrator/"


def shown_url(url: str) -> str:
    """The URL without its password, for logs and health reports."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def conninfo(url: str) -> str:
    """What psycopg connects with (it knows `postgresql://` and `postgres://`)."""
    scheme, sep, rest = url.partition("://")
    if scheme not in SCHEMES or not sep:
        raise ConfigurationError(f"Not a PostgreSQL URL: {shown_url(url)!r} (expected postgresql://user@host:port/database)")
    return "postgresql://" + rest


class FreshnessCheck:
    """The pool's check of a connection before it is handed out: a round trip to the server,
    skipped for one given back less than FRESH_SECONDS ago (under load, almost all: the
    check was ~11% of a run's CPU on a busy node, measured by benchmarks/bench_cluster.py).
    A restart inside that second fails the first use of such a connection, which is then
    dropped, like any statement the restart cut: a 503, or buffered rows written later."""

    def __init__(self) -> None:
        self._returned: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    async def check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        returned = self._returned.get(conn)
        if returned is None or time.monotonic() - returned >= FRESH_SECONDS:
            await AsyncConnectionPool.check_connection(conn)

    async def reset(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._returned[conn] = time.monotonic()


async def opened_pool(info: str, *, name: str, max_size: int, wait_seconds: float, **kwargs: Any) -> AsyncConnectionPool[Any]:
    """An autocommit pool, open, that outlives the server's restarts: a connection the server
    closed (restarted, failed over) is replaced before it is handed out, not failed on
    (unless it was in use a moment ago: `FreshnessCheck`), and a
    caller waits `wait_seconds` at most for one while the server is away (then a 503), not for
    ever. A connection attempt that failed is retried with backoff for RECONNECT_SECONDS, then
    given up: psycopg_pool's backoff doubles up to its 5-minute default, and while one attempt
    waits the pool grows no more, so requests after a restart waited for a retry seconds away
    (a 503 with the database back). `kwargs` go to each connection."""
    freshness = FreshnessCheck()
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        info,
        min_size=1,
        max_size=max_size,
        kwargs={"autocommit": True, "connect_timeout": 5, **kwargs},
        open=False,
        name=name,
        check=freshness.check,
        reset=freshness.reset,
        timeout=wait_seconds,
        reconnect_timeout=RECONNECT_SECONDS,
    )
    try:
        await pool.open(wait=True, timeout=15)
    except BaseException:
        await pool.close(timeout=1.0)
        raise
    return pool


def advisory_key(name: str) -> int:
    """The advisory lock of a named thing (an entity, a caller's admission): 64 bits of its
    hash, in a namespace of this service's own."""
    digest = hashlib.sha256(_NAMESPACE + name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.asynccontextmanager
async def advisory_lock(pool: AsyncConnectionPool[Any], name: str, *, wait: bool = True) -> AsyncIterator[bool]:
    """Hold the named session-level advisory lock on one of the pool's connections. With
    `wait=False` it is only tried: False inside when another session holds it."""
    number = advisory_key(name)
    entered = False
    try:
        async with pool.connection() as conn:
            if wait:
                await conn.execute("SELECT pg_advisory_lock(%s)", (number,))
            else:
                cursor = await conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (number,))
                row = await cursor.fetchone()
                if not (row["got"] if isinstance(row, dict) else row and row[0]):
                    entered = True
                    yield False
                    return
            entered = True
            try:
                yield True
            finally:
                # Never back in the pool still holding the lock: unlock even when cancelled,
                # and if that fails, close the session (PostgreSQL then releases its locks).
                with anyio.CancelScope(shield=True):
                    try:
                        await conn.execute("SELECT pg_advisory_unlock(%s)", (number,))
                    except Exception:
                        await conn.close()
                        raise
    except psycopg.Error as exc:
        if entered:  # the holder's own error, or the unlock's: not ours to rename
            raise
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise RuntimeUnavailable(f"The runtime database is unavailable: {reason}", details={"database": "postgresql"}) from exc
