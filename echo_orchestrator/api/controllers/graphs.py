"""Graph catalogue (ouroboros document, Graph Service, listing side)."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from echo_orchestrator.api.schemas.graphs import (
    GraphDetail,
    GraphEdgeOut,
    GraphList,
    GraphNodeOut,
    GraphSummary,
    PluginOrigin,
)
from echo_orchestrator.container import Services
from echo_orchestrator.registry.registry import RegisteredGraph


def _summary_fields(graph: RegisteredGraph) -> dict[str, object]:
    spec = graph.obj
    return {
        "name": spec.name,
        "display_name": spec.display_name or spec.name,
        "description": spec.description,
        "category": spec.category,
        "tags": list(spec.tags),
        "version": spec.version,
        "input_schema": dict(spec.input_schema),
        "origin": PluginOrigin(
            kind=graph.origin.kind,
            distribution=graph.origin.distribution,
            version=graph.origin.version,
            path=graph.origin.path,
        ),
    }


class GraphController(Controller):
    path = "/graphs"
    tags = ["graphs"]

    @get("/", summary="List graphs")
    async def list_graphs(
        self,
        services: NamedDependency[Services],
        category: FromQuery[str | None] = None,
        tags: Annotated[str | None, QueryParameter(description="comma-separated; a graph must have all")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> GraphList:
        wanted = {t.strip() for t in (tags or "").split(",") if t.strip()}
        graphs = [
            g
            for _, g in sorted(services.registry.snapshot.graphs.items())
            if (category is None or g.obj.category == category) and wanted <= set(g.obj.tags)
        ]
        return GraphList(
            graphs=[GraphSummary(**_summary_fields(g)) for g in graphs[offset : offset + limit]],  # type: ignore[arg-type]
            total=len(graphs),
            limit=limit,
            offset=offset,
        )

    @get(
        "/{graph_name:str}",
        summary="A graph's nodes, edges and schemas; `?format=mermaid` gives Mermaid text",
        responses={},
    )
    async def get_graph(
        self,
        services: NamedDependency[Services],
        graph_name: FromPath[str],
        format: FromQuery[Literal["json", "mermaid"]] = "json",  # noqa: A002 - the public query name
    ) -> GraphDetail | Response[str]:
        graph = services.registry.graph(graph_name)
        if format == "mermaid":
            return Response(graph.info.mermaid, media_type="text/vnd.mermaid")
        return GraphDetail(
            **_summary_fields(graph),  # type: ignore[arg-type]
            nodes=[GraphNodeOut(name=n.name, type=n.type) for n in graph.info.nodes],
            edges=[GraphEdgeOut(from_=e.source, to=e.target, conditional=e.conditional, label=e.label) for e in graph.info.edges],
            output_schema=dict(graph.obj.output_schema),
        )
