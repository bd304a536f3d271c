"""Workflows compile to LangGraph graphs by execution model, and run (offline, echo)."""

from __future__ import annotations

from typing import Any

import pytest

from echo_orchestrator.engine.compiler import build_workflow_graph
from echo_orchestrator.engine.context import EngineGraphContext
from echo_orchestrator.engine.structure import graph_order
from echo_orchestrator.errors import Invalid
from echo_orchestrator.models import Agent, AgentConstraints, Connection, Hierarchy, LLMConfig, Workflow
from echo_orchestrator.registry.graphs import describe_state_graph
from echo_orchestrator.services.plugins import build_registry
from echo_orchestrator.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def context() -> EngineGraphContext:
    registry, models = build_registry(Settings(plugins_dir=None))  # type: ignore[arg-type]
    registry.load()
    return EngineGraphContext(models)


def agents(*ids: str, **llm: Any) -> dict[str, Agent]:
    return {
        i: Agent(agent_id=i, name=i.title(), role=f"{i} work", input_schema=["topic"], output_schema=[f"{i}_out"], llm=LLMConfig(**llm))
        for i in ids
    }


def edges(wf: Workflow, ag: dict[str, Agent], ctx: EngineGraphContext) -> set[tuple[str, str, bool]]:
    built = build_workflow_graph(wf, ag, ctx)
    return {(e.source, e.target, e.conditional) for e in describe_state_graph(built.graph, built.node_types).edges}


async def run(wf: Workflow, ag: dict[str, Agent], ctx: EngineGraphContext, **inputs: Any) -> dict[str, Any]:
    return await build_workflow_graph(wf, ag, ctx).graph.compile().ainvoke(inputs or {"topic": "coffee"})


async def test_sequential_follows_connections(context: EngineGraphContext) -> None:
    wf = Workflow(workflow_id="wf", agents=["c", "a", "b"], connections=[Connection(from_="a", to="b"), Connection(from_="b", to="c")])
    assert graph_order(wf) == ["a", "b", "c"]
    assert edges(wf, agents("a", "b", "c"), context) == {
        ("__start__", "a", False), ("a", "b", False), ("b", "c", False), ("c", "__end__", False)
    }  # fmt: skip
    out = await run(wf, agents("a", "b", "c"), context)
    assert list(out["agent_outputs"]) == ["a", "b", "c"]
    assert out["c_out"].startswith("[echo: offline, no model was called]")


async def test_agents_read_their_inputs_and_write_their_outputs(context: EngineGraphContext) -> None:
    ag = {
        "analyzer": Agent(agent_id="analyzer", input_schema=["input_data"], output_schema=["analysis"], llm=LLMConfig(responses=["sales up 12%"])),
        "writer": Agent(agent_id="writer", input_schema=["analysis"], output_schema=["summary", "score"], llm=LLMConfig(responses=['{"summary": "good year", "score": 0.9}'])),
    }  # fmt: skip
    wf = Workflow(workflow_id="wf", agents=["analyzer", "writer"], connections=[Connection(from_="analyzer", to="writer")])
    out = await run(wf, ag, context, input_data="Q1..Q4")
    assert out["analysis"] == "sales up 12%"
    assert (out["summary"], out["score"]) == ("good year", 0.9)


async def test_parallel_fans_out_and_merges(context: EngineGraphContext) -> None:
    wf = Workflow(workflow_id="wf", execution_model="parallel", agents=["a", "b", "c"])
    found = edges(wf, agents("a", "b", "c"), context)
    assert {("__start__", x, False) for x in "abc"} | {(x, "merge", False) for x in "abc"} <= found
    out = await run(wf, agents("a", "b", "c", latency_ms=100), context)
    assert set(out["merged_output"]) == {"a", "b", "c"}


async def test_hierarchical_master_delegates_and_subagents_report_back(context: EngineGraphContext) -> None:
    wf = Workflow(
        workflow_id="wf",
        execution_model="hierarchical",
        agents=["boss", "x", "y"],
        hierarchy=Hierarchy(master_agent="boss", delegation_order=["y", "x"]),
    )
    assert edges(wf, agents("boss", "x", "y"), context) == {
        ("__start__", "boss", False), ("boss", "x", True), ("boss", "y", True), ("boss", "__end__", True),
        ("x", "boss", False), ("y", "boss", False),
    }  # fmt: skip
    out = await run(wf, agents("boss", "x", "y"), context)
    assert out["delegations"] == ["y", "x"]  # delegation order, each once, then finish


async def test_hierarchical_master_can_route_and_is_bounded(context: EngineGraphContext) -> None:
    ag = agents("boss", "x", "y")
    ag["boss"] = Agent(
        agent_id="boss",
        output_schema=["plan"],
        llm=LLMConfig(responses=["DELEGATE: x", "DELEGATE: x", "DELEGATE: x"]),
        constraints=AgentConstraints(max_steps=3),
    )
    wf = Workflow(workflow_id="wf", execution_model="hierarchical", agents=["boss", "x", "y"], hierarchy=Hierarchy(master_agent="boss"))
    out = await run(wf, ag, context)
    assert out["delegations"] == ["x", "x"]  # routed by the master's reply; stopped at max_steps visits


async def test_hybrid_conditions_and_joins(context: EngineGraphContext) -> None:
    ag = agents("a", "b", "c", "d")
    ag["a"] = Agent(agent_id="a", output_schema=["score"], llm=LLMConfig(responses=["0.2"]))
    wf = Workflow(
        workflow_id="wf",
        execution_model="hybrid",
        agents=["a", "b", "c", "d"],
        connections=[
            Connection(from_="a", to="b", condition="float(score) >= 0.5"),
            Connection(from_="a", to="c", condition="float(score) < 0.5"),
            Connection(from_="b", to="d"),
            Connection(from_="c", to="d"),
        ],
    )
    built = build_workflow_graph(wf, ag, context)
    assert built.node_types["d"] == "join_node"
    out = await run(wf, ag, context)
    assert list(out["agent_outputs"]) == ["a", "c", "d"]  # b skipped; the join did not wait for it


@pytest.mark.parametrize(
    ("workflow", "message"),
    [
        (Workflow(workflow_id="wf", agents=["a", "ghost"]), "Agent 'ghost' not found"),
        (Workflow(workflow_id="wf", agents=[]), "no agents"),
        (Workflow(workflow_id="wf", execution_model="hierarchical", agents=["a"]), "master_agent"),
        (
            Workflow(
                workflow_id="wf",
                execution_model="hybrid",
                agents=["a", "b"],
                connections=[Connection(from_="a", to="b"), Connection(from_="b", to="a")],
            ),
            "no start",
        ),
        (
            Workflow(
                workflow_id="wf",
                execution_model="hybrid",
                agents=["a", "b"],
                connections=[Connection(from_="a", to="b", condition="import os")],
            ),
            "not a valid expression",
        ),
    ],
)
def test_workflows_that_cannot_compile(context: EngineGraphContext, workflow: Workflow, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        build_workflow_graph(workflow, agents("a", "b"), context)
