"""The workflow catalogue (ouroboros document, Workflow Service Endpoints): list, create
(JSON or a file upload), detail, input fields and their JSON Schema, input validation,
steps, misc data, analytics, archive."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from echo_orchestrator.api.fast_reads import FAST_READ, FastRead
from echo_orchestrator.api.requests import checked_body, checked_json, parse_json
from echo_orchestrator.api.schemas.catalogue import (
    ArchiveResult,
    CatalogueList,
    InputFieldsView,
    InputValidation,
    MiscView,
    Step,
    StepsView,
    ValidateInputRequest,
    WorkflowAnalyticsView,
    WorkflowCreated,
    WorkflowDetail,
)
from echo_orchestrator.api.schemas.paging import MAX_OFFSET
from echo_orchestrator.api.security import ACCEPTS_UPLOAD, UPLOAD_TYPE
from echo_orchestrator.container import Services
from echo_orchestrator.errors import Invalid
from echo_orchestrator.lifecycle.workflows import CATALOGUE_STATUSES
from echo_orchestrator.services.catalogue import SORTS
from echo_orchestrator.store.definitions.base import WorkflowQuery

MAX_UPLOAD_BYTES = 5 * 2**20


async def _workflow_body(request: Request[Any, Any, Any]) -> Any:
    """The new workflow: the JSON body, or the JSON file of a multipart upload (`file`)."""
    media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media != UPLOAD_TYPE:
        return parse_json(await checked_body(request))
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise Invalid.at("file", "required: the workflow file (JSON)", "Upload the workflow as the form field `file`")
    content = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise Invalid.at("file", f"at most {MAX_UPLOAD_BYTES // 2**20} MiB")
    await checked_json(request, content)  # the file is JSON like any body: UTF-8, nesting
    try:
        return msgspec.json.decode(content)
    except msgspec.DecodeError as exc:
        raise Invalid.at("file", "a JSON workflow document", f"The uploaded file is not JSON: {exc}") from None


class CatalogueController(Controller):
    path = "/workflows"
    tags = ["workflow catalogue"]

    @get("/", summary="Workflows, filtered, searched, sorted; with run statistics")
    async def list_workflows(
        self,
        services: NamedDependency[Services],
        category: FromQuery[str | None] = None,
        tags: FromQuery[str | None] = None,
        search: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        include_archived: FromQuery[bool] = False,
        sort: FromQuery[str] = "slug",
        order: FromQuery[str] = "asc",
        limit: Annotated[int, QueryParameter(ge=0, le=1000)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
    ) -> CatalogueList:
        if status is not None and status not in CATALOGUE_STATUSES:
            raise Invalid.at("status", " | ".join(CATALOGUE_STATUSES))
        if sort not in SORTS:
            raise Invalid.at("sort", " | ".join(SORTS))
        if order not in ("asc", "desc"):
            raise Invalid.at("order", "asc | desc")
        query = WorkflowQuery(
            category=category,
            tags=[t.strip() for t in (tags or "").split(",") if t.strip()],
            search=search,
            status=status,
            include_archived=include_archived,
            limit=limit,
            offset=offset,
        )
        items, total = await services.catalogue.list_workflows(query, sort, order == "desc")  # type: ignore[arg-type]
        return CatalogueList(workflows=items, total=total, limit=limit, offset=offset)

    @post(
        "/",
        status_code=201,
        summary="Create a workflow (JSON, or a multipart upload of its file); it runs at once",
        opt={ACCEPTS_UPLOAD: True},
    )
    async def create_workflow(self, services: NamedDependency[Services], request: Request[Any, Any, Any]) -> WorkflowCreated:
        body = await _workflow_body(request)
        if not isinstance(body, dict):
            raise Invalid.at("(body)", "a JSON object", "The workflow must be a JSON object")
        return await services.catalogue.create(body)

    @get(
        "/{workflow_slug:str}",
        summary="One workflow: strategy, input fields, statistics",
        opt={FAST_READ: FastRead(lambda services, path: services.catalogue.detail_json(path["workflow_slug"]))},
    )
    async def get_workflow(self, services: NamedDependency[Services], workflow_slug: FromPath[str]) -> WorkflowDetail:
        return await services.catalogue.detail(workflow_slug)

    @get("/{workflow_slug:str}/input-fields", summary="Input fields and the JSON Schema derived from them")
    async def get_input_fields(self, services: NamedDependency[Services], workflow_slug: FromPath[str]) -> InputFieldsView:
        return await services.catalogue.input_fields(workflow_slug)

    @post("/{workflow_slug:str}/validate-input", status_code=200, summary="Check an input before running (defaults applied)")
    async def validate_input(
        self, services: NamedDependency[Services], workflow_slug: FromPath[str], data: JSONBody[ValidateInputRequest]
    ) -> InputValidation:
        return await services.catalogue.validate_input(workflow_slug, data.values)

    @get("/{workflow_slug:str}/steps", summary="The strategy steps")
    async def get_workflow_steps(self, services: NamedDependency[Services], workflow_slug: FromPath[str]) -> StepsView:
        return await services.catalogue.steps(workflow_slug)

    @get("/{workflow_slug:str}/steps/{step_number:int}", summary="One strategy step")
    async def get_workflow_step(
        self, services: NamedDependency[Services], workflow_slug: FromPath[str], step_number: FromPath[int]
    ) -> Step:
        return await services.catalogue.step(workflow_slug, step_number)

    @get("/{workflow_slug:str}/misc", summary="Miscellaneous data (authors, examples, changelog)")
    async def get_workflow_misc(self, services: NamedDependency[Services], workflow_slug: FromPath[str]) -> MiscView:
        return await services.catalogue.misc(workflow_slug)

    @get("/{workflow_slug:str}/analytics", summary="Run analytics: summary, steps, costs, timeline")
    async def get_workflow_analytics(
        self,
        services: NamedDependency[Services],
        workflow_slug: FromPath[str],
        start_date: FromQuery[str | None] = None,
        end_date: FromQuery[str | None] = None,
        granularity: FromQuery[str] = "day",
    ) -> WorkflowAnalyticsView:
        return await services.analytics.workflow(workflow_slug, start_date=start_date, end_date=end_date, granularity=granularity)

    @post("/{workflow_slug:str}/archive", status_code=200, summary="Archive: hidden from lists, not runnable; history kept")
    async def archive_workflow(self, services: NamedDependency[Services], workflow_slug: FromPath[str]) -> ArchiveResult:
        return await services.catalogue.archive(workflow_slug)

    @post("/{workflow_slug:str}/unarchive", status_code=200, summary="Restore an archived workflow")
    async def unarchive_workflow(self, services: NamedDependency[Services], workflow_slug: FromPath[str]) -> ArchiveResult:
        return await services.catalogue.unarchive(workflow_slug)
