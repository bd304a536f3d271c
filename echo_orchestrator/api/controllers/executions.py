"""Starting and following executions (ouroboros document: execute endpoints, Execution and
Step Execution Endpoints)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from echo_orchestrator.api.schemas.executions import (
    CompletedStepView,
    ExecutionInfoView,
    ExecutionStatusView,
    GraphRunAccepted,
    GraphRunMetadata,
    GraphRunOutput,
    GraphRunResult,
    ProgressView,
    WorkflowRunAccepted,
)
from echo_orchestrator.api.schemas.paging import MAX_OFFSET
from echo_orchestrator.container import Services
from echo_orchestrator.errors import Invalid
from echo_orchestrator.models import Event, Execution, ExecutionConfig, NodeExecution, StepExecution, utcnow
from echo_orchestrator.security.callers import Caller


class RunInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The documents name a run's input `inputs` (workflows) and `input` (graphs): every
    execute route takes either, so no client trips on the difference."""

    input: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None

    @property
    def input_field(self) -> str:
        return "input" if self.input is not None else "inputs"

    @property
    def values(self) -> dict[str, Any]:
        if self.input is not None and self.inputs is not None and self.input != self.inputs:
            raise Invalid.at(
                "input",
                "given twice, differently, as input and inputs",
                "Give the run's input once: `input` or `inputs` (they mean the same)",
            )
        return dict(self.input if self.input is not None else self.inputs or {})


class WorkflowExecuteRequest(RunInput, kw_only=True, forbid_unknown_fields=True):
    config: ExecutionConfig = msgspec.field(default_factory=ExecutionConfig)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class GraphExecuteRequest(RunInput, kw_only=True, forbid_unknown_fields=True, rename={"run_async": "async"}):
    config: ExecutionConfig = msgspec.field(default_factory=ExecutionConfig)
    run_async: bool = False


class LegacyExecuteRequest(RunInput, kw_only=True, forbid_unknown_fields=True):
    graph_name: str


class RespondRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    prompt_id: str
    response: str
    changes: dict[str, Any] = msgspec.field(default_factory=dict)
    reason: str | None = None


class CancelRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: str | None = None
    graceful: bool = True


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _elapsed(execution: Execution) -> float | None:
    if execution.started_at is None:
        return None
    return round(((execution.completed_at or utcnow()) - execution.started_at).total_seconds(), 3)


def _status_fields(execution: Execution) -> dict[str, Any]:
    progress = execution.progress
    return {
        "execution_id": execution.execution_id,
        "workflow_slug": execution.workflow_slug,
        "graph_name": execution.graph_name,
        "status": execution.status,
        "progress": ProgressView(
            current_step=progress.current_step,
            total_steps=progress.total_steps,
            completed_steps=progress.completed_steps,
            percentage=progress.percentage,
        ),
        "created_at": _iso(execution.created_at),
        "started_at": _iso(execution.started_at),
        "completed_at": _iso(execution.completed_at),
        "estimated_completion": _iso(execution.estimated_completion),
        "elapsed_seconds": _elapsed(execution),
        "metadata": execution.metadata,
        "error": execution.error,
        "pending_prompt": execution.pending_prompt,
        "caller": execution.caller,
    }


def _graph_result(execution: Execution, nodes: int, input_field: str) -> GraphRunResult:
    return GraphRunResult(
        input_field=input_field,
        execution_id=execution.execution_id,
        graph_name=execution.graph_name or execution.workflow_slug,
        status=execution.status,
        result=GraphRunOutput(
            output=execution.outputs,
            metadata=GraphRunMetadata(nodes_executed=nodes, llm_calls=execution.llm_calls, duration_seconds=_elapsed(execution)),
        ),
        error=execution.error,
        started_at=_iso(execution.started_at),
        completed_at=_iso(execution.completed_at),
    )


def _step_view(step: StepExecution) -> dict[str, Any]:
    view: dict[str, Any] = msgspec.to_builtins(step)
    tokens = sum(c.total_tokens for c in step.llm_calls)
    view["llm_call_count"] = len(step.llm_calls)
    view["tokens_used"] = tokens
    view["cost_usd"] = round(sum(c.cost_usd or 0.0 for c in step.llm_calls), 8)
    view["metrics"] = {
        "total_tokens": tokens,
        "total_cost_usd": view["cost_usd"],
        "avg_latency_ms": round(sum(c.latency_ms for c in step.llm_calls) / len(step.llm_calls), 2) if step.llm_calls else None,
    }
    return view


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
        execution = await services.executions_api.start_workflow(workflow_slug, data.values, data.config, data.metadata, caller)
        return WorkflowRunAccepted(
            input_field=data.input_field,
            execution_id=execution.execution_id,
            workflow_slug=execution.workflow_slug,
            status=execution.status,
            started_at=_iso(execution.created_at),
            estimated_completion=_iso(execution.estimated_completion),
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
        execution = await services.executions_api.start_graph(graph_name, data.values, data.config, caller)
        if data.run_async:
            accepted = GraphRunAccepted(
                input_field=data.input_field,
                execution_id=execution.execution_id,
                status=execution.status,
                message="Graph execution started. Use /executions/{execution_id} to track progress.",
            )
            return Response(accepted, status_code=HTTP_202_ACCEPTED)
        finished = await services.executions.wait(execution.execution_id)
        nodes = len(await services.runtime.list_nodes(execution.execution_id))
        return Response(_graph_result(finished, nodes, data.input_field), status_code=HTTP_200_OK)

    @post("/execute", status_code=HTTP_200_OK, summary="Legacy: run a graph synchronously")
    async def legacy_execute_graph(
        self, services: NamedDependency[Services], caller: NamedDependency[Caller], data: JSONBody[LegacyExecuteRequest]
    ) -> GraphRunResult:
        execution = await services.executions_api.start_graph(data.graph_name, data.values, ExecutionConfig(), caller)
        finished = await services.executions.wait(execution.execution_id)
        return _graph_result(finished, len(await services.runtime.list_nodes(execution.execution_id)), data.input_field)

    # -- executions ----------------------------------------------------------------------

    @get("/executions", summary="Executions, newest first")
    async def list_executions(
        self,
        services: NamedDependency[Services],
        workflow_slug: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
    ) -> dict[str, Any]:
        items, total = await services.runtime.list_executions(workflow_slug=workflow_slug, status=status, limit=limit, offset=offset)
        return {
            "executions": [
                {
                    "execution_id": e.execution_id,
                    "workflow_slug": e.workflow_slug,
                    "graph_name": e.graph_name,
                    "status": e.status,
                    "started_at": _iso(e.started_at),
                    "progress": e.progress.percentage,
                }
                for e in items
            ],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    @get("/executions/{execution_id:str}", summary="Status and progress")
    async def get_execution(self, services: NamedDependency[Services], execution_id: FromPath[str]) -> ExecutionStatusView:
        return ExecutionStatusView(**_status_fields(await services.runtime.get_execution(execution_id)))

    @get("/executions/{execution_id:str}/info", summary="Inputs, outputs, steps, LLM calls")
    async def get_execution_info(self, services: NamedDependency[Services], execution_id: FromPath[str]) -> ExecutionInfoView:
        info = await services.executions_api.info(execution_id)
        execution = info.execution
        return ExecutionInfoView(
            **_status_fields(execution),
            duration_seconds=_elapsed(execution),
            inputs=execution.inputs,
            outputs=execution.outputs,
            steps_completed=[
                CompletedStepView(
                    step_number=s.step_number,
                    step_name=s.step_name,
                    status=s.status,
                    duration_seconds=s.duration_seconds,
                    started_at=_iso(s.started_at),
                    completed_at=_iso(s.completed_at),
                )
                for s in info.steps
                if s.status == "completed"
            ],
            llm_calls=info.llm_calls,
        )

    @get("/executions/{execution_id:str}/node-executions", summary="Every LangGraph node run")
    async def list_node_executions(self, services: NamedDependency[Services], execution_id: FromPath[str]) -> dict[str, Any]:
        await services.runtime.get_execution(execution_id)
        nodes: list[NodeExecution] = await services.runtime.list_nodes(execution_id)
        return {
            "execution_id": execution_id,
            "node_executions": msgspec.to_builtins(nodes),
            "total_nodes": len(nodes),
            "completed_nodes": sum(1 for n in nodes if n.status == "completed"),
            "failed_nodes": sum(1 for n in nodes if n.status == "failed"),
        }

    @get("/executions/{execution_id:str}/events", summary="The execution's event log, in order")
    async def list_execution_events(
        self,
        services: NamedDependency[Services],
        execution_id: FromPath[str],
        event_type: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=10_000)] = 100,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
    ) -> dict[str, Any]:
        await services.runtime.get_execution(execution_id)
        items: list[Event]
        items, total = await services.runtime.list_events(execution_id, event_type=event_type, limit=limit, offset=offset)
        return {"execution_id": execution_id, "events": msgspec.to_builtins(items), "total": total, "limit": limit, "offset": offset}

    @get("/executions/{execution_id:str}/steps", summary="Step executions")
    async def get_execution_steps(self, services: NamedDependency[Services], execution_id: FromPath[str]) -> dict[str, Any]:
        execution = await services.runtime.get_execution(execution_id)
        steps = await services.runtime.list_steps(execution_id)
        return {
            "execution_id": execution_id,
            "step_executions": [_step_view(s) for s in steps],
            "total_steps": execution.progress.total_steps,
            "completed_steps": sum(1 for s in steps if s.status == "completed"),
            "failed_steps": sum(1 for s in steps if s.status == "failed"),
            "running_steps": sum(1 for s in steps if s.status in ("running", "retrying")),
        }

    @post("/executions/{execution_id:str}/cancel", status_code=HTTP_200_OK, summary="Cancel (graceful: after the running step)")
    async def cancel_execution(
        self, services: NamedDependency[Services], execution_id: FromPath[str], data: JSONBody[CancelRequest | None] = None
    ) -> dict[str, Any]:
        request = data or CancelRequest()
        await services.executions.cancel(execution_id, graceful=request.graceful, reason=request.reason)
        return {
            "execution_id": execution_id,
            "status": "cancelling",
            "message": "Execution cancellation initiated. "
            + ("Current step will complete before stopping." if request.graceful else "Stopping now."),
            "cancelled_at": utcnow().isoformat(),
        }

    @post("/executions/{execution_id:str}/respond", status_code=HTTP_200_OK, summary="Answer a paused execution's prompt")
    async def respond_to_prompt(
        self, services: NamedDependency[Services], execution_id: FromPath[str], data: JSONBody[RespondRequest]
    ) -> dict[str, Any]:
        await services.executions_api.respond(execution_id, data.prompt_id, data.response, data.changes, data.reason)
        return {"execution_id": execution_id, "prompt_id": data.prompt_id, "response": data.response, "status": "resuming"}

    @post(
        "/executions/{execution_id:str}/resume",
        status_code=HTTP_202_ACCEPTED,
        summary="Continue a failed or cancelled execution from its last checkpoint",
    )
    async def resume_execution(self, services: NamedDependency[Services], execution_id: FromPath[str]) -> dict[str, Any]:
        execution = await services.executions.resume(execution_id)
        return {
            "execution_id": execution_id,
            "status": execution.status,
            "resumed_count": execution.resumed_count,
            "message": "Execution resumed from its last checkpoint. Finished steps are not run again.",
        }

    @get("/workflows/checkpoints", summary="Checkpoints of executions (newest first)")
    async def list_checkpoints(
        self,
        services: NamedDependency[Services],
        workflow_slug: FromQuery[str | None] = None,
        execution_id: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
    ) -> dict[str, Any]:
        items, total = await services.executions_api.checkpoints(
            workflow_slug=workflow_slug, execution_id=execution_id, limit=limit, offset=offset
        )
        return {"checkpoints": msgspec.to_builtins(items), "total": total, "limit": limit, "offset": offset}

    @get("/service/workspaces/{name:str}/checkpoints", summary="Checkpoints of a workspace's executions")
    async def list_workspace_checkpoints(
        self,
        services: NamedDependency[Services],
        name: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
    ) -> dict[str, Any]:
        items, total = await services.executions_api.checkpoints(workspace=name, limit=limit)
        return {
            "workspace": name,
            "checkpoints": [
                {"checkpoint_id": c.checkpoint_id, "execution_id": c.execution_id, "created_at": c.created_at, "size_kb": c.size_kb}
                for c in items
            ],
            "total": total,
        }

    @get("/metrics/step-executions", summary="Step execution aggregates: summary, by workflow, by step, slow steps")
    async def get_step_metrics(
        self,
        services: NamedDependency[Services],
        workflow_slug: FromQuery[str | None] = None,
        start_date: FromQuery[datetime | None] = None,
        end_date: FromQuery[datetime | None] = None,
    ) -> dict[str, Any]:
        return await services.runtime.step_metrics(
            workflow_slug=workflow_slug,
            start=start_date.timestamp() if start_date else None,
            end=end_date.timestamp() if end_date else None,
        )

    # -- step executions -----------------------------------------------------------------

    @get("/step-executions", summary="Step executions, newest first")
    async def list_step_executions(
        self,
        services: NamedDependency[Services],
        execution_id: FromQuery[str | None] = None,
        workflow_slug: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
    ) -> dict[str, Any]:
        steps, total = await services.runtime.find_steps(execution_id=execution_id, workflow_slug=workflow_slug, status=status, limit=limit)
        now = utcnow()
        return {
            "step_executions": [
                {
                    "step_execution_id": s.step_execution_id,
                    "execution_id": s.execution_id,
                    "step_number": s.step_number,
                    "step_name": s.step_name,
                    "status": s.status,
                    "started_at": _iso(s.started_at),
                    "elapsed_seconds": s.duration_seconds
                    if s.duration_seconds is not None
                    else (round((now - s.started_at).total_seconds(), 3) if s.started_at else None),
                }
                for s in steps
            ],
            "total": total,
            "limit": limit,
        }

    @get("/step-executions/{step_execution_id:str}", summary="One step execution, with its LLM calls")
    async def get_step_execution(self, services: NamedDependency[Services], step_execution_id: FromPath[str]) -> dict[str, Any]:
        return _step_view(await services.runtime.get_step(step_execution_id))

    @post(
        "/step-executions/{step_execution_id:str}/cancel", status_code=HTTP_200_OK, summary="Cancel a running step (and so its execution)"
    )
    async def cancel_step_execution(self, services: NamedDependency[Services], step_execution_id: FromPath[str]) -> dict[str, Any]:
        step = await services.executions.cancel_step(step_execution_id)
        return {
            "step_execution_id": step.step_execution_id,
            "status": step.status,
            "message": "Step execution cancelled successfully",
            "cancelled_at": _iso(step.completed_at),
        }
