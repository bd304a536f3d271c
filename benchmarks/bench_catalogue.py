"""Catalogue and analytics figures, each beside its anchor measured in the same run.

1. A page of `GET /workflows` (the catalogue service: index query + run statistics by SQL
   for the page) over 10,000 workflows with 10,000 runs, sorted by slug and by
   execution_count; anchor: the store's index query alone.
2. A workflow's analytics over its 10,000 runs (summary with median and p95, per-step
   figures, models, a daily timeline): target under 100 ms; anchor: loading those runs'
   records into Python, which is what SQL aggregation avoids.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_storage import generate
from echo_orchestrator.models import Execution, LLMUsage, StepExecution, utcnow
from echo_orchestrator.services.catalogue import CatalogueService
from echo_orchestrator.store.definitions.base import WorkflowQuery
from echo_orchestrator.store.definitions.files import FileDefinitionStore
from echo_orchestrator.store.runtime.sqlite import SqliteRuntimeStore

WORKFLOWS = 10_000
RUNS = 15_000  # 10,000 of them of one workflow
REPEAT = 15


async def _median_ms(call: object) -> float:
    times = []
    for _ in range(REPEAT):
        began = time.perf_counter()
        await call()  # type: ignore[operator]
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


async def _fill_runs(runtime: SqliteRuntimeStore, slugs: list[str], rng: random.Random) -> str:
    hot = slugs[0]
    now = utcnow()
    for i in range(RUNS):
        slug = hot if i % 3 else rng.choice(slugs)
        created = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 30))
        status = "completed" if rng.random() < 0.9 else "failed"
        run = Execution(execution_id=f"wfexec_{i:06d}", kind="workflow", status=status, workflow_slug=slug, created_at=created)
        run.started_at, run.completed_at = created, created + timedelta(seconds=rng.uniform(1, 120))
        run.total_tokens, run.cost_usd = 100, 0.001
        await runtime.save_execution(run)
        for number in (1, 2):
            step = StepExecution(
                step_execution_id=f"se_{i:06d}_{number}", execution_id=run.execution_id, step_number=number,
                step_name=f"step {number}", status="completed", workflow_slug=slug, started_at=created, duration_seconds=rng.uniform(0.5, 60),
            )  # fmt: skip
            await runtime.save_step(step)
        await runtime.add_llm_call(run.execution_id, None, LLMUsage(provider="echo", model="echo", total_tokens=100, cost_usd=0.001))
        if i % 1000 == 999:
            await runtime.flush()
    await runtime.flush()
    return hot


async def main() -> None:
    global WORKFLOWS, RUNS, REPEAT
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only shows the script works (the suite runs it)")
    if parser.parse_args().smoke:
        WORKFLOWS, RUNS, REPEAT = 20, 40, 2
    rng = random.Random(20261123)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "storage"
        generate(root, WORKFLOWS, rng)
        store = FileDefinitionStore(root)
        await store.open()
        runtime = SqliteRuntimeStore(root / "runtime" / "runtime.sqlite", owner="bench")
        await runtime.open()
        page = await store.list_workflows(WorkflowQuery(limit=WORKFLOWS, include_archived=True))
        hot = await _fill_runs(runtime, [row.slug for row in page.items], rng)
        catalogue = CatalogueService(store, runtime, None)  # type: ignore[arg-type]  # listing needs no workflow service
        query = WorkflowQuery(limit=50, search="report")

        anchor = await _median_ms(lambda: store.list_workflows(query))
        by_slug = await _median_ms(lambda: catalogue.list_workflows(query))
        by_count = await _median_ms(lambda: catalogue.list_workflows(query, "execution_count", True))
        print(f"catalogue page of 50 over {WORKFLOWS:,} workflows and {RUNS:,} runs (median of {REPEAT}):")
        print(f"  anchor, the index query alone:     {anchor:7.2f} ms")
        print(f"  with run statistics, by slug:      {by_slug:7.2f} ms  ({by_slug / anchor:.1f}x the anchor)")
        print(f"  sorted by execution_count (desc):  {by_count:7.2f} ms  ({by_count / anchor:.1f}x the anchor)")

        end = utcnow()
        start = end - timedelta(days=31)

        async def analytics() -> object:
            return await runtime.workflow_analytics(hot, start=start.timestamp(), end=end.timestamp(), granularity="day")

        async def load_all() -> object:
            return await runtime.list_executions(workflow_slug=hot, limit=RUNS)

        runs_of_hot = (await runtime.workflow_stats([hot]))[hot].total
        sql = await _median_ms(analytics)
        loading = await _median_ms(load_all)
        print(f"analytics of one workflow over its {runs_of_hot:,} runs, daily timeline (median of {REPEAT}):")
        print(f"  SQL aggregation:                   {sql:7.2f} ms  (target < 100 ms)")
        print(f"  anchor, loading those runs:        {loading:7.2f} ms  (SQL takes {sql / loading:.2f}x of it)")
        await runtime.close()
        await store.close()


if __name__ == "__main__":
    anyio.run(main)
