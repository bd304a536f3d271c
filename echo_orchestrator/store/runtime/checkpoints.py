"""Checkpoints that never run ahead of the records.

LangGraph's savers (SQLite, PostgreSQL), changed in one way: the runtime store's buffered
records are committed before every checkpoint and task write. The engine records a step
inside its task, before LangGraph hands the task's writes to the saver, so a step can
never be in a checkpoint and missing from the records, and the records ride on writes
LangGraph already makes off the run's critical path (durability "async") instead of
holding the run back.

On SQLite the saver goes one step further (`BufferedSqliteSaver`): its checkpoint and
write rows join the runtime store's buffer, so a step's checkpoint, its task writes and
the run's records reach the database in one transaction, handed to the connection's thread
once. Same tables and rows as LangGraph's saver, whose reads are used as they are.
LangGraph's checkpoint conformance suite runs against both (tests/unit/store,
tests/integration/postgres). The PostgreSQL one is in `store.runtime.postgres`, so that
its driver is imported only when it is used.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

import aiosqlite
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from echo_orchestrator.errors import OwnedElsewhere, RuntimeUnavailable

Flush = Callable[[], Awaitable[None]]
# `BufferedWrites._write`: a row for the next flush (sql, parameters, key or None).
Buffer = Callable[[str, tuple[Any, ...], str | None], None]

# Set by the engine around the first run of a new execution: its thread has no checkpoint
# yet, so the saver answers LangGraph's opening read of it without asking the database (a
# round trip on PostgreSQL, a flush on SQLite, per run). Once: the list is emptied by it.
NEW_THREAD: ContextVar[list[str] | None] = ContextVar("new_thread", default=None)


class RecordsFirst(BaseCheckpointSaver[Any]):
    """Put before a LangGraph saver in the bases: reads flush the buffered records and rows
    first (each backend's saver buffers its own writes beside the records). The
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

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        new, configurable = NEW_THREAD.get(), config.get("configurable") or {}
        if (
            new
            and configurable.get("thread_id") == new[0]
            and not configurable.get("checkpoint_ns")
            and not configurable.get("checkpoint_id")
        ):
            new.clear()
            return None
        await self._flush_records()  # nothing buffered is missed (a no-op when nothing is)
        with self._reporting():
            return await super().aget_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        await self._flush_records()
        with self._reporting():
            async for item in super().alist(config, filter=filter, before=before, limit=limit):
                yield item

    async def adelete_thread(self, thread_id: str) -> None:
        await self._flush_records()  # else a buffered row would bring the thread back
        with self._reporting():
            await super().adelete_thread(thread_id)


_PUT_CHECKPOINT = (
    "INSERT OR REPLACE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _writes_sql(mode: str, task_path: bool) -> str:
    columns = "thread_id, checkpoint_ns, checkpoint_id, task_id, " + ("task_path, " if task_path else "") + "idx, channel, type, value"
    marks = ", ".join("?" * (9 if task_path else 8))
    return f"INSERT OR {mode} INTO writes ({columns}) VALUES ({marks})"


class BufferedSqliteSaver(RecordsFirst, AsyncSqliteSaver):
    """LangGraph's SQLite saver whose writes are rows of the runtime store's buffer,
    committed with the records in the flush each write ends with."""

    _failures = (sqlite3.Error,)

    def __init__(self, conn: aiosqlite.Connection, flush: Flush, buffer: Buffer) -> None:
        AsyncSqliteSaver.__init__(self, conn)
        self._flush_records = flush
        self._buffer = buffer
        self.uses_task_path(True)

    def uses_task_path(self, present: bool) -> None:
        """Whether the `writes` table has `task_path`, as LangGraph's saver made it: releases
        before 3.1.1 neither made nor read that column. Ours follows the table."""
        self._task_path = present
        # As LangGraph's saver: a task's special writes (error, interrupt, ...) replace, others stay first.
        self._replace_writes, self._keep_writes = _writes_sql("REPLACE", present), _writes_sql("IGNORE", present)

    async def aput(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, new_versions: ChannelVersions
    ) -> RunnableConfig:
        configurable = config["configurable"]
        type_, blob = self.serde.dumps_typed(checkpoint)
        meta = json.dumps(get_checkpoint_metadata(config, metadata), ensure_ascii=False).encode("utf-8", "ignore")
        row = (
            str(configurable["thread_id"]),
            configurable["checkpoint_ns"],
            checkpoint["id"],
            configurable.get("checkpoint_id"),
            type_,
            blob,
            meta,
        )
        self._buffer(_PUT_CHECKPOINT, row, None)
        await self._flush_records()
        return {
            "configurable": {
                "thread_id": configurable["thread_id"],
                "checkpoint_ns": configurable["checkpoint_ns"],
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def aput_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = "") -> None:
        configurable = config["configurable"]
        sql = self._replace_writes if all(channel in WRITES_IDX_MAP for channel, _ in writes) else self._keep_writes
        where: tuple[str, ...] = (
            str(configurable["thread_id"]),
            str(configurable["checkpoint_ns"]),
            str(configurable["checkpoint_id"]),
            task_id,
        )
        if self._task_path:
            where = (*where, task_path)
        for idx, (channel, value) in enumerate(writes):
            self._buffer(sql, (*where, WRITES_IDX_MAP.get(channel, idx), channel, *self.serde.dumps_typed(value)), None)
        await self._flush_records()
