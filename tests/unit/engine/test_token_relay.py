"""Token pieces between two nodes' relays, over an in-memory channel standing in for NOTIFY or
Redis (the real ones: tests/e2e/test_cluster.py): only on a wish, in bounded batches."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from echo_orchestrator.engine import token_relay
from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.engine.token_relay import MAX_PENDING, NOTICE_BYTES, TokenRelay
from echo_orchestrator.models import Token, utcnow

pytestmark = pytest.mark.anyio


class Wire:
    """Every broadcast goes to every relay on the wire (its own skips it by owner)."""

    def __init__(self) -> None:
        self.relays: list[TokenRelay] = []
        self.payloads: list[str] = []

    def channel(self, owner: str) -> Channel:
        return Channel(self, owner)


class Channel:
    def __init__(self, wire: Wire, owner: str) -> None:
        self.wire, self.owner = wire, owner

    async def broadcast_tokens(self, payload: str) -> None:
        assert len(payload) <= NOTICE_BYTES + 100
        self.wire.payloads.append(payload)
        for relay in self.wire.relays:
            await relay.received(msgspec.json.decode(payload))


def _token(index: int, delta: str = "word ") -> Token:
    return Token(execution_id="wfexec_x", call_id="call", index=index, delta=delta, timestamp=utcnow(), step_number=1, node="n")


async def test_pieces_go_only_where_wished_bounded_and_in_order() -> None:
    wire = Wire()
    bus_a, bus_b = EventBus(), EventBus(buffer=10_000)
    a, b = TokenRelay(wire.channel("node-a"), bus_a), TokenRelay(wire.channel("node-b"), bus_b)
    wire.relays += [a, b]
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.run)
        tg.start_soon(b.run)
        await anyio.sleep(0.1)
        assert not a.wanted("wfexec_x") and wire.payloads == []  # nobody asked: nothing on the wire

        subscription = bus_b.subscribe("wfexec_x", tokens=True)  # a subscriber on node B
        with anyio.fail_after(2):
            while not a.wanted("wfexec_x"):
                await anyio.sleep(0.01)
        for index in range(MAX_PENDING + 100):  # faster than a flush: the excess is dropped
            a.send(_token(index))
        assert a.dropped == 100
        got: list[Token] = []
        with anyio.fail_after(5):
            while len(got) < MAX_PENDING:
                item = await subscription.receive.receive()
                assert isinstance(item, Token)
                got.append(item)
        assert [t.index for t in got] == list(range(MAX_PENDING))
        assert (got[0].step_number, got[0].node, got[0].delta) == (1, "n", "word ")
        token_notices = [p for p in wire.payloads if '"tokens"' in p]
        assert len(token_notices) > 1 and all(len(p) <= NOTICE_BYTES + 100 for p in token_notices)

        a.send(_token(0, "x" * (NOTICE_BYTES + 1)))  # larger than a notice: dropped, not split
        await anyio.sleep(0.2)
        assert a.dropped == 101
        tg.cancel_scope.cancel()


async def test_a_wish_lapses_unless_renewed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_relay, "WISH_SECONDS", 0.2)
    wire = Wire()
    a = TokenRelay(wire.channel("node-a"), EventBus())
    await a.received({"owner": "node-b", "want": ["wfexec_x"]})
    assert a.wanted("wfexec_x")
    await anyio.sleep(0.3)
    assert not a.wanted("wfexec_x")
    await a.received({"owner": "node-a", "want": ["wfexec_y"]})  # its own broadcast: ignored
    assert not a.wanted("wfexec_y")
