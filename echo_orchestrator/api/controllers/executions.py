"""Starting, reading, answering and stopping executions (ouroboros document: execute
endpoints, Execution Endpoints)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from echo_orchestrator.api.schemas.executions import (
    CancelAccepted,
    CancelRequest,
    CompletedStepView,
    EventList,
    ExecutionInfoView,
    ExecutionList,
    ExecutionListItem,
    ExecutionStatusView,
    ExecutionSteps,
    GraphExecuteRequest,
    GraphRunAccepted,
    GraphRunResult,
    InfoCheckpoint,
    LegacyExecuteRequest,
    NodeExecutionList,
    RespondAccepted,
    RespondRequest,
    ResumeAccepted,
    WorkflowExecuteRequest,
    WorkflowRunAccepted,
    elapsed,
    execution_step_view,
    graph_result,
    iso,
    status_fields,
)
from echo_orchestrator.api.schemas.paging import MAX_OFFSET
from echo_orchestrator.container import Services
from echo_orchestrator.models import ExecutionConfig, ExecutionStatus, rfc3339, utcnow
from echo_orchestrator.security.callers import Caller


class ExecutionController(Controller):
    tags = ["executions"]

    # -- starting ------------------------------------------------------------------------

    @post("/workflows/{workflow_slug:str}/execute", status_code=HTTP_202_ACCEPTED, summary="Start a workflow (by slug or id)")
    async def execute_workflow(
        self,
        services: NamedDependency[Services],
        caller: NamedDependency[Caller],
        workflow_slug: FromPath[str],
        data: JSONBody[WorkflowExecuteRequest],
    ) -> WorkflowRunAccepted:
        execution = await services.executions.start_workflow(
            workflow_slug, data.values, data.configured(data.config), data.metadata, caller
        )
        return WorkflowRunAccepted(
            input_field=data.input_field,
            execution_id=execution.execution_id,
            workflow_slug=execution.workflow_slug,
            status=execution.status,
            started_at=iso(execution.created_at),
            estimated_completion=iso(execution.estimated_completion),
            websocket_url=f"/executions?execution_id={execution.execution_id}",
            ws_url=f"/ws/executions/{execution.execution_id}",
            stream_url=f"/executions/{execution.execution_id}/stream",
            message="Workflow execution started. Use /executions/{execution_id} to track progress.",
        )

    @post("/graphs/{graph_name:str}/execute", status_code=HTTP_200_OK, summary="Run a graph (sync, or `async: true` -> 202)")
    async def execute_graph(
        self,
        services: NamedDependency[Services],
        caller: NamedDependency[Caller],
        graph_name: FromPath[str],
        data: JSONBody[GraphExecuteRequest],
    ) -> Response[GraphRunResult | GraphRunAccepted]:
        if data.run_async:
            execution = await services.executions.start_graph(graph_name, data.values, data.configured(data.config), caller)
            accepted = GraphRunAccepted(
                input_field=data.input_field,
                execution_id=execution.execution_id,
                status=execution.status,
                message="Graph execution started. Use /executions/{execution_id} to track progress.",
            )
            return Response(accepted, status_code=HTTP_202_ACCEPTED)
        finished, nodes = await services.executions.run_graph(graph_name, data.values, data.configured(data.config), caller)
        files = await services.executions.output_files(finished)
        return Response(graph_result(finished, nodes, data.input_field, files), status_code=HTTP_200_OK)

    @post("/execute", status_code=HTTP_200_OK, summary="Legacy: run a graph synchronously")
    async def legacy_execute_graph(
        self, services: NamedDependency[Services], caller: NamedDependency[Caller], data: JSONBody[LegacyExecuteRequest]
    ) -> GraphRunResult:
        finished, nodes = await services.executions.run_graph(data.graph_name, data.values, data.configured(ExecutionConfig()), caller)
        return graph_result(finished, nodes, data.input_field, await services.executions.output_files(finished))

    # -- reading -------------------------------------------------------------------------

    @get("/executions", summary="Executions, newest first")
    async def list_executions(
        self,
        services: NamedDependency[Services],
        workflow_slug: FromQuery[str | None] = None,
        status: FromQuery[ExecutionStatus | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
    ) -> ExecutionList:
        items, total = await services.executions.list_executions(workflow_slug=workflow_slug, status=status, limit=limit, offset=offset)
        rows = [
            ExecutionListItem(
                execution_id=e.execution_id,
                workflow_slug=e.workflow_slug,
                graph_name=e.graph_name,
                status=e.status,
                started_at=iso(e.started_at),
                progress=e.progress.percentage,
                created_at=iso(e.created_at),
                caller=e.caller,
            )
            for e in items
        ]
        return ExecutionList(executions=rows, total=total, limit=limit, offset=offset)

    @get("/executions/{execution_id:str}", summary="Status and progress")
    async def get_execution(self, services: NamedDependency[Services], execution_id: FromPath[str]) -> ExecutionStatusView:
        return ExecutionStatusView(**status_fields(await services.executions.get(execution_id)))

    @get("/executions/{execution_id:str}/info", summary="Inputs, outputs, steps, LLM calls")
    async def get_execution_info(self, services: NamedDependency[Services], execution_id: FromPath[str]) -> ExecutionInfoView:
        info = await services.executions.info(execution_id)
        execution = info.execution
        completed = [
            CompletedStepView(
                step_number=s.step_number,
                step_name=s.step_name,
                status=s.status,
                duration_seconds=s.duration_seconds,
                started_at=iso(s.started_at),
                completed_at=iso(s.completed_at),
            )
            for s in info.steps
            if s.status == "completed"
        ]
        checkpoints, _ = await services.checkpoints.find(execution_id=execution_id, limit=1000)
        return ExecutionInfoView(
            **status_fields(execution),
            duration_seconds=elapsed(execution),
            inputs=execution.inputs,
            outputs=execution.outputs,
            steps_completed=completed,
            llm_calls=info.llm_calls,
            checkpoints=[
                InfoCheckpoint(checkpoint_id=c.checkpoint_id, step_number=c.step_number, created_at=c.created_at) for c in checkpoints
            ],
            workspace=execution.workspace,
            output_files=await services.executions.output_files(execution),
            workflow_id=execution.workflow_id,
            workflow_version=execution.workflow_version,
            agents=execution.agents,
        )

    @get("/executions/{execution_id:str}/node-executions", summary="Every LangGraph node run")
    async def list_node_executions(self, services: NamedDependency[Services], execution_id: FromPath[str]) -> NodeExecutionList:
        nodes = await services.executions.nodes(execution_id)
        return NodeExecutionList(
            execution_id=execution_id,
            node_executions=nodes,
            total_nodes=len(nodes),
            completed_nodes=sum(1 for n in nodes if n.status == "completed"),
            failed_nodes=sum(1 for n in nodes if n.status == "failed"),
        )

    @get("/executions/{execution_id:str}/events", summary="The execution's event log, in order")
    async def list_execution_events(
        self,
        services: NamedDependency[Services],
        execution_id: FromPath[str],
        event_type: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=10_000)] = 100,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
    ) -> EventList:
        items, total = await services.executions.events(execution_id, event_type=event_type, limit=limit, offset=offset)
        return EventList(execution_id=execution_id, events=items, total=total, limit=limit, offset=offset)

    @get("/executions/{execution_id:str}/steps", summary="Step executions")
    async def get_execution_steps(self, services: NamedDependency[Services], execution_id: FromPath[str]) -> ExecutionSteps:
        execution, steps = await services.executions.steps(execution_id)
        return ExecutionSteps(
            execution_id=execution_id,
            step_executions=[execution_step_view(s) for s in steps],
            total_steps=execution.progress.total_steps,
            completed_steps=sum(1 for s in steps if s.status == "completed"),
            failed_steps=sum(1 for s in steps if s.status == "failed"),
            running_steps=sum(1 for s in steps if s.status in ("running", "retrying")),
        )

    # -- answering and stopping ----------------------------------------------------------

    @post("/executions/{execution_id:str}/cancel", status_code=HTTP_200_OK, summary="Cancel (graceful: after the running step)")
    async def cancel_execution(
        self, services: NamedDependency[Services], execution_id: FromPath[str], data: JSONBody[CancelRequest | None] = None
    ) -> CancelAccepted:
        request = data or CancelRequest()
        execution = await services.executions.cancel(execution_id, graceful=request.graceful, reason=request.reason)
        if execution.status == "cancelled":  # nothing ran it (it waited for a response, or its process died): ended now
            return CancelAccepted(
                execution_id=execution_id,
                status="cancelled",
                message="Execution cancelled.",
                cancelled_at=rfc3339(execution.completed_at or utcnow()),
            )
        when = "Current step will complete before stopping." if request.graceful else "Stopping now."
        return CancelAccepted(
            execution_id=execution_id,
            status="cancelling",
            message=f"Execution cancellation initiated. {when}",
            cancelled_at=rfc3339(utcnow()),
        )

    @post("/executions/{execution_id:str}/respond", status_code=HTTP_200_OK, summary="Answer a paused execution's prompt")
    async def respond_to_prompt(
        self,
        services: NamedDependency[Services],
        caller: NamedDependency[Caller],
        execution_id: FromPath[str],
        data: JSONBody[RespondRequest],
    ) -> RespondAccepted:
        await services.executions.respond(execution_id, data.prompt_id, data.response, data.changes, data.reason, caller=caller)
        return RespondAccepted(execution_id=execution_id, prompt_id=data.prompt_id, response=data.response, status="resuming")

    @post(
        "/executions/{execution_id:str}/resume",
        status_code=HTTP_202_ACCEPTED,
        summary="Continue a failed or cancelled execution from its last checkpoint",
    )
    async def resume_execution(
        self, services: NamedDependency[Services], caller: NamedDependency[Caller], execution_id: FromPath[str]
    ) -> ResumeAccepted:
        execution = await services.executions.resume(execution_id, caller)
        return ResumeAccepted(
            execution_id=execution_id,
            status=execution.status,
            resumed_count=execution.resumed_count,
            message="Execution resumed from its last checkpoint. Finished steps are not run again.",
        )
