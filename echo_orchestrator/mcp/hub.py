"""One hub for every tool: MCP servers (stdio and streamable HTTP) and plugin tools.

Each MCP server has one connection, owned by its own task in the hub's task group (the
SDK's `Client` context must be entered and left in one task); requests from any task go
through that connection concurrently. A server that fails to start, stops answering a
ping, or dies under a call is marked `unavailable` with its error, and is reconnected on
its next use (at most once per `retry_interval` for listings, always for a direct call).
A slow or dead server never blocks the others: connects, pings and calls are bounded by
the server's `timeout`.

Plugin tools (typed Python functions) appear as one more server, `plugins`; MCP server
configs that plugins provide join the servers from `storage/mcp_settings.json`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup
from mcp import Client

from echo_orchestrator import metrics
from echo_orchestrator.errors import EchoError, McpToolFailed, McpUnavailable, NotFound, TimeoutExceeded
from echo_orchestrator.mcp.connection import Attempt, Server, list_all_tools, session, tool_info
from echo_orchestrator.mcp.lineage import call_meta
from echo_orchestrator.mcp.plugin_tools import call_plugin_tool, check_input
from echo_orchestrator.mcp.types import PLUGIN_SERVER, ServerStatus, ToolBinding, ToolCallResult, ToolInfo, text_of
from echo_orchestrator.models import McpServerConfig, McpSettings, utcnow_iso
from echo_orchestrator.models.references import references_in
from echo_orchestrator.registry.spec import ToolSpec
from echo_orchestrator.security.redaction import SECRETS, arg_secrets, url_secrets

log = logging.getLogger(__name__)


class McpHub:
    def __init__(
        self,
        settings: Callable[[], McpSettings],
        plugin_tools: Callable[[], Mapping[str, ToolSpec]],
        plugin_servers: Callable[[], Mapping[str, McpServerConfig]],
        *,
        log_dir: Path | None = None,
        settings_file: Path | None = None,
        retry_interval: float = 5.0,
    ) -> None:
        self._settings = settings
        self._plugin_tools = plugin_tools
        self._plugin_servers = plugin_servers
        self._log_dir = log_dir
        self.settings_file = settings_file
        self._retry_interval = retry_interval
        self._servers: dict[str, Server] = {}
        self._tg: TaskGroup | None = None
        self._seen: tuple[object, ...] = ()

    # -- lifecycle ---------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[McpHub]:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                self.refresh()
                for server in list(self._servers.values()):
                    if server.config.enabled:
                        tg.start_soon(self._connect_quietly, server)
                yield self
            finally:
                for server in self._servers.values():
                    if server.stop is not None:
                        server.stop.set()
                tg.cancel_scope.cancel()
                self._tg = None

    def refresh(self) -> None:
        """Reconcile the server set with the settings file and plugins (cheap when unchanged)."""
        settings = self._settings()
        plugin_servers = self._plugin_servers()
        marker = (settings, *plugin_servers.values())
        if len(marker) == len(self._seen) and all(a is b for a, b in zip(marker, self._seen, strict=True)):
            return
        self._seen = marker
        wanted: dict[str, tuple[McpServerConfig, Literal["settings", "plugin"]]] = {
            name: (config, "plugin") for name, config in plugin_servers.items()
        }
        wanted.update({name: (config, "settings") for name, config in settings.mcp_servers.items()})
        wanted.pop(PLUGIN_SERVER, None)  # the name of the plugin tools' own server
        SECRETS.set_source("mcp", _config_secrets(config for config, _ in wanted.values()))
        for name in list(self._servers):
            if name not in wanted or wanted[name][0] != self._servers[name].config:
                self._drop(self._servers.pop(name))
        for name, (config, source) in wanted.items():
            if name not in self._servers:
                server = Server(name, config, source, state="unavailable" if config.enabled else "disabled")
                self._servers[name] = server
                if config.enabled and self._tg is not None:
                    self._tg.start_soon(self._connect_quietly, server)

    def configured(self) -> list[tuple[str, McpServerConfig, Literal["settings", "plugin"]]]:
        """Every MCP server's name, config and source, connected or not."""
        self.refresh()
        return [(s.name, s.config, s.source) for s in sorted(self._servers.values(), key=lambda s: s.name)]

    def _drop(self, server: Server) -> None:
        if server.stop is not None:
            server.stop.set()

    # -- connections -------------------------------------------------------------------

    async def _connect(self, server: Server) -> Client:
        """The server's live client, connecting (once, for all waiters) if needed."""
        async with server.lock:
            if server.client is not None:
                return server.client
            if not server.config.enabled:
                raise McpUnavailable(f"MCP server '{server.name}' is disabled", details={"server": server.name})
            if self._tg is None:
                raise McpUnavailable("The MCP hub is not running")
            server.state, server.last_attempt = "connecting", time.monotonic()
            attempt = Attempt()
            self._tg.start_soon(session, server, attempt, self._log_dir)
            with anyio.move_on_after(server.config.timeout):
                await attempt.ready.wait()
            server.last_check = utcnow_iso()
            if not attempt.ready.is_set():
                attempt.abandon()
                server.state = "unavailable"
                attempt.error = server.error = f"no answer within {server.config.timeout:g}s"
            if attempt.error is not None or server.client is None:
                raise McpUnavailable(
                    f"MCP server '{server.name}' is unavailable: {attempt.error or server.error}",
                    details={"server": server.name},
                )
            return server.client

    async def _connect_quietly(self, server: Server) -> None:
        with contextlib.suppress(McpUnavailable):
            await self._connect(server)

    def _disconnect(self, server: Server, error: str) -> None:
        server.error = error
        server.state = "unavailable"
        server.client = None  # no new call may pick up the closing connection
        if server.stop is not None:
            server.stop.set()

    # -- queries -----------------------------------------------------------------------

    def _plugin_status(self) -> ServerStatus:
        tools = self._plugin_tools()
        return ServerStatus(
            name=PLUGIN_SERVER,
            display_name="Plugin tools",
            description="Typed Python functions provided by plugins (in-process)",
            source="plugin",
            transport="python",
            enabled=True,
            status="available",
            version=None,
            capabilities=["tools"],
            tools_count=len(tools),
            last_check=utcnow_iso(),
            response_time_ms=0.0,
            error=None,
        )

    def _status(self, server: Server) -> ServerStatus:
        return ServerStatus(
            name=server.name,
            display_name=server.config.display_name or server.name,
            description=server.config.description or "",
            source=server.source,
            transport=server.transport,
            enabled=server.config.enabled,
            status=server.state,
            version=server.version,
            capabilities=server.capabilities(),
            tools_count=len(server.tools),
            last_check=server.last_check,
            response_time_ms=server.response_time_ms,
            error=None if server.error is None else SECRETS.scrub(server.error),
        )

    def _revive_stale(self) -> None:
        """Start reconnecting (in the background) unavailable servers whose last attempt is
        older than the retry interval. Listings never wait for a server to answer."""
        if self._tg is None:
            return
        now = time.monotonic()
        for server in self._servers.values():
            if (
                server.config.enabled
                and server.client is None
                and server.state != "connecting"
                and now - server.last_attempt > self._retry_interval
            ):
                server.last_attempt = now
                self._tg.start_soon(self._connect_quietly, server)

    async def servers(self) -> list[ServerStatus]:
        self.refresh()
        self._revive_stale()
        return [self._plugin_status(), *(self._status(s) for s in sorted(self._servers.values(), key=lambda s: s.name))]

    async def check(self) -> list[ServerStatus]:
        """Ping every server now (in parallel, each bounded by its timeout)."""
        self.refresh()

        async def ping(server: Server) -> None:
            if not server.config.enabled:
                return
            began = time.perf_counter()
            try:
                client = server.client or await self._connect(server)
                with anyio.fail_after(server.config.timeout):
                    # `ping` is gone from the 2026-07-28 protocol: a fresh tool listing is the
                    # liveness check, and keeps the tool list true as a bonus.
                    tools = await list_all_tools(client, cache_mode="refresh")
                server.tools = [tool_info(server, t) for t in tools]
                server.response_time_ms = round((time.perf_counter() - began) * 1000, 1)
                server.state, server.error = "available", None
            except McpUnavailable:
                server.response_time_ms = None
            except Exception as exc:
                server.response_time_ms = None
                self._disconnect(server, f"ping failed: {type(exc).__name__}: {exc}" if str(exc) else "ping failed: timeout")
            finally:
                server.last_check = utcnow_iso()

        async with anyio.create_task_group() as tg:
            for server in self._servers.values():
                tg.start_soon(ping, server)
        return await self.servers()

    async def tools(self, *, server: str | None = None, capability: str | None = None) -> list[ToolInfo]:
        self.refresh()
        self._revive_stale()
        found: list[ToolInfo] = [
            ToolInfo(
                tool_id=f"{PLUGIN_SERVER}-{spec.name}",
                server=PLUGIN_SERVER,
                name=spec.name,
                display_name=spec.display_name,
                description=spec.description,
                input_schema=spec.input_schema,
                output_schema=spec.output_schema,
                capabilities=["tools"],
            )
            for spec in sorted(self._plugin_tools().values(), key=lambda s: s.name)
        ]
        for entry in sorted(self._servers.values(), key=lambda s: s.name):
            found.extend(entry.tools)
        if server is not None:
            found = [t for t in found if t.server == server]
        if capability is not None:
            found = [t for t in found if capability in t.capabilities]
        return found

    def resolve(self, tool_id: str) -> tuple[str, str]:
        """Split `<server>-<tool>`; server names may contain '-', so the longest known prefix wins."""
        self.refresh()
        names = sorted([PLUGIN_SERVER, *self._servers], key=len, reverse=True)
        for name in names:
            if tool_id.startswith(f"{name}-") and len(tool_id) > len(name) + 1:
                return name, tool_id[len(name) + 1 :]
        raise NotFound(f"Tool '{tool_id}' not found: no server matches its '<server>-<tool>' prefix", details={"tool_id": tool_id})

    def known_tool(self, tool_id: str) -> bool:
        """Whether a tool id names a plugin tool or a tool of a configured server (connected or not)."""
        try:
            server_name, tool_name = self.resolve(tool_id)
        except NotFound:
            return False
        if server_name == PLUGIN_SERVER:
            return tool_name in self._plugin_tools()
        server = self._servers[server_name]
        return server.client is None or any(t.name == tool_name for t in server.tools)

    async def binding(self, tool_id: str) -> ToolBinding:
        """Whether an agent's tool can be used now (connecting its server if needed), and why not."""
        try:
            server_name, tool_name = self.resolve(tool_id)
        except NotFound as exc:
            return ToolBinding(tool_id=tool_id, name=tool_id, bound=False, reason=exc.message)
        if server_name == PLUGIN_SERVER:
            spec = self._plugin_tools().get(tool_name)
            if spec is None:
                return ToolBinding(tool_id=tool_id, name=tool_name, bound=False, reason=f"no plugin tool named '{tool_name}'")
            return ToolBinding(tool_id=tool_id, name=spec.display_name, bound=True, reason=None)
        server = self._servers[server_name]
        try:
            await self._connect(server)
        except McpUnavailable as exc:
            return ToolBinding(tool_id=tool_id, name=tool_name, bound=False, reason=exc.message)
        tool = next((t for t in server.tools if t.name == tool_name), None)
        if tool is None:
            return ToolBinding(tool_id=tool_id, name=tool_name, bound=False, reason=f"MCP server '{server_name}' has no tool '{tool_name}'")
        return ToolBinding(tool_id=tool_id, name=tool.display_name, bound=True, reason=None)

    # -- calls -------------------------------------------------------------------------

    async def call(
        self,
        tool_id: str,
        arguments: Mapping[str, Any],
        *,
        timeout: float | None = None,
        retry_unavailable: bool = False,
    ) -> ToolCallResult:
        """Call a tool. A connection lost during the call is re-established and the call made
        again, up to the server's `max_retries` times (at least once with
        `retry_unavailable`); only for that failure, never for a tool's own error or a timeout."""
        attempts = 1 + max(self._max_retries(tool_id), 1 if retry_unavailable else 0)
        try:
            for attempt in range(1, attempts + 1):
                try:
                    result = await self._call(tool_id, arguments, timeout)
                    break
                except McpUnavailable:
                    if attempt == attempts:
                        raise
        except EchoError as exc:
            self._count(tool_id, exc.code)
            # A server's error text may quote its own environment (a key it was given).
            exc.message, exc.details = SECRETS.scrub(exc.message), SECRETS.scrub_data(exc.details)
            exc.args = (exc.message,)
            raise
        result.output = SECRETS.scrub_data(result.output)
        result.content = SECRETS.scrub_data(result.content)
        self._count(tool_id, "completed")
        return result

    def _count(self, tool_id: str, outcome: str) -> None:
        """A call, by server (a known one: an unknown id counts as `unknown`) and outcome."""
        try:
            server, _ = self.resolve(tool_id)
        except NotFound:
            server = "unknown"
        metrics.MCP_TOOL_CALLS.labels(server, outcome).inc()

    def _max_retries(self, tool_id: str) -> int:
        try:
            name, _ = self.resolve(tool_id)
        except NotFound:
            return 0  # the call itself reports it
        server = self._servers.get(name)
        return 0 if server is None else server.config.max_retries

    async def _call(self, tool_id: str, arguments: Mapping[str, Any], timeout: float | None) -> ToolCallResult:
        server_name, tool_name = self.resolve(tool_id)
        if server_name == PLUGIN_SERVER:
            spec = self._plugin_tools().get(tool_name)
            if spec is None:
                raise NotFound(f"Tool '{tool_id}' not found", details={"tool_id": tool_id})
            return await call_plugin_tool(spec, tool_id, arguments, timeout)
        server = self._servers[server_name]
        client = await self._connect(server)
        tool = next((t for t in server.tools if t.name == tool_name), None)
        if tool is None:
            raise NotFound(f"Tool '{tool_id}' not found on MCP server '{server_name}'", details={"tool_id": tool_id})
        check_input(tool_id, tool.input_schema, arguments)
        limit = timeout or server.config.timeout
        began = time.perf_counter()
        try:
            with anyio.fail_after(limit):
                # The calling run travels along, for a server that is this service's own face.
                result = await client.call_tool(tool_name, dict(arguments), meta=call_meta())
        except TimeoutError:
            raise TimeoutExceeded(
                f"Tool '{tool_id}' did not answer within {limit:g}s", details={"tool_id": tool_id, "timeout": limit}
            ) from None
        except Exception as exc:
            # Not the tool's own error (that comes back as is_error): the connection broke.
            self._disconnect(server, f"call failed: {type(exc).__name__}: {exc}")
            raise McpUnavailable(
                f"MCP server '{server_name}' failed during the call: {type(exc).__name__}: {exc}",
                details={"server": server_name, "tool_id": tool_id},
            ) from exc
        elapsed = round((time.perf_counter() - began) * 1000, 1)
        content = [c.model_dump(mode="json", exclude_none=True) for c in result.content]
        if result.is_error:
            message = text_of(content) or "the tool reported an error"
            raise McpToolFailed(
                f"Tool '{tool_id}' failed: {message}",
                details={"tool_id": tool_id, "tool_error": message, "execution_time_ms": elapsed},
            )
        output = result.structured_content
        if output is None:
            text = text_of(content)
            output = {"text": text} if text else {"content": content}
        elif not isinstance(output, dict):
            output = {"result": output}
        return ToolCallResult(
            tool_id=tool_id,
            status="completed",
            output=output,
            content=content,
            execution_time_ms=elapsed,
            cost_usd=server.config.cost_per_call_usd,
        )


def _config_secrets(configs: Iterable[McpServerConfig], environ: Mapping[str, str] | None = None) -> list[str]:
    """Every value in MCP server settings that is a secret, as the servers get it (`${VAR}`
    references resolved; an unset one is nothing): `env` and `headers` values, URL
    credentials, and the values of secret-looking args."""
    environ = os.environ if environ is None else environ
    found: list[str] = []
    for config in configs:
        names = {name for _, text in config.referring_settings() for name in references_in(text)}
        launch = config.resolved({name: environ.get(name, "") for name in names})
        found += [*launch.env.values(), *launch.headers.values(), *arg_secrets(launch.args)]
        if launch.url:
            found += url_secrets(launch.url)
            if launch.headers:
                # `Authorization: Bearer X` quoted without its scheme is still X.
                found += [v.split(" ", 1)[1] for v in launch.headers.values() if " " in v]
    return found
