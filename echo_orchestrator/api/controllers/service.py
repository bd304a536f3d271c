"""Health and metrics (ouroboros document, Health & Service Endpoints)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from echo_orchestrator import __version__
from echo_orchestrator.api.request_context import RequestMetrics
from echo_orchestrator.api.schemas.service import (
    ExecutionCounts,
    Health,
    ServiceHealth,
    ServiceMetrics,
    StorageHealth,
)
from echo_orchestrator.container import Services
from echo_orchestrator.models import utcnow_iso


class ServiceController(Controller):
    tags = ["service"]

    @get("/health", summary="Liveness check")
    async def health(self) -> Health:
        return Health(status="healthy", timestamp=utcnow_iso())

    @get("/service/health", summary="Storage, plugins and engine status")
    async def service_health(self, services: NamedDependency[Services]) -> ServiceHealth:
        store = services.store
        problems = store.problems()
        writable = store.writable()
        storage_status = "unwritable" if not writable else "degraded" if problems else "ok"
        return ServiceHealth(
            status="healthy" if storage_status == "ok" else "degraded",
            version=__version__,
            storage=StorageHealth(
                status=storage_status,
                root=store.location,
                writable=writable,
                following_changes=store.is_following,
                counts=store.counts(),
                problems=problems,
            ),
            services={"definition_store": "running", "storage_watcher": "running" if store.is_following else "off"},
            uptime=round(services.uptime_seconds, 3),
            timestamp=utcnow_iso(),
        )

    @get("/service/metrics", summary="Request counts, executions and resource usage")
    async def service_metrics(
        self, services: NamedDependency[Services], request_metrics: NamedDependency[RequestMetrics]
    ) -> ServiceMetrics:
        return ServiceMetrics(
            requests=request_metrics.snapshot(),
            # No execution engine is wired in yet, so there are truly none to count.
            executions=ExecutionCounts(active=0, completed_today=0, failed_today=0, avg_duration_seconds=None),
            resources=services.resources.sample(),
            uptime=round(services.uptime_seconds, 3),
            timestamp=utcnow_iso(),
        )
