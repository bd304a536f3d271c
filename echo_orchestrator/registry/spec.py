"""What a plugin provides: graphs, tools and LLM providers.

Plugins (built-in ones included) expose these objects through entry points:

    [project.entry-points."echo_orchestrator.graphs"]
    my_graph = "my_pkg.graphs:my_graph"            # a GraphSpec
    [project.entry-points."echo_orchestrator.tools"]
    my_tool = "my_pkg.tools:my_tool"               # a ToolSpec, a typed function, or an McpServerConfig
    [project.entry-points."echo_orchestrator.llm_providers"]
    my_llm = "my_pkg.llm:provider"                 # a ProviderSpec
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_type_hints

import msgspec

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.tools import BaseTool
    from langgraph.graph import StateGraph

    from echo_orchestrator.models import LLMConfig
    from echo_orchestrator.store.workspaces.folders import FileEntry


class RunFolder(Protocol):
    """A running execution's own folder, `Working_Directory/<execution_id>` of its workspace
    (docs/workspaces.md): paths are relative to it and never leave it."""

    @property
    def relative_root(self) -> str: ...

    def directory(self) -> Path: ...

    async def write(self, path: str, content: bytes) -> FileEntry: ...

    async def read(self, path: str, offset: int = 0, limit: int = ...) -> tuple[bytes, int]: ...

    async def listing(self, directory: str = "") -> list[FileEntry]: ...

    def files(self) -> list[FileEntry]: ...


class GraphContext(Protocol):
    """What a graph builder may use: chat models by `llm` block, and tools by id."""

    def chat_model(self, llm: LLMConfig | Mapping[str, Any] | None = None) -> BaseChatModel: ...

    async def call_tool(self, tool_id: str, arguments: Mapping[str, Any]) -> Any: ...

    async def agent_tools(self, tool_ids: Sequence[str]) -> list[BaseTool]:
        """LangChain tools for the given tool ids, to bind to a chat model."""
        ...

    def run_files(self) -> RunFolder:
        """The running execution's own folder (`directory()`, `write`, `read`, `list`),
        `Working_Directory/<execution_id>` of its workspace; see docs/workspaces.md."""
        ...


@dataclass(frozen=True, slots=True)
class GraphSpec:
    """A LangGraph graph and its catalogue metadata. `build` returns an uncompiled StateGraph."""

    name: str
    build: Callable[[GraphContext], StateGraph[Any]]
    display_name: str = ""
    description: str = ""
    category: str = "custom"
    tags: tuple[str, ...] = ()
    version: str = "1.0.0"
    input_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    output_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    # Node name -> kind shown by the graph endpoints ("llm_node", "tool_node", ...).
    node_types: Mapping[str, str] = field(default_factory=dict)
    # When its runs write checkpoints unless an execution says otherwise: "sync", "async"
    # (LangGraph's default) or "exit" (docs/engine.md, Durability).
    durability: Literal["sync", "async", "exit"] | None = None


class ToolSpec:
    """A typed Python function offered as a tool; its JSON Schemas come from its signature."""

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        display_name: str | None = None,
    ) -> None:
        self.func = func
        self.name = name or func.__name__
        self.description = description or inspect.cleandoc(func.__doc__ or "").split("\n\n")[0]
        self.display_name = display_name or self.name.replace("_", " ").title()
        hints = get_type_hints(func)
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        for param in inspect.signature(func).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise TypeError(f"tool {self.name}: *args and **kwargs cannot be described as a schema")
            annotation = hints.get(param.name, Any)
            if param.default is inspect.Parameter.empty:
                fields.append((param.name, annotation))
            else:
                fields.append((param.name, annotation, param.default))
        self._arguments = msgspec.defstruct(f"{self.name}_arguments", fields, forbid_unknown_fields=True)
        self._returns = hints.get("return", Any)
        self.input_schema: dict[str, Any] = _inline_schema(self._arguments)
        self.output_schema: dict[str, Any] | None = None if self._returns is Any else _inline_schema(self._returns)
        self.is_async = inspect.iscoroutinefunction(func)

    def parse_arguments(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Convert and check arguments (raises msgspec.ValidationError naming the field)."""
        parsed = msgspec.convert(dict(arguments), self._arguments, strict=False)
        return {name: getattr(parsed, name) for name in parsed.__struct_fields__}

    def call(self, arguments: Mapping[str, Any]) -> Any | Awaitable[Any]:
        return self.func(**self.parse_arguments(arguments))

    def __repr__(self) -> str:
        return f"ToolSpec({self.name!r})"


def tool(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Any:
    """Decorator: `@tool` or `@tool(name=...)` turns a typed function into a ToolSpec."""

    def wrap(f: Callable[..., Any]) -> ToolSpec:
        return ToolSpec(f, name=name, description=description)

    return wrap(func) if func is not None else wrap


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """Whether a provider can build a model now. `kind` says why not, so callers decide by
    it: `unknown` (no such provider: the definition is wrong), `unavailable` (it exists but
    cannot run here yet: a key, an integration), `error` (its own check failed)."""

    ready: bool
    reason: str | None = None
    kind: Literal["ready", "unknown", "unavailable", "error"] = "unavailable"

    def __post_init__(self) -> None:
        if self.ready:
            object.__setattr__(self, "kind", "ready")

    @property
    def unknown(self) -> bool:
        return self.kind == "unknown"


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """Turns an agent's `llm` block into a LangChain chat model."""

    name: str
    create: Callable[[LLMConfig], BaseChatModel]
    # Whether a model can be built now (a key is set, the integration is installed).
    check: Callable[[LLMConfig], ProviderStatus] = lambda _llm: ProviderStatus(True)
    display_name: str = ""
    description: str = ""
    # Base URL prefixes this provider may be pointed at besides its default endpoint (a
    # plugin's own service, say); the operator's ECHO_LLM_ALLOWED_BASE_URLS adds to them.
    allowed_base_urls: tuple[str, ...] = ()


def _inline_schema(type_: Any) -> dict[str, Any]:
    """A JSON Schema with its $defs inlined, as MCP clients expect a self-contained object."""
    schema = msgspec.json.schema(type_)
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(dict(defs[ref.rsplit("/", 1)[1]]))
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    resolved.pop("title", None)
    return resolved
