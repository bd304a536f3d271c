"""The permission matrix, per execution model."""

from __future__ import annotations

import pytest

from echo_orchestrator.engine.permissions import allowed_targets, can_call, validate_permissions
from echo_orchestrator.models import Agent, AgentPermissions, Connection, Hierarchy, Workflow

IDS = ["agt_001", "agt_002", "agt_003"]


def agents(callers: bool = True, **overrides: AgentPermissions) -> dict[str, Agent]:
    return {i: Agent(agent_id=i, permissions=overrides.get(i, AgentPermissions(can_call_agents=callers))) for i in IDS}


def workflow(model: str, **fields: object) -> Workflow:
    return Workflow(workflow_id="wf", execution_model=model, agents=IDS, **fields)  # type: ignore[arg-type]


HIERARCHY = workflow("hierarchical", hierarchy=Hierarchy(master_agent="agt_001", delegation_order=["agt_002", "agt_003"]))
SEQUENCE = workflow("sequential", connections=[Connection(from_="agt_001", to="agt_002"), Connection(from_="agt_002", to="agt_003")])
PARALLEL = workflow("parallel")
HYBRID = workflow(
    "hybrid", connections=[Connection(from_="agt_001", to="agt_003"), Connection(from_="agt_003", to="agt_002", condition="x")]
)

MATRIX = [
    # workflow, caller, allowed targets
    (HIERARCHY, "agt_001", ["agt_002", "agt_003"]),
    (HIERARCHY, "agt_002", ["agt_001"]),
    (HIERARCHY, "agt_003", ["agt_001"]),
    (SEQUENCE, "agt_001", ["agt_002"]),
    (SEQUENCE, "agt_002", ["agt_003"]),
    (SEQUENCE, "agt_003", []),
    (PARALLEL, "agt_001", ["agt_002", "agt_003"]),
    (PARALLEL, "agt_003", ["agt_001", "agt_002"]),
    (HYBRID, "agt_001", ["agt_003"]),
    (HYBRID, "agt_003", ["agt_002"]),
    (HYBRID, "agt_002", []),
]


@pytest.mark.parametrize(("wf", "caller", "expected"), MATRIX, ids=[f"{w.execution_model}-{c}" for w, c, _ in MATRIX])
def test_matrix(wf: Workflow, caller: str, expected: list[str]) -> None:
    assert allowed_targets(caller, wf, agents()) == expected
    for target in IDS:
        assert can_call(caller, target, wf, agents()) == (target in expected)


def test_sub_agents_cannot_call_each_other_even_if_they_ask() -> None:
    permissive = agents(agt_002=AgentPermissions(can_call_agents=True, allowed_agents=["agt_003"]))
    assert not can_call("agt_002", "agt_003", HIERARCHY, permissive)


def test_agent_permissions_narrow_the_model() -> None:
    assert allowed_targets("agt_001", PARALLEL, agents(callers=False)) == []
    whitelisted = agents(agt_001=AgentPermissions(can_call_agents=True, allowed_agents=["agt_003"]))
    assert allowed_targets("agt_001", PARALLEL, whitelisted) == ["agt_003"]
    # A hierarchical sub-agent reports back to its master whatever its flag says.
    assert allowed_targets("agt_002", HIERARCHY, agents(callers=False)) == ["agt_001"]


def test_validate_permissions() -> None:
    doc_example = {
        "agt_001": Agent(agent_id="agt_001", permissions=AgentPermissions(can_call_agents=True)),
        "agt_002": Agent(agent_id="agt_002", permissions=AgentPermissions(can_call_agents=True)),
        "agt_003": Agent(agent_id="agt_003"),
    }
    assert validate_permissions(HIERARCHY, doc_example) == ["Sub-agent 'agt_002' cannot have can_call_agents in hierarchical workflow"]
    bad = agents(agt_001=AgentPermissions(can_call_agents=True, allowed_agents=["agt_003"]))
    assert validate_permissions(SEQUENCE, bad) == ["Agent 'agt_001' allows 'agt_003', but sequential rules do not let it call 'agt_003'"]
    assert validate_permissions(PARALLEL, agents()) == []
