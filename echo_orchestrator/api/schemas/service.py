"""Bodies of the service endpoints: /health, /service/health, /service/metrics."""

from __future__ import annotations

import msgspec

from echo_orchestrator.api.request_context import RequestCounts
from echo_orchestrator.store import Problem, StoreCounts
from echo_orchestrator.system import ResourceUsage


class Health(msgspec.Struct, kw_only=True):
    status: str
    timestamp: str


class StorageHealth(msgspec.Struct, kw_only=True):
    status: str  # "ok" | "degraded" | "unwritable"
    root: str
    writable: bool
    following_changes: bool
    counts: StoreCounts
    problems: list[Problem]


class ServiceHealth(msgspec.Struct, kw_only=True):
    status: str  # "healthy" | "degraded"
    version: str
    storage: StorageHealth
    services: dict[str, str]
    uptime: float
    timestamp: str


class ExecutionCounts(msgspec.Struct, kw_only=True):
    active: int
    completed_today: int
    failed_today: int
    avg_duration_seconds: float | None


class ServiceMetrics(msgspec.Struct, kw_only=True):
    requests: RequestCounts
    executions: ExecutionCounts
    resources: ResourceUsage
    uptime: float
    timestamp: str
