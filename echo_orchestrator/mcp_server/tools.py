"""What the MCP server face offers as tools, under which names, with which schemas.

- Every runnable workflow (a final version, else its temp copy; never archived, never a
  draft alone) under its slug, unless its definition says `"mcp": {"expose": false}` (or the
  service's `ECHO_MCP_EXPOSE_WORKFLOWS` is false and it does not say `"expose": true`).
- Every plugin graph as `graph_<name>` (dots become `_`) unless `ECHO_MCP_EXPOSE_GRAPHS` is false.
- Two tools of the face itself: `respond_to_execution` (answer a run waiting for a person)
  and `wait_for_execution` (go on waiting for a run a call left running).

Slugs are `[a-z0-9-]`, so no slug can take a name with `_`: the names never collide. Every
tool answers one result shape (`result_schema`), whatever happened to its run. The list is
built once per change of the definitions or the plugins (the store's revision, the
registry's generation), not per request.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import mcp_types as types

from echo_orchestrator.engine.inputs import input_schema
from echo_orchestrator.errors import EchoError, NotFound
from echo_orchestrator.registry import PluginRegistry
from echo_orchestrator.settings import Settings
from echo_orchestrator.store.definitions.base import DefinitionStore, WorkflowQuery, WorkflowSummary

log = logging.getLogger(__name__)

RESPOND_TOOL = "respond_to_execution"
WAIT_TOOL = "wait_for_execution"
GRAPH_PREFIX = "graph_"
NAME_LIMIT = 128  # the MCP specification's bound on a tool name
ALL = 1_000_000
META_KEY = "io.echo-orchestrator/runs"
OUTCOMES = ("completed", "failed", "cancelled", "paused", "running", "refused")

TargetKind = Literal["workflow", "graph", "respond", "wait"]


@dataclass(frozen=True, slots=True)
class Target:
    kind: TargetKind
    ref: str  # the workflow's slug, the graph's name; the tool's name for the face's own


def result_schema(outputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The one shape every tool answers: what became of the run, and its outputs when it
    completed (described by the graph's own output schema where it declares one)."""
    return {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": list(OUTCOMES)},
            "execution_id": {"type": "string"},
            "outputs": dict(outputs or {"type": "object"}),
            "files": {"type": "array", "items": {"type": "string"}, "description": "files the run wrote in its workspace"},
            "error": {"type": "object", "description": "type, message, code, details (the API's error object)"},
            "pending_prompt": {"type": "object", "description": "the question a paused run waits on"},
            "next": {"type": "object", "description": "how to go on: the tool to call, the resource, the HTTP route"},
            "duration_seconds": {"type": ["number", "null"]},
            "cost_usd": {"type": "number"},
            "total_tokens": {"type": "integer"},
        },
        "required": ["status"],
    }


_RUNS = types.ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)

_RESPOND = types.Tool(
    name=RESPOND_TOOL,
    title="Answer a paused execution",
    description=(
        "Answer the question a paused execution waits on (a human review), then wait for it as a workflow "
        "tool does. `response`: approve, reject or modify (with `changes`)."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "execution_id": {"type": "string"},
            "prompt_id": {"type": "string", "description": "the question's id; the one it waits on when left out"},
            "response": {"type": "string", "enum": ["approve", "reject", "modify"]},
            "changes": {"type": "object", "description": "with modify: the changes to apply"},
            "reason": {"type": "string"},
        },
        "required": ["execution_id", "response"],
        "additionalProperties": False,
    },
    output_schema=result_schema(),
    annotations=_RUNS,
)

_WAIT = types.Tool(
    name=WAIT_TOOL,
    title="Wait for an execution",
    description="Wait for an execution to end or pause (as long as a tool call waits), then answer what became of it.",
    input_schema={
        "type": "object",
        "properties": {"execution_id": {"type": "string"}},
        "required": ["execution_id"],
        "additionalProperties": False,
    },
    output_schema=result_schema(),
    annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
)


def graph_tool_name(graph: str) -> str:
    return GRAPH_PREFIX + graph.replace(".", "_")


def paged(items: list[Any], cursor: str | None, size: int) -> tuple[list[Any], str | None]:
    """One page of a listed whole and the cursor of the next (an offset; None at the end)."""
    start = int(cursor) if cursor and cursor.isdigit() else 0
    end = start + size
    return items[start:end], str(end) if end < len(items) else None


def digest(item: Any) -> str:
    """What one listed item looks like to a client."""
    encoded = json.dumps(item.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=True)
    return hashlib.sha256(encoded.encode()).hexdigest()


def fingerprint(digests: list[str]) -> str:
    """What a list looks like to a client: a change here is worth a list_changed notification."""
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


_RESPOND_DIGEST, _WAIT_DIGEST = digest(_RESPOND), digest(_WAIT)


@dataclass(frozen=True, slots=True)
class _Built:
    revision: tuple[int, int]
    tools: list[types.Tool]
    targets: dict[str, Target]
    fingerprint: str


class ToolCatalogue:
    def __init__(self, store: DefinitionStore, registry: PluginRegistry, settings: Settings) -> None:
        self._store, self._registry, self._settings = store, registry, settings
        self._built: _Built | None = None
        # Per workflow: the catalogue row it was built from, its tool (None: not offered), its
        # digest. The store hands out a new row when a workflow changes, so one change costs
        # one tool, not the whole catalogue (5,000 workflows: 0.5 s a change otherwise).
        self._made: dict[str, tuple[WorkflowSummary, types.Tool | None, str]] = {}

    def _revision(self) -> tuple[int, int]:
        return self._store.revision, self._registry.snapshot.generation

    async def tools(self) -> list[types.Tool]:
        return (await self._current()).tools

    async def fingerprint(self) -> str:
        return (await self._current()).fingerprint

    async def resolve(self, name: str) -> Target:
        """The workflow, graph or own tool a name calls; `NotFound` for one not offered."""
        target = (await self._current()).targets.get(name)
        if target is None:
            raise NotFound(f"No tool '{name}' is offered by this server", details={"tool": name[:NAME_LIMIT]})
        return target

    async def _current(self) -> _Built:
        revision = self._revision()
        if self._built is None or self._built.revision != revision:
            # Built from what the store held at the start: a change meanwhile rebuilds next time.
            self._built = await self._build(revision)
        return self._built

    async def _build(self, revision: tuple[int, int]) -> _Built:
        tools: list[types.Tool] = [_RESPOND, _WAIT]
        targets: dict[str, Target] = {RESPOND_TOOL: Target("respond", RESPOND_TOOL), WAIT_TOOL: Target("wait", WAIT_TOOL)}
        digests = [_RESPOND_DIGEST, _WAIT_DIGEST]
        graphs = [(tool, target, digest(tool)) for tool, target in self._graph_tools()]
        for tool, target, made in [*await self._workflow_tools(), *graphs]:
            if tool.name in targets:
                log.warning("MCP tool name %s is taken; %s %s is not offered", tool.name, target.kind, target.ref)
                continue
            tools.append(tool)
            targets[tool.name] = target
            digests.append(made)
        return _Built(revision, tools, targets, fingerprint(digests))

    async def _workflow_tools(self) -> list[tuple[types.Tool, Target, str]]:
        found: list[tuple[types.Tool, Target, str]] = []
        made: dict[str, tuple[WorkflowSummary, types.Tool | None, str]] = {}
        for summary in (await self._store.list_workflows(WorkflowQuery(limit=ALL))).items:
            if not summary.versions and not summary.has_temp:
                continue  # a draft alone runs nowhere
            before = self._made.get(summary.workflow_id)
            if before is not None and before[0] is summary:
                entry = before
            else:
                try:
                    tool = await self._workflow_tool(summary)
                except EchoError:  # removed since the listing
                    continue
                entry = (summary, tool, "" if tool is None else digest(tool))
            made[summary.workflow_id] = entry
            if entry[1] is not None:
                found.append((entry[1], Target("workflow", summary.slug), entry[2]))
        self._made = made
        return found

    async def _workflow_tool(self, summary: WorkflowSummary) -> types.Tool | None:
        """The tool of a runnable workflow; None when it is not offered."""
        workflow = await self._store.get_runnable(summary.workflow_id)
        exposed = workflow.mcp.expose if workflow.mcp is not None else None
        if not (self._settings.mcp_expose_workflows if exposed is None else exposed):
            return None
        kind = f"version {workflow.version}" if summary.versions else "its temp copy (test mode)"
        about = workflow.description or workflow.name or summary.slug
        return types.Tool(
            name=summary.slug,
            title=workflow.name or summary.slug,
            description=(
                f"{about}\n\nRuns the workflow '{summary.slug}' ({kind}) and answers its outputs; a run longer than "
                f"{self._settings.mcp_call_timeout_seconds:g} s answers its execution id (go on with {WAIT_TOOL})."
            ),
            input_schema=input_schema(workflow.input_fields),
            output_schema=result_schema(),
            annotations=_RUNS,
            _meta={META_KEY: {"workflow_id": workflow.workflow_id, "version": workflow.version}},
        )

    def _graph_tools(self) -> list[tuple[types.Tool, Target]]:
        if not self._settings.mcp_expose_graphs:
            return []
        found: list[tuple[types.Tool, Target]] = []
        for name, registered in sorted(self._registry.snapshot.graphs.items()):
            spec = registered.obj
            tool_name = graph_tool_name(name)
            if len(tool_name) > NAME_LIMIT:
                log.warning("graph %s is not offered over MCP: its tool name would be over %d characters", name, NAME_LIMIT)
                continue
            declared = dict(spec.output_schema)
            tool = types.Tool(
                name=tool_name,
                title=spec.display_name or name,
                description=(f"{spec.description or spec.display_name or name}\n\nRuns the plugin graph '{name}' and answers its outputs."),
                input_schema=dict(spec.input_schema),
                output_schema=result_schema(declared if declared != {"type": "object"} else None),
                annotations=_RUNS,
                _meta={META_KEY: {"graph": name, "version": spec.version}},
            )
            found.append((tool, Target("graph", name)))
        return found
