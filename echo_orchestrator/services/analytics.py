"""A workflow's analytics (ouroboros document, GET /workflows/{workflow_slug}/analytics):
figures from its real runs, computed by the runtime store in SQL, shaped as the document
shows them, with a timeline that has every bucket of the range (empty ones too)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import get_args

import msgspec

from echo_orchestrator.errors import Invalid
from echo_orchestrator.models import rfc3339
from echo_orchestrator.store.definitions.base import DefinitionStore
from echo_orchestrator.store.runtime.base import Granularity, ModelUsage, RuntimeStore, StepRunStats, TimelineBucket

DEFAULT_RANGE = timedelta(days=30)
MAX_BUCKETS = 2000  # a year by day, three months by hour; finer than that is refused (422)


class TimeRange(msgspec.Struct, kw_only=True):
    start: str
    end: str


class AnalyticsSummary(msgspec.Struct, kw_only=True):
    total_executions: int
    successful_executions: int
    failed_executions: int
    cancelled_executions: int
    avg_duration_seconds: float | None
    median_duration_seconds: float | None
    p95_duration_seconds: float | None
    success_rate: float | None
    total_tokens: int
    total_cost_usd: float


class CostBreakdown(msgspec.Struct, kw_only=True):
    total_cost_usd: float
    total_tokens: int
    llm_costs: dict[str, float]  # by model, as the document shows it
    by_provider: dict[str, float]
    tokens_by_model: dict[str, int]


class TimelinePoint(msgspec.Struct, kw_only=True):
    date: str
    executions: int
    successes: int
    failures: int
    avg_duration: float | None


class WorkflowAnalyticsView(msgspec.Struct, kw_only=True):
    workflow_slug: str
    granularity: str
    time_range: TimeRange
    summary: AnalyticsSummary
    step_analytics: list[StepRunStats]
    cost_breakdown: CostBreakdown
    timeline: list[TimelinePoint]


def parse_moment(value: str | None, field: str) -> datetime | None:
    """A query's date or date-time (`2026-12-01`, `2026-12-01T10:00:00Z`; without a zone:
    UTC), the same for every route that takes one; None when absent."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid.at(field, "an ISO 8601 date or date-time", f"{field}: {value[:40]!r} is not an ISO 8601 date") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _floor(moment: datetime, granularity: Granularity) -> datetime:
    moment = moment.astimezone(UTC)
    if granularity == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "day":
        return day
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next(moment: datetime, granularity: Granularity) -> datetime:
    if granularity == "hour":
        return moment + timedelta(hours=1)
    if granularity == "day":
        return moment + timedelta(days=1)
    if granularity == "week":
        return moment + timedelta(days=7)
    return (moment.replace(day=28) + timedelta(days=4)).replace(day=1)


def bucket_key(moment: datetime, granularity: Granularity) -> str:
    """As the runtime backends format the same bucket (`store.runtime.analytics`)."""
    if granularity == "hour":
        return moment.strftime("%Y-%m-%dT%H:00:00Z")
    if granularity == "month":
        return moment.strftime("%Y-%m")
    return moment.strftime("%Y-%m-%d")


def buckets(start: datetime, end: datetime, granularity: Granularity) -> list[str]:
    keys: list[str] = []
    moment = _floor(start, granularity)
    while moment < end:
        keys.append(bucket_key(moment, granularity))
        if len(keys) > MAX_BUCKETS:
            raise Invalid.at(
                "granularity",
                f"at most {MAX_BUCKETS} buckets",
                f"{granularity} buckets over this range are more than {MAX_BUCKETS}: choose a coarser granularity",
            )
        moment = _next(moment, granularity)
    return keys


class AnalyticsService:
    def __init__(self, store: DefinitionStore, runtime: RuntimeStore) -> None:
        self._store, self._runtime = store, runtime

    async def workflow(
        self, ref: str, *, start_date: str | None = None, end_date: str | None = None, granularity: str = "day"
    ) -> WorkflowAnalyticsView:
        if granularity not in get_args(Granularity):
            raise Invalid.at(
                "granularity", "hour, day, week or month", f"granularity must be hour, day, week or month, not {granularity[:20]!r}"
            )
        grain: Granularity = granularity  # type: ignore[assignment]
        end = parse_moment(end_date, "end_date") or datetime.now(UTC)
        start = parse_moment(start_date, "start_date") or end - DEFAULT_RANGE
        if start >= end:
            raise Invalid.at("start_date", "before end_date", "start_date must be before end_date")
        keys = buckets(start, end, grain)
        summary_row = await self._store.get_summary(ref)
        found = await self._runtime.workflow_analytics(summary_row.slug, start=start.timestamp(), end=end.timestamp(), granularity=grain)
        return WorkflowAnalyticsView(
            workflow_slug=summary_row.slug,
            granularity=grain,
            time_range=TimeRange(start=rfc3339(start), end=rfc3339(end)),
            summary=AnalyticsSummary(
                total_executions=found.summary.ended,
                successful_executions=found.summary.completed,
                failed_executions=found.summary.failed,
                cancelled_executions=found.summary.cancelled,
                avg_duration_seconds=found.summary.avg_duration_seconds,
                median_duration_seconds=found.summary.median_duration_seconds,
                p95_duration_seconds=found.summary.p95_duration_seconds,
                success_rate=found.summary.success_rate,
                total_tokens=found.summary.total_tokens,
                total_cost_usd=found.summary.total_cost_usd,
            ),
            step_analytics=found.steps,
            cost_breakdown=_costs(found.models, found.summary.total_cost_usd, found.summary.total_tokens),
            timeline=_timeline(keys, found.timeline),
        )


def _costs(models: list[ModelUsage], total_cost: float, total_tokens: int) -> CostBreakdown:
    by_model: dict[str, float] = {}
    by_provider: dict[str, float] = {}
    tokens: dict[str, int] = {}
    for usage in models:
        by_model[usage.model] = round(by_model.get(usage.model, 0.0) + usage.cost_usd, 8)
        by_provider[usage.provider] = round(by_provider.get(usage.provider, 0.0) + usage.cost_usd, 8)
        tokens[usage.model] = tokens.get(usage.model, 0) + usage.tokens
    return CostBreakdown(
        total_cost_usd=total_cost, total_tokens=total_tokens, llm_costs=by_model, by_provider=by_provider, tokens_by_model=tokens
    )


def _timeline(keys: list[str], found: list[TimelineBucket]) -> list[TimelinePoint]:
    by_key = {b.bucket: b for b in found}
    return [
        TimelinePoint(date=k, executions=b.executions, successes=b.successes, failures=b.failures, avg_duration=b.avg_duration)
        if (b := by_key.get(k)) is not None
        else TimelinePoint(date=k, executions=0, successes=0, failures=0, avg_duration=None)
        for k in keys
    ]
