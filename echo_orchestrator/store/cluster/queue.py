"""The run queue of a cluster, on procrastinate: on a PostgreSQL runtime every run to do (a new execution, an
answered review, a resume, a run handed back) is a procrastinate job in the same database.

Any node queues; the nodes that work (`serve` unless `--no-worker`, and `worker`) take jobs
up to their capacity and run them through the engine (`ExecutionManager.run_queued`), which
adopts the run atomically, so a job that comes twice runs it once.

A worker stopped cleanly hands its runs back (each queued again, continued elsewhere from
its checkpoint). A worker that dies leaves its jobs `doing`: procrastinate's heartbeats say
whose, and every node's clock puts them back in the queue (`recover_stalled`); the run is
then adopted from its dead owner and continued from its last checkpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
from procrastinate import App, PsycopgConnector, RetryStrategy
from procrastinate import exceptions as procrastinate_errors
from procrastinate.jobs import Status
from procrastinate.worker import Worker

from echo_orchestrator.errors import OwnedElsewhere, RuntimeUnavailable
from echo_orchestrator.store.runtime.base import RunHandler
from echo_orchestrator.store.runtime.postgres_connect import RECONNECT_SECONDS

log = logging.getLogger(__name__)

QUEUE = "executions"
TASK = "echo.run_execution"
# Runs queued (owned by no one) that have no job waiting or running: their node died between
# committing them and queuing their job.
_LOST = """
SELECT e.execution_id FROM executions e
WHERE e.status = 'initializing' AND e.owner IS NULL AND e.created_at < %(before)s
  AND NOT EXISTS (
    SELECT 1 FROM procrastinate_jobs j
    WHERE j.status IN ('todo', 'doing') AND j.args ->> 'execution_id' = e.execution_id
  )
LIMIT 500
"""
POOL_SIZE = 4  # a job takes a connection only to be fetched and finished
RESTART_SECONDS = 1.0


class ProcrastinateQueue:
    """The queue in the runtime database (procrastinate's schema is one of its migrations,
    `store.runtime.postgres_schema`), on a small pool of its own: procrastinate opens its listening
    connection with the pool's settings, which must not be the runtime store's."""

    def __init__(
        self,
        conninfo: str,
        *,
        name: str,
        capacity: int,
        heartbeat_seconds: float,
        dead_after_seconds: float,
        grace_seconds: float,
    ) -> None:
        self._name, self._capacity = name, capacity
        self._heartbeat, self._dead_after, self._grace = heartbeat_seconds, dead_after_seconds, grace_seconds
        connector = PsycopgConnector(
            conninfo=conninfo,
            min_size=1,
            max_size=POOL_SIZE,
            name="echo-queue",
            # As the runtime's pools (`postgres_connect.opened_pool`) outlive a restart
            # (procrastinate checks its connections itself).
            reconnect_timeout=RECONNECT_SECONDS,
        )
        self._app = App(connector=connector)
        # Tried again: a run another process still holds, and a database away for a moment.
        retry = RetryStrategy(wait=max(1, round(heartbeat_seconds)), retry_exceptions=[OwnedElsewhere, RuntimeUnavailable])
        self._task = self._app.task(name=TASK, queue=QUEUE, pass_context=True, retry=retry)(self._run_job)
        self._handler: RunHandler | None = None
        self._worker: Worker | None = None
        self._stopping = False
        self._stopped = anyio.Event()

    async def open(self) -> None:
        await self._app.connector.open_async()

    async def close(self) -> None:
        await self._app.connector.close_async()

    async def submit(self, execution_id: str, *, answer: Mapping[str, Any] | None = None) -> None:
        await self._task.defer_async(execution_id=execution_id, answer=None if answer is None else dict(answer))

    # -- working -------------------------------------------------------------------------

    async def work(self, handler: RunHandler) -> None:
        """Take jobs and run them (at most `capacity` at once) until `stop()`."""
        self._handler = handler
        try:
            while not self._stopping:
                self._worker = Worker(
                    self._app,
                    queues=[QUEUE],
                    name=self._name,
                    concurrency=self._capacity,
                    install_signal_handlers=False,  # the server's and the CLI's own handlers stop it
                    update_heartbeat_interval=self._heartbeat,
                    stalled_worker_timeout=self._dead_after,
                    shutdown_graceful_timeout=self._grace,
                    delete_jobs="successful",  # the execution's record is the history, not the job
                )
                # procrastinate's Worker is untyped: called through typed names, so a release
                # that adds types leaves no stale ignore behind.
                run: Callable[[], Awaitable[None]] = self._worker.run
                try:
                    await run()
                except Exception:
                    log.exception("the run queue's worker failed")
                if not self._stopping:  # it stops itself when its listener or heartbeat fails (database away)
                    log.warning("the run queue's worker stopped; starting it again in %gs", RESTART_SECONDS)
                    await anyio.sleep(RESTART_SECONDS)
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        """Take no more jobs; let runs going on finish for the grace period, then hand the
        rest back to the queue. Returns when the worker has stopped."""
        self._stopping = True
        if self._worker is None:
            return
        stop: Callable[[], None] = self._worker.stop
        stop()
        await self._stopped.wait()

    async def _run_job(self, context: Any, execution_id: str, answer: dict[str, Any] | None = None, recovered: bool = False) -> None:
        assert self._handler is not None, "work() first"
        await self._handler(execution_id, answer, recovered or context.job.attempts > 0)

    async def recover_stalled(self) -> int:
        """Queue again the runs of workers whose heartbeat stopped; answers how many. The
        stalled job is ended `failed` and a new one queued, so a worker that was only frozen
        and wakes finds its job gone instead of closing the new one."""
        manager = self._app.job_manager
        stalled = await manager.get_stalled_jobs(queue=QUEUE, task_name=TASK, seconds_since_heartbeat=self._dead_after)
        recovered = 0
        for job in stalled:
            try:
                await manager.finish_job(job, status=Status.FAILED, delete_job=False)
            except procrastinate_errors.ConnectorException:  # another node ended it first
                continue
            kwargs = job.task_kwargs
            answer = kwargs.get("answer")
            await self._task.defer_async(
                execution_id=str(kwargs["execution_id"]), answer=answer if isinstance(answer, dict) else None, recovered=True
            )
            recovered += 1
        if recovered:
            log.warning("queued again %d run(s) of worker(s) that stopped answering", recovered)
        return recovered

    async def counts(self) -> tuple[int, int]:
        queues = await self._app.job_manager.list_queues_async(queue=QUEUE)
        found = next(iter(queues), None)
        return (0, 0) if found is None else (int(found["todo"]), int(found["doing"]))

    async def prune(self, older_than_hours: int) -> None:
        # Failed (recovered from a dead worker) and aborted (handed back) jobs too: each
        # one's run went on under a new job.
        await self._app.job_manager.delete_old_jobs(
            nb_hours=older_than_hours, queue=QUEUE, include_failed=True, include_cancelled=True, include_aborted=True
        )

    async def requeue_lost(self, older_than_seconds: float) -> int:
        """Queue the runs that wait with no job (their node died between committing them and
        queuing them), older than this; answers how many."""
        rows = await self._app.connector.execute_query_all_async(_LOST, before=time.time() - older_than_seconds)
        for row in rows:
            await self._task.defer_async(execution_id=str(row["execution_id"]), answer=None, recovered=True)
        if rows:
            log.warning("queued %d run(s) left without a job by a node that stopped", len(rows))
        return len(rows)
