"""What a workflow runs, and the structural rules validation and the compiler share."""

from __future__ import annotations

import pytest

from echo_orchestrator.engine.structure import dependency_problems, hierarchy_problems, plugin_graph, refuse, runs_as
from echo_orchestrator.errors import Invalid
from echo_orchestrator.models import Hierarchy, HumanInLoop, Step, StrategyDefinition
from tests.factories import workflow


def test_runs_as_names_one_kind_per_workflow() -> None:
    assert (
        runs_as(workflow("wf", agents=[], graph_name="ASIS")) == "graph"
        and plugin_graph(workflow("wf", agents=[], graph_name="ASIS")) == "ASIS"
    )
    assert runs_as(workflow("wf", agents=["a"])) == "agents" and plugin_graph(workflow("wf", agents=["a"])) is None
    steps = StrategyDefinition(steps=[Step(step_number=1, name="t", tool_id="plugins-calculator")])
    assert runs_as(workflow("wf", agents=[], graph_name="ASIS", strategy_definition=steps)) == "steps"
    assert runs_as(workflow("wf", agents=[])) == "empty"


def test_a_reviewed_hierarchical_master_is_a_problem_for_both_sides() -> None:
    wf = workflow(
        "wf",
        agents=["boss", "a"],
        execution_model="hierarchical",
        hierarchy=Hierarchy(master_agent="boss"),
        human_in_loop=HumanInLoop(enabled=True, review_points=["boss"]),
    )
    problems = hierarchy_problems(wf)
    assert problems == ["Review point 'boss': a hierarchical master cannot be paused for review; review its delegates"]
    with pytest.raises(Invalid, match="cannot be paused for review") as raised:
        refuse(problems)
    assert raised.value.details["problems"] == problems


def test_step_dependencies_must_exist_and_not_be_their_own() -> None:
    steps = StrategyDefinition(steps=[Step(step_number=1, name="a", dependencies=[1]), Step(step_number=2, name="b", dependencies=[7])])
    assert dependency_problems(workflow("wf", strategy_definition=steps)) == [
        "Step 1 depends on itself",
        "Step 2 depends on step 7, which does not exist",
    ]
