"""Starting and inspecting executions (ouroboros document, Execution and Step Execution Endpoints)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import msgspec

from echo_orchestrator.engine.context import EngineGraphContext
from echo_orchestrator.engine.executions import ExecutionManager
from echo_orchestrator.engine.graph_catalog import WORKFLOW_PREFIX
from echo_orchestrator.engine.inputs import apply_defaults, check_inputs, input_schema
from echo_orchestrator.engine.llm.factory import ModelFactory, as_llm_config
from echo_orchestrator.engine.plans import graph_plan, workflow_plan
from echo_orchestrator.engine.runs import RunPlan
from echo_orchestrator.engine.structure import plugin_graph
from echo_orchestrator.errors import Invalid
from echo_orchestrator.models import Execution, ExecutionConfig, LLMUsage, StepExecution, Workflow
from echo_orchestrator.registry import PluginRegistry
from echo_orchestrator.security.callers import Caller
from echo_orchestrator.store import DefinitionStore


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


class CheckpointView(msgspec.Struct, kw_only=True):
    checkpoint_id: str
    execution_id: str
    workflow_slug: str | None
    workspace: str
    step_number: int | None
    step_name: str | None
    superstep: int | None
    created_at: str
    size_kb: float
    state_snapshot: dict[str, Any]
    resumable: bool


class ExecutionService:
    def __init__(self, store: DefinitionStore, registry: PluginRegistry, models: ModelFactory, manager: ExecutionManager) -> None:
        self._store = store
        self._registry = registry
        self._models = models
        self.manager = manager

    async def workflow_plan(self, workflow: Workflow, mode: str | None = None) -> RunPlan:
        """What a workflow runs: its plugin graph, or its compiled agents and steps."""
        if (graph_name := plugin_graph(workflow)) is not None:
            return graph_plan(self._registry.graph(graph_name), workflow=workflow)
        agents = await self._store.get_agents(workflow.agents)
        for agent in agents.values():
            self._models.check_egress(agent.llm, f"agents.{agent.agent_id}.llm")
        return workflow_plan(
            workflow,
            agents,
            EngineGraphContext(self._models),
            mode=mode or ("final" if workflow.status == "final" else "test"),
            graphs=lambda name: self._registry.graph(name).obj,
        )

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
    ) -> Execution:
        """Run what a workflow runs by id or slug: its highest final version, else its temp copy."""
        workflow = await self._store.get_runnable(ref)
        check_inputs(input_schema(workflow.input_fields), inputs)
        self.check_input_llms(inputs)
        plan = await self.workflow_plan(workflow)
        return await self.manager.start(
            plan, apply_defaults(workflow.input_fields, inputs), config=config, metadata=metadata, caller=caller
        )

    async def start_graph(self, name: str, inputs: Mapping[str, Any], config: ExecutionConfig, caller: Caller | None = None) -> Execution:
        if name.startswith(WORKFLOW_PREFIX):
            return await self.start_workflow(name.removeprefix(WORKFLOW_PREFIX), inputs, config, {}, caller)
        graph = self._registry.graph(name)
        check_inputs(graph.obj.input_schema, inputs)
        self.check_input_llms(inputs)
        return await self.manager.start(graph_plan(graph), inputs, config=config, caller=caller)

    async def plan_for(self, execution: Execution) -> RunPlan:
        """Rebuild the plan of a stored execution (to answer its prompt or resume it after a restart):
        the exact final version it ran, or the workflow's temp copy now, or the plugin graph."""
        if execution.workflow_id is None:
            return graph_plan(self._registry.graph(execution.graph_name or ""))
        if execution.execution_mode == "test" or execution.workflow_version is None:
            workflow = await self._store.get_temp(execution.workflow_id)
        else:
            workflow = await self._store.get_final(execution.workflow_id, execution.workflow_version)
        return await self.workflow_plan(workflow)

    async def respond(self, execution_id: str, prompt_id: str, response: str, changes: Mapping[str, Any], reason: str | None) -> Execution:
        if response not in ("approve", "reject", "modify"):
            raise Invalid.at("response", "approve | reject | modify", f"response must be approve, reject or modify, not {response!r}")
        return await self.manager.respond(execution_id, prompt_id, {"response": response, "changes": dict(changes), "reason": reason})

    async def checkpoints(
        self,
        *,
        workflow_slug: str | None = None,
        execution_id: str | None = None,
        workspace: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[CheckpointView], int]:
        checkpointer = self.manager.checkpointer
        if checkpointer is None:
            return [], 0
        runtime = self.manager.runtime
        if execution_id is not None:
            executions = [await runtime.get_execution(execution_id)]
        else:
            executions, _ = await runtime.list_executions(workflow_slug=workflow_slug, limit=100_000)
        views: list[CheckpointView] = []
        for execution in executions:
            if workspace is not None and execution.workspace != workspace:
                continue
            steps = {s.node_name: (s.step_number, s.step_name) for s in await runtime.list_steps(execution.execution_id) if s.node_name}
            latest = True
            async for item in checkpointer.alist({"configurable": {"thread_id": execution.execution_id}}):
                checkpoint = item.checkpoint
                ran = [n for n in checkpoint.get("versions_seen", {}) if n in steps]
                numbers = sorted({steps[n][0] for n in ran})
                last = max(ran, key=lambda n: steps[n][0]) if ran else None
                values = dict(checkpoint.get("channel_values") or {})
                views.append(
                    CheckpointView(
                        checkpoint_id=str(checkpoint["id"]),
                        execution_id=execution.execution_id,
                        workflow_slug=execution.workflow_slug,
                        workspace=execution.workspace,
                        step_number=steps[last][0] if last else None,
                        step_name=steps[last][1] if last else None,
                        superstep=item.metadata.get("step") if item.metadata else None,
                        created_at=str(checkpoint["ts"]),
                        size_kb=round(len(msgspec.json.encode(values, enc_hook=str)) / 1024, 2),
                        state_snapshot={
                            "completed_steps": numbers,
                            "current_step": (max(numbers) + 1) if numbers and max(numbers) < execution.total_steps else None,
                            "intermediate_results": msgspec.to_builtins(values, enc_hook=str),
                        },
                        resumable=latest and execution.status in ("failed", "cancelled", "paused"),
                    )
                )
                latest = False
        views.sort(key=lambda v: v.created_at, reverse=True)
        return views[offset : offset + limit], len(views)

    async def info(self, execution_id: str) -> ExecutionInfo:
        runtime = self.manager.runtime
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
