"""The Litestar application: routes, the error mapping, docs, and the services' lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from litestar import Litestar
from litestar.di import Provide

from echo_orchestrator.api.controllers.agents import AgentController
from echo_orchestrator.api.controllers.executions import ExecutionController
from echo_orchestrator.api.controllers.graphs import GraphController
from echo_orchestrator.api.controllers.mcp import McpController
from echo_orchestrator.api.controllers.service import ServiceController
from echo_orchestrator.api.controllers.workflows import WorkflowLifecycleController
from echo_orchestrator.api.docs import assets_router, openapi_config
from echo_orchestrator.api.error_handling import EXCEPTION_HANDLERS
from echo_orchestrator.api.socketio import SocketIOBridge
from echo_orchestrator.api.streaming import StreamController, ws_execution, ws_executions
from echo_orchestrator.api.request_context import RequestMetrics, make_before_send
from echo_orchestrator.container import Services, open_services
from echo_orchestrator.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    request_metrics = RequestMetrics()

    socket_io = SocketIOBridge()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_services(settings) as services, anyio.create_task_group() as live_tasks:
            app.state.services = services
            socket_io.attach(services, live_tasks)
            try:
                yield
            finally:
                live_tasks.cancel_scope.cancel()  # Socket.IO forwarders: their clients are gone

    def provide_services() -> Services:
        return app.state.services  # type: ignore[no-any-return]

    def provide_request_metrics() -> RequestMetrics:
        return request_metrics

    app = Litestar(
        route_handlers=[
            ServiceController,
            GraphController,
            McpController,
            AgentController,
            WorkflowLifecycleController,
            ExecutionController,
            StreamController,
            ws_executions,
            ws_execution,
            socket_io.route(),
            assets_router(),
        ],
        dependencies={
            "services": Provide(provide_services, sync_to_thread=False),
            "request_metrics": Provide(provide_request_metrics, sync_to_thread=False),
        },
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[make_before_send(request_metrics)],
        openapi_config=openapi_config(),
        request_max_body_size=settings.max_body_bytes,
        logging_config=None,
    )
    return app


def app_factory() -> Litestar:
    """Entry point for uvicorn (`--factory`): settings come from the ECHO_* environment."""
    return create_app(Settings.from_env())
