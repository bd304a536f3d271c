"""The trigger routes' answers (docs/triggers.md)."""

from __future__ import annotations

from typing import Any

import msgspec

from echo_orchestrator.models.triggers import WebhookDelivery
from echo_orchestrator.services.schedules import ScheduleView


class ScheduleList(msgspec.Struct, kw_only=True):
    schedules: list[ScheduleView]
    total: int


class WebhookDeliveries(msgspec.Struct, kw_only=True):
    execution_id: str
    deliveries: list[WebhookDelivery]


class HookAccepted(msgspec.Struct, kw_only=True):
    """202: the run is started; follow it at `stream_url`."""

    trigger_id: str
    execution_id: str
    workflow_slug: str | None
    status: str
    stream_url: str


class HookResult(msgspec.Struct, kw_only=True):
    """200: a `wait` trigger's run, ended (or waiting for a person) within its time."""

    trigger_id: str
    execution_id: str
    status: str
    outputs: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    duration_seconds: float | None = None
    total_steps: int | None = None
