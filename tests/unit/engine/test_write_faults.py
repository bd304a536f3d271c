"""A runtime database that refuses writes (full, read-only, locked), without HTTP: what was
accepted is recorded, what could not be is refused whole, and what a run recorded meanwhile
is written once the database takes writes again.

The store's own SQLite connection is put in `query_only` mode: every write then fails with
SQLite's real error through the real code path, as a full disk's does (the e2e tests fill a
real disk: tests/e2e/test_faults.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from echo_orchestrator.engine.executions import ExecutionManager
from echo_orchestrator.errors import StorageError
from echo_orchestrator.models import Execution, LLMConfig, utcnow
from echo_orchestrator.store.runtime.sqlite import SqliteRuntimeStore
from tests.unit.engine.test_executions import FAILURES, agents, manager, plan, run

__all__ = ["manager"]  # the fixture, shared with the engine's own tests

pytestmark = pytest.mark.anyio


async def refuse_writes(runtime: Any, refuse: bool) -> None:
    assert isinstance(runtime, SqliteRuntimeStore)
    await runtime.db.execute(f"PRAGMA query_only = {'ON' if refuse else 'OFF'}")


@pytest.fixture
async def refusing(manager: ExecutionManager) -> AsyncIterator[ExecutionManager]:
    yield manager
    await refuse_writes(manager.runtime, False)


async def test_buffered_rows_survive_a_failed_flush_in_order(manager: ExecutionManager) -> None:
    runtime = manager.runtime
    runtime.new_sequence("wfexec_kept")
    await runtime.save_execution(Execution(execution_id="wfexec_kept", kind="workflow", status="running", created_at=utcnow()))
    await runtime.append_event("wfexec_kept", "execution_started", {"n": 1})
    await refuse_writes(runtime, True)
    with pytest.raises(StorageError) as refused:
        await runtime.commit()
    assert refused.value.code == "ERR_STORAGE_001" and "readonly" in refused.value.message
    assert runtime.unwritten_since is not None and runtime.last_failure == refused.value.message
    await runtime.append_event("wfexec_kept", "execution_progress", {"n": 2})  # buffered meanwhile
    with pytest.raises(StorageError):
        await runtime.commit()
    await refuse_writes(runtime, False)
    await runtime.commit()
    assert runtime.unwritten_since is None and runtime.last_failure is None
    events, total = await runtime.list_events("wfexec_kept")
    assert [(e.seq, e.data["n"]) for e in events] == [(1, 1), (2, 2)] and total == 2
    assert (await runtime.get_execution("wfexec_kept")).status == "running"


async def test_a_start_that_cannot_be_recorded_is_refused_and_leaves_nothing(refusing: ExecutionManager) -> None:
    await refuse_writes(refusing.runtime, True)
    with pytest.raises(StorageError):
        await refusing.start(plan(refusing, agents(a=LLMConfig())), {"topic": "x"})
    assert refusing.active == 0  # no run behind a refused start
    await refuse_writes(refusing.runtime, False)
    await refusing.runtime.commit()
    assert (await refusing.runtime.list_executions())[1] == 0  # nothing of it written later


async def test_a_run_the_database_stops_goes_on_from_its_checkpoint_when_it_is_back(refusing: ExecutionManager) -> None:
    runtime = refusing.runtime
    ag = agents(a=LLMConfig(latency_ms=300), b=LLMConfig(latency_ms=300))
    started = await refusing.start(plan(refusing, ag), {"topic": "x"})
    thread = {"configurable": {"thread_id": started.execution_id}}
    assert refusing.checkpointer is not None
    with anyio.fail_after(5):  # its first checkpoint is written (LangGraph writes it beside the first step)
        while await refusing.checkpointer.aget_tuple(thread) is None:
            await anyio.sleep(0.01)
    await refuse_writes(runtime, True)
    with anyio.fail_after(10):  # the run stops at its next write and waits for the database
        while runtime.unwritten_since is None:
            await anyio.sleep(0.02)
    await anyio.sleep(0.5)
    assert refusing.is_live(started.execution_id)  # waiting, neither failed nor lost
    await refuse_writes(runtime, False)
    with anyio.fail_after(20):
        done = await refusing.wait(started.execution_id)
    assert done.status == "completed", done.error
    assert done.resumed_count == 1 and set(done.outputs or {}) >= {"a_out", "b_out"}
    events, _ = await runtime.list_events(started.execution_id, limit=1000)
    types = [e.event_type for e in events]
    assert "execution_requeued" in types and "execution_resumed" in types and types[-1] == "execution_completed"
    requeued = next(e for e in events if e.event_type == "execution_requeued")
    assert "runtime database was unavailable" in requeued.data["reason"]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    finished = [s.step_name for s in await runtime.list_steps(started.execution_id) if s.status == "completed"]
    assert sorted(set(finished)) == ["A", "B"]


async def test_keep_written_writes_without_a_request(refusing: ExecutionManager) -> None:
    runtime = refusing.runtime
    runtime.new_sequence("wfexec_later")
    await runtime.save_execution(Execution(execution_id="wfexec_later", kind="workflow", status="failed", created_at=utcnow()))
    await refuse_writes(runtime, True)
    with pytest.raises(StorageError):
        await runtime.commit()
    async with anyio.create_task_group() as tg:
        tg.start_soon(runtime.keep_written, 0.05)
        await refuse_writes(runtime, False)
        with anyio.fail_after(5):
            while runtime.unwritten_since is not None:
                await anyio.sleep(0.02)
        tg.cancel_scope.cancel()
    assert isinstance(runtime, SqliteRuntimeStore)
    async with runtime.db.execute("SELECT status FROM executions WHERE execution_id = 'wfexec_later'") as cursor:
        assert await cursor.fetchall() == [("failed",)]


async def test_a_resume_that_cannot_be_recorded_leaves_the_run_as_it_was(refusing: ExecutionManager) -> None:
    FAILURES.clear()
    the_plan = plan(refusing, agents(a=LLMConfig(provider="flaky", model="stays-failed", params={"fail_times": 5})))

    async def plan_factory(_: Execution) -> Any:
        return the_plan

    refusing.plan_factory = plan_factory
    failed = await run(refusing, the_plan)
    assert failed.status == "failed"
    await refuse_writes(refusing.runtime, True)
    with pytest.raises(StorageError):
        await refusing.resume(failed.execution_id)
    await refuse_writes(refusing.runtime, False)
    after = await refusing.runtime.get_execution(failed.execution_id)
    assert (after.status, after.resumed_count) == ("failed", 0) and not refusing.is_live(failed.execution_id)
