"""Execution events: ordered, durable, the unit every stream carries."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from echo_orchestrator.models.base import Record

EventType = Literal[
    "execution_started",
    "execution_progress",
    "execution_completed",
    "execution_failed",
    "execution_cancelled",
    "execution_paused",
    "execution_resumed",
    # Handed back to the queue by a stopping worker: `initializing` until another continues it.
    "execution_requeued",
    "step_started",
    "step_completed",
    "step_failed",
    "step_retrying",
    "step_cancelled",
    "node_started",
    "node_completed",
    "node_progress",
    "llm_call_started",
    "llm_call_completed",
    "llm_call",  # the document's short form of llm_call_completed (its SSE example): model and tokens
    "tool_call_started",
    "tool_call_completed",
    "output_file",  # a tool or graph wrote a file in the run's folder
    "interactive_prompt",
    "checkpoint_saved",
]


class Event(Record):
    event_id: str
    execution_id: str
    seq: int
    event_type: EventType
    timestamp: datetime
    data: dict[str, Any] = msgspec.field(default_factory=dict)
