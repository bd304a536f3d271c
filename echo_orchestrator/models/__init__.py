"""The shared vocabulary of both API documents, as msgspec Structs. Imports nothing of ours."""

from __future__ import annotations

from echo_orchestrator.models.agent import Agent, AgentConstraints, AgentPermissions, LLMConfig
from echo_orchestrator.models.base import Model, Record, new_id, rfc3339, utcnow, utcnow_iso
from echo_orchestrator.models.event import TOKEN_EVENT, Event, EventType, Token
from echo_orchestrator.models.execution import (
    AgentUse,
    ErrorInfo,
    Execution,
    ExecutionConfig,
    ExecutionStatus,
    LLMUsage,
    NodeExecution,
    Progress,
    StepExecution,
    StepStatus,
)
from echo_orchestrator.models.mcp import McpServerConfig, McpSettings
from echo_orchestrator.models.workflow import (
    Connection,
    Hierarchy,
    HumanInLoop,
    InputField,
    McpExposure,
    Retention,
    RetryPolicy,
    Step,
    StrategyDefinition,
    Workflow,
    WorkflowStatus,
)

__all__ = [
    "TOKEN_EVENT",
    "Agent",
    "AgentConstraints",
    "AgentPermissions",
    "AgentUse",
    "Connection",
    "ErrorInfo",
    "Event",
    "EventType",
    "Execution",
    "ExecutionConfig",
    "ExecutionStatus",
    "Hierarchy",
    "HumanInLoop",
    "InputField",
    "LLMConfig",
    "LLMUsage",
    "McpExposure",
    "McpServerConfig",
    "McpSettings",
    "Model",
    "NodeExecution",
    "Progress",
    "Record",
    "Retention",
    "RetryPolicy",
    "Step",
    "StepExecution",
    "StepStatus",
    "StrategyDefinition",
    "Token",
    "Workflow",
    "WorkflowStatus",
    "new_id",
    "rfc3339",
    "utcnow",
    "utcnow_iso",
]
