"""Following an execution: stored events, then live ones, across the seam without a gap or a double."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from echo_orchestrator.backends import runtime_store
from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.engine.feed import EventFeed
from echo_orchestrator.errors import NotFound, SubscriberTooSlow
from echo_orchestrator.models import Event, Execution, Token, utcnow
from echo_orchestrator.store.runtime.base import RuntimeStore

pytestmark = pytest.mark.anyio


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[RuntimeStore]:
    store = runtime_store(None, tmp_path)
    await store.open()
    await store.save_execution(Execution(execution_id="wfexec_feed", kind="workflow", status="running", created_at=utcnow()))
    yield store
    await store.close()


async def emit(runtime: RuntimeStore, bus: EventBus, count: int, *, every: int = 7) -> None:
    """What the engine does for each event: store it, then publish it."""
    for i in range(count):
        bus.publish(await runtime.append_event("wfexec_feed", "execution_progress", {"i": i}))
        if i % every == 0:
            await anyio.lowlevel.checkpoint()  # let the follower interleave at many points


@pytest.mark.parametrize("after_seq", [0, 1, 150, 299])
async def test_the_seam_between_stored_and_live_events(runtime: RuntimeStore, after_seq: int) -> None:
    bus = EventBus(buffer=10_000)
    feed = EventFeed(runtime, bus)
    await emit(runtime, bus, 300)  # already stored when the follower comes
    got: list[int] = []

    async def follow() -> None:
        async for event in feed.follow("wfexec_feed", after_seq=after_seq):
            assert event is not None
            got.append(event.seq)
            if event.seq == 600:
                return

    async with anyio.create_task_group() as tg:
        tg.start_soon(follow)
        await emit(runtime, bus, 300)  # published while the follower replays
    assert got == list(range(after_seq + 1, 601))


async def test_until_end_stops_after_the_terminal_event(runtime: RuntimeStore) -> None:
    bus = EventBus()
    feed = EventFeed(runtime, bus)
    await emit(runtime, bus, 3)
    bus.publish(await runtime.append_event("wfexec_feed", "execution_completed", {"status": "completed"}))
    execution = await runtime.get_execution("wfexec_feed")
    execution.status = "completed"
    await runtime.save_execution(execution)
    with anyio.fail_after(5):
        replayed = [e.seq for e in [e async for e in feed.follow("wfexec_feed", until_end=True)] if e is not None]
        assert replayed == [1, 2, 3, 4]
        # already past the end: nothing left, and the stream still ends
        assert [e async for e in feed.follow("wfexec_feed", after_seq=4, until_end=True)] == []


async def test_a_subscriber_that_falls_behind_is_dropped_and_can_replay(runtime: RuntimeStore) -> None:
    bus = EventBus(buffer=10)
    feed = EventFeed(runtime, bus)
    await emit(runtime, bus, 1)
    stream = feed.follow("wfexec_feed")
    first = await anext(stream)  # subscribed; then it stops reading
    assert first is not None and first.seq == 1
    await emit(runtime, bus, 50)  # publishing never waits for it
    got = [first.seq]
    with pytest.raises(SubscriberTooSlow) as dropped:
        async for event in stream:
            assert event is not None
            got.append(event.seq)
    last = dropped.value.details["last_seq"]
    assert got == list(range(1, last + 1)) and last <= 11  # what its queue held, then the reason
    assert bus.subscribers("wfexec_feed") == 0
    with anyio.fail_after(5):
        again = [getattr(e, "seq", None) async for e in _until(feed.follow("wfexec_feed", after_seq=last), 51)]
    assert again == list(range(last + 1, 52))


async def _until(stream: AsyncIterator[object], seq: int) -> AsyncIterator[object]:
    async for event in stream:
        yield event
        if getattr(event, "seq", None) == seq:
            return


async def test_heartbeat_on_an_idle_execution(runtime: RuntimeStore) -> None:
    feed = EventFeed(runtime, EventBus())
    with anyio.fail_after(5):
        async for event in feed.follow("wfexec_feed", heartbeat=0.05):
            assert event is None  # no events at all: only keep-alives
            break


async def test_unknown_execution(runtime: RuntimeStore) -> None:
    with pytest.raises(NotFound):
        await anext(EventFeed(runtime, EventBus()).follow("wfexec_nope"))


def _token(index: int, delta: str = "x", execution_id: str = "wfexec_feed") -> Token:
    return Token(execution_id=execution_id, call_id="call-1", index=index, delta=delta, timestamp=utcnow())


async def test_tokens_only_to_followers_that_ask_never_stored(runtime: RuntimeStore) -> None:
    """A follower asking for tokens gets them between the events, in order; one that did not
    ask gets the events only; the store holds no token, so a replay has none."""
    bus = EventBus()
    feed = EventFeed(runtime, bus)
    assert not bus.wants_tokens("wfexec_feed")
    with_tokens: list[Event | Token] = []
    without: list[Event | Token] = []

    async def follow(into: list[Event | Token], tokens: bool) -> None:
        async for item in feed.follow("wfexec_feed", until_end=True, tokens=tokens):
            if item is not None:
                into.append(item)

    async with anyio.create_task_group() as tg:
        tg.start_soon(follow, with_tokens, True)
        tg.start_soon(follow, without, False)
        while bus.subscribers("wfexec_feed") < 2:
            await anyio.sleep(0.01)
        assert bus.wants_tokens("wfexec_feed") and not bus.wants_tokens("wfexec_other")
        bus.publish(await runtime.append_event("wfexec_feed", "llm_call_started", {"call_id": "call-1"}))
        for index, delta in enumerate(["one", " two", " three"]):
            bus.publish_token(_token(index, delta))
        bus.publish(await runtime.append_event("wfexec_feed", "execution_completed", {}))
    assert [getattr(i, "event_type", "llm_token") for i in with_tokens] == [
        "llm_call_started",
        "llm_token",
        "llm_token",
        "llm_token",
        "execution_completed",
    ]
    assert "".join(i.delta for i in with_tokens if isinstance(i, Token)) == "one two three"
    assert [i.event_type for i in without if isinstance(i, Event)] == ["llm_call_started", "execution_completed"]
    assert all(isinstance(i, Event) for i in without)
    await runtime.save_execution(Execution(execution_id="wfexec_feed", kind="workflow", status="completed", created_at=utcnow()))
    replay = [item async for item in feed.follow("wfexec_feed", until_end=True, tokens=True)]
    assert [getattr(i, "event_type", None) for i in replay] == ["llm_call_started", "execution_completed"]
    assert not bus.wants_tokens("wfexec_feed")  # every follower gone: no tokens made


async def test_a_token_subscriber_too_slow_is_dropped(runtime: RuntimeStore) -> None:
    bus = EventBus(buffer=5)
    dropped: list[str] = []
    subscription = bus.subscribe("wfexec_feed", dropped.append, tokens=True)
    for index in range(6):
        bus.publish_token(_token(index))
    assert subscription.dropped and dropped and bus.dropped == 1
    assert not bus.wants_tokens("wfexec_feed")
