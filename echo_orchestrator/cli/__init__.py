"""`echo-orchestrator`: serve the API, check a storage folder, run and follow workflows, list
what a storage folder, a server or the plugins hold."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from echo_orchestrator import __version__
from echo_orchestrator.cli import lists, mcp, runs, service
from echo_orchestrator.cli.common import innermost, report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="echo-orchestrator", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    service.add_commands(commands)
    runs.add_commands(commands)
    lists.add_commands(commands)
    mcp.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except BaseException as exc:
        return report(args.command, args, innermost(exc), debug=getattr(args, "debug", False))
