"""Live `llm_token` pieces across the nodes of a cluster, bounded.

Token pieces are never stored, so a subscriber on another node than the one running the
run gets them only if they are sent to it. Sending every piece of every run to every node
would load the database (NOTIFY) or Redis for nothing, so pieces travel only on request:

- a node with a token subscriber for an execution says so to the others (at once when the
  first one joins, then every `RENEW_SECONDS` while any is left); a wish lapses after
  `WISH_SECONDS` unless renewed;
- the node running the execution sends its pieces in batches (every `FLUSH_SECONDS`, a
  notification of at most `runtime.notice_limit` bytes each), and keeps at most
  `MAX_PENDING` unsent pieces per execution: beyond that pieces are dropped (counted), never
  queued without limit. A receiver sees the gap in `index`; the completed call is stored.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any, Protocol

import anyio
import msgspec

from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.models import Token

log = logging.getLogger(__name__)

WISH_SECONDS = 15.0
RENEW_SECONDS = 5.0
FLUSH_SECONDS = 0.05
MAX_PENDING = 512
NOTICE_BYTES = 7000  # under PostgreSQL's 8000-byte NOTIFY payload, with room for the envelope
_IDS_PER_WISH = 100


class TokenChannel(Protocol):
    owner: str

    async def broadcast_tokens(self, payload: str) -> None:
        """Tell every other process sharing the runtime (`Signals.tokens` there)."""
        ...


class TokenRelay:
    def __init__(self, channel: TokenChannel, bus: EventBus) -> None:
        self._channel, self._bus = channel, bus
        self._wished: dict[str, float] = {}  # execution -> until when another node wants its pieces
        self._pending: dict[str, list[Token]] = {}
        self._announce: set[str] = set()  # local wishes to tell the others at once
        self._wake = anyio.Event()
        self.dropped = 0  # pieces not sent: too many unsent, or one too large for a notice
        bus.on_token_interest = self._wish_now

    # -- the running node ------------------------------------------------------------------

    def wanted(self, execution_id: str) -> bool:
        until = self._wished.get(execution_id)
        if until is None:
            return False
        if until < time.monotonic():
            del self._wished[execution_id]
            return False
        return True

    def send(self, token: Token) -> None:
        pending = self._pending.setdefault(token.execution_id, [])
        if len(pending) >= MAX_PENDING:
            self.dropped += 1
            return
        pending.append(token)
        self._wake.set()

    # -- the subscriber's node -------------------------------------------------------------

    def _wish_now(self, execution_id: str) -> None:
        self._announce.add(execution_id)
        self._wake.set()

    async def received(self, body: dict[str, Any]) -> None:
        """What another node broadcast: wishes for pieces, or pieces."""
        if body.get("owner") == self._channel.owner:
            return
        until = time.monotonic() + WISH_SECONDS
        for execution_id in body.get("want") or ():
            self._wished[str(execution_id)] = until
        for row in body.get("tokens") or ():
            execution_id, call_id, index, delta, step_number, node, timestamp = row
            self._bus.publish_token(
                Token(
                    execution_id=execution_id,
                    call_id=call_id,
                    index=index,
                    delta=delta,
                    step_number=step_number,
                    node=node,
                    timestamp=datetime.fromisoformat(timestamp),
                )
            )

    # -- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Until cancelled: wishes told and renewed, pieces sent in batches."""
        renew_at = 0.0
        while True:
            with anyio.move_on_after(RENEW_SECONDS):
                await self._wake.wait()
            self._wake = anyio.Event()
            now = time.monotonic()
            wishes = set(self._announce)
            self._announce.clear()
            if now >= renew_at:
                wishes.update(self._bus.token_interests())
                renew_at = now + RENEW_SECONDS
            try:
                await self._tell_wishes(sorted(wishes))
                await self._flush()
            except Exception as exc:  # the database or Redis is away: live pieces are a courtesy
                log.info("token pieces not relayed to other nodes: %s", type(exc).__name__)
            await anyio.sleep(FLUSH_SECONDS)  # what comes meanwhile goes in the next batch

    async def _tell_wishes(self, wishes: list[str]) -> None:
        for i in range(0, len(wishes), _IDS_PER_WISH):
            await self._broadcast({"owner": self._channel.owner, "want": wishes[i : i + _IDS_PER_WISH]})

    async def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        rows = [
            [t.execution_id, t.call_id, t.index, t.delta, t.step_number, t.node, t.timestamp.isoformat()]
            for tokens in pending.values()
            for t in tokens
        ]
        batch: list[list[Any]] = []
        size = 0
        for row in rows:
            row_size = len(msgspec.json.encode(row))
            if row_size > NOTICE_BYTES:
                self.dropped += 1  # one piece larger than a notice: the stored call has it
                continue
            if batch and size + row_size > NOTICE_BYTES:
                await self._broadcast({"owner": self._channel.owner, "tokens": batch})
                batch, size = [], 0
            batch.append(row)
            size += row_size + 1
        if batch:
            await self._broadcast({"owner": self._channel.owner, "tokens": batch})

    async def _broadcast(self, body: dict[str, Any]) -> None:
        await self._channel.broadcast_tokens(msgspec.json.encode(body).decode())
