"""One MCP server's connection: its session task, its client, what it reports.

The SDK's `Client` context must be entered and left in one task, so each connection is
held by its own task (`session`) until its `stop` event is set; requests from any task go
through its client concurrently.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
from mcp import Client
from mcp.client.caching import CacheMode
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from echo_orchestrator.errors import EchoError
from echo_orchestrator.mcp.types import ServerState, ToolInfo
from echo_orchestrator.models import McpServerConfig, utcnow_iso
from echo_orchestrator.models.mcp import McpLaunch

log = logging.getLogger("echo_orchestrator.mcp.hub")


@dataclass
class Attempt:
    """One connection attempt, as its waiter sees it."""

    ready: anyio.Event = field(default_factory=anyio.Event)
    error: str | None = None
    scope: anyio.CancelScope | None = None
    abandoned: bool = False

    def abandon(self) -> None:
        self.abandoned = True
        if self.scope is not None:
            self.scope.cancel()


@dataclass
class Server:
    name: str
    config: McpServerConfig
    source: Literal["settings", "plugin"]
    state: ServerState = "unavailable"
    error: str | None = None
    version: str | None = None
    protocol_capabilities: list[str] = field(default_factory=list)
    tools: list[ToolInfo] = field(default_factory=list)
    last_check: str | None = None
    response_time_ms: float | None = None
    client: Client | None = None
    stop: anyio.Event | None = None
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    last_attempt: float = 0.0

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.config.command is not None else "http"

    def capabilities(self) -> list[str]:
        return sorted({*self.config.capabilities, *self.protocol_capabilities})


def stdio_environment(config: McpServerConfig, launch: McpLaunch, environ: Mapping[str, str]) -> dict[str, str]:
    """What a stdio server gets besides the SDK's few safe variables (HOME, LOGNAME, PATH,
    SHELL, TERM, USER): the variables `inherit_env` names that are set here, then `env`."""
    return {**{name: environ[name] for name in config.inherit_env if name in environ}, **launch.env}


def client_for(server: Server, errlog: Any, environ: Mapping[str, str] | None = None) -> Client:
    """A client for the server, its `${VAR}` references resolved from the environment now."""
    config = server.config
    environ = os.environ if environ is None else environ
    launch = config.resolved(environ, server.name)
    if launch.command is not None:
        env = stdio_environment(config, launch, environ)
        params = StdioServerParameters(command=launch.command, args=launch.args, env=env or None, cwd=launch.cwd)
        return Client(stdio_client(params, errlog=errlog), read_timeout_seconds=config.timeout)
    assert launch.url is not None
    http = create_mcp_http_client(headers=launch.headers or None)
    return Client(streamable_http_client(launch.url, http_client=http), read_timeout_seconds=config.timeout)


def stderr_path(log_dir: Path | None, server: Server) -> Path | None:
    if log_dir is None or server.transport != "stdio":
        return None
    log_dir.mkdir(parents=True, exist_ok=True)
    return log_dir / f"{server.name}.stderr.log"


async def session(server: Server, attempt: Attempt, log_dir: Path | None) -> None:
    """Own one connection: connect, list tools, report ready, then hold it until stopped.

    Runs in the hub's task group. A caller waits on `attempt.ready` with its timeout and,
    if it gives up, cancels `attempt.scope`: the SDK's process shutdown (a grace period
    for the child to exit) then finishes here, in the background, not in the caller.
    """
    with anyio.CancelScope() as scope:
        attempt.scope = scope
        if attempt.abandoned:
            scope.cancel()
        try:
            await _hold(server, attempt, stderr_path(log_dir, server))
        finally:
            attempt.ready.set()


async def _hold(server: Server, attempt: Attempt, stderr_path: Path | None) -> None:
    stop = server.stop = anyio.Event()
    started = False
    try:
        with contextlib.ExitStack() as files:
            errlog = files.enter_context(stderr_path.open("a", encoding="utf-8")) if stderr_path else None
            if errlog is not None:
                errlog.write(f"--- {utcnow_iso()} starting {server.config.command} {' '.join(server.config.args)}\n")
                errlog.flush()
            began = time.perf_counter()
            async with client_for(server, errlog if errlog is not None else sys.stderr) as client:
                tools = await list_all_tools(client)
                info = client.server_info
                caps = client.server_capabilities
                server.client = client
                server.version = info.version if info is not None else None
                server.protocol_capabilities = [
                    name for name in ("tools", "resources", "prompts", "logging", "completions") if getattr(caps, name, None)
                ]
                server.tools = [tool_info(server, t) for t in tools]
                server.state, server.error = "available", None
                server.last_check = utcnow_iso()
                server.response_time_ms = round((time.perf_counter() - began) * 1000, 1)
                attempt.ready.set()
                started = True
                log.info("MCP server %s: %d tools", server.name, len(server.tools))
                await stop.wait()
    except Exception as exc:  # the server's failure is reported, never raised into the hub
        server.error = describe(exc, stderr_path, server.config)
        log.warning("MCP server %s unavailable: %s", server.name, server.error)
        if not started:
            attempt.error = server.error
    finally:
        server.client = None
        if server.stop is stop:
            server.stop = None
        if server.state != "disabled":
            server.state = "unavailable"
        server.tools = [] if server.error else server.tools


def describe(exc: BaseException, stderr_path: Path | None, config: McpServerConfig | None = None) -> str:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, FileNotFoundError | PermissionError) and config is not None and config.command is not None:
        # The spawn failed: name the command (the bare errno names nothing).
        command = config.command
        if isinstance(exc, PermissionError):
            return f"cannot start {command!r}: permission denied (is it executable?)"
        if config.cwd and exc.filename == config.cwd:
            return f"cannot start {command!r}: its working folder {config.cwd!r} does not exist"
        where = "no such file" if "/" in command else "no such command on the server's PATH"
        return f"cannot start {command!r}: {where} (install it, or give its full path in mcp_settings.json)"
    if isinstance(exc, EchoError):  # ours (an unset `${VAR}`): its message says it all
        return exc.message
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if stderr_path is not None and stderr_path.exists():
        # What the server wrote since its latest start: usually the reason it died.
        lines = stderr_path.read_text(errors="replace").strip().splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("--- ")]
        tail = lines[starts[-1] + 1 :][-3:] if starts else lines[-3:]
        if tail:
            text += f" (stderr: {' | '.join(tail)[-300:]})"
    return text


def tool_info(server: Server, tool: Any) -> ToolInfo:
    return ToolInfo(
        tool_id=f"{server.name}-{tool.name}",
        server=server.name,
        name=tool.name,
        display_name=getattr(tool, "title", None) or tool.name,
        description=tool.description or "",
        input_schema=dict(tool.input_schema or {"type": "object"}),
        output_schema=dict(tool.output_schema) if tool.output_schema else None,
        capabilities=server.capabilities(),
    )


async def list_all_tools(client: Client, cache_mode: CacheMode = "use") -> list[Any]:
    tools: list[Any] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor, cache_mode=cache_mode)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return tools
