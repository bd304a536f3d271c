"""Bodies of the service endpoints: /health, /service/health, /service/metrics."""

from __future__ import annotations

import msgspec

from echo_orchestrator.api.request_context import RequestCounts
from echo_orchestrator.services.health import LiveCounts, McpHealth, PluginHealth, ServiceHealth, StorageHealth
from echo_orchestrator.system import ResourceUsage

__all__ = ["LiveCounts", "McpHealth", "PluginHealth", "ServiceHealth", "StorageHealth"]  # the health service's answers


class Health(msgspec.Struct, kw_only=True):
    status: str
    timestamp: str


class Readiness(msgspec.Struct, kw_only=True):
    status: str
    timestamp: str
    checks: dict[str, bool]


class ExecutionCounts(msgspec.Struct, kw_only=True):
    active: int
    completed_today: int
    failed_today: int
    avg_duration_seconds: float | None


class ServiceMetrics(msgspec.Struct, kw_only=True):
    requests: RequestCounts
    executions: ExecutionCounts
    live: LiveCounts
    resources: ResourceUsage
    uptime: float
    timestamp: str
