"""The runtime records of triggers: schedule fires, webhook deliveries and their attempts,
and the message ids of signed inbound webhooks already seen.

A fire is claimed by inserting its row (`schedule_id`, `fire_at` is the primary key): of
every node that finds the same fire due, exactly one insert succeeds, and only that node
starts the run. A delivery is queued in the same flush as the event that ends its run (the
same transaction), so a run that ended always has its deliveries; a node leases a due
delivery before sending it, so two nodes never send the same attempt.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

from echo_orchestrator.lifecycle.executions import ACTIVE
from echo_orchestrator.models.triggers import DeliveryAttempt, FireOutcome, ScheduleFire, WebhookDelivery
from echo_orchestrator.store.runtime.statements import DELIVERY_INSERT

# Trigger tables in a backend's types (`real`, `blob`): the same columns on both.
SCHEMA = """
CREATE TABLE IF NOT EXISTS schedule_fires (
    schedule_id TEXT NOT NULL,
    fire_at {real} NOT NULL,
    outcome TEXT NOT NULL,
    execution_id TEXT,
    detail TEXT,
    node TEXT,
    recorded_at {real} NOT NULL,
    PRIMARY KEY (schedule_id, fire_at)
);
CREATE INDEX IF NOT EXISTS schedule_fires_by_execution ON schedule_fires (execution_id);
CREATE INDEX IF NOT EXISTS schedule_fires_by_outcome ON schedule_fires (outcome, recorded_at);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at {real} NOT NULL,
    lease_until {real},
    doc {blob} NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_execution ON webhook_deliveries (execution_id);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    delivery_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    execution_id TEXT NOT NULL,
    doc {blob} NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
CREATE INDEX IF NOT EXISTS webhook_attempts_by_execution ON webhook_attempts (execution_id);
CREATE TABLE IF NOT EXISTS webhook_messages (
    trigger_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seen_at {real} NOT NULL,
    PRIMARY KEY (trigger_id, message_id)
);
CREATE INDEX IF NOT EXISTS webhook_messages_by_age ON webhook_messages (seen_at)
"""

_ACTIVE_MARKS = ",".join("?" * len(ACTIVE))
_FIRE_COLUMNS = "f.schedule_id, f.fire_at, f.outcome, f.execution_id, f.detail, f.node, f.recorded_at, e.status"


def _moment(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _fire(row: Sequence[Any]) -> ScheduleFire:
    return ScheduleFire(
        schedule_id=row[0],
        fire_at=datetime.fromtimestamp(row[1], UTC),
        outcome=row[2],
        execution_id=row[3],
        detail=row[4],
        node=row[5],
        recorded_at=_moment(row[6]),
        execution_status=row[7],
    )


class TriggerStore(Protocol):
    """What every runtime store gives the scheduler, the deliverer and the hook route."""

    async def claim_fire(self, schedule_id: str, fire_at: datetime, outcome: FireOutcome, detail: str | None = None) -> bool: ...

    async def settle_fire(
        self,
        schedule_id: str,
        fire_at: datetime,
        outcome: FireOutcome,
        *,
        execution_id: str | None = None,
        detail: str | None = None,
        was: FireOutcome | None = None,
    ) -> bool: ...

    async def last_fire_at(self, schedule_id: str) -> datetime | None: ...

    async def list_fires(self, schedule_id: str, *, limit: int, outcome: FireOutcome | None = None) -> list[ScheduleFire]: ...

    async def running_fires(self, schedule_id: str) -> list[str]: ...

    async def settle_lost_claims(self, claimed_before: float) -> int: ...

    async def prune_fires(self, recorded_before: float) -> int: ...

    def queue_delivery(self, delivery: WebhookDelivery) -> None: ...

    async def due_deliveries(self, now: float, limit: int) -> list[WebhookDelivery]: ...

    async def next_delivery_at(self) -> float | None: ...

    async def lease_delivery(self, delivery_id: str, attempts: int, now: float, until: float) -> bool: ...

    async def record_attempt(self, delivery: WebhookDelivery, attempt: DeliveryAttempt) -> None: ...

    async def deliveries_of(self, execution_id: str) -> list[WebhookDelivery]: ...

    async def remember_message(self, trigger_id: str, message_id: str, now: float, forget_before: float) -> bool: ...

    async def delivery_counts(self, failed_since: float) -> tuple[int, int]:
        """(deliveries pending, deliveries that failed for good since `failed_since`)."""
        ...


class TriggerRecords:
    """What `store.runtime.sql.SqlRuntimeStore` gives the scheduler and the deliverer."""

    owner: str

    @abstractmethod
    async def _rows(self, sql: str, args: Sequence[Any]) -> list[Any]: ...

    @abstractmethod
    async def _update(self, sql: str, args: Sequence[Any]) -> int: ...

    # BufferedWrites._write, which the store has by its other base.
    _write: Any

    # -- schedule fires ------------------------------------------------------------------

    async def claim_fire(self, schedule_id: str, fire_at: datetime, outcome: FireOutcome, detail: str | None = None) -> bool:
        """Record a fire; False when a row for it exists (another node took it)."""
        sql = (
            "INSERT INTO schedule_fires (schedule_id, fire_at, outcome, execution_id, detail, node, recorded_at)"
            " VALUES (?, ?, ?, NULL, ?, ?, ?) ON CONFLICT (schedule_id, fire_at) DO NOTHING"
        )
        now = datetime.now(UTC).timestamp()
        return await self._update(sql, [schedule_id, fire_at.timestamp(), outcome, detail, self.owner, now]) == 1

    async def settle_fire(
        self,
        schedule_id: str,
        fire_at: datetime,
        outcome: FireOutcome,
        *,
        execution_id: str | None = None,
        detail: str | None = None,
        was: FireOutcome | None = None,
    ) -> bool:
        """Record what became of a fire; with `was`, only if it still is that (a queued fire
        taken by one node only)."""
        sql = (
            "UPDATE schedule_fires SET outcome = ?, execution_id = ?, detail = ?, node = ?, recorded_at = ?"
            " WHERE schedule_id = ? AND fire_at = ?"
        )
        now = datetime.now(UTC).timestamp()
        args: list[Any] = [outcome, execution_id, detail, self.owner, now, schedule_id, fire_at.timestamp()]
        if was is not None:
            sql += " AND outcome = ?"
            args.append(was)
        return await self._update(sql, args) == 1

    async def last_fire_at(self, schedule_id: str) -> datetime | None:
        rows = await self._rows("SELECT MAX(fire_at) FROM schedule_fires WHERE schedule_id = ?", [schedule_id])
        return _moment(rows[0][0]) if rows and rows[0][0] is not None else None

    async def list_fires(self, schedule_id: str, *, limit: int, outcome: FireOutcome | None = None) -> list[ScheduleFire]:
        """The newest fires first (oldest first for `outcome="queued"`: the order they run in)."""
        where, args = "f.schedule_id = ?", [schedule_id]
        if outcome is not None:
            where, args = where + " AND f.outcome = ?", [*args, outcome]
        order = "ASC" if outcome == "queued" else "DESC"
        sql = (
            f"SELECT {_FIRE_COLUMNS} FROM schedule_fires f LEFT JOIN executions e ON e.execution_id = f.execution_id"
            f" WHERE {where} ORDER BY f.fire_at {order} LIMIT ?"
        )
        return [_fire(r) for r in await self._rows(sql, [*args, limit])]

    async def running_fires(self, schedule_id: str) -> list[str]:
        """The executions this schedule started that have not ended."""
        sql = (
            "SELECT f.execution_id FROM schedule_fires f JOIN executions e ON e.execution_id = f.execution_id"
            f" WHERE f.schedule_id = ? AND e.status IN ({_ACTIVE_MARKS})"
        )
        return [str(r[0]) for r in await self._rows(sql, [schedule_id, *ACTIVE])]

    async def settle_lost_claims(self, claimed_before: float) -> int:
        """Claims whose node stopped before starting the run: recorded as lost, not left claimed."""
        detail = "the node that claimed this fire stopped before starting its run"
        sql = "UPDATE schedule_fires SET outcome = 'lost', detail = ? WHERE outcome = 'claimed' AND recorded_at < ?"
        return await self._update(sql, [detail, claimed_before])

    async def prune_fires(self, recorded_before: float) -> int:
        """Fires recorded before `recorded_before`, but never a schedule's newest (it is where
        the schedule takes up again) nor one still claimed or queued."""
        sql = (
            "DELETE FROM schedule_fires WHERE recorded_at < ? AND outcome NOT IN ('claimed', 'queued')"
            " AND fire_at < (SELECT MAX(g.fire_at) FROM schedule_fires g WHERE g.schedule_id = schedule_fires.schedule_id)"
        )
        return await self._update(sql, [recorded_before])

    # -- webhook deliveries --------------------------------------------------------------

    def queue_delivery(self, delivery: WebhookDelivery) -> None:
        """Buffered: written with the rows of the run's end, in the same transaction."""
        due = (delivery.next_attempt_at or datetime.now(UTC)).timestamp()
        doc = msgspec.json.encode(delivery)
        self._write(DELIVERY_INSERT, (delivery.delivery_id, delivery.execution_id, delivery.status, 0, due, doc), key=delivery.delivery_id)

    async def due_deliveries(self, now: float, limit: int) -> list[WebhookDelivery]:
        sql = (
            "SELECT doc FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?"
            " AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_attempt_at LIMIT ?"
        )
        return [msgspec.json.decode(r[0], type=WebhookDelivery) for r in await self._rows(sql, [now, now, limit])]

    async def next_delivery_at(self) -> float | None:
        rows = await self._rows("SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'", [])
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    async def lease_delivery(self, delivery_id: str, attempts: int, now: float, until: float) -> bool:
        """Take a due delivery for one attempt; False when another node has it (or made it)."""
        sql = (
            "UPDATE webhook_deliveries SET lease_until = ? WHERE delivery_id = ? AND status = 'pending' AND attempts = ?"
            " AND (lease_until IS NULL OR lease_until < ?)"
        )
        return await self._update(sql, [until, delivery_id, attempts, now]) == 1

    async def record_attempt(self, delivery: WebhookDelivery, attempt: DeliveryAttempt) -> None:
        """The attempt, then the delivery as it stands after it (status, next attempt, lease let go)."""
        insert = "INSERT INTO webhook_attempts (delivery_id, attempt, execution_id, doc) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
        await self._update(insert, [delivery.delivery_id, attempt.attempt, delivery.execution_id, msgspec.json.encode(attempt)])
        due = (delivery.next_attempt_at or datetime.now(UTC)).timestamp()
        stored = msgspec.structs.replace(delivery, history=[])
        update = (
            "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, lease_until = NULL, doc = ? WHERE delivery_id = ?"
        )
        await self._update(update, [delivery.status, delivery.attempts, due, msgspec.json.encode(stored), delivery.delivery_id])

    async def deliveries_of(self, execution_id: str) -> list[WebhookDelivery]:
        rows = await self._rows("SELECT doc FROM webhook_deliveries WHERE execution_id = ?", [execution_id])
        deliveries = sorted(
            (msgspec.json.decode(r[0], type=WebhookDelivery) for r in rows),
            key=lambda d: (d.created_at.timestamp() if d.created_at else 0.0, d.url),
        )
        attempts = await self._rows("SELECT delivery_id, doc FROM webhook_attempts WHERE execution_id = ? ORDER BY attempt", [execution_id])
        for delivery in deliveries:
            delivery.history = [msgspec.json.decode(doc, type=DeliveryAttempt) for did, doc in attempts if did == delivery.delivery_id]
        return deliveries

    async def delivery_counts(self, failed_since: float) -> tuple[int, int]:
        sql = (
            "SELECT COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0),"
            " COALESCE(SUM(CASE WHEN status = 'failed' AND next_attempt_at >= ? THEN 1 ELSE 0 END), 0) FROM webhook_deliveries"
        )
        rows = await self._rows(sql, [failed_since])
        return int(rows[0][0]), int(rows[0][1])

    # -- inbound webhook message ids -----------------------------------------------------

    async def remember_message(self, trigger_id: str, message_id: str, now: float, forget_before: float) -> bool:
        """Record a signed request's id; False when it was seen (a replay). Ids older than
        the timestamp tolerance are forgotten: a replay that old fails the timestamp check."""
        await self._update("DELETE FROM webhook_messages WHERE seen_at < ?", [forget_before])
        sql = "INSERT INTO webhook_messages (trigger_id, message_id, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
        return await self._update(sql, [trigger_id, message_id, now]) == 1
