"""What the execute and execution routes answer, typed: generated clients get real models, and
OpenAPI documents every field (ouroboros document, Execute and Execution Endpoints)."""

from __future__ import annotations

from typing import Any

import msgspec

from echo_orchestrator.models import ErrorInfo
from echo_orchestrator.services.executions import LLMCallSummary


class ProgressView(msgspec.Struct, kw_only=True):
    current_step: int | None
    total_steps: int
    completed_steps: int
    percentage: float


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
    metadata: dict[str, Any]
    error: ErrorInfo | None
    pending_prompt: dict[str, Any] | None
    # Who started it: `key:<id>` or `token:<subject>`; None when anonymous.
    caller: str | None


class CompletedStepView(msgspec.Struct, kw_only=True):
    step_number: int
    step_name: str
    status: str
    duration_seconds: float | None
    started_at: str | None
    completed_at: str | None


class ExecutionInfoView(ExecutionStatusView, kw_only=True):
    duration_seconds: float | None
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None
    steps_completed: list[CompletedStepView]
    llm_calls: LLMCallSummary


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


class GraphRunOutput(msgspec.Struct, kw_only=True):
    output: dict[str, Any] | None
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
