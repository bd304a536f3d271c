"""Durability modes: when a run writes checkpoints, and what a resume does without one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypedDict

import anyio
import pytest
from langgraph.graph import END, START, StateGraph

from echo_orchestrator.backends import runtime_store
from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.engine.executions import ExecutionManager
from echo_orchestrator.engine.llm.factory import ModelFactory
from echo_orchestrator.engine.llm.prices import PriceTable
from echo_orchestrator.engine.llm.providers import echo
from echo_orchestrator.engine.runs import RunPlan
from echo_orchestrator.errors import Conflict
from echo_orchestrator.mcp import McpHub
from echo_orchestrator.models import Execution, ExecutionConfig, McpSettings
from echo_orchestrator.models.execution import Durability
from echo_orchestrator.registry.spec import GraphContext

pytestmark = pytest.mark.anyio


class State(TypedDict, total=False):
    visits: list[str]


def plan(*, slow: float = 0.0, durability: Durability | None = None) -> RunPlan:
    def build(_ctx: GraphContext, _config: ExecutionConfig) -> StateGraph[Any]:
        graph: StateGraph[Any] = StateGraph(State)

        def visit(name: str) -> Any:
            async def node(state: State) -> State:
                if name == "b":
                    await anyio.sleep(slow)
                return {"visits": [*state.get("visits", []), name]}

            return node

        for name in ("a", "b", "c"):
            graph.add_node(name, visit(name))
        graph.add_edge(START, "a")
        graph.add_edge("a", "b")
        graph.add_edge("b", "c")
        graph.add_edge("c", END)
        return graph

    steps = {"a": (1, "a"), "b": (2, "b"), "c": (3, "c")}
    return RunPlan(kind="graph", build=build, steps=steps, total_steps=3, graph_name="abc", durability=durability)


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[ExecutionManager]:
    runtime = runtime_store(None, tmp_path)
    await runtime.open()
    hub = McpHub(lambda: McpSettings(), dict, dict)
    mgr = ExecutionManager(
        runtime, ModelFactory({"echo": echo}.get), hub, PriceTable(), EventBus(), checkpointer=await runtime.checkpointer()
    )
    async with hub.running(), mgr.running():
        yield mgr
    await runtime.close()


async def checkpoints(mgr: ExecutionManager, execution_id: str) -> int:
    assert mgr.checkpointer is not None
    return len([c async for c in mgr.checkpointer.alist({"configurable": {"thread_id": execution_id}})])


async def run(mgr: ExecutionManager, p: RunPlan, durability: Durability | None = None) -> Execution:
    started = await mgr.start(p, {}, config=ExecutionConfig(durability=durability))
    with anyio.fail_after(20):
        return await mgr.wait(started.execution_id)


async def test_each_mode_finishes_with_every_record_and_exit_writes_one_checkpoint(manager: ExecutionManager) -> None:
    counts: dict[str, int] = {}
    for mode in ("sync", "async", "exit"):
        done = await run(manager, plan(), mode)  # type: ignore[arg-type]
        assert done.status == "completed" and (done.outputs or {})["visits"] == ["a", "b", "c"]
        steps = await manager.runtime.list_steps(done.execution_id)
        assert [(s.step_name, s.status) for s in steps] == [("a", "completed"), ("b", "completed"), ("c", "completed")]
        events, _ = await manager.runtime.list_events(done.execution_id, limit=1000)
        assert [e.event_type for e in events].count("step_completed") == 3
        counts[mode] = await checkpoints(manager, done.execution_id)
    assert counts["sync"] == counts["async"] == 5  # the input, then after each of the three steps, and the end
    assert counts["exit"] == 1


async def test_the_execution_chooses_over_the_graph(manager: ExecutionManager) -> None:
    by_graph = await run(manager, plan(durability="exit"))
    assert await checkpoints(manager, by_graph.execution_id) == 1
    overridden = await run(manager, plan(durability="exit"), "sync")
    assert await checkpoints(manager, overridden.execution_id) == 5


async def test_a_run_stopped_without_a_checkpoint_starts_over_on_resume(manager: ExecutionManager) -> None:
    started = await manager.start(plan(slow=30), {}, config=ExecutionConfig(durability="exit"))
    with anyio.fail_after(10):
        while not [s for s in await manager.runtime.list_steps(started.execution_id) if s.step_name == "b"]:
            await anyio.sleep(0.02)
    await manager.cancel(started.execution_id, graceful=False, reason="test")
    stopped = await manager.wait(started.execution_id)
    assert stopped.status == "cancelled" and await checkpoints(manager, started.execution_id) == 0
    manager_plan = plan(slow=0)
    manager.plan_factory = lambda _execution: _async(manager_plan)
    await manager.resume(started.execution_id)
    with anyio.fail_after(20):
        done = await manager.wait(started.execution_id)
    assert done.status == "completed" and (done.outputs or {})["visits"] == ["a", "b", "c"] and done.resumed_count == 1


async def test_without_a_checkpoint_other_modes_refuse_to_resume(manager: ExecutionManager) -> None:
    started = await manager.start(plan(slow=30), {}, config=ExecutionConfig(durability="sync", enable_checkpoints=True))
    with anyio.fail_after(10):
        while not await manager.runtime.list_steps(started.execution_id):
            await anyio.sleep(0.01)
    assert manager.checkpointer is not None
    await manager.cancel(started.execution_id, graceful=False, reason="test")
    await manager.wait(started.execution_id)
    await manager.checkpointer.adelete_thread(started.execution_id)
    manager.plan_factory = lambda _execution: _async(plan())
    with pytest.raises(Conflict, match="no checkpoint yet"):
        await manager.resume(started.execution_id)


async def _async(value: RunPlan) -> RunPlan:
    return value
