"""draft_review: writer -> critic -> (revise -> critic)* -> done."""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph

from echo_orchestrator.registry import GraphContext, GraphSpec

MAX_ROUNDS = 2


class ReviewState(TypedDict, total=False):
    topic: str
    llm: dict[str, Any]
    draft: str
    review: str
    approved: bool
    rounds: int


def build(ctx: GraphContext) -> StateGraph[ReviewState]:
    async def write(state: ReviewState) -> dict[str, Any]:
        model = ctx.chat_model(state.get("llm"))
        brief = f"Write a short text about: {state['topic']}"
        if state.get("review"):
            brief += f"\nRevise this draft:\n{state['draft']}\nReviewer's notes:\n{state['review']}"
        reply = await model.ainvoke([SystemMessage("You are a concise writer."), HumanMessage(brief)])
        return {"draft": str(reply.content), "rounds": state.get("rounds", 0) + 1}

    async def critique(state: ReviewState) -> dict[str, Any]:
        model = ctx.chat_model(state.get("llm"))
        reply = await model.ainvoke(
            [
                SystemMessage("You review drafts. Start your answer with APPROVED if the draft is good."),
                HumanMessage(state["draft"]),
            ]
        )
        text = str(reply.content)
        return {"review": text, "approved": text.strip().upper().startswith("APPROVED")}

    def next_step(state: ReviewState) -> str:
        return END if state.get("approved") or state.get("rounds", 0) >= MAX_ROUNDS else "write"

    graph = StateGraph(ReviewState)
    graph.add_node("write", write)
    graph.add_node("critique", critique)
    graph.add_edge(START, "write")
    graph.add_edge("write", "critique")
    graph.add_conditional_edges("critique", next_step, ["write", END])
    return graph


draft_review = GraphSpec(
    name="draft_review",
    build=build,
    display_name="Draft and review",
    description="A writer drafts, a critic reviews, the writer revises until approved (at most two rounds).",
    category="creative",
    tags=("writing", "review", "example"),
    version="1.0.0",
    input_schema={
        "type": "object",
        "required": ["topic"],
        "properties": {"topic": {"type": "string"}, "llm": {"type": "object"}},
    },
    output_schema={
        "type": "object",
        "properties": {"draft": {"type": "string"}, "review": {"type": "string"}, "approved": {"type": "boolean"}},
    },
    node_types={"write": "llm_node", "critique": "llm_node"},
)
