"""Executions: runs of workflows and graphs, scheduled, driven and stopped.

One anyio task group, owned by the app's lifespan, runs every execution under a capacity
limit (executions beyond it wait as `initializing`), each in its own cancel scope. Every
task of a run's LangGraph graph is seen from inside the task (`tracking.TaskTracker`) and
recorded by `recording.RunRecorder`; statuses follow `lifecycle.executions`.

Cancel: `graceful` lets the running step finish, then stops; otherwise the run's cancel
scope is cancelled at once. Either way the execution ends `cancelled`, finished steps kept.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
from anyio.abc import TaskGroup
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command, StreamMode

from echo_orchestrator.engine.context import EngineGraphContext, RunContext, current_context
from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.engine.llm.factory import ModelFactory
from echo_orchestrator.engine.llm.prices import PriceTable
from echo_orchestrator.engine.llm.usage import UsageRecorder
from echo_orchestrator.engine.recording import Ending, RunRecorder, record_interrupted
from echo_orchestrator.engine.runs import INTERNAL_KEYS, LiveRun, PlanFactory, RunPlan
from echo_orchestrator.engine.step_policy import current_run
from echo_orchestrator.engine.tools import langchain_tools
from echo_orchestrator.engine.tracking import TaskTracker
from echo_orchestrator.errors import Conflict, EchoError, ExecutionCancelled, ExecutionFailed, RateLimited, TimeoutExceeded
from echo_orchestrator.lifecycle import executions as lifecycle
from echo_orchestrator.logs import EXECUTION_ID
from echo_orchestrator.mcp import McpHub
from echo_orchestrator.models import ErrorInfo, Execution, ExecutionConfig, Progress, StepExecution, new_id, utcnow
from echo_orchestrator.security.callers import Caller
from echo_orchestrator.security.redaction import scrub
from echo_orchestrator.store.runtime import RuntimeStore

log = logging.getLogger(__name__)

RunInput = dict[str, Any] | Command[Any] | None


@dataclass(slots=True)
class Outcome:
    """How a run's graph stopped: the final state, or the error, or a cancel or a pause."""

    state: dict[str, Any]
    error: ErrorInfo | None = None
    rejected: ErrorInfo | None = None  # a human said no at a review: the run ends cancelled
    cancelled: bool = False
    paused: bool = False


class _Hooks:
    """What a step's retry wrapper tells the running execution (`step_policy.RunHooks`)."""

    def __init__(self, recorder: RunRecorder, live: LiveRun) -> None:
        self._recorder, self._live = recorder, live

    async def retrying(self, node: str, attempt: int, max_retries: int, error: BaseException, delay: float) -> None:
        await self._recorder.retrying(self._live, node, attempt, max_retries, error, delay)

    async def attempting(self, node: str, attempt: int) -> None:
        await self._recorder.attempting(self._live, node)


class ExecutionManager:
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
    ) -> None:
        self.runtime = runtime
        self.checkpointer = checkpointer
        self.plan_factory = plan_factory
        self.bus = bus
        self.recorder = RunRecorder(runtime, bus)
        self._models = models
        self._hub = hub
        self._prices = prices
        self._limiter = anyio.CapacityLimiter(max_concurrent)
        self._max_per_caller = max_per_caller
        self._live: dict[str, LiveRun] = {}
        self._tg: TaskGroup | None = None

    @property
    def active(self) -> int:
        return len(self._live)

    @property
    def running_now(self) -> bool:
        """Whether the engine accepts runs (between start-up recovery and shutdown)."""
        return self._tg is not None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ExecutionManager]:
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
    ) -> Execution:
        tg = self._task_group()
        if caller is not None:
            self._check_caller_limit(caller)
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
            config=config or ExecutionConfig(),
            metadata=dict(metadata or {}),
            progress=Progress(total_steps=plan.total_steps),
            total_steps=plan.total_steps,
            created_at=now,
            estimated_completion=now + timedelta(seconds=plan.estimated_seconds) if plan.estimated_seconds else None,
            caller=None if caller is None else caller.id,
        )
        # Committed by the run's own task on its first turn (in `_run` or `started`), not
        # here: a caller starting many runs is not held behind the checkpointer's lock once
        # per run (200 starts went from 2.0 s to 0.01 s).
        await self.runtime.save_execution(execution)
        self.runtime.new_sequence(execution.execution_id)
        live = LiveRun(execution=execution, plan=plan, step_numbers=dict(plan.steps))
        live.limit_key = None if caller is None else caller.limit_key
        self._live[execution.execution_id] = live
        tg.start_soon(self._run, live, dict(inputs))
        return execution

    def _check_caller_limit(self, caller: Caller) -> None:
        """The document's "50 concurrent executions per account": queued and running runs
        count; a run paused for a human does not hold a slot."""
        limit = self._max_per_caller
        if limit <= 0:
            return
        key = caller.limit_key
        active = sum(1 for live in self._live.values() if live.limit_key == key and lifecycle.is_interruptible(live.execution.status))
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
        steps = await self.runtime.list_steps(execution.execution_id)
        live.completed_steps = {s.step_number for s in steps if s.status == "completed"}
        live.stop_after_step, live.cancel_reason, live.failed_step = False, None, None
        live.done = anyio.Event()
        return live

    async def respond(self, execution_id: str, prompt_id: str, answer: Mapping[str, Any]) -> Execution:
        """Answer a paused execution's prompt; it continues in the background."""
        execution = await self.runtime.get_execution(execution_id)
        lifecycle.require_answerable(execution, prompt_id)
        tg = self._task_group()
        live = await self._relive(execution)
        execution.pending_prompt = None
        self._live[execution_id] = live
        tg.start_soon(self._run, live, Command(resume=dict(answer)))
        return execution

    async def resume(self, execution_id: str) -> Execution:
        """Continue a failed or cancelled execution from its last checkpoint; finished steps are not redone."""
        execution = await self._settle_orphan(await self.runtime.get_execution(execution_id), cancelled=False)
        lifecycle.require_resumable(execution)
        if self.checkpointer is None or not execution.config.enable_checkpoints:
            raise Conflict(f"Execution '{execution_id}' has no checkpoints to resume from")
        if await self.checkpointer.aget_tuple({"configurable": {"thread_id": execution_id}}) is None:
            raise Conflict(f"Execution '{execution_id}' has no checkpoint yet: start it again instead")
        tg = self._task_group()
        live = await self._relive(execution)
        lifecycle.move(execution, "initializing")
        execution.error, execution.completed_at = None, None
        execution.resumed_count += 1
        await self.runtime.save_execution(execution)
        await self.runtime.commit()
        self._live[execution_id] = live
        tg.start_soon(self._run, live, None)
        return execution

    async def wait(self, execution_id: str) -> Execution:
        live = self._live.get(execution_id)
        if live is not None:
            await live.done.wait()
        return await self.runtime.get_execution(execution_id)

    # -- cancelling ----------------------------------------------------------------------

    async def _settle_orphan(self, execution: Execution, *, cancelled: bool) -> Execution:
        """An execution recorded running that no process runs any more (its process died: a
        CLI run interrupted, a worker killed) is ended now, so cancel and resume work on it
        from any process. One that another live process runs is that process's to change."""
        if execution.execution_id in self._live or not lifecycle.is_interruptible(execution.status):
            return execution
        if not await record_interrupted(self.runtime, [execution.execution_id], cancelled=cancelled):
            raise Conflict(
                f"Execution '{execution.execution_id}' is running in another process; cancel or resume it there",
                details={"execution_id": execution.execution_id, "status": execution.status},
            )
        return await self.runtime.get_execution(execution.execution_id)

    async def cancel(self, execution_id: str, *, graceful: bool, reason: str | None) -> Execution:
        execution = await self.runtime.get_execution(execution_id)
        if execution_id not in self._live and lifecycle.is_interruptible(execution.status):
            return await self._settle_orphan(execution, cancelled=True)
        live = self._live.get(execution_id)
        if live is None or lifecycle.is_terminal(execution.status):
            raise lifecycle.not_cancellable(execution)
        live.cancel_reason = reason or "cancelled by request"
        if graceful and live.running_steps:
            live.stop_after_step = True
        elif live.scope is not None:
            live.scope.cancel()
        else:
            live.stop_after_step = True  # still waiting for capacity: it will not start
        return live.execution

    async def cancel_step(self, step_execution_id: str) -> StepExecution:
        step = await self.runtime.get_step(step_execution_id)
        live = self._live.get(step.execution_id)
        if live is None or step.status not in lifecycle.UNFINISHED_STEPS:
            raise Conflict(
                f"Step execution '{step_execution_id}' is {step.status}; only a running step can be cancelled",
                details={"step_execution_id": step_execution_id, "status": step.status},
            )
        live.cancel_reason = f"step {step.step_number} ({step.step_name}) cancelled"
        if live.scope is not None:
            live.scope.cancel()
        await live.done.wait()
        return await self.runtime.get_step(step_execution_id)

    # -- the run -------------------------------------------------------------------------

    async def _run(self, live: LiveRun, first_input: RunInput) -> None:
        execution = live.execution
        EXECUTION_ID.set(execution.execution_id)  # every log record of this run names it
        try:
            if not self._limiter.available_tokens:
                await self.runtime.commit()  # waiting for capacity: its `initializing` record is durable
            async with self._limiter:
                if live.stop_after_step:  # cancelled while waiting for capacity
                    await self.recorder.finish(live, "cancelled", None)
                    return
                await self._execute(live, first_input)
        except Exception:  # a bug of ours must still end the execution, never leave it running
            log.exception("execution %s crashed", execution.execution_id)
            if not lifecycle.is_terminal(execution.status):
                with anyio.CancelScope(shield=True):
                    await self.recorder.finish(live, "failed", lifecycle.error_info(ExecutionFailed("internal error")))
        finally:
            live.done.set()
            if execution.status != "paused":
                self._live.pop(execution.execution_id, None)
                self.runtime.forget_sequence(execution.execution_id)

    async def _execute(self, live: LiveRun, first_input: RunInput) -> None:
        """Get the graph, build the run's config, drive the stream, record the outcome."""
        resumed_from = None if isinstance(first_input, dict) else "response" if isinstance(first_input, Command) else "checkpoint"
        await self.recorder.started(live, resumed_from)
        self._enter_run(live)
        checkpointer = self.checkpointer if live.execution.config.enable_checkpoints else None
        live.checkpointed = checkpointer is not None
        outcome = Outcome(state=dict(live.execution.inputs))
        with anyio.CancelScope() as scope:
            live.scope = scope
            try:
                graph = self._graph(live, checkpointer)
                outcome = await self._drive(live, graph, self._run_config(live), first_input)
            except Exception as exc:
                outcome.error, outcome.rejected = self._failure(exc, live)
        live.scope = None
        outcome.cancelled = scope.cancelled_caught
        if outcome.error is not None and live.failed_step is not None:
            failed, error = live.failed_step, outcome.error
            error.step_number, error.retry_count = failed.step_number, failed.retry_count
            error.message = f"Step {failed.step_number} ({failed.step_name}) failed: {error.message}"
        with anyio.CancelScope(shield=True):
            await self._settle(live, outcome)

    def _enter_run(self, live: LiveRun) -> None:
        """Context the graph's node tasks inherit: this run's models and tools, its retry hooks."""
        recorder = self.recorder

        async def on_tool(tool_id: str, phase: str, detail: dict[str, Any]) -> None:
            await recorder.tool_used(live, tool_id, phase, detail)

        context = EngineGraphContext(self._models, self._call_tool, lambda ids: langchain_tools(self._hub, ids, on_call=on_tool))
        current_context.set(context)
        live.policies = live.plan.policies(live.execution.config)
        current_run.set(_Hooks(recorder, live))

    def _graph(self, live: LiveRun, checkpointer: BaseCheckpointSaver[Any] | None) -> Any:
        key = (tuple(sorted(live.policies.items())), checkpointer is not None)
        graph = live.plan.compiled.get(key)
        if graph is None:
            context = current_context.get()
            assert context is not None, "_enter_run first"
            built = live.plan.build(RunContext(context), live.execution.config)
            graph = live.plan.compiled[key] = built.compile(checkpointer=checkpointer)
        return graph

    def _run_config(self, live: LiveRun) -> RunnableConfig:
        recorder = self.recorder

        async def on_start(provider: str, model: str, prompt_tokens: int, node: str | None) -> None:
            await recorder.llm_started(live, provider, model, prompt_tokens, node)

        async def on_usage(usage: Any) -> None:
            await recorder.llm_used(live, usage)

        tracker = TaskTracker(
            lambda task: recorder.task_started(live, task),
            lambda task: recorder.task_finished(live, task),
            lambda node, name, data: recorder.progress(live, node, name, data),
        )
        return {
            "callbacks": [tracker, UsageRecorder(self._prices, on_usage, on_start)],
            "recursion_limit": 100,
            "configurable": {"thread_id": live.execution.execution_id},
        }

    async def _drive(self, live: LiveRun, graph: Any, config: RunnableConfig, first_input: RunInput) -> Outcome:
        """Run the graph to its end, a pause, or a graceful stop. Steps are recorded by the
        tracker, inside their tasks; the stream only drives the run. With a checkpointer the
        final state is read once at the end instead of streamed after each superstep."""
        outcome = Outcome(state=dict(live.execution.inputs))
        timeout = live.execution.config.timeout
        try:
            with anyio.fail_after(timeout) if timeout else contextlib.nullcontext():
                # A list (not a tuple): LangGraph then yields (mode, chunk) pairs.
                modes: list[StreamMode] = ["updates"] if live.checkpointed else ["values"]
                async for mode, chunk in graph.astream(first_input, config=config, stream_mode=modes):
                    if mode == "values":
                        outcome.state = dict(chunk)
                    if live.stop_after_step and not live.running_steps:
                        break
                if live.checkpointed and not live.stop_after_step:
                    snapshot = await graph.aget_state(config)
                    outcome.state = dict(snapshot.values)
                    prompts = [i.value for task in snapshot.tasks for i in task.interrupts]
                    if prompts:
                        live.scope = None
                        with anyio.CancelScope(shield=True):
                            await self.recorder.pause(live, prompts[0])
                        outcome.paused = True
        except TimeoutError:
            outcome.error = lifecycle.error_info(TimeoutExceeded(f"Execution exceeded its timeout of {timeout:g}s"))
        return outcome

    @staticmethod
    def _failure(exc: Exception, live: LiveRun) -> tuple[ErrorInfo | None, ErrorInfo | None]:
        """(error, rejection) for what the graph raised."""
        if isinstance(exc, ExecutionCancelled):  # a human said no: the run ends cancelled, with the reason
            live.cancel_reason = exc.message
            return None, lifecycle.error_info(exc)
        if isinstance(exc, EchoError):
            error = lifecycle.error_info(exc)
            error.message = scrub(exc.message)
            return error, None
        return lifecycle.error_info(ExecutionFailed(scrub(f"{type(exc).__name__}: {exc}"))), None

    async def _settle(self, live: LiveRun, outcome: Outcome) -> None:
        if outcome.paused:
            return
        ending: Ending
        if outcome.rejected is not None:
            ending, error = "cancelled", outcome.rejected
        elif outcome.cancelled or (live.stop_after_step and outcome.error is None):
            ending, error = "cancelled", None
        elif outcome.error is not None:
            ending, error = "failed", outcome.error
        else:
            execution = live.execution
            execution.outputs = {k: v for k, v in outcome.state.items() if k not in execution.inputs and k not in INTERNAL_KEYS}
            ending, error = "completed", None
        await self.recorder.finish(live, ending, error)

    async def _call_tool(self, tool_id: str, arguments: Mapping[str, Any]) -> Any:
        return (await self._hub.call(tool_id, arguments)).output
