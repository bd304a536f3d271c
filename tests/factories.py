"""Small builders of valid definitions for tests."""

from __future__ import annotations

from typing import Any

from echo_orchestrator.models import Agent, Connection, Workflow


def agent(agent_id: str = "agt_1", **fields: Any) -> Agent:
    fields.setdefault("name", agent_id.title())
    fields.setdefault("role", "Data Analysis")
    return Agent(agent_id=agent_id, **fields)


def workflow(workflow_id: str = "wf_1", **fields: Any) -> Workflow:
    fields.setdefault("name", f"Workflow {workflow_id}")
    fields.setdefault("agents", ["agt_1", "agt_2"])
    fields.setdefault("connections", [Connection(from_="agt_1", to="agt_2")])
    return Workflow(workflow_id=workflow_id, **fields)
