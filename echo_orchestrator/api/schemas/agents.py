"""Agent routes' requests and answers (echoai document: registry, factory, permissions; and
its legacy routes). Service results answered as they are (`AgentInstance`,
`ValidationReport`) are named here too, so a controller finds every type it speaks in one place."""

from __future__ import annotations

import msgspec

from echo_orchestrator.api.schemas.base import StrictBody
from echo_orchestrator.engine.validation import ValidationReport
from echo_orchestrator.models import Agent, LLMConfig, Workflow
from echo_orchestrator.services.agents import AgentInstance, BatchInstance

__all__ = ["AgentInstance", "ValidationReport"]


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
    instances: dict[str, BatchInstance]
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
