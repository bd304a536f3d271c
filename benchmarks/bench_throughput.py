"""Throughput (issue #16): runs per second over HTTP beside LangGraph's own, reads beside bare Litestar.

    python benchmarks/bench_throughput.py [--rounds 3] [--seconds 5] [--clients 16] [--workers 1]

Figures, each printed beside its anchor measured in the same run (rounds alternate), as
min / median / max and the ratio of the medians:

1. Durable runs: `POST /graphs/noop3/execute` (a drop-in plugin graph of three no-op nodes,
   run synchronously, a checkpoint at every step) by `--clients` closed-loop clients, vs the
   same graph invoked in-process by LangGraph with its SQLite checkpointer (WAL, synchronous
   NORMAL) from as many tasks; and the server's CPU per run.
2. The same with `config.durability` = `exit` (checkpoint once, at the end), beside the
   in-process graph without a checkpointer and n8n's published 220 executions/s.
3. Reads: `GET /workflows/{id}/final/{version}`, `GET /workflows/{slug}` and `GET /agents/{id}`
   vs a bare Litestar app on uvicorn returning the same bytes.

HTTP load comes from `wrk` when it is installed (Debian package `wrk`), else from a Python
closed-loop client (which then shares the machine's cores with the server: figures are lower).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.server import REPO, free_port, running_server
from tests.helpers.storage import copy_storage

PLUGIN = textwrap.dedent(
    '''
    """noop3: three nodes that do nothing, for throughput figures."""
    from typing import Any, TypedDict

    from langgraph.graph import END, START, StateGraph

    from echo_orchestrator.registry import GraphContext, GraphSpec


    class State(TypedDict, total=False):
        n: int


    def step(state: State) -> dict[str, Any]:
        return {"n": state.get("n", 0) + 1}


    def build(ctx: GraphContext | None = None) -> StateGraph[State]:
        graph = StateGraph(State)
        for name in ("a", "b", "c"):
            graph.add_node(name, step)
        graph.add_edge(START, "a")
        graph.add_edge("a", "b")
        graph.add_edge("b", "c")
        graph.add_edge("c", END)
        return graph


    noop3 = GraphSpec(name="noop3", build=build, description="three no-op nodes")
    '''
)
PYPROJECT = textwrap.dedent(
    """
    [build-system]
    requires = ["setuptools>=61"]
    build-backend = "setuptools.build_meta"

    [project]
    name = "echo-noop3"
    version = "1.0.0"

    [project.entry-points."echo_orchestrator.graphs"]
    noop3 = "echo_noop3:noop3"

    [tool.setuptools]
    packages = ["echo_noop3"]
    """
)
BARE_APP = textwrap.dedent(
    """
    import sys
    from litestar import Litestar, MediaType, Response, get

    BODIES = {name: open(path, "rb").read() for name, path in (a.split("=", 1) for a in sys.argv[2:])}

    @get("/{name:str}", media_type=MediaType.JSON)
    async def serve(name: str) -> Response[bytes]:
        return Response(BODIES[name], media_type=MediaType.JSON)

    app = Litestar([serve])

    if __name__ == "__main__":
        import uvicorn
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
    """
)
N8N_PUBLISHED = 220.0
WRK = shutil.which("wrk")


def spread(values: list[float]) -> str:
    return f"{min(values):8.1f} {statistics.median(values):8.1f} {max(values):8.1f}"


def row(name: str, values: list[float], anchor: str, anchors: list[float], *, invert: bool = False) -> None:
    """The ratio of medians, as 'ours / anchor' for rates and 'anchor / ours' for costs
    (`invert`), so that 1.0 is parity and higher is better either way."""
    top, bottom = (anchors, values) if invert else (values, anchors)
    ratio = statistics.median(top) / statistics.median(bottom) if bottom and statistics.median(bottom) else float("nan")
    print(f"{name:<44} {spread(values)}   {anchor:<34} {spread(anchors)}   ratio {ratio:5.2f}")


# -- load --------------------------------------------------------------------------------


def wrk(url: str, seconds: float, clients: int, body: dict[str, Any] | None = None) -> float:
    """Requests per second by wrk (2 threads), POSTing `body` as JSON when given."""
    assert WRK is not None
    args = [WRK, "-t2", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency"]
    script = None
    if body is not None:
        script = Path(tempfile.mkstemp(suffix=".lua")[1])
        payload = json.dumps(body).replace("\\", "\\\\").replace('"', '\\"')
        script.write_text(f'wrk.method = "POST"\nwrk.body = "{payload}"\nwrk.headers["Content-Type"] = "application/json"\n')
        args += ["-s", str(script)]
    try:
        out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    finally:
        if script is not None:
            script.unlink()
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} failed requests: {out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert found, out
    return float(found.group(1))


async def python_load(url: str, seconds: float, clients: int, body: dict[str, Any] | None = None) -> float:
    done = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as c:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                r = await (c.post(url, json=body) if body is not None else c.get(url))
                r.raise_for_status()
                done += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return done / (time.perf_counter() - began)


def load(url: str, seconds: float, clients: int, body: dict[str, Any] | None = None) -> float:
    if WRK:
        return wrk(url, seconds, clients, body)
    return asyncio.run(python_load(url, seconds, clients, body))


PROFILE_DIR: Path | None = None
PROFILE_GIL = False


def profiled(pid: int, name: str, seconds: float) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the server while a figure is measured (`--profile DIR`)."""
    if PROFILE_DIR is None:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out = PROFILE_DIR / f"{name}-{time.strftime('%H%M%S')}.txt"
    # --gil: only samples of the thread holding the GIL. Without it, threads waiting in a
    # queue with a timeout (aiosqlite's, the executors') are sampled as busy.
    only_gil = ["--gil"] if PROFILE_GIL else []
    cmd = [spy, "record", *only_gil, "--format", "raw", "--rate", "250", "-d", str(max(1, int(seconds))), "-p", str(pid), "-o", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def server_load(
    pid: int, url: str, seconds: float, clients: int, body: dict[str, Any] | None, name: str = "load", also: Sequence[int] = ()
) -> tuple[float, float]:
    """(requests per second, server CPU ms per request), the server's children and the
    processes `also` (queue workers) included."""
    processes = [psutil.Process(p) for p in (pid, *also)]
    spy = profiled(pid, name, seconds)

    def cpu() -> float:
        total = 0.0
        for p in [q for process in processes for q in (process, *process.children(recursive=True))]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                continue
        return total

    before, started = cpu(), time.perf_counter()
    rate = load(url, seconds, clients, body)
    spent = cpu() - before
    if spy is not None:
        spy.wait(30)
    return rate, 1000 * spent / max(rate * (time.perf_counter() - started), 1)


# -- anchors -----------------------------------------------------------------------------


def raw_langgraph(seconds: float, clients: int, *, checkpointer: bool, db: Path) -> float:
    """The same three-node graph run in-process by LangGraph from `clients` tasks."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    sys.path.insert(0, str(db.parent / "plugin"))
    from echo_noop3 import build  # type: ignore[import-not-found]

    async def main() -> float:
        if checkpointer:
            async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
                await saver.conn.execute("PRAGMA journal_mode=WAL")
                await saver.conn.execute("PRAGMA synchronous=NORMAL")
                return await drive(build().compile(checkpointer=saver))
        return await drive(build().compile())

    async def drive(graph: Any) -> float:
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await graph.ainvoke({"n": 0}, {"configurable": {"thread_id": uuid.uuid4().hex}})
                done += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return done / (time.perf_counter() - began)

    return asyncio.run(main())


def bare_litestar(bodies: dict[str, bytes], root: Path) -> tuple[subprocess.Popen[bytes], str]:
    app = root / "bare_app.py"
    app.write_text(BARE_APP)
    files = []
    for name, data in bodies.items():
        (root / f"{name}.json").write_bytes(data)
        files.append(f"{name}={root / f'{name}.json'}")
    port = free_port()
    process = subprocess.Popen([sys.executable, str(app), str(port), *files], cwd=root)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{url}/{next(iter(bodies))}", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    return process, url


# -- the run -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--only", choices=["runs", "reads"], default=None)
    parser.add_argument("--profile-gil", action="store_true", help="with --profile: sample only the thread holding the GIL")
    parser.add_argument("--profile", type=Path, default=None, help="write py-spy collapsed stacks of the server per figure here")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only shows the script works (the suite runs it)")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.seconds, args.clients = 1, 0.5, 2
    global PROFILE_DIR, PROFILE_GIL
    PROFILE_DIR = args.profile
    PROFILE_GIL = args.profile_gil
    if PROFILE_DIR:
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)

    root = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    plugin = root / "plugins" / "echo-noop3"
    (plugin / "echo_noop3").mkdir(parents=True)
    (plugin / "echo_noop3" / "__init__.py").write_text(PLUGIN)
    (plugin / "pyproject.toml").write_text(PYPROJECT)
    shutil.copytree(plugin, root / "anchor" / "plugin")
    storage = copy_storage(root / "storage")
    env = {"ECHO_RATE_LIMIT_PER_HOUR": "0", "ECHO_MAX_EXECUTIONS_PER_CALLER": "0", "ECHO_AUTO_CLEANUP_ENABLED": "false"}
    load_by = f"wrk ({WRK})" if WRK else "a Python client (install wrk for better figures)"
    print(f"{psutil.cpu_count()} cores; {args.clients} clients, {args.seconds:g} s x {args.rounds} rounds; load by {load_by}")
    figures: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        figures.setdefault(name, []).append(value)

    extra = ["--plugins-dir", str(root / "plugins"), "--workers", str(args.workers)]
    with running_server(storage, *extra, env=env, timeout=60) as server:
        url = server.url
        run_url = f"{url}/graphs/noop3/execute"
        assert httpx.post(run_url, json={"input": {"n": 0}}, timeout=30).json()["status"] == "completed"
        final = httpx.get(f"{url}/workflows/wf_sales_insights/final/1.0").content
        by_slug = httpx.get(f"{url}/workflows/sales-insights").content
        agent = httpx.get(f"{url}/agents/analyzer").content
        bare, bare_url = bare_litestar({"final": final, "slug": by_slug, "agent": agent}, root)
        try:
            for r in range(args.rounds):
                anchor_db = root / "anchor" / f"raw-{r}.sqlite"
                if args.only in (None, "runs"):
                    add("raw_ckpt", raw_langgraph(args.seconds, args.clients, checkpointer=True, db=anchor_db))
                    rate, cpu = server_load(server.process.pid, run_url, args.seconds, args.clients, {"input": {"n": 0}}, "sync")
                    add("http_sync", rate)
                    add("http_sync_cpu", cpu)
                    add("raw_plain", raw_langgraph(args.seconds, args.clients, checkpointer=False, db=anchor_db))
                    body = {"input": {"n": 0}, "config": {"durability": "exit"}}
                    probe = httpx.post(run_url, json=body, timeout=30)
                    if probe.status_code == 200:
                        rate, cpu = server_load(server.process.pid, run_url, args.seconds, args.clients, body, "exit")
                        add("http_exit", rate)
                        add("http_exit_cpu", cpu)
                if args.only in (None, "reads"):
                    for name, path in (
                        ("final", "/workflows/wf_sales_insights/final/1.0"),
                        ("slug", "/workflows/sales-insights"),
                        ("agent", "/agents/analyzer"),
                    ):
                        rate, cpu = server_load(bare.pid, f"{bare_url}/{name}", args.seconds, 50 if WRK else args.clients, None)
                        add(f"bare_{name}", rate)
                        add(f"bare_{name}_cpu", 1000 * cpu)
                        rate, cpu = server_load(server.process.pid, f"{url}{path}", args.seconds, 50 if WRK else args.clients, None, name)
                        add(f"read_{name}", rate)
                        add(f"read_{name}_cpu", 1000 * cpu)
        finally:
            bare.terminate()
            bare.wait(10)

    print(f"\n{'figure':<44} {'min':>8} {'median':>8} {'max':>8}   {'anchor':<34} {'min':>8} {'median':>8} {'max':>8}")
    if "http_sync" in figures:
        row("durable runs/s over HTTP (sync, 3 nodes)", figures["http_sync"], "LangGraph in-process + SqliteSaver", figures["raw_ckpt"])
        print(f"{'  server CPU ms per durable run':<44} {spread(figures['http_sync_cpu'])}")
        if "http_exit" in figures:
            row("durability=exit runs/s over HTTP", figures["http_exit"], "LangGraph in-process, no saver", figures["raw_plain"])
            row("durability=exit runs/s over HTTP", figures["http_exit"], "n8n published (1 instance, 2 vCPU)", [N8N_PUBLISHED])
            print(f"{'  server CPU ms per exit run':<44} {spread(figures['http_exit_cpu'])}")
        else:
            print("durability=exit: not supported by this server")
    for name, label in (("final", "GET final version"), ("slug", "GET workflow by slug"), ("agent", "GET agent")):
        if f"read_{name}" in figures:
            row(f"{label} req/s", figures[f"read_{name}"], "bare Litestar, same bytes", figures[f"bare_{name}"])
            # CPU per request moves less with the machine's load than requests per second.
            row("  server CPU us per request", figures[f"read_{name}_cpu"], "bare Litestar", figures[f"bare_{name}_cpu"], invert=True)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    os.chdir(REPO)
    main()
