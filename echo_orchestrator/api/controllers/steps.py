"""Step executions, their metrics, and checkpoints (ouroboros document: Step Execution
Endpoints, checkpoint and metrics routes)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.status_codes import HTTP_200_OK

from echo_orchestrator.api.schemas.executions import (
    CheckpointList,
    StepCancelled,
    StepExecutionList,
    StepExecutionListItem,
    StepExecutionView,
    StepMetrics,
    iso,
    step_view,
)
from echo_orchestrator.api.schemas.paging import MAX_OFFSET
from echo_orchestrator.container import Services
from echo_orchestrator.models import StepStatus, utcnow


class StepController(Controller):
    tags = ["executions"]

    @get("/step-executions", summary="Step executions, newest first")
    async def list_step_executions(
        self,
        services: NamedDependency[Services],
        execution_id: FromQuery[str | None] = None,
        workflow_slug: FromQuery[str | None] = None,
        status: FromQuery[StepStatus | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
    ) -> StepExecutionList:
        steps, total = await services.executions.find_steps(
            execution_id=execution_id, workflow_slug=workflow_slug, status=status, limit=limit
        )
        now = utcnow()
        rows = [
            StepExecutionListItem(
                step_execution_id=s.step_execution_id,
                execution_id=s.execution_id,
                step_number=s.step_number,
                step_name=s.step_name,
                status=s.status,
                started_at=iso(s.started_at),
                elapsed_seconds=s.duration_seconds
                if s.duration_seconds is not None
                else (round((now - s.started_at).total_seconds(), 3) if s.started_at else None),
            )
            for s in steps
        ]
        return StepExecutionList(step_executions=rows, total=total, limit=limit)

    @get("/step-executions/{step_execution_id:str}", summary="One step execution, with its LLM calls")
    async def get_step_execution(self, services: NamedDependency[Services], step_execution_id: FromPath[str]) -> StepExecutionView:
        return step_view(await services.executions.step(step_execution_id))

    @post(
        "/step-executions/{step_execution_id:str}/cancel", status_code=HTTP_200_OK, summary="Cancel a running step (and so its execution)"
    )
    async def cancel_step_execution(self, services: NamedDependency[Services], step_execution_id: FromPath[str]) -> StepCancelled:
        step = await services.executions.cancel_step(step_execution_id)
        return StepCancelled(
            step_execution_id=step.step_execution_id,
            status=step.status,
            message="Step execution cancelled successfully",
            cancelled_at=iso(step.completed_at),
        )

    @get("/metrics/step-executions", summary="Step execution aggregates: summary, by workflow, by step, slow steps")
    async def get_step_metrics(
        self,
        services: NamedDependency[Services],
        workflow_slug: FromQuery[str | None] = None,
        start_date: FromQuery[str | None] = None,
        end_date: FromQuery[str | None] = None,
    ) -> StepMetrics:
        """`start_date` and `end_date` as the analytics route takes them: a date or a date-time."""
        return await services.executions.step_metrics(workflow_slug=workflow_slug, start_date=start_date, end_date=end_date)

    @get("/workflows/checkpoints", summary="Checkpoints of executions (newest first)")
    async def list_checkpoints(
        self,
        services: NamedDependency[Services],
        workflow_slug: FromQuery[str | None] = None,
        execution_id: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
    ) -> CheckpointList:
        items, total = await services.checkpoints.find(workflow_slug=workflow_slug, execution_id=execution_id, limit=limit, offset=offset)
        return CheckpointList(checkpoints=items, total=total, limit=limit, offset=offset)
