"""Following one execution's events: the stored ones after a `seq`, then the live ones.

The subscription is opened before the store is read, so an event is either in what the
store returns or in the subscription's queue (or both): skipping what was already sent by
`seq` leaves no gap and no duplicate across the seam. Events are stored before they are
published, and a read flushes pending writes, so the store is never behind the bus.

A follower that asks for `tokens` also gets the runs' live `llm_token` pieces between the
events, as they come; they have no `seq`, are never stored and never replayed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Literal, overload

import anyio

from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.errors import SubscriberTooSlow
from echo_orchestrator.lifecycle.executions import TERMINAL_EVENTS
from echo_orchestrator.models import Event, Token
from echo_orchestrator.store.runtime.base import RuntimeStore

PAGE = 500


class EventFeed:
    def __init__(self, runtime: RuntimeStore, bus: EventBus) -> None:
        self.runtime, self.bus = runtime, bus

    @overload
    def follow(
        self,
        execution_id: str,
        *,
        after_seq: int = 0,
        until_end: bool = False,
        heartbeat: float | None = None,
        on_drop: Callable[[str], None] | None = None,
        tokens: Literal[False] = False,
    ) -> AsyncIterator[Event | None]: ...

    @overload
    def follow(
        self,
        execution_id: str,
        *,
        after_seq: int = 0,
        until_end: bool = False,
        heartbeat: float | None = None,
        on_drop: Callable[[str], None] | None = None,
        tokens: bool,
    ) -> AsyncIterator[Event | Token | None]: ...

    async def follow(
        self,
        execution_id: str,
        *,
        after_seq: int = 0,
        until_end: bool = False,
        heartbeat: float | None = None,
        on_drop: Callable[[str], None] | None = None,
        tokens: bool = False,
    ) -> AsyncIterator[Event | Token | None]:
        """Every event of the execution with `seq > after_seq`, in order, live as they come.

        With `until_end`, stops after a terminal event (or at once, if the execution had
        already ended when the stored events ran out). With `heartbeat`, yields None after
        that many idle seconds (for keep-alives). Raises `SubscriberTooSlow` when the
        subscriber fell `bus.buffer` events behind; the caller may follow again from the last
        `seq` it got. `on_drop` is called the moment that happens, even if the caller is
        stuck elsewhere. With `tokens`, the live `llm_token` pieces come too (`Token`)."""
        await self.runtime.get_execution(execution_id)  # NotFound before anything is sent
        subscription = self.bus.subscribe(execution_id, on_drop, tokens=tokens)
        last = after_seq
        try:
            async for event in self._stored(execution_id, last):
                yield event
                last = event.seq
            if until_end and await self._ended(execution_id, last):
                return
            while True:
                item: Event | Token
                try:
                    if heartbeat is None:
                        item = await subscription.receive.receive()
                    else:
                        with anyio.fail_after(heartbeat):
                            item = await subscription.receive.receive()
                except TimeoutError:
                    yield None
                    continue
                except anyio.EndOfStream:
                    break
                if isinstance(item, Token):
                    yield item
                    continue
                event = item
                if event.seq <= last:
                    continue  # also in the stored events already sent
                if event.seq > last + 1:  # defensive: never skip, fill from the store
                    async for missed in self._stored(execution_id, last, before=event.seq):
                        yield missed
                        last = missed.seq
                yield event
                last = event.seq
                if until_end and event.event_type in TERMINAL_EVENTS:
                    return
            if subscription.dropped:
                raise SubscriberTooSlow(
                    f"Dropped: {subscription.dropped}; follow again with after_seq={last}",
                    details={"execution_id": execution_id, "last_seq": last},
                )
        finally:
            self.bus.unsubscribe(subscription)

    async def _stored(self, execution_id: str, after: int, before: int | None = None) -> AsyncIterator[Event]:
        while True:
            events = await self.runtime.events_after(execution_id, after, PAGE)
            for event in events:
                if before is not None and event.seq >= before:
                    return
                yield event
                after = event.seq
            if len(events) < PAGE:
                return

    async def _ended(self, execution_id: str, last: int) -> bool:
        """Has the execution ended, with every event up to its end already sent?"""
        execution = await self.runtime.get_execution(execution_id)
        if execution.status not in ("completed", "failed", "cancelled"):
            return False
        events = await self.runtime.events_after(execution_id, last, 1)
        return not events
