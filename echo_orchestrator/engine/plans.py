"""Run plans: what an execution runs, and how its graph's nodes map to numbered steps."""

from __future__ import annotations

from collections.abc import Mapping

from echo_orchestrator.engine.compiler import MERGE, build_workflow_graph
from echo_orchestrator.engine.runs import RunPlan
from echo_orchestrator.engine.step_graph import GraphLookup, step_node_name
from echo_orchestrator.engine.step_policy import StepPolicy, policy_for
from echo_orchestrator.engine.structure import runs_as
from echo_orchestrator.models import Agent, ExecutionConfig, Workflow
from echo_orchestrator.registry.registry import RegisteredGraph
from echo_orchestrator.registry.spec import GraphContext


def workflow_plan(
    workflow: Workflow,
    agents: Mapping[str, Agent],
    context: GraphContext,
    *,
    mode: str | None = None,
    graphs: GraphLookup | None = None,
) -> RunPlan:
    """Steps are the workflow's strategy steps (a step-defined workflow's nodes, or the steps
    that name an agent), else one step per agent in graph order."""
    if runs_as(workflow) == "graph":
        raise ValueError("use graph_plan for a workflow that runs a plugin graph")
    shape = build_workflow_graph(workflow, agents, context, graphs=graphs)  # fails early (Invalid)
    if runs_as(workflow) == "steps":
        by_node = {step_node_name(s): s for s in workflow.strategy_definition.steps}
        steps = {node: (s.step_number, s.name) for node, s in by_node.items()}

        def policies(config: ExecutionConfig) -> dict[str, StepPolicy]:
            return {node: policy_for(s, config) for node, s in by_node.items()}
    else:
        by_agent = {s.agent_id: s for s in workflow.strategy_definition.steps if s.agent_id}
        explicit = {agent_id: (s.step_number, s.name) for agent_id, s in by_agent.items()}
        steps = explicit or {a: (i, agents[a].name or a) for i, a in enumerate(shape.agent_order, 1)}
        if MERGE in shape.node_types and MERGE not in steps:  # a parallel run's last step, counted from the start
            steps = {**steps, MERGE: (max((n for n, _ in steps.values()), default=0) + 1, "Merge")}

        def policies(config: ExecutionConfig) -> dict[str, StepPolicy]:
            return {a: policy_for(by_agent.get(a), config) for a in shape.agent_order}

    return RunPlan(
        kind="workflow",
        build=lambda ctx, config: build_workflow_graph(workflow, agents, ctx, policies(config), graphs).graph,
        policies=policies,
        steps=steps,
        total_steps=len(steps),
        node_types=shape.node_types,
        workflow_id=workflow.workflow_id,
        workflow_slug=workflow.key,
        workflow_version=workflow.version,
        execution_mode=mode,
        estimated_seconds=estimated_seconds(workflow),
    )


def estimated_seconds(workflow: Workflow | None) -> float | None:
    """What its strategy steps say a run takes (the sum of their `estimated_duration`)."""
    estimates = [s.estimated_duration for s in workflow.strategy_definition.steps if s.estimated_duration] if workflow else []
    return sum(estimates) if estimates else None


def graph_plan(graph: RegisteredGraph, *, workflow: Workflow | None = None) -> RunPlan:
    """A plugin graph's steps are its nodes, in the order the graph declares them."""
    nodes = [n.name for n in graph.info.nodes if n.type not in ("start", "end")]
    return RunPlan(
        kind="workflow" if workflow is not None else "graph",
        build=lambda ctx, _config: graph.obj.build(ctx),
        steps={name: (i, name) for i, name in enumerate(nodes, 1)},
        total_steps=len(nodes),
        node_types=dict(graph.obj.node_types),
        durability=graph.obj.durability,
        graph_name=graph.name,
        workflow_id=workflow.workflow_id if workflow else None,
        workflow_slug=workflow.key if workflow else None,
        workflow_version=workflow.version if workflow else None,
        estimated_seconds=estimated_seconds(workflow),
    )
