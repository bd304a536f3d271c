"""The runtime store's write buffer: rows wait in memory and reach the database in one
short transaction per flush (one `executemany` per kind of row).

A flush that fails writes nothing and keeps its rows buffered, ahead of those buffered
meanwhile: what a run recorded while the database was away or full is written once it is
back (`keep_written` tries every second), never dropped. The failure reaches the caller as
`StorageError` (503), naming the database's reason.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import anyio

from echo_orchestrator.errors import RuntimeUnavailable, StorageError
from echo_orchestrator.store.runtime.statements import Pending, merged

log = logging.getLogger("echo_orchestrator.store.runtime")


class BufferedWrites(ABC):
    kind: str  # "sqlite" | "postgresql", for people
    # What the backend's driver raises when its database cannot be used (gone, full,
    # locked): the callers get `StorageError` (503) saying so.
    failures: tuple[type[BaseException], ...] = ()

    def __init__(self) -> None:
        self._pending: Pending = {}
        self._inserts = itertools.count()  # keys of buffered inserts, unique across flushes
        self._flushing = False
        # Set while buffered rows could not be written (the database is away or full):
        # `keep_written` tries again; health says why.
        self.unwritten_since: float | None = None
        self.last_failure: str | None = None
        # Held while a flush writes (and, on SQLite, for every use of the one connection).
        self._db_lock: Any = anyio.Lock()

    @abstractmethod
    async def _write_batches(self, pending: Pending) -> None:
        """Write the rows in one transaction and commit."""

    def _write(self, sql: str, params: tuple[Any, ...], key: str | None = None) -> None:
        # Buffered: the rows reach the database in one short transaction at the next flush.
        rows = self._pending.setdefault(sql, {})
        rows[key if key is not None else ("insert", next(self._inserts))] = params

    def unavailable(self, exc: BaseException) -> StorageError:
        """The error callers get for a failure of the database itself."""
        text = str(exc).strip()
        reason = text.splitlines()[0][:300] if text else type(exc).__name__
        return RuntimeUnavailable(f"The runtime database is unavailable: {reason}", details={"database": self.kind})

    @contextlib.contextmanager
    def _reporting(self) -> Iterator[None]:
        """Failures of the database raised as `StorageError`."""
        try:
            yield
        except self.failures as exc:
            raise self.unavailable(exc) from exc

    async def keep_written(self, interval: float = 1.0) -> None:
        """Until cancelled, while writes are failing: write the rows a failed flush left
        buffered once the database can take them (no request needs to come for it), or with
        nothing buffered, see whether it could (`ping`), so health clears by itself."""
        while True:
            await anyio.sleep(interval)
            if self.unwritten_since is not None:
                with contextlib.suppress(StorageError):
                    await (self.flush() if self._pending else self.ping())

    @abstractmethod
    async def ping(self) -> None:
        """Raise `StorageError` unless the database answers and can take writes; with nothing
        buffered and no error, writes are no longer failing."""

    def _recovered(self) -> None:
        if self.unwritten_since is not None:
            log.warning("the runtime database takes writes again (failing for %.0fs)", time.time() - self.unwritten_since)
        self.unwritten_since = self.last_failure = None

    def _failing(self, error: StorageError) -> None:
        if self.unwritten_since is None:
            self.unwritten_since = time.time()
        self.last_failure = error.message

    async def flush(self) -> None:
        """Write the buffered rows and commit, in one short transaction. Called at status
        changes, before each checkpoint write and before every read, so readers never miss a
        row and no write lock is held across an await."""
        if not self._pending and not self._flushing:
            return  # nothing to write: not even the lock (the checkpointer calls this often)
        # Also when another task's flush is under way with rows saved before this call:
        # waiting for the lock waits for its commit.
        async with self._db_lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        self._flushing = True
        try:
            await self._write_batches(pending)
        except BaseException as exc:
            # Nothing was written: the rows wait for the next flush, before those buffered
            # meanwhile (a later save of the same record wins). Never dropped: a run's end
            # that could not be written is written when the database is back.
            self._pending = merged(pending, self._pending)
            if isinstance(exc, self.failures):
                error = self.unavailable(exc)
                self._failing(error)
                raise error from exc
            raise
        else:
            self._recovered()
        finally:
            self._flushing = False

    async def commit(self) -> None:
        await self.flush()
