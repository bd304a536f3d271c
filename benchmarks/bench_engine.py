"""Execution engine figures (issue #5).

1. Overhead: a 20-step sequential workflow on the zero-latency `echo` provider, through the
   engine (records, events, LLM accounting, checkpoints) vs the same graph invoked raw with
   LangGraph and the same SQLite checkpointer. Target: engine <= 1.5x raw.
2. Concurrency: 200 executions each waiting on a 1 s simulated LLM latency, limit raised to
   200. Target: all done in under 3 s wall. RSS reported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

from echo_orchestrator.engine.compiler import build_workflow_graph
from echo_orchestrator.engine.context import EngineGraphContext
from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.engine.executions import ExecutionManager
from echo_orchestrator.engine.llm.factory import ModelFactory
from echo_orchestrator.engine.llm.prices import PriceTable
from echo_orchestrator.engine.llm.providers import echo
from echo_orchestrator.engine.plans import workflow_plan
from echo_orchestrator.lifecycle.ownership import this_process
from echo_orchestrator.mcp import McpHub
from echo_orchestrator.models import Agent, Connection, ExecutionConfig, LLMConfig, McpSettings, Workflow
from echo_orchestrator.store.runtime.sqlite import SqliteRuntimeStore


def chain(steps: int, latency_ms: int = 0) -> tuple[Workflow, dict[str, Agent]]:
    ids = [f"a{i:02d}" for i in range(steps)]
    agents = {
        a: Agent(
            agent_id=a,
            name=a,
            input_schema=["input_data" if i == 0 else f"{ids[i - 1]}_out"],
            output_schema=[f"{a}_out"],
            llm=LLMConfig(latency_ms=latency_ms),
        )
        for i, a in enumerate(ids)
    }
    workflow = Workflow(
        workflow_id="wf_bench",
        slug="bench",
        agents=ids,
        connections=[Connection(from_=a, to=b) for a, b in itertools.pairwise(ids)],
    )
    return workflow, agents


async def overhead(root: Path, runs: int) -> None:
    models = ModelFactory({"echo": echo}.get)
    workflow, agents = chain(20)
    runtime = SqliteRuntimeStore(root / "runtime.sqlite", owner=this_process())
    await runtime.open()
    saver = await runtime.checkpointer()
    hub = McpHub(lambda: McpSettings(), dict, dict)
    manager = ExecutionManager(runtime, models, hub, PriceTable(), EventBus(), checkpointer=saver)
    plan = workflow_plan(workflow, agents, EngineGraphContext(models))

    raw_times, engine_times = [], []
    async with hub.running(), manager.running():
        for i in range(runs + 2):  # two warm-up rounds
            graph = build_workflow_graph(workflow, agents, EngineGraphContext(models)).graph.compile(checkpointer=saver)
            t0 = time.perf_counter()
            await graph.ainvoke({"input_data": "x"}, config={"configurable": {"thread_id": f"raw-{i}"}})
            raw = time.perf_counter() - t0
            t0 = time.perf_counter()
            started = await manager.start(plan, {"input_data": "x"}, config=ExecutionConfig())
            done = await manager.wait(started.execution_id)
            engine = time.perf_counter() - t0
            assert done.status == "completed", done.error
            if i >= 2:
                raw_times.append(raw)
                engine_times.append(engine)
        events, _ = await runtime.list_events(done.execution_id, limit=10_000)
    await runtime.close()
    raw_ms, engine_ms = statistics.median(raw_times) * 1000, statistics.median(engine_times) * 1000
    print(f"20-step sequential workflow, echo provider, SQLite checkpointer, {runs} runs (median):")
    print(f"  raw LangGraph ainvoke:        {raw_ms:7.1f} ms")
    print(f"  through the engine:           {engine_ms:7.1f} ms  ({len(events)} events, 20 steps, 20 node and 20 LLM records)")
    print(f"  ratio engine / raw:           {engine_ms / raw_ms:7.2f}x  (target <= 1.5x)")


async def concurrency(root: Path, count: int) -> None:
    models = ModelFactory({"echo": echo}.get)
    workflow, agents = chain(1, latency_ms=1000)
    runtime = SqliteRuntimeStore(root / "concurrency.sqlite", owner=this_process())
    await runtime.open()
    saver = await runtime.checkpointer()
    hub = McpHub(lambda: McpSettings(), dict, dict)
    manager = ExecutionManager(runtime, models, hub, PriceTable(), EventBus(), max_concurrent=count, checkpointer=saver)
    plan = workflow_plan(workflow, agents, EngineGraphContext(models))
    async with hub.running(), manager.running():
        t0 = time.perf_counter()
        started = [await manager.start(plan, {"input_data": str(i)}) for i in range(count)]
        accepted = time.perf_counter() - t0  # each start committed before it returns
        statuses = []
        for execution in started:
            statuses.append((await manager.wait(execution.execution_id)).status)
        wall = time.perf_counter() - t0
    rss = psutil.Process().memory_info().rss / 2**20
    await runtime.close()
    print(f"{count} executions, 1 s simulated LLM latency each, limit {count}:")
    print(f"  all accepted (each recorded before its start returned) in {accepted:.2f} s, {accepted / count * 1000:.2f} ms each")
    print(f"  all done in {wall:.2f} s wall (target < 3 s); {statuses.count('completed')}/{count} completed; RSS {rss:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only shows the script works (the suite runs it)")
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.concurrent = 2, 4
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(overhead, Path(tmp), args.runs)
        anyio.run(concurrency, Path(tmp), args.concurrent)


if __name__ == "__main__":
    main()
