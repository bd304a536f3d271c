"""`workflows`, `executions`, `schedules`, `plugins`: what a storage folder, a server or the plugins hold."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from echo_orchestrator.cli.common import Commands, innermost, report, storage_root
from echo_orchestrator.settings import Settings
from echo_orchestrator.store.definitions.base import WorkflowQuery


def _workflows(args: argparse.Namespace) -> int:
    from echo_orchestrator import listing

    query = WorkflowQuery(
        category=args.category,
        tags=[t for t in (args.tags or "").split(",") if t],
        search=args.search,
        status=args.status,
        include_archived=args.include_archived,
        limit=args.limit,
        offset=args.offset,
    )

    async def fetch() -> tuple[list[dict[str, Any]], int]:
        if args.server is None:
            root = storage_root(args)
            if not root.is_dir():
                raise ValueError(f"{root}: no such storage folder")
            return listing.local_workflows(root, query)
        import msgspec

        params = {**msgspec.structs.asdict(query), "tags": ",".join(query.tags) or None}
        return await _remote_page(args.server, "/workflows", params, "workflows")

    return _list("workflows", args, fetch, listing.WORKFLOW_COLUMNS)


async def _remote_page(server: str, path: str, params: dict[str, Any], what: str) -> tuple[list[dict[str, Any]], int]:
    """One page of a server's list route, as `--server` asks for it (ECHO_API_KEY authenticates)."""
    from echo_orchestrator.run_sources import raise_for, server_client

    async with server_client(server) as client:
        response = await client.get(path, params={k: v for k, v in params.items() if v is not None and v is not False})
        raise_for(response)
        body = response.json()
        return list(body.get(what, [])), int(body.get("total", 0))


def _list(
    what: str, args: argparse.Namespace, fetch: Callable[[], Awaitable[tuple[list[dict[str, Any]], int]]], columns: Sequence[str]
) -> int:
    import anyio

    from echo_orchestrator import listing

    try:
        rows, total = anyio.run(fetch)
    except BaseException as exc:
        return report(what, args, innermost(exc), debug=args.debug)
    listing.show(rows, total, columns, as_json=args.json, what=what)
    return 0


def _executions(args: argparse.Namespace) -> int:
    from echo_orchestrator import listing

    async def fetch() -> tuple[list[dict[str, Any]], int]:
        if args.server is None:
            root = storage_root(args)
            if not root.is_dir():
                raise ValueError(f"{root}: no such storage folder")
            return await listing.local_executions(
                root,
                runtime_url=Settings.from_env().runtime_url,
                status=args.status,
                workflow=args.workflow,
                limit=args.limit,
                offset=args.offset,
            )
        params = {"status": args.status, "workflow_slug": args.workflow, "limit": args.limit, "offset": args.offset}
        return await _remote_page(args.server, "/executions", params, "executions")

    return _list("executions", args, fetch, listing.EXECUTION_COLUMNS)


def _schedules(args: argparse.Namespace) -> int:
    from echo_orchestrator import listing

    async def fetch() -> tuple[list[dict[str, Any]], int]:
        if args.server is None:
            root = storage_root(args)
            if not root.is_dir():
                raise ValueError(f"{root}: no such storage folder")
            return await listing.local_schedules(root, runtime_url=Settings.from_env().runtime_url)
        views, total = await _remote_page(args.server, "/schedules", {}, "schedules")
        return [listing.schedule_row(v) for v in views], total

    return _list("schedules", args, fetch, listing.SCHEDULE_COLUMNS)


def _plugins(args: argparse.Namespace) -> int:
    import msgspec

    from echo_orchestrator.registry.registry import Registered, RegisteredGraph
    from echo_orchestrator.services.plugins import build_registry

    settings = Settings.from_env(plugins_dir=args.plugins_dir)
    registry, _ = build_registry(settings)
    snapshot = registry.load()
    groups: list[tuple[str, Mapping[str, Registered[Any] | RegisteredGraph]]] = [
        ("graph", snapshot.graphs),
        ("tool", snapshot.tools),
        ("mcp_server", snapshot.mcp_servers),
        ("llm_provider", snapshot.providers),
    ]
    rows = [
        (kind, name, item.origin.kind, item.origin.distribution, item.origin.version, item.origin.path, item.entry_point)
        for kind, items in groups
        for name, item in sorted(items.items())
    ]
    if args.json:
        loaded = [
            {"kind": k, "name": n, "origin": o, "distribution": d, "version": v, "path": p, "entry_point": e}
            for k, n, o, d, v, p, e in rows
        ]
        print(msgspec.json.encode({"plugins_dir": str(registry.plugins_dir), "loaded": loaded, "problems": snapshot.problems}).decode())
    else:
        from echo_orchestrator.listing import plain_table, stdout_console

        print(f"plugins folder: {registry.plugins_dir}")
        table = plain_table("KIND", "NAME", "ORIGIN", "DISTRIBUTION", "FROM")
        for k, n, o, d, v, p, e in rows:
            table.add_row(k, n, o, f"{d} {v or ''}".strip(), p or e.split(" = ", 1)[1])
        stdout_console().print(table)
        for problem in snapshot.problems:
            where = problem.path or problem.plugin
            print(f"FAILED {problem.plugin} ({problem.origin}, {where}): {problem.entry_point or '-'}: {problem.error}")
    return 1 if snapshot.problems else 0


def add_commands(commands: Commands) -> None:
    from typing import get_args

    from echo_orchestrator.lifecycle.workflows import CATALOGUE_STATUSES
    from echo_orchestrator.models.execution import ExecutionStatus

    workflows = commands.add_parser("workflows", help="list the workflows of a storage folder, with the catalogue's filters")
    workflows.add_argument("--storage", type=Path, help="storage folder (env ECHO_STORAGE_DIR, default ./storage)")
    workflows.add_argument("--server", metavar="URL", help="list a server's catalogue (host:port or URL; ECHO_API_KEY)")
    workflows.add_argument("--category")
    workflows.add_argument("--tags", help="comma-separated; every one must be present")
    workflows.add_argument("--search", help="in slug, name and description")
    workflows.add_argument("--status", choices=CATALOGUE_STATUSES)
    workflows.add_argument("--include-archived", action="store_true")
    workflows.add_argument("--limit", type=int, default=50)
    workflows.add_argument("--offset", type=int, default=0)
    workflows.add_argument("--json", action="store_true", help="machine-readable output")
    workflows.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    workflows.set_defaults(handler=_workflows)

    executions = commands.add_parser("executions", help="list executions (local runtime database, or a server), newest first")
    executions.add_argument("--storage", type=Path, help="storage folder (env ECHO_STORAGE_DIR, default ./storage)")
    executions.add_argument("--server", metavar="URL", help="list a server's executions (host:port or URL; ECHO_API_KEY)")
    executions.add_argument("--status", choices=get_args(ExecutionStatus))
    executions.add_argument("--workflow", help="a workflow slug")
    executions.add_argument("--limit", type=int, default=50)
    executions.add_argument("--offset", type=int, default=0)
    executions.add_argument("--json", action="store_true", help="machine-readable output")
    executions.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    executions.set_defaults(handler=_executions)

    schedules = commands.add_parser(
        "schedules", help="list the schedules of a storage folder (or a server): when each fires next, and last"
    )
    schedules.add_argument("--storage", type=Path, help="storage folder (env ECHO_STORAGE_DIR, default ./storage)")
    schedules.add_argument("--server", metavar="URL", help="list a server's schedules (host:port or URL; ECHO_API_KEY)")
    schedules.add_argument("--json", action="store_true", help="machine-readable output")
    schedules.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    schedules.set_defaults(handler=_schedules)

    plugins = commands.add_parser(
        "plugins", help="list the graphs, tools and LLM providers plugins provide, and what failed (exit 1 on failures)"
    )
    plugins.add_argument("--plugins-dir", type=Path, help="drop-in plugins folder (env ECHO_PLUGINS_DIR, default ./plugins)")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.set_defaults(handler=_plugins)
