"""The scheduler over the real services and runtime database, on a clock the test moves: each
due fire starts one run (recorded as the schedule's), missed fires and overlaps meet their
policies, a paused schedule does not make up for its pause, two schedulers sharing one
runtime start each fire once. No test waits for a fire: `tick(now)` is given the moment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from prometheus_client import REGISTRY

from echo_orchestrator.container import Services, open_services
from echo_orchestrator.models.triggers import Schedule
from echo_orchestrator.services.scheduler import Scheduler
from echo_orchestrator.settings import Settings
from tests.helpers.storage import copy_storage
from tests.integration.mcp_server.test_face import add_slow_workflow

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 12, 4, 10, 0, 0, tzinfo=UTC)


class StoppedClock:
    """Time as the test says; `sleep` returns at once (the loop is not used here)."""

    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:
        await anyio.lowlevel.checkpoint()


@pytest.fixture
async def services(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Services]:
    storage = copy_storage(tmp_path / "storage")
    limits = getattr(request, "param", {})  # settings a test asks for
    settings = Settings(
        storage_dir=storage, plugins_dir=None, watch=False, watch_plugins=False, retention_interval_seconds=0, scheduler=False, **limits
    )
    async with open_services(settings) as opened:
        yield opened


async def add(services: Services, **fields: Any) -> Schedule:
    body = {"schedule_id": "nightly", "workflow": "market-research", "inputs": {"topic": "tides"}, "cron": "* * * * *", **fields}
    return (await services.schedules.create(body)).schedule


async def fires_of(services: Services, schedule_id: str = "nightly", limit: int = 100) -> list[Any]:
    """The schedule's fires, newest first, without its marks (where it began, or resumed)."""
    return [f for f in await services.runtime.list_fires(schedule_id, limit=limit) if f.outcome not in ("began", "resumed")]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def settle(services: Services, schedule_id: str = "nightly") -> None:
    """Wait until the runs the schedule started have ended or paused."""
    with anyio.fail_after(30):
        while await services.runtime.running_fires(schedule_id):
            running = await services.runtime.running_fires(schedule_id)
            statuses = {(await services.executions.get(e)).status for e in running}
            if statuses <= {"paused"}:
                return
            await anyio.sleep(0.05)


async def test_each_due_fire_starts_one_run_recorded_as_the_schedules(services: Services) -> None:
    await add(services, grace_seconds=300, overlap="allow")
    scheduler = Scheduler(services.store, services.runtime, services.executions, StoppedClock(T0))
    await scheduler.tick(T0)  # a new schedule begins now: nothing made up for
    (began,) = await services.runtime.list_fires("nightly", limit=10)
    assert (began.outcome, began.fire_at, began.execution_id) == ("began", T0, None)

    wait = await scheduler.tick(at(2.5))  # 10:01 and 10:02 are due
    await settle(services)
    fires = await fires_of(services)
    assert [f.fire_at for f in fires] == [at(2), at(1)] and {f.outcome for f in fires} == {"started"}
    for fire in fires:
        execution = await services.executions.get(fire.execution_id or "")
        assert execution.caller == "schedule:nightly" and execution.status == "completed"
        assert execution.metadata == {
            "started_by": "schedule",
            "schedule_id": "nightly",
            "fire_at": fire.fire_at.isoformat().replace("+00:00", "Z"),
        }
    assert 0 <= wait <= 1.0

    await scheduler.tick(at(2.9))  # the same fires again: nothing new
    assert len(await fires_of(services)) == 2
    view = await services.schedules.get("nightly")
    assert len(view.next_fire_times) == 5 and view.recent_fires[0].execution_status == "completed"


async def test_two_schedulers_on_one_runtime_start_each_fire_once(services: Services) -> None:
    await add(services, cron="* * * * * *", overlap="allow")  # every second
    nodes = [Scheduler(services.store, services.runtime, services.executions, StoppedClock(T0)) for _ in range(2)]
    for node in nodes:
        await node.tick(T0)
    for second in range(1, 21):
        async with anyio.create_task_group() as tg:  # both nodes act on the same moment at once
            for node in nodes:
                tg.start_soon(node.tick, T0 + timedelta(seconds=second))
    await settle(services)
    fires = await fires_of(services)
    assert sorted(f.fire_at for f in fires) == [T0 + timedelta(seconds=s) for s in range(1, 21)]
    started = [f.execution_id for f in fires if f.outcome == "started"]
    assert len(started) == 20 and len(set(started)) == 20
    runs, _ = await services.executions.list_executions(limit=100)
    assert sum(1 for e in runs if e.caller == "schedule:nightly") == 20


@pytest.mark.parametrize("missed", ["skip", "run_once"])
async def test_fires_missed_while_no_node_ran_meet_the_missed_policy(services: Services, missed: str) -> None:
    await add(services, missed=missed, grace_seconds=90, overlap="allow")
    scheduler = Scheduler(services.store, services.runtime, services.executions, StoppedClock(T0))
    await scheduler.tick(T0)
    await scheduler.tick(at(1))
    # Down from 10:01 to 11:00:10: 10:02 .. 10:58 are missed; 10:59 and 11:00 are within grace.
    later = Scheduler(services.store, services.runtime, services.executions, StoppedClock(at(60)))
    await later.tick(at(60) + timedelta(seconds=10))
    await settle(services)
    fires = {f.fire_at: f for f in await fires_of(services)}
    assert sorted(fires) == [at(1), at(58), at(59), at(60)]
    gap = fires[at(58)]
    if missed == "skip":
        assert gap.outcome == "missed" and gap.execution_id is None and "57 fire(s) missed" in (gap.detail or "")
    else:
        assert gap.outcome == "started" and gap.execution_id and "runs once for 57" in (gap.detail or "")
    assert fires[at(59)].outcome == fires[at(60)].outcome == "started"


async def paused_run_of(services: Services, scheduler: Scheduler, when: datetime) -> str:
    await scheduler.tick(when)
    await settle(services)
    running = await services.runtime.running_fires("nightly")
    assert len(running) == 1 and (await services.executions.get(running[0])).status == "paused"
    return running[0]


@pytest.mark.parametrize("overlap", ["skip", "queue", "allow"])
async def test_a_fire_while_the_last_run_waits_meets_the_overlap_policy(services: Services, overlap: str) -> None:
    # The article desk waits for an editor's approval: its run goes on until someone answers.
    await add(services, workflow="article-desk", inputs={"brief": "tides"}, overlap=overlap, max_queued=2)
    scheduler = Scheduler(services.store, services.runtime, services.executions, StoppedClock(T0))
    await scheduler.tick(T0)
    first = await paused_run_of(services, scheduler, at(1))
    for minute in (2, 3, 4):
        await scheduler.tick(at(minute))
    await settle(services)
    fires = {f.fire_at: f for f in await fires_of(services)}
    outcomes = [fires[at(m)].outcome for m in (2, 3, 4)]
    if overlap == "skip":
        assert outcomes == ["skipped"] * 3 and first in (fires[at(2)].detail or "")
    elif overlap == "allow":
        assert outcomes == ["started"] * 3
    else:
        assert outcomes == ["queued", "queued", "skipped"]  # at most max_queued wait
        await services.executions.cancel(first, graceful=False, reason="done with it")
        await scheduler.tick(at(4.5))  # the oldest waiting fire runs now that the first has ended
        await settle(services)
        assert (await services.runtime.list_fires("nightly", limit=10, outcome="queued"))[0].fire_at == at(3)
        assert [f.outcome for f in await fires_of(services) if f.fire_at == at(2)] == ["started"]


async def test_a_resumed_schedule_does_not_make_up_for_its_pause(services: Services) -> None:
    await add(services, missed="run_once")
    scheduler = Scheduler(services.store, services.runtime, services.executions, StoppedClock(T0))
    await scheduler.tick(T0)
    await services.schedules.set_enabled("nightly", False)
    await scheduler.tick(at(30))  # paused: nothing
    resumed = await services.schedules.set_enabled("nightly", True)
    assert resumed.schedule.enabled and resumed.recent_fires[0].outcome == "resumed"
    resumed_at = resumed.recent_fires[0].fire_at  # the wall clock's: the service stamps it
    # One second past the first minute after resuming: exactly one fire between (a fixed 61 s
    # would hold two when the resume fell in a minute's last second).
    next_minute = resumed_at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    await scheduler.tick(next_minute + timedelta(seconds=1))
    await settle(services)
    fires = await services.runtime.list_fires("nightly", limit=10)
    assert [f.outcome for f in fires] == ["started", "resumed", "began"]  # the minute after resuming, nothing before


async def test_a_fire_whose_run_is_refused_is_recorded_and_the_schedule_goes_on(services: Services) -> None:
    await add(services, inputs={})  # market-research needs a topic: refused as a request would be
    scheduler = Scheduler(services.store, services.runtime, services.executions, StoppedClock(T0))
    await scheduler.tick(T0)
    await scheduler.tick(at(1))
    (fire,) = await fires_of(services)
    assert fire.outcome == "failed" and "topic" in (fire.detail or "") and fire.execution_id is None
    replaced = await services.schedules.replace(
        "nightly", {**msgspec.to_builtins((await services.schedules.get("nightly")).schedule), "inputs": {"topic": "x"}}
    )
    assert replaced.schedule.inputs == {"topic": "x"}
    await scheduler.tick(at(2))
    await settle(services)
    assert [f.outcome for f in await fires_of(services)] == ["started", "failed"]


@pytest.mark.parametrize("services", [{"max_executions_per_caller": 1}], indirect=True)
async def test_a_schedule_is_a_caller_held_to_the_same_limits(services: Services) -> None:
    add_slow_workflow(services.store.layout.root)  # type: ignore[attr-defined]
    await services.store.refresh(["workflows/final/wf_slow_lane.v1.0.json"])
    await add(services, workflow="slow-lane", overlap="allow", grace_seconds=300)
    scheduler = Scheduler(services.store, services.runtime, services.executions, StoppedClock(T0))
    await scheduler.tick(T0)
    await scheduler.tick(at(2.5))  # two fires at once: the first run is going when the second comes
    await settle(services)
    first, second = sorted(await fires_of(services), key=lambda f: f.fire_at)
    assert first.outcome == "started"
    assert second.outcome == "failed" and second.execution_id is None
    assert "RateLimited" in (second.detail or "") or "limit" in (second.detail or "").lower(), second.detail
    assert (REGISTRY.get_sample_value("echo_schedule_fires_total", {"schedule": "nightly", "outcome": "failed"}) or 0) >= 1


async def test_a_fire_missed_before_the_first_one_is_known_after_a_restart(services: Services) -> None:
    await add(services, missed="run_once", grace_seconds=60, overlap="allow")
    await Scheduler(services.store, services.runtime, services.executions, StoppedClock(T0)).tick(T0)  # seen, then every node stops
    restarted = Scheduler(services.store, services.runtime, services.executions, StoppedClock(at(30)))
    await restarted.tick(at(30) + timedelta(seconds=30))
    await settle(services)
    fires = await fires_of(services)
    # 10:01 .. 10:29 came while no node ran: one run for them; 10:30 on time.
    assert [(f.fire_at, f.outcome) for f in fires] == [(at(30), "started"), (at(29), "started")]
    assert "runs once for 29 fire(s)" in (fires[1].detail or "")
