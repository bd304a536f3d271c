"""The in-process event bus: every execution event, after it is stored, goes to subscribers.

Each subscriber has a bounded queue. Publishing never waits: a subscriber whose queue is
full is dropped (its stream ends with a reason) and may rejoin and replay from the store,
so an execution is never slowed by a slow client.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from echo_orchestrator.models import Event


@dataclass(eq=False)
class Subscription:
    execution_ids: set[str] | None  # None: every execution
    send: MemoryObjectSendStream[Event]
    receive: MemoryObjectReceiveStream[Event]
    dropped: str | None = None

    def wants(self, event: Event) -> bool:
        return self.execution_ids is None or event.execution_id in self.execution_ids


@dataclass
class EventBus:
    buffer: int = 1000
    _subscriptions: set[Subscription] = field(default_factory=set)

    def subscribe(self, execution_ids: set[str] | None = None) -> Subscription:
        send, receive = anyio.create_memory_object_stream[Event](self.buffer)
        subscription = Subscription(execution_ids, send, receive)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        subscription.send.close()

    def publish(self, event: Event) -> None:
        for subscription in list(self._subscriptions):
            if not subscription.wants(event):
                continue
            try:
                subscription.send.send_nowait(event)
            except anyio.WouldBlock:
                subscription.dropped = f"too slow: more than {self.buffer} events behind"
                self.unsubscribe(subscription)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                self._subscriptions.discard(subscription)
