"""`echo-orchestrator worker`: a process that runs queued executions and serves no HTTP.

It opens the same services as the API (storage, plugins, MCP hub, engine) on the shared
runtime database, takes runs from the queue up to its capacity, and on SIGINT or SIGTERM
stops taking them, lets those going on finish for the grace period and hands the rest back
to the queue (another worker continues them from their last checkpoint). A second signal
exits at once (`stopping`).

With `--metrics-port` (ECHO_METRICS_PORT) it also listens there for `GET /metrics` (its
Prometheus figures: the runs it runs are counted here, not on the API nodes) and `GET /health`,
behind the API's own keys and rules (`api.metrics_app`).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
from collections.abc import Iterator

import anyio
import uvicorn

from echo_orchestrator import stopping
from echo_orchestrator.container import open_services
from echo_orchestrator.errors import ConfigurationError
from echo_orchestrator.settings import Settings

log = logging.getLogger("echo_orchestrator.worker")


class _Listener(uvicorn.Server):
    """uvicorn for the metrics listener, leaving the signals to the worker (which stops it)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = anyio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


def _listener(settings: Settings, port: int) -> _Listener:
    config = uvicorn.Config(
        # By name: the worker imports nothing of the HTTP layer; the app reads the same
        # ECHO_* environment (keys, Host rule, ECHO_METRICS_PUBLIC) as the API's.
        "echo_orchestrator.api.metrics_app:metrics_app_factory",
        factory=True,
        host=settings.host,
        port=port,
        log_level=settings.log_level,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # ECHO_TRUSTED_PROXIES is the one rule, as on the API
    )
    return _Listener(config)


async def _serve(listener: _Listener, settings: Settings) -> None:
    try:
        await listener.serve()
    except SystemExit:  # uvicorn's answer to a port it cannot bind (it logged why)
        raise ConfigurationError(f"--metrics-port: cannot listen on {settings.host}:{settings.metrics_port}") from None


async def run_worker(settings: Settings) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_services(settings) as services, anyio.create_task_group() as tasks:
            listener = None
            if settings.metrics_port is not None:
                listener = _listener(settings, settings.metrics_port)
                tasks.start_soon(_serve, listener, settings)
                await listener.listening.wait()  # before it says so (a port in use ends the worker)
            log.info(
                "worker %s taking runs from %s (capacity %d)%s",
                services.runtime.owner,
                services.runtime.location,
                settings.max_concurrent_executions,
                "" if listener is None else f"; metrics on http://{settings.host}:{settings.metrics_port}/metrics",
            )
            async for received in signals:
                log.info("%s: stopping (runs going on get %gs to finish)", signal.Signals(received).name, settings.stop_grace_seconds)
                # A second signal exits at once; whatever the stop waits for, it ends by then.
                stopping.arm(settings.stop_grace_seconds + stopping.STOP_MARGIN_SECONDS)
                break
            if listener is not None:
                listener.should_exit = True  # it stops first; then the runs get their grace
    log.info("worker stopped")
    stopping.wind_up()
