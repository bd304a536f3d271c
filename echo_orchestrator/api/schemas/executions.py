"""The execute and execution routes' requests and answers, typed: generated clients get real
models, and OpenAPI documents every field (ouroboros document, Execute and Execution
Endpoints, Step Execution Endpoints)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from echo_orchestrator.api.schemas.webhooks import with_webhook
from echo_orchestrator.errors import Invalid
from echo_orchestrator.models import (
    AgentUse,
    ErrorInfo,
    Event,
    Execution,
    ExecutionConfig,
    LLMUsage,
    NodeExecution,
    StepExecution,
    rfc3339,
    utcnow,
)
from echo_orchestrator.models.base import FreeForm
from echo_orchestrator.models.triggers import WebhookTarget
from echo_orchestrator.services.checkpoints import CheckpointView
from echo_orchestrator.services.executions import LLMCallSummary, StepMetrics
from echo_orchestrator.store.workspaces.folders import FileEntry

__all__ = ["CheckpointView", "FileEntry", "LLMCallSummary", "StepMetrics"]  # service results answered as they are

# -- requests ----------------------------------------------------------------------------


class RunInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The documents name a run's input `inputs` (workflows) and `input` (graphs): every
    execute route takes either, so no client trips on the difference."""

    input: FreeForm | None = None
    inputs: FreeForm | None = None
    # The workspace for the run's files; the same as `config.workspace` (docs/workspaces.md).
    workspace: str | None = None
    # Told when the run ends (docs/triggers.md): signed with the server's key.
    webhook: WebhookTarget | None = None

    def configured(self, config: ExecutionConfig) -> ExecutionConfig:
        """`config` with the top-level `workspace` and `webhook` in it."""
        config = with_webhook(config, self.webhook)
        if self.workspace is None:
            return config
        if config.workspace is not None and config.workspace != self.workspace:
            raise Invalid.at("workspace", "given twice, differently, as workspace and config.workspace")
        return msgspec.structs.replace(config, workspace=self.workspace)

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
    metadata: FreeForm = msgspec.field(default_factory=dict)


class GraphExecuteRequest(RunInput, kw_only=True, forbid_unknown_fields=True, rename={"run_async": "async"}):
    config: ExecutionConfig = msgspec.field(default_factory=ExecutionConfig)
    run_async: bool = False


class LegacyExecuteRequest(RunInput, kw_only=True, forbid_unknown_fields=True):
    graph_name: str


class RespondRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    prompt_id: str
    response: str
    changes: FreeForm = msgspec.field(default_factory=dict)
    reason: str | None = None


class CancelRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: str | None = None
    graceful: bool = True


# -- answers -----------------------------------------------------------------------------


class ProgressView(msgspec.Struct, kw_only=True):
    current_step: int | None
    total_steps: int
    completed_steps: int
    percentage: float


class PromptView(msgspec.Struct, kw_only=True):
    """The question a paused run waits on (`interactive_prompt`)."""

    prompt_id: str
    message: str
    prompt_type: str
    options: list[str]
    step_number: int | None
    agent_id: str | None
    output: FreeForm | None  # what is to be reviewed
    details: FreeForm  # anything else a plugin graph's `interrupt()` asked with


PROMPT_FIELDS = frozenset(PromptView.__struct_fields__) - {"details"}


def prompt_view(prompt: Mapping[str, Any] | None) -> PromptView | None:
    if prompt is None:
        return None
    output = prompt.get("output")
    return PromptView(
        prompt_id=str(prompt.get("prompt_id", "")),
        message=str(prompt.get("message", "")),
        prompt_type=str(prompt.get("prompt_type") or "confirmation"),
        options=[str(o) for o in prompt.get("options") or ["approve", "reject", "modify"]],
        step_number=prompt.get("step_number") if isinstance(prompt.get("step_number"), int) else None,
        agent_id=str(prompt["agent_id"]) if prompt.get("agent_id") is not None else None,
        output=output if isinstance(output, dict) else None if output is None else {"value": output},
        details={k: v for k, v in prompt.items() if k not in PROMPT_FIELDS},
    )


class ExecutionStatusView(msgspec.Struct, kw_only=True):
    execution_id: str
    workflow_slug: str | None
    graph_name: str | None
    status: str
    progress: ProgressView
    created_at: str | None
    started_at: str | None
    completed_at: str | None
    estimated_completion: str | None
    elapsed_seconds: float | None
    metadata: FreeForm
    error: ErrorInfo | None
    pending_prompt: PromptView | None
    # Who started it: `key:<id>`, `token:<subject>`, `schedule:<id>` or `hook:<trigger id>`;
    # None when anonymous.
    caller: str | None
    # The run whose tool call started it through the MCP server face, and how deep that
    # chain is (0: started by a person or a program).
    parent_execution_id: str | None
    call_depth: int


class CompletedStepView(msgspec.Struct, kw_only=True):
    step_number: int
    step_name: str
    status: str
    duration_seconds: float | None
    started_at: str | None
    completed_at: str | None


class InfoCheckpoint(msgspec.Struct, kw_only=True):
    checkpoint_id: str
    step_number: int | None
    created_at: str


class ExecutionInfoView(ExecutionStatusView, kw_only=True):
    duration_seconds: float | None
    inputs: FreeForm
    outputs: FreeForm | None
    steps_completed: list[CompletedStepView]
    llm_calls: LLMCallSummary
    # Its checkpoints, newest first (a resume continues from the first).
    checkpoints: list[InfoCheckpoint]
    workspace: str
    # The files in its folder (Working_Directory/<execution_id>), paths relative to the workspace.
    output_files: list[FileEntry]
    workflow_id: str | None
    workflow_version: str | None
    # The agent definitions it ran: kept in its final version, or read from the registry.
    agents: list[AgentUse]


class ExecutionListItem(msgspec.Struct, kw_only=True):
    execution_id: str
    workflow_slug: str | None
    graph_name: str | None
    status: str
    started_at: str | None
    progress: float
    # When it was accepted, and who started it (`key:<id>`, `token:<subject>`; None: anonymous).
    created_at: str | None
    caller: str | None


class ExecutionList(msgspec.Struct, kw_only=True):
    executions: list[ExecutionListItem]
    total: int
    limit: int
    offset: int


class WorkflowRunAccepted(msgspec.Struct, kw_only=True):
    # Which of the documents' two names the request used for its input.
    input_field: str
    execution_id: str
    workflow_slug: str | None
    status: str
    started_at: str | None
    estimated_completion: str | None
    # The document's form (Socket.IO namespace /executions); then the native WebSocket and SSE.
    websocket_url: str
    ws_url: str
    stream_url: str
    message: str


class GraphRunAccepted(msgspec.Struct, kw_only=True):
    input_field: str
    execution_id: str
    status: str
    message: str


class GraphRunMetadata(msgspec.Struct, kw_only=True):
    nodes_executed: int
    llm_calls: int
    duration_seconds: float | None
    output_files: int


class GraphRunOutput(msgspec.Struct, kw_only=True):
    output: FreeForm | None
    metadata: GraphRunMetadata


class GraphRunResult(msgspec.Struct, kw_only=True):
    input_field: str
    execution_id: str
    graph_name: str | None
    status: str
    result: GraphRunOutput
    error: ErrorInfo | None
    started_at: str | None
    completed_at: str | None
    workspace: str
    output_files: list[FileEntry]


class NodeExecutionList(msgspec.Struct, kw_only=True):
    execution_id: str
    node_executions: list[NodeExecution]
    total_nodes: int
    completed_nodes: int
    failed_nodes: int


class EventList(msgspec.Struct, kw_only=True):
    execution_id: str
    events: list[Event]
    total: int
    limit: int
    offset: int


class StepCostMetrics(msgspec.Struct, kw_only=True):
    total_tokens: int
    total_cost_usd: float
    avg_latency_ms: float | None


class LLMCallView(LLMUsage, kw_only=True):
    tokens: int  # the document's name for total_tokens


class StepExecutionView(StepExecution, kw_only=True):
    """A step execution with each LLM call and what they add up to (GET /step-executions/{id})."""

    llm_calls: list[LLMCallView] = msgspec.field(default_factory=list)  # type: ignore[assignment]
    llm_call_count: int
    tokens_used: int
    cost_usd: float
    metrics: StepCostMetrics


class ExecutionStepView(StepExecution, kw_only=True):
    """A step execution in its execution's list: `llm_calls` is their count, as the document
    shows it there (the calls themselves are on GET /step-executions/{id})."""

    llm_calls: int = 0  # type: ignore[assignment]
    llm_call_count: int
    tokens_used: int
    cost_usd: float
    metrics: StepCostMetrics


class ExecutionSteps(msgspec.Struct, kw_only=True):
    execution_id: str
    step_executions: list[ExecutionStepView]
    total_steps: int
    completed_steps: int
    failed_steps: int
    running_steps: int


class StepExecutionListItem(msgspec.Struct, kw_only=True):
    step_execution_id: str
    execution_id: str
    step_number: int
    step_name: str
    status: str
    started_at: str | None
    elapsed_seconds: float | None


class StepExecutionList(msgspec.Struct, kw_only=True):
    step_executions: list[StepExecutionListItem]
    total: int
    limit: int


class CancelAccepted(msgspec.Struct, kw_only=True):
    execution_id: str
    status: str
    message: str
    cancelled_at: str


class RespondAccepted(msgspec.Struct, kw_only=True):
    execution_id: str
    prompt_id: str
    response: str
    status: str


class ResumeAccepted(msgspec.Struct, kw_only=True):
    execution_id: str
    status: str
    resumed_count: int
    message: str


class StepCancelled(msgspec.Struct, kw_only=True):
    step_execution_id: str
    status: str
    message: str
    cancelled_at: str | None


class CheckpointList(msgspec.Struct, kw_only=True):
    checkpoints: list[CheckpointView]
    total: int
    limit: int
    offset: int


# -- building them -----------------------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


def elapsed(execution: Execution) -> float | None:
    if execution.started_at is None:
        return None
    return round(((execution.completed_at or utcnow()) - execution.started_at).total_seconds(), 3)


def status_fields(execution: Execution) -> dict[str, Any]:
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
        "created_at": iso(execution.created_at),
        "started_at": iso(execution.started_at),
        "completed_at": iso(execution.completed_at),
        "estimated_completion": iso(execution.estimated_completion),
        "elapsed_seconds": elapsed(execution),
        "metadata": execution.metadata,
        "error": execution.error,
        "pending_prompt": prompt_view(execution.pending_prompt),
        "caller": execution.caller,
        "parent_execution_id": execution.parent_execution_id,
        "call_depth": execution.call_depth,
    }


def graph_result(execution: Execution, nodes: int, input_field: str, files: list[FileEntry]) -> GraphRunResult:
    return GraphRunResult(
        input_field=input_field,
        execution_id=execution.execution_id,
        graph_name=execution.graph_name or execution.workflow_slug,
        status=execution.status,
        result=GraphRunOutput(
            output=execution.outputs,
            metadata=GraphRunMetadata(
                nodes_executed=nodes, llm_calls=execution.llm_calls, duration_seconds=elapsed(execution), output_files=len(files)
            ),
        ),
        error=execution.error,
        started_at=iso(execution.started_at),
        completed_at=iso(execution.completed_at),
        workspace=execution.workspace,
        output_files=files,
    )


def _costs(step: StepExecution) -> dict[str, Any]:
    calls = step.llm_calls
    tokens = sum(c.total_tokens for c in calls)
    cost = round(sum(c.cost_usd or 0.0 for c in calls) + step.tool_cost_usd, 8)  # its LLM calls and tool calls
    latency = round(sum(c.latency_ms for c in calls) / len(calls), 2) if calls else None
    metrics = StepCostMetrics(total_tokens=tokens, total_cost_usd=cost, avg_latency_ms=latency)
    return {"llm_call_count": len(calls), "tokens_used": tokens, "cost_usd": cost, "metrics": metrics}


def step_view(step: StepExecution) -> StepExecutionView:
    fields = msgspec.structs.asdict(step)
    calls = [LLMCallView(**msgspec.structs.asdict(c), tokens=c.total_tokens) for c in step.llm_calls]
    return StepExecutionView(**{**fields, "llm_calls": calls}, **_costs(step))


def execution_step_view(step: StepExecution) -> ExecutionStepView:
    fields = msgspec.structs.asdict(step)
    return ExecutionStepView(**{**fields, "llm_calls": len(step.llm_calls)}, **_costs(step))
