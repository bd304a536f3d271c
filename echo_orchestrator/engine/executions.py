"""Executions: runs of workflows and graphs, scheduled, driven and stopped.

One anyio task group, owned by the app's lifespan, runs every execution under a capacity
limit (executions beyond it wait as `initializing`), each in its own cancel scope. Every
task of a run's LangGraph graph is seen from inside the task (`tracking.TaskTracker`) and
recorded by `recording.RunRecorder`; statuses follow `lifecycle.executions`.

Cancel: `graceful` lets the running step finish, then stops; otherwise the run's cancel
scope is cancelled at once. Either way the execution ends `cancelled`, finished steps kept.

With a run queue (a PostgreSQL runtime, `engine.queue`) the process that accepts a run
does not run it: the record is committed owned by no one and a job is queued; a worker's
`run_queued` adopts and runs it. Answers and resumes go the same way, so they reach the
run wherever it will run; a cancel reaches the process running it through the runtime's
control channel.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import anyio
import anyio.to_thread
import msgspec
from anyio.abc import TaskGroup
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command

from echo_orchestrator import metrics
from echo_orchestrator.engine import traced
from echo_orchestrator.engine.cancels import CancelSide
from echo_orchestrator.engine.driver import RunDriver, RunInput
from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.engine.live_tokens import TokenPublisher
from echo_orchestrator.engine.llm.factory import ModelFactory
from echo_orchestrator.engine.llm.prices import PriceTable
from echo_orchestrator.engine.queued import QueueSide
from echo_orchestrator.engine.recording import RunRecorder, record_interrupted
from echo_orchestrator.engine.runs import LiveRun, PlanFactory, RunPlan
from echo_orchestrator.errors import Conflict, ExecutionFailed, RateLimited, RuntimeUnavailable, StorageError
from echo_orchestrator.lifecycle import executions as lifecycle
from echo_orchestrator.logs import EXECUTION_ID
from echo_orchestrator.mcp import McpHub
from echo_orchestrator.mcp.lineage import CURRENT as CURRENT_RUN
from echo_orchestrator.mcp.lineage import RunLineage
from echo_orchestrator.models import Execution, ExecutionConfig, Progress, new_id, utcnow
from echo_orchestrator.security.callers import Caller
from echo_orchestrator.store.runtime.base import RunQueue, RuntimeStore
from echo_orchestrator.store.workspaces.folders import DEFAULT, Workspaces
from echo_orchestrator.tracing import current_carrier

log = logging.getLogger(__name__)

# A waiter reads the record again after this long without being woken.
WAIT_RECHECK_SECONDS = 2.0
# A run the runtime database's unavailability stopped waits this long for it, then ends
# failed; it is continued from its checkpoint at most this many times.
DATABASE_WAIT_SECONDS = 600.0
DATABASE_LOST_CONTINUATIONS = 5


class ExecutionManager(QueueSide, CancelSide):
    def __init__(
        self,
        runtime: RuntimeStore,
        models: ModelFactory,
        hub: McpHub,
        prices: PriceTable,
        bus: EventBus,
        *,
        max_concurrent: int = 50,
        max_per_caller: int = 0,
        checkpointer: BaseCheckpointSaver[Any] | None = None,
        plan_factory: PlanFactory | None = None,
        workspaces: Workspaces | None = None,
        stream_tokens: bool = True,
        trace_content: bool = False,
    ) -> None:
        self.runtime = runtime
        self.checkpointer = checkpointer
        self.plan_factory = plan_factory
        self.bus = bus
        self.recorder = RunRecorder(runtime, bus)
        self.workspaces = workspaces
        self.tokens = TokenPublisher(bus)
        self._driver = RunDriver(
            self.recorder, models, hub, prices, workspaces, tokens=self.tokens if stream_tokens else None, trace_content=trace_content
        )
        self._limiter = anyio.CapacityLimiter(max_concurrent)
        self._max_per_caller = max_per_caller
        self._live: dict[str, LiveRun] = {}
        self._tg: TaskGroup | None = None
        self.queue: RunQueue | None = None  # set on a shared runtime: runs go through it
        self._waiters: dict[str, set[anyio.Event]] = {}  # execution -> requests waiting for it to stop

    @property
    def active(self) -> int:
        return len(self._live)

    def is_live(self, execution_id: str) -> bool:
        """Whether this process is running (or holding paused) the execution."""
        return execution_id in self._live

    @property
    def running_now(self) -> bool:
        """Whether the engine accepts runs (between start-up recovery and shutdown)."""
        return self._tg is not None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ExecutionManager]:
        # On a shared runtime the runs of a dead process are taken over, not ended
        # (`take_over_orphans`, called by the node's clock).
        if not self.runtime.shared:
            interrupted = await record_interrupted(self.runtime)
            if interrupted:
                log.warning("marked %d execution(s) failed: they were running when the server stopped", len(interrupted))
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                yield self
            finally:
                for live in list(self._live.values()):
                    live.cancel_reason = "server shutdown"
                    if live.scope is not None:
                        live.scope.cancel()
                tg.cancel_scope.cancel()
                self._tg = None

    def _task_group(self) -> TaskGroup:
        if self._tg is None:
            raise Conflict("The execution engine is not running")
        return self._tg

    # -- starting, answering, resuming ---------------------------------------------------

    async def start(
        self,
        plan: RunPlan,
        inputs: Mapping[str, Any],
        *,
        config: ExecutionConfig | None = None,
        metadata: Mapping[str, Any] | None = None,
        caller: Caller | None = None,
        parent: RunLineage | None = None,
    ) -> Execution:
        """Accept a run (recorded before this returns) and start it. `parent`: the run whose
        tool call, through the MCP server face, started this one."""
        tg = self._task_group()
        async with self._admission(caller):
            config = config or ExecutionConfig()
            workspace = DEFAULT if config.workspace is None else config.workspace
            if self.workspaces is not None:  # it must exist (or may be made) before the run is accepted
                await anyio.to_thread.run_sync(self.workspaces.open_for_run, workspace)
            now = utcnow()
            execution = Execution(
                execution_id=new_id("wfexec" if plan.kind == "workflow" else "exec"),
                kind=plan.kind,
                status="initializing",
                workflow_id=plan.workflow_id,
                workflow_slug=plan.workflow_slug,
                workflow_version=plan.workflow_version,
                execution_mode=plan.execution_mode,
                graph_name=plan.graph_name,
                inputs=dict(inputs),
                config=config,
                metadata=dict(metadata or {}),
                progress=Progress(total_steps=plan.total_steps),
                total_steps=plan.total_steps,
                created_at=now,
                estimated_completion=now + timedelta(seconds=plan.estimated_seconds) if plan.estimated_seconds else None,
                caller=None if caller is None else caller.id,
                workspace=workspace,
                agents=list(plan.agents),
                parent_execution_id=None if parent is None else parent.execution_id,
                call_depth=0 if parent is None else parent.depth,
                trace_context=current_carrier(),
            )
            limit_key = None if caller is None else caller.limit_key
            queued = self.queue is not None
            await self.runtime.save_execution(execution, limit_key=limit_key, queued=queued)
            self.runtime.new_sequence(execution.execution_id)
            live = LiveRun(execution=execution, plan=plan, step_numbers=dict(plan.steps))
            live.limit_key = limit_key
            await self.recorder.accepted(live)  # buffered with the record, committed with it
            await self._record_accepted(execution.execution_id)
            if queued:
                self.runtime.forget_sequence(execution.execution_id)  # the worker numbers its events
                await self._submit(execution.execution_id)
                return execution
            self._live[execution.execution_id] = live
            tg.start_soon(self._run, live, dict(inputs))
            return execution

    async def _record_accepted(self, execution_id: str) -> None:
        """Accepted means recorded: the new execution is committed before its id is answered
        (any node may be asked for it at once; a crash right after must not lose it). When
        it cannot be (disk full, database gone) nothing of it is kept, and the caller gets
        the `StorageError` (503) with no id. Shielded: a caller that goes away meanwhile does
        not leave a record written with no run behind it."""
        try:
            with anyio.CancelScope(shield=True):
                await self.runtime.commit()
        except Exception:
            self.runtime.discard(execution_id)
            raise

    @contextlib.asynccontextmanager
    async def _admission(self, caller: Caller | None) -> AsyncIterator[None]:
        """The document's "50 concurrent executions per account": queued and running runs
        count; a run paused for a human does not hold a slot. In one process the live runs
        are counted; on a shared runtime the database is, under a lock per caller across
        nodes held until the new run is committed, so nodes starting at once cannot pass
        the limit together."""
        limit = self._max_per_caller
        if caller is None or limit <= 0:
            yield
            return
        key = caller.limit_key
        if not self.runtime.shared:
            live = self._live.values()
            self._refuse_over(limit, sum(1 for r in live if r.limit_key == key and lifecycle.is_interruptible(r.execution.status)))
            yield
            return
        async with self.runtime.admission(key):
            self._refuse_over(limit, await self.runtime.active_for(key, lifecycle.INTERRUPTIBLE))
            yield

    @staticmethod
    def _refuse_over(limit: int, active: int) -> None:
        if active >= limit:
            raise RateLimited(
                f"Too many concurrent executions: {active} of {limit} allowed per caller are queued or running",
                retry_after=1,
                details={"limit": limit, "active": active},
            )

    async def _relive(self, execution: Execution) -> LiveRun:
        """A paused or ended execution, ready to run again (its plan rebuilt if need be)."""
        live = self._live.get(execution.execution_id)
        if live is None:
            if self.plan_factory is None:
                raise Conflict("This execution cannot be continued: its plan is unknown")
            plan = await self.plan_factory(execution)
            live = LiveRun(execution=execution, plan=plan, step_numbers=dict(plan.steps))
        # Never started: no step can be recorded (the record saying it started is committed
        # with its first steps and checkpoint, in one transaction), so none is read.
        steps = [] if lifecycle.never_started(execution) else await self.runtime.list_steps(execution.execution_id)
        live.completed_steps = {s.step_number for s in steps if s.status == "completed"}
        live.stop_after_step, live.cancel_reason, live.failed_step = False, None, None
        live.done = anyio.Event()
        return live

    async def respond(self, execution_id: str, prompt_id: str, answer: Mapping[str, Any], caller: Caller | None = None) -> Execution:
        """Answer a paused execution's prompt; it continues in the background. A run going on
        again holds a slot like a new one: it counts against the answering caller's limit."""
        execution = await self.runtime.get_execution(execution_id)
        lifecycle.require_answerable(execution, prompt_id)
        tg = self._task_group()
        key = None if caller is None else caller.limit_key
        async with self._admission(caller):
            if self.queue is not None:
                await self._relive(execution)  # its plan still builds: refused here (409) rather than failing on a worker
                await self._claim(execution, ("paused",), "answered", queued=True, limit_key=key, record=_answered(execution))
                await self._submit(execution_id, answer)
                return execution
            live = await self._relive(execution)
            await self._claim(execution, ("paused",), "answered", limit_key=key, record=_answered(execution))
            live.limit_key = key
            self._live[execution_id] = live
        tg.start_soon(self._run, live, Command(resume=dict(answer)))
        return execution

    async def resume(self, execution_id: str, caller: Caller | None = None) -> Execution:
        """Continue a failed or cancelled execution from its last checkpoint; finished steps are
        not redone. It holds a slot again: admitted against the resuming caller's limit."""
        execution = await self._settle_orphan(await self.runtime.get_execution(execution_id), cancelled=False)
        lifecycle.require_resumable(execution)
        if self.checkpointer is None or not execution.config.enable_checkpoints:
            raise Conflict(f"Execution '{execution_id}' has no checkpoints to resume from")
        checkpoint = await self.checkpointer.aget_tuple({"configurable": {"thread_id": execution_id}})
        tg = self._task_group()
        live = await self._relive(execution)
        # With durability "exit" a run that stopped mid-way wrote no checkpoint: it starts over.
        first_input: dict[str, Any] | None = None
        if checkpoint is None:
            if live.durability != "exit":
                raise Conflict(f"Execution '{execution_id}' has no checkpoint yet: start it again instead")
            first_input = dict(execution.inputs)
        queued = self.queue is not None
        key = None if caller is None else caller.limit_key
        async with self._admission(caller):
            before = execution.status
            lifecycle.move(execution, "initializing")
            execution.error, execution.completed_at = None, None
            execution.resumed_count += 1
            try:  # claimed and saved in one statement: resumed, or left as it was
                await self._claim(execution, [before], "resumed", queued=queued, limit_key=key, record=execution)
            except BaseException:
                execution.status, execution.resumed_count = before, execution.resumed_count - 1
                raise
            live.limit_key = key
            if not queued:
                self._live[execution_id] = live
        if queued:
            await self._submit(execution_id)
            return execution
        tg.start_soon(self._run, live, first_input)
        return execution

    async def wait(self, execution_id: str) -> Execution:
        """The execution once it has ended or paused, wherever it runs."""
        live = self._live.get(execution_id)
        if live is not None:
            await live.done.wait()
            return await self.runtime.get_execution(execution_id)
        if self.queue is None:
            return await self.runtime.get_execution(execution_id)
        # Run by a worker (maybe this process's): woken when it stops here, or when another
        # process says so (`stopped_elsewhere`). Registered before reading, so a stop is
        # either in the record or wakes it; read again now and then in case a notification
        # was lost while the listener reconnected.
        while True:
            woken = anyio.Event()
            waiting = self._waiters.setdefault(execution_id, set())
            waiting.add(woken)
            try:
                execution = await self.runtime.get_execution(execution_id)
                if not lifecycle.is_interruptible(execution.status):
                    return execution
                with anyio.move_on_after(WAIT_RECHECK_SECONDS):
                    await woken.wait()
            finally:
                waiting.discard(woken)
                if not waiting:
                    self._waiters.pop(execution_id, None)

    def stopped_elsewhere(self, execution_id: str) -> None:
        """The execution ended or paused (here, or in the process that ran it)."""
        for woken in self._waiters.get(execution_id, ()):
            woken.set()

    # -- the run -------------------------------------------------------------------------

    async def _run(self, live: LiveRun, first_input: RunInput) -> None:
        execution = live.execution
        EXECUTION_ID.set(execution.execution_id)  # every log record of this run names it
        # Its tool calls say which run made them (a call to this service's own MCP face).
        CURRENT_RUN.set(RunLineage(execution.execution_id, execution.call_depth))
        try:
            if not self._limiter.available_tokens:
                await self.runtime.commit()  # waiting for capacity: its `initializing` record is durable
            async with self._limiter:
                if live.stop_after_step:  # cancelled (or handed back) while waiting for capacity
                    if not live.handed_back:
                        await self.recorder.finish(live, "cancelled", None)
                    return
                metrics.RUNNING.inc()
                try:
                    with traced.execution(live):
                        await self._execute(live, first_input)
                finally:
                    metrics.RUNNING.dec()
        except Exception as exc:  # a bug of ours, or the database gone: the run still ends, never left running
            log.exception("execution %s crashed", execution.execution_id)
            if not lifecycle.is_terminal(execution.status):
                error = exc if isinstance(exc, StorageError) else ExecutionFailed("internal error")
                with anyio.CancelScope(shield=True):
                    try:
                        await self.recorder.finish(live, "failed", lifecycle.error_info(error))
                    except StorageError:  # buffered: written when the database takes writes again
                        log.warning("the end of execution %s is written when the runtime database is back", execution.execution_id)
        finally:
            live.done.set()
            self.stopped_elsewhere(execution.execution_id)
            # A paused run is held here for its answer, unless the answer goes through the queue.
            if execution.status != "paused" or self.queue is not None:
                self._live.pop(execution.execution_id, None)
                self.runtime.forget_sequence(execution.execution_id)

    async def _execute(self, live: LiveRun, first_input: RunInput) -> None:
        """Drive the run; while the runtime database is away, wait for it, then continue the
        run from its last checkpoint (the steps cut off run again), up to a few times."""
        try:
            await self._driver.execute(live, first_input, self.checkpointer)
        except RuntimeUnavailable:  # before it started, or recording its end (then that end is buffered)
            checkpointed = self.checkpointer is not None and live.execution.config.enable_checkpoints
            if lifecycle.is_terminal(live.execution.status) or not checkpointed:
                raise
            live.database_lost = True
        for _ in range(DATABASE_LOST_CONTINUATIONS):
            if not live.database_lost:
                return
            live.database_lost = False
            execution_id = live.execution.execution_id
            log.warning("execution %s stopped: the runtime database is unavailable; it continues once it is back", execution_id)
            await self._database_back()
            if live.stop_after_step:  # cancelled meanwhile
                await self.recorder.finish(live, "cancelled", None)
                return
            steps = await self.runtime.list_steps(execution_id)
            live.completed_steps = {s.step_number for s in steps if s.status == "completed"}
            live.failed_step = None
            await self.recorder.requeued(live, "the runtime database was unavailable; the run continues from its last checkpoint")
            # From its checkpoint; from its inputs if it stopped before its first one was written.
            await self._driver.execute(live, await self._first_input(live.execution, None), self.checkpointer)
        if live.database_lost:
            raise RuntimeUnavailable("The runtime database was unavailable too often during this run")

    async def _database_back(self) -> None:
        """Return once the runtime database answers and takes writes (`DATABASE_WAIT_SECONDS` at most)."""
        delay = 0.2
        with anyio.move_on_after(DATABASE_WAIT_SECONDS):
            while True:
                try:
                    await self.runtime.ping()
                    return
                except StorageError:
                    await anyio.sleep(delay)
                    delay = min(delay * 2, 5.0)
        raise RuntimeUnavailable(f"The runtime database was unavailable for over {DATABASE_WAIT_SECONDS:g}s")


def _answered(execution: Execution) -> Execution:
    """A paused execution once its question is answered: waiting for the process that goes on with it."""
    answered = msgspec.structs.replace(execution, pending_prompt=None)
    lifecycle.move(answered, "initializing")
    return answered
