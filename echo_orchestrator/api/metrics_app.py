"""The HTTP face of a `worker` process (`worker --metrics-port`): `GET /metrics` for its
Prometheus figures (the runs, steps, LLM calls and tool calls are counted where they run) and
`GET /health` for a container probe; nothing else.

The same security middleware as the API: its keys and tokens, Host rule, rate limit and
`ECHO_METRICS_PUBLIC`, and the same error body, so this listener opens no door the API keeps
shut.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Response, get

from echo_orchestrator import metrics
from echo_orchestrator.api.error_handling import EXCEPTION_HANDLERS
from echo_orchestrator.api.gate import middleware
from echo_orchestrator.api.security import SecurityPolicy
from echo_orchestrator.settings import Settings


@get("/metrics", media_type=metrics.CONTENT_TYPE, include_in_schema=False)
async def worker_metrics() -> Response[bytes]:
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


@get("/health", include_in_schema=False)
async def worker_health() -> dict[str, str]:
    return {"status": "healthy", "role": "worker"}


def create_metrics_app(settings: Settings) -> Litestar:
    policy = SecurityPolicy.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await policy.counters.open()
        try:
            yield
        finally:
            await policy.counters.close()

    return Litestar(
        route_handlers=[worker_metrics, worker_health],
        middleware=middleware(policy),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        openapi_config=None,
        logging_config=None,
    )


def metrics_app_factory() -> Litestar:
    """Entry point for uvicorn (`factory=True`): settings from the ECHO_* environment."""
    return create_metrics_app(Settings.from_env())
