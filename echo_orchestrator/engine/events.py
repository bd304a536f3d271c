"""The in-process event bus: every execution event, after it is stored, goes to subscribers.

Each subscriber has a bounded queue. Publishing never waits: a subscriber whose queue is
full is dropped (its stream ends with a reason) and may rejoin and replay from the store,
so an execution is never slowed by a slow client. Subscribers are indexed by execution, so
publishing costs one queue put per interested subscriber, not a scan of all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from echo_orchestrator import metrics
from echo_orchestrator.models import Event


@dataclass(eq=False)
class Subscription:
    execution_id: str | None  # None: every execution
    send: MemoryObjectSendStream[Event]
    receive: MemoryObjectReceiveStream[Event]
    dropped: str | None = None
    # Told at once when the subscription is dropped: a consumer stuck writing to a client
    # that stopped reading would otherwise never come back to see its stream end.
    on_drop: Callable[[str], None] | None = None


@dataclass
class EventBus:
    buffer: int = 1000
    dropped: int = 0  # subscribers dropped for being too slow, since start-up
    _by_execution: dict[str | None, set[Subscription]] = field(default_factory=dict)

    def subscribe(self, execution_id: str | None = None, on_drop: Callable[[str], None] | None = None) -> Subscription:
        send, receive = anyio.create_memory_object_stream[Event](self.buffer)
        subscription = Subscription(execution_id, send, receive, on_drop=on_drop)
        self._by_execution.setdefault(execution_id, set()).add(subscription)
        metrics.LIVE_SUBSCRIBERS.inc()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        group = self._by_execution.get(subscription.execution_id)
        if group is not None and subscription in group:
            group.discard(subscription)
            metrics.LIVE_SUBSCRIBERS.dec()
            if not group:
                del self._by_execution[subscription.execution_id]
        subscription.send.close()

    def subscribers(self, execution_id: str | None = None) -> int:
        return len(self._by_execution.get(execution_id, ()))

    def count_drop(self) -> None:
        self.dropped += 1

    def subscribers_total(self) -> int:
        return sum(len(group) for group in self._by_execution.values())

    def publish(self, event: Event) -> None:
        for key in (event.execution_id, None):
            for subscription in list(self._by_execution.get(key, ())):
                try:
                    subscription.send.send_nowait(event)
                except anyio.WouldBlock:
                    subscription.dropped = f"too slow: more than {self.buffer} events behind"
                    self.dropped += 1  # counted here; transports that find slowness themselves call count_drop
                    self.unsubscribe(subscription)
                    if subscription.on_drop is not None:
                        subscription.on_drop(subscription.dropped)
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    self.unsubscribe(subscription)
