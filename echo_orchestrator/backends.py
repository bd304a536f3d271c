"""The one place concrete storage backends are chosen and built, from the settings' URLs:
the runtime store (SQLite or PostgreSQL, signalling over NOTIFY or Redis), the locks
definitions are edited under, the run queue of a cluster, the rate-limit counters.

Everything below (`store.definitions`, `store.runtime`, `store.cluster`) defines protocols
and implementations; only this module (and the tests) put them together, so no store
module needs to know of another backend, and `store.cluster` stays out of the rest.
"""

from __future__ import annotations

from pathlib import Path

from echo_orchestrator.errors import ConfigurationError
from echo_orchestrator.lifecycle.ownership import this_process
from echo_orchestrator.store.counters import FailOpen, MemoryCounters, WindowCounters
from echo_orchestrator.store.definitions.locks import Mutexes
from echo_orchestrator.store.runtime.base import RunQueue, RuntimeStore, SignalChannel, check_redis, is_shared
from echo_orchestrator.store.runtime.sqlite import SqliteRuntimeStore

POSTGRES_MISSING = "ECHO_RUNTIME_URL names PostgreSQL, but its driver is not installed: pip install 'echo-orchestrator[postgres]'"


def runtime_store(
    url: str | None,
    storage_dir: Path,
    *,
    heartbeat_seconds: float = 5.0,
    dead_after_seconds: float = 20.0,
    redis_url: str | None = None,
) -> RuntimeStore:
    """The runtime store `url` names (`ECHO_RUNTIME_URL`), recording this process as the
    owner of its runs: the embedded SQLite file under `storage_dir/runtime/` when it is
    unset, `sqlite:///<path>` for another file, `postgresql://...` for PostgreSQL (its
    processes signalling each other over Redis when `redis_url` is given)."""
    check_redis(url, redis_url)
    if not url:
        return SqliteRuntimeStore(storage_dir / "runtime" / "runtime.sqlite", owner=this_process(), in_storage=True)
    scheme, sep, rest = url.partition("://")
    if scheme == "sqlite" and sep and rest.startswith("/") and len(rest) > 1:
        return SqliteRuntimeStore(Path(rest[1:]), owner=this_process())
    if is_shared(url) and sep:
        try:
            from echo_orchestrator.store.runtime.postgres import PostgresRuntimeStore
        except ImportError as exc:  # the `postgres` extra is not installed
            raise ConfigurationError(POSTGRES_MISSING) from exc
        return PostgresRuntimeStore(
            url,
            owner=this_process(),
            heartbeat_seconds=heartbeat_seconds,
            dead_after_seconds=dead_after_seconds,
            channels=None if redis_url is None else redis_channels(redis_url),
        )
    raise ConfigurationError(
        "ECHO_RUNTIME_URL must be sqlite:///<path> or postgresql://user@host:port/database",
        details={"scheme": scheme[:20]},
    )


def redis_channels(url: str) -> SignalChannel:
    try:
        from echo_orchestrator.store.cluster.redis_signals import RedisChannels
    except ImportError as exc:  # the `redis` extra is not installed
        raise ConfigurationError("ECHO_REDIS_URL needs the Redis client: pip install 'echo-orchestrator[redis]'") from exc
    return RedisChannels(url)


def entity_mutexes(url: str | None) -> Mutexes | None:
    """The locks definitions are edited under across processes: PostgreSQL advisory locks
    when the runtime is PostgreSQL (they hold across hosts on a network filesystem), else
    None (the store's own `flock`s)."""
    if not is_shared(url):
        return None
    from echo_orchestrator.store.cluster.advisory_locks import PostgresMutexes

    return PostgresMutexes(str(url))


def run_queue_for(runtime: RuntimeStore, *, capacity: int, grace_seconds: float) -> RunQueue | None:
    """The queue runs go through where several processes share the runtime (procrastinate,
    in the same PostgreSQL database); None where the process that accepts a run runs it."""
    if not runtime.shared:
        return None
    from echo_orchestrator.store.cluster.queue import ProcrastinateQueue
    from echo_orchestrator.store.runtime.postgres import PostgresRuntimeStore
    from echo_orchestrator.store.runtime.postgres_connect import conninfo

    assert isinstance(runtime, PostgresRuntimeStore)
    return ProcrastinateQueue(
        conninfo(runtime.url),
        name=runtime.owner,
        capacity=capacity,
        heartbeat_seconds=runtime.heartbeat_seconds,
        dead_after_seconds=runtime.dead_after_seconds,
        grace_seconds=grace_seconds,
    )


def counters_for(runtime_url: str | None, redis_url: str | None = None) -> WindowCounters:
    """Redis, or else one table, for every node when the runtime is PostgreSQL; this
    process's dict otherwise."""
    if is_shared(runtime_url) and redis_url:
        from echo_orchestrator.store.cluster.redis_counters import RedisCounters

        return FailOpen(RedisCounters(redis_url, str(runtime_url)))
    if is_shared(runtime_url):
        from echo_orchestrator.store.cluster.postgres_counters import PostgresCounters

        return FailOpen(PostgresCounters(str(runtime_url)))
    return MemoryCounters()
