"""Health and metrics (ouroboros document, Health & Service Endpoints)."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency

from echo_orchestrator import metrics
from echo_orchestrator.api.request_context import RequestMetrics
from echo_orchestrator.api.schemas.service import (
    ExecutionCounts,
    Health,
    Readiness,
    ServiceHealth,
    ServiceMetrics,
)
from echo_orchestrator.container import Services
from echo_orchestrator.errors import Unavailable
from echo_orchestrator.models import utcnow_iso
from echo_orchestrator.security.redaction import SECRETS

T = TypeVar("T")


def _scrubbed(problem: T) -> T:
    """A problem as callers see it: error texts quote files and values, so paths are shown
    as configured and secrets masked."""
    return msgspec.convert(SECRETS.scrub_data(msgspec.to_builtins(problem)), type(problem))


class ServiceController(Controller):
    tags = ["service"]

    @get("/health", summary="Liveness check")
    async def get_health(self) -> Health:
        return Health(status="healthy", timestamp=utcnow_iso())

    @get("/health/ready", summary="Readiness for container probes: 503 until storage, the engine and the runtime database can serve")
    async def get_readiness(self, request: Request[Any, Any, Any]) -> Readiness:
        services = request.app.state.get("services")
        checks = (
            await services.health.readiness()
            if services is not None
            else dict.fromkeys(("started", "storage_writable", "engine_running", "runtime_database"), False)
        )
        if not all(checks.values()):
            failing = ", ".join(name for name, ok in checks.items() if not ok)
            raise Unavailable(f"Not ready: {failing}", details={"checks": checks})
        return Readiness(status="ready", timestamp=utcnow_iso(), checks=checks)

    @get("/service/health", summary="Storage, plugins, MCP and engine status")
    async def get_service_health(self, services: NamedDependency[Services]) -> ServiceHealth:
        return await services.health.report()

    @get("/service/metrics", summary="Request counts, executions and resource usage")
    async def get_service_metrics(
        self, services: NamedDependency[Services], request_metrics: NamedDependency[RequestMetrics]
    ) -> ServiceMetrics:
        health = services.health
        return ServiceMetrics(
            requests=request_metrics.snapshot(),
            executions=ExecutionCounts(**msgspec.structs.asdict(await health.execution_stats())),
            live=health.live(),
            resources=health.resources(),
            uptime=health.uptime_seconds,
            timestamp=utcnow_iso(),
        )

    @get("/metrics", summary="Prometheus metrics (text exposition format; docs/observability.md)", media_type=metrics.CONTENT_TYPE)
    async def get_prometheus_metrics(self) -> Response[bytes]:
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)
