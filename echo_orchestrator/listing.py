"""`echo-orchestrator workflows` and `echo-orchestrator executions`: what a storage folder (or
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

from echo_orchestrator.store.definitions.base import WorkflowQuery
from echo_orchestrator.store.definitions.index import DefinitionIndex
from echo_orchestrator.store.definitions.layout import Layout
from echo_orchestrator.store.definitions.loader import candidate_files, load

WORKFLOW_COLUMNS = ("slug", "workflow_id", "name", "status", "version", "execution_model", "category")
EXECUTION_COLUMNS = ("execution_id", "status", "workflow_slug", "graph_name", "created_at", "caller")


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
        sys.stdout.write(json.dumps({what: list(rows), "total": total}, default=str) + "\n")
        return
    console = stdout_console()
    table = plain_table(*columns)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)
    console.print(f"{len(rows)} of {total} {what}")
