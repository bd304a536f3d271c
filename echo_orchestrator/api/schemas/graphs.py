"""Bodies of the graph endpoints (ouroboros document, Graph Service)."""

from __future__ import annotations

from typing import Any

import msgspec

from echo_orchestrator.engine.graph_catalog import GraphOrigin


class GraphSummary(msgspec.Struct, kw_only=True):
    name: str
    display_name: str
    description: str
    category: str
    tags: list[str]
    version: str
    input_schema: dict[str, Any]
    origin: GraphOrigin


class GraphList(msgspec.Struct, kw_only=True):
    graphs: list[GraphSummary]
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


class GraphDetail(GraphSummary, kw_only=True):
    nodes: list[GraphNodeOut]
    edges: list[GraphEdgeOut]
    output_schema: dict[str, Any]
