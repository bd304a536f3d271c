"""Completion webhooks, queued: when a run ends (or waits for a person) each URL its
`config.webhooks` subscribes to that end gets a delivery, buffered with the event that says
so and written in the same transaction (a run that ended always has its deliveries; one
that did not, none). `services.deliveries` sends them.

The message is a Standard Webhooks payload: `{"type": "execution.completed", "timestamp",
"data": {...the execution...}}`; the delivery's id is its `webhook-id` on every attempt.
"""

from __future__ import annotations

from typing import Any

import msgspec

from echo_orchestrator.models import Execution, new_id, rfc3339, utcnow
from echo_orchestrator.models.triggers import NOTIFIED_BY_EVENT, WebhookDelivery
from echo_orchestrator.store.runtime.base import RuntimeStore


def message(execution: Execution, ended: str) -> dict[str, Any]:
    started = execution.started_at or execution.created_at
    duration = (execution.completed_at - started).total_seconds() if execution.completed_at and started else None
    data = {
        "execution_id": execution.execution_id,
        "status": execution.status,
        "workflow_id": execution.workflow_id,
        "workflow_slug": execution.workflow_slug,
        "workflow_version": execution.workflow_version,
        "graph_name": execution.graph_name,
        "outputs": execution.outputs,
        "error": msgspec.to_builtins(execution.error),
        "pending_prompt": execution.pending_prompt,
        "created_at": rfc3339(execution.created_at) if execution.created_at else None,
        "completed_at": rfc3339(execution.completed_at) if execution.completed_at else None,
        "duration_seconds": None if duration is None else round(duration, 3),
        "total_tokens": execution.total_tokens,
        "cost_usd": execution.cost_usd,
        "caller": execution.caller,
        "metadata": execution.metadata,
    }
    return {"type": f"execution.{ended}", "timestamp": rfc3339(utcnow()), "data": data}


def queue_notifications(runtime: RuntimeStore, execution: Execution, event_type: str) -> int:
    """Queue the deliveries this event makes (before the flush that writes the event)."""
    ended = NOTIFIED_BY_EVENT.get(event_type)
    targets = [t for t in execution.config.webhooks if ended in t.events] if ended is not None else []
    if not targets:
        return 0
    assert ended is not None
    body, now = message(execution, ended), utcnow()
    for target in targets:
        delivery = WebhookDelivery(
            delivery_id=new_id("whmsg"),
            execution_id=execution.execution_id,
            event=ended,
            url=target.url,
            next_attempt_at=now,
            created_at=now,
            payload=body,
            secret=target.secret,
        )
        runtime.queue_delivery(delivery)
    return len(targets)
