"""Statements per run on PostgreSQL (issue 30): what an API node and a queue worker send
the database for one run, counted by the server itself (`pg_stat_statements`).

    python benchmarks/bench_round_trips.py [--runs 200] [--idle 10]

A throwaway PostgreSQL cluster (initdb; the extension needs `shared_preload_libraries`,
which the shared server does not have) serves one API node (`serve --no-worker`) and one
`worker`. `--runs` synchronous runs of the three-node plugin graph `noop3` (a checkpoint at
every step) are sent one after another; the statements the processes sent meanwhile, less
what they send when idle (heartbeats, sweeps, the scheduler, the queue's polling: measured
over `--idle` seconds first, per second), divided by the runs. Each statement is a round
trip unless it was pipelined with others (a flush sends its statements in one pipeline);
transactions (`pg_stat_database.xact_commit`) are printed beside them.

Anchor: the same graph invoked in-process by LangGraph with its own `AsyncPostgresSaver`,
on a database of its own in the same cluster, counted the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_throughput import PLUGIN, PYPROJECT  # type: ignore[import-not-found]

from tests.helpers.postgres import throwaway_cluster, with_database
from tests.helpers.server import running_server, running_worker
from tests.helpers.storage import copy_storage

# What each statement is for, by the first name found in its text.
GROUPS = (
    ("queue (procrastinate)", ("procrastinate",)),
    ("checkpoints (LangGraph's tables)", ("checkpoint_blobs", "checkpoint_writes", "checkpoints")),
    ("events", ("events",)),
    ("run records (executions, steps, nodes)", ("executions", "step_executions", "node_executions", "steps", "nodes")),
    ("signals (LISTEN / NOTIFY)", ("pg_notify", "notify", "listen")),
    ("transaction control", ("begin", "commit", "rollback")),
)


def group_of(query: str) -> str:
    text = query.lower()
    for name, words in GROUPS:
        if any(word in text for word in words):
            return name
    return "other (health, counters, claims, ...)"


def counted(admin: str, database: str) -> tuple[Counter[str], int]:
    """Calls per statement text in `database` so far, and its committed transactions."""
    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT s.query, s.calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s",
            (database,),
        ).fetchall()
        xacts = conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (database,)).fetchone()
    calls: Counter[str] = Counter()
    for query, n in rows:
        calls[" ".join(str(query).split())] += int(n)
    return calls, int(xacts[0]) if xacts else 0


def reset(admin: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        conn.execute("SELECT pg_stat_reset()")


# Backends report their statistics at most once a second, idle ones after 10 s: the servers
# are stopped before the runs' figures are read (an exiting backend reports), and the idle
# figures are read after this long.
REPORTED = 11.0


def ours(root: Path, admin: str, database_url: str, database: str, runs: int, idle: float, wait: float) -> tuple[Counter[str], float, int]:
    storage = copy_storage(root / "storage")
    env = {"ECHO_RATE_LIMIT_PER_HOUR": "0", "ECHO_MAX_EXECUTIONS_PER_CALLER": "0", "ECHO_RUNTIME_URL": database_url}
    plugins = ("--plugins-dir", str(root / "plugins"))
    body = {"input": {"n": 0}}
    with ExitStack() as stack:
        server = stack.enter_context(running_server(storage, *plugins, "--no-worker", env=env, timeout=60))
        stack.enter_context(running_worker(storage, *plugins, env=env, timeout=90))
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(5):  # plugin loaded, plan compiled, connections made
                client.post("/graphs/noop3/execute", json=body).raise_for_status()
            time.sleep(wait)
            reset(admin)
            time.sleep(idle + wait)
            background, idle_xacts = counted(admin, database)
            per_second = Counter({q: n / (idle + wait) for q, n in background.items()})
            xacts_per_second = idle_xacts / (idle + wait)
            reset(admin)
            began = time.perf_counter()
            for _ in range(runs):
                assert client.post("/graphs/noop3/execute", json=body).json()["status"] == "completed"
            spent = time.perf_counter() - began
    calls, xacts = counted(admin, database)  # the processes have exited: everything reported
    net = Counter({q: max(0.0, n - per_second.get(q, 0.0) * spent) / runs for q, n in calls.items()})
    return net, sum(net.values()), round(max(0.0, xacts - xacts_per_second * spent) / runs)


def anchor(root: Path, admin: str, database_url: str, database: str, runs: int) -> tuple[Counter[str], float, int]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    sys.path.insert(0, str(root / "plugins" / "echo-noop3"))
    from echo_noop3 import build  # type: ignore[import-not-found]

    async def main() -> None:
        async with AsyncPostgresSaver.from_conn_string(database_url) as saver:
            await saver.setup()
            graph = build().compile(checkpointer=saver)
            await graph.ainvoke({"n": 0}, {"configurable": {"thread_id": uuid.uuid4().hex}})
            reset(admin)
            for _ in range(runs):
                await graph.ainvoke({"n": 0}, {"configurable": {"thread_id": uuid.uuid4().hex}})

    asyncio.run(main())
    calls, xacts = counted(admin, database)
    net = Counter({q: n / runs for q, n in calls.items()})
    return net, sum(net.values()), round(xacts / runs)


def by_group(calls: Counter[str]) -> Counter[str]:
    groups: Counter[str] = Counter()
    for query, n in calls.items():
        groups[group_of(query)] += n
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only shows the script works (the suite runs it)")
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.idle = 5, 1.0
    root = Path(tempfile.mkdtemp(prefix="bench-round-trips-"))
    plugin = root / "plugins" / "echo-noop3"
    (plugin / "echo_noop3").mkdir(parents=True)
    (plugin / "echo_noop3" / "__init__.py").write_text(PLUGIN)
    (plugin / "pyproject.toml").write_text(PYPROJECT)
    with throwaway_cluster(["shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track_utility=on"]) as cluster:
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
            conn.execute("CREATE DATABASE echo_runs")
            conn.execute("CREATE DATABASE langgraph_runs")
        wait = 1.0 if args.smoke else REPORTED
        mine = ours(root, cluster.url, with_database(cluster.url, "echo_runs"), "echo_runs", args.runs, args.idle, wait)
        theirs = anchor(root, cluster.url, with_database(cluster.url, "langgraph_runs"), "langgraph_runs", args.runs)
    report(mine, theirs, args.runs)


def report(mine: tuple[Counter[str], float, int], theirs: tuple[Counter[str], float, int], runs: int) -> None:
    (calls, total, xacts), (anchor_calls, anchor_total, anchor_xacts) = mine, theirs
    print(f"statements per run, {runs} synchronous runs of noop3 (3 nodes, a checkpoint per step)")
    print(f"{'':<44} {'ours':>8} {'LangGraph + its saver':>22}")
    print(f"{'statements (API node + worker)':<44} {total:8.1f} {anchor_total:22.1f}   ratio {anchor_total / max(total, 1e-9):.2f}")
    print(f"{'transactions committed':<44} {xacts:8d} {anchor_xacts:22d}")
    mine_groups, their_groups = by_group(calls), by_group(anchor_calls)
    for name in sorted(set(mine_groups) | set(their_groups), key=lambda g: -mine_groups.get(g, 0.0)):
        print(f"  {name:<42} {mine_groups.get(name, 0.0):8.1f} {their_groups.get(name, 0.0):22.1f}")
    print("\nour statements, most frequent first (per run):")
    for query, n in calls.most_common(20):
        if n >= 0.05:
            print(f"  {n:5.1f}  {query[:150]}")


if __name__ == "__main__":
    main()
