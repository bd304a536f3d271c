"""Workflow statistics and analytics in SQL over the runtime database's indexed columns:
aggregates, percentiles (window functions) and time buckets are computed by the database,
so no run is loaded into Python to answer them. The SQL is shared by SQLite and PostgreSQL
(conditions counted with CASE, `?` placeholders the PostgreSQL backend translates); only
the time buckets differ, given by each backend (`Buckets`)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from echo_orchestrator.store.runtime.base import Granularity, ModelUsage, StepRunStats, TimelineBucket, WorkflowAnalytics, WorkflowRunStats

Rows = Callable[[str, Sequence[Any]], Awaitable[list[Any]]]
# The SQL of a time bucket's key over `created_at` (epoch seconds), by granularity; every
# backend formats them as `services.analytics` formats the empty buckets.
Buckets = dict[str, str]

ENDED = "('completed', 'failed', 'cancelled')"
SQLITE_BUCKETS: Buckets = {
    "hour": "strftime('%Y-%m-%dT%H:00:00Z', created_at, 'unixepoch')",
    "day": "strftime('%Y-%m-%d', created_at, 'unixepoch')",
    "week": "date(created_at, 'unixepoch', '-6 days', 'weekday 1')",  # the Monday that starts it
    "month": "strftime('%Y-%m', created_at, 'unixepoch')",
}
_UTC = "(to_timestamp(created_at) AT TIME ZONE 'UTC')"
POSTGRES_BUCKETS: Buckets = {
    "hour": f"""to_char({_UTC}, 'YYYY-MM-DD"T"HH24:00:00"Z"')""",
    "day": f"to_char({_UTC}, 'YYYY-MM-DD')",
    "week": f"to_char(date_trunc('week', {_UTC}), 'YYYY-MM-DD')",  # ISO weeks start on Monday
    "month": f"to_char({_UTC}, 'YYYY-MM')",
}


def count_if(condition: str) -> str:
    """How many rows meet the condition (portable: a boolean is not a number in PostgreSQL)."""
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def share_if(condition: str) -> str:
    """The fraction of rows that meet the condition."""
    return f"AVG(CASE WHEN {condition} THEN 1.0 ELSE 0.0 END)"


COMPLETED = count_if("status = 'completed'")
FAILED = count_if("status = 'failed'")
CANCELLED = count_if("status = 'cancelled'")
TIMED = count_if("status = 'completed' AND duration_seconds IS NOT NULL")  # completed with a duration
FAILURE_RATE = share_if("status = 'failed'")


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
        f"SELECT workflow_slug, COUNT(*), {COMPLETED}, {FAILED},"
        f" {CANCELLED}, AVG(CASE WHEN status = 'completed' THEN duration_seconds END),"
        f" SUM(total_tokens), SUM(cost_usd) FROM executions WHERE {where} GROUP BY workflow_slug",
        args,
    )
    return {
        row[0]: WorkflowRunStats(
            total=int(row[1]),
            completed=int(row[2] or 0),
            failed=int(row[3] or 0),
            cancelled=int(row[4] or 0),
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


async def workflow_analytics(
    rows: Rows, slug: str, start: float, end: float, granularity: Granularity, buckets: Buckets
) -> WorkflowAnalytics:
    window = "workflow_slug = ? AND created_at >= ? AND created_at < ?"
    args = [slug, start, end]
    summary = (await workflow_stats_in(rows, window, args)) or WorkflowRunStats()
    return WorkflowAnalytics(
        summary=summary,
        steps=await _steps(rows, args),
        models=await _models(rows, window, args),
        timeline=await _timeline(rows, window, args, buckets[granularity]),
    )


async def workflow_stats_in(rows: Rows, window: str, args: list[Any]) -> WorkflowRunStats | None:
    found = (
        await rows(
            f"SELECT COUNT(*), {COMPLETED}, {FAILED},"
            f" {CANCELLED}, AVG(CASE WHEN status = 'completed' THEN duration_seconds END),"
            f" SUM(total_tokens), SUM(cost_usd), {TIMED}"
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
            f" FROM executions WHERE {window} AND status = 'completed' AND duration_seconds IS NOT NULL) AS ranked WHERE rn IN (?, ?)",
            [*args, *wanted],
        )
        picked = {int(rn): _r(value) for rn, value in ranked}
    median, p95 = (picked.get(rank) if rank is not None else None for rank in wanted)
    return WorkflowRunStats(
        total=int(found[0]),
        completed=int(found[1] or 0),
        failed=int(found[2] or 0),
        cancelled=int(found[3] or 0),
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
        f" {FAILURE_RATE}, AVG(retry_count), {TIMED}"
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
                step_number=int(number),
                step_name=name,
                runs=int(runs),
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
    return [
        ModelUsage(provider=r[0], model=r[1], calls=int(r[2]), tokens=int(r[3] or 0), cost_usd=round(float(r[4] or 0), 8)) for r in found
    ]


async def _timeline(rows: Rows, window: str, args: list[Any], bucket: str) -> list[TimelineBucket]:
    found = await rows(
        f"SELECT {bucket} AS bucket, COUNT(*), {COMPLETED}, {FAILED},"
        " AVG(CASE WHEN status = 'completed' THEN duration_seconds END)"
        f" FROM executions WHERE {window} AND status IN {ENDED} GROUP BY bucket ORDER BY bucket",
        args,
    )
    return [
        TimelineBucket(bucket=r[0], executions=int(r[1]), successes=int(r[2] or 0), failures=int(r[3] or 0), avg_duration=_r(r[4]))
        for r in found
    ]
