"""What the MCP door costs (issue #26): the same run through `/mcp` and through REST.

Against the real server on loopback, with C concurrent clients for S seconds each:

- anchor: `POST /graphs/ASIS/execute` (synchronous: answers when the run has ended), httpx;
- MCP, 2026-07-28: `tools/call graph_ASIS`, the official SDK client (one request per call);
- MCP, 2025-11-25: the same through a handshake-era session.

Prints runs/s and p50/p99 latency of each, each beside the anchor as a ratio, and the
server's CPU seconds per run. The run is the same offline plugin graph everywhere, so the
difference is the door: the SDK's JSON-RPC handling, the progress feed, pydantic models.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.server import running_server
from tests.helpers.storage import copy_storage

INPUT = {"task": "bench"}


async def load(seconds: float, clients: int, call: Callable[[], Awaitable[None]]) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - began)

    async with anyio.create_task_group() as tg:
        for _ in range(clients):
            tg.start_soon(client)
    return latencies


async def rest_round(url: str, seconds: float, clients: int) -> list[float]:
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=clients)) as c:

        async def call() -> None:
            r = await c.post("/graphs/ASIS/execute", json={"input": INPUT})
            assert r.status_code == 200 and r.json()["status"] == "completed", r.text

        await call()  # warm
        return await load(seconds, clients, call)


async def mcp_round(url: str, seconds: float, clients: int, mode: str) -> list[float]:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with Client(streamable_http_client(f"{url}/mcp"), mode=mode) as client:

        async def call() -> None:
            result = await client.call_tool("graph_ASIS", INPUT)
            assert result.structured_content["status"] == "completed", result.structured_content

        await call()
        return await load(seconds, clients, call)


def measure(process: psutil.Process, run: Callable[[], list[float]]) -> dict[str, Any]:
    cpu = process.cpu_times()
    began = time.perf_counter()
    latencies = run()
    wall = time.perf_counter() - began
    used = sum(process.cpu_times()[:2]) - sum(cpu[:2])
    ordered = sorted(latencies)
    return {
        "runs": len(latencies),
        "per_s": len(latencies) / wall,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "cpu_ms_per_run": 1000 * used / max(1, len(latencies)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only shows the script works")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.clients, args.rounds = 0.5, 2, 1
    with tempfile.TemporaryDirectory() as tmp:
        storage = copy_storage(Path(tmp) / "storage")
        with running_server(storage, "--plugins-dir", str(Path(tmp) / "plugins")) as server:
            process = psutil.Process(server.process.pid)
            print(f"{args.clients} clients, {args.seconds:g} s a round, offline graph ASIS (same run through each door)")
            for n in range(1, args.rounds + 1):
                rest = measure(process, lambda: anyio.run(rest_round, server.url, args.seconds, args.clients))
                print(f"round {n}")
                print(
                    f"  REST  POST /graphs/ASIS/execute   {rest['per_s']:7.1f} runs/s  p50 {rest['p50_ms']:6.1f} ms  "
                    f"p99 {rest['p99_ms']:6.1f} ms  server CPU {rest['cpu_ms_per_run']:5.2f} ms/run  (anchor)"
                )
                for label, mode in (("MCP 2026-07-28", "auto"), ("MCP 2025-11-25", "legacy")):
                    got = measure(process, lambda mode=mode: anyio.run(mcp_round, server.url, args.seconds, args.clients, mode))
                    print(
                        f"  {label} tools/call graph_ASIS {got['per_s']:7.1f} runs/s  p50 {got['p50_ms']:6.1f} ms  "
                        f"p99 {got['p99_ms']:6.1f} ms  server CPU {got['cpu_ms_per_run']:5.2f} ms/run  "
                        f"(x{got['per_s'] / rest['per_s']:.2f} runs/s, x{got['cpu_ms_per_run'] / rest['cpu_ms_per_run']:.2f} CPU/run)"
                    )


if __name__ == "__main__":
    main()
