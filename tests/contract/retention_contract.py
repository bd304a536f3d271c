"""The retention contract: what every runtime backend must do when run history is pruned
(`store.runtime.retention`). A backend's test class mixes in `RetentionContract` beside
`RuntimeStoreContract`, with the same `make_runtime` fixture.

Every table is counted with SQL of the test's own, before and after, so a row the store
forgot to delete (or deleted too many of) shows whatever the store's own counting says.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint

from echo_orchestrator.models import Execution, LLMUsage, NodeExecution, StepExecution, utcnow
from echo_orchestrator.models.triggers import DeliveryAttempt, WebhookDelivery
from echo_orchestrator.store.runtime.base import RuntimeStore
from echo_orchestrator.store.runtime.retention import ExpiryScope
from echo_orchestrator.store.runtime.sql import SqlRuntimeStore
from tests.contract.runtime_contract import RuntimeFactory

DAY = 86400.0


async def add_run(runtime: RuntimeStore, execution_id: str, *, status: str, ended_days_ago: float, slug: str | None = "wf") -> None:
    """An execution with a row in every table that holds its records, and a checkpoint with
    pending writes, as a real run leaves them."""
    at = utcnow() - timedelta(days=ended_days_ago)
    ended = status in ("completed", "failed", "cancelled")
    execution = Execution(
        execution_id=execution_id,
        kind="workflow",
        status=status,  # type: ignore[arg-type]
        workflow_slug=slug,
        created_at=at - timedelta(minutes=5),
        started_at=at - timedelta(minutes=5),
        completed_at=at if ended else None,
    )
    await runtime.save_execution(execution)
    await runtime.save_step(
        StepExecution(step_execution_id=f"{execution_id}-s1", execution_id=execution_id, step_number=1, step_name="one", workflow_slug=slug)
    )
    await runtime.save_node(
        NodeExecution(node_execution_id=f"{execution_id}-n1", execution_id=execution_id, node_name="n", node_type="agent")
    )
    runtime.new_sequence(execution_id)
    await runtime.append_event(execution_id, "execution_started", {})
    await runtime.append_event(execution_id, "step_started", {"step_number": 1})
    await runtime.add_llm_call(execution_id, f"{execution_id}-s1", LLMUsage(provider="echo", model="m", total_tokens=3))
    delivery = WebhookDelivery(delivery_id=f"{execution_id}-d1", execution_id=execution_id, event="completed", url="https://example.com/h")
    runtime.queue_delivery(delivery)
    await runtime.record_attempt(delivery, DeliveryAttempt(attempt=1, at=datetime.now(UTC), status_code=500))
    saver = await runtime.checkpointer()
    config: Any = {"configurable": {"thread_id": execution_id, "checkpoint_ns": ""}}
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"], checkpoint["channel_versions"] = {"topic": ["x" * 2000]}, {"topic": 1}
    stored = await saver.aput(config, checkpoint, {"source": "loop", "step": 1, "parents": {}}, {"topic": 1})  # type: ignore[typeddict-item]
    await saver.aput_writes(stored, [("topic", "x" * 2000)], "task-1")
    await runtime.flush()


TABLES = {
    "executions": "execution_id",
    "events": "execution_id",
    "step_executions": "execution_id",
    "node_executions": "execution_id",
    "llm_calls": "execution_id",
    "webhook_deliveries": "execution_id",
    "webhook_attempts": "execution_id",
}


async def counts(runtime: RuntimeStore, execution_ids: Sequence[str]) -> dict[str, int]:
    """Rows per table belonging to these executions, by the test's own SQL."""
    assert isinstance(runtime, SqlRuntimeStore)
    tables = {**TABLES, **{t: "thread_id" for t in runtime.checkpoint_tables}}
    marks = ",".join("?" * len(execution_ids))
    found = {}
    for table, column in tables.items():
        rows = await runtime._rows(f"SELECT COUNT(*) FROM {table} WHERE {column} IN ({marks})", list(execution_ids))
        found[table] = int(rows[0][0])
    return found


@pytest.mark.anyio
class RetentionContract:
    async def test_old_ended_runs_go_with_every_row_of_theirs_and_nothing_else(self, make_runtime: RuntimeFactory) -> None:
        runtime = await make_runtime("host/boot:1")
        going = ["old_completed", "old_failed", "old_cancelled"]
        staying = ["old_paused", "old_running", "old_initializing", "new_completed"]
        for execution_id in going:
            await add_run(runtime, execution_id, status=execution_id.removeprefix("old_"), ended_days_ago=40)
        for execution_id in staying:
            status = execution_id.split("_", 1)[1]
            await add_run(runtime, execution_id, status=status, ended_days_ago=40 if execution_id.startswith("old") else 1)
        before_going, before_staying = await counts(runtime, going), await counts(runtime, staying)
        assert all(count > 0 for count in before_going.values()), before_going  # every table has rows to lose

        found = await runtime.expired(ExpiryScope(), ended_before=time.time() - 30 * DAY, keep=0, limit=100)
        assert sorted(e.execution_id for e in found) == sorted(going)  # paused and running never offered
        # Asked to delete a paused and a running run too, it keeps them: only ended runs go.
        deleted, rows = await runtime.delete_ended([e.execution_id for e in found] + ["old_paused", "old_running"])

        assert sorted(deleted) == sorted(going)
        assert rows == before_going  # what it says it removed is what there was
        assert set((await counts(runtime, going)).values()) == {0}
        assert await counts(runtime, staying) == before_staying
        saver = await runtime.checkpointer()
        assert await saver.aget_tuple({"configurable": {"thread_id": "old_paused", "checkpoint_ns": ""}}) is not None
        assert await saver.aget_tuple({"configurable": {"thread_id": "old_completed", "checkpoint_ns": ""}}) is None

    async def test_beyond_the_newest_n_by_when_they_ended(self, runtime: RuntimeStore) -> None:
        for n in range(6):  # run_0 ended 6 days ago ... run_5 1 day ago
            await add_run(runtime, f"run_{n}", status="completed", ended_days_ago=6 - n)
        await add_run(runtime, "paused", status="paused", ended_days_ago=10)
        found = await runtime.expired(ExpiryScope(), ended_before=None, keep=2, limit=100)
        assert sorted(e.execution_id for e in found) == ["run_0", "run_1", "run_2", "run_3"]
        page = await runtime.expired(ExpiryScope(), ended_before=None, keep=2, limit=3)
        rest = await runtime.expired(ExpiryScope(), ended_before=None, keep=2, limit=3, skip=3)
        assert len(page) == 3 and {e.execution_id for e in page} | {e.execution_id for e in rest} == {f"run_{n}" for n in range(4)}
        await runtime.delete_ended([e.execution_id for e in page])
        assert [e.execution_id for e in await runtime.expired(ExpiryScope(), ended_before=None, keep=2, limit=100)] == ["run_0"]

    async def test_a_scope_is_one_workflow_or_all_but_some(self, runtime: RuntimeStore) -> None:
        await add_run(runtime, "kept_wf", status="completed", ended_days_ago=40, slug="audit")
        await add_run(runtime, "other_wf", status="completed", ended_days_ago=40, slug="daily")
        await add_run(runtime, "graph_run", status="failed", ended_days_ago=40, slug=None)
        cutoff = time.time() - 30 * DAY
        everyone_else = await runtime.expired(ExpiryScope(excluded=("audit",)), ended_before=cutoff, keep=0, limit=10)
        assert sorted(e.execution_id for e in everyone_else) == ["graph_run", "other_wf"]
        audit = await runtime.expired(ExpiryScope(slug="audit"), ended_before=cutoff, keep=0, limit=10)
        assert [(e.execution_id, e.workflow_slug, e.workspace) for e in audit] == [("kept_wf", "audit", "default")]

    async def test_the_database_says_its_size_and_gives_space_back(self, runtime: RuntimeStore) -> None:
        ids = [f"run_{n}" for n in range(40)]
        for execution_id in ids:
            await add_run(runtime, execution_id, status="completed", ended_days_ago=40)
        full = await runtime.database_size()
        assert full.size_bytes > 0
        deleted, _ = await runtime.delete_ended(ids)
        assert len(deleted) == 40
        given_back = await runtime.reclaim_space(above_bytes=0)  # whatever is free
        after = await runtime.database_size()
        assert given_back >= 0 and after.size_bytes > 0
        if after.free_bytes is not None:  # SQLite: the free pages went back to the file system
            assert after.free_bytes == 0 and after.size_bytes < full.size_bytes
