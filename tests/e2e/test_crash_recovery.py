"""kill -9 the server with executions running: after a restart none is `running`, and each
resumes from its last checkpoint to completion."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.server import running_server
from tests.helpers.storage import copy_storage

pytestmark = pytest.mark.e2e


def test_kill_9_then_restart_and_resume(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    copy_storage(storage)
    body = {"input": {"task": "slow", "llm": {"provider": "echo", "latency_ms": 400}}, "async": True}
    with running_server(storage, "--plugins-dir", str(tmp_path / "p")) as server, httpx.Client(base_url=server.url) as c:
        ids = [c.post("/graphs/ASIS/execute", json=body).json()["execution_id"] for _ in range(5)]
        deadline = time.monotonic() + 10
        while not all(c.get(f"/executions/{e}/steps").json()["completed_steps"] >= 1 for e in ids):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()

    with running_server(storage, "--plugins-dir", str(tmp_path / "p")) as server, httpx.Client(base_url=server.url) as c:
        assert c.get("/executions?status=running").json()["total"] == 0
        for eid in ids:
            record = c.get(f"/executions/{eid}").json()
            assert record["status"] == "failed" and "running this execution stopped" in record["error"]["message"]
            assert c.post(f"/executions/{eid}/resume").status_code == 202
        deadline = time.monotonic() + 20
        while {c.get(f"/executions/{e}").json()["status"] for e in ids} != {"completed"}:
            assert time.monotonic() < deadline, [c.get(f"/executions/{e}").json()["status"] for e in ids]
            time.sleep(0.05)
        for eid in ids:
            planners = [s for s in c.get(f"/executions/{eid}/steps").json()["step_executions"] if s["step_name"] == "planner"]
            assert [p["status"] for p in planners] == ["completed"]  # not redone after the crash
