"""The service's parts, opened and closed together; used by the HTTP app and the CLI alike.

Long-running work (the storage watcher now; plugin reloads and executions later) runs in
one anyio task group that lives exactly as long as the container.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from echo_orchestrator.settings import Settings
from echo_orchestrator.store import FileDefinitionStore
from echo_orchestrator.system import ResourceMonitor

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Services:
    settings: Settings
    store: FileDefinitionStore
    resources: ResourceMonitor
    started_at: float

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_at


async def _never_fatal(what: str, run: Callable[[], Awaitable[None]]) -> None:
    """A background helper that fails is logged and reported by health, never takes the service down."""
    try:
        await run()
    except Exception:
        log.exception("%s stopped with an error", what)


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    store = FileDefinitionStore(settings.storage_dir)
    await store.open()
    # The index is a large, long-lived heap (≈100 objects per workflow). Moving it out of
    # the collector's generations stops every full collection from rescanning it, which
    # otherwise adds pauses of hundreds of ms with 10,000 workflows.
    gc.freeze()
    services = Services(
        settings=settings,
        store=store,
        resources=ResourceMonitor(store.layout.root),
        started_at=time.monotonic(),
    )
    counts = store.counts()
    log.info(
        "storage %s: %d agents, %d workflows, %d problem file(s)",
        store.location,
        counts.agents,
        counts.workflows,
        len(store.problems()),
    )
    async with anyio.create_task_group() as tg:
        if settings.watch:
            tg.start_soon(_never_fatal, "storage watcher", store.follow_changes)
        try:
            yield services
        finally:
            await store.close()
            tg.cancel_scope.cancel()
