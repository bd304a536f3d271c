"""Beyond one process (issue #17): runs per second with 1, 2 and 4 worker processes on the
PostgreSQL runtime, and the latency of live events followed from another node.

    python benchmarks/bench_cluster.py [--seconds 4] [--clients 16] [--runs 40]

Needs a PostgreSQL server (ECHO_TEST_POSTGRES_URL, default the local one with trust
authentication); the script makes a database of its own and drops it.

1. `POST /graphs/noop3/execute` (three no-op nodes, synchronous, a checkpoint per step) by
   `--clients` closed-loop clients against `serve --workers N` for N = 1, 2, 4 on one
   PostgreSQL database, beside the same server with one worker on the embedded SQLite
   runtime (the anchor), with the server's CPU per run.
2. Cross-node event latency: runs started on node A, each followed over WebSocket from node
   B and, as the anchor, from node A itself; latency = arrival - the event's own timestamp
   (one machine, one clock), p50 / p99 over every live event of `--runs` runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_throughput import PLUGIN, PYPROJECT, server_load  # type: ignore[import-not-found]

from tests.helpers.postgres import temporary_database
from tests.helpers.server import RunningServer, running_server
from tests.helpers.storage import copy_storage

SLOW = {"input": {"task": "latency", "llm": {"provider": "echo", "latency_ms": 50}}, "async": True}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def follow(node: RunningServer, execution_id: str, latencies: list[float]) -> None:
    url = node.url.replace("http://", "ws://") + f"/ws/executions/{execution_id}"
    async with websockets.connect(url) as ws:
        await ws.recv()  # connected
        with anyio.fail_after(60):
            while True:
                frame = json.loads(await ws.recv())
                arrived = time.time()
                stamp = frame["data"].get("timestamp")
                if stamp:
                    latencies.append(1000 * (arrived - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()))
                if frame["event"] in ("execution_completed", "execution_failed", "execution_cancelled"):
                    return


async def cross_node(a: RunningServer, b: RunningServer, runs: int) -> tuple[list[float], list[float]]:
    remote: list[float] = []
    local: list[float] = []
    async with httpx.AsyncClient(base_url=a.url) as c:
        for _ in range(runs):
            execution_id = (await c.post("/graphs/ASIS/execute", json=SLOW)).json()["execution_id"]
            async with anyio.create_task_group() as tg:
                tg.start_soon(follow, b, execution_id, remote)
                tg.start_soon(follow, a, execution_id, local)
    return remote, local


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    plugin = root / "plugins" / "echo-noop3"
    (plugin / "echo_noop3").mkdir(parents=True)
    (plugin / "echo_noop3" / "__init__.py").write_text(PLUGIN)
    (plugin / "pyproject.toml").write_text(PYPROJECT)
    storage = copy_storage(root / "storage")
    base_env = {"ECHO_RATE_LIMIT_PER_HOUR": "0", "ECHO_MAX_EXECUTIONS_PER_CALLER": "0", "ECHO_AUTO_CLEANUP_ENABLED": "false"}
    plugins = ("--plugins-dir", str(root / "plugins"))
    body: dict[str, Any] = {"input": {"n": 0}}
    rows: list[tuple[str, float, float]] = []
    with temporary_database() as database:
        pg_env = {**base_env, "ECHO_RUNTIME_URL": database}
        with running_server(storage, *plugins, env=base_env, timeout=60) as server:
            httpx.post(f"{server.url}/graphs/noop3/execute", json=body, timeout=30).raise_for_status()
            rate, cpu = server_load(server.process.pid, f"{server.url}/graphs/noop3/execute", args.seconds, args.clients, body)
            rows.append(("1 process, embedded SQLite (anchor)", rate, cpu))
        for workers in (1, 2, 4):
            with running_server(storage, *plugins, "--workers", str(workers), env=pg_env, timeout=90) as server:
                for _ in range(2 * workers):  # every worker has loaded the plugin and its plan
                    httpx.post(f"{server.url}/graphs/noop3/execute", json=body, timeout=30).raise_for_status()
                rate, cpu = server_load(server.process.pid, f"{server.url}/graphs/noop3/execute", args.seconds, args.clients, body)
                rows.append((f"{workers} worker process(es), PostgreSQL", rate, cpu))
        with running_server(storage, *plugins, env=pg_env, timeout=60) as a, running_server(storage, *plugins, env=pg_env, timeout=60) as b:
            remote, local = anyio.run(cross_node, a, b, args.runs)
    shutil.rmtree(root, ignore_errors=True)

    anchor = rows[0][1]
    print(f"durable runs/s of noop3 over HTTP, {args.clients} clients, {args.seconds:g} s each")
    print(f"{'server':<42} {'runs/s':>8} {'CPU ms/run':>11} {'vs anchor':>10}")
    for name, rate, cpu in rows:
        print(f"{name:<42} {rate:8.1f} {cpu:11.1f} {rate / anchor:10.2f}")
    print(f"\nlive event latency, {args.runs} runs started on node A ({len(remote)} events each way)")
    print(f"{'followed from':<42} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'node B (another process; NOTIFY + read)':<42} {percentile(remote, 0.5):8.1f} {percentile(remote, 0.99):8.1f}")
    print(f"{'node A (the process running it; anchor)':<42} {percentile(local, 0.5):8.1f} {percentile(local, 0.99):8.1f}")
    print(f"{'ratio of p50 (B / A)':<42} {statistics.median(remote) / max(statistics.median(local), 1e-9):8.2f}")


if __name__ == "__main__":
    main()
