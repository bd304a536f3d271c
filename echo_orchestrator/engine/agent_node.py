"""An agent as a graph node: it reads its input keys, asks its model, writes its output keys."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

from echo_orchestrator.models import Agent
from echo_orchestrator.registry.spec import GraphContext

_FENCE = re.compile(r"^```(?:json)?\s*(?P<body>.*?)\s*```$", re.DOTALL)


def output_keys(agent: Agent) -> list[str]:
    return list(agent.output_schema) or [f"{agent.agent_id}_output"]


def system_prompt(agent: Agent) -> str:
    keys = output_keys(agent)
    lines = [f"You are {agent.name or agent.agent_id}, responsible for {agent.role or 'your part of the work'}."]
    if agent.description:
        lines.append(agent.description)
    if len(keys) == 1:
        lines.append(f"Answer with the content of `{keys[0]}` only.")
    else:
        lines.append(f"Answer with one JSON object with exactly these keys: {', '.join(keys)}.")
    return "\n".join(lines)


def parse_outputs(text: str, keys: list[str]) -> dict[str, Any]:
    """One key takes the whole reply; several take the fields of a JSON object, and a reply
    that is not such an object (the offline echo model's) goes whole into each key."""
    if len(keys) == 1:
        return {keys[0]: text}
    candidate = text.strip()
    if match := _FENCE.match(candidate):
        candidate = match["body"]
    try:
        parsed = json.loads(candidate)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and any(k in parsed for k in keys):
        return {k: parsed.get(k) for k in keys}
    return {k: text for k in keys}


def agent_inputs(agent: Agent, state: dict[str, Any]) -> dict[str, Any]:
    keys = agent.input_schema or [k for k in state if not k.startswith("_") and k not in ("agent_outputs", "delegations")]
    return {k: state.get(k) for k in keys}


def make_agent_node(agent: Agent, ctx: GraphContext) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    keys = output_keys(agent)

    async def run(state: dict[str, Any]) -> dict[str, Any]:
        model = ctx.chat_model(agent.llm)
        inputs = agent_inputs(agent, state)
        reply = await model.ainvoke(
            [SystemMessage(system_prompt(agent)), HumanMessage(json.dumps(inputs, default=str, ensure_ascii=False))]
        )
        content = reply.content if isinstance(reply.content, str) else json.dumps(reply.content, default=str)
        outputs = parse_outputs(content, keys)
        return {**outputs, "agent_outputs": {agent.agent_id: outputs}}

    run.__name__ = f"agent_{agent.agent_id}"
    return run
