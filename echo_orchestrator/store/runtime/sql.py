"""The runtime store's records in SQL, shared by every SQL backend.

Each record is stored as its msgspec JSON document next to the few columns that lists,
filters and analytics use, so the schema stays small and the records keep every field of
the models. Writes are buffered and reach the database in one short transaction per flush
(one `executemany` per kind of row); every read flushes first, so it sees every write made
before it. Events are appended with a per-execution `seq` from 1, written before anyone is
told about them. The SQL is written once, with `?` placeholders and portable expressions;
a backend gives the connection, the transaction, the time buckets and the checkpointer
(`store.runtime.sqlite`, `store.runtime.postgres`); the buffer is `buffer`, its statements `statements`.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from echo_orchestrator.errors import NotFound, StorageError
from echo_orchestrator.lifecycle.executions import ACTIVE
from echo_orchestrator.models import Event, EventType, Execution, ExecutionStatus, LLMUsage, NodeExecution, StepExecution, utcnow
from echo_orchestrator.store.runtime import analytics as sql_analytics
from echo_orchestrator.store.runtime.analytics import Buckets, count_if, share_if
from echo_orchestrator.store.runtime.base import ExecutionStats, Granularity, OwnedExecution, WorkflowAnalytics, WorkflowRunStats
from echo_orchestrator.store.runtime.buffer import BufferedWrites
from echo_orchestrator.store.runtime.retention import Retaining
from echo_orchestrator.store.runtime.statements import (
    EVENT_INSERT,
    EXECUTION_UPSERT,
    LLM_INSERT,
    NODE_UPSERT,
    STEP_UPSERT,
    rows_without,
)
from echo_orchestrator.store.runtime.triggers import TriggerRecords

STEP_COMPLETED = count_if("s.status = 'completed'")
STEP_FAILED = count_if("s.status = 'failed'")
STEP_SUCCESS_RATE = share_if("s.status = 'completed'")
STEP_FAILURE_RATE = share_if("s.status = 'failed'")


def _duration(execution: Execution) -> float | None:
    if execution.started_at is None or execution.completed_at is None:
        return None
    return (execution.completed_at - execution.started_at).total_seconds()


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


# How long a process that owns its runtime database keeps a workflow's run statistics at
# most, and how many answers it keeps.
STATS_SECONDS = 2.0
STATS_KEPT = 1024


class SqlRuntimeStore(TriggerRecords, Retaining, BufferedWrites):
    """The records of `store.runtime.RuntimeStore` over a backend's connection."""

    buckets: Buckets
    shared: bool  # other processes write the same database (each backend says)

    def __init__(self, *, owner: str) -> None:
        super().__init__()
        # Recorded with every execution this process saves (`lifecycle.ownership`).
        self.owner = owner
        self.schema_change: tuple[int, int] | None = None
        self._seq: dict[str, int] = {}
        # Workflows' run statistics, asked by every catalogue read (`workflow_stats`): the
        # answer per question, with the change count and the moment it was counted at.
        self._stats: dict[tuple[str, ...] | None, tuple[int, float, dict[str, WorkflowRunStats]]] = {}
        self._executions_changed = 0  # bumped by every write of this process to executions

    # -- what a backend gives ------------------------------------------------------------

    @abstractmethod
    async def _rows(self, sql: str, args: Sequence[Any]) -> list[Any]:
        """Flush, then run a query (`?` placeholders) and return its rows as tuples."""

    @abstractmethod
    async def _update(self, sql: str, args: Sequence[Any]) -> int:
        """Flush, then run one statement in its own committed transaction; the rows it changed."""

    async def ping(self) -> None:
        await self._rows("SELECT 1", [])  # flushes first: raises while buffered rows cannot be written
        try:
            await self._can_write()
        except StorageError as exc:
            self._failing(exc)
            raise
        if not self._pending:
            self._recovered()

    async def _can_write(self) -> None:
        """Raise `StorageError` where the backend knows a write would fail (a full disk)."""

    def discard(self, execution_id: str) -> None:
        """Forget the buffered rows of an execution that was never recorded (its first commit
        failed): nothing of it is written later."""
        self._pending = rows_without(self._pending, {execution_id})
        self._seq.pop(execution_id, None)

    # -- executions ----------------------------------------------------------------------

    async def save_execution(self, execution: Execution, *, limit_key: str | None = None, queued: bool = False) -> None:
        self._executions_written()
        if limit_key is None:  # a later save of a record still buffered keeps its limit key
            buffered = self._pending.get(EXECUTION_UPSERT, {}).get(execution.execution_id)
            limit_key = None if buffered is None else buffered[-1]
        self._write(
            EXECUTION_UPSERT,
            (
                execution.execution_id,
                execution.kind,
                execution.status,
                execution.workflow_id,
                execution.workflow_slug,
                execution.graph_name,
                _ts(execution.created_at) or time.time(),
                _ts(execution.completed_at),
                msgspec.json.encode(execution),
                None if queued else self.owner,
                _ts(execution.started_at),
                _duration(execution),
                execution.total_tokens,
                execution.cost_usd,
                execution.workspace,
                limit_key,
            ),
            key=execution.execution_id,
        )

    async def active_for(self, limit_key: str, statuses: Sequence[ExecutionStatus]) -> int:
        marks = ",".join("?" * len(statuses))
        count = await self._scalar(f"SELECT COUNT(*) FROM executions WHERE limit_key = ? AND status IN ({marks})", [limit_key, *statuses])
        return int(count or 0)

    async def get_execution(self, execution_id: str) -> Execution:
        rows = await self._rows("SELECT doc FROM executions WHERE execution_id = ?", [execution_id])
        row = rows[0] if rows else None
        if row is None:
            raise NotFound(f"Execution '{execution_id}' not found", details={"execution_id": execution_id})
        return msgspec.json.decode(row[0], type=Execution)

    async def claim(
        self,
        execution_id: str,
        statuses: Sequence[ExecutionStatus],
        *,
        queued: bool = False,
        limit_key: str | None = None,
        record: Execution | None = None,
    ) -> bool:
        marks = ",".join("?" * len(statuses))
        owner = None if queued else self.owner
        if record is None:
            sql = "UPDATE executions SET status = 'initializing', owner = ?, limit_key = COALESCE(?, limit_key)"
            args: list[Any] = [owner, limit_key]
        else:  # the whole new record in the same statement: claimed and saved at once, or neither
            sql = (
                "UPDATE executions SET status = ?, owner = ?, limit_key = COALESCE(?, limit_key), doc = ?,"
                " completed_at = ?, started_at = ?, duration_seconds = ?, total_tokens = ?, cost_usd = ?"
            )
            args = [record.status, owner, limit_key, msgspec.json.encode(record), _ts(record.completed_at), _ts(record.started_at)]
            args += [_duration(record), record.total_tokens, record.cost_usd]
        changed = await self._update(f"{sql} WHERE execution_id = ? AND status IN ({marks})", [*args, execution_id, *statuses])
        return changed == 1

    async def adopt(self, execution_id: str, previous_owner: str | None) -> bool:
        # No owner compares as '' (a NULL equals nothing, and an owner is never empty).
        changed = await self._update(
            "UPDATE executions SET owner = ? WHERE execution_id = ? AND COALESCE(owner, '') = ? AND status IN ('initializing', 'running')",
            [self.owner, execution_id, previous_owner or ""],
        )
        return changed == 1

    async def release(self, execution_id: str) -> bool:
        changed = await self._update(
            "UPDATE executions SET owner = NULL WHERE execution_id = ? AND owner = ? AND status IN ('initializing', 'running')",
            [execution_id, self.owner],
        )
        return changed == 1

    async def list_executions(
        self, *, workflow_slug: str | None = None, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Execution], int]:
        where, args = self._where(workflow_slug=workflow_slug, status=status)
        total = await self._scalar(f"SELECT COUNT(*) FROM executions{where}", args)
        rows = await self._rows(
            f"SELECT doc FROM executions{where} ORDER BY created_at DESC, execution_id LIMIT ? OFFSET ?", [*args, limit, offset]
        )
        return [msgspec.json.decode(r[0], type=Execution) for r in rows], int(total or 0)

    async def executions_in(self, statuses: Sequence[ExecutionStatus], only: Sequence[str] | None = None) -> list[OwnedExecution]:
        query = f"SELECT doc, owner FROM executions WHERE status IN ({','.join('?' * len(statuses))})"
        params: list[Any] = list(statuses)
        if only is not None:
            query += f" AND execution_id IN ({','.join('?' * len(only))})"
            params += list(only)
        rows = await self._rows(query, params)
        return [OwnedExecution(execution=msgspec.json.decode(doc, type=Execution), owner=owner) for doc, owner in rows]

    async def workspace_counts(self) -> dict[str, int]:
        rows = await self._rows("SELECT workspace, COUNT(*) FROM executions GROUP BY workspace", [])
        return {str(name): int(count) for name, count in rows}

    async def stats(self) -> ExecutionStats:
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        active = await self._scalar(f"SELECT COUNT(*) FROM executions WHERE status IN ({','.join('?' * len(ACTIVE))})", list(ACTIVE))
        completed = await self._scalar("SELECT COUNT(*) FROM executions WHERE status = 'completed' AND completed_at >= ?", [midnight])
        failed = await self._scalar("SELECT COUNT(*) FROM executions WHERE status = 'failed' AND completed_at >= ?", [midnight])
        avg = await self._scalar(
            "SELECT AVG(completed_at - created_at) FROM executions WHERE status = 'completed' AND completed_at >= ?",
            [(datetime.now(UTC) - timedelta(days=1)).timestamp()],
        )
        return ExecutionStats(
            active=int(active or 0),
            completed_today=int(completed or 0),
            failed_today=int(failed or 0),
            avg_duration_seconds=None if avg is None else round(float(avg), 3),
        )

    def _executions_written(self) -> None:
        self._executions_changed += 1

    async def workflow_stats(self, slugs: Sequence[str] | None = None) -> dict[str, WorkflowRunStats]:
        """Counted by SQL; where one process owns the database (`shared` false), the count is
        kept until this process writes an execution, or STATS_SECONDS pass (what another
        process may have changed meanwhile: `prune` from the CLI). Measured: the SQL was
        ~60% of a catalogue detail read's own time."""
        if self.shared:
            return await sql_analytics.workflow_stats(self._rows, slugs)
        key = None if slugs is None else tuple(slugs)
        kept = self._stats.get(key)
        now = time.monotonic()
        if kept is not None and kept[0] == self._executions_changed and now - kept[1] < STATS_SECONDS:
            return dict(kept[2])
        changed = self._executions_changed
        found = await sql_analytics.workflow_stats(self._rows, slugs)
        if changed == self._executions_changed:  # nothing written while it was counted
            if len(self._stats) >= STATS_KEPT:
                self._stats.clear()
            self._stats[key] = (changed, now, found)
        return dict(found)

    async def median_duration(self, slug: str) -> float | None:
        return await sql_analytics.median_duration(self._rows, slug)

    async def workflow_analytics(self, slug: str, *, start: float, end: float, granularity: Granularity) -> WorkflowAnalytics:
        return await sql_analytics.workflow_analytics(self._rows, slug, start, end, granularity, self.buckets)

    async def step_metrics(
        self, *, workflow_slug: str | None = None, start: float | None = None, end: float | None = None, slow: int = 5
    ) -> dict[str, Any]:
        """Aggregates over finished step executions (ouroboros /metrics/step-executions)."""
        clauses: list[str] = ["s.status IN ('completed', 'failed')"]
        args: list[Any] = []
        if workflow_slug is not None:
            clauses.append("s.workflow_slug = ?")
            args.append(workflow_slug)
        if start is not None:
            clauses.append("s.started_at >= ?")
            args.append(start)
        if end is not None:
            clauses.append("s.started_at <= ?")
            args.append(end)
        where = " WHERE " + " AND ".join(clauses)
        cost = "(SELECT COALESCE(SUM(c.cost_usd), 0) FROM llm_calls c WHERE c.step_execution_id = s.step_execution_id)"
        summary = (await self._rows(
            f"SELECT COUNT(*), {STEP_COMPLETED}, {STEP_FAILED}, AVG(s.duration_seconds),"
            f" AVG(s.retry_count) FROM step_executions s{where}", args,
        ))[0]  # fmt: skip
        total = int(summary[0] or 0)
        by_workflow = await self._rows(
            f"SELECT COALESCE(s.workflow_slug, '(graph)'), COUNT(*), AVG(s.duration_seconds), {STEP_SUCCESS_RATE}"
            f" FROM step_executions s{where} GROUP BY 1 ORDER BY 1", args,
        )  # fmt: skip
        by_step = await self._rows(
            f"SELECT s.step_name, COUNT(*), AVG(s.duration_seconds), {STEP_FAILURE_RATE}, AVG({cost}), MAX(s.duration_seconds)"
            f" FROM step_executions s{where} GROUP BY s.step_name ORDER BY COUNT(*) DESC, s.step_name", args,
        )  # fmt: skip

        def r(value: Any, digits: int = 3) -> float | None:
            return None if value is None else round(float(value), digits)

        return {
            "summary": {
                "total_step_executions": total,
                "successful": int(summary[1] or 0),
                "failed": int(summary[2] or 0),
                "success_rate": r((summary[1] or 0) / total) if total else None,
                "avg_duration_seconds": r(summary[3]),
                "avg_retry_count": r(summary[4]),
            },
            "by_workflow": {row[0]: {"total": row[1], "avg_duration": r(row[2]), "success_rate": r(row[3])} for row in by_workflow},
            "by_step": [
                {
                    "step_name": row[0],
                    "total_executions": row[1],
                    "avg_duration": r(row[2]),
                    "failure_rate": r(row[3]),
                    "avg_cost_usd": r(row[4], 8),
                }
                for row in by_step
            ],
            "slow_steps": [
                {"step_name": row[0], "avg_duration": r(row[2]), "slowest_execution": r(row[5])}
                for row in sorted(by_step, key=lambda row: row[2] or 0, reverse=True)[:slow]
            ],
        }

    # -- steps and nodes -----------------------------------------------------------------

    async def save_step(self, step: StepExecution) -> None:
        self._write(
            STEP_UPSERT,
            (
                step.step_execution_id,
                step.execution_id,
                step.step_number,
                step.step_name,
                step.status,
                step.workflow_slug,
                _ts(step.started_at),
                step.duration_seconds,
                step.retry_count,
                msgspec.json.encode(step),
            ),
            key=step.step_execution_id,
        )

    async def get_step(self, step_execution_id: str) -> StepExecution:
        rows = await self._rows("SELECT doc FROM step_executions WHERE step_execution_id = ?", [step_execution_id])
        if not rows:
            raise NotFound(f"Step execution '{step_execution_id}' not found", details={"step_execution_id": step_execution_id})
        return msgspec.json.decode(rows[0][0], type=StepExecution)

    async def list_steps(self, execution_id: str) -> list[StepExecution]:
        rows = await self._rows("SELECT doc FROM step_executions WHERE execution_id = ? ORDER BY step_number, started_at", [execution_id])
        return [msgspec.json.decode(r[0], type=StepExecution) for r in rows]

    async def find_steps(
        self,
        *,
        execution_id: str | None = None,
        workflow_slug: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> tuple[list[StepExecution], int]:
        where, args = self._where(execution_id=execution_id, workflow_slug=workflow_slug, status=status)
        total = await self._scalar(f"SELECT COUNT(*) FROM step_executions{where}", args)
        rows = await self._rows(f"SELECT doc FROM step_executions{where} ORDER BY started_at DESC LIMIT ?", [*args, limit])
        return [msgspec.json.decode(r[0], type=StepExecution) for r in rows], int(total or 0)

    async def save_node(self, node: NodeExecution) -> None:
        self._write(
            NODE_UPSERT,
            (node.node_execution_id, node.execution_id, _ts(node.started_at), msgspec.json.encode(node)),
            key=node.node_execution_id,
        )

    async def list_nodes(self, execution_id: str) -> list[NodeExecution]:
        rows = await self._rows("SELECT doc FROM node_executions WHERE execution_id = ? ORDER BY started_at", [execution_id])
        return [msgspec.json.decode(r[0], type=NodeExecution) for r in rows]

    # -- events and LLM calls ------------------------------------------------------------

    async def append_event(self, execution_id: str, event_type: EventType, data: dict[str, Any]) -> Event:
        seq = self._seq.get(execution_id)
        if seq is None:
            found = int(await self._scalar("SELECT COALESCE(MAX(seq), 0) FROM events WHERE execution_id = ?", [execution_id]) or 0)
            seq = self._seq.get(execution_id, found)  # another caller may have counted meanwhile
        # From here on nothing awaits, so no other task can take the same seq: no lock needed
        # (an anyio lock would yield to the loop on every event).
        seq += 1
        self._seq[execution_id] = seq
        event = Event(
            # unique without a random draw: the execution id is unique, seq unique within it
            event_id=f"evt_{execution_id.partition('_')[2]}_{seq}",
            execution_id=execution_id,
            seq=seq,
            event_type=event_type,
            timestamp=utcnow(),
            data={"execution_id": execution_id, **data},
        )
        self._write(EVENT_INSERT, (execution_id, seq, event_type, msgspec.json.encode(event)))
        return event

    def new_sequence(self, execution_id: str) -> None:
        """A brand-new execution has no events yet: its seq starts at 0 without a query."""
        self._seq[execution_id] = 0

    async def list_events(
        self, execution_id: str, *, event_type: str | None = None, after_seq: int = 0, limit: int = 100, offset: int = 0
    ) -> tuple[list[Event], int]:
        where, args = " WHERE execution_id = ? AND seq > ?", [execution_id, after_seq]
        if event_type is not None:
            where, args = where + " AND event_type = ?", [*args, event_type]
        total = await self._scalar(f"SELECT COUNT(*) FROM events{where}", args)
        rows = await self._rows(f"SELECT doc FROM events{where} ORDER BY seq LIMIT ? OFFSET ?", [*args, limit, offset])
        return [msgspec.json.decode(r[0], type=Event) for r in rows], int(total or 0)

    async def events_after(self, execution_id: str, after_seq: int, limit: int) -> list[Event]:
        rows = await self._rows(
            "SELECT doc FROM events WHERE execution_id = ? AND seq > ? ORDER BY seq LIMIT ?", [execution_id, after_seq, limit]
        )
        return [msgspec.json.decode(r[0], type=Event) for r in rows]

    def forget_sequence(self, execution_id: str) -> None:
        self._seq.pop(execution_id, None)

    async def add_llm_call(self, execution_id: str, step_execution_id: str | None, usage: LLMUsage) -> None:
        self._write(
            LLM_INSERT,
            (
                execution_id,
                step_execution_id,
                usage.model,
                usage.total_tokens,
                usage.cost_usd,
                time.time(),
                msgspec.json.encode(usage),
                usage.provider,
            ),
        )

    async def llm_calls(self, execution_id: str) -> list[LLMUsage]:
        rows = await self._rows("SELECT doc FROM llm_calls WHERE execution_id = ? ORDER BY id", [execution_id])
        return [msgspec.json.decode(r[0], type=LLMUsage) for r in rows]

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _where(**filters: str | None) -> tuple[str, list[Any]]:
        clauses = [f"{column} = ?" for column, value in filters.items() if value is not None]
        args = [value for value in filters.values() if value is not None]
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args

    async def _scalar(self, sql: str, args: Sequence[Any]) -> Any:
        rows = await self._rows(sql, args)
        return rows[0][0] if rows else None
