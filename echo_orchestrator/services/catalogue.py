"""The workflow catalogue of the ouroboros document: list, create, inspect, validate input,
archive. A workflow here is the same workflow the echoai routes version (one model, one
store); `{workflow_slug}` accepts a slug or an id. Run statistics come from the runtime
database, counted by SQL (`RuntimeStore.workflow_stats`)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from echo_orchestrator.engine.designer import slugify
from echo_orchestrator.engine.inputs import apply_defaults, input_schema
from echo_orchestrator.engine.validation import validate_final
from echo_orchestrator.errors import Conflict, Invalid, NotFound
from echo_orchestrator.lifecycle import workflows as workflow_lifecycle
from echo_orchestrator.mcp.schema import input_errors
from echo_orchestrator.models import InputField, Step, StrategyDefinition, Workflow, new_id, utcnow_iso
from echo_orchestrator.models.base import FreeForm
from echo_orchestrator.services.workflows import WorkflowService
from echo_orchestrator.store.definitions import codec
from echo_orchestrator.store.definitions.base import DefinitionStore, WorkflowQuery, WorkflowSummary
from echo_orchestrator.store.runtime.base import RuntimeStore, WorkflowRunStats

Sort = Literal["slug", "name", "updated_at", "execution_count"]
SORTS: tuple[str, ...] = ("slug", "name", "updated_at", "execution_count")
# Every matching row is sorted when the order is not the index's own (10,000 rows: ms).
ALL = 1_000_000
# Catalogue pages kept encoded (`detail_json`): the most read ones.
DETAILS_KEPT = 256


class CatalogueItem(WorkflowSummary, kw_only=True):
    """A catalogue row with its run statistics."""

    execution_count: int
    avg_duration_seconds: float | None
    success_rate: float | None


class WorkflowStatistics(msgspec.Struct, kw_only=True):
    total_executions: int
    successful_executions: int
    failed_executions: int
    cancelled_executions: int
    avg_duration_seconds: float | None
    success_rate: float | None


class WorkflowDetail(WorkflowSummary, kw_only=True):
    """A catalogue row with what the workflow runs: agents, strategy, input fields, statistics."""

    agents: list[str]
    strategy_definition: StrategyDefinition
    input_fields: list[InputField]
    statistics: WorkflowStatistics


class WorkflowCreated(msgspec.Struct, kw_only=True):
    workflow_id: str
    slug: str
    version: str
    status: str
    message: str


class InputFieldsView(msgspec.Struct, kw_only=True):
    workflow_slug: str
    input_fields: list[InputField]
    json_schema: FreeForm  # a JSON Schema document


class InputProblem(msgspec.Struct, kw_only=True):
    field: str
    message: str


class InputValidation(msgspec.Struct, kw_only=True, omit_defaults=True):
    valid: bool
    message: str | None = None
    errors: list[InputProblem] = msgspec.field(default_factory=list)
    # The input as a run would receive it: defaults applied.
    normalized_inputs: FreeForm | None = None


class StepsView(msgspec.Struct, kw_only=True):
    workflow_slug: str
    total_steps: int
    steps: list[Step]


class MiscView(msgspec.Struct, kw_only=True):
    workflow_slug: str
    misc_data: FreeForm


class ArchiveResult(msgspec.Struct, kw_only=True):
    workflow_id: str
    slug: str
    status: str
    message: str


def _statistics(stats: WorkflowRunStats | None) -> WorkflowStatistics:
    stats = stats or WorkflowRunStats()
    return WorkflowStatistics(
        total_executions=stats.total,
        successful_executions=stats.completed,
        failed_executions=stats.failed,
        cancelled_executions=stats.cancelled,
        avg_duration_seconds=stats.avg_duration_seconds,
        success_rate=stats.success_rate,
    )


def _detail(summary: WorkflowSummary, workflow: Workflow, stats: WorkflowRunStats | None) -> WorkflowDetail:
    return WorkflowDetail(
        **msgspec.structs.asdict(summary),
        agents=workflow.agents,
        strategy_definition=workflow.strategy_definition,
        input_fields=workflow.input_fields,
        statistics=_statistics(stats),
    )


def _item(row: WorkflowSummary, stats: WorkflowRunStats | None) -> CatalogueItem:
    stats = stats or WorkflowRunStats()
    return CatalogueItem(
        **msgspec.structs.asdict(row),
        execution_count=stats.total,
        avg_duration_seconds=stats.avg_duration_seconds,
        success_rate=stats.success_rate,
    )


class CatalogueService:
    def __init__(self, store: DefinitionStore, runtime: RuntimeStore, workflows: WorkflowService) -> None:
        self._store, self._runtime, self._workflows = store, runtime, workflows
        # `detail_json`'s answers, most recent last, each with what it was made from.
        self._details: OrderedDict[str, tuple[WorkflowSummary, Workflow, WorkflowRunStats | None, bytes]] = OrderedDict()

    # -- listing -------------------------------------------------------------------------

    async def list_workflows(self, query: WorkflowQuery, sort: Sort = "slug", descending: bool = False) -> tuple[list[CatalogueItem], int]:
        if sort == "slug" and not descending:  # the index's own order: only the page is read
            page = await self._store.list_workflows(query)
            stats = await self._runtime.workflow_stats([row.slug for row in page.items])
            return [_item(row, stats.get(row.slug)) for row in page.items], page.total
        everything = await self._store.list_workflows(msgspec.structs.replace(query, limit=ALL, offset=0))
        rows = everything.items
        if sort == "execution_count":
            stats = await self._runtime.workflow_stats()
            rows.sort(key=lambda r: (stats[r.slug].total if r.slug in stats else 0, r.slug), reverse=descending)
        else:
            rows.sort(key=lambda r: (str(getattr(r, sort) or ""), r.slug), reverse=descending)
            stats = {}
        page_rows = rows[query.offset : query.offset + query.limit]
        if sort != "execution_count":
            stats = await self._runtime.workflow_stats([row.slug for row in page_rows])
        return [_item(row, stats.get(row.slug)) for row in page_rows], everything.total

    # -- one workflow --------------------------------------------------------------------

    async def _head(self, ref: str, *, reading: bool = False) -> tuple[WorkflowSummary, Workflow]:
        """The catalogue row and the definition it shows: the runnable copy, else the draft.
        `reading`: only read and encoded, so the store's own object will do (no copy)."""
        summary = await self._store.get_summary(ref)
        try:
            return summary, await self._store.get_runnable(summary.workflow_id, shared=reading)
        except Conflict:
            return summary, await self._store.get_draft(summary.workflow_id)

    async def _shown(self, ref: str) -> tuple[WorkflowSummary, Workflow, WorkflowRunStats | None]:
        """What a workflow's page is made of: its row, the definition it shows, its run statistics."""
        summary, workflow = await self._head(ref, reading=True)
        return summary, workflow, (await self._runtime.workflow_stats([summary.slug])).get(summary.slug)

    async def detail(self, ref: str) -> WorkflowDetail:
        return _detail(*await self._shown(ref))

    async def detail_json(self, ref: str) -> bytes:
        """`detail` as the API sends it, kept while the catalogue row, the definition (the
        store's own objects, replaced on every change) and the run statistics it was made
        from are the current ones."""
        summary, workflow, stats = await self._shown(ref)
        kept = self._details.get(summary.slug)
        if kept is not None and kept[0] is summary and kept[1] is workflow and kept[2] == stats:
            self._details.move_to_end(summary.slug)
            return kept[3]
        body = msgspec.json.encode(_detail(summary, workflow, stats))
        self._details[summary.slug] = (summary, workflow, stats, body)
        self._details.move_to_end(summary.slug)
        if len(self._details) > DETAILS_KEPT:
            self._details.popitem(last=False)
        return body

    async def input_fields(self, ref: str) -> InputFieldsView:
        summary, workflow = await self._head(ref, reading=True)
        return InputFieldsView(
            workflow_slug=summary.slug, input_fields=workflow.input_fields, json_schema=input_schema(workflow.input_fields)
        )

    async def validate_input(self, ref: str, inputs: Mapping[str, Any]) -> InputValidation:
        """The input checked as a run would check it (jsonschema over the fields' schema)."""
        _, workflow = await self._head(ref)
        problems = input_errors(input_schema(workflow.input_fields), dict(inputs))
        if problems:
            return InputValidation(valid=False, errors=[InputProblem(field=p["field"], message=p["message"]) for p in problems])
        return InputValidation(
            valid=True, message="Input validation successful", normalized_inputs=apply_defaults(workflow.input_fields, inputs)
        )

    async def steps(self, ref: str) -> StepsView:
        """The steps its runs record (its strategy steps, or one per agent or graph node)."""
        summary, workflow = await self._head(ref)
        steps = await self._workflows.run_steps(workflow)
        return StepsView(workflow_slug=summary.slug, total_steps=len(steps), steps=steps)

    async def step(self, ref: str, step_number: int) -> Step:
        summary, workflow = await self._head(ref)
        found = next((s for s in await self._workflows.run_steps(workflow) if s.step_number == step_number), None)
        if found is None:
            raise NotFound(
                f"Workflow '{summary.slug}' has no step {step_number}",
                details={"workflow_slug": summary.slug, "step_number": step_number},
            )
        return found

    async def misc(self, ref: str) -> MiscView:
        summary, workflow = await self._head(ref)
        return MiscView(workflow_slug=summary.slug, misc_data=workflow.misc_data)

    # -- creating ------------------------------------------------------------------------

    async def create(self, body: Mapping[str, Any]) -> WorkflowCreated:
        """A catalogue workflow runs at once: it is stored as its first final version, after
        the same full validation any final version passes (422 naming every problem)."""
        data = dict(body)
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise Invalid.at("name", "required: a non-empty string")
        data.setdefault("slug", slugify(name))
        data.setdefault("workflow_id", new_id("wf"))
        data.setdefault("version", "1.0")
        data["status"] = "final"
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise Invalid.at("metadata", "an object", f"Invalid workflow: metadata: an object is required, not {type(metadata).__name__}")
        data["metadata"] = {**metadata, "created_by": "catalogue", "created_at": utcnow_iso()}
        workflow = codec.convert(data, Workflow, where="workflow")
        assert workflow.slug is not None
        if await self._taken(workflow.slug) or await self._taken(workflow.workflow_id):
            raise Conflict(f"Workflow '{workflow.slug}' already exists", details={"slug": workflow.slug})
        agents = await self._workflows.agents_for(msgspec.structs.replace(workflow, agent_definitions=None))
        report = validate_final(workflow, agents, self._workflows.capabilities())
        if not report.valid:
            raise Invalid(
                f"Invalid workflow: {report.errors[0]}" + (f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""),
                details={"errors": [{"field": "workflow", "message": error} for error in report.errors], "warnings": report.warnings},
            )
        final = workflow_lifecycle.as_final(workflow, workflow.version, agents)
        version, _ = await self._store.create_final(final)
        return WorkflowCreated(
            workflow_id=workflow.workflow_id, slug=workflow.slug, version=version, status="created", message="Workflow created successfully"
        )

    async def _taken(self, ref: str) -> bool:
        try:
            await self._store.resolve_workflow(ref)
        except NotFound:
            return False
        return True

    # -- archiving -----------------------------------------------------------------------

    async def archive(self, ref: str) -> ArchiveResult:
        """Hidden from lists unless asked for, refused by execute; its versions and history stay."""
        summary, head = await self._head(ref)
        async with self._store.editing_workflow(summary.workflow_id):
            draft = await self._draft(summary.workflow_id)
            if draft is None or draft.status != "archived":
                await self._store.save_draft(workflow_lifecycle.archived(draft or head, had_draft=draft is not None))
        return ArchiveResult(workflow_id=summary.workflow_id, slug=summary.slug, status="archived", message="Workflow archived")

    async def unarchive(self, ref: str) -> ArchiveResult:
        summary = await self._store.get_summary(ref)
        async with self._store.editing_workflow(summary.workflow_id):
            draft = await self._draft(summary.workflow_id)
            if draft is not None and draft.status == "archived":
                restored = workflow_lifecycle.unarchived(draft)
                if restored is None:
                    await self._store.delete_draft(summary.workflow_id)
                else:
                    await self._store.save_draft(restored)
        status = (await self._store.get_summary(summary.workflow_id)).status
        return ArchiveResult(workflow_id=summary.workflow_id, slug=summary.slug, status=status, message="Workflow restored")

    async def _draft(self, workflow_id: str) -> Workflow | None:
        try:
            return await self._store.get_draft(workflow_id)
        except NotFound:
            return None
