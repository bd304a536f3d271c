"""Workflows defined by strategy steps: each step runs an agent, an MCP tool, or a plugin
graph, and its `dependencies` decide the order: steps without dependencies start at once,
a step runs after all of its dependencies (a join waits only for branches that ran).

A tool step reads its arguments from the state through `input_mapping` (tool argument ->
state key; without one, the state keys named like the tool's arguments); a graph step
passes its `input_mapping` (graph input -> state key), or the whole state, to the graph.
A tool or graph step writes its result under its `output_schema` properties when the
result has them, else under `step_<n>_output`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from langgraph.graph import END, START, StateGraph

from echo_orchestrator.engine.agent_node import make_agent_node, output_keys
from echo_orchestrator.engine.review import REVIEW_PREFIX, review_node
from echo_orchestrator.engine.step_policy import StepPolicy, with_policy
from echo_orchestrator.engine.structure import dependency_problems, refuse, reviewed_steps
from echo_orchestrator.errors import Invalid
from echo_orchestrator.models import Agent, Step, Workflow
from echo_orchestrator.registry.spec import GraphContext, GraphSpec

GraphLookup = Callable[[str], GraphSpec]


def add_node(graph: StateGraph[Any], name: str, node: Callable[..., Any], *, defer: bool = False) -> None:
    # Workflow state types are built at run time, which LangGraph's generics cannot follow;
    # this is the one place that boundary is crossed.
    cast(Any, graph).add_node(name, node, defer=defer)


def step_node_name(step: Step) -> str:
    return f"step_{step.step_number}"


def step_output_keys(step: Step) -> list[str]:
    properties = (step.output_schema or {}).get("properties") or {}
    return list(properties) or [f"step_{step.step_number}_output"]


def _outputs(step: Step, result: Any) -> dict[str, Any]:
    keys = step_output_keys(step)
    if isinstance(result, Mapping) and any(k in result for k in keys):
        return {k: result.get(k) for k in keys}
    return {f"step_{step.step_number}_output": result}


def _tool_node(step: Step, ctx: GraphContext) -> Callable[[dict[str, Any]], Any]:
    assert step.tool_id is not None
    tool_id = step.tool_id

    async def run(state: dict[str, Any]) -> dict[str, Any]:
        if step.input_mapping:
            arguments = {arg: state.get(key) for arg, key in step.input_mapping.items()}
        else:
            wanted = ((step.input_schema or {}).get("properties") or {}).keys()
            arguments = {k: state[k] for k in wanted if k in state}
        return _outputs(step, await ctx.call_tool(tool_id, arguments))

    return run


def _graph_node(step: Step, spec: GraphSpec, ctx: GraphContext) -> Callable[[dict[str, Any]], Any]:
    subgraph = spec.build(ctx).compile()

    async def run(state: dict[str, Any]) -> dict[str, Any]:
        inputs = {arg: state.get(key) for arg, key in step.input_mapping.items()} if step.input_mapping else dict(state)
        return _outputs(step, await subgraph.ainvoke(inputs))

    return run


def build_step_graph(
    workflow: Workflow,
    agents: Mapping[str, Agent],
    ctx: GraphContext,
    graphs: GraphLookup,
    state_type: type,
    policies: Mapping[str, StepPolicy],
) -> tuple[StateGraph[Any], dict[str, str]]:
    steps = {s.step_number: s for s in workflow.strategy_definition.steps}
    graph: StateGraph[Any] = StateGraph(state_type)
    types: dict[str, str] = {}
    refuse(dependency_problems(workflow))
    reviewed_numbers = reviewed_steps(workflow)

    def out(step: Step) -> str:
        """The node a step's outgoing edges leave from: its review, if it has one."""
        name = step_node_name(step)
        return f"{REVIEW_PREFIX}{name}" if step.step_number in reviewed_numbers else name

    dependents: dict[int, list[int]] = {n: [] for n in steps}
    for step in steps.values():
        for dep in step.dependencies:
            dependents[dep].append(step.step_number)
    for number, step in sorted(steps.items()):
        name = step_node_name(step)
        if step.agent_id is not None:
            if step.agent_id not in agents:
                raise Invalid(f"Step {number}: Agent '{step.agent_id}' not found")
            node, kind = make_agent_node(agents[step.agent_id], ctx), "agent_node"
        elif step.tool_id is not None:
            node, kind = _tool_node(step, ctx), "tool_node"
        elif step.graph_name is not None:
            node, kind = _graph_node(step, graphs(step.graph_name), ctx), "graph_node"
        else:
            raise Invalid(f"Step {number} ({step.name}) names no agent_id, tool_id or graph_name to run")
        wrapped = with_policy(name, node, policies.get(name, StepPolicy()))
        # A join (several dependencies) runs once, after the branches that actually ran.
        add_node(graph, name, wrapped, defer=len(step.dependencies) > 1)
        types[name] = kind
        if number in reviewed_numbers:  # its dependents wait for the human's answer, not only for the step
            review = f"{REVIEW_PREFIX}{name}"
            label = f"step {number} ({step.name})"
            keys = output_keys(agents[step.agent_id]) if step.agent_id is not None else step_output_keys(step)
            add_node(graph, review, review_node(label, keys, {"step_number": number, "agent_id": step.agent_id}, name))
            graph.add_edge(name, review)
            types[review] = "review_node"
        if not step.dependencies:
            graph.add_edge(START, name)
        if not dependents[number]:
            graph.add_edge(out(step), END)
    for step in steps.values():
        for dep in step.dependencies:
            graph.add_edge(out(steps[dep]), step_node_name(step))
    return graph, types
