"""Workflows to LangGraph graphs, by execution model.

- sequential: a chain in connection order (topological; unconnected agents follow in list order);
- parallel: every agent from the start at once, then a `merge` node that joins them;
- hierarchical: the master is a supervisor node that routes to one sub-agent at a time with
  `Command`; sub-agents report back only to it; it finishes after every delegate has
  reported, when its reply says `FINISH`, or at `constraints.max_steps` visits;
- hybrid: nodes and edges from the explicit connections; a connection's `condition` makes
  its edge conditional (all true conditions are followed, in parallel); an agent with
  several incoming connections is a join: it runs once, after every branch that is active
  has finished (a skipped conditional branch is not waited for: LangGraph's deferred node).

A workflow with no agents but a `graph_name` is that plugin graph.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypedDict

import anyio.to_thread
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from echo_orchestrator.engine.agent_node import make_agent_node, output_keys
from echo_orchestrator.engine.conditions import evaluate, parse_condition
from echo_orchestrator.engine.review import REVIEW_PREFIX, make_review_node
from echo_orchestrator.engine.step_graph import (
    GraphLookup,
    add_node,
    build_step_graph,
    step_node_name,
    step_output_keys,
)
from echo_orchestrator.engine.step_policy import StepPolicy, with_policy
from echo_orchestrator.engine.structure import (
    NO_START,
    graph_order,
    hierarchy_problems,
    hybrid_starts,
    missing_agents,
    refuse,
    reviewed_agents,
    runs_as,
)
from echo_orchestrator.errors import Invalid
from echo_orchestrator.models import Agent, Workflow
from echo_orchestrator.registry.spec import GraphContext, GraphSpec

MERGE = "merge"


_DIRECTIVE = re.compile(r"\b(?:DELEGATE(?:\s+TO)?|NEXT)\s*:?\s*(?P<agent>[A-Za-z0-9_.-]+)|\b(?P<finish>FINISH)\b")


def _merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    return {**(left or {}), **(right or {})}


def _last(left: Any, right: Any) -> Any:
    # Keys that parallel branches may both write (a key shared by design): last write wins
    # instead of LangGraph's InvalidUpdateError. Validation warns about such keys.
    return right


@dataclass(frozen=True, slots=True)
class WorkflowGraph:
    graph: StateGraph[Any]
    node_types: dict[str, str]
    # Agents in the order their steps are numbered (graph order).
    agent_order: list[str]


def state_schema(workflow: Workflow, agents: Mapping[str, Agent]) -> type:
    keys: dict[str, Any] = {}
    for name in workflow.state_schema:
        keys[name] = Annotated[Any, _last]
    for step in workflow.strategy_definition.steps:
        for key in (*step_output_keys(step), *step.input_mapping.values()):
            keys[key] = Annotated[Any, _last]
    for field in workflow.input_fields:
        keys[field.name] = Annotated[Any, _last]
    for agent_id in workflow.agents:
        agent = agents.get(agent_id)
        if agent is None:
            continue
        for key in (*agent.input_schema, *output_keys(agent)):
            keys[key] = Annotated[Any, _last]
    keys["agent_outputs"] = Annotated[dict[str, Any], _merge_dicts]
    keys["delegations"] = Annotated[list[str], operator.add]
    keys["merged_output"] = Annotated[dict[str, Any], _merge_dicts]
    schema: type = TypedDict("WorkflowState", keys, total=False)  # type: ignore[misc]
    return schema


def _no_graphs(name: str) -> GraphSpec:
    raise Invalid(f"Graph '{name}' is not available here")


Out = Callable[[str], str]


def _sequential(graph: StateGraph[Any], order: Sequence[str], out: Out) -> None:
    previous = START
    for agent_id in order:
        graph.add_edge(previous, agent_id)
        previous = out(agent_id)
    graph.add_edge(previous, END)


def _parallel(graph: StateGraph[Any], order: Sequence[str], types: dict[str, str], out: Out) -> None:
    async def merge(state: dict[str, Any]) -> dict[str, Any]:
        return {"merged_output": dict(state.get("agent_outputs") or {})}

    add_node(graph, MERGE, merge)
    types[MERGE] = "merge_node"
    for agent_id in order:
        graph.add_edge(START, agent_id)
    graph.add_edge([out(a) for a in order], MERGE)
    graph.add_edge(MERGE, END)


def _supervisor(
    master: Agent,
    delegates: Sequence[str],
    run_master: Callable[[dict[str, Any]], Any],
) -> Callable[[dict[str, Any]], Any]:
    limit = master.constraints.max_steps or (len(delegates) + 1)

    async def supervise(state: dict[str, Any]) -> Command[Any]:
        update = await run_master(state)
        done = list(state.get("delegations") or [])
        visits = len(done) + 1
        reply = " ".join(str(v) for v in (update.get("agent_outputs") or {}).get(master.agent_id, {}).values())
        choice: str | None = None
        for match in _DIRECTIVE.finditer(reply):
            if match["finish"]:
                choice = END
                break
            if match["agent"] in delegates:
                choice = match["agent"]
                break
        if choice is None:  # no directive (e.g. the offline model): each delegate once, in order
            choice = next((d for d in delegates if d not in done), END)
        if visits >= limit:  # the master's last allowed step: it finishes instead of delegating
            choice = END
        if choice != END:
            update = {**update, "delegations": [choice]}
        return Command(goto=choice, update=update)

    # The annotation tells LangGraph where the node may go, so get_graph() draws the edges.
    supervise.__annotations__["return"] = Command[Literal[(*delegates, END)]]  # type: ignore[valid-type]
    return supervise


NodeFactory = Callable[[str], Callable[..., Any]]


def _hierarchical(
    graph: StateGraph[Any],
    workflow: Workflow,
    agents: Mapping[str, Agent],
    agent_node: NodeFactory,
    types: dict[str, str],
    out: Out,
) -> list[str]:
    refuse(hierarchy_problems(workflow))
    assert workflow.hierarchy is not None
    master_id = workflow.hierarchy.master_agent
    delegates = [d for d in (workflow.hierarchy.delegation_order or workflow.agents) if d != master_id]
    delegates += [a for a in workflow.agents if a not in delegates and a != master_id]
    add_node(graph, master_id, _supervisor(agents[master_id], delegates, agent_node(master_id)))
    types[master_id] = "supervisor_node"
    for delegate in delegates:
        add_node(graph, delegate, agent_node(delegate))
        graph.add_edge(out(delegate), master_id)
    graph.add_edge(START, master_id)
    return [master_id, *delegates]


def _router(source: str, branches: Sequence[tuple[str, str | None]]) -> Callable[[dict[str, Any]], Awaitable[list[str]]]:
    def choose(state: dict[str, Any]) -> list[str]:
        chosen = [target for target, condition in branches if condition is None or evaluate(condition, state)]
        return chosen or [END]

    async def route(state: dict[str, Any]) -> list[str]:
        if not any(condition for _, condition in branches):
            return choose(state)
        # Off the event loop: a condition's work is bounded, but a bounded second is still
        # a second no other request should wait for.
        return await anyio.to_thread.run_sync(choose, state)

    route.__name__ = f"route_from_{source}"
    return route


def _hybrid(
    graph: StateGraph[Any],
    workflow: Workflow,
    agent_node: NodeFactory,
    order: Sequence[str],
    types: dict[str, str],
    out: Out,
) -> None:
    members = set(order)
    outgoing: dict[str, list[tuple[str, str | None]]] = {a: [] for a in order}
    incoming: dict[str, int] = dict.fromkeys(order, 0)
    for c in workflow.connections:
        if c.from_ not in members or c.to not in members:
            raise Invalid(f"Connection {c.from_} -> {c.to} names an agent that is not a member")
        if c.condition:
            parse_condition(c.condition)
        outgoing[c.from_].append((c.to, c.condition))
        incoming[c.to] += 1
    starts = hybrid_starts(order, [(c.from_, c.to) for c in workflow.connections])
    if not starts:
        raise Invalid(NO_START)
    for agent_id in order:
        join = incoming[agent_id] > 1
        add_node(graph, agent_id, agent_node(agent_id), defer=join)
        types[agent_id] = "join_node" if join else "agent_node"
    for agent_id in starts:
        graph.add_edge(START, agent_id)
    for source, branches in outgoing.items():
        if not branches:
            graph.add_edge(out(source), END)
        elif any(cond for _, cond in branches):
            graph.add_conditional_edges(out(source), _router(source, branches), [*(t for t, _ in branches), END])
        else:
            for target, _ in branches:
                graph.add_edge(out(source), target)


def build_workflow_graph(
    workflow: Workflow,
    agents: Mapping[str, Agent],
    ctx: GraphContext,
    policies: Mapping[str, StepPolicy] | None = None,
    graphs: GraphLookup | None = None,
) -> WorkflowGraph:
    """The uncompiled StateGraph of a workflow (raises Invalid when it cannot be built).
    `policies` wrap agent nodes with their step's retries and timeout. A workflow whose
    strategy steps run tools or graphs, or state dependencies, compiles from its steps."""
    policies = policies or {}
    if runs_as(workflow) == "steps":
        step_graph, step_types = build_step_graph(workflow, agents, ctx, graphs or _no_graphs, state_schema(workflow, agents), policies)
        order = [step_node_name(s) for s in sorted(workflow.strategy_definition.steps, key=lambda s: s.step_number)]
        return WorkflowGraph(graph=step_graph, node_types=step_types, agent_order=order)
    refuse(missing_agents(workflow, agents), missing_agents=[a for a in workflow.agents if a not in agents])
    if not workflow.agents:
        raise Invalid("Workflow has no agents to run", details={"workflow_id": workflow.workflow_id})

    def agent_node(agent_id: str) -> Callable[..., Any]:
        return with_policy(agent_id, make_agent_node(agents[agent_id], ctx), policies.get(agent_id, StepPolicy()))

    graph: StateGraph[Any] = StateGraph(state_schema(workflow, agents))
    types: dict[str, str] = {}
    order = graph_order(workflow)
    reviewed = reviewed_agents(workflow)
    refuse(hierarchy_problems(workflow))

    def out(agent_id: str) -> str:
        """The node an agent's outgoing edges leave from: its review node, if it has one."""
        return f"{REVIEW_PREFIX}{agent_id}" if agent_id in reviewed else agent_id

    # Review nodes first: a join edge (`[a, b] -> merge`) must find the nodes it leaves from.
    for agent_id in dict.fromkeys(workflow.agents):
        if agent_id in reviewed:
            review = f"{REVIEW_PREFIX}{agent_id}"
            add_node(graph, review, make_review_node(agents[agent_id]))
            graph.add_edge(agent_id, review)
            types[review] = "review_node"
    if workflow.execution_model == "hierarchical":
        order = _hierarchical(graph, workflow, agents, agent_node, types, out)
    elif workflow.execution_model == "hybrid":
        _hybrid(graph, workflow, agent_node, order, types, out)
    else:
        for agent_id in order:
            add_node(graph, agent_id, agent_node(agent_id))
            types[agent_id] = "agent_node"
        if workflow.execution_model == "sequential":
            _sequential(graph, order, out)
        else:
            _parallel(graph, order, types, out)
    for agent_id in order:
        types.setdefault(agent_id, "agent_node")
    return WorkflowGraph(graph=graph, node_types=types, agent_order=list(order))
