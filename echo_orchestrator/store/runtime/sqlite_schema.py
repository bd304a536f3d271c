"""The SQLite runtime database: its connection settings, its schema and its migrations.

The schema's version is SQLite's `PRAGMA user_version`; `migrate` brings any older
database up to date at open, one step per transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, cast

import aiosqlite

from echo_orchestrator.store.runtime import triggers

T = TypeVar("T")

_BASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    execution_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    workflow_id TEXT,
    workflow_slug TEXT,
    graph_name TEXT,
    created_at REAL NOT NULL,
    completed_at REAL,
    doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_slug ON executions (workflow_slug, created_at);
CREATE INDEX IF NOT EXISTS executions_by_status ON executions (status, created_at);
CREATE TABLE IF NOT EXISTS step_executions (
    step_execution_id TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    step_number INTEGER NOT NULL,
    step_name TEXT NOT NULL,
    status TEXT NOT NULL,
    workflow_slug TEXT,
    started_at REAL,
    duration_seconds REAL,
    retry_count INTEGER NOT NULL DEFAULT 0,
    doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS steps_by_execution ON step_executions (execution_id, step_number);
CREATE INDEX IF NOT EXISTS steps_by_slug ON step_executions (workflow_slug, started_at);
CREATE TABLE IF NOT EXISTS node_executions (
    node_execution_id TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    started_at REAL,
    doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS nodes_by_execution ON node_executions (execution_id, started_at);
CREATE TABLE IF NOT EXISTS events (
    execution_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    doc BLOB NOT NULL,
    PRIMARY KEY (execution_id, seq)
);
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT NOT NULL,
    step_execution_id TEXT,
    model TEXT NOT NULL,
    total_tokens INTEGER NOT NULL,
    cost_usd REAL,
    created_at REAL NOT NULL,
    doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS llm_by_execution ON llm_calls (execution_id);
"""

# Version n of the schema is MIGRATIONS[n - 1] applied in order; `PRAGMA user_version`
# records the version a database has. Append, never edit: a released step stays as it was.
MIGRATIONS: tuple[str, ...] = (
    _BASE_SCHEMA,
    # 2: who runs an execution (lifecycle.ownership), so another process can tell a live
    # run from one whose process died.
    "ALTER TABLE executions ADD COLUMN owner TEXT",
    # 3: what analytics aggregate, as columns (start, duration, tokens, cost; an LLM call's
    # provider), filled in for what was recorded before, and covering indexes: the records'
    # JSON documents sit before these columns, so a query that had to read the rows would
    # walk every document's overflow pages (150 ms instead of a few over 5,000 runs).
    """
    ALTER TABLE executions ADD COLUMN started_at REAL;
    ALTER TABLE executions ADD COLUMN duration_seconds REAL;
    ALTER TABLE executions ADD COLUMN total_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE executions ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;
    UPDATE executions SET
        started_at = (julianday(json_extract(CAST(doc AS TEXT), '$.started_at')) - 2440587.5) * 86400.0,
        total_tokens = COALESCE(json_extract(CAST(doc AS TEXT), '$.total_tokens'), 0),
        cost_usd = COALESCE(json_extract(CAST(doc AS TEXT), '$.cost_usd'), 0);
    UPDATE executions SET duration_seconds = completed_at - started_at
        WHERE completed_at IS NOT NULL AND started_at IS NOT NULL;
    ALTER TABLE llm_calls ADD COLUMN provider TEXT NOT NULL DEFAULT '';
    UPDATE llm_calls SET provider = COALESCE(json_extract(CAST(doc AS TEXT), '$.provider'), '');
    CREATE INDEX IF NOT EXISTS executions_analytics
        ON executions (workflow_slug, created_at, status, duration_seconds, total_tokens, cost_usd, kind, execution_id);
    CREATE INDEX IF NOT EXISTS llm_usage ON llm_calls (execution_id, provider, model, total_tokens, cost_usd);
    CREATE INDEX IF NOT EXISTS steps_analytics
        ON step_executions (workflow_slug, step_number, started_at, status, duration_seconds, retry_count, step_name)
    """,
    # 4: the workspace an execution's files go to, as a column (executions per workspace).
    """
    ALTER TABLE executions ADD COLUMN workspace TEXT NOT NULL DEFAULT 'default';
    UPDATE executions SET workspace = COALESCE(json_extract(CAST(doc AS TEXT), '$.workspace'), 'default');
    CREATE INDEX IF NOT EXISTS executions_by_workspace ON executions (workspace, status)
    """,
    # 5: whose concurrency limit a run counts against (the caller, else its address), as the
    # PostgreSQL runtime counts it across nodes; earlier runs count by their caller.
    """
    ALTER TABLE executions ADD COLUMN limit_key TEXT;
    UPDATE executions SET limit_key = json_extract(CAST(doc AS TEXT), '$.caller');
    CREATE INDEX IF NOT EXISTS executions_by_limit_key ON executions (limit_key, status)
    """,
    # 6: ended executions by when they ended (retention finds the oldest).
    "CREATE INDEX IF NOT EXISTS executions_by_end ON executions (status, completed_at)",
    # 7: schedule fires, webhook deliveries and their attempts, inbound message ids (docs/triggers.md).
    triggers.SCHEMA.format(real="REAL", blob="BLOB"),
)


# How long a writer waits for another connection's (short) transaction before "database is
# locked" (a 503 for the request that waited): long beside any transaction of ours.
BUSY_TIMEOUT_SECONDS = 5


async def connect(path: Path, *, autocommit: bool = False) -> aiosqlite.Connection:
    """A connection to the runtime database: WAL (readers never block the writer), and a
    writer that waits `BUSY_TIMEOUT_SECONDS` for another connection's transaction. With
    `autocommit` every statement is its own transaction: for the LangGraph checkpointer,
    which otherwise can leave an implicit transaction (and the write lock) open."""
    db = await aiosqlite.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None if autocommit else "DEFERRED")
    # Before any table: a new database frees pages incrementally (`SqliteRuntimeStore.reclaim_space`).
    await db.execute("PRAGMA auto_vacuum = INCREMENTAL")
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
    return db


async def on_connection_thread(db: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """`work` run with the sqlite3 connection on aiosqlite's own thread, as one queued call.

    aiosqlite hands every statement to its thread and back; several statements and a commit
    in one call cost one hand-over. `_execute` and `_conn` are aiosqlite's (private, and the
    same since 0.17): the one place we reach in, so a release that changes them fails here."""
    return cast(T, await db._execute(work, db._conn))  # type: ignore[no-untyped-call]


async def migrate(db: aiosqlite.Connection) -> tuple[int, int]:
    """Bring the database to the newest schema version, one step per transaction; answers
    (the version it was at, the version it is at now), 0 for a new database."""
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = before = int(row[0]) if row else 0
    if version == 0 and await _has_column(db, "executions", "owner"):
        # Made before versions were recorded, by a release that already had owners.
        version = before = 2
        await db.execute(f"PRAGMA user_version = {version}")
        await db.commit()
    for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
        await db.executescript(f"BEGIN; {step}; PRAGMA user_version = {number}; COMMIT;")
    return before, len(MIGRATIONS)


async def _has_column(db: aiosqlite.Connection, table: str, column: str) -> bool:
    async with db.execute(f"PRAGMA table_info({table})") as cursor:
        return any(row[1] == column for row in await cursor.fetchall())
