"""The execution lifecycle: every move the engine makes is allowed, every other refused."""

from __future__ import annotations

import pytest

from echo_orchestrator.errors import Conflict
from echo_orchestrator.lifecycle import executions as lifecycle
from echo_orchestrator.models import Execution, ExecutionStatus, StepExecution, utcnow

STATUSES: tuple[ExecutionStatus, ...] = ("initializing", "running", "completed", "failed", "cancelled", "paused")


def _execution(status: ExecutionStatus) -> Execution:
    return Execution(execution_id="wfexec_1", kind="workflow", status=status, pending_prompt={"prompt_id": "p1"})


@pytest.mark.parametrize("old", STATUSES)
@pytest.mark.parametrize("new", STATUSES)
def test_moves_follow_the_transition_table(old: ExecutionStatus, new: ExecutionStatus) -> None:
    execution = _execution(old)
    allowed = old == new or new in lifecycle.TRANSITIONS[old]
    if allowed:
        lifecycle.move(execution, new)
        assert execution.status == new
    else:
        with pytest.raises(Conflict, match=f"from {old} to {new}"):
            lifecycle.move(execution, new)
        assert execution.status == old


def test_every_status_has_a_row_and_terminal_ones_only_resume() -> None:
    assert set(lifecycle.TRANSITIONS) == set(STATUSES)
    assert lifecycle.TRANSITIONS["completed"] == frozenset()
    for status in ("failed", "cancelled"):
        assert lifecycle.TRANSITIONS[status] == {"initializing"}
        lifecycle.require_resumable(_execution(status))
    for status in ("initializing", "running", "paused", "completed"):
        with pytest.raises(Conflict):
            lifecycle.require_resumable(_execution(status))


def test_only_a_paused_execution_with_that_prompt_is_answerable() -> None:
    lifecycle.require_answerable(_execution("paused"), "p1")
    with pytest.raises(Conflict, match="not the pending one"):
        lifecycle.require_answerable(_execution("paused"), "p2")
    with pytest.raises(Conflict, match="not waiting"):
        lifecycle.require_answerable(_execution("running"), "p1")


def test_a_crash_fails_or_cancels_an_active_run_and_its_unfinished_steps() -> None:
    now = utcnow()
    execution = _execution("running")
    event, data = lifecycle.interrupt(execution, cancelled=False, now=now)
    assert (event, execution.status, execution.completed_at) == ("execution_failed", "failed", now)
    assert execution.error is not None and execution.error.code == "ERR_EXEC_001" and data["status"] == "failed"
    running = StepExecution(step_execution_id="s", execution_id="wfexec_1", step_number=1, step_name="a", status="retrying")
    done = StepExecution(step_execution_id="t", execution_id="wfexec_1", step_number=2, step_name="b", status="completed")
    assert lifecycle.interrupt_step(running, execution) and running.status == "failed"
    assert not lifecycle.interrupt_step(done, execution) and done.status == "completed"
    cancelled = _execution("initializing")
    assert lifecycle.interrupt(cancelled, cancelled=True, now=now)[0] == "execution_cancelled"
    assert cancelled.error is not None and cancelled.error.code == "ERR_EXEC_003"
    with pytest.raises(Conflict):  # a finished run is not interrupted
        lifecycle.interrupt(_execution("completed"), cancelled=False, now=now)
