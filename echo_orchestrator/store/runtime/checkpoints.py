"""Checkpoints that never run ahead of the records.

LangGraph's savers (SQLite, PostgreSQL), changed in one way: the runtime store's buffered
records are committed before every checkpoint and task write. The engine records a step
inside its task, before LangGraph hands the task's writes to the saver, so a step can
never be in a checkpoint and missing from the records, and the records ride on writes
LangGraph already makes off the run's critical path (durability "async") instead of
holding the run back. LangGraph's checkpoint conformance suite runs against both
(tests/unit/store, tests/integration/postgres). The PostgreSQL one is in
`store.runtime.postgres`, so that its driver is imported only when it is used.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import aiosqlite
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from echo_orchestrator.errors import OwnedElsewhere, RuntimeUnavailable

Flush = Callable[[], Awaitable[None]]


class RecordsFirst(BaseCheckpointSaver[Any]):
    """Put before a LangGraph saver in the bases: flushes the records, then writes. The
    database's own failures come out as `RuntimeUnavailable`, as the records' do, so a run
    they stop is continued from its checkpoint once the database is back."""

    _flush_records: Flush
    # What the saver's driver raises when its database cannot be used.
    _failures: tuple[type[BaseException], ...] = ()
    # Runs another process took over from this one (`PostgresRuntimeStore.lost`): their
    # checkpoints are that process's to write now.
    _lost: set[str] = set()

    def _refuse_lost(self, config: RunnableConfig) -> None:
        thread = (config.get("configurable") or {}).get("thread_id")
        if thread in self._lost:
            raise OwnedElsewhere(f"Execution '{thread}' was taken over by another process")

    @contextlib.contextmanager
    def _reporting(self) -> Iterator[None]:
        try:
            yield
        except self._failures as exc:
            text = str(exc).strip()
            reason = text.splitlines()[0][:300] if text else type(exc).__name__
            raise RuntimeUnavailable(f"The runtime database is unavailable: {reason}") from exc

    async def aput(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, new_versions: ChannelVersions
    ) -> RunnableConfig:
        await self._flush_records()
        self._refuse_lost(config)
        with self._reporting():
            return await super().aput(config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = "") -> None:
        await self._flush_records()
        self._refuse_lost(config)
        with self._reporting():
            await super().aput_writes(config, writes, task_id, task_path)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        with self._reporting():
            return await super().aget_tuple(config)


class RecordsFirstSaver(RecordsFirst, AsyncSqliteSaver):
    """LangGraph's SQLite saver that commits the runtime's buffered records first."""

    _failures = (sqlite3.Error,)

    def __init__(self, conn: aiosqlite.Connection, flush: Flush) -> None:
        AsyncSqliteSaver.__init__(self, conn)
        self._flush_records = flush
