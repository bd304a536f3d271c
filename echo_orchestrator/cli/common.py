"""What the commands share: settings from the environment and their flags, one event loop
with a rich console, and one-line failures with their exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from echo_orchestrator.settings import Settings

Commands = Any  # argparse's private _SubParsersAction


def process_settings(args: argparse.Namespace, **flags: Any) -> Settings:
    """A long-lived process's settings (`serve`, `worker`): the environment, then its flags."""
    return Settings.from_env(
        storage_dir=args.storage, plugins_dir=args.plugins_dir, log_level=args.log_level, log_format=args.log_format, **flags
    )


def console_settings(args: argparse.Namespace) -> Settings:
    # An in-process engine for one run: no file watching, no plugin reloading, no pruning
    # (the server's schedule and `prune` do that).
    return Settings.from_env(
        storage_dir=args.storage, plugins_dir=args.plugins_dir, watch=False, watch_plugins=False, retention_interval_seconds=0
    )


def console_command(name: str, args: argparse.Namespace, run: Callable[[Settings, Any], Awaitable[int]]) -> int:
    """`run` and `follow`: settings, a rich console, one event loop; errors as one line, exit 2."""
    import anyio
    from rich.console import Console

    # With --output json, stdout carries only the result document: the live view goes to stderr.
    out = Console(highlight=False, stderr=getattr(args, "output", "text") == "json")
    try:
        settings = console_settings(args)
        return anyio.run(run, settings, out)
    except BaseException as exc:
        return report(name, args, innermost(exc), debug=args.debug)


def innermost(exc: BaseException) -> BaseException:
    """The error that matters inside task-group wrappers (ExceptionGroups of one)."""
    while isinstance(exc, BaseExceptionGroup):
        leaves = [e for e in exc.exceptions if not isinstance(e, GeneratorExit)]
        if not leaves:
            break
        exc = leaves[0]
    return exc


def report(name: str, args: argparse.Namespace, exc: BaseException, *, debug: bool) -> int:
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


def storage_root(args: argparse.Namespace) -> Path:
    return Path(args.storage or os.environ.get("ECHO_STORAGE_DIR") or "storage")


def client_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--output", choices=["text", "json"], default="text", help="json: print only the result document on stdout (for scripts)"
    )
    command.add_argument("--debug", action="store_true", help="show the traceback of a failure")
