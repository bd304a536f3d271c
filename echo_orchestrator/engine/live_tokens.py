"""Publishing a run's `llm_token` pieces: to this process's subscribers that asked for them,
and to another node's (`engine.token_relay`) on a cluster. Never stored."""

from __future__ import annotations

from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.engine.runs import LiveRun
from echo_orchestrator.engine.token_relay import TokenRelay
from echo_orchestrator.models import Token, utcnow


class TokenPublisher:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.remote: TokenRelay | None = None  # set on a shared runtime

    def publish(self, live: LiveRun, call_id: str, node: str | None, index: int, delta: str) -> None:
        """One piece; costs a lookup or two when nobody asked for the run's tokens."""
        execution_id = live.execution.execution_id
        remote = self.remote if self.remote is not None and self.remote.wanted(execution_id) else None
        if remote is None and not self.bus.wants_tokens(execution_id):
            return
        step = live.running_steps.get(node or "")
        token = Token(
            execution_id=execution_id,
            call_id=call_id,
            index=index,
            delta=delta,
            timestamp=utcnow(),
            step_number=step.step_number if step else None,
            node=node,
        )
        self.bus.publish_token(token)
        if remote is not None:
            remote.send(token)
