"""Health and metrics (ouroboros document, Health & Service Endpoints)."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency

from echo_orchestrator import __version__
from echo_orchestrator.api.request_context import RequestMetrics
from echo_orchestrator.api.schemas.service import (
    ExecutionCounts,
    Health,
    LiveCounts,
    McpHealth,
    PluginHealth,
    Readiness,
    ServiceHealth,
    ServiceMetrics,
    StorageHealth,
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

    @get("/health/ready", summary="Readiness for container probes: 503 until storage and the engine can serve")
    async def get_readiness(self, request: Request[Any, Any, Any]) -> Readiness:
        services = request.app.state.get("services")
        checks = {
            "started": services is not None,
            "storage_writable": services is not None and services.store.writable(),
            "engine_running": services is not None and services.executions.engine_running,
        }
        if not all(checks.values()):
            failing = ", ".join(name for name, ok in checks.items() if not ok)
            raise Unavailable(f"Not ready: {failing}", details={"checks": checks})
        return Readiness(status="ready", timestamp=utcnow_iso(), checks=checks)

    @get("/service/health", summary="Storage, plugins, MCP and engine status")
    async def get_service_health(self, services: NamedDependency[Services]) -> ServiceHealth:
        store, registry = services.store, services.registry
        problems = store.problems()
        writable = store.writable()
        storage_status = "unwritable" if not writable else "degraded" if problems else "ok"
        snapshot = registry.snapshot
        mcp_servers = await services.hub.servers()
        return ServiceHealth(
            status="healthy" if storage_status == "ok" and not snapshot.problems else "degraded",
            version=__version__,
            storage=StorageHealth(
                status=storage_status,
                root=services.settings.storage_dir.as_posix(),
                writable=writable,
                following_changes=store.is_following,
                counts=store.counts(),
                problems=[_scrubbed(p) for p in problems],
            ),
            plugins=PluginHealth(
                status="degraded" if snapshot.problems else "ok",
                plugins_dir=None if services.settings.plugins_dir is None else services.settings.plugins_dir.as_posix(),
                following_changes=registry.following,
                graphs=sorted(snapshot.graphs),
                tools=sorted(snapshot.tools),
                llm_providers=sorted(snapshot.providers),
                mcp_servers=sorted(snapshot.mcp_servers),
                problems=[_scrubbed(p) for p in snapshot.problems],
            ),
            mcp=McpHealth(
                servers=len(mcp_servers),
                available=sum(1 for s in mcp_servers if s.status == "available"),
                unavailable=[s.name for s in mcp_servers if s.enabled and s.status != "available"],
            ),
            services={
                "definition_store": "running",
                "storage_watcher": "running" if store.is_following else "off",
                "plugin_watcher": "running" if registry.following else "off",
                "mcp_hub": "running",
            },
            uptime=round(services.uptime_seconds, 3),
            timestamp=utcnow_iso(),
        )

    @get("/service/metrics", summary="Request counts, executions and resource usage")
    async def get_service_metrics(
        self, services: NamedDependency[Services], request_metrics: NamedDependency[RequestMetrics]
    ) -> ServiceMetrics:
        return ServiceMetrics(
            requests=request_metrics.snapshot(),
            executions=ExecutionCounts(**msgspec.structs.asdict(await services.executions.stats())),
            live=LiveCounts(subscriptions=services.events.subscribers_total(), dropped=services.events.dropped),
            resources=services.resources.sample(),
            uptime=round(services.uptime_seconds, 3),
            timestamp=utcnow_iso(),
        )
