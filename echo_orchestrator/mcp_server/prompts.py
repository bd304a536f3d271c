"""Prompts of the MCP server face: the designer, for a client's own model.

`design_workflow(goal)` gives the client's model what the service's designer gives its
own: the answer format, a first sketch by the offline designer (deterministic, no model
called, nothing saved), and the agents already registered to reuse. Getting a prompt
never spends a model call nor writes a file, so a read-only key may get it.
"""

from __future__ import annotations

import json

import mcp_types as types

from echo_orchestrator.engine.designer import DESIGN_FORMAT, as_answer, design_offline
from echo_orchestrator.errors import Invalid, NotFound
from echo_orchestrator.models import LLMConfig
from echo_orchestrator.store.definitions.base import DefinitionStore

DESIGN_PROMPT = "design_workflow"
GOAL_LIMIT = 4000
AGENTS_SHOWN = 30

PROMPTS = [
    types.Prompt(
        name=DESIGN_PROMPT,
        title="Design a workflow",
        description="Design a multi-agent workflow for a goal, in the form Echo Orchestrator saves",
        arguments=[types.PromptArgument(name="goal", description="what the workflow is for, in words", required=True)],
    )
]


class Prompts:
    def __init__(self, store: DefinitionStore) -> None:
        self._store = store

    async def get(self, name: str, arguments: dict[str, str] | None) -> types.GetPromptResult:
        if name != DESIGN_PROMPT:
            raise NotFound(f"No prompt '{name[:100]}': this server has {DESIGN_PROMPT}", details={"prompt": name[:100]})
        goal = (arguments or {}).get("goal", "").strip()
        if not goal:
            raise Invalid.at("goal", "required", "goal is required: what the workflow is for")
        if len(goal) > GOAL_LIMIT:
            raise Invalid.at("goal", f"at most {GOAL_LIMIT} characters", f"goal must be at most {GOAL_LIMIT} characters")
        sketch = as_answer(design_offline(goal, LLMConfig()))
        agents = (await self._store.list_agents(limit=AGENTS_SHOWN)).items
        known = "\n".join(f"- {a.agent_id}: {a.name} ({a.role})" for a in agents) or "- none yet"
        text = (
            f"Design a workflow for this goal: {goal}\n\n{DESIGN_FORMAT}\n\n"
            f"A first sketch by the service's offline designer, to improve on:\n{json.dumps(sketch, indent=2)}\n\n"
            f"Agents already registered (reuse one by its id as the key):\n{known}\n\n"
            "Answer with the JSON object only. The service designs and saves a draft from a prompt with "
            "POST /workflows/design/prompt, validates one with POST /workflows/validate/draft and saves a final "
            "version with POST /workflows/final/save."
        )
        return types.GetPromptResult(
            description=f"Design a workflow: {goal[:80]}",
            messages=[types.PromptMessage(role="user", content=types.TextContent(text=text))],
        )
