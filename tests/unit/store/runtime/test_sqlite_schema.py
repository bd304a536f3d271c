"""The SQLite runtime store's schema versions: any older database is brought up to date at open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from echo_orchestrator.models import Execution, utcnow
from echo_orchestrator.store.runtime.sqlite import SqliteRuntimeStore
from echo_orchestrator.store.runtime.sqlite_schema import _BASE_SCHEMA, MIGRATIONS

pytestmark = pytest.mark.anyio


def _version_and_columns(path: Path) -> tuple[int, set[str]]:
    with sqlite3.connect(path) as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        columns = {row[1] for row in db.execute("PRAGMA table_info(executions)")}
    return version, columns


async def _open_and_save(path: Path) -> None:
    store = SqliteRuntimeStore(path, owner="host/boot:1")
    await store.open()
    await store.save_execution(Execution(execution_id="wfexec_1", kind="workflow", created_at=utcnow()))
    await store.flush()
    assert (await store.executions_in(["initializing"]))[0].owner == "host/boot:1"
    await store.close()


async def test_a_new_database_gets_every_version(tmp_path: Path) -> None:
    await _open_and_save(tmp_path / "new.sqlite")
    assert _version_and_columns(tmp_path / "new.sqlite") == (len(MIGRATIONS), _version_and_columns(tmp_path / "new.sqlite")[1])
    assert "owner" in _version_and_columns(tmp_path / "new.sqlite")[1]


async def test_a_database_from_before_owners_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(_BASE_SCHEMA)  # version 1, unrecorded
    assert _version_and_columns(path) == (0, _version_and_columns(path)[1]) and "owner" not in _version_and_columns(path)[1]
    await _open_and_save(path)
    version, columns = _version_and_columns(path)
    assert version == len(MIGRATIONS) and "owner" in columns


async def test_an_unversioned_database_that_has_owners_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "release.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(_BASE_SCHEMA)
        db.execute(MIGRATIONS[1])  # as the release before versions were recorded made it
    await _open_and_save(path)
    assert _version_and_columns(path)[0] == len(MIGRATIONS)


async def test_runs_recorded_before_analytics_columns_are_filled_in(tmp_path: Path) -> None:
    """Version 3 computes start, duration, tokens, cost and an LLM call's provider from the
    records' documents, so analytics count the runs made before it."""
    from datetime import timedelta

    import msgspec

    from echo_orchestrator.models import LLMUsage

    path = tmp_path / "v2.sqlite"
    started = utcnow()
    run = Execution(execution_id="wfexec_1", kind="workflow", status="completed", workflow_slug="wf", created_at=started)
    run.started_at, run.completed_at, run.total_tokens, run.cost_usd = started, started + timedelta(seconds=2.5), 7, 0.25
    run.workspace = "team"
    with sqlite3.connect(path) as db:
        db.executescript(_BASE_SCHEMA)
        db.execute(MIGRATIONS[1])
        db.execute("PRAGMA user_version = 2")
        db.execute(
            "INSERT INTO executions (execution_id, kind, status, workflow_slug, created_at, completed_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?)",
            ("wfexec_1", "workflow", "completed", "wf", started.timestamp(), run.completed_at.timestamp(), msgspec.json.encode(run)),
        )
        usage = LLMUsage(provider="echo", model="m", total_tokens=7)
        db.execute(
            "INSERT INTO llm_calls (execution_id, model, total_tokens, created_at, doc) VALUES (?, ?, ?, ?, ?)",
            ("wfexec_1", "m", 7, started.timestamp(), msgspec.json.encode(usage)),
        )
    store = SqliteRuntimeStore(path, owner="host/boot:1")
    await store.open()
    try:
        stats = (await store.workflow_stats(["wf"]))["wf"]
        assert (stats.completed, stats.avg_duration_seconds, stats.total_tokens, stats.total_cost_usd) == (1, 2.5, 7, 0.25)
        found = await store.workflow_analytics("wf", start=started.timestamp() - 1, end=started.timestamp() + 60, granularity="day")
        assert [(m.provider, m.tokens) for m in found.models] == [("echo", 7)]
        assert await store.workspace_counts() == {"team": 1}  # version 4 reads the workspace from the document
    finally:
        await store.close()
