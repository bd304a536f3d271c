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
            " AVG(CASE WHEN status = 'completed' THEN duration_seconds END), SUM(total_tokens), SUM(cost_usd)"
            f" FROM executions WHERE {window} AND status IN {ENDED}",
            args,
        )
    )[0]
    if not found[0]:
        return None
    # Nearest-rank median and p95 of the completed runs' durations, by window functions.
    ranks = await rows(
        "SELECT duration_seconds, ROW_NUMBER() OVER (ORDER BY duration_seconds), COUNT(*) OVER ()"
        f" FROM executions WHERE {window} AND status = 'completed' AND duration_seconds IS NOT NULL",
        args,
    )
    return WorkflowRunStats(
        total=found[0],
        completed=found[1] or 0,
        failed=found[2] or 0,
        cancelled=found[3] or 0,
        avg_duration_seconds=_r(found[4]),
        median_duration_seconds=_percentile(ranks, 0.5),
        p95_duration_seconds=_percentile(ranks, 0.95),
        total_tokens=int(found[5] or 0),
        total_cost_usd=round(float(found[6] or 0.0), 8),
    )


def _percentile(ranked: list[Any], fraction: float) -> float | None:
    """Nearest rank over rows of (value, rank from 1, count)."""
    if not ranked:
        return None
    count = ranked[0][2]
    wanted = max(1, math.ceil(fraction * count - 1e-9))
    return next((_r(value) for value, rank, _ in ranked if rank == wanted), None)


async def _steps(rows: Rows, args: list[Any]) -> list[StepRunStats]:
    # Step executions of the runs in the window, ended ones only.
    found = await rows(
        "WITH s AS (SELECT st.step_number, st.step_name, st.status, st.duration_seconds, st.retry_count"
        " FROM step_executions st JOIN executions e ON e.execution_id = st.execution_id"
        " WHERE e.workflow_slug = ? AND e.created_at >= ? AND e.created_at < ? AND st.status IN ('completed', 'failed', 'cancelled')),"
        " ranked AS (SELECT step_number, duration_seconds,"
        " ROW_NUMBER() OVER (PARTITION BY step_number ORDER BY duration_seconds) AS rn, COUNT(*) OVER (PARTITION BY step_number) AS n"
        " FROM s WHERE status = 'completed' AND duration_seconds IS NOT NULL)"
        " SELECT s.step_number, MIN(s.step_name), COUNT(*), AVG(CASE WHEN s.status = 'completed' THEN s.duration_seconds END),"
        " AVG(s.status = 'failed'), AVG(s.retry_count),"
        " (SELECT r.duration_seconds FROM ranked r WHERE r.step_number = s.step_number"
        "  AND r.rn = MAX(1, CAST(ROUND(r.n * 0.95 + 0.4999999) AS INTEGER)))"
        " FROM s GROUP BY s.step_number ORDER BY s.step_number",
        args,
    )
    return [
        StepRunStats(
            step_number=row[0],
            step_name=row[1],
            runs=row[2],
            avg_duration=_r(row[3]),
            p95_duration=_r(row[6]),
            failure_rate=_r(row[4]) or 0.0,
            retry_count_avg=_r(row[5]) or 0.0,
        )
        for row in found
    ]


async def _models(rows: Rows, window: str, args: list[Any]) -> list[ModelUsage]:
    found = await rows(
        "SELECT COALESCE(json_extract(CAST(c.doc AS TEXT), '$.provider'), ''), c.model, COUNT(*), SUM(c.total_tokens),"
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
