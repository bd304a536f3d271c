"""Soak: many short executions for a while, with a short retention, and the runtime
database's size over time; it must level off. The anchor, measured in the same run: the same
load with retention off, whose database only grows.

Each phase starts a real server (`serve`, SQLite by default, or PostgreSQL with
`--runtime postgresql`), runs the ASIS plugin graph (echo provider, no latency) from
`--clients` concurrent clients for `--seconds`, and samples `/service/health`'s
`database.size_bytes` every `--every` seconds. Retention: the newest `--keep` ended runs are
kept, pruned every `--interval` seconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.server import running_server
from tests.helpers.storage import copy_storage

RUN = {"input": {"task": "soak", "llm": {"provider": "echo"}}}


def _mb(size: int) -> str:
    return f"{size / 1_000_000:7.2f} MB"


Sample = tuple[float, int, int, int]  # elapsed, runs so far, executions in the database, database bytes


async def _phase(url: str, seconds: float, clients: int, every: float) -> tuple[list[Sample], int]:
    """Samples over the phase, and the runs done."""
    done = 0
    samples: list[Sample] = []
    began = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def load() -> None:
            nonlocal done
            while time.monotonic() - began < seconds:
                response = await client.post("/graphs/ASIS/execute", json=RUN)
                if response.status_code == 200:
                    done += 1

        async def sample() -> None:
            while True:
                health = (await client.get("/service/health")).json()
                stored = (await client.get("/executions", params={"limit": 1})).json()["total"]
                samples.append((time.monotonic() - began, done, int(stored), int(health["database"]["size_bytes"])))
                if time.monotonic() - began >= seconds:
                    return
                await anyio.sleep(every)

        async with anyio.create_task_group() as tg:
            for _ in range(clients):
                tg.start_soon(load)
            tg.start_soon(sample)
    return samples, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--every", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--keep", type=int, default=300, help="ended runs kept (ECHO_RETENTION_MAX_EXECUTIONS)")
    parser.add_argument("--interval", type=float, default=5, help="seconds between prunes (ECHO_RETENTION_INTERVAL_SECONDS)")
    parser.add_argument("--runtime", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only shows the script works (the suite runs it)")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.every, args.clients, args.keep, args.interval = 3, 1, 2, 5, 1
    phases = {
        "retention": {"ECHO_RETENTION_DAYS": "0", "ECHO_RETENTION_MAX_EXECUTIONS": str(args.keep)},
        "no retention (anchor)": {"ECHO_RETENTION_DAYS": "0", "ECHO_RETENTION_MAX_EXECUTIONS": "0"},
    }
    results: dict[str, tuple[list[Sample], int]] = {}
    for name, policy in phases.items():
        with tempfile.TemporaryDirectory() as tmp:
            storage = copy_storage(Path(tmp) / "storage")
            env = {**policy, "ECHO_RETENTION_INTERVAL_SECONDS": str(args.interval), "ECHO_RATE_LIMIT_PER_HOUR": "0"}
            env["ECHO_MAX_EXECUTIONS_PER_CALLER"] = "0"
            if args.runtime == "postgresql":
                from tests.helpers.postgres import new_schema, temporary_database

                with temporary_database() as database:
                    env["ECHO_RUNTIME_URL"] = new_schema(database)
                    with running_server(storage, "--plugins-dir", str(Path(tmp) / "plugins"), env=env) as server:
                        results[name] = anyio.run(_phase, server.url, args.seconds, args.clients, args.every)
            else:
                with running_server(storage, "--plugins-dir", str(Path(tmp) / "plugins"), env=env) as server:
                    results[name] = anyio.run(_phase, server.url, args.seconds, args.clients, args.every)

    kept, anchor = results["retention"], results["no retention (anchor)"]
    print(
        f"soak on {args.runtime}: {args.clients} clients for {args.seconds:g} s; retention keeps the newest {args.keep}, pruned every {args.interval:g} s"
    )
    print("(the level: the runs kept, plus those ended between two prunes, times a run's rows)")
    print(f"{'t (s)':>6}  {'runs':>6} {'kept':>6} {'db with retention':>18}  {'runs':>6} {'kept':>6} {'db without':>12}  ratio")
    for (t, runs, stored, size), (_, anchor_runs, anchor_stored, anchor_size) in zip(kept[0], anchor[0], strict=False):
        print(
            f"{t:6.0f}  {runs:6d} {stored:6d} {_mb(size):>18}  {anchor_runs:6d} {anchor_stored:6d} {_mb(anchor_size):>12}"
            f"  {size / max(anchor_size, 1):.2f}"
        )
    for name, (samples, runs) in results.items():
        half = [size for t, _, _, size in samples if t >= args.seconds / 2]
        growth = (max(half) - min(half)) if half else 0
        print(f"{name}: {runs} runs, {runs / args.seconds:.1f} runs/s; size in the second half varies by {_mb(growth).strip()}")


if __name__ == "__main__":
    main()
