"""Graph catalogue (ouroboros document, Graph Service, listing side): plugin graphs and
runnable workflows compiled to graphs (`workflow:<slug>`)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from echo_orchestrator.api.docs import MERMAID
from echo_orchestrator.api.schemas.graphs import GraphDetail, GraphEdgeOut, GraphList, GraphNodeOut
from echo_orchestrator.api.schemas.paging import MAX_OFFSET
from echo_orchestrator.container import Services


class GraphController(Controller):
    path = "/graphs"
    tags = ["graphs"]

    @get("/", summary="List graphs: plugin graphs, then runnable workflows as `workflow:<slug>`")
    async def list_graphs(
        self,
        services: NamedDependency[Services],
        category: FromQuery[str | None] = None,
        tags: Annotated[str | None, QueryParameter(description="comma-separated; a graph must have all")] = None,
        source: Annotated[Literal["plugin", "workflow"] | None, QueryParameter(description="only plugin graphs, or only workflows")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
    ) -> GraphList:
        wanted = [t.strip() for t in (tags or "").split(",") if t.strip()]
        entries, total = await services.graphs.list(category=category, tags=wanted, source=source, limit=limit, offset=offset)
        return GraphList(graphs=entries, total=total, limit=limit, offset=offset)

    @get("/{graph_name:str}", summary="A graph's nodes, edges and schemas; `?format=mermaid` gives Mermaid text")
    async def get_graph(
        self,
        services: NamedDependency[Services],
        graph_name: FromPath[str],
        format: FromQuery[Literal["json", "mermaid"]] = "json",
    ) -> GraphDetail | Response[str]:
        view = await services.graphs.get(graph_name)
        if format == "mermaid":
            return Response(view.info.mermaid, media_type=MERMAID)
        return GraphDetail(
            **msgspec.structs.asdict(view.entry),
            nodes=[GraphNodeOut(name=n.name, type=n.type) for n in view.info.nodes],
            edges=[GraphEdgeOut(from_=e.source, to=e.target, conditional=e.conditional, label=e.label) for e in view.info.edges],
        )
