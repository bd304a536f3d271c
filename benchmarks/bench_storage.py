"""Storage at scale: N workflow files -> start-up time, RSS, filtered page latency.

Targets (issue #2): start-up under 3 s, RSS under 200 MB, a filtered page under 10 ms.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from echo_orchestrator.models import Connection, InputField, Step, StrategyDefinition, Workflow
from echo_orchestrator.store.definitions import codec
from echo_orchestrator.store.definitions.base import WorkflowQuery
from echo_orchestrator.store.definitions.files import FileDefinitionStore
from echo_orchestrator.store.definitions.layout import Layout
from tests.helpers.server import running_server

CATEGORIES = ["business", "research", "education", "creative", "technical", "custom"]
TAGS = ["analysis", "sales", "planning", "research", "writing", "finance", "marketing", "support", "ops", "legal"]
WORDS = [
    "market",
    "plan",
    "report",
    "analyze",
    "customer",
    "revenue",
    "churn",
    "forecast",
    "brief",
    "outline",
    "summary",
    "review",
    "draft",
]


def generate(root: Path, count: int, rng: random.Random) -> None:
    layout = Layout(root)
    layout.ensure()
    for i in range(count):
        words = rng.sample(WORDS, 4)
        wf = Workflow(
            workflow_id=f"wf_{i:06d}",
            slug=f"{words[0]}-{words[1]}-{i}",
            name=" ".join(w.title() for w in words[:3]),
            description=f"Workflow {i}: {' '.join(words)} for team {i % 37}",
            category=rng.choice(CATEGORIES),  # type: ignore[arg-type]
            tags=rng.sample(TAGS, 3),
            status="final" if i % 3 else "draft",
            version="1.0" if i % 3 else "0.1",
            agents=["analyzer", "synthesizer"],
            connections=[Connection(from_="analyzer", to="synthesizer")],
            strategy_definition=StrategyDefinition(
                steps=[
                    Step(step_number=1, name="Analyze", agent_id="analyzer"),
                    Step(step_number=2, name="Synthesize", agent_id="synthesizer", dependencies=[1]),
                ]
            ),
            input_fields=[InputField(name="input_data", required=True)],
            metadata={"created_at": "2026-11-01T00:00:00Z"},
        )
        path = layout.final_path(wf.workflow_id, wf.version) if i % 3 else layout.draft_path(wf.workflow_id)
        path.write_bytes(codec.encode(wf))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def store_figures(root: Path, rng: random.Random) -> None:
    started = time.perf_counter()
    store = FileDefinitionStore(root)
    await store.open()
    gc.freeze()  # as the service does after opening its store
    print(f"store open (scan + decode + index): {(time.perf_counter() - started) * 1000:.0f} ms, {store.counts()}")
    queries = []
    for _ in range(300):
        queries.append(
            WorkflowQuery(
                category=rng.choice([None, *CATEGORIES]),
                tags=rng.sample(TAGS, rng.choice([0, 1, 2])),
                search=rng.choice([None, "market", "team 3", "forecast"]),
                status=rng.choice([None, "active", "draft"]),
                limit=50,
                offset=rng.choice([0, 50, 200]),
            )
        )
    await store.list_workflows(WorkflowQuery())  # first query sorts the catalogue once
    timings = []
    totals = []
    for query in queries:
        t0 = time.perf_counter()
        page = await store.list_workflows(query)
        timings.append((time.perf_counter() - t0) * 1000)
        totals.append(page.total)
    print(
        f"filtered, paginated page ({len(queries)} random queries, matches {min(totals)}..{max(totals)}): "
        f"p50 {statistics.median(timings):.2f} ms, p95 {percentile(timings, 0.95):.2f} ms, max {max(timings):.2f} ms"
    )
    # A change invalidates the sorted catalogue: the first query after it pays for the re-sort.
    after_write = []
    for i in range(50):
        await store.save_draft(Workflow(workflow_id=f"wf_new_{i}", slug=f"new-{i}", category="business"))
        t0 = time.perf_counter()
        await store.list_workflows(WorkflowQuery(category="business", limit=50))
        after_write.append((time.perf_counter() - t0) * 1000)
    print(f"page right after a write (50 writes): p50 {statistics.median(after_write):.2f} ms, max {max(after_write):.2f} ms")
    await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workflows", type=int, default=10_000)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only shows the script works (the suite runs it)")
    args = parser.parse_args()
    if args.smoke:
        args.workflows = 30
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "storage"
        t0 = time.perf_counter()
        generate(root, args.workflows, rng)
        print(f"generated {args.workflows} workflow files in {time.perf_counter() - t0:.1f} s")

        with running_server(root, timeout=60) as server:
            rss = psutil.Process(server.process.pid).memory_info().rss / 2**20
            health = httpx.get(f"{server.url}/service/health").json()
            print(f"server start-up to first /health: {server.ready_after:.2f} s")
            print(f"server RSS after start-up: {rss:.0f} MB ({health['storage']['counts']})")
            with httpx.Client(base_url=server.url) as client:
                t0 = time.perf_counter()
                for _ in range(500):
                    client.get("/health")
                print(f"GET /health, 500 sequential requests on one connection: {(time.perf_counter() - t0) / 500 * 1000:.2f} ms each")

        anyio.run(store_figures, root, rng)


if __name__ == "__main__":
    main()
