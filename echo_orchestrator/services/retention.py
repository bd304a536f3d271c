"""Run history that does not grow for ever: ended executions past the retention policy are
deleted with everything that is theirs, in bounded batches, by one process of a cluster at a
time (`RuntimeStore.retention_turn`), on a schedule (`prune_forever`) and on demand
(`echo-orchestrator prune`).

The policy: `ECHO_RETENTION_DAYS` (by age, from when a run ended) and
`ECHO_RETENTION_MAX_EXECUTIONS` (the newest N ended runs are kept), 0 switching either off;
a workflow's `retention` overrides either for its own runs (a workflow kept for audit says
`{"days": 0, "max_executions": 0}`). Paused and running executions are never deleted: the
store only selects, and only deletes, ended ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime

import anyio
import anyio.to_thread
import msgspec

from echo_orchestrator.errors import Conflict, NotFound
from echo_orchestrator.models import utcnow
from echo_orchestrator.settings import Settings
from echo_orchestrator.store.definitions.base import DefinitionStore, WorkflowQuery
from echo_orchestrator.store.runtime.base import RuntimeStore
from echo_orchestrator.store.runtime.retention import Expired, ExpiryScope
from echo_orchestrator.store.workspaces.folders import Workspaces

log = logging.getLogger(__name__)

GRAPH_RUNS = "(graph runs)"  # how a report names executions of no workflow
# Between two batches runs' own writes go first.
PAUSE_BETWEEN_BATCHES = 0.01


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    """0 keeps for ever: `days` by age, `max_executions` by count."""

    days: float
    max_executions: int

    @property
    def deletes(self) -> bool:
        return self.days > 0 or self.max_executions > 0


class RetentionPolicy(msgspec.Struct, kw_only=True):
    days: float
    max_executions: int
    interval_seconds: float
    overrides: dict[str, Rule]  # per workflow (its slug, else its id), as its `retention` says


class PruneReport(msgspec.Struct, kw_only=True):
    """What a prune removed (or, with `dry_run`, would remove)."""

    dry_run: bool
    started_at: datetime
    took_seconds: float = 0.0
    skipped: str | None = None  # why nothing was looked at (another node's turn)
    executions: int = 0
    by_workflow: dict[str, int] = msgspec.field(default_factory=dict)
    rows: dict[str, int] = msgspec.field(default_factory=dict)  # per table
    run_folders: int = 0
    reclaimed_bytes: int = 0
    database_bytes: int | None = None  # after


class RetentionService:
    def __init__(self, settings: Settings, store: DefinitionStore, runtime: RuntimeStore, workspaces: Workspaces) -> None:
        self._settings, self._store, self._runtime, self._workspaces = settings, store, runtime, workspaces
        self.last: PruneReport | None = None  # the last scheduled or requested prune (health)
        self._overrides_seen: dict[str, Rule] = {}

    async def policy(self) -> RetentionPolicy:
        """The policy now: every workflow's own rule read (a walk of the catalogue)."""
        self._overrides_seen = await self._overrides()
        return self.known_policy()

    def known_policy(self) -> RetentionPolicy:
        """The policy with the workflows' rules as the last prune read them: what health
        shows, without walking the catalogue at each probe."""
        s = self._settings
        return RetentionPolicy(
            days=s.retention_days,
            max_executions=s.retention_max_executions,
            interval_seconds=s.retention_interval_seconds,
            overrides=dict(self._overrides_seen),
        )

    async def _overrides(self) -> dict[str, Rule]:
        """Each workflow's own rule, from the version that runs (its newest final, else its temp copy)."""
        s, overrides, offset = self._settings, {}, 0
        while True:
            page = await self._store.list_workflows(WorkflowQuery(include_archived=True, limit=500, offset=offset))
            for summary in page.items:
                try:
                    workflow = await self._store.get_runnable(summary.workflow_id)
                except (NotFound, Conflict):  # a draft only: it has no runs of its own to keep
                    continue
                if workflow.retention is not None:
                    own = workflow.retention
                    overrides[workflow.key] = Rule(
                        days=s.retention_days if own.days is None else own.days,
                        max_executions=s.retention_max_executions if own.max_executions is None else own.max_executions,
                    )
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return overrides

    async def prune(self, *, dry_run: bool = False) -> PruneReport:
        began = time.monotonic()
        report = PruneReport(dry_run=dry_run, started_at=utcnow())
        async with self._runtime.retention_turn() as mine:
            if not mine:
                report.skipped = "another process of the cluster is pruning"
            else:
                policy = await self.policy()
                global_rule = Rule(days=policy.days, max_executions=policy.max_executions)
                scopes = [(ExpiryScope(slug=slug), rule) for slug, rule in sorted(policy.overrides.items())]
                scopes.append((ExpiryScope(excluded=tuple(sorted(policy.overrides))), global_rule))
                for scope, rule in scopes:
                    if rule.deletes:
                        await self._prune_scope(scope, rule, report)
                if not dry_run and report.executions:
                    report.reclaimed_bytes = await self._runtime.reclaim_space()
                report.database_bytes = (await self._runtime.database_size()).size_bytes
        report.took_seconds = round(time.monotonic() - began, 3)
        if not dry_run:
            self.last = report
            if report.executions:
                log.info(
                    "retention: deleted %d ended execution(s) (%s), %d run folder(s); %d bytes given back, in %.2fs",
                    report.executions,
                    ", ".join(f"{table} {count}" for table, count in report.rows.items()),
                    report.run_folders,
                    report.reclaimed_bytes,
                    report.took_seconds,
                )
        return report

    async def _prune_scope(self, scope: ExpiryScope, rule: Rule, report: PruneReport) -> None:
        """By age, then by count, batch by batch (a dry run pages through instead of deleting)."""
        batch = self._settings.retention_batch_size
        seen: set[str] = set()
        stages: list[tuple[float | None, int]] = []
        if rule.days > 0:
            stages.append((time.time() - rule.days * 86400, 0))
        if rule.max_executions > 0:
            stages.append((None, rule.max_executions))
        for ended_before, keep in stages:
            skip = 0
            while True:
                found = await self._runtime.expired(scope, ended_before=ended_before, keep=keep, limit=batch, skip=skip)
                if not found:
                    break
                if report.dry_run:
                    skip += len(found)
                    fresh = [e for e in found if e.execution_id not in seen]
                    seen.update(e.execution_id for e in fresh)
                    _add(report, fresh, await self._runtime.rows_of([e.execution_id for e in fresh]))
                    continue
                deleted, rows = await self._runtime.delete_ended([e.execution_id for e in found])
                if not deleted:  # each found run was resumed meanwhile: the next query moves on
                    skip += len(found)
                gone = [e for e in found if e.execution_id in set(deleted)]
                _add(report, gone, rows)
                report.run_folders += await anyio.to_thread.run_sync(self._remove_folders, gone)
                await anyio.sleep(PAUSE_BETWEEN_BATCHES)

    def _remove_folders(self, gone: Sequence[Expired]) -> int:
        removed = 0
        for execution in gone:
            try:
                if self._workspaces.remove_run_folder(execution.workspace, execution.execution_id):
                    removed += 1
            except NotFound:  # its workspace was removed, and its folder with it
                continue
            except OSError as exc:  # left for the workspace clean-up
                log.warning("retention: run folder of %s not removed: %s", execution.execution_id, exc)
        return removed

    async def prune_forever(self) -> None:
        """The lifespan's schedule: a prune at start, then every `retention_interval_seconds`."""
        while True:
            try:
                await self.prune()
            except Exception:
                log.exception("retention failed; trying again at the next interval")
            await anyio.sleep(self._settings.retention_interval_seconds)


def _add(report: PruneReport, executions: Sequence[Expired], rows: dict[str, int]) -> None:
    report.executions += len(executions)
    for execution in executions:
        key = execution.workflow_slug or GRAPH_RUNS
        report.by_workflow[key] = report.by_workflow.get(key, 0) + 1
    for table, count in rows.items():
        if table != "executions":
            report.rows[table] = report.rows.get(table, 0) + count
    report.rows["executions"] = report.executions
