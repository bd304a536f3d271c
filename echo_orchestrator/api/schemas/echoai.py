"""Request and response bodies of the echoai document's endpoints (and its legacy ones)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from echo_orchestrator.models import Agent, LLMConfig, Workflow


class StrictBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


# -- agents -------------------------------------------------------------------------------


class AgentPath(msgspec.Struct, kw_only=True):
    agent_id: str
    path: str


class AgentBrief(msgspec.Struct, kw_only=True):
    agent_id: str
    name: str
    role: str


class AgentRegistryList(msgspec.Struct, kw_only=True):
    agents: list[AgentBrief]
    count: int


class AgentsByRole(msgspec.Struct, kw_only=True):
    role: str
    agents: list[AgentBrief]
    count: int


class AgentDeleted(msgspec.Struct, kw_only=True):
    message: str
    agent_id: str


class BatchRequest(StrictBody, kw_only=True, forbid_unknown_fields=True):
    agent_ids: list[str]


class BatchResponse(msgspec.Struct, kw_only=True):
    instances: dict[str, Any]
    count: int


class WorkflowWithAgents(StrictBody, kw_only=True, forbid_unknown_fields=True):
    workflow: Workflow
    agents: dict[str, Agent] = msgspec.field(default_factory=dict)


class PermissionCheckRequest(WorkflowWithAgents, kw_only=True, forbid_unknown_fields=True):
    caller_id: str
    target_id: str


class PermissionCheck(msgspec.Struct, kw_only=True):
    caller_id: str
    target_id: str
    allowed: bool


class PermissionValidation(msgspec.Struct, kw_only=True):
    valid: bool
    errors: list[str]


class PermissionTargets(msgspec.Struct, kw_only=True):
    agent_id: str
    allowed_targets: list[str]


# -- workflows ----------------------------------------------------------------------------


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
    input_payload: dict[str, Any] = msgspec.field(default_factory=dict)


# -- legacy -------------------------------------------------------------------------------


class CreatedWorkflow(msgspec.Struct, kw_only=True):
    workflow_id: str
    status: str
    workflow: Workflow
    agents: dict[str, Agent]


class CanvasNode(StrictBody, kw_only=True, forbid_unknown_fields=True):
    id: str
    agent_id: str | None = None
    agent: dict[str, Any] | None = None


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


class AgentPromptRequest(StrictBody, kw_only=True, forbid_unknown_fields=True):
    prompt: str
    llm: LLMConfig | None = None


class CreatedAgent(msgspec.Struct, kw_only=True):
    agent_id: str
    path: str
    agent: Agent


class AgentList(msgspec.Struct, kw_only=True):
    agents: list[Agent]
    count: int
