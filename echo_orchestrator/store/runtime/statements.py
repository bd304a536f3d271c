"""The runtime records' write statements (both backends run them) and the buffer of rows
waiting for the next flush."""

from __future__ import annotations

from typing import Any

# Buffered rows: statement -> key -> parameters. Upserts are kept by key, so a record saved
# several times between two flushes (a step started, then finished) is written once.
Pending = dict[str, dict[object, tuple[Any, ...]]]

EXECUTION_UPSERT = (
    "INSERT INTO executions (execution_id, kind, status, workflow_id, workflow_slug, graph_name, created_at, completed_at,"
    " doc, owner, started_at, duration_seconds, total_tokens, cost_usd, workspace, limit_key)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (execution_id) DO UPDATE SET status = excluded.status, completed_at = excluded.completed_at,"
    " doc = excluded.doc, owner = excluded.owner, started_at = excluded.started_at,"
    " duration_seconds = excluded.duration_seconds, total_tokens = excluded.total_tokens, cost_usd = excluded.cost_usd,"
    " limit_key = COALESCE(excluded.limit_key, executions.limit_key)"
    # Only its owner (or anyone, while it has none) changes a record: a process that was
    # taken for dead and wakes up cannot take back a run another process adopted.
    " WHERE executions.owner IS NULL OR executions.owner = excluded.owner"
)
# Idempotent: a batch written again after a flush whose outcome was unknown adds nothing twice.
EVENT_INSERT = "INSERT INTO events (execution_id, seq, event_type, doc) VALUES (?, ?, ?, ?) ON CONFLICT (execution_id, seq) DO NOTHING"
STEP_UPSERT = (
    "INSERT INTO step_executions (step_execution_id, execution_id, step_number, step_name, status, workflow_slug,"
    " started_at, duration_seconds, retry_count, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (step_execution_id) DO UPDATE SET status = excluded.status,"
    " duration_seconds = excluded.duration_seconds, retry_count = excluded.retry_count, doc = excluded.doc"
)
NODE_UPSERT = (
    "INSERT INTO node_executions (node_execution_id, execution_id, started_at, doc) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (node_execution_id) DO UPDATE SET doc = excluded.doc"
)
LLM_INSERT = (
    "INSERT INTO llm_calls (execution_id, step_execution_id, model, total_tokens, cost_usd, created_at, doc, provider)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
# A run's end, told to a URL (`store.runtime.triggers`): queued with the run's last rows.
DELIVERY_INSERT = (
    "INSERT INTO webhook_deliveries (delivery_id, execution_id, status, attempts, next_attempt_at, lease_until, doc)"
    " VALUES (?, ?, ?, ?, ?, NULL, ?) ON CONFLICT (delivery_id) DO NOTHING"
)
# Where each buffered statement's row holds its execution's id.
EXECUTION_ID_AT = {EXECUTION_UPSERT: 0, EVENT_INSERT: 0, STEP_UPSERT: 1, NODE_UPSERT: 1, LLM_INSERT: 0, DELIVERY_INSERT: 1}


def rows_without(pending: Pending, executions: set[str]) -> Pending:
    """The buffered rows, less those of these executions."""
    return {sql: {key: row for key, row in rows.items() if row[EXECUTION_ID_AT[sql]] not in executions} for sql, rows in pending.items()}


def merged(older: Pending, newer: Pending) -> Pending:
    """Rows buffered before (`older`, first) and after: a newer row for the same key wins."""
    out = {sql: dict(rows) for sql, rows in older.items()}
    for sql, rows in newer.items():
        out.setdefault(sql, {}).update(rows)
    return out
