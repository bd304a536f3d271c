"""Executions: runs of workflows and graphs, tracked step by step.

One anyio task group, owned by the app's lifespan, runs every execution under a capacity
limit (executions beyond it wait as `initializing`), each in its own cancel scope. Every
task of a run's LangGraph graph is seen from inside the task (`tracking.TaskTracker`): its
start and end become a node execution, a step execution (a workflow's agent, or a graph's
node) and events; every LLM call is attributed to the step that made it. Each change is
written to the runtime store first and then published on the event bus.

Cancel: `graceful` lets the running step finish, then stops; otherwise the run's cancel
scope is cancelled at once. Either way the execution ends `cancelled`, finished steps kept.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import anyio
import msgspec
from anyio.abc import TaskGroup
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.types import Command, StreamMode

from echo_orchestrator.engine.compiler import REVIEW_PREFIX
from echo_orchestrator.engine.context import EngineGraphContext, RunContext, current_context
from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.engine.llm.factory import ModelFactory
from echo_orchestrator.engine.llm.prices import PriceTable
from echo_orchestrator.engine.llm.usage import UsageRecorder
from echo_orchestrator.engine.review import ReviewRejected
from echo_orchestrator.engine.step_policy import StepPolicy, current_run
from echo_orchestrator.engine.tools import langchain_tools
from echo_orchestrator.engine.tracking import TaskTracker
from echo_orchestrator.errors import Conflict, EchoError, RateLimited
from echo_orchestrator.logs import EXECUTION_ID
from echo_orchestrator.mcp import McpHub
from echo_orchestrator.models import (
    ErrorInfo,
    EventType,
    Execution,
    ExecutionConfig,
    LLMUsage,
    NodeExecution,
    Progress,
    StepExecution,
    new_id,
    utcnow,
)
from echo_orchestrator.models.execution import TERMINAL_STATUSES
from echo_orchestrator.registry.spec import GraphContext
from echo_orchestrator.security.callers import Caller
from echo_orchestrator.security.redaction import scrub
from echo_orchestrator.store.runtime import INTERRUPTIBLE, RuntimeStore

log = logging.getLogger(__name__)

GraphBuilder = Callable[[GraphContext, ExecutionConfig], StateGraph[Any]]
PlanFactory = Callable[[Execution], Awaitable["RunPlan"]]


class ErrorCode:
    CANCELLED = "ERR_EXEC_003"


# Keys kept out of a run's outputs: bookkeeping of the compiled workflow graphs.
INTERNAL_KEYS = frozenset({"delegations"})


@dataclass(frozen=True)
class RunPlan:
    """What to run: a graph builder and how its nodes map to steps."""

    kind: Literal["workflow", "graph"]
    build: GraphBuilder
    # node name -> (step number, step name); nodes not listed get numbers as they first run
    steps: Mapping[str, tuple[int, str]]
    total_steps: int
    node_types: Mapping[str, str] = field(default_factory=dict)
    workflow_id: str | None = None
    workflow_slug: str | None = None
    workflow_version: str | None = None
    execution_mode: str | None = None
    graph_name: str | None = None
    estimated_seconds: float | None = None
    # node -> its step's retry policy and timeout, for the given execution config
    policies: Callable[[ExecutionConfig], Mapping[str, StepPolicy]] = lambda _config: {}
    # Compiled graphs by (policies, checkpointing): compiling costs more than a short run.
    compiled: dict[Any, Any] = field(default_factory=dict, compare=False)


@dataclass(eq=False)
class _Live:
    execution: Execution
    plan: RunPlan
    done: anyio.Event = field(default_factory=anyio.Event)
    scope: anyio.CancelScope | None = None
    stop_after_step: bool = False
    cancel_reason: str | None = None
    running_steps: dict[str, StepExecution] = field(default_factory=dict)  # by node name
    nodes: dict[str, NodeExecution] = field(default_factory=dict)  # by LangGraph task id
    step_numbers: dict[str, tuple[int, str]] = field(default_factory=dict)
    completed_steps: set[int] = field(default_factory=set)
    policies: Mapping[str, StepPolicy] = field(default_factory=dict)
    failed_step: StepExecution | None = None
    # Whose concurrent-execution limit this run counts against (a caller, or an address).
    limit_key: str | None = None


class _Hooks:
    """What a step's retry wrapper tells the running execution."""

    def __init__(self, manager: ExecutionManager, live: _Live) -> None:
        self._manager, self._live = manager, live

    async def retrying(self, node: str, attempt: int, max_retries: int, error: BaseException, delay: float) -> None:
        step = self._live.running_steps.get(node)
        if step is None:
            return
        step.status, step.retry_count = "retrying", attempt
        step.error = ErrorInfo(
            type=getattr(error, "type", "ExecutionError"), message=scrub(f"{type(error).__name__}: {error}"), retry_count=attempt
        )
        await self._manager.runtime.save_step(step)
        await self._manager._event(
            self._live,
            "step_retrying",
            {
                "step_number": step.step_number,
                "step_name": step.step_name,
                "attempt": attempt,
                "max_retries": max_retries,
                "retry_in_seconds": delay,
                "error": step.error.message,
            },
        )
        await self._manager.runtime.commit()

    async def attempting(self, node: str, attempt: int) -> None:
        step = self._live.running_steps.get(node)
        if step is not None:
            step.status = "running"
            await self._manager.runtime.save_step(step)


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
        self._models = models
        self._hub = hub
        self._prices = prices
        self._limiter = anyio.CapacityLimiter(max_concurrent)
        self._max_per_caller = max_per_caller
        self._live: dict[str, _Live] = {}
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
        interrupted = await self.runtime.mark_interrupted()
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

    # -- starting, waiting, cancelling ---------------------------------------------------

    async def start(
        self,
        plan: RunPlan,
        inputs: Mapping[str, Any],
        *,
        config: ExecutionConfig | None = None,
        metadata: Mapping[str, Any] | None = None,
        caller: Caller | None = None,
    ) -> Execution:
        if self._tg is None:
            raise Conflict("The execution engine is not running")
        if caller is not None:
            self._check_caller_limit(caller)
        prefix = "wfexec" if plan.kind == "workflow" else "exec"
        now = utcnow()
        execution = Execution(
            execution_id=new_id(prefix),
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
        # Committed by the run's own task on its first turn (below, or in `_execute`), not
        # here: a caller starting many runs is not held behind the checkpointer's lock once
        # per run (200 starts went from 2.0 s to 0.01 s).
        await self.runtime.save_execution(execution)
        self.runtime.new_sequence(execution.execution_id)
        live = _Live(execution=execution, plan=plan, step_numbers=dict(plan.steps))
        live.limit_key = None if caller is None else caller.limit_key
        self._live[execution.execution_id] = live
        self._tg.start_soon(self._run, live, dict(inputs))
        return execution

    def _check_caller_limit(self, caller: Caller) -> None:
        """The document's "50 concurrent executions per account": queued and running runs
        count; a run paused for a human does not hold a slot."""
        limit = self._max_per_caller
        if limit <= 0:
            return
        key = caller.limit_key
        active = sum(1 for live in self._live.values() if live.limit_key == key and live.execution.status in INTERRUPTIBLE)
        if active >= limit:
            raise RateLimited(
                f"Too many concurrent executions: {active} of {limit} allowed per caller are queued or running",
                retry_after=1,
                details={"limit": limit, "active": active},
            )

    async def _relive(self, execution: Execution) -> _Live:
        """A paused or ended execution, ready to run again (its plan rebuilt if need be)."""
        live = self._live.get(execution.execution_id)
        if live is None:
            if self.plan_factory is None:
                raise Conflict("This execution cannot be continued: its plan is unknown")
            plan = await self.plan_factory(execution)
            live = _Live(execution=execution, plan=plan, step_numbers=dict(plan.steps))
        live.completed_steps = {s.step_number for s in await self.runtime.list_steps(execution.execution_id) if s.status == "completed"}
        live.stop_after_step, live.cancel_reason, live.failed_step = False, None, None
        live.done = anyio.Event()
        return live

    async def respond(self, execution_id: str, prompt_id: str, answer: Mapping[str, Any]) -> Execution:
        """Answer a paused execution's prompt; it continues in the background."""
        execution = await self.runtime.get_execution(execution_id)
        pending = execution.pending_prompt
        if execution.status != "paused" or pending is None:
            raise Conflict(f"Execution '{execution_id}' is {execution.status}, not waiting for a response")
        if prompt_id != pending.get("prompt_id"):
            raise Conflict(f"Prompt '{prompt_id}' is not the pending one ('{pending.get('prompt_id')}')")
        if self._tg is None:
            raise Conflict("The execution engine is not running")
        live = await self._relive(execution)
        execution.pending_prompt = None
        self._live[execution_id] = live
        self._tg.start_soon(self._run, live, Command(resume=dict(answer)))
        return execution

    async def resume(self, execution_id: str) -> Execution:
        """Continue a failed or cancelled execution from its last checkpoint; finished steps are not redone."""
        execution = await self._settle_orphan(await self.runtime.get_execution(execution_id), cancelled=False)
        if execution.status not in ("failed", "cancelled"):
            raise Conflict(f"Execution '{execution_id}' is {execution.status}; only a failed or cancelled one can be resumed")
        if self.checkpointer is None or not execution.config.enable_checkpoints:
            raise Conflict(f"Execution '{execution_id}' has no checkpoints to resume from")
        if await self.checkpointer.aget_tuple({"configurable": {"thread_id": execution_id}}) is None:
            raise Conflict(f"Execution '{execution_id}' has no checkpoint yet: start it again instead")
        if self._tg is None:
            raise Conflict("The execution engine is not running")
        live = await self._relive(execution)
        execution.status, execution.error, execution.completed_at = "initializing", None, None
        execution.resumed_count += 1
        await self.runtime.save_execution(execution)
        await self.runtime.commit()
        self._live[execution_id] = live
        self._tg.start_soon(self._run, live, None)
        return execution

    async def wait(self, execution_id: str) -> Execution:
        live = self._live.get(execution_id)
        if live is not None:
            await live.done.wait()
        return await self.runtime.get_execution(execution_id)

    async def _settle_orphan(self, execution: Execution, *, cancelled: bool) -> Execution:
        """An execution recorded running that no process runs any more (its process died: a
        CLI run interrupted, a worker killed) is ended now, so cancel and resume work on it
        from any process. One that another live process runs is that process's to change."""
        if execution.execution_id in self._live or execution.status not in INTERRUPTIBLE:
            return execution
        if not await self.runtime.mark_interrupted([execution.execution_id], cancelled=cancelled):
            raise Conflict(
                f"Execution '{execution.execution_id}' is running in another process; cancel or resume it there",
                details={"execution_id": execution.execution_id, "status": execution.status},
            )
        return await self.runtime.get_execution(execution.execution_id)

    async def cancel(self, execution_id: str, *, graceful: bool, reason: str | None) -> Execution:
        execution = await self.runtime.get_execution(execution_id)
        if execution_id not in self._live and execution.status in INTERRUPTIBLE:
            return await self._settle_orphan(execution, cancelled=True)
        live = self._live.get(execution_id)
        if live is None or execution.status in TERMINAL_STATUSES:
            raise Conflict(
                f"Execution '{execution_id}' is {execution.status}; only a running execution can be cancelled",
                details={"execution_id": execution_id, "status": execution.status},
            )
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
        if live is None or step.status not in ("running", "retrying", "pending"):
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

    async def _event(self, live: _Live, event_type: EventType, data: dict[str, Any]) -> None:
        event = await self.runtime.append_event(live.execution.execution_id, event_type, data)
        self.bus.publish(event)

    async def _save(self, live: _Live) -> None:
        await self.runtime.save_execution(live.execution)

    async def _run(self, live: _Live, first_input: dict[str, Any] | Command[Any] | None) -> None:
        execution = live.execution
        EXECUTION_ID.set(execution.execution_id)  # every log record of this run names it
        try:
            if not self._limiter.available_tokens:
                await self.runtime.commit()  # waiting for capacity: its `initializing` record is durable
            async with self._limiter:
                if live.stop_after_step:  # cancelled while waiting for capacity
                    await self._finish(live, "cancelled", None)
                    return
                await self._execute(live, first_input)
        except Exception:  # a bug of ours must still end the execution, never leave it running
            log.exception("execution %s crashed", execution.execution_id)
            if execution.status not in TERMINAL_STATUSES:
                with anyio.CancelScope(shield=True):
                    await self._finish(live, "failed", ErrorInfo(type="ExecutionError", message="internal error", code="ERR_EXEC_001"))
        finally:
            live.done.set()
            if execution.status != "paused":
                self._live.pop(execution.execution_id, None)
                self.runtime.forget_sequence(execution.execution_id)

    async def _execute(self, live: _Live, first_input: dict[str, Any] | Command[Any] | None) -> None:
        execution = live.execution
        fresh = isinstance(first_input, dict)
        execution.status = "running"
        if fresh or execution.started_at is None:
            execution.started_at = utcnow()
        await self._save(live)
        await self._event(
            live,
            "execution_started" if fresh else "execution_resumed",
            {
                "workflow_slug": execution.workflow_slug,
                "graph_name": execution.graph_name,
                "status": "running",
                "started_at": execution.started_at.isoformat(),
                **({} if fresh else {"resumed_from": "response" if isinstance(first_input, Command) else "checkpoint"}),
            },
        )
        await self.runtime.commit()

        async def on_start(provider: str, model: str, prompt_tokens: int, node: str | None) -> None:
            step = live.running_steps.get(node or "")
            await self._event(
                live,
                "llm_call_started",
                {"provider": provider, "model": model, "prompt_tokens": prompt_tokens, "step_number": step.step_number if step else None},
            )

        async def on_usage(usage: LLMUsage) -> None:
            step = live.running_steps.get(usage.node or "")
            if step is not None:
                step.llm_calls.append(usage)
            execution.llm_calls += 1
            execution.total_tokens += usage.total_tokens
            execution.cost_usd = round(execution.cost_usd + (usage.cost_usd or 0.0), 8)
            await self.runtime.add_llm_call(execution.execution_id, step.step_execution_id if step else None, usage)
            await self._event(
                live,
                "llm_call_completed",
                {**msgspec.to_builtins(usage), "step_number": step.step_number if step else None},
            )

        async def on_tool(tool_id: str, phase: str, detail: dict[str, Any]) -> None:
            step = next(iter(live.running_steps.values()), None) if len(live.running_steps) == 1 else None
            if step is not None and phase == "started" and tool_id not in step.mcp_tools_used:
                step.mcp_tools_used.append(tool_id)
            await self._event(
                live,
                "tool_call_started" if phase == "started" else "tool_call_completed",
                {"tool_id": tool_id, "step_number": step.step_number if step else None, **detail},
            )

        context = EngineGraphContext(self._models, self._call_tool, lambda ids: langchain_tools(self._hub, ids, on_call=on_tool))
        current_context.set(context)  # the compiled graph's nodes find this run's models and tools here
        live.policies = live.plan.policies(execution.config)
        current_run.set(_Hooks(self, live))  # node tasks inherit it: retries reach this run
        state: dict[str, Any] = dict(execution.inputs)
        error: ErrorInfo | None = None
        rejected: ErrorInfo | None = None
        timeout = execution.config.timeout
        with anyio.CancelScope() as scope:
            live.scope = scope
            try:
                checkpointer = self.checkpointer if execution.config.enable_checkpoints else None
                key = (tuple(sorted(live.policies.items())), checkpointer is not None)
                graph = live.plan.compiled.get(key)
                if graph is None:
                    graph = live.plan.compiled[key] = live.plan.build(RunContext(context), execution.config).compile(
                        checkpointer=checkpointer
                    )
                run_config: RunnableConfig = {
                    "callbacks": [
                        TaskTracker(
                            lambda task: self._task_started(live, task),
                            lambda task: self._task_finished(live, task),
                            lambda node, name, data: self._progress(live, node, name, data),
                        ),
                        UsageRecorder(self._prices, on_usage, on_start),
                    ],
                    "recursion_limit": 100,
                    "configurable": {"thread_id": execution.execution_id},
                }
                with anyio.fail_after(timeout) if timeout else contextlib.nullcontext():
                    # Steps are recorded by the tracker, inside their tasks; the stream only
                    # drives the run. A list (not a tuple): LangGraph then yields (mode,
                    # chunk) pairs. With a checkpointer the final state is read once at the
                    # end, instead of streaming a copy of the whole state after each superstep.
                    modes: list[StreamMode] = ["updates"] if checkpointer is not None else ["values"]
                    stream = graph.astream(first_input, config=run_config, stream_mode=modes)
                    async for mode, chunk in stream:
                        if mode == "values":
                            state = dict(chunk)  # type: ignore[arg-type]
                        if live.stop_after_step and not live.running_steps:
                            break
                    if checkpointer is not None and not live.stop_after_step:
                        snapshot = await graph.aget_state(run_config)
                        state = dict(snapshot.values)
                        prompts = [i.value for task in snapshot.tasks for i in task.interrupts]
                        if prompts:
                            live.scope = None
                            with anyio.CancelScope(shield=True):
                                await self._pause(live, prompts[0])
                            return
            except TimeoutError:
                error = ErrorInfo(type="TimeoutError", message=f"Execution exceeded its timeout of {timeout:g}s", code="ERR_EXEC_002")
            except ReviewRejected as exc:  # a human said no: the run ends cancelled, with the reason
                live.cancel_reason = exc.message
                rejected = ErrorInfo(type="ExecutionError", message=exc.message, code=ErrorCode.CANCELLED)
            except EchoError as exc:
                error = ErrorInfo(type=exc.type, message=scrub(exc.message), code=exc.code)
            except Exception as exc:
                error = ErrorInfo(type="StepExecutionError", message=scrub(f"{type(exc).__name__}: {exc}"), code="ERR_EXEC_001")
            if error is not None and live.failed_step is not None:
                failed = live.failed_step
                error.step_number, error.retry_count = failed.step_number, failed.retry_count
                error.message = f"Step {failed.step_number} ({failed.step_name}) failed: {error.message}"
        live.scope = None
        with anyio.CancelScope(shield=True):
            if rejected is not None:
                await self._finish(live, "cancelled", rejected)
            elif scope.cancelled_caught or (live.stop_after_step and error is None):
                await self._finish(live, "cancelled", None)
            elif error is not None:
                await self._finish(live, "failed", error)
            else:
                execution.outputs = {k: v for k, v in state.items() if k not in execution.inputs and k not in INTERNAL_KEYS}
                await self._finish(live, "completed", None)

    async def _call_tool(self, tool_id: str, arguments: Mapping[str, Any]) -> Any:
        return (await self._hub.call(tool_id, arguments)).output

    def _step_for(self, live: _Live, node: str) -> tuple[int, str]:
        found = live.step_numbers.get(node)
        if found is None:
            found = live.step_numbers[node] = (len(live.step_numbers) + 1, node)
        return found

    async def _task_started(self, live: _Live, payload: Mapping[str, Any]) -> None:
        execution, name, now = live.execution, str(payload["name"]), utcnow()
        if name.startswith(REVIEW_PREFIX) and name.removeprefix(REVIEW_PREFIX) in live.step_numbers:
            review = NodeExecution(
                node_execution_id=new_id("ne"),
                execution_id=execution.execution_id,
                node_name=name,
                node_type="review_node",
                status="running",
                step_number=live.step_numbers[name.removeprefix(REVIEW_PREFIX)][0],
                started_at=now,
            )
            live.nodes[str(payload["id"])] = review
            await self.runtime.save_node(review)
            return
        number, step_name = self._step_for(live, name)
        node = NodeExecution(
            node_execution_id=new_id("ne"),
            execution_id=execution.execution_id,
            node_name=name,
            node_type=live.plan.node_types.get(name, "node"),
            status="running",
            step_number=number,
            started_at=now,
            input=_jsonable(payload.get("input")),
        )
        live.nodes[str(payload["id"])] = node
        await self.runtime.save_node(node)
        step = StepExecution(
            step_execution_id=new_id("stepexec"),
            execution_id=execution.execution_id,
            step_number=number,
            step_name=step_name,
            node_name=name,
            status="running",
            workflow_slug=execution.workflow_slug,
            started_at=now,
            input=node.input or {},
            max_retries=live.policies[name].max_retries if name in live.policies else 0,
            timeout_seconds=live.policies[name].timeout if name in live.policies else None,
        )
        live.running_steps[name] = step
        await self.runtime.save_step(step)
        execution.progress.current_step = number
        await self._save(live)
        await self._event(live, "step_started", {"step_number": number, "step_name": step_name, "started_at": now.isoformat()})
        await self._event(live, "node_started", {"node_name": name, "node_type": node.node_type, "step_number": number})

    async def _progress(self, live: _Live, node: str, name: str, data: Any) -> None:
        step = live.running_steps.get(node)
        await self._event(
            live,
            "node_progress",
            {"node_name": node, "step_number": step.step_number if step else None, "name": name, "data": _jsonable(data)},
        )

    async def _task_finished(self, live: _Live, payload: Mapping[str, Any]) -> None:
        execution, name, now = live.execution, str(payload["name"]), utcnow()
        failure = payload.get("error")
        node = live.nodes.pop(str(payload["id"]), None)
        error = None if failure is None else ErrorInfo(type="ExecutionError", message=scrub(f"{type(failure).__name__}: {failure}"))
        if node is not None and payload.get("interrupts"):
            node.status = "pending"  # paused for a human; it runs again when answered
            await self.runtime.save_node(node)
            return
        if node is not None:
            node.status = "failed" if failure else "completed"
            node.completed_at = now
            node.duration_seconds = _seconds(node.started_at, now)
            node.output, node.error = _jsonable(payload.get("result")), error
            await self.runtime.save_node(node)
            await self._event(live, "node_completed", {"node_name": name, "status": node.status, "duration_seconds": node.duration_seconds})
        step = live.running_steps.pop(name, None)
        if step is None:
            return
        step.status = "failed" if failure else "completed"
        step.completed_at, step.duration_seconds = now, _seconds(step.started_at, now)
        step.output, step.error = _jsonable(payload.get("result")), error
        if error is not None:
            error.step_number, error.retry_count = step.step_number, step.retry_count
            if isinstance(failure, EchoError):
                error.type, error.code, error.message = failure.type, failure.code, failure.message
        elif step.error is not None and step.error.retry_count:
            step.error = None  # an earlier attempt failed; the step succeeded in the end
        await self.runtime.save_step(step)
        await self._event(
            live,
            "step_completed" if not failure else "step_failed",
            {
                "step_number": step.step_number,
                "step_name": step.step_name,
                "status": step.status,
                "duration_seconds": step.duration_seconds,
                "completed_at": now.isoformat(),
                **({"error": msgspec.to_builtins(error)} if error else {}),
            },
        )
        if failure:
            live.failed_step = step
            await self.runtime.commit()
            return
        live.completed_steps.add(step.step_number)
        progress = execution.progress
        progress.completed_steps = len(live.completed_steps)
        total = max(execution.total_steps, len(live.step_numbers), 1)
        progress.total_steps = total
        progress.percentage = round(min(100.0, 100.0 * progress.completed_steps / total), 1)
        if execution.started_at is not None and progress.completed_steps:
            elapsed = (now - execution.started_at).total_seconds()
            execution.estimated_completion = execution.started_at + timedelta(seconds=elapsed * total / progress.completed_steps)
        await self._save(live)
        await self._event(
            live,
            "execution_progress",
            {
                "progress_percentage": progress.percentage,
                "completed_steps": progress.completed_steps,
                "total_steps": total,
                "estimated_completion": execution.estimated_completion.isoformat() if execution.estimated_completion else None,
            },
        )
        if self.checkpointer is None or not execution.config.enable_checkpoints:
            await self.runtime.flush()  # a step boundary: its records are durable
        # Otherwise the checkpointer commits these records before it saves this task's
        # writes (RecordsFirstSaver), off the run's critical path.

    async def _pause(self, live: _Live, prompt: Any) -> None:
        execution = live.execution
        prompt = dict(prompt) if isinstance(prompt, dict) else {"prompt_id": new_id("prompt"), "message": str(prompt)}
        step = self._step_for(live, str(prompt.get("agent_id", ""))) if prompt.get("agent_id") in live.step_numbers else None
        prompt["step_number"] = step[0] if step else None
        for node in live.nodes.values():
            node.status = "pending"  # waiting for the answer; the review runs again when it comes
            await self.runtime.save_node(node)
        live.nodes.clear()
        execution.status, execution.pending_prompt = "paused", prompt
        await self._save(live)
        await self._event(live, "execution_paused", {"status": "paused", "prompt_id": prompt.get("prompt_id")})
        await self._event(live, "interactive_prompt", prompt)
        await self.runtime.commit()

    async def _finish(self, live: _Live, status: Literal["completed", "failed", "cancelled"], error: ErrorInfo | None) -> None:
        execution, now = live.execution, utcnow()
        for step in live.running_steps.values():  # steps cut short by a cancel or a timeout
            step.status = "cancelled" if status == "cancelled" else "failed"
            step.completed_at, step.duration_seconds = now, _seconds(step.started_at, now)
            step.error = error
            await self.runtime.save_step(step)
            await self._event(
                live,
                "step_cancelled" if status == "cancelled" else "step_failed",
                {"step_number": step.step_number, "step_name": step.step_name, "status": step.status},
            )
        for node in live.nodes.values():
            node.status = "cancelled" if status == "cancelled" else "failed"
            node.completed_at = now
            await self.runtime.save_node(node)
        live.running_steps.clear()
        execution.status, execution.completed_at, execution.error = status, now, error
        if status == "completed":
            execution.progress.percentage = 100.0
            execution.progress.completed_steps = len(live.completed_steps)
        await self._save(live)
        duration = _seconds(execution.started_at or execution.created_at, now)
        if status == "completed":
            await self._event(
                live,
                "execution_completed",
                {
                    "status": "completed",
                    "duration_seconds": duration,
                    "completed_at": now.isoformat(),
                    "result_summary": {"output_files": 0, "llm_calls": execution.llm_calls, "total_cost_usd": execution.cost_usd},
                },
            )
        elif status == "failed":
            await self._event(
                live, "execution_failed", {"status": "failed", "error": msgspec.to_builtins(error), "failed_at": now.isoformat()}
            )
        else:
            await self._event(
                live, "execution_cancelled", {"status": "cancelled", "reason": live.cancel_reason, "cancelled_at": now.isoformat()}
            )
        await self.runtime.commit()


def _seconds(start: Any, end: Any) -> float | None:
    return None if start is None else round((end - start).total_seconds(), 3)


def _jsonable(value: Any) -> dict[str, Any] | None:
    """A node's input or output as plain JSON (message objects and the like become strings)."""
    if value is None:
        return None
    try:
        plain = msgspec.to_builtins(value, enc_hook=str)
    except (TypeError, msgspec.EncodeError):
        plain = {"value": str(value)}
    return plain if isinstance(plain, dict) else {"value": plain}
