"""`storage/mcp_settings.json`: MCP servers in the form MCP clients write it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import msgspec

from echo_orchestrator.models.base import Model, NonNegativeFloat, NonNegativeInt
from echo_orchestrator.models.references import expand, reference_problem


class McpServerConfig(Model):
    # `env`, `headers`, `url`, `args` and `cwd` may refer to the service's environment with
    # `${VAR}` / `${VAR:-default}` (`models.references`), resolved when the server starts.
    # stdio servers
    command: str | None = None
    args: list[str] = msgspec.field(default_factory=list)
    env: dict[str, str] = msgspec.field(default_factory=dict)
    # Names of variables of the service's own environment the server also gets (proxies, CA
    # bundles, tokens): read when it starts, so their values are never written in the file.
    inherit_env: list[str] = msgspec.field(default_factory=list)
    cwd: str | None = None
    # streamable HTTP servers
    url: str | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    # ours, optional
    enabled: bool = True
    timeout: NonNegativeFloat = 30.0
    display_name: str | None = None
    description: str | None = None
    # What the server is for ("search", "scrape"): declared here, listed and filterable.
    capabilities: list[str] = msgspec.field(default_factory=list)
    # A known price per tool call, if the server's tools cost money.
    cost_per_call_usd: NonNegativeFloat | None = None
    # How many times a call whose connection was lost (the server died, the network broke)
    # is made again on a fresh connection; never for a tool's own error or a timeout.
    max_retries: NonNegativeInt = 0

    def __post_init__(self) -> None:
        if (self.command is None) == (self.url is None):
            raise ValueError("a server needs exactly one of `command` (stdio) or `url` (HTTP)")
        for where, text in self.referring_settings():
            problem = reference_problem(text)
            if problem is not None:
                raise ValueError(f"{where}: {problem}")

    def referring_settings(self) -> Iterator[tuple[str, str]]:
        """(where, text) of every setting that may hold `${VAR}` references."""
        yield from ((f"env.{name}", value) for name, value in self.env.items())
        yield from ((f"headers.{name}", value) for name, value in self.headers.items())
        yield from ((f"args[{i}]", arg) for i, arg in enumerate(self.args))
        if self.url is not None:
            yield "url", self.url
        if self.cwd is not None:
            yield "cwd", self.cwd

    def resolved(self, environ: Mapping[str, str], name: str = "") -> McpLaunch:
        """What starts the server: this config's settings with every `${VAR}` replaced from
        `environ` (raises `UnsetVariable`, naming the setting, for a variable that is unset
        and has no default)."""
        prefix = f"mcpServers.{name}." if name else ""

        def x(where: str, text: str) -> str:
            return expand(text, environ, prefix + where)

        return McpLaunch(
            command=self.command,
            env={k: x(f"env.{k}", v) for k, v in self.env.items()},
            headers={k: x(f"headers.{k}", v) for k, v in self.headers.items()},
            args=[x(f"args[{i}]", a) for i, a in enumerate(self.args)],
            url=None if self.url is None else x("url", self.url),
            cwd=None if self.cwd is None else x("cwd", self.cwd),
        )


class McpLaunch(msgspec.Struct, kw_only=True, frozen=True):
    """A server's settings as resolved to start it (`McpServerConfig.resolved`): values, not
    references; never stored or shown."""

    command: str | None
    args: list[str]
    env: dict[str, str]
    cwd: str | None
    url: str | None
    headers: dict[str, str]


class McpSettings(Model, rename={"mcp_servers": "mcpServers"}):
    mcp_servers: dict[str, McpServerConfig] = msgspec.field(default_factory=dict)
