"""Driving one run: its graph compiled (once per plan and policies), its config built, its
stream driven to the end, a pause or a stop, and the outcome recorded."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.config import get_config
from langgraph.types import Command, StreamMode

from echo_orchestrator.engine import traced
from echo_orchestrator.engine.context import EngineGraphContext, RunContext, current_context
from echo_orchestrator.engine.files import RunFiles, current_files
from echo_orchestrator.engine.live_tokens import TokenPublisher
from echo_orchestrator.engine.llm.content import ContentCapture
from echo_orchestrator.engine.llm.factory import ModelFactory
from echo_orchestrator.engine.llm.prices import PriceTable
from echo_orchestrator.engine.llm.tokens import TokenStreamer
from echo_orchestrator.engine.llm.usage import UsageRecorder
from echo_orchestrator.engine.recording import Ending, RunRecorder
from echo_orchestrator.engine.runs import INTERNAL_KEYS, LiveRun
from echo_orchestrator.engine.step_policy import current_run
from echo_orchestrator.engine.tools import langchain_tools
from echo_orchestrator.engine.tracking import TaskTracker
from echo_orchestrator.errors import EchoError, ExecutionCancelled, ExecutionFailed, RuntimeUnavailable, TimeoutExceeded
from echo_orchestrator.lifecycle import executions as lifecycle
from echo_orchestrator.mcp import McpHub
from echo_orchestrator.models import ErrorInfo
from echo_orchestrator.security.redaction import scrub
from echo_orchestrator.store.runtime.checkpoints import NEW_THREAD
from echo_orchestrator.store.workspaces.folders import FileEntry, Workspaces

RunInput = dict[str, Any] | Command[Any] | None


# The key LangGraph's stream puts a pause's interrupts under (its documented output; the
# constant itself is private).
INTERRUPT = "__interrupt__"


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


class RunDriver:
    def __init__(
        self,
        recorder: RunRecorder,
        models: ModelFactory,
        hub: McpHub,
        prices: PriceTable,
        workspaces: Workspaces | None = None,
        *,
        tokens: TokenPublisher | None = None,
        trace_content: bool = False,
    ) -> None:
        self.recorder = recorder
        self._models = models
        self._hub = hub
        self._prices = prices
        self._workspaces = workspaces
        # Given: models that can stream do (their pieces are live `llm_token`s for those who ask).
        self.tokens = tokens
        self.trace_content = trace_content  # LLM spans carry the calls' text (ECHO_TRACE_CONTENT)

    async def execute(self, live: LiveRun, first_input: RunInput, checkpointer: BaseCheckpointSaver[Any] | None) -> None:
        """Get the graph, build the run's config, drive the stream, record the outcome."""
        resumed_from = None if isinstance(first_input, dict) else "response" if isinstance(first_input, Command) else "checkpoint"
        if resumed_from is None and lifecycle.never_started(live.execution):  # no checkpoint can exist
            NEW_THREAD.set([live.execution.execution_id])
        await self.recorder.started(live, resumed_from)
        self._enter_run(live)
        if not live.execution.config.enable_checkpoints:
            checkpointer = None
        live.checkpointed = checkpointer is not None
        outcome = Outcome(state=dict(live.execution.inputs))
        with anyio.CancelScope() as scope:
            live.scope = scope
            try:
                graph = self._graph(live, checkpointer)
                outcome = await self._drive(live, graph, self._run_config(live), first_input)
            except Exception as exc:
                outcome.error, outcome.rejected = self._failure(exc, live)
                # The database went away under it: with checkpoints it goes on once it is back.
                live.database_lost = _database_lost(exc) and live.checkpointed
        live.scope = None
        outcome.cancelled = scope.cancelled_caught
        if live.database_lost and not outcome.cancelled:
            return
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
            await recorder.tool_used(live, tool_id, phase, detail, node=_current_node())

        async def call_tool(tool_id: str, arguments: Mapping[str, Any]) -> Any:
            """A tool step's call (or a graph's `ctx.call_tool`): recorded like an agent's."""
            await on_tool(tool_id, "started", {"arguments": dict(arguments)})
            result = await self._hub.call(tool_id, arguments)
            await on_tool(tool_id, "completed", {"execution_time_ms": result.execution_time_ms, "cost_usd": result.cost_usd})
            return result.output

        files = None
        if self._workspaces is not None:

            async def on_file(entry: FileEntry) -> None:
                await recorder.file_written(live, entry)

            files = RunFiles(self._workspaces, live.execution.workspace, live.execution.execution_id, on_file)
            live.files = files
        current_files.set(files)
        context = EngineGraphContext(self._models, call_tool, lambda ids: langchain_tools(self._hub, ids, on_call=on_tool), files=files)
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

        async def on_start(provider: str, model: str, prompt_tokens: int, node: str | None, call_id: str) -> None:
            await recorder.llm_started(live, provider, model, prompt_tokens, node, call_id)

        async def on_usage(usage: Any, call_id: str) -> None:
            await recorder.llm_used(live, usage, call_id)

        tracker = TaskTracker(
            lambda task: recorder.task_started(live, task),
            lambda task: recorder.task_finished(live, task),
            lambda node, name, data: recorder.progress(live, node, name, data),
        )
        callbacks: list[Any] = [tracker, UsageRecorder(self._prices, on_usage, on_start)]
        if self.tokens is not None:
            callbacks.append(TokenStreamer(functools.partial(self.tokens.publish, live)))
        if self.trace_content and traced.recording(live):

            def keep(call_id: str, asked: str, replied: str) -> None:
                live.call_content[call_id] = (asked, replied)

            callbacks.insert(0, ContentCapture(keep))
        return {
            "callbacks": callbacks,
            "recursion_limit": 100,
            "configurable": {"thread_id": live.execution.execution_id},
        }

    async def _drive(self, live: LiveRun, graph: Any, config: RunnableConfig, first_input: RunInput) -> Outcome:
        """Run the graph to its end, a pause, or a graceful stop. Steps are recorded by the
        tracker, inside their tasks; the stream drives the run and gives the state after
        each superstep, and the questions of a pause (`__interrupt__`): no read of the
        checkpoint at the end (measured: ~8% of a short run's CPU)."""
        outcome = Outcome(state=dict(live.execution.inputs))
        timeout = live.execution.config.timeout
        prompts: list[Any] = []
        try:
            with anyio.fail_after(timeout) if timeout else contextlib.nullcontext():
                # A list (not a tuple): LangGraph then yields (mode, chunk) pairs.
                modes: list[StreamMode] = ["values"]
                # Durability means nothing without a checkpointer (LangGraph warns if given).
                durability = live.durability if live.checkpointed else None
                stream = graph.astream(first_input, config=config, stream_mode=modes, durability=durability)
                async for _, chunk in stream:
                    if isinstance(chunk, dict):
                        asked = chunk.get(INTERRUPT)
                        if asked is None:
                            outcome.state = dict(chunk)
                        else:  # the state then, with the interrupts of the tasks that asked
                            prompts.extend(i.value for i in asked)
                    if live.stop_after_step and not live.running_steps:
                        break
                if prompts and not live.stop_after_step:
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
        if outcome.paused or live.handed_back:  # another process goes on with it
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
        files = live.files
        made = 0 if files is None else len(await anyio.to_thread.run_sync(files.files))
        await self.recorder.finish(live, ending, error, made)


def _database_lost(exc: BaseException) -> bool:
    """Whether the runtime database's unavailability stopped the run (LangGraph may wrap it)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return isinstance(exc, RuntimeUnavailable) or isinstance(exc.__cause__, RuntimeUnavailable)


def _current_node() -> str | None:
    """The graph node whose task is running here (LangGraph keeps its config in a context
    variable its node tasks inherit), so a tool call is put on that node's step."""
    try:
        config = get_config()
    except RuntimeError:  # not inside a node
        return None
    node = (config.get("metadata") or {}).get("langgraph_node")
    return node if isinstance(node, str) else None
