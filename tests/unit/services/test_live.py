"""Live sessions over the real engine, with in-memory transports: a stalled client next to a
fast one, commands, and answering a prompt."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest

from echo_orchestrator.backends import runtime_store
from echo_orchestrator.engine.context import EngineGraphContext
from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.engine.executions import ExecutionManager
from echo_orchestrator.engine.feed import EventFeed
from echo_orchestrator.engine.llm.factory import ModelFactory
from echo_orchestrator.engine.llm.prices import PriceTable
from echo_orchestrator.engine.llm.providers import echo
from echo_orchestrator.engine.plans import workflow_plan
from echo_orchestrator.mcp import McpHub
from echo_orchestrator.models import Agent, Connection, Event, HumanInLoop, LLMConfig, McpSettings, Workflow
from echo_orchestrator.services.executions import ExecutionService
from echo_orchestrator.services.live import LiveSession

pytestmark = pytest.mark.anyio


class Recorder:
    """A transport that keeps what it was sent; `stall` makes every event write hang."""

    def __init__(self, *, stall: bool = False) -> None:
        self.events: list[Event] = []
        self.frames: list[tuple[str, dict[str, Any]]] = []
        self.dropped: str | None = None
        self._stall = stall
        self.arrived = anyio.Event()

    async def send_event(self, event: Event) -> None:
        if self._stall and self.events:
            await anyio.sleep_forever()  # a client that stopped reading
        self.events.append(event)
        if event.event_type in ("execution_completed", "interactive_prompt"):
            self.arrived.set()

    async def send(self, name: str, data: Mapping[str, Any]) -> None:
        self.frames.append((name, dict(data)))

    async def drop(self, reason: str) -> None:
        self.dropped = reason


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[ExecutionService, EventFeed]]:
    runtime = runtime_store(None, tmp_path)
    await runtime.open()
    hub = McpHub(lambda: McpSettings(), dict, dict)
    models = ModelFactory({"echo": echo}.get)
    bus = EventBus(buffer=8)
    manager = ExecutionManager(runtime, models, hub, PriceTable(), bus, checkpointer=await runtime.checkpointer())
    service = ExecutionService(None, None, models, manager)  # type: ignore[arg-type]  # only respond() is used
    async with hub.running(), manager.running():
        yield service, EventFeed(runtime, bus)
    await runtime.close()


def chain(service: ExecutionService, n: int, *, latency_ms: int = 5, **fields: Any) -> Any:
    ids = [f"a{i}" for i in range(n)]
    llm = LLMConfig(latency_ms=latency_ms)
    agents = {a: Agent(agent_id=a, input_schema=["topic"], output_schema=[f"{a}_out"], llm=llm) for a in ids}
    wf = Workflow(
        workflow_id="wf_live",
        slug="live",
        agents=ids,
        connections=[Connection(from_=a, to=b) for a, b in itertools.pairwise(ids)],
        **fields,
    )
    return workflow_plan(wf, agents, EngineGraphContext(ModelFactory({"echo": echo}.get)))


async def test_a_stalled_client_is_dropped_and_slows_nothing(api: tuple[ExecutionService, EventFeed]) -> None:
    service, feed = api
    # Slow enough (6 x 50 ms) that both join while it runs, even on a loaded machine: a
    # client that joins after the end is served from the store, with nothing to drop it for.
    execution = await service.engine.start(chain(service, 6, latency_ms=50), {"topic": "tea"})
    fast, stalled = Recorder(), Recorder(stall=True)
    async with anyio.create_task_group() as tasks:
        for transport in (fast, stalled):
            await LiveSession(feed, service, transport, tasks).join(execution.execution_id)
        with anyio.fail_after(20):
            done = await service.engine.wait(execution.execution_id)
            await fast.arrived.wait()
            while stalled.dropped is None:
                await anyio.sleep(0.01)
        tasks.cancel_scope.cancel()
    assert done.status == "completed"
    stored, _ = await service.engine.runtime.list_events(execution.execution_id, limit=1000)
    assert [e.seq for e in fast.events] == [e.seq for e in stored] and len(stored) > 8 * 3
    assert stalled.dropped is not None and "after_seq=" in stalled.dropped and len(stalled.events) == 1
    assert fast.frames[0] == ("connected", {"execution_id": execution.execution_id, "status": "initializing", "after_seq": 0})


async def test_submit_response_finds_the_joined_execution_waiting_on_the_prompt(api: tuple[ExecutionService, EventFeed]) -> None:
    service, feed = api
    the_plan = chain(service, 2, human_in_loop=HumanInLoop(enabled=True, review_points=["a0"]))
    execution = await service.engine.start(the_plan, {"topic": "tea"})
    client = Recorder()
    async with anyio.create_task_group() as tasks:
        session = LiveSession(feed, service, client, tasks)
        await session.handle("join_execution", {"execution_id": execution.execution_id})
        with anyio.fail_after(20):
            await client.arrived.wait()
        prompt = next(e for e in client.events if e.event_type == "interactive_prompt").data
        await session.handle("submit_response", {"prompt_id": prompt["prompt_id"], "response": "modify", "changes": {"a0_out": "edited"}})
        assert client.frames[-1][0] == "response_accepted"
        await session.handle("submit_response", {"prompt_id": prompt["prompt_id"], "response": "approve"})
        assert client.frames[-1][0] == "error"  # answered already: nobody waits on it now
        with anyio.fail_after(20):
            done = await service.engine.wait(execution.execution_id)
        await session.close()
        tasks.cancel_scope.cancel()
    assert done.status == "completed" and (done.outputs or {})["a0_out"] == "edited"
