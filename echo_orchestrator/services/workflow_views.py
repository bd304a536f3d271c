"""What the workflow lifecycle's routes answer beyond the definitions themselves: a
workflow's graph as the echoai document draws it, and a run's result (`/workflows/execute`)."""

from __future__ import annotations

import msgspec

from echo_orchestrator.models import LLMUsage
from echo_orchestrator.models.base import FreeForm
from echo_orchestrator.store.workspaces.folders import FileEntry


class GraphNodeView(msgspec.Struct, kw_only=True):
    id: str
    label: str
    type: str
    metadata: FreeForm


class GraphEdgeView(msgspec.Struct, kw_only=True):
    source: str
    target: str
    condition: str | None


class WorkflowGraphView(msgspec.Struct, kw_only=True):
    workflow_id: str
    state: str
    version: str
    execution_model: str
    nodes: list[GraphNodeView]
    edges: list[GraphEdgeView]
    mermaid: str


class RunError(msgspec.Struct, kw_only=True):
    type: str
    message: str
    code: str | None


class RunResult(msgspec.Struct, kw_only=True):
    run_id: str
    workflow_id: str
    version: str
    status: str  # completed | failed | cancelled
    execution_mode: str
    output: FreeForm
    error: RunError | None
    llm_calls: list[LLMUsage]
    duration_seconds: float
    workspace: str
    output_files: list[FileEntry]  # the run's files (docs/workspaces.md)
