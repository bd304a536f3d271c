"""Beyond one process (issue #17): runs per second with 1, 2 and 4 queue workers on the
PostgreSQL runtime, and the latency of live events followed from another node.

    python benchmarks/bench_cluster.py [--seconds 4] [--clients 16] [--runs 40]

Needs a PostgreSQL server (ECHO_TEST_POSTGRES_URL, default the local one with trust
authentication); the script makes a database of its own and drops it.

1. `POST /graphs/noop3/execute` (three no-op nodes, synchronous, a checkpoint per step) by
   `--clients` closed-loop clients against one API node: `serve` on the embedded SQLite
   runtime (the anchor), `serve` on PostgreSQL (API and worker in one process, every run
   through the queue), and `serve --no-worker` with N = 1, 2, 4 `worker` processes; with
   the CPU per run of every process of the topology.
2. Cross-node event latency: runs started on API node A (`--no-worker`), run by a `worker`,
   followed over WebSocket from API node B (events cross processes: NOTIFY, or Redis with
   `--redis`); the anchor is one embedded process that runs and serves its runs itself.
   Latency = arrival - the event's own timestamp (one machine, one clock), p50 / p99 over
   every live event of `--runs` runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
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
from tests.helpers.server import RunningServer, running_server, running_worker
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


async def followed(start_on: RunningServer, follow_on: RunningServer, runs: int) -> list[float]:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=start_on.url) as c:
        for _ in range(runs):
            execution_id = (await c.post("/graphs/ASIS/execute", json=SLOW)).json()["execution_id"]
            await follow(follow_on, execution_id, latencies)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--redis", metavar="URL", help="also measure the latency with signals over this Redis")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only shows the script works (the suite runs it)")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.clients, args.runs = 0.5, 2, 2

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
    remote: dict[str, list[float]] = {}
    with temporary_database() as database:
        pg_env = {**base_env, "ECHO_RUNTIME_URL": database}
        with running_server(storage, *plugins, env=base_env, timeout=60) as server:
            httpx.post(f"{server.url}/graphs/noop3/execute", json=body, timeout=30).raise_for_status()
            rate, cpu = server_load(server.process.pid, f"{server.url}/graphs/noop3/execute", args.seconds, args.clients, body)
            rows.append(("1 process, embedded SQLite (anchor)", rate, cpu))
        with running_server(storage, *plugins, env=pg_env, timeout=60) as server:
            httpx.post(f"{server.url}/graphs/noop3/execute", json=body, timeout=30).raise_for_status()
            rate, cpu = server_load(server.process.pid, f"{server.url}/graphs/noop3/execute", args.seconds, args.clients, body)
            rows.append(("1 process (API + worker), PostgreSQL", rate, cpu))
        for count in (1,) if args.smoke else (1, 2, 4):  # the smoke run shows each path works, once
            with ExitStack() as stack:
                server = stack.enter_context(running_server(storage, *plugins, "--no-worker", env=pg_env, timeout=60))
                workers = [stack.enter_context(running_worker(storage, *plugins, env=pg_env, timeout=90)) for _ in range(count)]
                for _ in range(4 * count):  # every worker has loaded the plugin and its plan
                    httpx.post(f"{server.url}/graphs/noop3/execute", json=body, timeout=30).raise_for_status()
                url = f"{server.url}/graphs/noop3/execute"
                rate, cpu = server_load(server.process.pid, url, args.seconds, args.clients, body, also=[w.process.pid for w in workers])
                rows.append((f"API node + {count} worker process(es), PostgreSQL", rate, cpu))
        with running_server(storage, *plugins, env=base_env, timeout=60) as alone:
            local = anyio.run(followed, alone, alone, args.runs)
        channels = [("NOTIFY", pg_env)] + ([("Redis", {**pg_env, "ECHO_REDIS_URL": args.redis})] if args.redis else [])
        for name, env in channels:
            with ExitStack() as stack:
                a = stack.enter_context(running_server(storage, *plugins, "--no-worker", env=env, timeout=60))
                b = stack.enter_context(running_server(storage, *plugins, "--no-worker", env=env, timeout=60))
                stack.enter_context(running_worker(storage, *plugins, env=env, timeout=90))
                remote[name] = anyio.run(followed, a, b, args.runs)
    shutil.rmtree(root, ignore_errors=True)

    anchor = rows[0][1]
    print(f"durable runs/s of noop3 over HTTP, {args.clients} clients, {args.seconds:g} s each")
    print(f"{'topology':<46} {'runs/s':>8} {'CPU ms/run':>11} {'vs anchor':>10}")
    for name, rate, cpu in rows:
        print(f"{name:<46} {rate:8.1f} {cpu:11.1f} {rate / anchor:10.2f}")
    print(f"\nlive event latency over WebSocket, {args.runs} runs of ASIS ({len(local)} events)")
    print(f"{'followed':<52} {'p50 ms':>8} {'p99 ms':>8} {'p50 vs anchor':>14}")
    anchor_p50 = max(statistics.median(local), 1e-9)
    print(f"{'on the one process running it (anchor)':<52} {percentile(local, 0.5):8.1f} {percentile(local, 0.99):8.1f} {1:14.2f}")
    for name, values in remote.items():
        label = f"on API node B, run by a worker, started on A ({name})"
        print(f"{label:<52} {percentile(values, 0.5):8.1f} {percentile(values, 0.99):8.1f} {statistics.median(values) / anchor_p50:14.2f}")


if __name__ == "__main__":
    main()
