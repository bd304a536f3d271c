"""The runtime store's interface: run history, whatever holds it.

Executions, step and node executions, events (with a per-execution `seq` from 1) and LLM
calls. Writes may be buffered; `flush` makes them durable, and every read sees every write
made before it. The SQLite backend (`store.runtime.sqlite`) is the embedded default; the
contract suite in `tests/contract/runtime_contract.py` runs over every backend.
The store runs the queries it is told to: which statuses mean what is `lifecycle`'s rule.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

import msgspec
from langgraph.checkpoint.base import BaseCheckpointSaver

from echo_orchestrator.errors import ConfigurationError
from echo_orchestrator.models import Event, EventType, Execution, ExecutionStatus, LLMUsage, NodeExecution, StepExecution
from echo_orchestrator.store.runtime.retention import DatabaseSize, Expired, ExpiryScope
from echo_orchestrator.store.runtime.triggers import TriggerStore


class ExecutionStats(msgspec.Struct, kw_only=True):
    active: int
    completed_today: int
    failed_today: int
    avg_duration_seconds: float | None


class WorkflowRunStats(msgspec.Struct, kw_only=True):
    """A workflow's runs: how many, how the ended ones ended, how long the successful ones took."""

    total: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    avg_duration_seconds: float | None = None
    median_duration_seconds: float | None = None
    p95_duration_seconds: float | None = None
    total_tokens: int = 0
    total_cost_usd: float = 0.0

    @property
    def ended(self) -> int:
        return self.completed + self.failed + self.cancelled

    @property
    def success_rate(self) -> float | None:
        return round(self.completed / self.ended, 4) if self.ended else None


class StepRunStats(msgspec.Struct, kw_only=True):
    step_number: int
    step_name: str
    runs: int
    avg_duration: float | None
    p95_duration: float | None
    failure_rate: float
    retry_count_avg: float


class ModelUsage(msgspec.Struct, kw_only=True):
    provider: str
    model: str
    calls: int
    tokens: int
    cost_usd: float


class TimelineBucket(msgspec.Struct, kw_only=True):
    bucket: str  # as `bucket_key` formats it for the granularity
    executions: int
    successes: int
    failures: int
    avg_duration: float | None


class WorkflowAnalytics(msgspec.Struct, kw_only=True):
    summary: WorkflowRunStats
    steps: list[StepRunStats]
    models: list[ModelUsage]
    timeline: list[TimelineBucket]


Granularity = Literal["hour", "day", "week", "month"]


class PoolStats(msgspec.Struct, kw_only=True):
    """The runtime database's connections (the ouroboros document's `connection_pool`)."""

    size: int  # the most it opens
    open: int  # open now
    available: int  # open and idle
    in_use: int
    waiting: int = 0  # requests waiting for a connection


class OwnedExecution(msgspec.Struct, kw_only=True):
    """An execution with the process that last saved it (`lifecycle.ownership`)."""

    execution: Execution
    owner: str | None


class Signals(Protocol):
    """What a process is told by the others sharing its runtime database."""

    async def events_committed(self, execution_id: str, first_seq: int, last_seq: int, stopped: bool) -> None:
        """Another process committed these events of an execution (readable now); `stopped`:
        one of them ends or pauses it."""
        ...

    async def control(self, message: dict[str, Any]) -> None:
        """A message another process sent to this one (`send_control`)."""
        ...

    async def definitions_changed(self, paths: list[str]) -> None:
        """Another process wrote or removed these storage-relative definition files."""
        ...

    async def tokens(self, body: dict[str, Any]) -> None:
        """Another process broadcast live token pieces or wishes for them (`engine.token_relay`)."""
        ...


# (execution id, the review's answer if any, whether the job ran before)
RunHandler = Callable[[str, dict[str, Any] | None, bool], Awaitable[None]]


class RunQueue(Protocol):
    """Where the runs of a cluster wait for a worker (`store.cluster.queue`)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def submit(self, execution_id: str, *, answer: Mapping[str, Any] | None = None) -> None:
        """Queue the execution to be run (its record committed first, owned by no one)."""
        ...

    async def work(self, handler: RunHandler) -> None:
        """Take jobs and run them through `handler`, at most the capacity at once, until `stop()`."""
        ...

    async def stop(self) -> None:
        """Take no more jobs, let those going on finish for the grace period, then cancel
        the rest (their handler hands their runs back); returns when the worker stopped."""
        ...

    async def recover_stalled(self) -> int:
        """Queue again the jobs of workers whose heartbeat stopped; answers how many."""
        ...

    async def requeue_lost(self, older_than_seconds: float) -> int:
        """Queue the runs that wait with no job, older than this; answers how many."""
        ...

    async def counts(self) -> tuple[int, int]:
        """(runs waiting for a worker, runs being run by one)."""
        ...

    async def prune(self, older_than_hours: int) -> None:
        """Delete the queue's finished jobs older than this (the executions keep the history)."""
        ...


OnSignal = Callable[[str, str], Awaitable[None]]  # (kind, payload)


class SignalChannel(Protocol):
    """A pub/sub carrying a cluster's signals instead of PostgreSQL's NOTIFY (Redis:
    `store.cluster.redis_signals`), given to the PostgreSQL runtime by `backends`."""

    url: str

    async def open(self, cluster: str) -> None:
        """Connect; channel names carry the cluster's id, so clusters sharing a server never hear each other."""
        ...

    async def close(self) -> None: ...

    async def publish(self, kind: str, payload: str) -> None: ...

    async def listen(self, kinds: tuple[str, ...], on_message: OnSignal) -> None:
        """Until cancelled: every message of these kinds to `on_message`."""
        ...

    async def ping_ms(self) -> float:
        """How long the server takes to answer (raises when it does not)."""
        ...


class RuntimeStore(TriggerStore, Protocol):
    """Errors: `NotFound` for a missing execution or step execution."""

    owner: str
    # Other processes, on other hosts too, read and write this database at the same time.
    shared: bool
    kind: str  # "sqlite" | "postgresql"
    # While buffered rows could not be written (the database is away, full or locked): since
    # when (epoch seconds) and why. They are written when it takes writes again.
    unwritten_since: float | None
    last_failure: str | None
    # Set by `open`: (schema version found, schema version now); 0 found: a new database.
    schema_change: tuple[int, int] | None

    @property
    def location(self) -> str:
        """Where the records live, for people (a file path, a URL without its password)."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def flush(self) -> None:
        """Make every buffered write durable."""
        ...

    async def commit(self) -> None:
        """`flush`; raises `StorageError` when the database cannot take the rows (they stay
        buffered and are written when it can, unless `discard`ed)."""
        ...

    async def ping(self) -> None:
        """Write what is buffered and run a trivial query; raises `StorageError` when the
        database cannot do either (readiness)."""
        ...

    def discard(self, execution_id: str) -> None:
        """Forget the buffered rows of an execution whose first commit failed: it was never
        accepted, and nothing of it may be written later."""
        ...

    async def keep_written(self, interval: float = 1.0) -> None:
        """Until cancelled: write what a failed flush left buffered once the database is back."""
        ...

    async def owned_elsewhere(self, owner: str | None) -> bool:
        """Is a run recorded with this owner run by another process that is alive? Not when
        the owner is this process, or a process provably gone (`lifecycle.ownership`); for a
        shared database, a process on another host is alive while its heartbeat is fresh."""
        ...

    def pool_stats(self) -> PoolStats:
        """Its connections now: PostgreSQL's pool; SQLite's one connection, in use while its
        lock is held."""
        ...

    @property
    def redis_location(self) -> str | None:
        """The Redis that carries this cluster's signals and limits (its URL without the
        password), or None without one."""
        ...

    async def redis_ping_ms(self) -> float | None:
        """How long that Redis takes to answer a PING; None without one; raises when it does not answer."""
        ...

    async def keep_alive(self) -> None:
        """Until cancelled: tell the other processes sharing the database this one is alive
        (returns at once where no other host can share it)."""
        ...

    async def listen(self, signals: Signals) -> None:
        """Until cancelled: tell `signals` what other processes commit and send to this one
        (returns at once where no other process can share the database)."""
        ...

    async def send_control(self, owner: str, message: dict[str, Any]) -> bool:
        """Send a message to the process `owner`; False where the backend cannot."""
        ...

    async def announce_definitions(self, paths: Sequence[str]) -> None:
        """Tell the other processes these storage-relative files were written or removed
        (nothing to do where no other host shares the database)."""
        ...

    async def broadcast_tokens(self, payload: str) -> None:
        """Tell the other processes sharing the database (live token pieces; at most 7,000
        bytes; nothing to do where none can share it)."""
        ...

    async def checkpointer(self) -> BaseCheckpointSaver[Any]:
        """LangGraph's saver for this store, which makes the buffered records durable before
        it writes a checkpoint (a step is never in a checkpoint and missing from the records)."""
        ...

    # executions
    async def save_execution(self, execution: Execution, *, limit_key: str | None = None, queued: bool = False) -> None:
        """Insert or update; `limit_key` (whose concurrency limit the run counts against) is
        recorded when the execution is first saved. `queued`: recorded with no owner, the
        run queue's until a worker adopts it."""
        ...

    async def active_for(self, limit_key: str, statuses: Sequence[ExecutionStatus]) -> int:
        """How many executions recorded with this limit key are in `statuses`."""
        ...

    def admission(self, limit_key: str) -> AbstractAsyncContextManager[object]:
        """Held while a new execution of this limit key is counted and committed: across
        processes where the database is shared, a no-op where one process owns its runs."""
        ...

    async def get_execution(self, execution_id: str) -> Execution: ...

    async def claim(
        self,
        execution_id: str,
        statuses: Sequence[ExecutionStatus],
        *,
        queued: bool = False,
        limit_key: str | None = None,
        record: Execution | None = None,
    ) -> bool:
        """Atomically take an execution that is in one of `statuses` for this process (owned
        here, or by no one when `queued`; counted from now on against `limit_key` when one is
        given): of processes claiming it at once, exactly one gets True. It becomes `record`
        (its status and document, in the same statement: claimed and saved, or neither), or
        without one `initializing`, its full record saved by the claimer right after."""
        ...

    async def adopt(self, execution_id: str, previous_owner: str | None) -> bool:
        """Atomically take an `initializing` or `running` execution still recorded with
        `previous_owner` (a dead process, or None: queued) for this one; of processes
        adopting it at once, exactly one gets True."""
        ...

    async def release(self, execution_id: str) -> bool:
        """Give an `initializing` or `running` execution owned here back to the queue (owned
        by no one), for another process to adopt; False if it is not this process's."""
        ...

    async def list_executions(
        self, *, workflow_slug: str | None = None, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Execution], int]:
        """Newest first, and the total that match."""
        ...

    async def executions_in(self, statuses: Sequence[ExecutionStatus], only: Sequence[str] | None = None) -> list[OwnedExecution]: ...

    async def stats(self) -> ExecutionStats: ...

    async def workspace_counts(self) -> dict[str, int]:
        """How many executions each workspace has had (workspaces with none are absent)."""
        ...

    async def workflow_stats(self, slugs: Sequence[str] | None = None) -> dict[str, WorkflowRunStats]:
        """Per workflow slug (all of them, or these): how many runs, how the ended ones ended,
        the mean duration of its completed runs."""
        ...

    async def median_duration(self, slug: str) -> float | None:
        """The median duration of the workflow's completed runs (None without history)."""
        ...

    async def workflow_analytics(self, slug: str, *, start: float, end: float, granularity: Granularity) -> WorkflowAnalytics:
        """One workflow's runs created in [start, end): summary with median and p95, per-step
        figures, usage by model, and the runs per time bucket (only buckets that have runs)."""
        ...

    async def step_metrics(
        self, *, workflow_slug: str | None = None, start: float | None = None, end: float | None = None, slow: int = 5
    ) -> dict[str, Any]: ...

    # steps and nodes
    async def save_step(self, step: StepExecution) -> None: ...

    async def get_step(self, step_execution_id: str) -> StepExecution: ...

    async def list_steps(self, execution_id: str) -> list[StepExecution]: ...

    async def find_steps(
        self, *, execution_id: str | None = None, workflow_slug: str | None = None, status: str | None = None, limit: int = 50
    ) -> tuple[list[StepExecution], int]: ...

    async def save_node(self, node: NodeExecution) -> None: ...

    async def list_nodes(self, execution_id: str) -> list[NodeExecution]: ...

    # events and LLM calls
    async def append_event(self, execution_id: str, event_type: EventType, data: dict[str, Any]) -> Event:
        """Append the execution's next event (`seq` one more than its last)."""
        ...

    def new_sequence(self, execution_id: str) -> None:
        """A brand-new execution has no events: its seq starts at 0 without a query."""
        ...

    def forget_sequence(self, execution_id: str) -> None: ...

    async def list_events(
        self, execution_id: str, *, event_type: str | None = None, after_seq: int = 0, limit: int = 100, offset: int = 0
    ) -> tuple[list[Event], int]: ...

    async def events_after(self, execution_id: str, after_seq: int, limit: int) -> list[Event]:
        """Up to `limit` events with `seq > after_seq`, in order (no total counted: for followers)."""
        ...

    async def add_llm_call(self, execution_id: str, step_execution_id: str | None, usage: LLMUsage) -> None: ...

    async def llm_calls(self, execution_id: str) -> list[LLMUsage]: ...

    # retention (`store.runtime.retention`; the policy is `services.retention`'s)
    async def expired(self, scope: ExpiryScope, *, ended_before: float | None, keep: int, limit: int, skip: int = 0) -> list[Expired]:
        """Up to `limit` ended executions of `scope`: ended before `ended_before` (oldest
        first), else all but the newest `keep`; the first `skip` passed over."""
        ...

    async def delete_ended(self, execution_ids: Sequence[str]) -> tuple[list[str], dict[str, int]]:
        """Delete those still ended with all their rows, in one transaction: the ids deleted, rows per table."""
        ...

    async def rows_of(self, execution_ids: Sequence[str]) -> dict[str, int]: ...

    async def database_size(self) -> DatabaseSize: ...

    async def reclaim_space(self, *, above_bytes: int | None = None) -> int: ...

    def retention_turn(self) -> AbstractAsyncContextManager[bool]:
        """True inside when this process may prune now (one node of a cluster at a time)."""
        ...


def is_shared(url: str | None) -> bool:
    """Does the runtime `url` names let several processes and hosts run executions together
    (events, cancel and ownership across them)?"""
    return bool(url) and str(url).partition("://")[0].startswith("postgres")


def check_redis(url: str | None, redis_url: str | None) -> None:
    """Redis serves a cluster's processes only: with no shared runtime it is refused, not ignored."""
    if redis_url and not is_shared(url):
        raise ConfigurationError(
            "ECHO_REDIS_URL is for a cluster: it carries signals and limits between the processes of a PostgreSQL "
            "runtime. Set ECHO_RUNTIME_URL=postgresql://... too (docs/deployment.md), or unset ECHO_REDIS_URL"
        )
