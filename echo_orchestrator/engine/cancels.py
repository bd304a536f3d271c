"""Claiming and cancelling. A claim takes an execution atomically for one request (an
answer, a resume, a cancel of a paused run) among any racing on any node, and saves what it
becomes in the same statement. Cancelling: a run stopped here, in the process that runs it,
or ended now if no process runs it any more; a paused run ended with its question
withdrawn; one step cancelled.

`ExecutionManager` inherits it; the attributes and methods declared here are the manager's.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence

import msgspec

from echo_orchestrator.engine.recording import RunRecorder, record_interrupted
from echo_orchestrator.engine.runs import LiveRun
from echo_orchestrator.errors import Conflict, StorageError
from echo_orchestrator.lifecycle import executions as lifecycle
from echo_orchestrator.models import Execution, ExecutionStatus, StepExecution, utcnow
from echo_orchestrator.store.runtime.base import RuntimeStore

log = logging.getLogger("echo_orchestrator.engine.executions")


class CancelSide(ABC):
    """The cancel paths of `ExecutionManager`, which gives what is abstract here."""

    runtime: RuntimeStore
    recorder: RunRecorder
    _live: dict[str, LiveRun]

    async def _claim(
        self,
        execution: Execution,
        statuses: Sequence[ExecutionStatus],
        what: str,
        *,
        queued: bool = False,
        limit_key: str | None = None,
        record: Execution | None = None,
    ) -> None:
        """Take the execution for this process (or for the queue), atomically: of two
        requests (on any nodes) answering or resuming it at once, one runs it and the other
        is refused. `limit_key`: whose concurrency limit it counts against from now on;
        `record`: what it becomes, saved in the same statement."""
        if not await self.runtime.claim(execution.execution_id, statuses, queued=queued, limit_key=limit_key, record=record):
            raise Conflict(
                f"Execution '{execution.execution_id}' was {what} meanwhile by another request",
                details={"execution_id": execution.execution_id},
            )

    @abstractmethod
    def stopped_elsewhere(self, execution_id: str) -> None:
        """The execution ended or paused (here, or in the process that ran it): wake its waiters."""

    async def _settle_orphan(self, execution: Execution, *, cancelled: bool) -> Execution:
        """An execution recorded running that no process runs any more (its process died: a
        CLI run interrupted, a worker killed) is ended now, so cancel and resume work on it
        from any process. One that another live process runs is that process's to change."""
        if execution.execution_id in self._live or not lifecycle.is_interruptible(execution.status):
            return execution
        if not await record_interrupted(self.runtime, [execution.execution_id], cancelled=cancelled):
            raise Conflict(
                f"Execution '{execution.execution_id}' is running in another process; cancel or resume it there",
                details={"execution_id": execution.execution_id, "status": execution.status},
            )
        return await self.runtime.get_execution(execution.execution_id)

    async def cancel(self, execution_id: str, *, graceful: bool, reason: str | None) -> Execution:
        execution = await self.runtime.get_execution(execution_id)
        if execution.status == "paused":  # waiting for a human: nothing runs, it ends now
            return await self._cancel_paused(execution, reason or "cancelled by request")
        if execution_id not in self._live and lifecycle.is_interruptible(execution.status):
            if await self._cancel_elsewhere(execution_id, graceful=graceful, reason=reason):
                return execution  # the process that runs it ends it; its events say when
            try:
                return await self._settle_orphan(execution, cancelled=True)
            except Conflict:  # a worker took the queued run meanwhile: it is that worker's to end
                if await self._cancel_elsewhere(execution_id, graceful=graceful, reason=reason):
                    return execution
                raise
        live = self._live.get(execution_id)
        if live is None or lifecycle.is_terminal(execution.status):
            raise lifecycle.not_cancellable(execution)
        live.cancel_reason = reason or "cancelled by request"
        if graceful and live.running_steps:
            live.stop_after_step = True
        elif live.scope is not None:
            live.scope.cancel()
        else:
            live.stop_after_step = True  # still waiting for capacity: it will not start
        return live.execution

    async def _cancel_paused(self, execution: Execution, reason: str) -> Execution:
        """End a run that waits for a human: claimed as cancelled in one statement (an answer
        arriving on any node at the same moment gets 409, or this cancel does), then its
        nodes, steps and event recorded."""
        now = utcnow()
        ended = msgspec.structs.replace(execution, completed_at=now, pending_prompt=None)
        lifecycle.move(ended, "cancelled")
        await self._claim(execution, ("paused",), "answered or cancelled", record=ended)
        execution = ended
        try:
            await self.recorder.cancelled_while_paused(execution, reason, now)
        except StorageError:  # the cancel is recorded; its details are written when the database is back
            log.warning("execution %s cancelled; its event is written when the runtime database takes writes again", execution.execution_id)
        live = self._live.pop(execution.execution_id, None)
        if live is not None:
            live.execution = execution
            live.done.set()
        self.stopped_elsewhere(execution.execution_id)
        return execution

    async def _cancel_elsewhere(self, execution_id: str, *, graceful: bool, reason: str | None) -> bool:
        """Ask the live process that runs the execution to cancel it, where the runtime
        database carries messages between processes (PostgreSQL)."""
        owned = await self.runtime.executions_in(lifecycle.INTERRUPTIBLE, [execution_id])
        owner = owned[0].owner if owned else None
        if owner is None or not await self.runtime.owned_elsewhere(owner):
            return False
        message = {"action": "cancel", "execution_id": execution_id, "graceful": graceful, "reason": reason}
        return await self.runtime.send_control(owner, message)

    async def cancel_step(self, step_execution_id: str) -> StepExecution:
        step = await self.runtime.get_step(step_execution_id)
        live = self._live.get(step.execution_id)
        if live is None or step.status not in lifecycle.UNFINISHED_STEPS:
            raise Conflict(
                f"Step execution '{step_execution_id}' is {step.status}; only a running step can be cancelled",
                details={"step_execution_id": step_execution_id, "status": step.status},
            )
        live.cancel_reason = f"step {step.step_number} ({step.step_name}) cancelled"
        if live.scope is not None:
            live.scope.cancel()
        await live.done.wait()
        return await self.runtime.get_step(step_execution_id)
