"""Crash recovery ends what a dead process left running, and leaves alone what another live process runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.engine.recording import RunRecorder, record_interrupted
from echo_orchestrator.engine.runs import LiveRun, RunPlan
from echo_orchestrator.lifecycle.ownership import MACHINE
from echo_orchestrator.models import Event, Execution, StepExecution, utcnow
from echo_orchestrator.store.runtime.sqlite import SqliteRuntimeStore

pytestmark = pytest.mark.anyio


async def test_only_executions_of_dead_processes_are_marked_interrupted(tmp_path: Path) -> None:
    runtime = SqliteRuntimeStore(tmp_path / "runtime.sqlite", owner="unused")
    await runtime.open()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        owners = {
            "wfexec_alive": f"{MACHINE}:{alive.pid}",  # a CLI run or another worker, still going
            "wfexec_dead": f"{MACHINE}:{dead.pid}",
            "wfexec_elsewhere": f"other-host/boot:{alive.pid}",  # cannot be proved alive
            "wfexec_old": "",  # written before owners were recorded
        }
        for execution_id, owner in owners.items():
            runtime.owner = owner
            await runtime.save_execution(Execution(execution_id=execution_id, kind="workflow", status="running", created_at=utcnow()))
        await runtime.save_step(
            StepExecution(step_execution_id="s1", execution_id="wfexec_dead", step_number=1, step_name="a", status="running")
        )
        assert sorted(await record_interrupted(runtime)) == ["wfexec_dead", "wfexec_elsewhere", "wfexec_old"]
        assert (await runtime.get_execution("wfexec_alive")).status == "running"
        dead_run = await runtime.get_execution("wfexec_dead")
        assert dead_run.status == "failed" and dead_run.error is not None and dead_run.error.code == "ERR_EXEC_001"
        assert (await runtime.get_step("s1")).status == "failed"
        events, _ = await runtime.list_events("wfexec_dead")
        assert [e.event_type for e in events] == ["execution_failed"]
        # Asked to cancel one: it ends cancelled instead.
        runtime.owner = f"{MACHINE}:{dead.pid}"
        await runtime.save_execution(Execution(execution_id="wfexec_2", kind="workflow", status="initializing", created_at=utcnow()))
        assert await record_interrupted(runtime, ["wfexec_2"], cancelled=True) == ["wfexec_2"]
        cancelled = await runtime.get_execution("wfexec_2")
        assert cancelled.status == "cancelled" and cancelled.error is not None and cancelled.error.code == "ERR_EXEC_003"
    finally:
        alive.kill()
        alive.wait()
        await runtime.close()


async def test_a_node_reporting_in_a_tight_loop_leaves_its_followers_a_turn(tmp_path: Path) -> None:
    """Progress reports cost the reporting node no await of their own: each event recorded
    for a followed run gives the followers' forwarders a turn, so a follower with a small
    queue keeps up instead of being dropped as too slow."""
    runtime = SqliteRuntimeStore(tmp_path / "runtime.sqlite", owner="test")
    await runtime.open()
    bus = EventBus(buffer=20)
    recorder = RunRecorder(runtime, bus)
    plan = RunPlan(kind="graph", build=lambda _ctx, _config: None, steps={}, total_steps=1)  # type: ignore[arg-type,return-value]
    live = LiveRun(execution=Execution(execution_id="wfexec_tight", kind="graph", status="running", created_at=utcnow()), plan=plan)
    subscription = bus.subscribe("wfexec_tight")
    got: list[int] = []

    async def forward() -> None:
        async for event in subscription.receive:
            assert isinstance(event, Event)
            got.append(event.seq)
            if len(got) == 500:
                return

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(forward)
            await anyio.lowlevel.checkpoint()  # the forwarder is waiting
            for i in range(500):  # no await but the recorder's own
                await recorder.progress(live, "emit", "tick", {"i": i})
        assert subscription.dropped is None and got == list(range(1, 501))
    finally:
        await runtime.close()
