"""The plugin registry: what every plugin provides, as one immutable snapshot.

Loading imports plugin code in a worker thread and builds a new snapshot; readers always
see a complete, consistent snapshot, swapped in one assignment. Built-in graphs, tools
and providers come through the same entry points as third-party ones (they are declared
in this package's own `pyproject.toml`). A plugin that fails, in any way, becomes a
`PluginProblem`; it never stops the service or hides other plugins.
"""

from __future__ import annotations

import inspect
import logging
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import anyio
import anyio.to_thread
import msgspec
from watchfiles import Change, awatch

from echo_orchestrator.errors import NotFound
from echo_orchestrator.models import McpServerConfig
from echo_orchestrator.registry.discovery import (
    Candidate,
    Origin,
    dropin_candidates,
    forget_modules,
    installed_candidates,
    load_object,
)
from echo_orchestrator.registry.graphs import GraphInfo, describe_graph
from echo_orchestrator.registry.spec import GraphContext, GraphSpec, ProviderSpec, ToolSpec

log = logging.getLogger(__name__)

T = TypeVar("T")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True, slots=True)
class Registered(Generic[T]):
    name: str
    obj: T
    origin: Origin
    entry_point: str


@dataclass(frozen=True, slots=True)
class RegisteredGraph:
    name: str
    obj: GraphSpec
    origin: Origin
    entry_point: str
    info: GraphInfo


class PluginProblem(msgspec.Struct, kw_only=True, frozen=True):
    plugin: str
    origin: str
    path: str | None
    entry_point: str | None
    error: str


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    graphs: dict[str, RegisteredGraph] = field(default_factory=dict)
    tools: dict[str, Registered[ToolSpec]] = field(default_factory=dict)
    mcp_servers: dict[str, Registered[McpServerConfig]] = field(default_factory=dict)
    providers: dict[str, Registered[ProviderSpec]] = field(default_factory=dict)
    problems: tuple[PluginProblem, ...] = ()
    generation: int = 0


_OURS = str(Path(__file__).resolve().parents[1])


def _describe_error(exc: BaseException) -> str:
    # The innermost frame in the plugin's own code tells its author where to look.
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith((_OURS, "<frozen")) and "importlib" not in f.filename
    ]
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


class _Builder:
    def __init__(self, context: GraphContext, generation: int) -> None:
        self.context = context
        self.generation = generation
        self.graphs: dict[str, RegisteredGraph] = {}
        self.tools: dict[str, Registered[ToolSpec]] = {}
        self.mcp_servers: dict[str, Registered[McpServerConfig]] = {}
        self.providers: dict[str, Registered[ProviderSpec]] = {}
        self.problems: list[PluginProblem] = []

    def problem(self, origin: Origin, entry_point: str | None, error: str) -> None:
        self.problems.append(
            PluginProblem(plugin=origin.distribution, origin=origin.kind, path=origin.path, entry_point=entry_point, error=error)
        )

    def add(self, candidate: Candidate) -> None:
        entry = f"{candidate.group}: {candidate.name} = {candidate.value}"
        try:
            obj = load_object(candidate)
        except BaseException as exc:  # a plugin's import may raise anything, even SystemExit
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.problem(candidate.origin, entry, f"import failed: {_describe_error(exc)}")
            return
        try:
            self._register(candidate, entry, obj)
        except Exception as exc:
            self.problem(candidate.origin, entry, _describe_error(exc))

    def _register(self, candidate: Candidate, entry: str, obj: Any) -> None:
        kind = candidate.group.rsplit(".", 1)[1]
        if kind == "graphs":
            if not isinstance(obj, GraphSpec):
                raise TypeError(f"expected a GraphSpec, got {type(obj).__name__}")
            self._check_name(obj.name, self.graphs)
            info = describe_graph(obj, self.context)
            self.graphs[obj.name] = RegisteredGraph(obj.name, obj, candidate.origin, entry, info)
        elif kind == "tools":
            if isinstance(obj, McpServerConfig | dict):
                config = obj if isinstance(obj, McpServerConfig) else msgspec.convert(obj, McpServerConfig)
                self._check_name(candidate.name, self.mcp_servers)
                self.mcp_servers[candidate.name] = Registered(candidate.name, config, candidate.origin, entry)
                return
            if not isinstance(obj, ToolSpec):
                if not inspect.isfunction(obj):
                    raise TypeError(f"expected a ToolSpec, a typed function or an MCP server config, got {type(obj).__name__}")
                obj = ToolSpec(obj, name=candidate.name)
            self._check_name(obj.name, self.tools)
            self.tools[obj.name] = Registered(obj.name, obj, candidate.origin, entry)
        else:
            if not isinstance(obj, ProviderSpec):
                raise TypeError(f"expected a ProviderSpec, got {type(obj).__name__}")
            self._check_name(obj.name, self.providers)
            self.providers[obj.name] = Registered(obj.name, obj, candidate.origin, entry)

    @staticmethod
    def _check_name(name: str, taken: dict[str, Any]) -> None:
        if not NAME.fullmatch(name):
            raise ValueError(f"invalid name {name!r}: letters, digits, _ . - (1-128)")
        if name in taken:
            other = taken[name].origin
            raise ValueError(f"duplicate name {name!r}: already provided by {other.distribution} ({other.kind})")

    def snapshot(self) -> RegistrySnapshot:
        return RegistrySnapshot(
            graphs=self.graphs,
            tools=self.tools,
            mcp_servers=self.mcp_servers,
            providers=self.providers,
            problems=tuple(self.problems),
            generation=self.generation,
        )


class PluginRegistry:
    def __init__(self, plugins_dir: Path | None, context: GraphContext) -> None:
        self.plugins_dir = plugins_dir.resolve() if plugins_dir is not None else None
        self._context = context
        self._snapshot = RegistrySnapshot()
        self._lock: anyio.Lock | None = None
        self._stop: anyio.Event | None = None
        self.following = False

    @property
    def snapshot(self) -> RegistrySnapshot:
        return self._snapshot

    def load(self) -> RegistrySnapshot:
        """Discover and import everything (blocking: call from a thread in async code)."""
        builder = _Builder(self._context, self._snapshot.generation + 1)
        for candidate in installed_candidates():
            builder.add(candidate)
        dropins, failures = dropin_candidates(self.plugins_dir)
        for failure in failures:
            builder.problem(Origin("drop-in", failure.folder.name, None, str(failure.folder)), None, failure.error)
        for root in {c.import_root for c in dropins if c.import_root is not None}:
            forget_modules(root)  # a changed plugin is re-read, not served from sys.modules
        for candidate in dropins:
            builder.add(candidate)
        snapshot = builder.snapshot()
        for problem in snapshot.problems:
            log.warning("plugin %s (%s): %s: %s", problem.plugin, problem.origin, problem.entry_point, problem.error)
        self._snapshot = snapshot
        return snapshot

    async def reload(self) -> RegistrySnapshot:
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            return await anyio.to_thread.run_sync(self.load)

    async def follow_changes(self) -> None:
        """Reload when anything under the plugins folder changes (until `close`)."""
        if self.plugins_dir is None:
            return
        self.plugins_dir.mkdir(parents=True, exist_ok=True)
        self._stop = anyio.Event()

        def relevant(change: Change, raw: str) -> bool:
            return "__pycache__" not in raw and not raw.endswith((".pyc", "~", ".swp"))

        self.following = True
        try:
            async for _ in awatch(self.plugins_dir, watch_filter=relevant, stop_event=self._stop, debounce=200, step=20, recursive=True):
                snapshot = await self.reload()
                log.info(
                    "plugins reloaded: %d graphs, %d tools, %d problems", len(snapshot.graphs), len(snapshot.tools), len(snapshot.problems)
                )
        finally:
            self.following = False

    async def close(self) -> None:
        if self._stop is not None:
            self._stop.set()

    # -- lookups -------------------------------------------------------------------------

    def graph(self, name: str) -> RegisteredGraph:
        found = self._snapshot.graphs.get(name)
        if found is None:
            raise NotFound(f"Graph '{name}' not found", details={"graph_name": name})
        return found

    def provider(self, name: str) -> ProviderSpec | None:
        found = self._snapshot.providers.get(name)
        return None if found is None else found.obj
