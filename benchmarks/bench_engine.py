"""Execution engine figures (issues #5, #30), each beside raw LangGraph in the same run.

1. Overhead: a 20-step sequential workflow on the zero-latency `echo` provider, through the
   engine (records, events, LLM accounting, checkpoints) vs the same graph invoked raw by
   LangGraph with its own SQLite checkpointer (its `AsyncSqliteSaver`, WAL, synchronous
   NORMAL, a file of its own). Goal: engine <= 1.1x raw.
2. Concurrency: `--concurrent` executions each waiting on a 1 s simulated LLM latency,
   started together (as that many callers would) with the limit raised to match, vs the same
   graph invoked as many times at once by LangGraph with its SQLite saver, and without one.
   Goal: within raw LangGraph's time with its saver, and under 3 s. RSS reported.

    python benchmarks/bench_engine.py [--runs 20] [--concurrent 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import psutil
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

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


@contextlib.asynccontextmanager
async def langgraph_saver(path: Path) -> AsyncIterator[AsyncSqliteSaver]:
    """The anchor's checkpointer: LangGraph's own SQLite saver, set as its docs advise."""
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        await saver.conn.execute("PRAGMA journal_mode=WAL")
        await saver.conn.execute("PRAGMA synchronous=NORMAL")
        yield saver


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
    async with langgraph_saver(root / "raw.sqlite") as raw_saver, hub.running(), manager.running():
        graph = build_workflow_graph(workflow, agents, EngineGraphContext(models)).graph.compile(checkpointer=raw_saver)
        for i in range(runs + 2):  # two warm-up rounds
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
    raw_ms, engine_ms = (statistics.median(t) * 1000 for t in (raw_times, engine_times))
    print(f"20-step sequential workflow, echo provider, SQLite checkpointer, {runs} runs (min / median / max):")
    print(f"  raw LangGraph + its SQLite saver: {_spread(raw_times)} ms")
    print(f"  through the engine:               {_spread(engine_times)} ms  ({len(events)} events, 20 steps, 20 node and 20 LLM records)")
    print(f"  ratio engine / raw (medians):     {engine_ms / raw_ms:7.2f}x  (goal <= 1.1x)")


def _spread(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return f"{ms[0]:6.1f} / {statistics.median(ms):6.1f} / {ms[-1]:6.1f}"


async def raw_concurrency(root: Path, count: int, *, saver: bool) -> float:
    """Wall time of `count` concurrent invocations of the same one-step graph by LangGraph."""
    models = ModelFactory({"echo": echo}.get)
    workflow, agents = chain(1, latency_ms=1000)
    built = build_workflow_graph(workflow, agents, EngineGraphContext(models)).graph
    async with contextlib.AsyncExitStack() as stack:
        checkpointer = await stack.enter_async_context(langgraph_saver(root / f"raw-{uuid.uuid4().hex}.sqlite")) if saver else None
        graph = built.compile(checkpointer=checkpointer)
        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for i in range(count):
                tg.start_soon(graph.ainvoke, {"input_data": str(i)}, {"configurable": {"thread_id": f"raw-{i}"}})
        return time.perf_counter() - t0


async def concurrency(root: Path, count: int) -> None:
    models = ModelFactory({"echo": echo}.get)
    workflow, agents = chain(1, latency_ms=1000)
    runtime = SqliteRuntimeStore(root / "concurrency.sqlite", owner=this_process())
    await runtime.open()
    saver = await runtime.checkpointer()
    hub = McpHub(lambda: McpSettings(), dict, dict)
    manager = ExecutionManager(runtime, models, hub, PriceTable(), EventBus(), max_concurrent=count, checkpointer=saver)
    plan = workflow_plan(workflow, agents, EngineGraphContext(models))
    statuses: list[str] = []
    accepted_at: list[float] = []

    async def caller(i: int) -> None:
        started = await manager.start(plan, {"input_data": str(i)})  # committed before it returns
        accepted_at.append(time.perf_counter())
        statuses.append((await manager.wait(started.execution_id)).status)

    async with hub.running(), manager.running():
        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for i in range(count):
                tg.start_soon(caller, i)
        wall = time.perf_counter() - t0
    accepted = max(accepted_at) - t0
    rss = psutil.Process().memory_info().rss / 2**20
    await runtime.close()
    with_saver = await raw_concurrency(root, count, saver=True)
    without = await raw_concurrency(root, count, saver=False)
    print(f"{count} executions started together, 1 s simulated LLM latency each, limit {count}:")
    print(
        f"  through the engine:               {wall:6.2f} s wall, all accepted (each recorded) within {accepted:.2f} s; {statuses.count('completed')}/{count} completed; RSS {rss:.0f} MB"
    )
    print(f"  raw LangGraph + its SQLite saver: {with_saver:6.2f} s   ratio {wall / with_saver:.2f}x (goal <= 1.0x, and < 3 s)")
    print(f"  raw LangGraph, no saver:          {without:6.2f} s   ratio {wall / without:.2f}x")


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
