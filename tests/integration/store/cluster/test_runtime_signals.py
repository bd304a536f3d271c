"""What the processes of a cluster tell each other through the runtime: events committed,
control messages, definition files written. Over PostgreSQL's NOTIFY by default, over
Redis pub/sub with `ECHO_REDIS_URL`: one set of tests, both channels."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import pytest

from echo_orchestrator.store.cluster.redis_signals import RedisChannels
from echo_orchestrator.store.runtime.postgres import PostgresRuntimeStore
from tests.helpers.postgres import new_schema
from tests.helpers.redis import forget_cluster

pytestmark = pytest.mark.anyio

Nodes = Callable[[str], Awaitable[PostgresRuntimeStore]]


class Heard:
    """A `store.runtime.Signals` that writes down what it is told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, int, bool]] = []
        self.messages: list[dict[str, Any]] = []
        self.paths: list[list[str]] = []
        self.changed = anyio.Event()

    async def events_committed(self, execution_id: str, first_seq: int, last_seq: int, stopped: bool) -> None:
        self.events.append((execution_id, first_seq, last_seq, stopped))
        self.changed.set()

    async def control(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self.changed.set()

    async def definitions_changed(self, paths: list[str]) -> None:
        self.paths.append(paths)
        self.changed.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        with anyio.fail_after(10):
            while not condition():
                self.changed = anyio.Event()
                await self.changed.wait()


@pytest.fixture(params=["notify", "redis"])
async def cluster(request: pytest.FixtureRequest, postgres_database: str) -> AsyncIterator[tuple[Nodes, str]]:
    """A factory of nodes (runtime stores) on one schema, and that schema's URL."""
    url = new_schema(postgres_database)
    redis = request.getfixturevalue("redis_server") if request.param == "redis" else None
    opened: list[PostgresRuntimeStore] = []

    async def node(owner: str, on: str = url) -> PostgresRuntimeStore:
        store = PostgresRuntimeStore(on, owner=owner, channels=None if redis is None else RedisChannels(redis))
        await store.open()
        opened.append(store)
        return store

    yield node, url  # type: ignore[misc]
    for store in opened:
        await store.close()
    if redis is not None:
        forget_cluster(url)


async def test_events_control_and_definitions_reach_the_other_node_not_the_sender(cluster: tuple[Any, str], postgres_database: str) -> None:
    node, _ = cluster
    a, b = await node("host-a/boot:1"), await node("host-b/boot:1")
    heard_a, heard_b = Heard(), Heard()
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.listen, heard_a)
        tg.start_soon(b.listen, heard_b)
        await anyio.sleep(0.5)  # both subscribed
        a.new_sequence("exec_1")
        for kind in ("execution_started", "execution_progress", "step_started"):
            await a.append_event("exec_1", kind, {"n": 1})  # type: ignore[arg-type]
        await a.commit()
        await heard_b.until(lambda: heard_b.events != [])
        assert heard_b.events == [("exec_1", 1, 3, False)]
        events, _ = await b.list_events("exec_1")  # told after the commit: readable
        assert [e.seq for e in events] == [1, 2, 3]
        await a.append_event("exec_1", "execution_paused", {"status": "paused"})
        await a.commit()
        await heard_b.until(lambda: len(heard_b.events) == 2)
        assert heard_b.events[1] == ("exec_1", 4, 4, True)  # it stopped: a waiter needs to read nothing
        assert await a.send_control("host-b/boot:1", {"action": "cancel", "execution_id": "exec_1"})
        await heard_b.until(lambda: heard_b.messages != [])
        assert heard_b.messages == [{"action": "cancel", "execution_id": "exec_1"}]
        await b.announce_definitions(["agents/writer.json", "workflows/final/x/1.0.json"])
        await heard_a.until(lambda: heard_a.paths != [])
        assert heard_a.paths == [["agents/writer.json", "workflows/final/x/1.0.json"]]
        await anyio.sleep(0.3)
        tg.cancel_scope.cancel()
    assert heard_a.events == [] and heard_a.messages == []  # its own events, a message for another
    assert heard_b.paths == []  # its own announcement


async def test_another_cluster_on_the_same_servers_hears_nothing(cluster: tuple[Any, str], postgres_database: str) -> None:
    node, _ = cluster
    elsewhere_url = new_schema(postgres_database)  # another runtime database: another cluster
    a, stranger = await node("host-a/boot:1"), await node("host-c/boot:1", elsewhere_url)
    heard = Heard()
    async with anyio.create_task_group() as tg:
        tg.start_soon(stranger.listen, heard)
        await anyio.sleep(0.5)
        await a.announce_definitions(["agents/writer.json"])
        await a.send_control("host-c/boot:1", {"action": "cancel", "execution_id": "exec_x"})
        await anyio.sleep(1.0)
        tg.cancel_scope.cancel()
    if stranger._redis is not None:
        forget_cluster(elsewhere_url)
    assert heard.paths == [] and heard.messages == []
