"""`serve`, `worker`, `db upgrade`, `prune`, `keys new`, `validate`: running the service,
keeping its history in bounds and checking what it runs on."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from echo_orchestrator.cli.common import Commands, innermost, process_settings, report
from echo_orchestrator.errors import ConfigurationError
from echo_orchestrator.settings import Settings

if TYPE_CHECKING:
    from echo_orchestrator.services.retention import PruneReport


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    try:
        settings = process_settings(
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
    if settings.workers > 1 and not settings.reload:
        _metrics_folder(settings)
    from echo_orchestrator.logs import configure
    from echo_orchestrator.stopping import HTTP_GRACE_SECONDS

    configure(settings.log_level, settings.log_format)
    json_logs = settings.log_format == "json"
    uvicorn.run(
        "echo_orchestrator.api.app:app_factory",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=None if settings.reload else settings.workers,
        reload=settings.reload,
        reload_dirs=[str(Path(__file__).parents[1])] if settings.reload else None,
        log_level=settings.log_level,
        # JSON: our handler formats uvicorn's records too, and our access records (with the
        # request id, route, caller and duration) replace uvicorn's access line.
        log_config=None if json_logs else uvicorn.config.LOGGING_CONFIG,
        access_log=not json_logs,
        timeout_graceful_shutdown=HTTP_GRACE_SECONDS,
        # ECHO_TRUSTED_PROXIES is the one rule for X-Forwarded-For (`security.network.client_address`):
        # uvicorn's own would believe it from 127.0.0.1 and rewrite the client address before us.
        proxy_headers=False,
    )
    return 0


def _metrics_folder(settings: Settings) -> None:
    """Several worker processes keep their Prometheus figures in files of one fresh folder,
    added up at each scrape (`metrics.exposition`); an operator's own folder is used as is."""
    import shutil

    from echo_orchestrator.metrics import MULTIPROCESS_DIR

    if os.environ.get(MULTIPROCESS_DIR):
        return
    folder = settings.storage_dir / "runtime" / f"metrics-{settings.port}"
    shutil.rmtree(folder, ignore_errors=True)  # the figures of a previous run of this server
    folder.mkdir(parents=True)
    os.environ[MULTIPROCESS_DIR] = str(folder.resolve())


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
    from echo_orchestrator.store.runtime.base import check_redis, is_shared

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
    from echo_orchestrator.store.runtime.base import is_shared
    from echo_orchestrator.worker import run_worker

    try:
        settings = process_settings(
            args,
            max_concurrent_executions=args.concurrency,
            run_executions=True,
            metrics_port=args.metrics_port,
            host=args.host,
            allow_unauthenticated=True if args.allow_unauthenticated else None,
        )
        if not is_shared(settings.runtime_url):
            raise ConfigurationError(
                "a worker takes runs from the queue of a shared runtime: set ECHO_RUNTIME_URL=postgresql://... "
                "(docs/deployment.md); with the embedded SQLite runtime `serve` runs its executions itself"
            )
        if settings.max_concurrent_executions < 1:
            raise ConfigurationError("--concurrency must be at least 1")
        if settings.metrics_port is not None:
            _check_exposure(settings)  # the metrics listener, like the API, keeps to loopback without keys
    except ConfigurationError as exc:
        print(f"echo-orchestrator worker: {exc.message}", file=sys.stderr)
        return 2
    configure(settings.log_level, settings.log_format)
    try:
        anyio.run(run_worker, settings)
    except BaseException as exc:
        return report("worker", args, innermost(exc), debug=False)
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
    from echo_orchestrator.security.secret_scan import scan_folder
    from echo_orchestrator.store.definitions.check import check_storage

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
    secrets = scan_folder(root)
    for finding in secrets:  # where and why, never the value
        print(
            f"{(root / finding.file).as_posix()}: {finding.where}: warning: {finding.reason}; keep secrets out of "
            "the folder: write ${VAR} and set VAR where the service runs (docs/mcp.md)"
        )
    print(f"{report.files} file(s) checked, {len(report.problems)} problem(s), {len(secrets)} secret warning(s)", file=sys.stderr)
    return 1 if report.problems or (args.strict and secrets) else 0


def _db_upgrade(args: argparse.Namespace) -> int:
    import anyio

    from echo_orchestrator.backends import runtime_store

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


def _prune(args: argparse.Namespace) -> int:
    import anyio
    import msgspec

    from echo_orchestrator.container import open_retention

    settings = Settings.from_env(storage_dir=args.storage)

    async def prune() -> PruneReport:
        async with open_retention(settings) as retention:
            return await retention.prune(dry_run=args.dry_run)

    found = anyio.run(prune)
    if args.json:
        print(msgspec.json.encode(found).decode())
        return 0
    print(describe_prune(found, settings))
    return 0


def describe_prune(found: PruneReport, settings: Settings) -> str:
    if found.skipped:
        return f"nothing pruned: {found.skipped}"
    verb = "would delete" if found.dry_run else "deleted"
    policy = f"older than {settings.retention_days:g} days" if settings.retention_days else "no age limit"
    policy += f", beyond the newest {settings.retention_max_executions}" if settings.retention_max_executions else ", no count limit"
    lines = [f"retention ({policy}; workflows' own retention applies to their runs): {verb} {found.executions} ended execution(s)"]
    for workflow, count in sorted(found.by_workflow.items()):
        lines.append(f"  {workflow}: {count}")
    if found.executions:
        lines.append("rows: " + ", ".join(f"{table} {count}" for table, count in found.rows.items()))
        lines.append(f"run folders: {found.run_folders}" + ("" if found.dry_run else f"; space given back: {found.reclaimed_bytes} bytes"))
    if found.database_bytes is not None:
        lines.append(f"runtime database: {found.database_bytes} bytes; took {found.took_seconds:.2f}s")
    return "\n".join(lines)


def describe_schema_change(change: tuple[int, int] | None) -> str:
    before, after = change or (0, 0)
    if before == 0:
        return f"created (schema version {after})"
    if before < after:
        return f"migrated from schema version {before} to {after}"
    return f"already up to date (schema version {after})"


def add_commands(commands: Commands) -> None:
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
    worker.add_argument(
        "--metrics-port", type=int, help="also serve GET /metrics and /health on this port, behind the API's keys (env ECHO_METRICS_PORT)"
    )
    worker.add_argument("--host", help="the address --metrics-port listens on (env ECHO_HOST, default 127.0.0.1)")
    worker.add_argument("--allow-unauthenticated", action="store_true", help="--metrics-port on a non-loopback --host without keys")
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

    prune = commands.add_parser(
        "prune",
        help="delete ended executions past the retention policy (ECHO_RETENTION_DAYS, ECHO_RETENTION_MAX_EXECUTIONS), as serve does hourly",
    )
    prune.add_argument("--storage", type=Path, help="storage folder (env ECHO_STORAGE_DIR, default ./storage)")
    prune.add_argument("--dry-run", action="store_true", help="say what would be deleted; delete nothing")
    prune.add_argument("--json", action="store_true", help="the report as one JSON document")
    prune.set_defaults(handler=_prune)

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
    validate.add_argument(
        "--strict", action="store_true", help="exit 1 on warnings too: literal values that look like secrets (keys, tokens, passwords)"
    )
    validate.set_defaults(handler=_validate)
