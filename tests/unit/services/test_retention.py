"""The retention policy over real stores, on both runtime backends: by age and by count, a
workflow's own rule over the service's, paused runs kept, run folders removed, a dry run
that changes nothing and says what a prune would do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from echo_orchestrator.backends import runtime_store
from echo_orchestrator.models import Retention, Workflow
from echo_orchestrator.services.retention import GRAPH_RUNS, RetentionService, Rule
from echo_orchestrator.settings import Settings
from echo_orchestrator.store.definitions.files import FileDefinitionStore
from echo_orchestrator.store.runtime.base import RuntimeStore
from echo_orchestrator.store.workspaces.folders import WORKING, Workspaces
from tests.contract.retention_contract import add_run, counts
from tests.helpers.postgres import new_schema

pytestmark = pytest.mark.anyio

# (execution id, workflow slug, status, days since it ended)
RUNS = [
    ("g_old_1", "daily", "completed", 40),
    ("g_old_2", None, "failed", 35),  # a graph run
    ("g_new_1", "daily", "completed", 1),
    ("g_new_2", "daily", "completed", 2),
    ("g_new_3", "daily", "completed", 3),
    ("g_new_4", "daily", "cancelled", 4),  # beyond the newest 3
    ("g_new_5", "daily", "completed", 5),  # beyond the newest 3
    ("paused_old", "daily", "paused", 60),  # waiting for a person: never deleted
    ("audit_old", "audit-log", "completed", 400),  # its workflow keeps everything
    ("weekly_old", "weekly", "completed", 10),  # its workflow keeps a week
]
GOING = ["g_old_1", "g_old_2", "g_new_4", "g_new_5", "weekly_old"]
STAYING = ["g_new_1", "g_new_2", "g_new_3", "paused_old", "audit_old"]


@pytest.fixture(params=["sqlite", "postgresql"])
async def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RuntimeStore]:
    url = None if request.param == "sqlite" else new_schema(request.getfixturevalue("postgres_database"))
    store = runtime_store(url, tmp_path / "storage")
    await store.open()
    await store.checkpointer()
    yield store
    await store.close()


@pytest.fixture
async def definitions(tmp_path: Path) -> AsyncIterator[FileDefinitionStore]:
    store = FileDefinitionStore(tmp_path / "storage")
    await store.open()
    for slug, retention in [("audit-log", Retention(days=0, max_executions=0)), ("weekly", Retention(days=7)), ("daily", None)]:
        await store.create_final(Workflow(workflow_id=slug, slug=slug, name=slug, status="final", version="1.0", retention=retention))
    yield store
    await store.close()


def _service(tmp_path: Path, definitions: FileDefinitionStore, runtime: RuntimeStore) -> tuple[RetentionService, Workspaces]:
    spaces = Workspaces(tmp_path / "workspaces", shown_as="workspaces", max_size_mb=10)
    spaces.ensure_default()
    settings = Settings(retention_days=30, retention_max_executions=3, retention_batch_size=2)
    return RetentionService(settings, definitions, runtime, spaces), spaces


async def test_a_workflow_s_own_retention_overrides_the_service_s(
    tmp_path: Path, definitions: FileDefinitionStore, runtime: RuntimeStore
) -> None:
    service, _ = _service(tmp_path, definitions, runtime)
    policy = await service.policy()
    assert (policy.days, policy.max_executions) == (30, 3)
    # A field left out follows the service; "daily" has no rule of its own.
    assert policy.overrides == {"audit-log": Rule(days=0, max_executions=0), "weekly": Rule(days=7, max_executions=3)}


async def test_prune_deletes_what_the_policy_lets_go_and_a_dry_run_only_says_so(
    tmp_path: Path, definitions: FileDefinitionStore, runtime: RuntimeStore
) -> None:
    service, spaces = _service(tmp_path, definitions, runtime)
    for execution_id, slug, status, days in RUNS:
        await add_run(runtime, execution_id, status=status, ended_days_ago=days, slug=slug)
        folder = spaces.folder("default") / WORKING / execution_id
        folder.mkdir(parents=True)
        (folder / "notes.txt").write_text("made by the run")
    going, staying = await counts(runtime, GOING), await counts(runtime, STAYING)

    dry = await service.prune(dry_run=True)
    assert (dry.executions, dry.rows) == (len(GOING), going)
    assert dry.by_workflow == {"daily": 3, GRAPH_RUNS: 1, "weekly": 1}
    assert await counts(runtime, GOING) == going and dry.run_folders == 0  # nothing touched
    assert service.last is None  # a dry run is not the last prune

    done = await service.prune()
    assert (done.executions, done.rows, done.by_workflow) == (dry.executions, dry.rows, dry.by_workflow)
    assert done.run_folders == len(GOING) and done.database_bytes and service.last is done
    assert set((await counts(runtime, GOING)).values()) == {0}
    assert await counts(runtime, STAYING) == staying
    assert sorted(p.name for p in (spaces.folder("default") / WORKING).iterdir()) == sorted(STAYING)
    again = await service.prune()
    assert again.executions == 0 and again.rows == {}


async def test_nothing_goes_when_the_policy_keeps_everything(
    tmp_path: Path, definitions: FileDefinitionStore, runtime: RuntimeStore
) -> None:
    spaces = Workspaces(tmp_path / "workspaces", shown_as="workspaces", max_size_mb=10)
    service = RetentionService(Settings(retention_days=0, retention_max_executions=0), definitions, runtime, spaces)
    for execution_id, slug, status, days in RUNS:
        await add_run(runtime, execution_id, status=status, ended_days_ago=days, slug=slug)
    report = await service.prune()
    # Only the workflow whose own rule keeps a week loses its old run.
    assert report.by_workflow == {"weekly": 1}
