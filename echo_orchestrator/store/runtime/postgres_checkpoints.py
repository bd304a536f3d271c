"""LangGraph's PostgreSQL saver writing through the runtime store's buffer (see
`store.runtime.checkpoints` for why). Its own module so that psycopg is imported only where
PostgreSQL is used."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg_pool import AsyncConnectionPool

from echo_orchestrator.store.runtime.checkpoints import Buffer, Flush, RecordsFirst
from echo_orchestrator.store.runtime.statements import EXECUTION_ID_AT

# Set while LangGraph's saver writes a checkpoint or a task's writes: its statements go to
# this buffer instead of a connection.
_BUFFERING: ContextVar[Buffer | None] = ContextVar("checkpoint_rows", default=None)


class _BufferCursor:
    """Takes the statements LangGraph's saver would run, as rows of the buffer."""

    def __init__(self, buffer: Buffer) -> None:
        self._buffer = buffer

    async def execute(self, sql: str, params: Sequence[Any]) -> None:
        self._buffer(sql, tuple(params), None)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self._buffer(sql, tuple(row), None)


class BufferedPostgresSaver(RecordsFirst, AsyncPostgresSaver):
    """LangGraph's PostgreSQL saver whose writes are rows of the runtime store's buffer.

    Its own code builds them (blobs, inline values, delta snapshots, its SQL): only the
    cursor it writes through is the buffer's, and the flush each write ends with commits
    them with the records, in one transaction on one pooled connection, instead of one
    transaction of its own behind the saver's process-wide lock. Reads are its own."""

    _failures = (psycopg.Error,)

    def __init__(self, pool: AsyncConnectionPool[Any], flush: Flush, buffer: Buffer, lost: set[str]) -> None:
        AsyncPostgresSaver.__init__(self, pool)
        self._flush_records = flush
        self._buffer = buffer
        self._lost = lost

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[Any]:
        buffer = _BUFFERING.get()
        if buffer is None:
            async with super()._cursor(pipeline=pipeline) as cursor:
                yield cursor
        else:
            yield _BufferCursor(buffer)

    async def aput(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, new_versions: ChannelVersions
    ) -> RunnableConfig:
        self._refuse_lost(config)
        token = _BUFFERING.set(self._buffer)
        try:
            written = await AsyncPostgresSaver.aput(self, config, checkpoint, metadata, new_versions)
        finally:
            _BUFFERING.reset(token)
        await self._flush_records()
        return written

    async def aput_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = "") -> None:
        self._refuse_lost(config)
        token = _BUFFERING.set(self._buffer)
        try:
            await AsyncPostgresSaver.aput_writes(self, config, writes, task_id, task_path)
        finally:
            _BUFFERING.reset(token)
        await self._flush_records()


# LangGraph's statements as buffered rows: the run's id (its thread) is their first value.
EXECUTION_ID_AT.update(
    {
        sql: 0
        for sql in (
            AsyncPostgresSaver.UPSERT_CHECKPOINT_BLOBS_SQL,
            AsyncPostgresSaver.UPSERT_CHECKPOINTS_SQL,
            AsyncPostgresSaver.UPSERT_CHECKPOINT_WRITES_SQL,
            AsyncPostgresSaver.INSERT_CHECKPOINT_WRITES_SQL,
        )
    }
)
