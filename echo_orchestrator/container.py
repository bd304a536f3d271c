"""The service's parts, opened and closed together; used by the HTTP app and the CLI alike.

Long-running work (the storage and plugin watchers, MCP connections, executions) runs in
task groups that live exactly as long as the container.
"""

from __future__ import annotations

import functools
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from echo_orchestrator import tracing
from echo_orchestrator.backends import entity_mutexes, run_queue_for, runtime_store
from echo_orchestrator.engine.context import EngineGraphContext
from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.engine.executions import ExecutionManager
from echo_orchestrator.engine.feed import EventFeed
from echo_orchestrator.engine.llm.factory import ModelFactory
from echo_orchestrator.engine.llm.prices import PriceTable
from echo_orchestrator.engine.relay import Relay
from echo_orchestrator.engine.token_relay import TokenRelay
from echo_orchestrator.mcp import McpHub
from echo_orchestrator.models import McpServerConfig
from echo_orchestrator.registry import PluginRegistry
from echo_orchestrator.registry.spec import ToolSpec
from echo_orchestrator.security.destinations import WebhookDestinations
from echo_orchestrator.security.redaction import SECRETS, environment_secrets
from echo_orchestrator.services.agents import AgentService
from echo_orchestrator.services.analytics import AnalyticsService
from echo_orchestrator.services.catalogue import CatalogueService
from echo_orchestrator.services.checkpoints import CheckpointService
from echo_orchestrator.services.deliveries import Deliverer, RetryRule
from echo_orchestrator.services.executions import ExecutionService
from echo_orchestrator.services.graphs import GraphCatalog
from echo_orchestrator.services.health import HealthService
from echo_orchestrator.services.hooks import HookService
from echo_orchestrator.services.plugins import build_registry
from echo_orchestrator.services.retention import RetentionService
from echo_orchestrator.services.scheduler import Scheduler
from echo_orchestrator.services.schedules import ScheduleService
from echo_orchestrator.services.workflows import WorkflowService
from echo_orchestrator.services.workspaces import WorkspaceService
from echo_orchestrator.settings import Settings
from echo_orchestrator.stopping import HAND_BACK_SECONDS, closing, closing_together
from echo_orchestrator.store.definitions.base import DefinitionStore
from echo_orchestrator.store.definitions.files import FileDefinitionStore
from echo_orchestrator.store.runtime.base import RunQueue, RuntimeStore
from echo_orchestrator.store.workspaces.folders import Workspaces
from echo_orchestrator.system import ResourceMonitor

log = logging.getLogger(__name__)

JOBS_KEPT_HOURS = 24  # the run queue's finished jobs (the executions keep the history)


@dataclass(slots=True)
class Services:
    settings: Settings
    store: DefinitionStore
    registry: PluginRegistry
    models: ModelFactory
    prices: PriceTable
    hub: McpHub
    graphs: GraphCatalog
    agents: AgentService
    workflows: WorkflowService
    runtime: RuntimeStore
    engine: ExecutionManager
    executions: ExecutionService
    checkpoints: CheckpointService
    events: EventBus
    feed: EventFeed
    health: HealthService
    catalogue: CatalogueService
    analytics: AnalyticsService
    workspaces: WorkspaceService
    retention: RetentionService
    schedules: ScheduleService
    hooks: HookService


async def _never_fatal(what: str, run: Callable[[], Awaitable[None]]) -> None:
    """A background helper that fails is logged and reported by health, never takes the service down."""
    try:
        await run()
    except Exception:
        log.exception("%s stopped with an error", what)


def register_secrets(settings: Settings) -> None:
    """What `scrub` must never let out: the environment's secrets, the service's own keys,
    and the resolved form of the configured folders (shown as configured)."""
    SECRETS.set_source("environment", environment_secrets())
    passwords = [(urlsplit(url).password or "") for url in (settings.runtime_url, settings.redis_url) if url]
    SECRETS.set_source(
        "service",
        [settings.jwt_secret, settings.webhook_secret, *passwords, *(k.split()[0] for k in settings.api_keys.split(",") if k.strip())],
    )
    for configured in (settings.storage_dir, settings.plugins_dir, settings.workspaces_dir):
        if configured is not None:
            SECRETS.set_path(str(configured.resolve()), configured.as_posix())


def build_workspaces(settings: Settings) -> Workspaces:
    root = settings.workspace_root
    return Workspaces(root, shown_as=root.as_posix(), max_size_mb=settings.max_workspace_size_mb, autocreate=settings.workspace_autocreate)


def build_hub(store: DefinitionStore, registry: PluginRegistry) -> McpHub:
    """The tool hub: MCP servers from the store's settings and from plugins, plugin tools."""

    def plugin_tools() -> Mapping[str, ToolSpec]:
        return {name: r.obj for name, r in registry.snapshot.tools.items()}

    def plugin_servers() -> Mapping[str, McpServerConfig]:
        return {name: r.obj for name, r in registry.snapshot.mcp_servers.items()}

    return McpHub(
        store.current_mcp_settings,
        plugin_tools,
        plugin_servers,
        log_dir=store.runtime_dir / "mcp",
        settings_file=store.mcp_settings_location,
    )


async def _assemble(
    settings: Settings, store: DefinitionStore, registry: PluginRegistry, models: ModelFactory, runtime: RuntimeStore
) -> Services:
    hub = build_hub(store, registry)
    prices = PriceTable.from_file(settings.prices_file)
    checkpointer = await runtime.checkpointer()  # same database, same connection, one lock
    bus = EventBus(buffer=settings.stream_buffer)
    folders = build_workspaces(settings)
    engine = ExecutionManager(
        runtime,
        models,
        hub,
        prices,
        bus,
        max_concurrent=settings.max_concurrent_executions,
        max_per_caller=settings.max_executions_per_caller,
        checkpointer=checkpointer,
        workspaces=folders,
        stream_tokens=settings.llm_streaming,
        trace_content=settings.trace_content,
    )
    executions = ExecutionService(store, registry, models, engine)
    executions.destinations = WebhookDestinations(settings.webhook_allowed_urls, public=settings.webhook_public_urls)
    engine.plan_factory = executions.plan_for
    retention = RetentionService(settings, store, runtime, folders)
    agents = AgentService(store, models, hub)
    graphs = GraphCatalog(registry, store, EngineGraphContext(models))
    workflows = WorkflowService(store, agents, models, hub, registry, executions, graphs)
    return Services(
        settings=settings,
        store=store,
        registry=registry,
        models=models,
        prices=prices,
        hub=hub,
        graphs=graphs,
        agents=agents,
        workflows=workflows,
        runtime=runtime,
        engine=engine,
        executions=executions,
        checkpoints=CheckpointService(runtime, checkpointer),
        events=bus,
        feed=EventFeed(runtime, bus),
        health=HealthService(
            store,
            registry,
            hub,
            executions,
            bus,
            ResourceMonitor(settings.storage_dir),
            storage_dir=settings.storage_dir,
            plugins_dir=settings.plugins_dir,
            runtime_url=settings.runtime_url,
            retention=retention,
        ),
        catalogue=CatalogueService(store, runtime, workflows),
        analytics=AnalyticsService(store, runtime),
        workspaces=WorkspaceService(folders, runtime, settings, engine.is_live),
        retention=retention,
        schedules=ScheduleService(store, runtime, registry),
        hooks=HookService(store, runtime, executions),
    )


def _triggers(tg: TaskGroup, services: Services) -> None:
    """Schedules fired and completion webhooks sent, by this process (each fire and each
    attempt by one node of a cluster)."""
    settings = services.settings
    if settings.scheduler:
        services.health.scheduling = True
        scheduler = Scheduler(services.store, services.runtime, services.executions)
        tg.start_soon(_never_fatal, "scheduler", scheduler.run_forever)
    deliverer = Deliverer(
        services.runtime,
        services.executions.destinations,
        secret=settings.webhook_secret,
        rule=RetryRule.from_settings(settings),
        poll_seconds=min(1.0, settings.webhook_backoff_seconds),
    )
    tg.start_soon(_never_fatal, "webhook deliveries", deliverer.run_forever)


def _log_loaded(store: DefinitionStore, registry: PluginRegistry) -> None:
    counts, snapshot = store.counts(), registry.snapshot
    log.info(
        "loaded storage folder %s: %d agents, %d workflows, %d problem file(s); plugins: %d graphs, %d tools, %d providers, %d problem(s)",
        store.location,
        counts.agents,
        counts.workflows,
        len(store.problems()),
        len(snapshot.graphs),
        len(snapshot.tools),
        len(snapshot.providers),
        len(snapshot.problems),
    )


def _share_with_other_nodes(tg: TaskGroup, services: Services, queue: RunQueue | None) -> None:
    """On a shared runtime: say this process is alive, hear what the others commit and send,
    tell them which definition files this one writes; take runs from the queue (unless
    told not to) and put back those of workers that died."""
    runtime, store = services.runtime, services.store
    tokens = TokenRelay(runtime, services.events)
    services.engine.tokens.remote = tokens
    relay = Relay(runtime, services.events, services.engine, store, tokens)
    written, to_announce = anyio.create_memory_object_stream[str](max_buffer_size=10_000)

    def note(path: str) -> None:
        try:
            written.send_nowait(path)
        except anyio.WouldBlock:  # thousands unsent: the others still see the file at its next read
            log.warning("definition change of %s not announced to other nodes (backlog full)", path)

    async def announce() -> None:
        async for path in to_announce:
            batch = {path}
            while True:  # everything written meanwhile goes in one notification
                try:
                    batch.add(to_announce.receive_nowait())
                except anyio.WouldBlock:
                    break
            try:
                await runtime.announce_definitions(sorted(batch))
            except Exception as exc:  # the database is away: these go unannounced, the next ones may not
                log.warning("could not announce %d definition change(s) to other nodes: %s", len(batch), type(exc).__name__)

    async def recover(queue: RunQueue) -> None:
        next_prune = next_sweep = 0.0
        while True:
            await anyio.sleep(services.settings.heartbeat_seconds)
            try:
                await services.engine.fence()
                await queue.recover_stalled()
                if anyio.current_time() >= next_sweep:  # a run left without a job, once a minute
                    next_sweep = anyio.current_time() + 60
                    await queue.requeue_lost(max(60.0, services.settings.dead_after_seconds))
                if anyio.current_time() >= next_prune:  # finished jobs go after a day, checked hourly
                    next_prune = anyio.current_time() + 3600
                    await queue.prune(JOBS_KEPT_HOURS)
            except Exception:  # logged; the next beat tries again
                log.exception("fencing this process's runs or queuing again those of stopped workers failed")

    store.announce_writes(note)
    if queue is not None:
        tg.start_soon(_never_fatal, "recovery of stopped workers' runs", functools.partial(recover, queue))
        if services.settings.run_executions:
            tg.start_soon(_never_fatal, "run queue worker", functools.partial(queue.work, services.engine.run_queued))
    tg.start_soon(_never_fatal, "runtime heartbeat", runtime.keep_alive)
    tg.start_soon(_never_fatal, "runtime listener", functools.partial(runtime.listen, relay))
    tg.start_soon(_never_fatal, "definition announcer", announce)
    tg.start_soon(_never_fatal, "token relay", tokens.run)


@asynccontextmanager
async def open_retention(settings: Settings) -> AsyncIterator[RetentionService]:
    """Retention alone, for `echo-orchestrator prune`: the definitions it reads workflows'
    own policies from, the runtime database and the workspaces; no engine."""
    register_secrets(settings)
    store = FileDefinitionStore(settings.storage_dir)  # read only here: no cluster locks needed
    await store.open()
    runtime = runtime_store(settings.runtime_url, settings.storage_dir, redis_url=settings.redis_url)
    try:
        await runtime.open()
        yield RetentionService(settings, store, runtime, build_workspaces(settings))
    finally:
        await closing_together((("the runtime database", runtime.close), ("the storage folder", store.close)))


async def _flush_traces() -> None:
    await anyio.to_thread.run_sync(tracing.flush)


@asynccontextmanager
async def open_services(settings: Settings, *, queued: bool = True) -> AsyncIterator[Services]:
    """Everything, open. `queued=False` (the CLI's own `run`): on a shared runtime this
    process runs what it starts itself, and takes nothing from the cluster's queue."""
    register_secrets(settings)
    tracing.configure()  # off unless OTEL_EXPORTER_OTLP_ENDPOINT says where traces go
    store: DefinitionStore = FileDefinitionStore(settings.storage_dir, mutexes=entity_mutexes(settings.runtime_url))
    await store.open()
    registry, models = build_registry(settings)
    await registry.reload()
    # The index is a large, long-lived heap (≈100 objects per workflow). Moving it out of
    # the collector's generations stops every full collection from rescanning it, which
    # otherwise adds pauses of hundreds of ms with 10,000 workflows.
    gc.freeze()
    runtime = runtime_store(
        settings.runtime_url,
        settings.storage_dir,
        heartbeat_seconds=settings.heartbeat_seconds,
        dead_after_seconds=settings.dead_after_seconds,
        redis_url=settings.redis_url,
    )
    await runtime.open()
    queue = (
        run_queue_for(runtime, capacity=settings.max_concurrent_executions, grace_seconds=settings.stop_grace_seconds) if queued else None
    )
    try:
        services = await _assemble(settings, store, registry, models, runtime)
        _log_loaded(store, registry)
        await services.workspaces.open()
        if queue is not None:
            await queue.open()
            services.engine.queue = queue
            services.health.queue, services.health.takes_runs = queue, settings.run_executions
        async with services.hub.running(), services.engine.running(), anyio.create_task_group() as tg:
            if settings.watch:
                tg.start_soon(_never_fatal, "storage watcher", store.follow_changes)
            if settings.watch_plugins:
                tg.start_soon(_never_fatal, "plugin watcher", registry.follow_changes)
            # Rows a failed write left buffered (database away or full) are written once it is back.
            tg.start_soon(_never_fatal, "runtime writer", runtime.keep_written)
            if runtime.shared:
                _share_with_other_nodes(tg, services, queue)
            if settings.auto_cleanup_enabled:
                tg.start_soon(_never_fatal, "workspace clean-up", services.workspaces.clean_up_forever)
            if settings.retention_interval_seconds > 0:
                tg.start_soon(_never_fatal, "retention", services.retention.prune_forever)
            if queued:  # not the CLI's own `run`: it runs what it starts, and only that
                _triggers(tg, services)
            try:
                yield services
            finally:
                if queue is not None:  # its runs end or go back to the queue while all else still works
                    await closing("the run queue's worker", queue.stop, settings.stop_grace_seconds + HAND_BACK_SECONDS)
                await closing_together((("the storage watcher", store.close), ("the plugin watcher", registry.close)))
                tg.cancel_scope.cancel()
    finally:
        # Also when the body failed: the database's worker thread would keep the process alive.
        # Each bounded: a database that is gone or hangs delays the stop, never holds it.
        closes: list[tuple[str, Callable[[], Awaitable[Any]]]] = [("the runtime database", runtime.close)]
        if queue is not None:
            closes.append(("the run queue", queue.close))
        await closing_together(closes)
        await closing("the traces still batched", _flush_traces, 3.0)
