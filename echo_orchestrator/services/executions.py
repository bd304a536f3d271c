"""Starting and inspecting executions (ouroboros document, Execution and Step Execution Endpoints)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import msgspec

from echo_orchestrator.engine.context import EngineGraphContext
from echo_orchestrator.engine.executions import ExecutionManager, RunPlan
from echo_orchestrator.engine.graph_catalog import WORKFLOW_PREFIX
from echo_orchestrator.engine.inputs import apply_defaults, check_inputs, input_schema
from echo_orchestrator.engine.llm.factory import ModelFactory
from echo_orchestrator.engine.plans import graph_plan, workflow_plan
from echo_orchestrator.models import Execution, ExecutionConfig, LLMUsage, StepExecution, Workflow
from echo_orchestrator.registry import PluginRegistry
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


class ExecutionService:
    def __init__(
        self, store: DefinitionStore, registry: PluginRegistry, models: ModelFactory, manager: ExecutionManager
    ) -> None:
        self._store = store
        self._registry = registry
        self._models = models
        self.manager = manager

    async def _workflow_plan(self, workflow: Workflow) -> RunPlan:
        if not workflow.agents and workflow.graph_name:
            return graph_plan(self._registry.graph(workflow.graph_name), workflow=workflow)
        agents = await self._store.get_agents(workflow.agents)
        return workflow_plan(workflow, agents, EngineGraphContext(self._models), mode="final" if workflow.status == "final" else "test")

    async def start_workflow(
        self, ref: str, inputs: Mapping[str, Any], config: ExecutionConfig, metadata: Mapping[str, Any]
    ) -> Execution:
        """Run what a workflow runs by id or slug: its highest final version, else its temp copy."""
        workflow = await self._store.get_runnable(ref)
        check_inputs(input_schema(workflow.input_fields), inputs)
        plan = await self._workflow_plan(workflow)
        return await self.manager.start(plan, apply_defaults(workflow.input_fields, inputs), config=config, metadata=metadata)

    async def start_graph(self, name: str, inputs: Mapping[str, Any], config: ExecutionConfig) -> Execution:
        if name.startswith(WORKFLOW_PREFIX):
            return await self.start_workflow(name.removeprefix(WORKFLOW_PREFIX), inputs, config, {})
        graph = self._registry.graph(name)
        check_inputs(graph.obj.input_schema, inputs)
        return await self.manager.start(graph_plan(graph), inputs, config=config)

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
