"""`echo-orchestrator`: serve the API, check a storage folder, list plugins."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from echo_orchestrator import __version__
from echo_orchestrator.errors import ConfigurationError
from echo_orchestrator.settings import Settings
from echo_orchestrator.store.base import WorkflowQuery


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    try:
        settings = _process_settings(
            args,
            host=args.host,
            port=args.port,
            workers=args.workers,
            reload=True if args.reload else None,
            allow_unauthenticated=True if args.allow_unauthenticated else None,
            run_executions=False if args.no_worker else None,
        )
        _check_exposure(settings)
        _check_workers(settings)
    except ConfigurationError as exc:
        print(f"echo-orchestrator: {exc.message}", file=sys.stderr)
        return 2
    # Worker processes (and the reloader) build the app from the environment, so the
    # resolved settings travel there; flags have already won over the inherited values.
    os.environ.update(settings.to_env())
    from echo_orchestrator.logs import configure

    configure(settings.log_level, settings.log_format)
    json_logs = settings.log_format == "json"
    uvicorn.run(
        "echo_orchestrator.api.app:app_factory",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=None if settings.reload else settings.workers,
        reload=settings.reload,
        reload_dirs=[str(Path(__file__).parent)] if settings.reload else None,
        log_level=settings.log_level,
        # JSON: our handler formats uvicorn's records too, and our access records (with the
        # request id, route, caller and duration) replace uvicorn's access line.
        log_config=None if json_logs else uvicorn.config.LOGGING_CONFIG,
        access_log=not json_logs,
        timeout_graceful_shutdown=10,
    )
    return 0


def _process_settings(args: argparse.Namespace, **flags: Any) -> Settings:
    """A long-lived process's settings (`serve`, `worker`): the environment, then its flags."""
    return Settings.from_env(
        storage_dir=args.storage, plugins_dir=args.plugins_dir, log_level=args.log_level, log_format=args.log_format, **flags
    )


def _check_exposure(settings: Settings) -> None:
    """Keys and tokens are read now, so a bad setting is one line, not a traceback per worker;
    and a server nobody authenticates to stays on loopback unless told otherwise."""
    from echo_orchestrator.security.callers import Authenticator
    from echo_orchestrator.security.network import is_loopback

    authenticator = Authenticator.from_settings(settings)
    if not authenticator.required and not is_loopback(settings.host) and not settings.allow_unauthenticated:
        raise ConfigurationError(
            f"refusing to serve on {settings.host} without authentication: set ECHO_API_KEYS (see "
            "`echo-orchestrator keys new`), ECHO_API_KEYS_FILE or ECHO_JWT_SECRET / ECHO_JWT_JWKS, "
            "or pass --allow-unauthenticated if something in front of it authenticates callers"
        )


def _check_workers(settings: Settings) -> None:
    """Several worker processes need a runtime they share, or cancel and live streams would
    reach only the worker that runs each execution: no half-working mode. A node that runs
    nothing needs a queue that someone else takes runs from."""
    from echo_orchestrator.store.runtime import check_redis, is_shared

    check_redis(settings.runtime_url, settings.redis_url)
    if is_shared(settings.runtime_url):
        return
    if settings.workers > 1:
        raise ConfigurationError(
            f"refusing --workers {settings.workers} on the embedded SQLite runtime: each worker would own its runs alone "
            "(cancel and live streams would reach only the worker running them). Set ECHO_RUNTIME_URL=postgresql://... "
            "(docs/deployment.md), or serve one worker"
        )
    if not settings.run_executions:
        raise ConfigurationError(
            "refusing --no-worker on the embedded SQLite runtime: there is no queue for other processes to take this "
            "node's runs from. Set ECHO_RUNTIME_URL=postgresql://... and start `echo-orchestrator worker` processes "
            "(docs/deployment.md)"
        )


def _worker(args: argparse.Namespace) -> int:
    import anyio

    from echo_orchestrator.logs import configure
    from echo_orchestrator.store.runtime import is_shared
    from echo_orchestrator.worker import run_worker

    try:
        settings = _process_settings(args, max_concurrent_executions=args.concurrency, run_executions=True)
        if not is_shared(settings.runtime_url):
            raise ConfigurationError(
                "a worker takes runs from the queue of a shared runtime: set ECHO_RUNTIME_URL=postgresql://... "
                "(docs/deployment.md); with the embedded SQLite runtime `serve` runs its executions itself"
            )
        if settings.max_concurrent_executions < 1:
            raise ConfigurationError("--concurrency must be at least 1")
    except ConfigurationError as exc:
        print(f"echo-orchestrator worker: {exc.message}", file=sys.stderr)
        return 2
    configure(settings.log_level, settings.log_format)
    try:
        anyio.run(run_worker, settings)
    except BaseException as exc:
        return _report("worker", args, _innermost(exc), debug=False)
    return 0


def _keys_new(args: argparse.Namespace) -> int:
    from echo_orchestrator.security.keys import KEY_ID, new_key, stored_line

    if args.id is not None and not KEY_ID.fullmatch(args.id):
        print("echo-orchestrator keys new: --id: letters, digits and . _ @ - only, at most 64", file=sys.stderr)
        return 2
    key = new_key()
    print(key)
    line = stored_line(key, key_id=args.id, read_only=args.read_only)
    print(f"# give the key above to the client; add this line to ECHO_API_KEYS_FILE (it holds no secret):\n{line}", file=sys.stderr)
    return 0


def _validate(args: argparse.Namespace) -> int:
    from echo_orchestrator.store.check import check_storage

    root = Path(args.path or os.environ.get("ECHO_STORAGE_DIR") or "storage")
    if not root.is_dir():
        print(f"echo-orchestrator validate: {root}: no such storage folder", file=sys.stderr)
        return 2
    report = check_storage(root)
    if args.deep:
        from echo_orchestrator.services.deep_check import deep_problems

        report.problems += deep_problems(root, Settings.from_env(plugins_dir=args.plugins_dir))
    for problem in report.problems:
        where = problem.file if problem.file == "workflows" else (root / problem.file).as_posix()
        print(f"{where}: {problem.field or '-'}: {problem.message}")
    print(f"{report.files} file(s) checked, {len(report.problems)} problem(s)", file=sys.stderr)
    return 1 if report.problems else 0


def _storage_root(args: argparse.Namespace) -> Path:
    return Path(args.storage or os.environ.get("ECHO_STORAGE_DIR") or "storage")


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
            root = _storage_root(args)
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
        return _report(what, args, _innermost(exc), debug=args.debug)
    listing.show(rows, total, columns, as_json=args.json, what=what)
    return 0


def _executions(args: argparse.Namespace) -> int:
    from echo_orchestrator import listing

    async def fetch() -> tuple[list[dict[str, Any]], int]:
        if args.server is None:
            root = _storage_root(args)
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


def _plugins(args: argparse.Namespace) -> int:
    import msgspec

    from echo_orchestrator.container import build_registry
    from echo_orchestrator.registry.registry import Registered, RegisteredGraph

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


def _console_settings(args: argparse.Namespace) -> Settings:
    # An in-process engine for one run: no file watching, no plugin reloading.
    return Settings.from_env(storage_dir=args.storage, plugins_dir=args.plugins_dir, watch=False, watch_plugins=False)


def _console_command(name: str, args: argparse.Namespace, run: Callable[[Settings, Any], Awaitable[int]]) -> int:
    """`run` and `follow`: settings, a rich console, one event loop; errors as one line, exit 2."""
    import anyio
    from rich.console import Console

    # With --output json, stdout carries only the result document: the live view goes to stderr.
    out = Console(highlight=False, stderr=getattr(args, "output", "text") == "json")
    try:
        settings = _console_settings(args)
        return anyio.run(run, settings, out)
    except BaseException as exc:
        return _report(name, args, _innermost(exc), debug=args.debug)


def _innermost(exc: BaseException) -> BaseException:
    """The error that matters inside task-group wrappers (ExceptionGroups of one)."""
    while isinstance(exc, BaseExceptionGroup):
        leaves = [e for e in exc.exceptions if not isinstance(e, GeneratorExit)]
        if not leaves:
            break
        exc = leaves[0]
    return exc


def _report(name: str, args: argparse.Namespace, exc: BaseException, *, debug: bool) -> int:
    import traceback

    import httpx

    from echo_orchestrator.errors import EchoError

    if isinstance(exc, KeyboardInterrupt):
        print(f"echo-orchestrator {name}: interrupted", file=sys.stderr)
        return 130
    if isinstance(exc, SystemExit):
        return int(exc.code or 0)
    if debug:
        traceback.print_exception(exc)
    if isinstance(exc, httpx.HTTPError):  # the server is down, or the connection broke for good
        print(f"echo-orchestrator {name}: cannot reach {getattr(args, 'server', None)}: {exc}", file=sys.stderr)
    elif isinstance(exc, EchoError):
        print(f"echo-orchestrator {name}: {exc.message}", file=sys.stderr)
    elif isinstance(exc, ValueError | OSError):
        print(f"echo-orchestrator {name}: {exc}", file=sys.stderr)
    else:
        print(f"echo-orchestrator {name}: unexpected {type(exc).__name__}: {exc} (--debug shows where)", file=sys.stderr)
    return 2


def _save(args: argparse.Namespace) -> int:
    """Validate a workflow's stored draft fully and save it as its temp copy or a final version."""
    import anyio

    from echo_orchestrator.errors import NotValidated

    if args.version is not None and args.to == "temp":
        print("echo-orchestrator save: --version names a final version; a temp copy has none", file=sys.stderr)
        return 2

    async def save() -> tuple[str, str, str]:
        if args.server is not None:
            return await _save_remote(args.server, args.workflow, args.to, args.version)
        from echo_orchestrator.container import open_services

        async with open_services(_console_settings(args), queued=False) as services:
            return await services.workflows.save_draft_as(args.workflow, args.to, args.version)

    try:
        workflow_id, version, path = anyio.run(save)
    except BaseException as exc:
        inner = _innermost(exc)
        if isinstance(inner, NotValidated):
            for error in inner.errors:  # one line per problem, as `validate` prints them
                print(f"{args.workflow}: {error}")
            print(f"echo-orchestrator save: {inner.message}; nothing saved", file=sys.stderr)
            return 1
        return _report("save", args, inner, debug=args.debug)
    what = "its temp copy" if args.to == "temp" else f"final version {version}"
    print(f"saved {workflow_id} as {what}: {path}")
    return 0


async def _save_remote(server: str, ref: str, stage: str, version: str | None) -> tuple[str, str, str]:
    """`save --server`: the same steps over the API (validate/final, then temp/save or final/save)."""
    from echo_orchestrator.errors import NotValidated
    from echo_orchestrator.run_sources import raise_for, server_client

    async with server_client(server) as client:
        draft = await client.get(f"/workflows/{ref}/draft")
        raise_for(draft)
        report = await client.post("/workflows/validate/final", json={"workflow": draft.json()})
        raise_for(report)
        if not report.json()["valid"]:
            raise NotValidated(ref, report.json()["errors"])
        validated = await client.get(f"/workflows/{ref}/draft")
        raise_for(validated)
        workflow = validated.json()
        if stage == "temp":
            saved = await client.post("/workflows/temp/save", json=workflow)
            raise_for(saved)
            return str(workflow["workflow_id"]), str(workflow["version"]), str(saved.json()["path"])
        body: dict[str, Any] = {"workflow": workflow, **({"version": version} if version else {})}
        saved = await client.post("/workflows/final/save", json=body)
        raise_for(saved)
        answer = saved.json()
        return str(answer["workflow_id"]), str(answer["version"]), str(answer["path"])


def _run(args: argparse.Namespace) -> int:
    from echo_orchestrator import console

    async def run(settings: Settings, out: Any) -> int:
        inputs = console.parse_inputs(args.input or [], args.input_file or [])
        return await console.run(args.workflow, inputs, server=args.server, settings=settings, console=out, output=args.output)

    return _console_command("run", args, run)


def _follow(args: argparse.Namespace) -> int:
    from echo_orchestrator import console

    async def follow(settings: Settings, out: Any) -> int:
        return await console.follow(args.execution_id, server=args.server, settings=settings, console=out, output=args.output)

    return _console_command("follow", args, follow)


def _db_upgrade(args: argparse.Namespace) -> int:
    import anyio

    from echo_orchestrator.store.runtime import runtime_store

    settings = Settings.from_env(storage_dir=args.storage)
    runtime = runtime_store(settings.runtime_url, settings.storage_dir)

    async def upgrade() -> None:
        await runtime.open()  # migrates our tables
        try:
            await runtime.checkpointer()  # and LangGraph's
        finally:
            await runtime.close()

    anyio.run(upgrade)
    print(f"runtime database {runtime.location}: {describe_schema_change(runtime.schema_change)}")
    return 0


def describe_schema_change(change: tuple[int, int] | None) -> str:
    before, after = change or (0, 0)
    if before == 0:
        return f"created (schema version {after})"
    if before < after:
        return f"migrated from schema version {before} to {after}"
    return f"already up to date (schema version {after})"


def _client_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--output", choices=["text", "json"], default="text", help="json: print only the result document on stdout (for scripts)"
    )
    command.add_argument("--debug", action="store_true", help="show the traceback of a failure")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="echo-orchestrator", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_service_commands(commands)
    _add_run_commands(commands)
    _add_listing_commands(commands)
    return parser


Commands = Any  # argparse's private _SubParsersAction


def _add_service_commands(commands: Commands) -> None:
    serve = commands.add_parser("serve", help="start the HTTP API (uvicorn)")
    serve.add_argument("--host", help="bind address (env ECHO_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env ECHO_PORT, default 8000)")
    serve.add_argument("--storage", type=Path, help="storage folder (env ECHO_STORAGE_DIR, default ./storage)")
    serve.add_argument("--plugins-dir", type=Path, help="drop-in plugins folder (env ECHO_PLUGINS_DIR, default ./plugins)")
    serve.add_argument("--workers", type=int, help="worker processes (env ECHO_WORKERS, default 1)")
    serve.add_argument("--reload", action="store_true", help="restart when the code changes (development)")
    serve.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--log-format", choices=["text", "json"], help="json: one JSON object a line (env ECHO_LOG_FORMAT)")
    serve.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="serve on a non-loopback address with no API key or token configured (env ECHO_ALLOW_UNAUTHENTICATED)",
    )
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="queue executions for `worker` processes instead of running any here (PostgreSQL runtime; env ECHO_RUN_EXECUTIONS=false)",
    )
    serve.set_defaults(handler=_serve)

    worker = commands.add_parser("worker", help="run queued executions, no HTTP (PostgreSQL runtime: ECHO_RUNTIME_URL)")
    worker.add_argument("--storage", type=Path, help="storage folder (env ECHO_STORAGE_DIR, default ./storage)")
    worker.add_argument("--plugins-dir", type=Path, help="drop-in plugins folder (env ECHO_PLUGINS_DIR, default ./plugins)")
    worker.add_argument("--concurrency", type=int, help="executions run at once (env ECHO_MAX_CONCURRENT_EXECUTIONS, default 50)")
    worker.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"])
    worker.add_argument("--log-format", choices=["text", "json"], help="json: one JSON object a line (env ECHO_LOG_FORMAT)")
    worker.set_defaults(handler=_worker)

    db = commands.add_parser("db", help="the runtime database (run history, checkpoints)")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_upgrade = db_commands.add_parser(
        "upgrade", help="create or migrate the runtime database (ECHO_RUNTIME_URL) to this release's schema; serve does it too"
    )
    db_upgrade.add_argument("--storage", type=Path, help="storage folder (env ECHO_STORAGE_DIR, default ./storage)")
    db_upgrade.set_defaults(handler=_db_upgrade)

    keys = commands.add_parser("keys", help="make API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    keys_new = key_commands.add_parser(
        "new", help="print a fresh API key (stdout) and the line to store for it (stderr: its hash, not the key)"
    )
    keys_new.add_argument("--read-only", action="store_true", help="the key may only read (GET and live streams)")
    keys_new.add_argument("--id", help="a name for the key, shown in logs and on the executions it starts")
    keys_new.set_defaults(handler=_keys_new)

    validate = commands.add_parser("validate", help="check every file of a storage folder; exit 1 on any problem (pre-commit, CI)")
    validate.add_argument("path", nargs="?", help="storage folder (env ECHO_STORAGE_DIR, default ./storage)")
    validate.add_argument(
        "--deep", action="store_true", help="also validate and compile every workflow as a run would (plugins, providers, tools)"
    )
    validate.add_argument("--plugins-dir", type=Path, help="drop-in plugins folder for --deep (env ECHO_PLUGINS_DIR)")
    validate.set_defaults(handler=_validate)


def _add_run_commands(commands: Commands) -> None:
    run = commands.add_parser(
        "run",
        help="run a workflow (or graph:<name>) and show its progress; exit 0 completed, 1 failed, 3 cancelled, 4 paused",
    )
    run.add_argument("workflow", help="workflow slug or id, or graph:<name> for a plugin graph")
    run.add_argument("--input", action="append", metavar="KEY=VALUE", help="an input (JSON values allowed); repeatable")
    run.add_argument("--input-file", action="append", type=Path, metavar="FILE", help="a JSON object of inputs; repeatable")
    run.add_argument("--server", metavar="URL", help="run on this server (default: in this process, on the local storage)")
    run.add_argument("--storage", type=Path, help="storage folder for a local run (env ECHO_STORAGE_DIR, default ./storage)")
    run.add_argument("--plugins-dir", type=Path, help="drop-in plugins folder for a local run")
    _client_options(run)
    run.set_defaults(handler=_run)

    save = commands.add_parser(
        "save",
        help="validate a workflow's draft fully and save it as its temp copy or a final version (exit 1: not valid, nothing saved)",
    )
    save.add_argument("workflow", help="workflow slug or id (its stored draft is saved)")
    save.add_argument("--to", choices=["temp", "final"], default="final", help="what to save it as (default: a final version)")
    save.add_argument(
        "--version",
        help="the final version (409 if it exists); default: the draft's own while above every saved version, else the next",
    )
    save.add_argument("--server", metavar="URL", help="save through this server (default: the local storage folder)")
    save.add_argument("--storage", type=Path, help="storage folder (env ECHO_STORAGE_DIR, default ./storage)")
    save.add_argument("--plugins-dir", type=Path, help="drop-in plugins folder (env ECHO_PLUGINS_DIR, default ./plugins)")
    save.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    save.set_defaults(handler=_save)

    follow = commands.add_parser("follow", help="follow an execution's live progress until it ends")
    follow.add_argument("execution_id")
    follow.add_argument("--server", metavar="URL", help="follow it on this server (default: read the local storage's runtime database)")
    follow.add_argument("--storage", type=Path, help="storage folder (env ECHO_STORAGE_DIR, default ./storage)")
    follow.add_argument("--plugins-dir", type=Path, help=argparse.SUPPRESS)
    _client_options(follow)
    follow.set_defaults(handler=_follow)


def _add_listing_commands(commands: Commands) -> None:
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

    plugins = commands.add_parser(
        "plugins", help="list the graphs, tools and LLM providers plugins provide, and what failed (exit 1 on failures)"
    )
    plugins.add_argument("--plugins-dir", type=Path, help="drop-in plugins folder (env ECHO_PLUGINS_DIR, default ./plugins)")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.set_defaults(handler=_plugins)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except BaseException as exc:
        return _report(args.command, args, _innermost(exc), debug=getattr(args, "debug", False))
