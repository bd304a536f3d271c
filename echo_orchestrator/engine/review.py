"""Human review: a node after an agent (or a step) that pauses the run with LangGraph's
`interrupt()`.

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
# A review node is named after the node it reviews: `review_<agent id>`, `review_step_<n>`.
REVIEW_PREFIX = "review_"

ReviewNode = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def make_review_node(agent: Agent) -> ReviewNode:
    """The review after an agent: its output keys shown, its id in the prompt."""
    return review_node(agent.name or agent.agent_id, output_keys(agent), {"agent_id": agent.agent_id}, agent.agent_id)


def review_node(label: str, keys: list[str], subject: dict[str, Any], name: str) -> ReviewNode:
    """Pause for a human with what `keys` hold; `subject` says what is reviewed (an agent id,
    a step number) in the prompt and in a rejection's details."""

    async def review(state: dict[str, Any]) -> dict[str, Any]:
        answer = interrupt(
            {
                "prompt_id": new_id("prompt"),
                "message": f"Review the output of {label} before the workflow continues",
                "prompt_type": "confirmation",
                "options": list(RESPONSES),
                **subject,
                "output": {k: state.get(k) for k in keys},
            }
        )
        decision = answer if isinstance(answer, dict) else {"response": str(answer)}
        response = decision.get("response")
        if response == "reject":
            raise ExecutionCancelled(f"Rejected at the review of {label}: {decision.get('reason') or 'no reason given'}", details=subject)
        changes = decision.get("changes")
        if response == "modify" and isinstance(changes, dict):
            return dict(changes)
        return {}

    review.__name__ = f"{REVIEW_PREFIX}{name}"
    return review
