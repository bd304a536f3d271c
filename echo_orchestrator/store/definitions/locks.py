"""Per-entity locks that hold across processes on one storage folder.

A read-modify-write of a definition (an agent update, a temp save, a final version, a slug
claim) holds its entity's lock from the read to the write, so no other request, worker
(`--workers N`), CLI run or second server can interleave. Each lock is an `flock` on a file
under `storage/runtime/locks/` (git-ignored), named by a hash of the entity key so any id or
slug makes a short, safe name. `flock` locks belong to an open file, so two opens in one
process exclude each other as two processes do; an in-process `anyio.Lock` in front keeps
waiting requests on the event loop instead of parking a worker thread each.

Locks are re-entrant within one task (a service that holds `agent:x` may call a store
method that takes it again). Several keys are always taken in sorted order (no deadlock).
flock is reliable only on a local filesystem: with the PostgreSQL runtime every node takes
PostgreSQL advisory locks instead (`store.cluster.advisory_locks`), which hold across hosts sharing
a storage folder on a network filesystem. Both are a `Mutexes`: this module keeps the
re-entrancy, the ordering and the in-process waiting in front of either.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from pathlib import Path
from typing import Protocol

import anyio
import anyio.to_thread


class Mutexes(Protocol):
    """Exclusive locks by key between processes (and between two holders in one process)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def held(self, key: str) -> AbstractAsyncContextManager[object]: ...


class FileMutexes:
    """`flock` on a file per key under a folder: every process on one machine."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    async def open(self) -> None:
        return

    async def close(self) -> None:
        return

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self._folder / f"{digest}.lock"

    @contextlib.asynccontextmanager
    async def held(self, key: str) -> AsyncIterator[None]:
        fd = await anyio.to_thread.run_sync(self._acquire, key)
        try:
            yield
        finally:
            os.close(fd)  # closing the file releases its flock

    def _acquire(self, key: str) -> int:
        self._folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path(key), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # blocks this worker thread, never the event loop
        except BaseException:
            os.close(fd)
            raise
        return fd


class EntityLocks:
    def __init__(self, mutexes: Mutexes) -> None:
        self.mutexes = mutexes
        # The keys the current task holds of these locks (re-entrancy); per instance, so two
        # stores (two nodes in a test) never take each other's holds for their own.
        self._held: ContextVar[frozenset[str]] = ContextVar(f"echo_entity_locks_{id(self)}", default=frozenset())
        self._local: dict[str, anyio.Lock] = {}
        self._waiters: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, *keys: str) -> AsyncIterator[None]:
        held = self._held.get()
        wanted = sorted(set(keys) - held)
        if not wanted:
            yield
            return
        async with contextlib.AsyncExitStack() as stack:
            for key in wanted:
                await stack.enter_async_context(self._one(key))
            token = self._held.set(held | frozenset(wanted))
            try:
                yield
            finally:
                self._held.reset(token)

    @contextlib.asynccontextmanager
    async def _one(self, key: str) -> AsyncIterator[None]:
        local = self._local.setdefault(key, anyio.Lock())
        self._waiters[key] = self._waiters.get(key, 0) + 1
        try:
            async with local, self.mutexes.held(key):
                yield
        finally:
            self._waiters[key] -= 1
            if not self._waiters[key]:  # nobody else wants it: do not keep a lock per id for ever
                del self._waiters[key]
                self._local.pop(key, None)
