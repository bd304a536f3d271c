"""What the service reports about itself: storage, plugins, MCP servers, the engine, live
followers and resources (ouroboros document, Health & Service Endpoints)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import anyio
import msgspec

from echo_orchestrator import __version__
from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.errors import EchoError
from echo_orchestrator.mcp import McpHub
from echo_orchestrator.models import utcnow_iso
from echo_orchestrator.registry import PluginProblem, PluginRegistry
from echo_orchestrator.security.redaction import SECRETS
from echo_orchestrator.services.executions import ExecutionService
from echo_orchestrator.services.retention import PruneReport, RetentionService, Rule
from echo_orchestrator.store.definitions.base import DefinitionStore, Problem, StoreCounts
from echo_orchestrator.store.runtime.base import ExecutionStats, PoolStats, RunQueue
from echo_orchestrator.system import ResourceMonitor, ResourceUsage

T = TypeVar("T")

# A database that takes longer to answer is reported as failing (a probe must not hang).
READY_WITHIN_SECONDS = 3.0


class StorageHealth(msgspec.Struct, kw_only=True):
    status: str  # "ok" | "degraded" | "unwritable"
    root: str
    writable: bool
    following_changes: bool
    counts: StoreCounts
    problems: list[Problem]


class PluginHealth(msgspec.Struct, kw_only=True):
    status: str  # "ok" | "degraded"
    plugins_dir: str | None
    following_changes: bool
    graphs: list[str]
    tools: list[str]
    llm_providers: list[str]
    mcp_servers: list[str]
    problems: list[PluginProblem]


class McpHealth(msgspec.Struct, kw_only=True):
    servers: int
    available: int
    unavailable: list[str]


class DatabaseHealth(msgspec.Struct, kw_only=True):
    """The runtime database (run history and checkpoints)."""

    kind: str  # "sqlite" | "postgresql"
    status: str  # "connected" | "error"
    path: str  # relative to the storage root (never a server path), or the URL without its password
    # Its connections (the ouroboros document's block): PostgreSQL's pool, or SQLite's one connection.
    connection_pool: PoolStats | None = None
    # The ouroboros document's own key for it: `connected`, or `error`.
    postgresql: str | None = None
    error: str | None = None
    # On disk (SQLite: the file and its log; PostgreSQL: this runtime's tables and indexes),
    # and how much of it is free pages new rows reuse (SQLite).
    size_bytes: int | None = None
    free_bytes: int | None = None


class RetentionHealth(msgspec.Struct, kw_only=True):
    """How long run history is kept (`services.retention`), and the last prune."""

    days: float  # 0: no limit by age
    max_executions: int  # 0: no limit by count
    interval_seconds: float
    overrides: dict[str, Rule]  # as the last prune read them
    last_prune: PruneReport | None = None


class RedisHealth(msgspec.Struct, kw_only=True):
    """The Redis of a cluster (`ECHO_REDIS_URL`): signals between processes, per-caller limits."""

    status: str  # "connected" | "error"
    url: str  # without its password
    carries: list[str]
    response_time_ms: float | None = None
    error: str | None = None


class QueueHealth(msgspec.Struct, kw_only=True):
    """The run queue of a cluster (PostgreSQL runtime)."""

    queued: int  # runs waiting for a worker
    running: int  # runs workers have taken
    takes_runs: bool  # whether this process is one of the workers
    error: str | None = None


class TriggerHealth(msgspec.Struct, kw_only=True):
    """Schedules and completion webhooks (docs/triggers.md)."""

    schedules: int
    enabled: int
    scheduler: str  # "running" on this process, or "off" (ECHO_SCHEDULER=false, or `run`)
    deliveries_pending: int
    deliveries_failed_last_day: int  # given up after every retry: look at GET /executions/{id}/webhooks
    error: str | None = None


class ServiceHealth(msgspec.Struct, kw_only=True):
    status: str  # "healthy" | "degraded"
    version: str
    database: DatabaseHealth
    storage: StorageHealth
    plugins: PluginHealth
    mcp: McpHealth
    services: dict[str, str]
    uptime: float
    timestamp: str
    queue: QueueHealth | None = None  # with a PostgreSQL runtime
    redis: RedisHealth | None = None  # with ECHO_REDIS_URL
    retention: RetentionHealth | None = None
    triggers: TriggerHealth | None = None


class LiveCounts(msgspec.Struct, kw_only=True):
    subscriptions: int  # live followers of executions (WebSocket, Socket.IO, SSE), one per joined execution
    dropped: int  # followers dropped for being too slow since start-up


def _scrubbed(problem: T) -> T:
    """A problem as callers see it: error texts quote files and values, so paths are shown
    as configured and secrets masked."""
    return msgspec.convert(SECRETS.scrub_data(msgspec.to_builtins(problem)), type(problem))


class HealthService:
    def __init__(
        self,
        store: DefinitionStore,
        registry: PluginRegistry,
        hub: McpHub,
        executions: ExecutionService,
        bus: EventBus,
        resources: ResourceMonitor,
        *,
        storage_dir: Path,
        plugins_dir: Path | None,
        runtime_url: str | None = None,
        retention: RetentionService | None = None,
    ) -> None:
        self._store, self._registry, self._hub = store, registry, hub
        self._executions, self._bus, self._resources = executions, bus, resources
        # The configured folders, as the operator gave them (never the resolved server path).
        self._storage_dir, self._plugins_dir = storage_dir, plugins_dir
        self._runtime_url = runtime_url
        self._retention = retention
        self.started_at = time.monotonic()
        # Set when the process opens a run queue (`container.open_services`).
        self.queue: RunQueue | None = None
        self.takes_runs = False
        # Set when this process fires schedules (`container.open_services`).
        self.scheduling = False

    @property
    def uptime_seconds(self) -> float:
        return round(time.monotonic() - self.started_at, 3)

    async def readiness(self) -> dict[str, bool]:
        return {
            "started": True,
            "storage_writable": self._store.writable(),
            "engine_running": self._executions.engine_running,
            "runtime_database": await self._runtime_answers(),
        }

    async def _runtime_answers(self) -> bool:
        """The runtime database takes writes and answers a query, within a probe's patience."""
        with anyio.move_on_after(READY_WITHIN_SECONDS):
            try:
                await self._executions.runtime.ping()
            except Exception:  # reported as not ready, never raised
                return False
            return True
        return False

    async def report(self) -> ServiceHealth:
        store, snapshot = self._store, self._registry.snapshot
        problems, writable = store.problems(), store.writable()
        storage_status = "unwritable" if not writable else "degraded" if problems else "ok"
        servers = await self._hub.servers()
        database = await self._database()
        unavailable = [s.name for s in servers if s.enabled and s.status != "available"]
        queue, redis = await self._queue(), await self._redis()
        healthy = storage_status == "ok" and not snapshot.problems and database.status == "connected"
        healthy = healthy and (queue is None or queue.error is None) and (redis is None or redis.status == "connected")
        return ServiceHealth(
            triggers=await self._triggers(database.status == "connected"),
            queue=queue,
            redis=redis,
            retention=self._retention_health(),
            status="healthy" if healthy else "degraded",
            version=__version__,
            database=database,
            storage=StorageHealth(
                status=storage_status,
                root=self._storage_dir.as_posix(),
                writable=writable,
                following_changes=store.is_following,
                counts=store.counts(),
                problems=[_scrubbed(p) for p in problems],
            ),
            plugins=PluginHealth(
                status="degraded" if snapshot.problems else "ok",
                plugins_dir=None if self._plugins_dir is None else self._plugins_dir.as_posix(),
                following_changes=self._registry.following,
                graphs=sorted(snapshot.graphs),
                tools=sorted(snapshot.tools),
                llm_providers=sorted(snapshot.providers),
                mcp_servers=sorted(snapshot.mcp_servers),
                problems=[_scrubbed(p) for p in snapshot.problems],
            ),
            mcp=McpHealth(
                servers=len(servers),
                available=sum(1 for s in servers if s.status == "available"),
                unavailable=unavailable,
            ),
            services={
                "workflow_engine": "running" if self._executions.engine_running else "stopped",
                "mcp_servers": "available" if not unavailable else "degraded",
                "definition_store": "running",
                "storage_watcher": "running" if store.is_following else "off",
                "plugin_watcher": "running" if self._registry.following else "off",
                "mcp_hub": "running",
            },
            uptime=self.uptime_seconds,
            timestamp=utcnow_iso(),
        )

    async def _triggers(self, database_answers: bool) -> TriggerHealth:
        schedules = await self._store.list_schedules()
        enabled = sum(1 for s in schedules if s.enabled)
        scheduler = "running" if self.scheduling else "off"
        try:
            if not database_answers:  # said once, in `database`: not waited for a second time
                raise RuntimeError("the runtime database does not answer")
            with anyio.fail_after(READY_WITHIN_SECONDS):
                pending, failed = await self._executions.runtime.delivery_counts(time.time() - 86400)
        except Exception as exc:  # reported, never raised
            return TriggerHealth(
                schedules=len(schedules),
                enabled=enabled,
                scheduler=scheduler,
                deliveries_pending=0,
                deliveries_failed_last_day=0,
                error=SECRETS.scrub(type(exc).__name__),
            )
        return TriggerHealth(
            schedules=len(schedules), enabled=enabled, scheduler=scheduler, deliveries_pending=pending, deliveries_failed_last_day=failed
        )

    async def _queue(self) -> QueueHealth | None:
        if self.queue is None:
            return None
        try:
            with anyio.fail_after(READY_WITHIN_SECONDS):
                queued, running = await self.queue.counts()
        except Exception as exc:  # reported, never raised
            return QueueHealth(queued=0, running=0, takes_runs=self.takes_runs, error=SECRETS.scrub(type(exc).__name__))
        return QueueHealth(queued=queued, running=running, takes_runs=self.takes_runs)

    async def _redis(self) -> RedisHealth | None:
        runtime = self._executions.runtime
        if (url := runtime.redis_location) is None:
            return None
        carries = ["events", "cancels", "definition changes", "rate limits"]
        try:
            with anyio.fail_after(READY_WITHIN_SECONDS):
                latency = await runtime.redis_ping_ms()
        except Exception as exc:  # reported, never raised
            return RedisHealth(status="error", url=url, carries=carries, error=SECRETS.scrub(f"{type(exc).__name__}: {exc}"))
        return RedisHealth(status="connected", url=url, carries=carries, response_time_ms=latency)

    def _retention_health(self) -> RetentionHealth | None:
        if self._retention is None:
            return None
        fields = msgspec.structs.asdict(self._retention.known_policy())
        return RetentionHealth(**fields, last_prune=self._retention.last)

    async def _database(self) -> DatabaseHealth:
        if self._runtime_url is None:
            kind, path = "sqlite", "runtime/runtime.sqlite"  # relative to the storage root, as every saved path is
        elif self._runtime_url.startswith("sqlite:"):
            kind, path = "sqlite", "(ECHO_RUNTIME_URL)"  # a file elsewhere: never a server path
        else:
            kind, path = "postgresql", self._executions.runtime.location  # the URL without its password
        runtime = self._executions.runtime
        postgres = "error" if kind == "postgresql" else None
        try:
            with anyio.fail_after(READY_WITHIN_SECONDS):
                await self._executions.stats()  # a real query: the database answers
                size = await runtime.database_size()
        except Exception as exc:  # reported, never raised: health must answer
            message = exc.message if isinstance(exc, EchoError) else f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return DatabaseHealth(kind=kind, status="error", path=path, postgresql=postgres, error=SECRETS.scrub(message))
        pool = runtime.pool_stats()
        if runtime.unwritten_since is not None:  # it answers reads, yet what runs record waits in memory
            since = datetime.fromtimestamp(runtime.unwritten_since, UTC).isoformat().replace("+00:00", "Z")
            error = SECRETS.scrub(f"writes failing since {since}: {runtime.last_failure}")
            return DatabaseHealth(kind=kind, status="error", path=path, connection_pool=pool, postgresql=postgres, error=error)
        return DatabaseHealth(
            kind=kind,
            status="connected",
            path=path,
            connection_pool=pool,
            postgresql=postgres and "connected",
            size_bytes=size.size_bytes,
            free_bytes=size.free_bytes,
        )

    async def execution_stats(self) -> ExecutionStats:
        return await self._executions.stats()

    def live(self) -> LiveCounts:
        return LiveCounts(subscriptions=self._bus.subscribers_total(), dropped=self._bus.dropped)

    def resources(self) -> ResourceUsage:
        return self._resources.sample()
