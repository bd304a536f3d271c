"""`echo-orchestrator worker`: a process that runs queued executions and serves no HTTP.

It opens the same services as the API (storage, plugins, MCP hub, engine) on the shared
runtime database, takes runs from the queue up to its capacity, and on SIGINT or SIGTERM
stops taking them, lets those going on finish for the grace period and hands the rest back
to the queue (another worker continues them from their last checkpoint). A second signal
exits at once (`stopping`).
"""

from __future__ import annotations

import logging
import signal

import anyio

from echo_orchestrator import stopping
from echo_orchestrator.container import open_services
from echo_orchestrator.settings import Settings

log = logging.getLogger("echo_orchestrator.worker")


async def run_worker(settings: Settings) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_services(settings) as services:
            log.info(
                "worker %s taking runs from %s (capacity %d)",
                services.runtime.owner,
                services.runtime.location,
                settings.max_concurrent_executions,
            )
            async for received in signals:
                log.info("%s: stopping (runs going on get %gs to finish)", signal.Signals(received).name, settings.stop_grace_seconds)
                # A second signal exits at once; whatever the stop waits for, it ends by then.
                stopping.arm(settings.stop_grace_seconds + stopping.STOP_MARGIN_SECONDS)
                break
    log.info("worker stopped")
    stopping.wind_up()
