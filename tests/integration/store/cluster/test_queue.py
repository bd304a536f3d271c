"""The run queue on PostgreSQL (procrastinate): capacity, retries of a run owned elsewhere,
recovery of a dead worker's jobs, and a stop that lets handlers hand their runs back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import anyio
import psycopg
import pytest

from echo_orchestrator.backends import run_queue_for
from echo_orchestrator.errors import OwnedElsewhere
from echo_orchestrator.models import Execution, utcnow
from echo_orchestrator.store.cluster.queue import ProcrastinateQueue
from echo_orchestrator.store.runtime.postgres import PostgresRuntimeStore
from tests.helpers.postgres import new_schema

pytestmark = pytest.mark.anyio


@pytest.fixture
async def schema(postgres_database: str) -> AsyncIterator[str]:
    url = new_schema(postgres_database)
    runtime = PostgresRuntimeStore(url, owner="host/boot:1")
    await runtime.open()  # migrates: the queue's schema is one of the steps
    await runtime.close()
    yield url


def queue_on(url: str, *, capacity: int = 2, grace: float = 5.0) -> ProcrastinateQueue:
    runtime = PostgresRuntimeStore(url, owner="host/boot:1", heartbeat_seconds=1.0, dead_after_seconds=2.0)
    queue = run_queue_for(runtime, capacity=capacity, grace_seconds=grace)
    assert isinstance(queue, ProcrastinateQueue)
    return queue


async def test_jobs_are_run_at_most_capacity_at_once(schema: str) -> None:
    queue = queue_on(schema, capacity=2)
    await queue.open()
    running, most, done = 0, 0, []

    async def handler(execution_id: str, answer: dict[str, Any] | None, retried: bool) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await anyio.sleep(0.2)
        running -= 1
        done.append((execution_id, answer, retried))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(queue.work, handler)
            for i in range(6):
                await queue.submit(f"exec_{i}", answer={"response": "yes"} if i == 0 else None)
            while len(done) < 6:
                await anyio.sleep(0.05)
            await queue.stop()
    await queue.close()
    assert most == 2
    assert sorted(done) == [("exec_0", {"response": "yes"}, False), *((f"exec_{i}", None, False) for i in range(1, 6))]


@pytest.mark.slow  # waits on real timeouts (seconds): out of the fast loop, in every full run
async def test_a_run_owned_by_a_live_process_is_asked_again_later(schema: str) -> None:
    queue = queue_on(schema)
    await queue.open()
    calls: list[bool] = []

    async def handler(execution_id: str, answer: dict[str, Any] | None, retried: bool) -> None:
        calls.append(retried)
        if len(calls) == 1:
            raise OwnedElsewhere("still running on another worker")

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(queue.work, handler)
            await queue.submit("exec_busy")
            while len(calls) < 2:
                await anyio.sleep(0.05)
            await queue.stop()
    await queue.close()
    assert calls == [False, True]


async def test_the_jobs_of_a_worker_whose_heartbeat_stopped_are_queued_again(schema: str) -> None:
    queue = queue_on(schema)
    await queue.open()
    await queue.submit("exec_orphan")
    # A worker that took the job and died: registered, heartbeat long gone, job `doing`.
    async with await psycopg.AsyncConnection.connect(schema, autocommit=True) as conn:
        dead = await (
            await conn.execute("INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '1 hour') RETURNING id")
        ).fetchone()
        assert dead is not None
        await conn.execute("UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s", (dead[0],))
    assert await queue.recover_stalled() == 1
    assert await queue.recover_stalled() == 0  # put back once
    async with await psycopg.AsyncConnection.connect(schema, autocommit=True) as conn:
        # The stalled job ended failed (a worker that wakes cannot close the new one), a new one waits.
        jobs = await (await conn.execute("SELECT status::text, args->>'execution_id' FROM procrastinate_jobs ORDER BY id")).fetchall()
    assert jobs == [("failed", "exec_orphan"), ("todo", "exec_orphan")]
    assert await queue.counts() == (1, 0)  # one waiting, none taken
    await queue.prune(0)  # finished jobs go (the executions keep the history); waiting ones stay
    async with await psycopg.AsyncConnection.connect(schema, autocommit=True) as conn:
        assert await (await conn.execute("SELECT status::text FROM procrastinate_jobs")).fetchall() == [("todo",)]
    seen: list[tuple[str, bool]] = []

    async def handler(execution_id: str, answer: dict[str, Any] | None, retried: bool) -> None:
        seen.append((execution_id, retried))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(queue.work, handler)
            while not seen:
                await anyio.sleep(0.05)
            await queue.stop()
    await queue.close()
    assert seen == [("exec_orphan", True)]


async def test_a_stop_waits_for_the_grace_period_then_cancels_the_handlers(schema: str) -> None:
    queue = queue_on(schema, grace=0.3)
    await queue.open()
    outcome: list[str] = []
    started = anyio.Event()

    async def handler(execution_id: str, answer: dict[str, Any] | None, retried: bool) -> None:
        started.set()
        try:
            await anyio.sleep(30)
            outcome.append("finished")
        except anyio.get_cancelled_exc_class():
            outcome.append("cancelled: handed back")
            raise

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(queue.work, handler)
            await queue.submit("exec_long")
            await started.wait()
            before = anyio.current_time()
            await queue.stop()
            assert anyio.current_time() - before < 5
    await queue.close()
    assert outcome == ["cancelled: handed back"]


async def test_a_run_left_without_a_job_is_queued_again(schema: str) -> None:
    runtime = PostgresRuntimeStore(schema, owner="host/boot:1")
    await runtime.open()
    queue = queue_on(schema)
    await queue.open()
    long_ago = utcnow() - timedelta(minutes=5)
    for execution_id, created in (("exec_lost", long_ago), ("exec_queued", long_ago), ("exec_new", utcnow())):
        record = Execution(execution_id=execution_id, kind="graph", status="initializing", graph_name="ASIS", created_at=created)
        await runtime.save_execution(record, queued=True)
    await runtime.flush()
    await queue.submit("exec_queued")  # committed and queued, as a start does; the other old one lost its job
    assert await queue.requeue_lost(60) == 1
    assert await queue.requeue_lost(60) == 0  # it has one now; the new one is not old enough to be lost
    assert await queue.counts() == (2, 0)
    await queue.close()
    await runtime.close()
