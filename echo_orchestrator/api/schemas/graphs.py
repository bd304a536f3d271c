"""Bodies of the graph endpoints (ouroboros document, Graph Service)."""

from __future__ import annotations

import msgspec

from echo_orchestrator.services.graphs import GraphEntry


class GraphList(msgspec.Struct, kw_only=True):
    graphs: list[GraphEntry]
    total: int
    limit: int
    offset: int


class GraphNodeOut(msgspec.Struct, kw_only=True):
    name: str
    type: str


class GraphEdgeOut(msgspec.Struct, kw_only=True, rename={"from_": "from"}):
    from_: str
    to: str
    conditional: bool
    label: str | None


class GraphDetail(GraphEntry, kw_only=True):
    nodes: list[GraphNodeOut]
    edges: list[GraphEdgeOut]
