"""The runtime store (`store.runtime.RuntimeStore`) in SQLite: the embedded default.

`storage/runtime/runtime.sqlite` (WAL; schema and migrations in `store.runtime.sqlite_schema`). The
records and their SQL are `store.runtime.sql`'s; this module gives the one connection, the
lock every use of it holds, and LangGraph's SQLite saver sharing both.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiosqlite
import anyio
import anyio.lowlevel
import anyio.to_thread

from echo_orchestrator.errors import RuntimeUnavailable
from echo_orchestrator.lifecycle import ownership
from echo_orchestrator.store.atomic import ensure_ignored_folder
from echo_orchestrator.store.runtime.analytics import SQLITE_BUCKETS
from echo_orchestrator.store.runtime.base import PoolStats, Signals
from echo_orchestrator.store.runtime.checkpoints import BufferedSqliteSaver
from echo_orchestrator.store.runtime.retention import DatabaseSize, delete_children
from echo_orchestrator.store.runtime.sql import SqlRuntimeStore
from echo_orchestrator.store.runtime.sqlite_schema import connect, migrate, on_connection_thread
from echo_orchestrator.store.runtime.statements import Pending

# Less free space than this on the database's disk and it is reported full (readiness, health).
MIN_FREE_BYTES = 1 << 20
# `PRAGMA auto_vacuum` INCREMENTAL, how many free pages one reclaiming step gives back (4 MB
# of 4 KiB pages: milliseconds under the lock), and how much free space is worth giving back.
INCREMENTAL = 2
RECLAIM_PAGES = 1024
RECLAIM_ABOVE_BYTES = 64 << 20

log = logging.getLogger(__name__)


class SqliteRuntimeStore(SqlRuntimeStore):
    """The runtime store in one SQLite file."""

    buckets = SQLITE_BUCKETS
    kind = "sqlite"
    shared = False  # one machine; `serve --workers N` refuses it
    failures = (sqlite3.Error,)  # full disk, locked past the busy timeout, I/O errors
    checkpoint_tables = ("checkpoints", "writes")  # LangGraph's SQLite saver's

    def __init__(self, path: Path, *, owner: str, in_storage: bool = False) -> None:
        super().__init__(owner=owner)
        self.path = path
        self._in_storage = in_storage  # storage/runtime/: a folder git must ignore
        self._db: aiosqlite.Connection | None = None

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def db(self) -> aiosqlite.Connection:
        assert self._db is not None, "open() first"
        return self._db

    async def open(self) -> None:
        if self._in_storage:
            ensure_ignored_folder(self.path.parent)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await connect(self.path)
        await self._db.execute("PRAGMA synchronous=NORMAL")
        self.schema_change = await migrate(self._db)
        await self._vacuum_incrementally()

    async def _vacuum_incrementally(self) -> None:
        """Free pages (what retention's deletes leave) go back to the file system a few at a
        time (`reclaim_space`). A new database is made so (`connect`); one made before is
        rewritten so once (VACUUM: a moment per 100 MB, and as much free disk space)."""
        async with self.db.execute("PRAGMA auto_vacuum") as cursor:
            row = await cursor.fetchone()
        if row is not None and int(row[0]) == INCREMENTAL:
            return
        log.info("runtime database %s: switching to incremental vacuum (once; VACUUM)", self.path)
        try:
            await self.db.execute(f"PRAGMA auto_vacuum = {INCREMENTAL}")
            await self.db.execute("VACUUM")
        except sqlite3.Error as exc:  # a full disk: space is still reused, only not given back
            log.warning("runtime database %s: could not switch to incremental vacuum (%s); trying at the next start", self.path, exc)

    async def close(self) -> None:
        if self._db is not None:
            await self.commit()
            await self._db.close()
            self._db = None

    async def owned_elsewhere(self, owner: str | None) -> bool:
        # One machine shares a SQLite file: whether a process lives is known exactly.
        return ownership.owned_elsewhere(owner)

    async def keep_alive(self) -> None:
        return

    redis_location = None  # one machine: no Redis (refused with SQLite)

    def pool_stats(self) -> PoolStats:
        # One connection, shared by the records and LangGraph's saver behind one lock.
        busy = 1 if self._db_lock.locked() else 0
        return PoolStats(size=1, open=1 if self._db is not None else 0, available=1 - busy, in_use=busy)

    async def redis_ping_ms(self) -> float | None:
        return None

    def admission(self, limit_key: str) -> AbstractAsyncContextManager[object]:
        return contextlib.nullcontext()  # one process owns its runs: it counts them itself

    async def listen(self, signals: Signals) -> None:
        return  # `serve --workers N` on SQLite is refused (one process owns its runs)

    async def send_control(self, owner: str, message: dict[str, Any]) -> bool:
        return False

    async def announce_definitions(self, paths: Sequence[str]) -> None:
        return  # one machine: the other processes' watchers see the files

    async def broadcast_tokens(self, payload: str) -> None:
        return  # one process runs and serves every run

    async def checkpointer(self) -> BufferedSqliteSaver:
        """LangGraph's SQLite saver on this connection and this lock: checkpoints live in
        the same database, and one writer means no lock conflicts between two connections.
        Its rows join the buffered records and are committed with them (`BufferedSqliteSaver`)."""
        saver = BufferedSqliteSaver(self.db, self.flush, self._write)
        self._db_lock = saver.lock
        await saver.setup()
        async with self.db.execute("SELECT name FROM pragma_table_info('writes')") as cursor:
            saver.uses_task_path("task_path" in {str(row[0]) for row in await cursor.fetchall()})
        return saver

    # -- retention (store.runtime.retention) ---------------------------------------------

    async def _delete_batch(
        self, ids_sql: str, ids_args: Sequence[Any], children: Sequence[tuple[str, str]]
    ) -> tuple[list[str], list[int]]:
        async with self._db_lock:
            await self._flush_locked()
            with self._reporting():
                try:
                    async with self.db.execute(ids_sql, tuple(ids_args)) as cursor:
                        ids = [str(row[0]) for row in await cursor.fetchall()]
                    counts = []
                    for table, column in children if ids else ():
                        async with self.db.execute(delete_children(table, column, len(ids)), ids) as cursor:
                            counts.append(int(cursor.rowcount))
                    await self.db.commit()
                except BaseException:
                    with anyio.CancelScope(shield=True), contextlib.suppress(sqlite3.Error):
                        await self.db.rollback()
                    raise
                finally:
                    self._executions_written()
        for execution_id in ids:
            self.forget_sequence(execution_id)
        return ids, counts or [0] * len(children)

    async def _existing_tables(self, names: Sequence[str]) -> list[str]:
        marks = ",".join("?" * len(names))
        rows = await self._rows(f"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({marks})", list(names))
        found = {str(row[0]) for row in rows}
        return [name for name in names if name in found]

    async def database_size(self) -> DatabaseSize:
        rows = await self._rows("SELECT * FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()", [])
        pages, free, page_size = (int(value) for value in rows[0])

        def on_disk() -> int:
            wal = self.path.with_name(self.path.name + "-wal")
            return sum(p.stat().st_size for p in (self.path, wal) if p.exists())

        return DatabaseSize(size_bytes=max(pages * page_size, await anyio.to_thread.run_sync(on_disk)), free_bytes=free * page_size)

    async def reclaim_space(self, *, above_bytes: int | None = None) -> int:
        """Free pages back to the file system once they are more than `above_bytes`
        (RECLAIM_ABOVE_BYTES) and a quarter of the file: below that new runs reuse them soon
        (giving them back only to grow again costs a page move each, under the lock runs write
        through); 0 gives back whatever is free. RECLAIM_PAGES at a time, the lock held for
        each step only; then the write-ahead log truncated."""
        before = await self.database_size()
        above = RECLAIM_ABOVE_BYTES if above_bytes is None else above_bytes
        if above and (before.free_bytes or 0) <= max(above, before.size_bytes // 4):
            return 0
        while True:
            async with self._db_lock:
                await self._flush_locked()
                with self._reporting():
                    async with self.db.execute("PRAGMA freelist_count") as cursor:
                        row = await cursor.fetchone()
                    if row is None or int(row[0]) == 0:
                        break
                    await self.db.execute(f"PRAGMA incremental_vacuum({RECLAIM_PAGES})")
                    await self.db.commit()
            await anyio.lowlevel.checkpoint()  # runs' writes go between steps
        async with self._db_lock:
            with self._reporting():
                await self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # busy: a row saying so, not an error
        return max(0, before.size_bytes - (await self.database_size()).size_bytes)

    def retention_turn(self) -> AbstractAsyncContextManager[bool]:
        # One process owns a SQLite runtime; `prune` from the CLI meanwhile only deletes the
        # same ended rows (SQLite's write lock takes them in turn).
        return contextlib.nullcontext(True)

    async def _can_write(self) -> None:
        # A full disk still answers reads (and small writes into WAL space it already has):
        # readiness looks at the space itself.
        free = await anyio.to_thread.run_sync(lambda: shutil.disk_usage(self.path.parent).free)
        if free < MIN_FREE_BYTES:
            raise RuntimeUnavailable(
                f"The runtime database is unavailable: database or disk is full ({free // 1024} KiB free on its disk)",
                details={"database": self.kind},
            )

    async def _write_batches(self, pending: Pending) -> None:
        batches = [(sql, list(rows.values())) for sql, rows in pending.items()]

        def write(conn: sqlite3.Connection) -> None:
            # The whole batch and its commit in one call on the connection's thread: one
            # hand-over between threads per flush instead of one per statement (each costs
            # the event loop a wake-up and the kernel two context switches).
            try:
                for sql, rows in batches:
                    conn.executemany(sql, rows)
                conn.commit()
            except BaseException:
                # A full disk fails the statement or the commit: none of the batch stays
                # behind in an open transaction for the next writer to commit by accident.
                with contextlib.suppress(sqlite3.Error):
                    conn.rollback()
                raise

        # Shielded: once handed over, the batch is written or not whatever happens to the
        # task waiting for it, and the buffer must know which.
        with anyio.CancelScope(shield=True):
            await on_connection_thread(self.db, write)

    async def _rows(self, sql: str, args: Sequence[Any]) -> list[Any]:
        async with self._db_lock:
            await self._flush_locked()
            with self._reporting():
                async with self.db.execute(sql, tuple(args)) as cursor:
                    return list(await cursor.fetchall())

    async def _update(self, sql: str, args: Sequence[Any]) -> int:
        async with self._db_lock:
            await self._flush_locked()
            with self._reporting():
                try:
                    async with self.db.execute(sql, tuple(args)) as cursor:
                        changed = cursor.rowcount
                    await self.db.commit()
                except BaseException:
                    with anyio.CancelScope(shield=True), contextlib.suppress(sqlite3.Error):
                        await self.db.rollback()
                    raise
                finally:
                    # After the write: a count begun before it is then not kept. (Most updates
                    # are of executions; a needless recount is cheap.)
                    self._executions_written()
        return int(changed)
