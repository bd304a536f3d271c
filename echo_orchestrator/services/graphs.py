"""Every graph the service can run: plugin graphs, and workflows compiled to graphs.

A runnable workflow (a final version, else its temp copy) is listed as the graph
`workflow:<slug>`; its detail compiles it with the engine's compiler. Listing reads only
the store's index (no compilation), so it stays cheap with thousands of workflows.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from echo_orchestrator.engine.compiler import build_workflow_graph
from echo_orchestrator.engine.inputs import input_schema
from echo_orchestrator.engine.structure import plugin_graph
from echo_orchestrator.errors import NotFound
from echo_orchestrator.models import Workflow
from echo_orchestrator.registry import PluginRegistry
from echo_orchestrator.registry.graphs import GraphInfo, describe_state_graph
from echo_orchestrator.registry.registry import RegisteredGraph
from echo_orchestrator.registry.spec import GraphContext
from echo_orchestrator.security.redaction import SECRETS
from echo_orchestrator.services.agents import workflow_agents
from echo_orchestrator.store.definitions.base import DefinitionStore, WorkflowQuery, WorkflowSummary

WORKFLOW_PREFIX = "workflow:"
Source = Literal["plugin", "workflow"]


class GraphOrigin(msgspec.Struct, kw_only=True):
    kind: str  # builtin | installed | drop-in | workflow
    distribution: str  # the plugin's distribution, or the workflow id
    version: str | None
    path: str | None


class GraphEntry(msgspec.Struct, kw_only=True):
    name: str
    display_name: str
    description: str
    category: str
    tags: list[str]
    version: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    origin: GraphOrigin


class GraphView(msgspec.Struct, kw_only=True):
    entry: GraphEntry
    info: GraphInfo


def _plugin_entry(graph: RegisteredGraph) -> GraphEntry:
    spec = graph.obj
    return GraphEntry(
        name=spec.name,
        display_name=spec.display_name or spec.name,
        description=spec.description,
        category=spec.category,
        tags=list(spec.tags),
        version=spec.version,
        input_schema=dict(spec.input_schema),
        output_schema=dict(spec.output_schema),
        origin=GraphOrigin(
            kind=graph.origin.kind,
            distribution=graph.origin.distribution,
            version=graph.origin.version,
            path=None if graph.origin.path is None else SECRETS.scrub(graph.origin.path),
        ),
    )


def _workflow_entry(summary: WorkflowSummary, workflow: Workflow) -> GraphEntry:
    return GraphEntry(
        name=f"{WORKFLOW_PREFIX}{summary.slug}",
        display_name=summary.name or summary.slug,
        description=summary.description,
        category=summary.category,
        tags=list(summary.tags),
        version=summary.version,
        input_schema=input_schema(workflow.input_fields),
        output_schema={"type": "object"},
        origin=GraphOrigin(kind="workflow", distribution=summary.workflow_id, version=summary.version, path=None),
    )


class GraphCatalog:
    def __init__(self, registry: PluginRegistry, store: DefinitionStore, context: GraphContext) -> None:
        self._registry = registry
        self._store = store
        self._context = context

    async def list(
        self,
        *,
        category: str | None = None,
        tags: list[str] | None = None,
        source: Source | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[GraphEntry], int]:
        wanted = set(tags or [])
        plugins = (
            []
            if source == "workflow"
            else [
                _plugin_entry(g)
                for _, g in sorted(self._registry.snapshot.graphs.items())
                if (category is None or g.obj.category == category) and wanted <= set(g.obj.tags)
            ]
        )
        page = plugins[offset : offset + limit]
        if source == "plugin":
            return page, len(plugins)
        query = WorkflowQuery(
            category=category,
            tags=sorted(wanted),
            status="active",
            limit=max(0, limit - len(page)),
            offset=max(0, offset - len(plugins)),
        )
        workflows = await self._store.list_workflows(query)
        if query.limit:
            # Each row with its real input schema: the runnable copy of just this page's rows.
            page += [_workflow_entry(s, await self._store.get_runnable(s.workflow_id)) for s in workflows.items]
        return page, len(plugins) + workflows.total

    async def get(self, name: str) -> GraphView:
        if not name.startswith(WORKFLOW_PREFIX):
            graph = self._registry.graph(name)
            return GraphView(entry=_plugin_entry(graph), info=graph.info)
        ref = name.removeprefix(WORKFLOW_PREFIX)
        try:
            workflow = await self._store.get_runnable(ref)
        except NotFound:
            raise NotFound(f"Graph '{name}' not found", details={"graph_name": name}) from None
        row = await self._store.get_summary(workflow.workflow_id)
        return GraphView(entry=_workflow_entry(row, workflow), info=await self.describe_workflow(workflow))

    async def describe_workflow(self, workflow: Workflow) -> GraphInfo:
        """The nodes and edges a workflow runs as: its plugin graph, or its compiled agents and steps."""
        if (graph_name := plugin_graph(workflow)) is not None:
            return self._registry.graph(graph_name).info
        agents = await workflow_agents(self._store, workflow)
        built = build_workflow_graph(workflow, agents, self._context, graphs=lambda g: self._registry.graph(g).obj)
        return describe_state_graph(built.graph, built.node_types)
