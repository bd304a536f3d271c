"""The PostgreSQL runtime database: its schema and its migrations.

The schema's version is the one row of `echo_schema`; `migrate` brings any older database
up to date, every step and the version in one transaction, under a transaction-level
advisory lock so that nodes starting together migrate once. A database newer than this
release is refused (an older node must not write into a schema it does not know).
The tables and columns are SQLite's (`store.runtime.sqlite_schema`, version 4) in PostgreSQL's types.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg import AsyncConnection

from echo_orchestrator.errors import ConfigurationError
from echo_orchestrator.store.runtime import triggers

# Advisory lock keys of this service (pg_advisory_lock takes a bigint): ASCII "echo" + n.
MIGRATION_LOCK = 0x6563686F_0001
CHECKPOINT_SETUP_LOCK = 0x6563686F_0002


_BASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    execution_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    workflow_id TEXT,
    workflow_slug TEXT,
    graph_name TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    completed_at DOUBLE PRECISION,
    doc BYTEA NOT NULL,
    owner TEXT,
    started_at DOUBLE PRECISION,
    duration_seconds DOUBLE PRECISION,
    total_tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    workspace TEXT NOT NULL DEFAULT 'default'
);
CREATE INDEX IF NOT EXISTS executions_by_slug ON executions (workflow_slug, created_at);
CREATE INDEX IF NOT EXISTS executions_by_status ON executions (status, created_at);
CREATE INDEX IF NOT EXISTS executions_analytics
    ON executions (workflow_slug, created_at, status, duration_seconds, total_tokens, cost_usd, kind, execution_id);
CREATE INDEX IF NOT EXISTS executions_by_workspace ON executions (workspace, status);
CREATE TABLE IF NOT EXISTS step_executions (
    step_execution_id TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    step_number INTEGER NOT NULL,
    step_name TEXT NOT NULL,
    status TEXT NOT NULL,
    workflow_slug TEXT,
    started_at DOUBLE PRECISION,
    duration_seconds DOUBLE PRECISION,
    retry_count INTEGER NOT NULL DEFAULT 0,
    doc BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS steps_by_execution ON step_executions (execution_id, step_number);
CREATE INDEX IF NOT EXISTS steps_analytics
    ON step_executions (workflow_slug, step_number, started_at, status, duration_seconds, retry_count, step_name);
CREATE TABLE IF NOT EXISTS node_executions (
    node_execution_id TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    started_at DOUBLE PRECISION,
    doc BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS nodes_by_execution ON node_executions (execution_id, started_at);
CREATE TABLE IF NOT EXISTS events (
    execution_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    doc BYTEA NOT NULL,
    PRIMARY KEY (execution_id, seq)
);
CREATE TABLE IF NOT EXISTS llm_calls (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id TEXT NOT NULL,
    step_execution_id TEXT,
    model TEXT NOT NULL,
    total_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION,
    created_at DOUBLE PRECISION NOT NULL,
    doc BYTEA NOT NULL,
    provider TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS llm_by_execution ON llm_calls (execution_id);
CREATE INDEX IF NOT EXISTS llm_usage ON llm_calls (execution_id, provider, model, total_tokens, cost_usd);
"""


def _queue_schema() -> str:
    """The run queue's tables and functions, as the pinned procrastinate release ships them
    (`engine.queue`). A newer procrastinate brings migration files: a new step here applies them."""
    from procrastinate.schema import SchemaManager

    return SchemaManager.get_schema()


# Version n is MIGRATIONS[n - 1] applied in order. Append, never edit. A step is SQL split
# on `;`, or a function answering one script sent whole (its bodies hold `;`).
MIGRATIONS: tuple[str | Callable[[], str], ...] = (
    _BASE_SCHEMA,
    # 2: the processes sharing the database and when each last said it was alive
    # (`lifecycle.ownership`: a run's owner on another host is alive while this is fresh).
    """
    CREATE TABLE IF NOT EXISTS processes (
        owner TEXT PRIMARY KEY,
        started_at DOUBLE PRECISION NOT NULL,
        last_seen DOUBLE PRECISION NOT NULL
    )
    """,
    # 3: whose concurrency limit a run counts against, counted across nodes.
    """
    ALTER TABLE executions ADD COLUMN IF NOT EXISTS limit_key TEXT;
    UPDATE executions SET limit_key = convert_from(doc, 'UTF8')::jsonb ->> 'caller';
    CREATE INDEX IF NOT EXISTS executions_by_limit_key ON executions (limit_key, status)
    """,
    # 4: the run queue (procrastinate 3.10's schema).
    _queue_schema,
    # 5: a queued run's waiting or running job, found by its execution (`ProcrastinateQueue.requeue_lost`).
    """
    CREATE INDEX IF NOT EXISTS echo_jobs_by_execution ON procrastinate_jobs ((args ->> 'execution_id'))
    WHERE status IN ('todo', 'doing')
    """,
    # 6: ended executions by when they ended (retention finds the oldest).
    "CREATE INDEX IF NOT EXISTS executions_by_end ON executions (status, completed_at)",
    # 7: schedule fires, webhook deliveries and their attempts, inbound message ids (docs/triggers.md).
    triggers.SCHEMA.format(real="DOUBLE PRECISION", blob="BYTEA"),
)


async def cluster_id(conn: AsyncConnection[Any]) -> str:
    """The id of the cluster this database is the runtime of, made by the first node that
    asks: it names the cluster's Redis channels and keys. Its own table, outside the
    versioned steps, so any part may ask first (under the migration lock)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await conn.execute("CREATE TABLE IF NOT EXISTS echo_cluster (id TEXT NOT NULL, one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one))")
        await conn.execute(
            "INSERT INTO echo_cluster (id) VALUES (md5(random()::text || clock_timestamp()::text)) ON CONFLICT (one) DO NOTHING"
        )
        cursor = await conn.execute("SELECT id FROM echo_cluster")
        row = await cursor.fetchone()
    assert row is not None
    return str(row[0] if isinstance(row, tuple) else row["id"])


async def schema_version(conn: AsyncConnection[Any]) -> int:
    await conn.execute("CREATE TABLE IF NOT EXISTS echo_schema (version INTEGER NOT NULL)")
    cursor = await conn.execute("SELECT version FROM echo_schema")
    row = await cursor.fetchone()
    return 0 if row is None else int(row[0] if isinstance(row, tuple) else row["version"])


async def migrate(conn: AsyncConnection[Any]) -> tuple[int, int]:
    """Bring the database to the newest version; answers (the version it was at, the
    version it is at now), 0 for a new database."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        version = await schema_version(conn)
        if version > len(MIGRATIONS):
            raise ConfigurationError(
                f"The runtime database is at schema version {version}, newer than this release knows ({len(MIGRATIONS)}): "
                "upgrade echo-orchestrator on this node"
            )
        for step in MIGRATIONS[version:]:
            if callable(step):  # a script is sent as it is, unprepared (a prepared statement holds one)
                await conn.execute(step(), prepare=False)
                continue
            # One statement per call (the extended protocol takes one); none holds a `;`.
            for statement in filter(None, (part.strip() for part in step.split(";"))):
                await conn.execute(statement)
        if version < len(MIGRATIONS):
            await conn.execute("DELETE FROM echo_schema")
            await conn.execute("INSERT INTO echo_schema (version) VALUES (%s)", (len(MIGRATIONS),))
    return version, len(MIGRATIONS)
