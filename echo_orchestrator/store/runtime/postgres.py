"""The runtime store (`store.runtime.RuntimeStore`) in PostgreSQL, for several processes
and hosts sharing one run history (`ECHO_RUNTIME_URL=postgresql://...`).

The records and their SQL are `store.runtime.sql`'s; this module gives a connection pool
(psycopg 3), the transaction a flush writes in, and LangGraph's own PostgreSQL saver
(`langgraph-checkpoint-postgres`) on the same pool, whose checkpoint and write statements
become rows of the records' buffer (`BufferedPostgresSaver`): a step's checkpoint and the
run's records are committed in one transaction, as on SQLite. Schema and migrations:
`store.runtime.postgres_schema`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import msgspec
import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import AsyncConnectionPool

from echo_orchestrator.errors import ConfigurationError, StorageError
from echo_orchestrator.lifecycle import ownership
from echo_orchestrator.lifecycle.executions import STOPPING_EVENTS
from echo_orchestrator.store.runtime.analytics import POSTGRES_BUCKETS
from echo_orchestrator.store.runtime.base import PoolStats, SignalChannel, Signals
from echo_orchestrator.store.runtime.postgres_checkpoints import BufferedPostgresSaver
from echo_orchestrator.store.runtime.postgres_connect import advisory_lock, conninfo, opened_pool, shown_url
from echo_orchestrator.store.runtime.postgres_schema import CHECKPOINT_SETUP_LOCK, cluster_id, migrate
from echo_orchestrator.store.runtime.retention import RECORD_TABLES, DatabaseSize, delete_children
from echo_orchestrator.store.runtime.sql import SqlRuntimeStore
from echo_orchestrator.store.runtime.statements import EVENT_INSERT, EXECUTION_ID_AT, Pending, rows_without

log = logging.getLogger(__name__)


POOL_WAIT_SECONDS = 5.0
# A statement (with the wait for its connection) that takes longer fails: a server that hangs
# gives 503s, not requests that never end.
QUERY_SECONDS = 15.0
QUEUE_TABLES = ("procrastinate_jobs", "procrastinate_events")
# VACUUM after a prune: a table of gigabytes takes minutes; cancelled at shutdown.
VACUUM_SECONDS = 600.0
# Closing: what is buffered and this process's heartbeat row go first, this long at most.
FAREWELL_SECONDS = 2.5
EVENTS_CHANNEL = "echo_events"
CONTROL_CHANNEL = "echo_control"
DEFINITIONS_CHANNEL = "echo_definitions"
TOKENS_CHANNEL = "echo_tokens"  # live token pieces and wishes for them (engine.token_relay)
KINDS = (EVENTS_CHANNEL, CONTROL_CHANNEL, DEFINITIONS_CHANNEL, TOKENS_CHANNEL)
_PATHS_PER_NOTICE = 40  # storage-relative paths of at most ~150 characters: under the limit
NOTIFY_LIMIT = 7900  # PostgreSQL's payload limit is 8000 bytes
_RUNS_PER_NOTICE = 60  # execution ids of ~30 characters and two numbers: well under the limit


def _announcements(owner: str, rows: dict[object, tuple[Any, ...]] | None) -> list[str]:
    """The notifications for a batch of event rows: per execution its first and last seq,
    and 1 if one of them ends or pauses it (a node waiting for that reads nothing)."""
    if not rows:
        return []
    runs: dict[str, list[int]] = {}
    for execution_id, seq, event_type, *_ in rows.values():
        span = runs.setdefault(execution_id, [seq, seq, 0])
        span[0], span[1] = min(span[0], seq), max(span[1], seq)
        if event_type in STOPPING_EVENTS:
            span[2] = 1
    items = list(runs.items())
    return [
        msgspec.json.encode({"owner": owner, "runs": dict(items[i : i + _RUNS_PER_NOTICE])}).decode()
        for i in range(0, len(items), _RUNS_PER_NOTICE)
    ]


@functools.lru_cache(maxsize=512)
def _dialect(sql: str) -> str:
    # The shared SQL uses `?`; psycopg takes `%s` (none of our statements holds a literal
    # `?` or `%`).
    return sql.replace("?", "%s")


class PostgresRuntimeStore(SqlRuntimeStore):
    """The runtime store in a PostgreSQL database."""

    buckets = POSTGRES_BUCKETS
    kind = "postgresql"
    shared = True
    # The server down or unreachable (the pool's timeout is a psycopg error too), or not
    # answering within QUERY_SECONDS (a hung server: `anyio.fail_after`).
    failures = (psycopg.Error, TimeoutError)

    def __init__(
        self,
        url: str,
        *,
        owner: str,
        pool_size: int = 10,
        heartbeat_seconds: float = 5.0,
        dead_after_seconds: float = 20.0,
        channels: SignalChannel | None = None,
    ) -> None:
        super().__init__(owner=owner)
        # Signals over a pub/sub of their own (Redis) instead of NOTIFY, when given.
        self._redis = channels
        self._cluster = ""
        self._beat_at = time.monotonic()  # when this process last told the others it is alive
        # Executions another process took over while this one was unresponsive (`_fenced`).
        self.lost: set[str] = set()
        self.heartbeat_seconds, self.dead_after_seconds = heartbeat_seconds, dead_after_seconds
        self.url = url
        self._conninfo = conninfo(url)
        self._pool_size = max(2, pool_size)  # the checkpointer's set-up holds one while it uses another
        self._pool: AsyncConnectionPool[Any] | None = None

    @property
    def location(self) -> str:
        return shown_url(self.url)

    def pool_stats(self) -> PoolStats:
        stats = self.pool.get_stats()
        size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
        return PoolStats(
            size=stats.get("pool_max", self._pool_size),
            open=size,
            available=available,
            in_use=max(0, size - available),
            waiting=stats.get("requests_waiting", 0),
        )

    @property
    def redis_location(self) -> str | None:
        return None if self._redis is None else shown_url(self._redis.url)

    async def redis_ping_ms(self) -> float | None:
        return None if self._redis is None else await self._redis.ping_ms()

    @property
    def pool(self) -> AsyncConnectionPool[Any]:
        assert self._pool is not None, "open() first"
        return self._pool

    async def open(self) -> None:
        # One connection first: a wrong URL is reported at once with the server's reason,
        # instead of after the pool's retries.
        try:
            probe = await psycopg.AsyncConnection.connect(self._conninfo, connect_timeout=10)
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise ConfigurationError(f"Cannot connect to the runtime database {self.location}: {reason}") from None
        await probe.close()
        # Autocommit, as LangGraph's saver wants, and every statement prepared on the server
        # at its first use on a connection (psycopg's `prepare_threshold=0`; None would turn
        # preparing off, which PgBouncer in transaction mode before 1.21 needs).
        try:
            pool = await opened_pool(
                self._conninfo,
                name="echo-runtime",
                max_size=self._pool_size,
                wait_seconds=POOL_WAIT_SECONDS,
                prepare_threshold=0,
                row_factory=dict_row,
            )
        except Exception as exc:
            raise ConfigurationError(f"Cannot connect to the runtime database {self.location}: {type(exc).__name__}") from exc
        self._pool = pool
        async with pool.connection() as conn:
            self.schema_change = await migrate(conn)
            # Channels are the cluster's own: clusters sharing a PostgreSQL server (or a
            # Redis) do not hear each other.
            self._cluster = await cluster_id(conn)
            if self._redis is not None:
                await self._redis.open(self._cluster)
        await self._heartbeat()

    async def close(self) -> None:
        """Bounded whatever the servers do: a database or Redis that is gone or hangs delays
        the close by seconds; what could not be written then is settled by the others' sweep."""
        if self._pool is None:
            return
        with anyio.move_on_after(FAREWELL_SECONDS, shield=True):
            try:
                await self.commit()
                # Gone now, not after the heartbeat timeout: its interrupted runs are
                # anyone's to settle at once.
                await self._execute("DELETE FROM processes WHERE owner = ?", (self.owner,))
            except (psycopg.Error, StorageError) as exc:
                log.warning("closing the runtime database: could not write its last rows (%s)", type(exc).__name__)
        pool, self._pool = self._pool, None
        with anyio.move_on_after(1.0, shield=True):
            await pool.close(timeout=0.5)
        if self._redis is not None:
            with anyio.move_on_after(0.5, shield=True):
                await self._redis.close()

    async def checkpointer(self) -> BufferedPostgresSaver:
        saver = BufferedPostgresSaver(self.pool, self.flush, self._write, self.lost)
        # LangGraph's own migrations are not safe to run from two nodes at once. They hold
        # `CREATE INDEX CONCURRENTLY`, which waits for every open statement: a node blocked
        # in `pg_advisory_lock` would be one, and neither would ever finish. So the others
        # try the lock now and then, idle between tries.
        async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            while True:
                await cursor.execute("SELECT pg_try_advisory_lock(%s)", (CHECKPOINT_SETUP_LOCK,))
                if (await cursor.fetchone() or (False,))[0]:
                    break
                await anyio.sleep(0.1)
            try:
                await saver.setup()
            finally:
                await cursor.execute("SELECT pg_advisory_unlock(%s)", (CHECKPOINT_SETUP_LOCK,))
        return saver

    # -- who is alive ---------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        now = time.time()
        await self._execute(
            "INSERT INTO processes (owner, started_at, last_seen) VALUES (?, ?, ?)"
            " ON CONFLICT (owner) DO UPDATE SET last_seen = excluded.last_seen",
            (self.owner, now, now),
        )
        self._beat_at = time.monotonic()

    async def _fenced(self, pending: Pending) -> Pending:
        """The rows to write, less those of runs other processes adopted meanwhile. Asked
        only when this process's heartbeat is stale (it was stopped, starved or cut off long
        enough to be taken for dead): its runs may be someone else's now, and what it
        recorded of them since must not land in their history."""
        await self._heartbeat()
        # Every run it was writing, not only this batch's: the next batches are not asked.
        ids = {row[EXECUTION_ID_AT[sql]] for sql, rows in pending.items() for row in rows.values()} | set(self._seq)
        async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            await cursor.execute("SELECT execution_id, owner FROM executions WHERE execution_id = ANY(%s)", (list(ids),))
            taken = {str(execution_id) for execution_id, owner in await cursor.fetchall() if owner not in (None, self.owner)}
        taken -= self.lost
        if not taken:
            return rows_without(pending, self.lost)
        self.lost |= taken
        log.error(
            "this process was unresponsive for over %gs and %d of its runs were taken over meanwhile (%s): it records nothing more of them",
            self.dead_after_seconds / 2,
            len(taken),
            ", ".join(sorted(taken)),
        )
        return rows_without(pending, self.lost)

    async def keep_alive(self) -> None:
        while True:
            await anyio.sleep(self.heartbeat_seconds)
            try:
                await self._heartbeat()
            except psycopg.Error as exc:  # the database is away: try again, say so once a beat
                log.warning("heartbeat to the runtime database failed: %s", type(exc).__name__)

    async def owned_elsewhere(self, owner: str | None) -> bool:
        if not owner or owner == self.owner:
            return False
        if owner.rpartition(":")[0] == ownership.MACHINE and not ownership.owned_elsewhere(owner):
            return False  # on this machine a process that is gone is known at once
        # Alive means answering: a process that exists but is frozen (stopped, hung) past the
        # deadline is dead to the others, and fenced when it wakes (`_fenced`).
        rows = await self._rows("SELECT last_seen FROM processes WHERE owner = ?", [owner])
        return bool(rows) and time.time() - float(rows[0][0]) < self.dead_after_seconds

    def admission(self, limit_key: str) -> AbstractAsyncContextManager[object]:
        return advisory_lock(self.pool, f"admission:{limit_key}")

    # -- statements ----------------------------------------------------------------------

    async def _execute(self, sql: str, params: tuple[Any, ...]) -> None:
        with anyio.fail_after(QUERY_SECONDS):
            async with self.pool.connection() as conn:
                await conn.execute(_dialect(sql), params)

    async def _write_batches(self, pending: Pending) -> None:
        if time.monotonic() - self._beat_at > self.dead_after_seconds / 2:
            pending = await self._fenced(pending)
        elif self.lost:  # what its stopped runs still record on the way out
            pending = rows_without(pending, self.lost)
        announcements = _announcements(self.owner, pending.get(EVENT_INSERT))
        with anyio.fail_after(QUERY_SECONDS):
            await self._write_rows(pending, announcements)
        if self._redis is not None:  # after the commit, for the same reason
            for payload in announcements:
                await self._redis.publish(EVENTS_CHANNEL, payload)

    async def _write_rows(self, pending: Pending, announcements: list[str]) -> None:
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            for sql, rows in pending.items():
                await cursor.executemany(_dialect(sql), list(rows.values()))
            # In the same transaction: PostgreSQL delivers a notification at commit, so a
            # listener told of events can always read them.
            if self._redis is None:
                for payload in announcements:
                    await cursor.execute("SELECT pg_notify(%s, %s)", (self._channel(EVENTS_CHANNEL), payload))

    # -- signals between processes -------------------------------------------------------

    def _channel(self, kind: str) -> str:
        return f"{kind}_{self._cluster}"

    async def _signal(self, kind: str, payload: str) -> None:
        if self._redis is not None:
            await self._redis.publish(kind, payload)
        else:
            await self._execute("SELECT pg_notify(?, ?)", (self._channel(kind), payload))

    async def send_control(self, owner: str, message: dict[str, Any]) -> bool:
        payload = msgspec.json.encode({"to": owner, "message": message}).decode()
        if len(payload) > NOTIFY_LIMIT:
            raise ValueError("control message too large")
        await self._signal(CONTROL_CHANNEL, payload)
        return True

    async def announce_definitions(self, paths: Sequence[str]) -> None:
        for i in range(0, len(paths), _PATHS_PER_NOTICE):
            payload = msgspec.json.encode({"owner": self.owner, "paths": list(paths[i : i + _PATHS_PER_NOTICE])}).decode()
            await self._signal(DEFINITIONS_CHANNEL, payload)

    async def broadcast_tokens(self, payload: str) -> None:
        if len(payload) > NOTIFY_LIMIT:
            raise ValueError("token notice too large")
        await self._signal(TOKENS_CHANNEL, payload)

    async def listen(self, signals: Signals) -> None:
        """One connection of its own, LISTENing (or a Redis subscription); reconnected after
        a failure (what was sent meanwhile is not told: followers fill such gaps from the
        store at the next event)."""
        if self._redis is not None:
            await self._redis.listen(KINDS, functools.partial(self._dispatch, signals))
            return
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            except psycopg.Error as exc:
                log.warning("runtime listener cannot connect (%s); retrying", type(exc).__name__)
                await anyio.sleep(1.0)
                continue
            try:
                async with conn:
                    for kind in KINDS:  # a cluster id is hex: the names need no quoting
                        await conn.execute(f"LISTEN {self._channel(kind)}")
                    async for notice in conn.notifies():
                        await self._dispatch(signals, notice.channel.removesuffix(f"_{self._cluster}"), notice.payload)
            except psycopg.Error as exc:
                log.warning("runtime listener lost its connection (%s); reconnecting", type(exc).__name__)
                await anyio.sleep(0.2)

    async def _dispatch(self, signals: Signals, kind: str, payload: str) -> None:
        try:
            body = msgspec.json.decode(payload)
            if kind == EVENTS_CHANNEL:
                if body["owner"] == self.owner:
                    return  # our own events: published here already
                for execution_id, (first, last, stopped) in body["runs"].items():
                    await signals.events_committed(execution_id, int(first), int(last), bool(stopped))
            elif kind == DEFINITIONS_CHANNEL:
                if body["owner"] != self.owner:
                    await signals.definitions_changed([str(p) for p in body["paths"]])
            elif kind == TOKENS_CHANNEL:
                if body["owner"] != self.owner:
                    await signals.tokens(body)
            elif body.get("to") == self.owner:
                await signals.control(dict(body["message"]))
        except Exception:  # one bad or failing signal must not stop the listener
            log.exception("runtime signal on %s failed", kind)

    # -- retention (store.runtime.retention) ---------------------------------------------

    checkpoint_tables = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")  # LangGraph's PostgreSQL saver's

    async def _delete_batch(
        self, ids_sql: str, ids_args: Sequence[Any], children: Sequence[tuple[str, str]]
    ) -> tuple[list[str], list[int]]:
        await self.flush()
        with self._reporting(), anyio.fail_after(QUERY_SECONDS):
            async with self.pool.connection() as conn, conn.transaction(), conn.cursor(row_factory=tuple_row) as cursor:
                # Deleting the execution rows first locks them: a resume claiming one waits,
                # then finds it gone; one that claimed it first has made it active (kept).
                await cursor.execute(_dialect(ids_sql), tuple(ids_args))
                ids = [str(row[0]) for row in await cursor.fetchall()]
                counts = []
                for table, column in children if ids else ():
                    await cursor.execute(_dialect(delete_children(table, column, len(ids))), ids)
                    counts.append(int(cursor.rowcount))
        for execution_id in ids:
            self.forget_sequence(execution_id)
        return ids, counts or [0] * len(children)

    async def _existing_tables(self, names: Sequence[str]) -> list[str]:
        rows = await self._rows("SELECT " + ", ".join(["to_regclass(?) IS NOT NULL"] * len(names)), list(names))
        return [name for name, found in zip(names, rows[0], strict=True) if found]

    async def database_size(self) -> DatabaseSize:
        # This runtime's tables (and their indexes and TOAST) in its schema: a database may
        # hold other schemas and other services.
        rows = await self._rows(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')",
            [],
        )
        return DatabaseSize(size_bytes=int(rows[0][0]))

    async def reclaim_space(self, *, above_bytes: int | None = None) -> int:
        """VACUUM the tables a prune deleted from: their dead rows' space is reused by new rows
        at once, whether autovacuum runs or not (it may be off, or not due for a while). Plain
        VACUUM takes no lock that blocks reads or writes; VACUUM FULL would, so space goes back
        to the disk only from the tables' empty tails (`above_bytes` has no say here)."""
        before = await self.database_size()
        # The queue's finished jobs are deleted as they end: their table is vacuumed too.
        tables = ["executions", *RECORD_TABLES, *await self._existing_tables((*self.checkpoint_tables, *QUEUE_TABLES))]
        with self._reporting(), anyio.fail_after(VACUUM_SECONDS):
            async with self.pool.connection() as conn:
                for table in tables:
                    await conn.execute(f"VACUUM (ANALYZE) {table}")
        return max(0, before.size_bytes - (await self.database_size()).size_bytes)

    def retention_turn(self) -> AbstractAsyncContextManager[bool]:
        return advisory_lock(self.pool, "retention", wait=False)

    async def _update(self, sql: str, args: Sequence[Any]) -> int:
        await self.flush()
        with self._reporting(), anyio.fail_after(QUERY_SECONDS):
            async with self.pool.connection() as conn, conn.cursor() as cursor:
                await cursor.execute(_dialect(sql), tuple(args))
                return int(cursor.rowcount)

    async def _rows(self, sql: str, args: Sequence[Any]) -> list[Any]:
        await self.flush()
        with self._reporting(), anyio.fail_after(QUERY_SECONDS):
            async with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
                await cursor.execute(_dialect(sql), tuple(args))
                return list(await cursor.fetchall())
