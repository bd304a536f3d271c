"""Starting and inspecting executions (ouroboros document, Execution and Step Execution Endpoints)."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import anyio.to_thread
import msgspec

from echo_orchestrator.engine.context import EngineGraphContext
from echo_orchestrator.engine.executions import ExecutionManager
from echo_orchestrator.engine.inputs import apply_defaults, check_inputs, input_schema
from echo_orchestrator.engine.llm.factory import ModelFactory, as_llm_config
from echo_orchestrator.engine.plans import graph_plan, workflow_plan
from echo_orchestrator.engine.runs import RunPlan
from echo_orchestrator.engine.structure import plugin_graph
from echo_orchestrator.errors import Invalid
from echo_orchestrator.lifecycle import executions as lifecycle
from echo_orchestrator.lifecycle import workflows as workflow_lifecycle
from echo_orchestrator.mcp.lineage import RunLineage
from echo_orchestrator.models import Event, Execution, ExecutionConfig, LLMUsage, NodeExecution, StepExecution, Workflow
from echo_orchestrator.models.triggers import WebhookTarget
from echo_orchestrator.registry import PluginRegistry
from echo_orchestrator.registry.registry import RegisteredGraph
from echo_orchestrator.security.callers import Caller
from echo_orchestrator.security.destinations import WebhookDestinations
from echo_orchestrator.services.agents import agent_uses, workflow_agents
from echo_orchestrator.services.analytics import parse_moment
from echo_orchestrator.services.graphs import WORKFLOW_PREFIX
from echo_orchestrator.store.definitions.base import DefinitionStore
from echo_orchestrator.store.runtime.base import ExecutionStats
from echo_orchestrator.store.workspaces.folders import FileEntry


class LLMCallSummary(msgspec.Struct, kw_only=True):
    total: int
    by_model: dict[str, int]
    total_tokens: int
    estimated_cost_usd: float


class ExecutionInfo(msgspec.Struct, kw_only=True):
    execution: Execution
    steps: list[StepExecution]
    llm_calls: LLMCallSummary
    calls: list[LLMUsage]


class StepSummary(msgspec.Struct, kw_only=True):
    total_step_executions: int
    successful: int
    failed: int
    success_rate: float | None
    avg_duration_seconds: float | None
    avg_retry_count: float | None


class WorkflowStepStats(msgspec.Struct, kw_only=True):
    total: int
    avg_duration: float | None
    success_rate: float | None


class StepStats(msgspec.Struct, kw_only=True):
    step_name: str
    total_executions: int
    avg_duration: float | None
    failure_rate: float | None
    avg_cost_usd: float | None


class SlowStep(msgspec.Struct, kw_only=True):
    step_name: str
    avg_duration: float | None
    slowest_execution: float | None


class StepMetrics(msgspec.Struct, kw_only=True):
    """Aggregates over finished step executions (ouroboros /metrics/step-executions)."""

    summary: StepSummary
    by_workflow: dict[str, WorkflowStepStats]
    by_step: list[StepStats]
    slow_steps: list[SlowStep]


class ExecutionService:
    """Starting, following, answering and stopping executions: what every transport (HTTP,
    WebSocket, Socket.IO, SSE, the CLI) calls; the engine and the runtime store behind it."""

    def __init__(self, store: DefinitionStore, registry: PluginRegistry, models: ModelFactory, engine: ExecutionManager) -> None:
        self._store = store
        self._registry = registry
        self._models = models
        self.engine = engine
        self.runtime = engine.runtime
        self._typical: dict[str, tuple[float, float]] = {}
        # A plugin graph's plan, kept while the registry holds the same graph: the plan keeps
        # its compiled graph, and building and compiling cost about 4% of a short run.
        self._graph_plans: dict[str, tuple[RegisteredGraph, RunPlan]] = {}
        # Where completion webhooks may go (the container sets the operator's rules).
        self.destinations = WebhookDestinations()

    async def _told(self, config: ExecutionConfig | None, notify: Sequence[WebhookTarget] = ()) -> ExecutionConfig:
        """`config` with the workflow's own subscriptions after the request's; each URL
        checked against the egress rules now, so a forbidden one refuses the run."""
        config = config or ExecutionConfig()
        for i, target in enumerate(config.webhooks):
            await self.destinations.check(target.url, "webhook.url" if i == 0 else f"config.webhooks[{i}].url")
        for i, target in enumerate(notify):
            await self.destinations.check(target.url, f"notify[{i}].url")
        if not notify:
            return config
        return msgspec.structs.replace(config, webhooks=[*config.webhooks, *notify])

    def _graph_plan(self, name: str) -> RunPlan:
        graph = self._registry.graph(name)
        cached = self._graph_plans.get(name)
        if cached is None or cached[0] is not graph:
            cached = self._graph_plans[name] = (graph, graph_plan(graph))
        return cached[1]

    async def workflow_plan(self, workflow: Workflow, mode: str | None = None) -> RunPlan:
        """What a workflow runs: its plugin graph, or its compiled agents and steps."""
        if (graph_name := plugin_graph(workflow)) is not None:
            return graph_plan(self._registry.graph(graph_name), workflow=workflow)
        agents = await workflow_agents(self._store, workflow)
        for agent in agents.values():
            self._models.check_egress(agent.llm, f"agents.{agent.agent_id}.llm")
        plan = workflow_plan(
            workflow,
            agents,
            EngineGraphContext(self._models),
            mode=mode or workflow_lifecycle.mode_of(workflow),
            graphs=lambda name: self._registry.graph(name).obj,
        )
        return dataclasses.replace(plan, agents=tuple(agent_uses(workflow, agents)))

    def check_input_llms(self, inputs: Mapping[str, Any], path: str = "input") -> None:
        """422 before a run starts when its input names an `llm` block (as the ASIS graph
        takes one) that points where the operator does not allow."""
        for key, value in inputs.items():
            where = f"{path}.{key}"
            if key == "llm" and isinstance(value, Mapping):
                self._models.check_egress(as_llm_config(value), where)
            elif isinstance(value, Mapping):
                self.check_input_llms(value, where)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, Mapping):
                        self.check_input_llms(item, f"{where}[{i}]")

    async def start_workflow(
        self,
        ref: str,
        inputs: Mapping[str, Any],
        config: ExecutionConfig,
        metadata: Mapping[str, Any],
        caller: Caller | None = None,
        parent: RunLineage | None = None,
    ) -> Execution:
        """Run what a workflow runs by id or slug: its highest final version, else its temp copy."""
        workflow_lifecycle.require_not_archived((await self._store.get_summary(ref)).status, ref)
        workflow = await self._store.get_runnable(ref)
        return await self.start_definition(workflow, inputs, config=config, metadata=metadata, caller=caller, parent=parent)

    async def start_definition(
        self,
        workflow: Workflow,
        inputs: Mapping[str, Any],
        *,
        mode: str | None = None,
        config: ExecutionConfig | None = None,
        metadata: Mapping[str, Any] | None = None,
        caller: Caller | None = None,
        parent: RunLineage | None = None,
    ) -> Execution:
        """Start this copy of a workflow: its inputs checked against its fields (defaults
        applied), any `llm` block in them checked against the egress policy, then planned."""
        check_inputs(input_schema(workflow.input_fields), inputs)
        self.check_input_llms(inputs)
        plan = await self.workflow_plan(workflow, mode)
        # With history, a run is expected to take what its workflow's runs typically take.
        if (typical := await self._typical_duration(workflow.key)) is not None:
            plan = dataclasses.replace(plan, estimated_seconds=typical)
        inputs = apply_defaults(workflow.input_fields, inputs)
        config = await self._told(config, workflow.notify)
        return await self.engine.start(plan, inputs, config=config, metadata=metadata, caller=caller, parent=parent)

    async def start_graph(
        self,
        name: str,
        inputs: Mapping[str, Any],
        config: ExecutionConfig,
        caller: Caller | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
        parent: RunLineage | None = None,
    ) -> Execution:
        if name.startswith(WORKFLOW_PREFIX):
            return await self.start_workflow(name.removeprefix(WORKFLOW_PREFIX), inputs, config, metadata or {}, caller, parent)
        plan = self._graph_plan(name)
        check_inputs(self._registry.graph(name).obj.input_schema, inputs)
        self.check_input_llms(inputs)
        config = await self._told(config)
        return await self.engine.start(plan, inputs, config=config, metadata=metadata, caller=caller, parent=parent)

    async def plan_for(self, execution: Execution) -> RunPlan:
        """Rebuild the plan of a stored execution (to answer its prompt or resume it after a restart):
        the exact final version it ran, or the workflow's temp copy now, or the plugin graph."""
        if execution.workflow_id is None:
            return self._graph_plan(execution.graph_name or "")
        if execution.execution_mode == "test" or execution.workflow_version is None:
            workflow = await self._store.get_temp(execution.workflow_id)
        else:
            workflow = await self._store.get_final(execution.workflow_id, execution.workflow_version)
        return await self.workflow_plan(workflow)

    async def respond(
        self,
        execution_id: str,
        prompt_id: str,
        response: str,
        changes: Mapping[str, Any],
        reason: str | None,
        caller: Caller | None = None,
    ) -> Execution:
        if response not in ("approve", "reject", "modify"):
            raise Invalid.at("response", "approve | reject | modify", f"response must be approve, reject or modify, not {response!r}")
        answer = {"response": response, "changes": dict(changes), "reason": reason}
        return await self.engine.respond(execution_id, prompt_id, answer, caller)

    async def _typical_duration(self, slug: str) -> float | None:
        """The median of the workflow's completed runs, remembered for a minute per slug once
        there is one (a burst of starts asks once)."""
        now = time.monotonic()
        cached = self._typical.get(slug)
        if cached is not None and now - cached[0] <= 60:
            return cached[1]
        median = await self.runtime.median_duration(slug)
        if median is not None:
            self._typical[slug] = (now, median)
        return median

    # -- reading -------------------------------------------------------------------------

    async def get(self, execution_id: str) -> Execution:
        return await self.runtime.get_execution(execution_id)

    async def list_executions(
        self, *, workflow_slug: str | None = None, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Execution], int]:
        return await self.runtime.list_executions(workflow_slug=workflow_slug, status=status, limit=limit, offset=offset)

    async def nodes(self, execution_id: str) -> list[NodeExecution]:
        await self.runtime.get_execution(execution_id)  # NotFound for an unknown execution
        return await self.runtime.list_nodes(execution_id)

    async def events(
        self, execution_id: str, *, event_type: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[Event], int]:
        await self.runtime.get_execution(execution_id)
        return await self.runtime.list_events(execution_id, event_type=event_type, limit=limit, offset=offset)

    async def steps(self, execution_id: str) -> tuple[Execution, list[StepExecution]]:
        return await self.runtime.get_execution(execution_id), await self.runtime.list_steps(execution_id)

    async def step(self, step_execution_id: str) -> StepExecution:
        return await self.runtime.get_step(step_execution_id)

    async def find_steps(
        self, *, execution_id: str | None = None, workflow_slug: str | None = None, status: str | None = None, limit: int = 50
    ) -> tuple[list[StepExecution], int]:
        return await self.runtime.find_steps(execution_id=execution_id, workflow_slug=workflow_slug, status=status, limit=limit)

    async def step_metrics(
        self, *, workflow_slug: str | None = None, start_date: str | None = None, end_date: str | None = None
    ) -> StepMetrics:
        """Over the step executions started in [start_date, end_date) (dates or date-times, as
        the analytics route takes them), all of them by default."""
        start, end = parse_moment(start_date, "start_date"), parse_moment(end_date, "end_date")
        if start is not None and end is not None and start >= end:
            raise Invalid.at("start_date", "before end_date", "start_date must be before end_date")
        found = await self.runtime.step_metrics(
            workflow_slug=workflow_slug, start=start.timestamp() if start else None, end=end.timestamp() if end else None
        )
        return msgspec.convert(found, StepMetrics)

    async def stats(self) -> ExecutionStats:
        return await self.runtime.stats()

    @property
    def engine_running(self) -> bool:
        return self.engine.running_now

    async def wait(self, execution_id: str) -> Execution:
        return await self.engine.wait(execution_id)

    async def run_graph(
        self, name: str, inputs: Mapping[str, Any], config: ExecutionConfig, caller: Caller | None
    ) -> tuple[Execution, int]:
        """Run a graph to its end: the finished execution and how many nodes ran."""
        execution = await self.start_graph(name, inputs, config, caller)
        finished = await self.engine.wait(execution.execution_id)
        return finished, len(await self.runtime.list_nodes(execution.execution_id))

    # -- stopping ------------------------------------------------------------------------

    async def cancel(self, execution_id: str, *, graceful: bool, reason: str | None) -> Execution:
        return await self.engine.cancel(execution_id, graceful=graceful, reason=reason)

    async def resume(self, execution_id: str, caller: Caller | None = None) -> Execution:
        return await self.engine.resume(execution_id, caller)

    async def cancel_step(self, step_execution_id: str) -> StepExecution:
        return await self.engine.cancel_step(step_execution_id)

    async def output_files(self, execution: Execution) -> list[FileEntry]:
        """The files in the run's folder, paths relative to its workspace."""
        workspaces = self.engine.workspaces
        # An ended run counted its files when it ended: none made, no folder to walk (the
        # synchronous graph route asks right after every run).
        if workspaces is None or (lifecycle.is_terminal(execution.status) and execution.output_files == 0):
            return []
        return await anyio.to_thread.run_sync(workspaces.run_files, execution.workspace, execution.execution_id)

    async def info(self, execution_id: str) -> ExecutionInfo:
        runtime = self.runtime
        execution = await runtime.get_execution(execution_id)
        calls = await runtime.llm_calls(execution_id)
        return ExecutionInfo(
            execution=execution,
            steps=await runtime.list_steps(execution_id),
            llm_calls=LLMCallSummary(
                total=len(calls),
                by_model=dict(Counter(c.model for c in calls)),
                total_tokens=sum(c.total_tokens for c in calls),
                estimated_cost_usd=round(sum(c.cost_usd or 0.0 for c in calls), 8),
            ),
            calls=calls,
        )
