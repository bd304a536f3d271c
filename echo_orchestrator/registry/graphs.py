"""What a graph looks like: nodes and edges read from the compiled LangGraph graph."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langgraph.graph import StateGraph

from echo_orchestrator.registry.spec import GraphContext, GraphSpec

START, END = "__start__", "__end__"


@dataclass(frozen=True, slots=True)
class GraphNode:
    name: str
    type: str


@dataclass(frozen=True, slots=True)
class GraphEdge:
    source: str
    target: str
    conditional: bool
    label: str | None


@dataclass(frozen=True, slots=True)
class GraphInfo:
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    mermaid: str


def describe_graph(spec: GraphSpec, context: GraphContext) -> GraphInfo:
    """Build and compile the graph (no model is called) and read its structure."""
    return describe_state_graph(spec.build(context), spec.node_types)


def describe_state_graph(graph: StateGraph[Any], node_types: Mapping[str, str]) -> GraphInfo:
    drawable = graph.compile().get_graph()
    nodes = tuple(
        GraphNode(
            name=node_id,
            type="start" if node_id == START else "end" if node_id == END else node_types.get(node_id, "node"),
        )
        for node_id in drawable.nodes
    )
    edges = tuple(
        GraphEdge(
            source=e.source,
            target=e.target,
            conditional=e.conditional,
            label=None if e.data is None else str(e.data),
        )
        for e in drawable.edges
    )
    return GraphInfo(nodes=nodes, edges=edges, mermaid=drawable.draw_mermaid())
