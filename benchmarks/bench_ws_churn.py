"""Long-lived connections: open and close N WebSocket connections against the real server on
loopback, half closed cleanly and half aborted (TCP dropped with no close frame), each joined
to an execution first, and print the server's RSS before and after.

    python benchmarks/bench_ws_churn.py [--connections 6000] [--batch 100]

The goal (integrity issue): RSS back within 20 MB of where it started once the churn is over:
nothing is kept per connection, or what is kept is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.server import running_server
from tests.helpers.storage import copy_storage


async def churn(url: str, execution_id: str, total: int, batch: int) -> tuple[int, int]:
    import websockets

    clean = aborted = 0

    async def one(i: int) -> None:
        nonlocal clean, aborted
        ws = await websockets.connect(f"{url}/ws/executions/{execution_id}")
        await ws.recv()  # `connected`: the server has joined it and started its forwarder
        if i % 2:
            ws.transport.abort()  # gone without a close frame
            aborted += 1
        else:
            await ws.close()
            clean += 1

    for start in range(0, total, batch):
        await asyncio.gather(*(one(i) for i in range(start, min(start + batch, total))))
    return clean, aborted


def rss_mb(process: psutil.Process) -> float:
    return process.memory_info().rss / 2**20


def settle(process: psutil.Process, seconds: float = 3.0) -> float:
    time.sleep(seconds)  # closes finish, forwarders end, the collector runs on its own
    return rss_mb(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only shows the script works (the suite runs it)")
    args = parser.parse_args()
    if args.smoke:
        args.connections, args.batch = 20, 10
    root = Path(tempfile.mkdtemp())
    copy_storage(root / "storage")
    env = {"ECHO_RATE_LIMIT_PER_HOUR": "0"}
    with running_server(root / "storage", "--plugins-dir", str(root / "plugins"), env=env) as server:
        process = psutil.Process(server.process.pid)
        run = httpx.post(f"{server.url}/graphs/ASIS/execute", json={"input": {"task": "churn"}}, timeout=30).json()
        ws_url = server.url.replace("http://", "ws://")
        asyncio.run(churn(ws_url, run["execution_id"], 300, args.batch))  # warm-up: imports, pools, caches
        before = settle(process)
        started = time.perf_counter()
        clean, aborted = asyncio.run(churn(ws_url, run["execution_id"], args.connections, args.batch))
        elapsed = time.perf_counter() - started
        peak = rss_mb(process)
        after = settle(process)
        live = httpx.get(f"{server.url}/service/metrics").json().get("live", {})
    print(f"connections: {clean + aborted} ({clean} closed cleanly, {aborted} aborted) in {elapsed:.1f} s")
    print(
        f"server RSS: before {before:.1f} MB, right after {peak:.1f} MB, settled {after:.1f} MB: {after - before:+.1f} MB (goal: within 20 MB)"
    )
    print(f"live subscriptions left: {json.dumps(live)}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
