"""Workflow lifecycle routes' requests and answers (echoai document: design, validate, draft,
temp, final, versions, clone, execute; and its legacy routes). Service results answered as
they are (`RunResult`, `WorkflowGraphView`, `ValidationReport`) are named here too."""

from __future__ import annotations

from typing import Literal

import msgspec

from echo_orchestrator.api.schemas.agents import WorkflowWithAgents
from echo_orchestrator.api.schemas.base import StrictBody
from echo_orchestrator.engine.validation import ValidationReport
from echo_orchestrator.models import Agent, LLMConfig, Workflow
from echo_orchestrator.models.base import FreeForm
from echo_orchestrator.services.workflow_views import RunResult, WorkflowGraphView

__all__ = ["RunResult", "ValidationReport", "WorkflowGraphView", "WorkflowWithAgents"]


class DesignRequest(StrictBody, kw_only=True, forbid_unknown_fields=True):
    prompt: str
    default_llm: LLMConfig | None = None


class DesignResponse(msgspec.Struct, kw_only=True):
    workflow: Workflow
    agents: dict[str, Agent]
    designed_by: str
    notes: list[str]


class TempSaved(msgspec.Struct, kw_only=True):
    workflow_id: str
    path: str
    state: str


class Message(msgspec.Struct, kw_only=True):
    message: str
    workflow_id: str


class FinalSaved(msgspec.Struct, kw_only=True):
    workflow_id: str
    version: str
    path: str


class Versions(msgspec.Struct, kw_only=True):
    workflow_id: str
    versions: list[str]


class CloneRequest(StrictBody, kw_only=True, forbid_unknown_fields=True):
    workflow_id: str
    from_version: str
    overwrite: bool = False


class Cloned(msgspec.Struct, kw_only=True):
    message: str
    workflow_id: str
    base_version: str


class ExecuteRequest(StrictBody, kw_only=True, forbid_unknown_fields=True):
    workflow_id: str
    mode: Literal["test", "final"] = "test"
    version: str | None = None
    input_payload: FreeForm = msgspec.field(default_factory=dict)
    # The workspace for the run's files (docs/workspaces.md); `default` when not given.
    workspace: str | None = None


class CreatedWorkflow(msgspec.Struct, kw_only=True):
    workflow_id: str
    status: str
    workflow: Workflow
    agents: dict[str, Agent]


class CanvasNode(StrictBody, kw_only=True, forbid_unknown_fields=True):
    id: str
    agent_id: str | None = None
    agent: FreeForm | None = None


class CanvasEdge(StrictBody, kw_only=True, forbid_unknown_fields=True):
    source: str
    target: str
    condition: str | None = None


class CanvasRequest(StrictBody, kw_only=True, forbid_unknown_fields=True):
    name: str
    description: str = ""
    execution_model: Literal["sequential", "parallel", "hierarchical", "hybrid"] = "sequential"
    master_agent: str | None = None
    nodes: list[CanvasNode]
    edges: list[CanvasEdge] = msgspec.field(default_factory=list)
