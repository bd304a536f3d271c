"""Firing schedules: every node runs a `Scheduler`; each fire starts one run in the cluster.

Each turn, for every enabled schedule, the fires between the last one recorded and now are
due (`lifecycle.schedules.due`). A fire is claimed by inserting its row in the runtime
database: of all the nodes that find it due, one insert succeeds and that node alone acts
on it (`store.runtime.triggers`). On the embedded runtime the single process does the same.

What a fire does: starts its run, as a request from `schedule:<id>` would (same checks,
same limits); or, while the previous run of the schedule still goes, meets the overlap
policy (`skip`: recorded, not run; `queue`: run when the runs before it have ended;
`allow`: run beside it). Fires older than the grace period came while no node ran: the
missed policy forgets them (one `missed` record) or runs once for all of them.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any, Protocol

import anyio

from echo_orchestrator import metrics
from echo_orchestrator.errors import EchoError, StorageError
from echo_orchestrator.lifecycle.schedules import due, next_fires
from echo_orchestrator.models import ExecutionConfig, rfc3339, utcnow
from echo_orchestrator.models.triggers import FireOutcome, Schedule
from echo_orchestrator.security.callers import Caller
from echo_orchestrator.services.executions import ExecutionService
from echo_orchestrator.store.definitions.base import DefinitionStore
from echo_orchestrator.store.runtime.base import RuntimeStore

log = logging.getLogger(__name__)

# A claim older than this whose run never started: its node stopped between the two.
LOST_AFTER_SECONDS = 120
# Fire records are kept this long (each schedule's newest always).
FIRES_KEPT_DAYS = 30
# A node reads each schedule's last fire from the database again this often (other nodes move it).
CURSOR_REFRESH_SECONDS = 30


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


def caller_for(schedule_id: str) -> Caller:
    return Caller("trigger", f"schedule:{schedule_id}")


class Scheduler:
    def __init__(self, store: DefinitionStore, runtime: RuntimeStore, executions: ExecutionService, clock: Clock | None = None) -> None:
        self.store, self.runtime, self.executions = store, runtime, executions
        self.clock: Clock = clock or SystemClock()
        # schedule id -> (last fire known, when read from the database)
        self._cursors: dict[str, tuple[datetime, float]] = {}
        self._housekeeping_at = 0.0

    async def run_forever(self, *, max_wait: float = 1.0) -> None:
        failing = False
        while True:
            wait = max_wait
            try:
                wait = await self.tick(self.clock.now(), max_wait=max_wait)
            except StorageError as exc:  # the database is away: said once, the next turns try again
                if not failing:
                    log.warning("the scheduler waits for the runtime database: %s", exc.message)
                failing = True
            else:
                if failing:
                    log.warning("the scheduler fires schedules again")
                failing = False
            await self.clock.sleep(wait)

    async def tick(self, now: datetime, *, max_wait: float = 1.0) -> float:
        """Act on every fire due at `now`; the seconds until the next one (at most `max_wait`)."""
        wait = max_wait
        schedules = await self.store.list_schedules()
        known = {s.schedule_id for s in schedules}
        for schedule_id in [k for k in self._cursors if k not in known]:
            del self._cursors[schedule_id]
        for schedule in schedules:
            if not schedule.enabled:
                self._cursors.pop(schedule.schedule_id, None)  # read afresh when it is enabled again
                continue
            try:
                await self._tick_one(schedule, now)
            except StorageError:
                raise  # the database, not this schedule: the turn ends here
            except EchoError as exc:
                log.warning("schedule %s: %s", schedule.schedule_id, exc.message)
            upcoming = next_fires(schedule, now, 1)
            if upcoming:
                wait = min(wait, max(0.0, (upcoming[0] - self.clock.now()).total_seconds()))
        await self._housekeeping(now)
        return wait

    async def _cursor(self, schedule: Schedule, now: datetime) -> datetime:
        known = self._cursors.get(schedule.schedule_id)
        if known is not None and time.monotonic() - known[1] < CURSOR_REFRESH_SECONDS:
            return known[0]
        last = await self.runtime.last_fire_at(schedule.schedule_id)
        if last is None and known is None:
            # Never seen by any node: it begins now (a new schedule does not make up for the
            # past), and says so in the database, so that a fire missed while every node was
            # down, before its first fire, is known to be missed.
            await self.runtime.claim_fire(schedule.schedule_id, now, "began", "the scheduler first saw this schedule")
            last = await self.runtime.last_fire_at(schedule.schedule_id)
        seen = [moment for moment in (last, known[0] if known else None) if moment is not None]
        cursor = max(seen, default=now)
        self._cursors[schedule.schedule_id] = (cursor, time.monotonic())
        return cursor

    def _moved(self, schedule_id: str, to: datetime) -> None:
        known = self._cursors.get(schedule_id)
        if known is None or to > known[0]:
            self._cursors[schedule_id] = (to, known[1] if known else time.monotonic())

    async def _tick_one(self, schedule: Schedule, now: datetime) -> None:
        if schedule.overlap == "queue":
            await self._run_queued(schedule)
        found = due(schedule, await self._cursor(schedule, now), now)
        if found.latest_missed is not None:
            if schedule.missed == "run_once":
                note = f"runs once for {found.missed} fire(s) missed while no node ran"
                if await self.runtime.claim_fire(schedule.schedule_id, found.latest_missed, "claimed", note):
                    await self._fire(schedule, found.latest_missed, note)
            else:
                note = f"{found.missed} fire(s) missed while no node ran; not run (missed: skip)"
                if await self.runtime.claim_fire(schedule.schedule_id, found.latest_missed, "missed", note):
                    metrics.SCHEDULE_FIRES.labels(metrics.label(schedule.schedule_id), "missed").inc()
        for fire in found.on_time:
            if await self.runtime.claim_fire(schedule.schedule_id, fire, "claimed"):
                await self._fire(schedule, fire)
        if found.last is not None:
            self._moved(schedule.schedule_id, found.last)

    async def _fire(self, schedule: Schedule, fire: datetime, note: str | None = None) -> None:
        """A fire this node claimed: start its run, or meet the overlap policy."""
        if schedule.overlap != "allow" and (running := await self.runtime.running_fires(schedule.schedule_id)):
            if schedule.overlap == "skip":
                detail = f"not run: the previous run {running[0]} had not ended (overlap: skip)"
                await self._settle(schedule, fire, "skipped", detail=detail)
                return
            waiting = await self.runtime.list_fires(schedule.schedule_id, limit=schedule.max_queued, outcome="queued")
            if len(waiting) >= schedule.max_queued:
                detail = f"not run: {len(waiting)} fire(s) already wait for the run {running[0]} to end (max_queued)"
                await self._settle(schedule, fire, "skipped", detail=detail)
                return
            await self._settle(schedule, fire, "queued", detail=f"waits for the run {running[0]} to end")
            return
        await self._start(schedule, fire, note)

    async def _run_queued(self, schedule: Schedule) -> None:
        """The oldest waiting fire, once no run of the schedule goes (one node takes it)."""
        waiting = await self.runtime.list_fires(schedule.schedule_id, limit=1, outcome="queued")
        if not waiting or await self.runtime.running_fires(schedule.schedule_id):
            return
        fire = waiting[0].fire_at
        if await self.runtime.settle_fire(schedule.schedule_id, fire, "claimed", was="queued"):
            await self._start(schedule, fire, "ran after the runs before it ended (overlap: queue)")

    async def _start(self, schedule: Schedule, fire: datetime, note: str | None) -> None:
        metadata = {"started_by": "schedule", "schedule_id": schedule.schedule_id, "fire_at": rfc3339(fire)}
        config = ExecutionConfig(workspace=schedule.workspace)
        caller = caller_for(schedule.schedule_id)
        try:
            if schedule.workflow is not None:
                execution = await self.executions.start_workflow(schedule.workflow, schedule.inputs, config, metadata, caller)
            else:
                assert schedule.graph is not None
                execution = await self.executions.start_graph(schedule.graph, schedule.inputs, config, caller, metadata=metadata)
        except EchoError as exc:  # refused as a request would be: recorded, the schedule goes on
            await self._settle(schedule, fire, "failed", detail=f"{type(exc).__name__}: {exc.message}"[:500])
            return
        await self._settle(schedule, fire, "started", execution_id=execution.execution_id, detail=note)

    async def _settle(self, schedule: Schedule, fire: datetime, outcome: FireOutcome, **fields: Any) -> None:
        await self.runtime.settle_fire(schedule.schedule_id, fire, outcome, **fields)
        metrics.SCHEDULE_FIRES.labels(metrics.label(schedule.schedule_id), outcome).inc()

    async def _housekeeping(self, now: datetime) -> None:
        if time.monotonic() < self._housekeeping_at:
            return
        self._housekeeping_at = time.monotonic() + 60
        await self.runtime.settle_lost_claims((now - timedelta(seconds=LOST_AFTER_SECONDS)).timestamp())
        await self.runtime.prune_fires((now - timedelta(days=FIRES_KEPT_DAYS)).timestamp())
