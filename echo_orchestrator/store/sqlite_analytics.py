"""Workflow statistics and analytics in SQL over the runtime database's indexed columns:
aggregates, percentiles (window functions) and time buckets are computed by SQLite, so no
run is loaded into Python to answer them."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from echo_orchestrator.store.runtime import (
    Granularity,
    ModelUsage,
    StepRunStats,
    TimelineBucket,
    WorkflowAnalytics,
    WorkflowRunStats,
)

Rows = Callable[[str, Sequence[Any]], Awaitable[list[Any]]]

ENDED = "('completed', 'failed', 'cancelled')"
# How a bucket's key is formatted, by granularity (SQLite's strftime over epoch seconds);
# `services.analytics` formats the empty buckets the same way.
BUCKETS: dict[str, str] = {
    "hour": "strftime('%Y-%m-%dT%H:00:00Z', created_at, 'unixepoch')",
    "day": "strftime('%Y-%m-%d', created_at, 'unixepoch')",
    "week": "date(created_at, 'unixepoch', '-6 days', 'weekday 1')",  # the Monday that starts it
    "month": "strftime('%Y-%m', created_at, 'unixepoch')",
}


def _r(value: Any, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


async def workflow_stats(rows: Rows, slugs: Sequence[str] | None) -> dict[str, WorkflowRunStats]:
    where, args = "kind = 'workflow'", []
    if slugs is not None:
        if not slugs:
            return {}
        where += f" AND workflow_slug IN ({','.join('?' * len(slugs))})"
        args = list(slugs)
    found = await rows(
        "SELECT workflow_slug, COUNT(*), SUM(status = 'completed'), SUM(status = 'failed'), SUM(status = 'cancelled'),"
        " AVG(CASE WHEN status = 'completed' THEN duration_seconds END), SUM(total_tokens), SUM(cost_usd)"
        f" FROM executions WHERE {where} GROUP BY workflow_slug",
        args,
    )
    return {
        row[0]: WorkflowRunStats(
            total=row[1],
            completed=row[2] or 0,
            failed=row[3] or 0,
            cancelled=row[4] or 0,
            avg_duration_seconds=_r(row[5]),
            total_tokens=int(row[6] or 0),
            total_cost_usd=round(float(row[7] or 0.0), 8),
        )
        for row in found
        if row[0] is not None
    }


async def median_duration(rows: Rows, slug: str) -> float | None:
    found = await rows(
        "SELECT duration_seconds FROM executions WHERE workflow_slug = ? AND status = 'completed' AND duration_seconds IS NOT NULL"
        " ORDER BY duration_seconds LIMIT 1 OFFSET (SELECT (COUNT(*) - 1) / 2 FROM executions"
        " WHERE workflow_slug = ? AND status = 'completed' AND duration_seconds IS NOT NULL)",
        [slug, slug],
    )
    return _r(found[0][0]) if found else None


async def workflow_analytics(rows: Rows, slug: str, start: float, end: float, granularity: Granularity) -> WorkflowAnalytics:
    window = "workflow_slug = ? AND created_at >= ? AND created_at < ?"
    args = [slug, start, end]
    summary = (await workflow_stats_in(rows, window, args)) or WorkflowRunStats()
    return WorkflowAnalytics(
        summary=summary,
        steps=await _steps(rows, args),
        models=await _models(rows, window, args),
        timeline=await _timeline(rows, window, args, granularity),
    )


async def workflow_stats_in(rows: Rows, window: str, args: list[Any]) -> WorkflowRunStats | None:
    found = (
        await rows(
            "SELECT COUNT(*), SUM(status = 'completed'), SUM(status = 'failed'), SUM(status = 'cancelled'),"
            " AVG(CASE WHEN status = 'completed' THEN duration_seconds END), SUM(total_tokens), SUM(cost_usd),"
            " SUM(status = 'completed' AND duration_seconds IS NOT NULL)"
            f" FROM executions WHERE {window} AND status IN {ENDED}",
            args,
        )
    )[0]
    if not found[0]:
        return None
    # Nearest-rank median and p95 of the completed runs' durations: one sort by SQLite, two
    # values back.
    timed = int(found[7] or 0)
    wanted = [_rank(0.5, timed), _rank(0.95, timed)]
    picked: dict[int, float | None] = {}
    if timed:
        ranked = await rows(
            "SELECT rn, duration_seconds FROM (SELECT duration_seconds, ROW_NUMBER() OVER (ORDER BY duration_seconds) AS rn"
            f" FROM executions WHERE {window} AND status = 'completed' AND duration_seconds IS NOT NULL) WHERE rn IN (?, ?)",
            [*args, *wanted],
        )
        picked = {int(rn): _r(value) for rn, value in ranked}
    median, p95 = (picked.get(rank) if rank is not None else None for rank in wanted)
    return WorkflowRunStats(
        total=found[0],
        completed=found[1] or 0,
        failed=found[2] or 0,
        cancelled=found[3] or 0,
        avg_duration_seconds=_r(found[4]),
        median_duration_seconds=median,
        p95_duration_seconds=p95,
        total_tokens=int(found[5] or 0),
        total_cost_usd=round(float(found[6] or 0.0), 8),
    )


def _rank(fraction: float, count: int) -> int | None:
    """The nearest rank (from 1) of a percentile among `count` values."""
    return max(1, math.ceil(fraction * count - 1e-9)) if count else None


async def _nth(rows: Rows, ranked: str, args: list[Any], rank: int | None) -> float | None:
    if rank is None:
        return None
    found = await rows(f"{ranked} ORDER BY duration_seconds LIMIT 1 OFFSET ?", [*args, rank - 1])
    return _r(found[0][0]) if found else None


async def _steps(rows: Rows, args: list[Any]) -> list[StepRunStats]:
    """The ended step executions that started in the window, per step (one covering index,
    in step order: no join, no sort for the grouping); p95 per step by nearest rank."""
    window = "workflow_slug = ? AND started_at >= ? AND started_at < ?"
    found = await rows(
        "SELECT step_number, MIN(step_name), COUNT(*), AVG(CASE WHEN status = 'completed' THEN duration_seconds END),"
        " AVG(status = 'failed'), AVG(retry_count), SUM(status = 'completed' AND duration_seconds IS NOT NULL)"
        f" FROM step_executions WHERE {window} AND status IN {ENDED} GROUP BY step_number ORDER BY step_number",
        args,
    )
    steps: list[StepRunStats] = []
    for number, name, runs, avg, failure_rate, retries, timed in found:
        ranked = (
            f"SELECT duration_seconds FROM step_executions WHERE {window} AND step_number = {int(number)}"
            " AND status = 'completed' AND duration_seconds IS NOT NULL"
        )
        steps.append(
            StepRunStats(
                step_number=number,
                step_name=name,
                runs=runs,
                avg_duration=_r(avg),
                p95_duration=await _nth(rows, ranked, args, _rank(0.95, int(timed or 0))),
                failure_rate=_r(failure_rate) or 0.0,
                retry_count_avg=_r(retries) or 0.0,
            )
        )
    return steps


async def _models(rows: Rows, window: str, args: list[Any]) -> list[ModelUsage]:
    found = await rows(
        "SELECT c.provider, c.model, COUNT(*), SUM(c.total_tokens),"
        " SUM(COALESCE(c.cost_usd, 0)) FROM llm_calls c JOIN executions e ON e.execution_id = c.execution_id"
        f" WHERE {window.replace('workflow_slug', 'e.workflow_slug').replace('created_at', 'e.created_at')}"
        " GROUP BY 1, 2 ORDER BY 5 DESC, 2",
        args,
    )
    return [ModelUsage(provider=r[0], model=r[1], calls=r[2], tokens=int(r[3] or 0), cost_usd=round(float(r[4] or 0), 8)) for r in found]


async def _timeline(rows: Rows, window: str, args: list[Any], granularity: Granularity) -> list[TimelineBucket]:
    found = await rows(
        f"SELECT {BUCKETS[granularity]} AS bucket, COUNT(*), SUM(status = 'completed'), SUM(status = 'failed'),"
        " AVG(CASE WHEN status = 'completed' THEN duration_seconds END)"
        f" FROM executions WHERE {window} AND status IN {ENDED} GROUP BY bucket ORDER BY bucket",
        args,
    )
    return [TimelineBucket(bucket=r[0], executions=r[1], successes=r[2] or 0, failures=r[3] or 0, avg_duration=_r(r[4])) for r in found]
