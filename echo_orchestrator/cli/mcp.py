"""`mcp`: the workflows as MCP tools over stdio, for an MCP client's `command` entry."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from echo_orchestrator.cli.common import Commands, innermost, report


def _mcp(args: argparse.Namespace) -> int:
    """Serve one client on stdin/stdout until it closes them (exit 0). stdout carries only
    the protocol: logs go to stderr."""
    import anyio

    from echo_orchestrator.logs import configure
    from echo_orchestrator.settings import Settings

    configure(args.log_level, "text")  # the root handler writes to stderr

    async def serve_local() -> None:
        from echo_orchestrator.container import open_services
        from echo_orchestrator.mcp_server import McpFace
        from echo_orchestrator.security.callers import ANONYMOUS

        # A personal process: it runs what its client starts, takes nothing from a cluster's
        # queue, prunes nothing; it follows storage/ so its tool list stays true.
        settings = Settings.from_env(storage_dir=args.storage, plugins_dir=args.plugins_dir, retention_interval_seconds=0)
        async with open_services(settings, queued=False) as services:
            await McpFace(services, local_caller=ANONYMOUS).stdio()

    async def serve_remote() -> None:
        from echo_orchestrator.mcp_server.bridge import Bridge

        await Bridge(args.server, os.environ.get("ECHO_API_KEY")).run()

    try:
        anyio.run(serve_remote if args.server else serve_local)
    except BaseException as exc:
        return report("mcp", args, innermost(exc), debug=args.debug)
    return 0


def add_commands(commands: Commands) -> None:
    mcp = commands.add_parser("mcp", help="serve the workflows as MCP tools over stdio (the `command` of an MCP client's server entry)")
    where = mcp.add_mutually_exclusive_group()
    where.add_argument("--storage", type=Path, help="storage folder to run in this process (env ECHO_STORAGE_DIR, default ./storage)")
    where.add_argument("--server", help="a running server's URL or host:port instead: requests go to its /mcp with ECHO_API_KEY")
    mcp.add_argument("--plugins-dir", type=Path, help="drop-in plugins folder (env ECHO_PLUGINS_DIR, default ./plugins)")
    mcp.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"], default="warning")
    mcp.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    mcp.set_defaults(handler=_mcp)
