"""Deleting ended executions with everything that is theirs, shared by every SQL backend.

Which executions go is `services.retention`'s to say (the policy); this module finds them
(`expired`: older than a cutoff, or beyond the newest N, in one scope) and deletes a batch in
one transaction (`delete_ended`): the execution row first, only if it is still ended (its
DELETE locks the row, so a resume that claims it meanwhile either waits and finds nothing,
or wins and the row is kept), then its events, steps, nodes, LLM calls and checkpoints.
Paused and running executions are never selected nor deleted.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import msgspec

from echo_orchestrator.lifecycle.executions import TERMINAL

ENDED = tuple(sorted(TERMINAL))
# The tables whose rows belong to one execution (by `execution_id`), besides `executions`.
RECORD_TABLES = ("events", "step_executions", "node_executions", "llm_calls", "webhook_deliveries", "webhook_attempts")
_ENDED_MARKS = ",".join("?" * len(ENDED))
# When an ended execution ended; one settled before `completed_at` was kept, when it began.
_ENDED_AT = "COALESCE(completed_at, created_at)"


class ExpiryScope(msgspec.Struct, frozen=True, kw_only=True):
    """The executions one rule governs: one workflow's (`slug`), or all but `excluded`
    workflows' (graph runs included)."""

    slug: str | None = None
    excluded: tuple[str, ...] = ()

    def where(self) -> tuple[str, list[Any]]:
        if self.slug is not None:
            return "workflow_slug = ?", [self.slug]
        if not self.excluded:
            return "1 = 1", []
        marks = ",".join("?" * len(self.excluded))
        return f"(workflow_slug IS NULL OR workflow_slug NOT IN ({marks}))", list(self.excluded)


class Expired(msgspec.Struct, frozen=True, kw_only=True):
    """An ended execution the policy lets go, and where its run folder is."""

    execution_id: str
    workspace: str
    workflow_slug: str | None


class DatabaseSize(msgspec.Struct, kw_only=True):
    """The runtime database's size on disk, and how much of it is free pages it would reuse."""

    size_bytes: int
    free_bytes: int | None = None


def delete_children(table: str, column: str, count: int) -> str:
    """The statement deleting a table's rows of `count` executions (`?` placeholders)."""
    return f"DELETE FROM {table} WHERE {column} IN ({','.join('?' * count)})"


class Retaining:
    """What a SQL runtime store gives retention (`store.runtime.sql.SqlRuntimeStore`)."""

    # LangGraph's checkpoint tables of the backend's saver, each keyed by `thread_id` (= execution id).
    checkpoint_tables: tuple[str, ...] = ()

    @abstractmethod
    async def _rows(self, sql: str, args: Sequence[Any]) -> list[Any]: ...

    @abstractmethod
    async def _delete_batch(
        self, ids_sql: str, ids_args: Sequence[Any], children: Sequence[tuple[str, str]]
    ) -> tuple[list[str], list[int]]:
        """In one transaction: run `ids_sql` (a DELETE ... RETURNING execution_id), then delete
        from each (table, column) of `children` the rows whose column holds one of the ids it
        returned (`delete_children`). Answers the ids and each child delete's row count."""

    @abstractmethod
    async def _existing_tables(self, names: Sequence[str]) -> list[str]:
        """Those of `names` that exist (LangGraph makes its tables at its first use)."""

    @abstractmethod
    async def database_size(self) -> DatabaseSize: ...

    @abstractmethod
    async def reclaim_space(self, *, above_bytes: int | None = None) -> int:
        """Make the space deletes left reusable, and give what is worth it back to the file
        system where the backend can without blocking writers for long (`above_bytes`: free
        space kept for new rows, the backend's default when None, 0 for none); the bytes
        given back."""

    @abstractmethod
    def retention_turn(self) -> AbstractAsyncContextManager[bool]:
        """True inside when this process may prune now (one node of a cluster at a time)."""

    async def expired(self, scope: ExpiryScope, *, ended_before: float | None, keep: int, limit: int, skip: int = 0) -> list[Expired]:
        """Up to `limit` ended executions of `scope`, oldest first: ended before `ended_before`
        (a timestamp) when given, else all but the newest `keep`; the first `skip` passed over
        (a dry run pages; a prune deletes what it found, so the next query starts anew)."""
        where, args = scope.where()
        select = f"SELECT execution_id, workspace, workflow_slug FROM executions WHERE status IN ({_ENDED_MARKS}) AND {where}"
        if ended_before is not None:
            # As written, for the (status, completed_at) index; the NULL side is legacy rows.
            older = "(completed_at < ? OR (completed_at IS NULL AND created_at < ?))"
            sql = f"{select} AND {older} ORDER BY {_ENDED_AT}, execution_id LIMIT ? OFFSET ?"
            rows = await self._rows(sql, [*ENDED, *args, ended_before, ended_before, limit, skip])
        else:
            # Newest first, past the `keep` newest: each batch deleted, the same offset lands
            # on the next ones.
            sql = f"{select} ORDER BY {_ENDED_AT} DESC, execution_id DESC LIMIT ? OFFSET ?"
            rows = await self._rows(sql, [*ENDED, *args, limit, keep + skip])
        return [Expired(execution_id=str(r[0]), workspace=str(r[1]), workflow_slug=r[2]) for r in rows]

    async def delete_ended(self, execution_ids: Sequence[str]) -> tuple[list[str], dict[str, int]]:
        """Delete these executions, those still ended, and all their rows, in one transaction:
        the ids deleted, and the rows deleted per table."""
        if not execution_ids:
            return [], {}
        marks = ",".join("?" * len(execution_ids))
        checkpoints = await self._existing_tables(self.checkpoint_tables)
        ids_sql = f"DELETE FROM executions WHERE execution_id IN ({marks}) AND status IN ({_ENDED_MARKS}) RETURNING execution_id"
        children = [(table, "execution_id") for table in RECORD_TABLES] + [(table, "thread_id") for table in checkpoints]
        deleted, counts = await self._delete_batch(ids_sql, [*execution_ids, *ENDED], children)
        rows = {"executions": len(deleted), **{table: count for (table, _), count in zip(children, counts, strict=True)}}
        return deleted, rows

    async def rows_of(self, execution_ids: Sequence[str]) -> dict[str, int]:
        """How many rows each table holds for these executions (what deleting them would remove)."""
        if not execution_ids:
            return {}
        marks = ",".join("?" * len(execution_ids))
        checkpoints = await self._existing_tables(self.checkpoint_tables)
        counts: dict[str, int] = {"executions": len(execution_ids)}
        for table in (*RECORD_TABLES, *checkpoints):
            column = "thread_id" if table in checkpoints else "execution_id"
            rows = await self._rows(f"SELECT COUNT(*) FROM {table} WHERE {column} IN ({marks})", list(execution_ids))
            counts[table] = int(rows[0][0])
        return counts
