"""The queue's side of the engine (a PostgreSQL runtime): a run accepted on one process is
queued, and a worker's `run_queued` adopts it and runs it; a stopping worker hands its runs
back; a worker taken for dead that wakes stops the runs another took over (fencing).

`ExecutionManager` inherits it; the attributes and methods declared here are the manager's.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import anyio
from anyio.abc import TaskGroup
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command

from echo_orchestrator.engine.driver import RunInput
from echo_orchestrator.engine.recording import RunRecorder, record_interrupted
from echo_orchestrator.engine.runs import LiveRun
from echo_orchestrator.errors import EchoError, OwnedElsewhere, RuntimeUnavailable, Unavailable
from echo_orchestrator.lifecycle import executions as lifecycle
from echo_orchestrator.models import Execution
from echo_orchestrator.security.redaction import scrub
from echo_orchestrator.store.runtime.base import RunQueue, RuntimeStore

log = logging.getLogger("echo_orchestrator.engine.executions")


class QueueSide(ABC):
    """The queue's side of `ExecutionManager`, which gives what is abstract here."""

    runtime: RuntimeStore
    queue: RunQueue | None
    recorder: RunRecorder
    checkpointer: BaseCheckpointSaver[Any] | None
    _live: dict[str, LiveRun]

    @abstractmethod
    def _task_group(self) -> TaskGroup:
        """The engine's task group, where runs go."""

    @abstractmethod
    async def _relive(self, execution: Execution) -> LiveRun:
        """The live state of a recorded execution, ready to run here."""

    @abstractmethod
    async def _run(self, live: LiveRun, first_input: RunInput) -> None:
        """Run it to its end, pause or hand-back."""

    async def _submit(self, execution_id: str, answer: Mapping[str, Any] | None = None) -> None:
        """Queue the run; if the queue cannot take it, it ends `failed` rather than waiting forever."""
        assert self.queue is not None
        try:
            await self.queue.submit(execution_id, answer=answer)
        except Exception as exc:
            log.exception("could not queue execution %s", execution_id)
            with anyio.CancelScope(shield=True):
                await record_interrupted(self.runtime, [execution_id], reason="The run queue was unavailable when it was started")
            raise Unavailable("The run queue is unavailable; try again", details={"execution_id": execution_id}) from exc

    async def run_queued(self, execution_id: str, answer: dict[str, Any] | None, retried: bool) -> None:
        """Run here a queued execution (called by the queue's worker for a job); returns when
        the run ends, pauses, or is handed back. A job that finds its run ended (cancelled
        while queued) or taken by another process does nothing: a job may come twice."""
        tg = self._task_group()
        owned = await self.runtime.executions_in(lifecycle.INTERRUPTIBLE, [execution_id])
        if not owned or execution_id in self._live:
            return
        execution, owner = owned[0].execution, owned[0].owner
        if await self.runtime.owned_elsewhere(owner):
            raise OwnedElsewhere(f"Execution '{execution_id}' is run by {owner}")
        try:
            live = await self._relive(execution)
            first_input = await self._first_input(execution, None if retried else answer)
        except RuntimeUnavailable:  # the database, not the run: the job is tried again
            raise
        except Exception as exc:  # this worker cannot build it (a plugin it lacks, a definition gone): it ends, said why
            reason = exc.message if isinstance(exc, EchoError) else f"{type(exc).__name__}: {exc}"
            log.warning("cannot run execution %s here: %s", execution_id, reason)
            await record_interrupted(self.runtime, [execution_id], reason=scrub(f"This worker cannot run it: {reason}"))
            return
        # Known here before the record says so: a cancel that comes meanwhile finds it.
        self._live[execution_id] = live
        try:
            adopted = await self.runtime.adopt(execution_id, owner)
        except BaseException:  # the database went away: the job's retry must not find it live here
            self._live.pop(execution_id, None)
            raise
        if not adopted:
            self._live.pop(execution_id, None)
            return
        live.adopted = True
        if execution.status == "running":  # its worker died mid-run (a stopping worker records the hand-back itself)
            log.warning("continuing execution %s, left by %s", execution_id, owner or "a stopping worker")
            lifecycle.move(execution, "initializing")
            execution.resumed_count += 1
        tg.start_soon(self._run, live, first_input)
        try:
            await live.done.wait()
        except anyio.get_cancelled_exc_class():  # this worker stops: the run goes back to the queue
            with anyio.CancelScope(shield=True):
                await self._hand_back(live, answer)
            raise

    async def fence(self) -> list[str]:
        """Stop here, recording nothing, the runs another process took over while this one
        was unresponsive (stopped, starved, cut off): their records name another owner now.
        Called at every heartbeat; a run is never continued by two processes for longer."""
        mine = [execution_id for execution_id, live in self._live.items() if live.adopted and not live.handed_back]
        if not mine:
            return []
        owners = {o.execution.execution_id: o.owner for o in await self.runtime.executions_in(lifecycle.STATUSES, mine)}
        lost = [execution_id for execution_id in mine if owners.get(execution_id) != self.runtime.owner]
        for execution_id in lost:
            live = self._live.get(execution_id)
            if live is None or live.handed_back:
                continue
            log.error("execution %s is now run by %s: stopping it here", execution_id, owners.get(execution_id) or "no one")
            live.handed_back = True
            if live.scope is not None:
                live.scope.cancel()
            else:
                live.stop_after_step = True
        return lost

    async def _first_input(self, execution: Execution, answer: dict[str, Any] | None) -> RunInput:
        """The answer to its review; else from its checkpoint if it has one, else from its
        inputs. A job run again after its worker died has its answer already in the
        checkpoint's pending writes (or, if it was not written, the review asks again)."""
        if answer is not None:
            return Command(resume=answer)
        if lifecycle.never_started(execution):  # its first checkpoint would be committed with its start
            return dict(execution.inputs)
        checkpoint = None
        if self.checkpointer is not None and execution.config.enable_checkpoints:
            checkpoint = await self.checkpointer.aget_tuple({"configurable": {"thread_id": execution.execution_id}})
        return dict(execution.inputs) if checkpoint is None else None

    async def _hand_back(self, live: LiveRun, answer: dict[str, Any] | None) -> None:
        """Stop the run without ending it and queue it again, for another worker to continue
        from its last checkpoint."""
        live.handed_back = True
        if live.scope is not None:
            live.scope.cancel()
        else:
            live.stop_after_step = True
        await live.done.wait()
        execution_id = live.execution.execution_id
        # Once the run started, its answer is in the checkpoint's pending writes.
        started = live.execution.status != "initializing"
        try:
            await self.recorder.requeued(live, "the worker running it is stopping; another continues it from its last checkpoint")
        except Exception:  # the record says `running` a while longer; the run still goes back
            log.exception("could not record that execution %s goes back to the queue", execution_id)
        try:
            if await self.runtime.release(execution_id):
                assert self.queue is not None
                await self.queue.submit(execution_id, answer=None if started else answer)
                log.warning("handed execution %s back to the queue: this worker is stopping", execution_id)
        except Exception as exc:  # the database is away: as after a crash, the others' sweep continues it
            log.warning("could not hand execution %s back (%s): another worker continues it once this one is gone", execution_id, exc)
