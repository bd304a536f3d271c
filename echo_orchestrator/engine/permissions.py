"""Who may call whom inside a workflow (echoai document, Agent Permissions).

- hierarchical: the master may call its sub-agents; a sub-agent may call only the master;
- sequential: an agent may call only the next one in the sequence;
- parallel: every agent may call every other;
- hybrid: an agent may call the agents its connections lead to.

An agent's own `permissions` narrow this further: `can_call_agents: false` forbids every
call except the report back to a hierarchical master, and a non-empty `allowed_agents`
is a whitelist.
"""

from __future__ import annotations

from collections.abc import Mapping

from echo_orchestrator.engine.structure import graph_order
from echo_orchestrator.models import Agent, Workflow


def _master(workflow: Workflow) -> str | None:
    return workflow.hierarchy.master_agent if workflow.hierarchy is not None else None


def model_targets(caller: str, workflow: Workflow) -> list[str]:
    """What the execution model alone allows `caller` to call."""
    members = list(dict.fromkeys(workflow.agents))
    if caller not in members:
        return []
    model = workflow.execution_model
    if model == "hierarchical":
        master = _master(workflow)
        if master is None:
            return []
        if caller == master:
            order = [d for d in (workflow.hierarchy.delegation_order if workflow.hierarchy else []) if d != master]
            return order + [m for m in members if m != master and m not in order]
        return [master]
    if model == "sequential":
        order = graph_order(workflow)
        position = order.index(caller)
        return order[position + 1 : position + 2]
    if model == "parallel":
        return [m for m in members if m != caller]
    return list(dict.fromkeys(c.to for c in workflow.connections if c.from_ == caller and c.to in members))


def allowed_targets(caller: str, workflow: Workflow, agents: Mapping[str, Agent]) -> list[str]:
    targets = model_targets(caller, workflow)
    agent = agents.get(caller)
    if agent is None:
        return targets
    reporting_back = workflow.execution_model == "hierarchical" and caller != _master(workflow)
    if not agent.permissions.can_call_agents and not reporting_back:
        return []
    if agent.permissions.allowed_agents:
        targets = [t for t in targets if t in agent.permissions.allowed_agents]
    return targets


def can_call(caller: str, target: str, workflow: Workflow, agents: Mapping[str, Agent]) -> bool:
    return target in allowed_targets(caller, workflow, agents)


def validate_permissions(workflow: Workflow, agents: Mapping[str, Agent]) -> list[str]:
    errors: list[str] = []
    members = list(dict.fromkeys(workflow.agents))
    master = _master(workflow)
    if workflow.execution_model == "hierarchical" and master is None:
        errors.append("Hierarchical workflow needs a hierarchy with a master_agent")
    for agent_id in members:
        agent = agents.get(agent_id)
        if agent is None:
            errors.append(f"Agent '{agent_id}' not found")
            continue
        permissions = agent.permissions
        if workflow.execution_model == "hierarchical" and master is not None:
            if agent_id == master and not permissions.can_call_agents:
                errors.append(f"Master agent '{agent_id}' must have can_call_agents to delegate")
            if agent_id != master and permissions.can_call_agents:
                errors.append(f"Sub-agent '{agent_id}' cannot have can_call_agents in hierarchical workflow")
        allowed_by_model = set(model_targets(agent_id, workflow))
        for other in permissions.allowed_agents:
            if other not in members:
                errors.append(f"Agent '{agent_id}' allows '{other}', which is not a member of the workflow")
            elif other not in allowed_by_model:
                errors.append(f"Agent '{agent_id}' allows '{other}', but {workflow.execution_model} rules do not let it call '{other}'")
    return errors
