"""`echo-orchestrator workflows`, `executions` and `schedules`: what a storage folder (or
a server) holds, as a table or as JSON, with the API's filters."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table

from echo_orchestrator.models import rfc3339
from echo_orchestrator.store.definitions.base import WorkflowQuery
from echo_orchestrator.store.definitions.index import DefinitionIndex
from echo_orchestrator.store.definitions.layout import Layout
from echo_orchestrator.store.definitions.loader import candidate_files, load

WORKFLOW_COLUMNS = ("slug", "workflow_id", "name", "status", "version", "execution_model", "category")
EXECUTION_COLUMNS = ("execution_id", "status", "workflow_slug", "graph_name", "created_at", "caller")
SCHEDULE_COLUMNS = ("schedule_id", "runs", "when", "enabled", "overlap", "next_fire", "last_fire")


def schedule_row(view: Mapping[str, Any]) -> dict[str, Any]:
    """One line of `schedules`, from a schedule's view (the route's answer, or built here)."""
    schedule, fires = view["schedule"], view.get("recent_fires") or []
    when = f"{schedule['cron']} ({schedule['timezone']})" if schedule.get("cron") else f"every {schedule['interval_seconds']:g} s"
    last = fires[0] if fires else None
    return {
        "schedule_id": schedule["schedule_id"],
        "runs": f"workflow {schedule['workflow']}" if schedule.get("workflow") else f"graph {schedule['graph']}",
        "when": when,
        "enabled": "yes" if schedule["enabled"] else "paused",
        "overlap": schedule["overlap"],
        "next_fire": (view.get("next_fire_times") or [None])[0],
        "last_fire": None if last is None else f"{last['fire_at']} {last['outcome']}",
        "view": dict(view),
    }


async def local_schedules(root: Path, *, runtime_url: str | None) -> tuple[list[dict[str, Any]], int]:
    """The schedules of a storage folder, with their next fire and (from its runtime database,
    when there is one) their last."""
    from echo_orchestrator.backends import runtime_store
    from echo_orchestrator.lifecycle.schedules import next_fires
    from echo_orchestrator.models import utcnow

    layout = Layout(root)
    index = DefinitionIndex()
    for path in candidate_files(layout):
        index.apply(load(layout, path))
    runtime = None
    if runtime_url is not None or (root / "runtime" / "runtime.sqlite").exists():
        runtime = runtime_store(runtime_url, root)
        await runtime.open()
    try:
        views = []
        for schedule_id, schedule in sorted(index.schedules.items()):
            fires = [] if runtime is None else await runtime.list_fires(schedule_id, limit=1)
            upcoming = next_fires(schedule, utcnow(), 1) if schedule.enabled else []
            views.append({"schedule": schedule, "next_fire_times": [rfc3339(m) for m in upcoming], "recent_fires": fires})
    finally:
        if runtime is not None:
            await runtime.close()
    rows = [schedule_row(msgspec.to_builtins(v)) for v in views]
    return rows, len(rows)


def local_workflows(root: Path, query: WorkflowQuery) -> tuple[list[dict[str, Any]], int]:
    layout = Layout(root)
    index = DefinitionIndex()
    for path in candidate_files(layout):
        index.apply(load(layout, path))
    items, total = index.query(query)
    return [msgspec.to_builtins(item) for item in items], total


async def local_executions(
    root: Path, *, runtime_url: str | None, status: str | None, workflow: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    from echo_orchestrator.backends import runtime_store

    if runtime_url is None and not (root / "runtime" / "runtime.sqlite").exists():
        return [], 0
    runtime = runtime_store(runtime_url, root)
    await runtime.open()
    try:
        items, total = await runtime.list_executions(workflow_slug=workflow, status=status, limit=limit, offset=offset)
    finally:
        await runtime.close()
    return [msgspec.to_builtins(item) for item in items], total


def stdout_console() -> Console:
    # Piped into a file or another program: wide enough that no id or path is cut.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 240)


def plain_table(*columns: str) -> Table:
    return Table(*columns, box=None, header_style="bold")


def show(rows: Sequence[Mapping[str, Any]], total: int, columns: Sequence[str], *, as_json: bool, what: str) -> None:
    if as_json:
        shown = [row.get("view", row) for row in rows]  # a row built from a fuller answer shows that
        sys.stdout.write(json.dumps({what: shown, "total": total}, default=str) + "\n")
        return
    console = stdout_console()
    table = plain_table(*columns)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)
    console.print(f"{len(rows)} of {total} {what}")
