"""An execution's lifecycle: its statuses, the moves between them, and what a crash means.

    initializing ──► running ──► completed
         │  ▲          │ ▲ │
         │  │          │ │ └──► paused ──► running (answered) / cancelled / failed
         ▼  │          ▼ │
      cancelled ◄──── failed     (failed and cancelled resume to initializing)

`initializing` waits for capacity; `paused` waits for a human and survives a restart; a
process that dies interrupts `initializing` and `running` runs, which are then failed (or
cancelled, when someone asked to cancel one) with the reason, never left running.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import msgspec

from echo_orchestrator.errors import Conflict, EchoError, ExecutionCancelled, ExecutionFailed
from echo_orchestrator.models import ErrorInfo, EventType, Execution, ExecutionStatus, StepExecution, StepStatus

TRANSITIONS: Final[dict[ExecutionStatus, frozenset[ExecutionStatus]]] = {
    "initializing": frozenset({"running", "cancelled", "failed"}),
    # running -> initializing: taken over by another process after the one running it died
    # (shared runtime; `ExecutionManager.run_queued`).
    "running": frozenset({"completed", "failed", "cancelled", "paused", "initializing"}),
    # paused -> initializing: answered, waiting for the process (or worker) that continues it.
    "paused": frozenset({"running", "cancelled", "failed", "initializing"}),
    "failed": frozenset({"initializing"}),
    "cancelled": frozenset({"initializing"}),
    "completed": frozenset(),
}

TERMINAL: Final = frozenset({"completed", "failed", "cancelled"})
# Counted as active (health, statistics): waiting, running, or waiting for a human.
ACTIVE: Final[tuple[ExecutionStatus, ...]] = ("initializing", "running", "paused")
# A process that dies interrupts these; a `paused` execution waits for a human and survives.
INTERRUPTIBLE: Final[tuple[ExecutionStatus, ...]] = ("initializing", "running")
STATUSES: Final[tuple[ExecutionStatus, ...]] = tuple(TRANSITIONS)
RESUMABLE: Final[frozenset[ExecutionStatus]] = frozenset({"failed", "cancelled"})
# A checkpoint of an execution in one of these can be continued from.
CONTINUABLE: Final = frozenset({"failed", "cancelled", "paused"})
# Steps not finished when their run stopped.
UNFINISHED_STEPS: Final[tuple[StepStatus, ...]] = ("running", "retrying", "pending")
# After one of these events the execution does nothing more unless it is resumed.
TERMINAL_EVENTS: Final = frozenset({"execution_completed", "execution_failed", "execution_cancelled"})
# After one of these the execution does nothing more until it is answered or resumed.
STOPPING_EVENTS: Final = TERMINAL_EVENTS | {"execution_paused"}

INTERRUPTED = "The process running this execution stopped; resume it to continue from its last checkpoint"


def move(execution: Execution, status: ExecutionStatus) -> None:
    """Change the execution's status, refusing a move the lifecycle does not allow."""
    if status != execution.status and status not in TRANSITIONS[execution.status]:
        raise Conflict(
            f"Execution '{execution.execution_id}' cannot go from {execution.status} to {status}",
            details={"execution_id": execution.execution_id, "status": execution.status},
        )
    execution.status = status


def never_started(execution: Execution) -> bool:
    """It has not begun running anywhere: the record that says it began (`started_at`) is
    committed before any of its steps or checkpoints, so a run without one has none."""
    return execution.started_at is None


def is_terminal(status: str) -> bool:
    return status in TERMINAL


def is_interruptible(status: str) -> bool:
    return status in INTERRUPTIBLE


def require_resumable(execution: Execution) -> None:
    if execution.status not in RESUMABLE:
        raise Conflict(
            f"Execution '{execution.execution_id}' is {execution.status}; only a failed or cancelled one can be resumed",
            details={"execution_id": execution.execution_id, "status": execution.status},
        )


def require_answerable(execution: Execution, prompt_id: str) -> None:
    pending = execution.pending_prompt
    if execution.status != "paused" or pending is None:
        raise Conflict(f"Execution '{execution.execution_id}' is {execution.status}, not waiting for a response")
    if prompt_id != pending.get("prompt_id"):
        raise Conflict(f"Prompt '{prompt_id}' is not the pending one ('{pending.get('prompt_id')}')")


def not_cancellable(execution: Execution) -> Conflict:
    return Conflict(
        f"Execution '{execution.execution_id}' is {execution.status}; only a running execution can be cancelled",
        details={"execution_id": execution.execution_id, "status": execution.status},
    )


def error_info(error: EchoError, *, step: StepExecution | None = None) -> ErrorInfo:
    """The record of an error, as executions, steps and events carry it."""
    return ErrorInfo(
        type=error.type,
        message=error.message,
        code=error.code,
        step_number=None if step is None else step.step_number,
        retry_count=None if step is None else step.retry_count,
    )


def interrupt(execution: Execution, *, cancelled: bool, now: datetime, reason: str = INTERRUPTED) -> tuple[EventType, dict[str, object]]:
    """What a crash means for an execution its process left active: it ends failed (or
    cancelled, when a caller asked to cancel it), with the reason. Returns the event to
    record."""
    error: EchoError = ExecutionCancelled(reason) if cancelled else ExecutionFailed(reason)
    move(execution, "cancelled" if cancelled else "failed")
    execution.completed_at = now
    execution.error = ErrorInfo(type="ExecutionError", message=reason, code=error.code)
    event: EventType = "execution_cancelled" if cancelled else "execution_failed"
    return event, {"status": execution.status, "error": msgspec.to_builtins(execution.error)}


def interrupt_step(step: StepExecution, execution: Execution) -> bool:
    """A step its run's crash cut short ends failed with the run's error; False if it had ended."""
    if step.status not in UNFINISHED_STEPS:
        return False
    step.status, step.completed_at, step.error = "failed", execution.completed_at, execution.error
    return True
