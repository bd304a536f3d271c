"""Checkpoints of executions, as the ouroboros document lists them: which step each one
follows, what state it holds, and whether a run can continue from it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from langgraph.checkpoint.base import BaseCheckpointSaver

from echo_orchestrator.lifecycle.executions import CONTINUABLE
from echo_orchestrator.models import rfc3339
from echo_orchestrator.models.base import FreeForm
from echo_orchestrator.store.runtime.base import RuntimeStore


class StateSnapshot(msgspec.Struct, kw_only=True):
    """What a checkpoint holds, as the document shows it."""

    completed_steps: list[int]
    current_step: int | None
    intermediate_results: FreeForm  # the run's state at that point


class CheckpointView(msgspec.Struct, kw_only=True):
    checkpoint_id: str
    execution_id: str
    workflow_slug: str | None
    workspace: str
    step_number: int | None
    step_name: str | None
    superstep: int | None
    created_at: str
    size_kb: float
    state_snapshot: StateSnapshot
    resumable: bool


def _timestamp(ts: str) -> str:
    """LangGraph's checkpoint time (ISO 8601, `+00:00`) in the service's one format."""
    try:
        return rfc3339(datetime.fromisoformat(ts))
    except ValueError:
        return ts


class CheckpointService:
    def __init__(self, runtime: RuntimeStore, checkpointer: BaseCheckpointSaver[Any] | None) -> None:
        self.runtime, self._checkpointer = runtime, checkpointer

    async def find(
        self,
        *,
        workflow_slug: str | None = None,
        execution_id: str | None = None,
        workspace: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[CheckpointView], int]:
        checkpointer = self._checkpointer
        if checkpointer is None:
            return [], 0
        runtime = self.runtime
        if execution_id is not None:
            executions = [await runtime.get_execution(execution_id)]
        else:
            executions, _ = await runtime.list_executions(workflow_slug=workflow_slug, limit=100_000)
        views: list[CheckpointView] = []
        for execution in executions:
            if workspace is not None and execution.workspace != workspace:
                continue
            steps = {s.node_name: (s.step_number, s.step_name) for s in await runtime.list_steps(execution.execution_id) if s.node_name}
            latest = True
            async for item in checkpointer.alist({"configurable": {"thread_id": execution.execution_id}}):
                checkpoint = item.checkpoint
                ran = [n for n in checkpoint.get("versions_seen", {}) if n in steps]
                numbers = sorted({steps[n][0] for n in ran})
                last = max(ran, key=lambda n: steps[n][0]) if ran else None
                values = dict(checkpoint.get("channel_values") or {})
                views.append(
                    CheckpointView(
                        checkpoint_id=str(checkpoint["id"]),
                        execution_id=execution.execution_id,
                        workflow_slug=execution.workflow_slug,
                        workspace=execution.workspace,
                        step_number=steps[last][0] if last else None,
                        step_name=steps[last][1] if last else None,
                        superstep=item.metadata.get("step") if item.metadata else None,
                        created_at=_timestamp(str(checkpoint["ts"])),
                        size_kb=round(len(msgspec.json.encode(values, enc_hook=str)) / 1024, 2),
                        state_snapshot=StateSnapshot(
                            completed_steps=numbers,
                            current_step=(max(numbers) + 1) if numbers and max(numbers) < execution.total_steps else None,
                            intermediate_results=msgspec.to_builtins(values, enc_hook=str),
                        ),
                        resumable=latest and execution.status in CONTINUABLE,
                    )
                )
                latest = False
        views.sort(key=lambda v: v.created_at, reverse=True)
        return views[offset : offset + limit], len(views)
