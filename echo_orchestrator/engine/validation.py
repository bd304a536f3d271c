"""Workflow validation: draft (structure) and final (runnable here and now).

Every message names the agent, connection or key it is about, so a designer UI can
point at it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from echo_orchestrator.engine.agent_node import output_keys
from echo_orchestrator.engine.compiler import build_workflow_graph
from echo_orchestrator.engine.conditions import parse_condition
from echo_orchestrator.engine.structure import (
    NO_START,
    dependency_problems,
    hierarchy_problems,
    hybrid_starts,
    missing_agents,
    plugin_graph,
    review_problems,
    runs_as,
)
from echo_orchestrator.errors import EchoError
from echo_orchestrator.mcp.schema import schema_problems
from echo_orchestrator.models import Agent, Workflow
from echo_orchestrator.registry.spec import GraphContext, GraphSpec, ProviderStatus


class ValidationReport(msgspec.Struct, kw_only=True):
    valid: bool
    errors: list[str]
    warnings: list[str]


@dataclass
class _Collector:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def report(self) -> ValidationReport:
        return ValidationReport(valid=not self.errors, errors=self.errors, warnings=self.warnings)


def _cycles(members: list[str], edges: list[tuple[str, str]]) -> list[list[str]]:
    """Elementary cycles found by depth-first search (one per back edge)."""
    graph: dict[str, list[str]] = {m: [] for m in members}
    for a, b in edges:
        graph[a].append(b)
    found: list[list[str]] = []
    state: dict[str, int] = dict.fromkeys(members, 0)  # 0 new, 1 on stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state[nxt] == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif state[nxt] == 0:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for member in members:
        if state[member] == 0:
            visit(member)
    return found


def _reachable(starts: list[str], edges: list[tuple[str, str]]) -> set[str]:
    seen, todo = set(starts), list(starts)
    while todo:
        node = todo.pop()
        for a, b in edges:
            if a == node and b not in seen:
                seen.add(b)
                todo.append(b)
    return seen


def validate_draft(workflow: Workflow, agents: Mapping[str, Agent]) -> ValidationReport:
    c = _Collector()
    _members(c, workflow, agents)
    edges, conditional = _connections(c, workflow)
    _execution_model(c, workflow, edges, conditional)
    _state_keys(c, workflow, agents)
    _reviews_and_steps(c, workflow)
    _input_fields(c, workflow)
    return c.report()


def _input_fields(c: _Collector, workflow: Workflow) -> None:
    """Each field's `validation` must be JSON Schema this server can check input with, in
    linear time (its patterns run on RE2)."""
    names = [f.name for f in workflow.input_fields]
    for name in sorted({n for n in names if names.count(n) > 1}):
        c.errors.append(f"Input field '{name}' is listed more than once")
    for index, input_field in enumerate(workflow.input_fields):
        if input_field.validation:
            c.errors += schema_problems({"type": input_field.type, **input_field.validation}, f"input_fields[{index}].validation")


def _members(c: _Collector, workflow: Workflow, agents: Mapping[str, Agent]) -> None:
    members = list(workflow.agents)
    if runs_as(workflow) == "empty":
        c.errors.append("Workflow has no agents")
    for agent_id in sorted({a for a in members if members.count(a) > 1}):
        c.errors.append(f"Agent '{agent_id}' is listed more than once")
    c.errors += missing_agents(workflow, agents)


def _connections(c: _Collector, workflow: Workflow) -> tuple[list[tuple[str, str]], set[tuple[str, str]]]:
    """The usable edges and which of them are conditional; a problem for each one that is not."""
    members = set(workflow.agents)
    hybrid = workflow.execution_model == "hybrid"
    edges: list[tuple[str, str]] = []
    conditional: set[tuple[str, str]] = set()
    for conn in workflow.connections:
        label = f"Connection {conn.from_} -> {conn.to}"
        bad = [x for x in (conn.from_, conn.to) if x not in members]
        if bad:
            c.errors.append(f"{label}: '{bad[0]}' is not a member of the workflow")
            continue
        if conn.condition:
            try:
                parse_condition(conn.condition)
            except EchoError as exc:
                c.errors.append(f"{label}: {exc.message}")
            conditional.add((conn.from_, conn.to))
            if not hybrid:
                c.warnings.append(f"{label}: conditions apply only to hybrid workflows; it is ignored")
        if conn.from_ == conn.to and not (hybrid and conn.condition):
            c.errors.append(f"{label}: an agent cannot connect to itself without a condition")
            continue
        edges.append((conn.from_, conn.to))
    return edges, conditional


def _execution_model(c: _Collector, workflow: Workflow, edges: list[tuple[str, str]], conditional: set[tuple[str, str]]) -> None:
    model, members = workflow.execution_model, list(dict.fromkeys(workflow.agents))
    if model in ("sequential", "parallel"):
        for cycle in _cycles(members, edges):
            c.errors.append(f"Connections form a cycle: {' -> '.join(cycle)} ({model} workflows cannot loop)")
    if model == "sequential":
        _sequential(c, members, edges)
    if model == "parallel" and edges:
        c.warnings.append("Parallel agents run independently; connections are ignored")
    if model == "hybrid" and members:
        _hybrid(c, members, edges, conditional)
    c.errors += hierarchy_problems(workflow)
    if model == "hierarchical" and edges:
        c.warnings.append("Hierarchical workflows route through the master; connections are ignored")
    elif model != "hierarchical" and workflow.hierarchy is not None:
        c.warnings.append(f"hierarchy is ignored in a {model} workflow")


def _sequential(c: _Collector, members: list[str], edges: list[tuple[str, str]]) -> None:
    if not edges:
        if len(members) > 1:
            c.warnings.append("No connections: agents run in the order they are listed")
        return
    for node in members:
        outs = [b for a, b in edges if a == node]
        ins = [a for a, b in edges if b == node]
        if len(outs) > 1:
            c.errors.append(f"Sequential workflow branches at '{node}' (to {', '.join(outs)}): use hybrid or parallel")
        if len(ins) > 1:
            c.errors.append(f"Sequential workflow joins at '{node}' (from {', '.join(ins)}): use hybrid")
    connected = {x for e in edges for x in e}
    for node in members:
        if node not in connected and len(members) > 1:
            c.warnings.append(f"Agent '{node}' has no connection; it runs in list order")


def _hybrid(c: _Collector, members: list[str], edges: list[tuple[str, str]], conditional: set[tuple[str, str]]) -> None:
    starts = hybrid_starts(members, edges)
    if not starts:
        c.errors.append(NO_START)
    else:
        reachable = _reachable(starts, edges)
        c.errors += [f"Agent '{node}' cannot be reached from a start agent" for node in members if node not in reachable]
    has_end = any(not any(a == m for a, _ in edges) for m in members) or bool(conditional)
    if not has_end:
        c.errors.append("Hybrid workflow has no end: every agent has an unconditional outgoing connection")
    for cycle in _cycles(members, edges):
        if not set(itertools.pairwise(cycle)) & conditional:
            c.errors.append(f"Cycle {' -> '.join(cycle)} has no condition to leave it")


def _state_keys(c: _Collector, workflow: Workflow, agents: Mapping[str, Agent]) -> None:
    """One writer per key; a warning for a read that nothing provides."""
    known = [a for a in dict.fromkeys(workflow.agents) if a in agents]
    writers: dict[str, list[str]] = {}
    for agent_id in known:
        for key in output_keys(agents[agent_id]):
            writers.setdefault(key, []).append(agent_id)
    for key, who in writers.items():
        if len(who) > 1:
            c.errors.append(f"State key '{key}' written by multiple agents: {', '.join(who)}")
    provided = set(writers) | {f.name for f in workflow.input_fields} | set(workflow.state_schema)
    for agent_id in known:
        for key in agents[agent_id].input_schema:
            if key not in provided:
                c.warnings.append(f"Agent '{agent_id}' reads '{key}', which no agent writes: it must come from the inputs")


def _reviews_and_steps(c: _Collector, workflow: Workflow) -> None:
    members = set(workflow.agents)
    step_numbers = [s.step_number for s in workflow.strategy_definition.steps]
    by_steps = runs_as(workflow) == "steps"
    if workflow.human_in_loop.enabled:
        for point in workflow.human_in_loop.review_points:
            if isinstance(point, int):
                # Run from its steps, a number names a step; else a step or the n-th agent.
                if point not in step_numbers and (by_steps or not 1 <= point <= len(workflow.agents)):
                    c.errors.append(f"Review point {point} is not a step number")
            elif point not in members:
                c.errors.append(f"Review point '{point}' is not a member agent")
    c.errors += review_problems(workflow)
    for number in sorted({n for n in step_numbers if step_numbers.count(n) > 1}):
        c.errors.append(f"Step number {number} is used more than once")
    c.errors += dependency_problems(workflow)
    for step in workflow.strategy_definition.steps:
        if step.agent_id is not None and step.agent_id not in members:
            c.errors.append(f"Step {step.step_number} runs agent '{step.agent_id}', which is not a member")
        if sum(x is not None for x in (step.agent_id, step.tool_id, step.graph_name)) > 1:
            c.errors.append(f"Step {step.step_number} names more than one of agent_id, tool_id, graph_name")


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What final validation checks a workflow against: this server's providers, tools, graphs."""

    provider_status: Callable[[Agent], ProviderStatus]
    # Why an agent's `llm` block may not be used on this server (egress policy), or None.
    llm_refusal: Callable[[Agent], str | None]
    tool_known: Callable[[str], bool]
    graph_known: Callable[[str], bool]
    context: GraphContext
    graph_spec: Callable[[str], GraphSpec] | None = None


def graph_input_problems(workflow: Workflow, graph_schema: Mapping[str, Any]) -> list[str]:
    """A workflow that runs a plugin graph passes its inputs to the graph as they are: every
    input the graph requires must be one of its input fields (required, or with a default),
    of a type the graph accepts."""
    assert workflow.graph_name is not None
    fields = {f.name: f for f in workflow.input_fields}
    properties = graph_schema.get("properties") or {}
    problems: list[str] = []
    for name in graph_schema.get("required") or []:
        field = fields.get(name)
        if field is None:
            problems.append(f"Graph '{workflow.graph_name}' needs the input '{name}', which no input field of the workflow provides")
        elif not field.required and field.default is None:
            problems.append(f"Graph '{workflow.graph_name}' needs the input '{name}': make the input field required or give it a default")
    for name, field in fields.items():
        wanted = (properties.get(name) or {}).get("type") if isinstance(properties.get(name), Mapping) else None
        accepted = [wanted] if isinstance(wanted, str) else list(wanted or [])
        if accepted and field.type not in accepted and not (field.type == "integer" and "number" in accepted):
            problems.append(f"Input field '{name}' is a {field.type}; graph '{workflow.graph_name}' takes {' or '.join(accepted)}")
    return problems


def validate_final(workflow: Workflow, agents: Mapping[str, Agent], capabilities: Capabilities) -> ValidationReport:
    report = validate_draft(workflow, agents)
    c = _Collector(errors=list(report.errors), warnings=list(report.warnings))
    for agent_id in dict.fromkeys(workflow.agents):
        agent = agents.get(agent_id)
        if agent is None:
            continue
        if (refused := capabilities.llm_refusal(agent)) is not None:
            c.errors.append(f"Agent '{agent_id}': {refused}")
            continue
        status = capabilities.provider_status(agent)
        if not status.ready:
            reason = status.reason or "not ready"
            if status.unknown:
                c.errors.append(f"Agent '{agent_id}': {reason}")
            else:
                c.warnings.append(f"Agent '{agent_id}': provider '{agent.llm.provider}' is not ready here: {reason}")
        for tool_id in agent.tools:
            if not capabilities.tool_known(tool_id):
                c.errors.append(f"Tool '{tool_id}' of agent '{agent_id}' is not available")
    for step in workflow.strategy_definition.steps:
        for tool_id in [t for t in (step.tool_id,) if t] + step.mcp_tools:
            if not capabilities.tool_known(tool_id):
                c.errors.append(f"Tool '{tool_id}' of step {step.step_number} is not available")
        if step.graph_name and not capabilities.graph_known(step.graph_name):
            c.errors.append(f"Graph '{step.graph_name}' of step {step.step_number} is not available")
    if workflow.graph_name and not capabilities.graph_known(workflow.graph_name):
        c.errors.append(f"Graph '{workflow.graph_name}' is not available")
    elif (graph := plugin_graph(workflow)) is not None and capabilities.graph_spec is not None:
        c.errors += graph_input_problems(workflow, capabilities.graph_spec(graph).input_schema)
    if not c.errors and runs_as(workflow) in ("steps", "agents"):
        try:
            build_workflow_graph(workflow, agents, capabilities.context, graphs=capabilities.graph_spec).graph.compile()
        except EchoError as exc:
            c.errors.append(f"Workflow does not compile: {exc.message}")
        except Exception as exc:  # LangGraph's own structural errors
            c.errors.append(f"Workflow does not compile: {type(exc).__name__}: {exc}")
    return c.report()
