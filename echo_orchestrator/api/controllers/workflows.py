"""Workflow design, validation, storage, graph view and execution (echoai document), with legacy routes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from echo_orchestrator.api.docs import MERMAID
from echo_orchestrator.api.etags import IfMatch, IfNoneMatch, representation
from echo_orchestrator.api.fast_reads import FAST_READ, FastRead
from echo_orchestrator.api.schemas.workflows import (
    CanvasRequest,
    Cloned,
    CloneRequest,
    CreatedWorkflow,
    DesignRequest,
    DesignResponse,
    ExecuteRequest,
    FinalSaved,
    Message,
    RunResult,
    TempSaved,
    ValidationReport,
    Versions,
    WorkflowGraphView,
    WorkflowWithAgents,
)
from echo_orchestrator.container import Services
from echo_orchestrator.models import Workflow
from echo_orchestrator.security.callers import Caller


class WorkflowLifecycleController(Controller):
    path = "/workflows"
    tags = ["workflow lifecycle"]

    @post("/design/prompt", status_code=201, summary="Design a workflow from a prompt; saved as a draft")
    async def design_workflow(self, services: NamedDependency[Services], data: JSONBody[DesignRequest]) -> DesignResponse:
        result = await services.workflows.design(data.prompt, data.default_llm)
        return DesignResponse(workflow=result.workflow, agents=result.agents, designed_by=result.designed_by, notes=result.notes)

    @post("/validate/draft", status_code=200, summary="Structural validation (no side effects)")
    async def validate_workflow_draft(self, services: NamedDependency[Services], data: JSONBody[WorkflowWithAgents]) -> ValidationReport:
        return await services.workflows.validate_draft(data.workflow, data.agents)

    @post("/validate/final", status_code=200, summary="Full validation; on success the stored draft becomes `validated`")
    async def validate_workflow_final(self, services: NamedDependency[Services], data: JSONBody[WorkflowWithAgents]) -> ValidationReport:
        return await services.workflows.validate_final(data.workflow, data.agents)

    @post("/temp/save", status_code=200, summary="Save a validated workflow as the temp copy (If-Match: 412 if it changed)")
    async def save_temp_workflow(
        self, services: NamedDependency[Services], data: JSONBody[Workflow], if_match: IfMatch = None
    ) -> TempSaved:
        path = await services.workflows.save_temp(data, if_match=if_match)
        return TempSaved(workflow_id=data.workflow_id, path=path, state="temp")

    @get("/{workflow_id:str}/temp", summary="The temp copy (with its ETag)")
    async def get_temp_workflow(
        self, services: NamedDependency[Services], workflow_id: FromPath[str], if_none_match: IfNoneMatch = None
    ) -> Response[Workflow]:
        return representation(await services.workflows.encoded("temp", workflow_id), if_none_match)

    @delete("/{workflow_id:str}/temp", status_code=200, summary="Delete the temp copy (If-Match: 412 if it changed)")
    async def delete_temp_workflow(
        self, services: NamedDependency[Services], workflow_id: FromPath[str], if_match: IfMatch = None
    ) -> Message:
        await services.workflows.delete_temp(workflow_id, if_match=if_match)
        return Message(message="Temp workflow deleted", workflow_id=workflow_id)

    @get("/{workflow_id:str}/draft", summary="The draft (with its ETag)")
    async def get_draft_workflow(
        self, services: NamedDependency[Services], workflow_id: FromPath[str], if_none_match: IfNoneMatch = None
    ) -> Response[Workflow]:
        return representation(await services.workflows.encoded("draft", workflow_id), if_none_match)

    @post("/final/save", status_code=201, summary="Save an immutable final version (409 if it exists)")
    async def save_final_workflow(self, services: NamedDependency[Services], data: JSONBody[dict[str, Any]]) -> FinalSaved:
        workflow_id, chosen, path = await services.workflows.save_final_request(data)
        return FinalSaved(workflow_id=workflow_id, version=chosen, path=path)

    @get(
        "/{workflow_id:str}/final/{version:str}",
        summary="One final version (immutable: a stable ETag, If-None-Match gives 304)",
        opt={
            FAST_READ: FastRead(
                lambda services, path: services.workflows.encoded("final", path["workflow_id"], path["version"]), immutable=True
            )
        },
    )
    async def get_final_workflow(
        self,
        services: NamedDependency[Services],
        workflow_id: FromPath[str],
        version: FromPath[str],
        if_none_match: IfNoneMatch = None,
    ) -> Response[Workflow]:
        return representation(await services.workflows.encoded("final", workflow_id, version), if_none_match, immutable=True)

    @get("/{workflow_id:str}/versions", summary="Final versions, sorted as versions")
    async def list_workflow_versions(self, services: NamedDependency[Services], workflow_id: FromPath[str]) -> Versions:
        return Versions(workflow_id=workflow_id, versions=await services.workflows.versions(workflow_id))

    @post("/clone", status_code=200, summary="Clone a final version to the draft (If-Match: the draft it replaces)")
    async def clone_workflow(self, services: NamedDependency[Services], data: JSONBody[CloneRequest], if_match: IfMatch = None) -> Cloned:
        draft = await services.workflows.clone(data.workflow_id, data.from_version, overwrite=data.overwrite, if_match=if_match)
        return Cloned(message="Workflow cloned to draft", workflow_id=draft.workflow_id, base_version=str(draft.metadata["base_version"]))

    @get("/{workflow_id:str}/graph", summary="Nodes and edges of the temp, final or draft state; `?format=mermaid`")
    async def get_workflow_graph(
        self,
        services: NamedDependency[Services],
        workflow_id: FromPath[str],
        graph_state: Annotated[Literal["temp", "final", "draft"], QueryParameter(name="state")] = "temp",
        version: FromQuery[str | None] = None,
        format: FromQuery[Literal["json", "mermaid"]] = "json",
    ) -> WorkflowGraphView | Response[str]:
        view = await services.workflows.graph(workflow_id, graph_state, version)
        if format == "mermaid":
            return Response(view.mermaid, media_type=MERMAID)
        return view

    @post("/execute", status_code=200, summary="Run the temp copy (test) or a final version (final)")
    async def run_workflow(
        self, services: NamedDependency[Services], caller: NamedDependency[Caller], data: JSONBody[ExecuteRequest]
    ) -> RunResult:
        return await services.workflows.execute(data.workflow_id, data.mode, data.version, data.input_payload, caller, data.workspace)

    # -- legacy --------------------------------------------------------------------------

    @post("/create/prompt", status_code=201, summary="Legacy: design from a prompt (same as /workflows/design/prompt)")
    async def legacy_create_workflow_from_prompt(
        self, services: NamedDependency[Services], data: JSONBody[DesignRequest]
    ) -> CreatedWorkflow:
        result = await services.workflows.design(data.prompt, data.default_llm)
        return CreatedWorkflow(workflow_id=result.workflow.workflow_id, status="draft", workflow=result.workflow, agents=result.agents)

    @post("/create/canvas", status_code=201, summary="Legacy: create a draft from canvas nodes and edges")
    async def legacy_create_workflow_from_canvas(
        self, services: NamedDependency[Services], data: JSONBody[CanvasRequest]
    ) -> CreatedWorkflow:
        workflow, agents = await services.workflows.from_canvas(
            name=data.name,
            description=data.description,
            execution_model=data.execution_model,
            master_agent=data.master_agent,
            nodes=[(n.id, n.agent_id, n.agent) for n in data.nodes],
            edges=[(e.source, e.target, e.condition) for e in data.edges],
        )
        return CreatedWorkflow(workflow_id=workflow.workflow_id, status=workflow.status, workflow=workflow, agents=agents)

    @post("/validate", status_code=200, summary="Legacy: draft validation of {workflow, agents}")
    async def legacy_validate_workflow(self, services: NamedDependency[Services], data: JSONBody[WorkflowWithAgents]) -> ValidationReport:
        return await services.workflows.validate_draft(data.workflow, data.agents)
