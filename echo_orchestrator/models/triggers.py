"""What starts a run besides a request, and who hears when it ends (docs/triggers.md).

- `Schedule`: a file, `storage/schedules/<schedule_id>.json`, reviewed and versioned in git
  like a workflow: what to run, when (cron with a time zone, or an interval), and what to do
  about fires missed while the service was down and fires that come while a run still goes.
- `WebhookTrigger`: declared by a workflow (`triggers`): `POST /hooks/{id}` starts it.
- `WebhookTarget`: a URL told when a run ends (a workflow's `notify`, a request's `webhook`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from cronsim import CronSim, CronSimError

from echo_orchestrator.models.base import FreeForm, Identifier, Model, Record
from echo_orchestrator.models.references import REFERENCE

MissedPolicy = Literal["skip", "run_once"]
OverlapPolicy = Literal["skip", "queue", "allow"]
# What a run's end is called in a subscription (the statuses it ends or waits in).
NotifyEvent = Literal["completed", "failed", "cancelled", "paused"]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = ("completed", "failed", "cancelled", "paused")
# The event types that end a run (or make it wait for a person), by subscription name.
NOTIFIED_BY_EVENT: dict[str, NotifyEvent] = {
    "execution_completed": "completed",
    "execution_failed": "failed",
    "execution_cancelled": "cancelled",
    "execution_paused": "paused",
}
# "began": where a schedule starts counting (the first time a node saw it); "resumed": where
# it takes up again after a pause. Both are marks, not fires: nothing runs at them.
FireOutcome = Literal["claimed", "started", "skipped", "queued", "missed", "failed", "lost", "began", "resumed"]

IntervalSeconds = Annotated[float, msgspec.Meta(ge=1, le=366 * 86400, description="seconds between fires, at least 1")]


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a cron expression (5 fields, or 6 with seconds first), or None."""
    try:
        CronSim(expression, datetime(2000, 1, 1))
    except CronSimError as exc:
        return f"not a cron expression: {exc}"
    return None


def zone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name[:60]!r} (an IANA name such as Europe/Berlin, or UTC)"
    return None


class Schedule(Model):
    schedule_id: Identifier
    name: str = ""
    description: str = ""
    # What runs: a workflow by id or slug (its highest final version, as an execute request),
    # or a plugin graph by name. Exactly one.
    workflow: str | None = None
    graph: str | None = None
    inputs: FreeForm = msgspec.field(default_factory=dict)
    # When: a cron expression (5 fields; a 6th, seconds, is allowed) read in `timezone`, or
    # `interval_seconds` counted from `start_at` (or the Unix epoch). Exactly one.
    cron: str | None = None
    timezone: str = "UTC"
    interval_seconds: IntervalSeconds | None = None
    # No fire before `start_at`, none after `end_at` (RFC 3339 with an offset).
    start_at: datetime | None = None
    end_at: datetime | None = None
    enabled: bool = True
    # Fires that came while no node ran (longer ago than `grace_seconds`): forgotten, or
    # one run for all of them.
    missed: MissedPolicy = "skip"
    grace_seconds: Annotated[float, msgspec.Meta(ge=1, le=86400)] = 60.0
    # A fire while the previous run of this schedule still goes: not run, run when it ends
    # (at most `max_queued` waiting), or run beside it.
    overlap: OverlapPolicy = "skip"
    max_queued: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 10
    # The workspace the runs' files go to.
    workspace: str | None = None
    metadata: FreeForm = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        # Raised as a validation error naming the file (validate, the loader, a request).
        if (self.workflow is None) == (self.graph is None):
            raise ValueError("give exactly one of `workflow` (id or slug) and `graph` (a plugin graph's name)")
        if (self.cron is None) == (self.interval_seconds is None):
            raise ValueError("give exactly one of `cron` and `interval_seconds`")
        if self.cron is not None and (problem := cron_problem(self.cron)) is not None:
            raise ValueError(f"cron: {problem}")
        if (problem := zone_problem(self.timezone)) is not None:
            raise ValueError(f"timezone: {problem}")
        for name in ("start_at", "end_at"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name}: give an offset (2026-01-01T00:00:00Z)")
        if self.start_at is not None and self.end_at is not None and self.end_at <= self.start_at:
            raise ValueError("end_at must come after start_at")

    @property
    def target(self) -> str:
        return f"workflow:{self.workflow}" if self.workflow is not None else f"graph:{self.graph}"


class WebhookTrigger(Model):
    """`POST /hooks/{id}` starts the workflow that declares it, the request's JSON its input."""

    id: Identifier
    # `signature`: Standard Webhooks headers signed with `secret` (a `${VAR}` reference);
    # `api_key`: the API's own keys (`Authorization: Bearer`/`X-API-Key`).
    auth: Literal["signature", "api_key"] = "signature"
    secret: str | None = None
    # Input name -> where in the request's JSON its value is (`a.b.0.c`); with no mapping
    # the whole body is the input.
    inputs: dict[str, str] = msgspec.field(default_factory=dict)
    # Answer 202 with the execution's id at once, or wait for the result (200) up to `timeout_seconds`.
    wait: bool = False
    timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=600)] = 30.0
    # How old (seconds) a signed request's `webhook-timestamp` may be, either way.
    tolerance_seconds: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 300.0
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.auth == "signature" and not self.secret:
            raise ValueError(f"trigger {self.id}: a signature trigger needs `secret` (a reference such as ${{HOOK_SECRET}})")
        _by_reference(self.secret, f"trigger {self.id}: secret")


class WebhookTarget(Model):
    """Where a run's end is told: signed (Standard Webhooks), retried, each attempt recorded."""

    url: str
    events: list[NotifyEvent] = msgspec.field(default_factory=lambda: list(NOTIFY_EVENTS))
    # The signing secret as a `${VAR}` reference (a workflow's subscriptions); else the
    # server's `ECHO_WEBHOOK_SECRET`.
    secret: str | None = None

    def __post_init__(self) -> None:
        _by_reference(self.secret, "secret")


def _by_reference(secret: str | None, where: str) -> None:
    """Definitions are kept in git: a secret in one is named, never written (`${VAR}`)."""
    if secret is not None and REFERENCE.fullmatch(secret.strip()) is None:
        raise ValueError(f"{where}: give it as a reference to the server's environment (${{HOOK_SECRET}}), never the secret itself")


# -- runtime records (the runtime database) --------------------------------------------


class ScheduleFire(Record):
    schedule_id: str
    fire_at: datetime
    outcome: FireOutcome
    execution_id: str | None = None
    execution_status: str | None = None
    detail: str | None = None
    node: str | None = None
    recorded_at: datetime | None = None


class DeliveryAttempt(Record):
    attempt: int
    at: datetime
    status_code: int | None = None
    error: str | None = None
    duration_ms: float = 0.0
    # When the next attempt was due after this one (None: none, delivered or given up).
    next_attempt_at: datetime | None = None


class WebhookDelivery(Record):
    delivery_id: str
    execution_id: str
    event: NotifyEvent
    url: str
    status: Literal["pending", "delivered", "failed"] = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    give_up_at: datetime | None = None
    created_at: datetime | None = None
    # The message as sent (body), and the secret reference that signs it (never the secret).
    payload: dict[str, Any] = msgspec.field(default_factory=dict)
    secret: str | None = None
    history: list[DeliveryAttempt] = msgspec.field(default_factory=list)
