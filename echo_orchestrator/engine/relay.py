"""What the other processes sharing the runtime database tell this one.

Events another process commits are read from the store and published on this process's
bus (live token pieces come whole in their notice: `engine.token_relay`), so a WebSocket, Socket.IO or SSE follower on any node gets every run's events live
(the feed's replay-then-live seam dedups and fills gaps by `seq`, as for local runs). Only
executions someone here follows are read. Control messages carry a cancel to the process
that runs the execution. Definition files another node wrote are read again at once (a
network filesystem tells no watcher).
"""

from __future__ import annotations

import logging
from typing import Any

from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.engine.executions import ExecutionManager
from echo_orchestrator.engine.token_relay import TokenRelay
from echo_orchestrator.errors import EchoError
from echo_orchestrator.lifecycle.executions import TERMINAL_EVENTS
from echo_orchestrator.store.definitions.base import DefinitionStore
from echo_orchestrator.store.runtime.base import RuntimeStore

log = logging.getLogger(__name__)


class Relay:
    """The `store.runtime.Signals` of a node: remote events onto the bus, control to the engine."""

    def __init__(self, runtime: RuntimeStore, bus: EventBus, engine: ExecutionManager, store: DefinitionStore, tokens: TokenRelay) -> None:
        self.runtime, self.bus, self.engine, self.store, self._tokens = runtime, bus, engine, store, tokens
        self._relayed: dict[str, int] = {}  # execution -> the last seq published here

    async def events_committed(self, execution_id: str, first_seq: int, last_seq: int, stopped: bool) -> None:
        if stopped:  # a synchronous request here may be waiting for just that
            self.engine.stopped_elsewhere(execution_id)
        if not (self.bus.subscribers(execution_id) or self.bus.subscribers(None)):
            self._relayed.pop(execution_id, None)
            return
        after = max(first_seq - 1, self._relayed.get(execution_id, 0))
        if after >= last_seq:
            return  # told twice
        events = await self.runtime.events_after(execution_id, after, last_seq - after)
        for event in events:
            self.bus.publish(event)
        self._relayed[execution_id] = max(last_seq, after)
        if any(event.event_type in TERMINAL_EVENTS for event in events):
            self._relayed.pop(execution_id, None)

    async def definitions_changed(self, paths: list[str]) -> None:
        await self.store.refresh(paths)

    async def tokens(self, body: dict[str, Any]) -> None:
        await self._tokens.received(body)

    async def control(self, message: dict[str, Any]) -> None:
        if message.get("action") != "cancel":
            log.warning("unknown control message %r", message.get("action"))
            return
        try:
            await self.engine.cancel(str(message["execution_id"]), graceful=bool(message.get("graceful")), reason=message.get("reason"))
        except EchoError as exc:  # ended meanwhile, or not ours any more: nothing to do
            log.info("cancel of %s from another node: %s", message.get("execution_id"), exc.message)
