"""Recovery (issue #5): kill -9 the server with N executions running; after a restart none
is `running`, and each resumes from its last checkpoint to completion.

Prints: executions running at the kill, start-up time after the crash, how they were found,
time to resume all of them, and how many finished steps were run again (should be 0).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.server import running_server
from tests.helpers.storage import copy_storage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executions", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only shows the script works (the suite runs it)")
    args = parser.parse_args()
    if args.smoke:
        args.executions = 2
    body = {"input": {"task": "recover me", "llm": {"provider": "echo", "latency_ms": 500}}, "async": True}
    with tempfile.TemporaryDirectory() as tmp:
        storage = Path(tmp) / "storage"
        copy_storage(storage)
        plugins = Path(tmp) / "plugins"
        with running_server(storage, "--plugins-dir", str(plugins)) as server, httpx.Client(base_url=server.url, timeout=30) as c:
            ids = [c.post("/graphs/ASIS/execute", json=body).json()["execution_id"] for _ in range(args.executions)]
            while not all(c.get(f"/executions/{e}/steps").json()["completed_steps"] >= 1 for e in ids):
                time.sleep(0.05)
            running = sum(c.get(f"/executions/{e}").json()["status"] == "running" for e in ids)
            done_before = {e: c.get(f"/executions/{e}/steps").json()["completed_steps"] for e in ids}
            server.process.send_signal(signal.SIGKILL)
            server.process.wait()
        print(f"killed -9 with {running} of {len(ids)} executions running ({sum(done_before.values())} steps finished)")

        with running_server(storage, "--plugins-dir", str(plugins)) as server, httpx.Client(base_url=server.url, timeout=30) as c:
            print(f"restart to first /health: {server.ready_after:.2f} s")
            statuses = [c.get(f"/executions/{e}").json()["status"] for e in ids]
            print(f"after restart: {statuses.count('running')} running, {statuses.count('failed')} failed (interrupted)")
            t0 = time.perf_counter()
            for e in ids:
                assert c.post(f"/executions/{e}/resume").status_code == 202
            while {c.get(f"/executions/{e}").json()["status"] for e in ids} != {"completed"}:
                time.sleep(0.05)
            elapsed = time.perf_counter() - t0
            # Every execution had finished its planner before the kill: it must not run again.
            rerun = 0
            for e in ids:
                steps = c.get(f"/executions/{e}/steps").json()["step_executions"]
                rerun += sum(1 for s in steps if s["step_name"] == "planner" and s["status"] == "completed") - 1
            print(f"all {len(ids)} resumed to completion in {elapsed:.2f} s; finished steps run again: {rerun}")


if __name__ == "__main__":
    main()
