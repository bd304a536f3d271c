"""Execution events: ordered, durable, the unit every stream carries; and `llm_token`, the
live-only piece of a model's reply (never stored, no `seq`)."""

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


TOKEN_EVENT = "llm_token"


class Token(Record):
    """A piece of a streaming model's reply, for live subscribers that asked for tokens.

    Not an `Event`: it has no `seq`, is never written to the event log and is never replayed
    (the completed call is, as `llm_call_completed`). `call_id` is that of the call's
    `llm_call_started`/`llm_call_completed` events; `index` counts the call's pieces from 0,
    so a subscriber that joined in the middle of a call knows it did."""

    execution_id: str
    call_id: str
    index: int
    delta: str
    timestamp: datetime
    step_number: int | None = None
    node: str | None = None
