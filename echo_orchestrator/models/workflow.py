"""The one workflow model that serves both API documents.

A workflow has a `workflow_id` (echoai document) and a unique `slug` (ouroboros document);
its agents and connections describe the graph, its `strategy_definition.steps` the units
of work that executions track.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from echo_orchestrator.models.agent import Agent
from echo_orchestrator.models.base import (
    Identifier,
    Model,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    Slug,
    Version,
)
from echo_orchestrator.models.triggers import WebhookTarget, WebhookTrigger

WorkflowStatus = Literal["draft", "validated", "testing", "final", "archived"]
ExecutionModel = Literal["sequential", "parallel", "hierarchical", "hybrid"]
Category = Literal["business", "research", "education", "creative", "technical", "custom"]
FieldType = Literal["string", "number", "integer", "boolean", "object", "array"]

WORKFLOW_STATUSES: tuple[str, ...] = ("draft", "validated", "testing", "final", "archived")
CATEGORIES: tuple[str, ...] = ("business", "research", "education", "creative", "technical", "custom")


class Connection(Model, rename={"from_": "from"}):
    from_: str
    to: str
    # A condition on the state that must hold for this edge to be taken (hybrid model).
    condition: str | None = None


class Hierarchy(Model):
    master_agent: str
    delegation_order: list[str] = msgspec.field(default_factory=list)


class HumanInLoop(Model):
    enabled: bool = False
    # Agent ids or step numbers after which the execution pauses for review.
    review_points: list[str | int] = msgspec.field(default_factory=list)


class RetryPolicy(Model):
    max_retries: NonNegativeInt = 0
    retry_delay: NonNegativeFloat = 1.0
    exponential_backoff: bool = False


class Step(Model):
    step_number: PositiveInt
    name: str
    description: str = ""
    estimated_duration: NonNegativeFloat | None = None
    dependencies: list[PositiveInt] = msgspec.field(default_factory=list)
    parallel_execution: bool = False
    # What the step runs: one agent, one MCP tool, or one plugin graph.
    agent_id: str | None = None
    tool_id: str | None = None
    graph_name: str | None = None
    retry_policy: RetryPolicy | None = None
    timeout_seconds: NonNegativeFloat | None = None
    mcp_tools: list[str] = msgspec.field(default_factory=list)
    requires_mcp: list[str] = msgspec.field(default_factory=list)
    interactive: bool = False
    # Tool steps: tool argument name -> state key it is read from.
    input_mapping: dict[str, str] = msgspec.field(default_factory=dict)
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None


class StrategyDefinition(Model):
    steps: list[Step] = msgspec.field(default_factory=list)


class InputField(Model):
    name: str
    type: FieldType = "string"
    required: bool = False
    description: str = ""
    validation: dict[str, Any] | None = None
    default: Any = None


class Retention(Model):
    """How long this workflow's ended executions are kept, over the service's policy
    (`ECHO_RETENTION_DAYS`, `ECHO_RETENTION_MAX_EXECUTIONS`): a field left out follows the
    service; 0 keeps them for ever (by age, or by count)."""

    days: NonNegativeFloat | None = None
    max_executions: NonNegativeInt | None = None


class McpExposure(Model):
    """Whether the MCP server face offers this workflow as a tool; None follows the
    service's `ECHO_MCP_EXPOSE_WORKFLOWS`."""

    expose: bool | None = None


class Workflow(Model):
    workflow_id: Identifier
    slug: Slug | None = None
    name: str = ""
    description: str = ""
    category: Category = "custom"
    tags: list[str] = msgspec.field(default_factory=list)
    status: WorkflowStatus = "draft"
    version: Version = "0.1"
    execution_model: ExecutionModel = "sequential"
    agents: list[str] = msgspec.field(default_factory=list)
    connections: list[Connection] = msgspec.field(default_factory=list)
    hierarchy: Hierarchy | None = None
    state_schema: dict[str, Any] = msgspec.field(default_factory=dict)
    human_in_loop: HumanInLoop = msgspec.field(default_factory=HumanInLoop)
    graph_name: str | None = None
    strategy_definition: StrategyDefinition = msgspec.field(default_factory=StrategyDefinition)
    input_fields: list[InputField] = msgspec.field(default_factory=list)
    misc_data: dict[str, Any] = msgspec.field(default_factory=dict)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    # A final version's agents as they were when it was saved: the version runs these, never
    # later edits of storage/agents/ (written by the service when a version is saved; None on
    # drafts and temp copies, and on finals saved before versions kept their agents, which
    # run the registry's).
    agent_definitions: dict[str, Agent] | None = None
    # Its own retention of run history (`services.retention`); None follows the service's.
    retention: Retention | None = None
    # Offered as a tool by the MCP server face (`mcp_server`); None follows the service's.
    mcp: McpExposure | None = None
    # `POST /hooks/{id}` starts it (docs/triggers.md); the runnable version's count.
    triggers: list[WebhookTrigger] = msgspec.field(default_factory=list)
    # URLs told when one of its runs ends or waits for a person (docs/triggers.md).
    notify: list[WebhookTarget] = msgspec.field(default_factory=list)

    @property
    def key(self) -> str:
        """The name a catalogue lists it under: its slug, else its id."""
        return self.slug or self.workflow_id
