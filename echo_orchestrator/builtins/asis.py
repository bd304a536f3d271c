"""ASIS, the Agent-Step Intelligence System: plan a task, execute each step, summarise.

planner -> executor (once per planned step) -> summarizer. With a real model the planner
returns a numbered list of steps; the offline `echo` model returns no list, and the plan
is then the task itself as one step.
"""

from __future__ import annotations

import operator
import re
from typing import Annotated, Any, TypedDict

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph

from echo_orchestrator.registry.spec import GraphContext, GraphSpec

MAX_STEPS = 8
_STEP_LINE = re.compile(r"^\s*(?:\d+[.)]|[-*])\s+(?P<step>.+?)\s*$")


class AsisState(TypedDict, total=False):
    task: str
    context: dict[str, Any]
    llm: dict[str, Any]
    plan: list[str]
    step_index: int
    step_results: Annotated[list[dict[str, str]], operator.add]
    result: str
    metadata: dict[str, Any]


def parse_plan(text: str, task: str) -> list[str]:
    steps = [m["step"] for line in text.splitlines() if (m := _STEP_LINE.match(line))]
    return steps[:MAX_STEPS] or [task]


def _text(content: Any) -> str:
    return content if isinstance(content, str) else str(content)


def build(ctx: GraphContext) -> StateGraph[AsisState]:
    async def planner(state: AsisState) -> dict[str, Any]:
        model = ctx.chat_model(state.get("llm"))
        reply = await model.ainvoke(
            [
                SystemMessage(
                    f"You plan work. Answer with a numbered list of at most {MAX_STEPS} concrete steps, one per line, and nothing else."
                ),
                HumanMessage(f"Task: {state['task']}\nContext: {state.get('context') or {}}"),
            ]
        )
        return {"plan": parse_plan(_text(reply.content), state["task"]), "step_index": 0}

    async def executor(state: AsisState) -> dict[str, Any]:
        index = state.get("step_index", 0)
        step = state["plan"][index]
        done = "\n".join(f"- {r['step']}: {r['result']}" for r in state.get("step_results", []))
        model = ctx.chat_model(state.get("llm"))
        reply = await model.ainvoke(
            [
                SystemMessage("You carry out one step of a plan and report its result concisely."),
                HumanMessage(f"Task: {state['task']}\nDone so far:\n{done or '(nothing)'}\nNow do: {step}"),
            ]
        )
        return {"step_results": [{"step": step, "result": _text(reply.content)}], "step_index": index + 1}

    def more_steps(state: AsisState) -> str:
        return "executor" if state.get("step_index", 0) < len(state.get("plan", [])) else "summarizer"

    async def summarizer(state: AsisState) -> dict[str, Any]:
        results = "\n".join(f"{i}. {r['step']}: {r['result']}" for i, r in enumerate(state.get("step_results", []), 1))
        model = ctx.chat_model(state.get("llm"))
        reply = await model.ainvoke(
            [
                SystemMessage("You write the final answer to a task from the results of its steps."),
                HumanMessage(f"Task: {state['task']}\nStep results:\n{results}"),
            ]
        )
        return {"result": _text(reply.content), "metadata": {"steps_planned": len(state.get("plan", []))}}

    graph = StateGraph(AsisState)
    graph.add_node("planner", planner)
    graph.add_node("executor", executor)
    graph.add_node("summarizer", summarizer)
    graph.add_edge(START, "planner")
    graph.add_edge("planner", "executor")
    graph.add_conditional_edges("executor", more_steps, ["executor", "summarizer"])
    graph.add_edge("summarizer", END)
    return graph


asis = GraphSpec(
    name="ASIS",
    build=build,
    display_name="Agent-Step Intelligence System",
    description="Plans a task into steps with the LLM, executes each step, then summarises the results.",
    category="core",
    tags=("agent", "planning", "execution"),
    version="1.0.0",
    input_schema={
        "type": "object",
        "required": ["task"],
        "properties": {
            "task": {"type": "string", "description": "Task to execute"},
            "context": {"type": "object", "description": "Facts the planner should know"},
            "llm": {"type": "object", "description": "LLM block for every node (default: echo)"},
        },
    },
    output_schema={
        "type": "object",
        "properties": {
            "result": {"type": "string"},
            "plan": {"type": "array", "items": {"type": "string"}},
            "step_results": {"type": "array"},
            "metadata": {"type": "object"},
        },
    },
    node_types={"planner": "llm_node", "executor": "llm_node", "summarizer": "llm_node"},
)
