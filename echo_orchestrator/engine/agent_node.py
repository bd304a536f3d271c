"""An agent as a graph node: it reads its input keys, asks its model, writes its output keys."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool

from echo_orchestrator.engine.conditions import weight
from echo_orchestrator.errors import ConditionLimit
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


async def _converse(model: BaseChatModel, messages: list[BaseMessage], tools: list[BaseTool], max_turns: int) -> AIMessage:
    """Ask the model; while it asks for tools (and turns remain), run them and ask again."""
    bound = model.bind_tools(tools) if tools else model
    by_name = {t.name: t for t in tools}
    for turn in range(max_turns):
        reply = await bound.ainvoke(messages)
        calls = getattr(reply, "tool_calls", None) or []
        if not calls or turn == max_turns - 1:
            return reply if isinstance(reply, AIMessage) else AIMessage(content=str(reply.content))
        messages.append(reply)
        for call in calls:
            tool = by_name.get(call["name"])
            try:
                result = await tool.ainvoke(call["args"]) if tool is not None else f"unknown tool {call['name']}"
            except Exception as exc:  # the model sees the failure and may recover
                result = f"tool failed: {type(exc).__name__}: {exc}"
            messages.append(ToolMessage(content=json.dumps(result, default=str), tool_call_id=call.get("id") or call["name"]))
    raise AssertionError("unreachable: the last turn returns")  # pragma: no cover


# A state weighing more than this (`conditions.weight`: about one per value) is encoded for
# the prompt in a worker thread: a megabyte of state encoded on the event loop held every
# other request ~45 ms (tests/e2e/test_hostile_input.py measures the loop's stalls).
THREADED_WEIGHT = 20_000


def _prompt_json(inputs: dict[str, Any]) -> str:
    return json.dumps(inputs, default=str, ensure_ascii=False)


async def prompt_text(inputs: dict[str, Any]) -> str:
    """The agent's inputs as the prompt's JSON, off the event loop when they are heavy."""
    try:
        light = weight(inputs, THREADED_WEIGHT) <= THREADED_WEIGHT
    except ConditionLimit:  # nested too deep to walk here: the thread's encoder decides
        light = False
    return _prompt_json(inputs) if light else await anyio.to_thread.run_sync(_prompt_json, inputs)


def make_agent_node(agent: Agent, ctx: GraphContext) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    keys = output_keys(agent)

    async def run(state: dict[str, Any]) -> dict[str, Any]:
        model = ctx.chat_model(agent.llm)
        inputs = agent_inputs(agent, state)
        messages: list[BaseMessage] = [
            SystemMessage(system_prompt(agent)),
            HumanMessage(await prompt_text(inputs)),
        ]
        tools = await ctx.agent_tools(agent.tools) if agent.tools else []
        reply = await _converse(model, messages, tools, agent.constraints.max_steps or 5)
        content = reply.content if isinstance(reply.content, str) else json.dumps(reply.content, default=str)
        outputs = parse_outputs(content, keys)
        return {**outputs, "agent_outputs": {agent.agent_id: outputs}}

    run.__name__ = f"agent_{agent.agent_id}"
    return run
