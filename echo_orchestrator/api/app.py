"""The Litestar application: routes, the error mapping, docs, and the services' lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.types import Scope

from echo_orchestrator import stopping
from echo_orchestrator.api.console import console_routers
from echo_orchestrator.api.controllers.agents import AgentController
from echo_orchestrator.api.controllers.catalogue import CatalogueController
from echo_orchestrator.api.controllers.executions import ExecutionController
from echo_orchestrator.api.controllers.graphs import GraphController
from echo_orchestrator.api.controllers.mcp import McpController
from echo_orchestrator.api.controllers.service import ServiceController
from echo_orchestrator.api.controllers.steps import StepController
from echo_orchestrator.api.controllers.triggers import TriggerController
from echo_orchestrator.api.controllers.workflows import WorkflowLifecycleController
from echo_orchestrator.api.controllers.workspaces import WorkspaceController
from echo_orchestrator.api.docs import assets_router, document_errors, openapi_config, restore_optional_constraints
from echo_orchestrator.api.error_handling import EXCEPTION_HANDLERS
from echo_orchestrator.api.gate import middleware
from echo_orchestrator.api.mcp_endpoint import McpEndpoint
from echo_orchestrator.api.request_context import RequestMetrics, make_before_send
from echo_orchestrator.api.requests import EchoRequest
from echo_orchestrator.api.security import SecurityPolicy, caller_of
from echo_orchestrator.api.socketio import SocketIOBridge
from echo_orchestrator.api.streaming import StreamController, ws_execution, ws_executions
from echo_orchestrator.container import Services, open_services
from echo_orchestrator.security.callers import Caller
from echo_orchestrator.security.network import requests_per_hour
from echo_orchestrator.security.redaction import install_log_filter
from echo_orchestrator.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    request_metrics = RequestMetrics()
    policy = SecurityPolicy.from_settings(settings)
    socket_io = SocketIOBridge(policy)
    mcp = McpEndpoint()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        install_log_filter()  # the handlers exist by now (uvicorn's and the CLI's)
        # uvicorn's handlers are installed by now: a second signal exits at once, and a stop
        # ends by the deadline whatever it waits for (HTTP requests, runs' grace, closes).
        stopping.chain_signals(stopping.HTTP_GRACE_SECONDS + settings.stop_grace_seconds + stopping.STOP_MARGIN_SECONDS)
        document_errors(app.openapi_schema)  # built once, before the first request reads it
        restore_optional_constraints(app.openapi_schema)
        await policy.counters.open()
        try:
            async with open_services(settings) as services, anyio.create_task_group() as live_tasks:
                app.state.services = services
                _log_limits(settings)
                socket_io.attach(services, live_tasks)
                try:
                    async with mcp.serving(services):
                        yield
                finally:
                    live_tasks.cancel_scope.cancel()  # Socket.IO forwarders: their clients are gone
        finally:
            await stopping.closing("the rate-limit counters", policy.counters.close, 2.0)
            stopping.wind_up()

    def provide_services() -> Services:
        return app.state.services  # type: ignore[no-any-return]

    def provide_request_metrics() -> RequestMetrics:
        return request_metrics

    def provide_caller(scope: Scope) -> Caller:
        return caller_of(scope)

    def provide_policy() -> SecurityPolicy:
        return policy

    app = Litestar(
        route_handlers=[
            ServiceController,
            GraphController,
            McpController,
            AgentController,
            WorkflowLifecycleController,
            CatalogueController,
            ExecutionController,
            StepController,
            WorkspaceController,
            TriggerController,
            StreamController,
            ws_executions,
            ws_execution,
            socket_io.route(),
            mcp.route(),
            assets_router(),
            *console_routers(),  # the console's page and files (docs/console.md)
        ],
        dependencies={
            "services": Provide(provide_services, sync_to_thread=False),
            "request_metrics": Provide(provide_request_metrics, sync_to_thread=False),
            "caller": Provide(provide_caller, sync_to_thread=False),
            "policy": Provide(provide_policy, sync_to_thread=False),
        },
        middleware=middleware(policy),
        cors_config=_cors(settings),
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[make_before_send(request_metrics, access_log=settings.log_format == "json")],
        openapi_config=openapi_config(authenticated=policy.authenticator.required),
        request_max_body_size=settings.max_body_bytes,
        request_class=EchoRequest,
        state=State({"max_json_depth": settings.max_json_depth}),
        logging_config=None,
    )
    return app


def _log_limits(settings: Settings) -> None:
    """Say at start-up which limits apply, so nobody learns it from a 429."""
    hourly = requests_per_hour(settings)
    if hourly:
        log.info("limits: %d requests per caller per hour (ECHO_RATE_LIMIT_PER_HOUR; 0 turns it off)", hourly)
    else:
        why = "a private local server" if settings.rate_limit_per_hour is None else "ECHO_RATE_LIMIT_PER_HOUR=0"
        log.info("limits: no per-hour request limit (%s; ECHO_RATE_LIMIT_PER_HOUR sets one)", why)


def _cors(settings: Settings) -> CORSConfig | None:
    """Browsers on the allowed origins may call the API (off unless ECHO_ALLOWED_ORIGINS is set)."""
    if not settings.allowed_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.allowed_origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=[
            "Authorization",
            "X-API-Key",
            "Content-Type",
            "Last-Event-ID",
            "X-Request-ID",
            "If-Match",
            "Mcp-Session-Id",
            "Mcp-Protocol-Version",
        ],
        expose_headers=["X-Request-ID", "Mcp-Session-Id", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"],
    )


def app_factory() -> Litestar:
    """Entry point for uvicorn (`--factory`): settings come from the ECHO_* environment."""
    return create_app(Settings.from_env())
