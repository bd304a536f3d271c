"""What a workflow is made of, and the structural rules both validation and the compiler apply.

`runs_as` is the one answer to "what does this workflow run"; the checks here return every
problem as a message, so validation reports them all and the compiler refuses the first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from echo_orchestrator.errors import Invalid
from echo_orchestrator.models import Agent, Workflow

RunsAs = Literal["graph", "steps", "agents", "empty"]


def uses_steps(workflow: Workflow) -> bool:
    """Whether the workflow runs its strategy steps (some step is a tool or graph step, or
    steps state dependencies) rather than its agents' connections. Steps that name nothing
    to run (no agent, tool or graph) only describe the strategy, as a catalogue workflow's
    steps over its plugin graph do: the workflow runs its graph or its agents."""
    steps = workflow.strategy_definition.steps
    if not any(s.agent_id or s.tool_id or s.graph_name for s in steps):
        return False
    return any(s.tool_id or s.graph_name or s.dependencies for s in steps)


def runs_as(workflow: Workflow) -> RunsAs:
    """`graph`: a plugin graph (no agents, a `graph_name`); `steps`: its strategy steps;
    `agents`: its agents by execution model; `empty`: nothing to run."""
    if uses_steps(workflow):
        return "steps"
    if workflow.agents:
        return "agents"
    return "graph" if workflow.graph_name else "empty"


def plugin_graph(workflow: Workflow) -> str | None:
    """The plugin graph the workflow runs, when it runs one."""
    return workflow.graph_name if runs_as(workflow) == "graph" else None


def missing_agents(workflow: Workflow, agents: Mapping[str, Agent]) -> list[str]:
    return [f"Agent '{a}' not found" for a in dict.fromkeys(workflow.agents) if a not in agents]


def hierarchy_problems(workflow: Workflow) -> list[str]:
    """A hierarchical workflow's master: present, a member, not paused for review."""
    if workflow.execution_model != "hierarchical":
        return []
    if workflow.hierarchy is None:
        return ["Hierarchical workflow needs a hierarchy with a master_agent"]
    master, members = workflow.hierarchy.master_agent, set(workflow.agents)
    problems: list[str] = []
    if master not in members:
        problems.append(f"Hierarchy master '{master}' is not a member of the workflow")
    for delegate in workflow.hierarchy.delegation_order:
        if delegate not in members:
            problems.append(f"Delegate '{delegate}' is not a member of the workflow")
        elif delegate == master:
            problems.append(f"Master '{master}' cannot delegate to itself")
    if master in reviewed_agents(workflow):
        problems.append(f"Review point '{master}': a hierarchical master cannot be paused for review; review its delegates")
    return problems


def reviewed_agents(workflow: Workflow) -> set[str]:
    """Agents after which the run pauses for a human: `human_in_loop.review_points` (agent ids
    or step numbers, when enabled) and steps marked `interactive`."""
    points: set[str] = set()
    steps = {s.step_number: s for s in workflow.strategy_definition.steps}
    order = graph_order(workflow)
    if workflow.human_in_loop.enabled:
        for point in workflow.human_in_loop.review_points:
            if isinstance(point, int):
                step = steps.get(point)
                agent = step.agent_id if step is not None else (order[point - 1] if 0 < point <= len(order) else None)
                if agent:
                    points.add(agent)
            else:
                points.add(point)
    points.update(s.agent_id for s in workflow.strategy_definition.steps if s.interactive and s.agent_id)
    return {p for p in points if p in workflow.agents}


def reviewed_steps(workflow: Workflow) -> set[int]:
    """Steps after which a workflow run from its steps pauses for a human: steps marked
    `interactive`, and `human_in_loop.review_points` (when enabled) naming a step number or
    the agent a step runs."""
    points = set(workflow.human_in_loop.review_points) if workflow.human_in_loop.enabled else set()
    return {
        s.step_number
        for s in workflow.strategy_definition.steps
        if s.interactive or s.step_number in points or (s.agent_id is not None and s.agent_id in points)
    }


def review_problems(workflow: Workflow) -> list[str]:
    """Review points that could not pause a run, named so the workflow is refused rather
    than run without the review it asks for."""
    hil = workflow.human_in_loop
    points = list(hil.review_points) if hil.enabled else []
    interactive = [s for s in workflow.strategy_definition.steps if s.interactive]
    if not points and not interactive:
        return []
    mode = runs_as(workflow)
    if mode == "graph":
        return [
            f"Workflow runs plugin graph '{workflow.graph_name}', whose own nodes decide its steps: it cannot pause for a review "
            "(review points and interactive steps need steps that run an agent, a tool or a graph)"
        ]
    problems = [
        f"Step {s.step_number} is interactive but runs nothing (no agent_id, tool_id or graph_name): there is nothing to review"
        for s in interactive
        if not (s.agent_id or s.tool_id or s.graph_name)
    ]
    if mode == "steps":
        run_by_steps = {s.agent_id for s in workflow.strategy_definition.steps if s.agent_id}
        problems += [f"Review point '{p}' names an agent no step runs" for p in points if isinstance(p, str) and p not in run_by_steps]
    return problems


def graph_order(workflow: Workflow) -> list[str]:
    """Agents in dependency order: topological over connections, ties by list order."""
    members = list(dict.fromkeys(workflow.agents))
    incoming: dict[str, set[str]] = {a: set() for a in members}
    for c in workflow.connections:
        if c.from_ in incoming and c.to in incoming and c.from_ != c.to:
            incoming[c.to].add(c.from_)
    order: list[str] = []
    remaining = dict(incoming)
    while remaining:
        ready = [a for a in members if a in remaining and not (remaining[a] - set(order))]
        if not ready:  # a cycle: keep list order for what is left
            ready = [a for a in members if a in remaining][:1]
        order.append(ready[0])
        del remaining[ready[0]]
    return order


def hybrid_starts(order: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[str]:
    """The agents of a hybrid workflow that nothing leads to: where its runs begin."""
    targets = {b for _, b in edges}
    return [a for a in order if a not in targets]


NO_START = "Hybrid workflow has no start: every agent has an incoming connection"


def dependency_problems(workflow: Workflow) -> list[str]:
    numbers = {s.step_number for s in workflow.strategy_definition.steps}
    problems: list[str] = []
    for step in workflow.strategy_definition.steps:
        for dep in step.dependencies:
            if dep not in numbers:
                problems.append(f"Step {step.step_number} depends on step {dep}, which does not exist")
            elif dep == step.step_number:
                problems.append(f"Step {step.step_number} depends on itself")
    return problems


def refuse(problems: Sequence[str], **details: object) -> None:
    """The compiler's side: the first problem, as the error that stops the build."""
    if problems:
        raise Invalid(problems[0], details={"problems": list(problems), **details})
