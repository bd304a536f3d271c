"""Human review: a node after an agent that pauses the run with LangGraph's `interrupt()`.

Resuming answers it with {"response": "approve" | "reject" | "modify", "changes": {...},
"reason": "..."}: approve continues, modify merges `changes` into the state first, reject
ends the execution `cancelled` with the reason. Being its own node, the review never makes
the agent's model call again when the run resumes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langgraph.types import interrupt

from echo_orchestrator.engine.agent_node import output_keys
from echo_orchestrator.errors import ExecutionCancelled
from echo_orchestrator.models import Agent, new_id

RESPONSES = ("approve", "reject", "modify")


def make_review_node(agent: Agent) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    keys = output_keys(agent)

    async def review(state: dict[str, Any]) -> dict[str, Any]:
        answer = interrupt(
            {
                "prompt_id": new_id("prompt"),
                "message": f"Review the output of {agent.name or agent.agent_id} before the workflow continues",
                "prompt_type": "confirmation",
                "options": list(RESPONSES),
                "agent_id": agent.agent_id,
                "output": {k: state.get(k) for k in keys},
            }
        )
        decision = answer if isinstance(answer, dict) else {"response": str(answer)}
        response = decision.get("response")
        if response == "reject":
            raise ExecutionCancelled(
                f"Rejected at the review of {agent.name or agent.agent_id}: {decision.get('reason') or 'no reason given'}",
                details={"agent_id": agent.agent_id},
            )
        changes = decision.get("changes")
        if response == "modify" and isinstance(changes, dict):
            return dict(changes)
        return {}

    review.__name__ = f"review_{agent.agent_id}"
    return review
