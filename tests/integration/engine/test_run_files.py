"""Runs make files for real: the file tools through the MCP hub and a plugin graph's own
folder, inside a real execution; every hostile path refused by every tool."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypedDict

import anyio
import pytest
from langgraph.graph import END, START, StateGraph

from echo_orchestrator.backends import runtime_store
from echo_orchestrator.builtins.files import list_files, read_file, write_file
from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.engine.executions import ExecutionManager
from echo_orchestrator.engine.llm.factory import ModelFactory
from echo_orchestrator.engine.llm.prices import PriceTable
from echo_orchestrator.engine.llm.providers import echo
from echo_orchestrator.engine.runs import RunPlan
from echo_orchestrator.errors import BadRequest, EchoError, NotFound
from echo_orchestrator.mcp import McpHub
from echo_orchestrator.models import Execution, ExecutionConfig, McpSettings
from echo_orchestrator.registry.spec import GraphContext
from echo_orchestrator.store.workspaces.folders import WORKING, Workspaces
from tests.helpers.traversal import CORPUS, DECOY_NAME, DECOY_TEXT, OTHER_TEXT, outside_snapshot, plant

pytestmark = pytest.mark.anyio


class State(TypedDict, total=False):
    results: dict[str, Any]


Node = Any


def single_node_plan(node: Node) -> RunPlan:
    def build(ctx: GraphContext, _config: ExecutionConfig) -> StateGraph[Any]:
        graph: StateGraph[Any] = StateGraph(State)

        async def work(state: State) -> State:
            return {"results": await node(ctx)}

        graph.add_node("work", work)
        graph.add_edge(START, "work")
        graph.add_edge("work", END)
        return graph

    return RunPlan(kind="graph", build=build, steps={"work": (1, "work")}, total_steps=1, graph_name="files")


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[ExecutionManager, Workspaces, Path]]:
    storage = tmp_path / "storage"
    spaces = Workspaces(storage / "workspaces", shown_as="storage/workspaces", max_size_mb=0.05)
    spaces.ensure_default()
    plant(storage, spaces.folder("default"))
    runtime = runtime_store(None, storage)
    await runtime.open()
    tools = {"write_file": write_file, "read_file": read_file, "list_files": list_files}
    hub = McpHub(lambda: McpSettings(), lambda: tools, dict)
    models = ModelFactory({"echo": echo}.get)
    mgr = ExecutionManager(runtime, models, hub, PriceTable(), EventBus(), checkpointer=await runtime.checkpointer(), workspaces=spaces)
    async with hub.running(), mgr.running():
        yield mgr, spaces, storage
    await runtime.close()


async def run(mgr: ExecutionManager, plan: RunPlan, workspace: str | None = None) -> Execution:
    started = await mgr.start(plan, {}, config=ExecutionConfig(workspace=workspace))
    with anyio.fail_after(30):
        return await mgr.wait(started.execution_id)


async def test_a_run_writes_reads_and_lists_its_files(setup: tuple[ExecutionManager, Workspaces, Path]) -> None:
    mgr, spaces, _storage = setup

    async def node(ctx: GraphContext) -> dict[str, Any]:
        written = await ctx.call_tool("plugins-write_file", {"path": "reports/summary.md", "content": "# Coffee\nplan"})
        (ctx.run_files().directory() / "raw.json").write_text('{"made": "by the graph itself"}')
        read = await ctx.call_tool("plugins-read_file", {"path": "reports/summary.md", "limit": 6})
        listed = await ctx.call_tool("plugins-list_files", {})
        return {"written": written, "read": read, "listed": listed}

    done = await run(mgr, single_node_plan(node))
    assert done.status == "completed", done.error
    results = (done.outputs or {})["results"]
    assert results["written"] == {
        "path": "reports/summary.md",
        "size_bytes": 13,
        "mime_type": "text/markdown",
        "workspace_path": f"{WORKING}/{done.execution_id}/reports/summary.md",
    }
    assert results["read"] == {"path": "reports/summary.md", "content": "# Coff", "size_bytes": 13, "offset": 0, "truncated": True}
    assert [(f["path"], f["mime_type"]) for f in results["listed"]["files"]] == [
        ("raw.json", "application/json"),
        ("reports/summary.md", "text/markdown"),
    ]
    assert done.output_files == 2 and done.workspace == "default"
    assert (spaces.folder("default") / WORKING / done.execution_id / "reports" / "summary.md").read_text() == "# Coffee\nplan"
    events, _ = await mgr.runtime.list_events(done.execution_id, limit=1000)
    written = [e.data for e in events if e.event_type == "output_file"]
    assert written == [
        {
            "execution_id": done.execution_id,
            "file": {
                "name": "summary.md",
                "path": f"{WORKING}/{done.execution_id}/reports/summary.md",
                "size_bytes": 13,
                "mime_type": "text/markdown",
            },
            "step_number": 1,
        }
    ]
    completed = next(e for e in events if e.event_type == "execution_completed")
    assert completed.data["result_summary"]["output_files"] == 2


async def test_every_hostile_path_is_refused_by_every_file_tool(setup: tuple[ExecutionManager, Workspaces, Path]) -> None:
    mgr, spaces, storage = setup
    before = outside_snapshot(storage, spaces.folder("default"))

    async def node(ctx: GraphContext) -> dict[str, Any]:
        folder = ctx.run_files().directory()
        links = {"out-dir": storage, f"out-{DECOY_NAME}": storage / DECOY_NAME, "out-other": spaces.root / "other", "loop": folder / "loop"}
        for name, target in links.items():
            os.symlink(target, folder / name)
        hostile = [*CORPUS, *links, f"out-dir/{DECOY_NAME}", "out-other/Longterm_Directory/other-secret.txt", "loop/x"]
        refused: dict[str, list[str]] = {}
        leaked: list[str] = []
        for path in hostile:
            for tool, args in (
                ("plugins-write_file", {"path": path, "content": "pwned"}),
                ("plugins-read_file", {"path": path}),
                ("plugins-list_files", {"directory": path}),
            ):
                try:
                    result = await ctx.call_tool(tool, args)
                except EchoError as exc:
                    refused.setdefault(type(exc).__name__, []).append(f"{tool} {path!r}")
                    continue
                if tool != "plugins-list_files" or result["files"]:
                    leaked.append(f"{tool} {path!r} -> {result}")
        return {"refused": refused, "leaked": leaked, "calls": len(hostile) * 3}

    done = await run(mgr, single_node_plan(node))
    assert done.status == "completed", done.error
    results = (done.outputs or {})["results"]
    assert results["leaked"] == []
    assert sum(len(v) for v in results["refused"].values()) == results["calls"]
    assert set(results["refused"]) <= {"UnsafePath", "PathOutside", "NotFound", "BadRequest"}
    assert DECOY_TEXT not in str(done.outputs) and OTHER_TEXT not in str(done.outputs)
    assert outside_snapshot(storage, spaces.folder("default")) == before
    assert (storage / DECOY_NAME).read_text() == DECOY_TEXT


async def test_a_write_over_the_workspace_limit_fails_that_call(setup: tuple[ExecutionManager, Workspaces, Path]) -> None:
    mgr, spaces, _storage = setup

    async def node(ctx: GraphContext) -> dict[str, Any]:
        small = await ctx.call_tool("plugins-write_file", {"path": "small.txt", "content": "x" * 1000})
        try:
            await ctx.call_tool("plugins-write_file", {"path": "big.txt", "content": "y" * 60_000})
        except EchoError as exc:
            return {"small": small["size_bytes"], "error": exc.message, "code": exc.code}
        return {"error": None}

    done = await run(mgr, single_node_plan(node))
    results = (done.outputs or {})["results"]
    assert results["code"] == "ERR_WORKSPACE_001" and "over its limit of 0.05 MB" in results["error"]
    assert done.output_files == 1
    assert not (spaces.folder("default") / WORKING / done.execution_id / "big.txt").exists()


async def test_runs_go_to_the_workspace_they_name(setup: tuple[ExecutionManager, Workspaces, Path]) -> None:
    mgr, spaces, _storage = setup

    async def node(ctx: GraphContext) -> dict[str, Any]:
        return await ctx.call_tool("plugins-write_file", {"path": "a.txt", "content": "team"})

    with pytest.raises(NotFound, match="Workspace 'team' not found"):
        await mgr.start(single_node_plan(node), {}, config=ExecutionConfig(workspace="team"))
    spaces.create("team")
    done = await run(mgr, single_node_plan(node), workspace="team")
    assert done.workspace == "team" and (spaces.folder("team") / WORKING / done.execution_id / "a.txt").read_text() == "team"


async def test_file_tools_outside_a_run_say_so(setup: tuple[ExecutionManager, Workspaces, Path]) -> None:
    mgr, _spaces, _storage = setup
    hub: McpHub = mgr._driver._hub  # the hub the runs use
    with pytest.raises(BadRequest, match="inside an execution"):
        await hub.call("plugins-write_file", {"path": "a.txt", "content": "x"})
