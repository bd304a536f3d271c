"""The runtime store's crash recovery leaves alone what another live process runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from echo_orchestrator.models import Execution, utcnow
from echo_orchestrator.store.runtime import MACHINE, RuntimeStore

pytestmark = pytest.mark.anyio


async def test_only_executions_of_dead_processes_are_marked_interrupted(tmp_path: Path) -> None:
    runtime = RuntimeStore(tmp_path / "runtime.sqlite")
    await runtime.open()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        owners = {
            "wfexec_alive": f"{MACHINE}:{alive.pid}",  # a CLI run or another worker, still going
            "wfexec_dead": f"{MACHINE}:{dead.pid}",
            "wfexec_elsewhere": f"other-host/boot:{alive.pid}",  # cannot be proved alive
            "wfexec_old": None,  # written before owners were recorded
        }
        for execution_id, owner in owners.items():
            await runtime.save_execution(Execution(execution_id=execution_id, kind="workflow", status="running", created_at=utcnow()))
            await runtime.flush()
            await runtime.db.execute("UPDATE executions SET owner = ? WHERE execution_id = ?", (owner, execution_id))
        await runtime.db.commit()
        assert sorted(await runtime.mark_interrupted()) == ["wfexec_dead", "wfexec_elsewhere", "wfexec_old"]
        assert (await runtime.get_execution("wfexec_alive")).status == "running"
    finally:
        alive.kill()
        alive.wait()
        await runtime.close()
