"""Runtime records: executions, step and node executions, LLM usage, events.

Statuses are the ouroboros document's Data Models lists; which moves between them are allowed
is `lifecycle.executions`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from echo_orchestrator.models.base import NonNegativeInt, Record, Seconds
from echo_orchestrator.models.triggers import WebhookTarget

ExecutionStatus = Literal["initializing", "running", "completed", "failed", "cancelled", "paused"]
# The document's list less `skipped`: nothing skips a step (a conditional branch not taken
# creates no step execution), so no record ever carries it.
StepStatus = Literal["pending", "running", "completed", "failed", "retrying", "cancelled"]
ExecutionKind = Literal["workflow", "graph"]
# LangGraph's durability modes (docs/engine.md): when a step's checkpoint is written.
Durability = Literal["sync", "async", "exit"]


class ErrorInfo(Record):
    type: str
    message: str
    code: str | None = None
    step_number: int | None = None
    retry_count: int | None = None


class LLMUsage(Record):
    provider: str
    model: str
    node: str | None = None  # the graph node that made the call
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float | None = 0.0  # None: no price is known for this model
    latency_ms: float = 0.0


class ExecutionConfig(Record):
    enable_tracing: bool = True
    enable_checkpoints: bool = True
    notify_on_completion: bool = False
    timeout_per_step: Seconds | None = None
    timeout: Seconds | None = None
    max_retries: NonNegativeInt | None = None
    # The workspace whose folder the run's files go to (also accepted at the request's top level).
    workspace: str | None = None
    # When checkpoints are written; None: the graph's own choice, else "async" (docs/engine.md).
    durability: Durability | None = None
    # Told when the run ends or waits for a person (docs/triggers.md): a request's `webhook`
    # and its workflow's `notify`, checked against the egress rules when it is accepted.
    webhooks: list[WebhookTarget] = msgspec.field(default_factory=list)


class Progress(Record):
    current_step: int | None = None
    completed_steps: int = 0
    total_steps: int = 0
    percentage: float = 0.0


class AgentUse(Record):
    """Which definition of an agent a run used."""

    agent_id: str
    # sha256 of the definition as its file holds it (`sha256sum storage/agents/<id>.json`
    # gives the same for an agent run from the registry).
    sha256: str
    # "version": kept in the final version it ran; "registry": read from storage/agents/.
    source: Literal["version", "registry"]


class Execution(Record):
    execution_id: str
    kind: ExecutionKind
    status: ExecutionStatus = "initializing"
    workflow_id: str | None = None
    workflow_slug: str | None = None
    workflow_version: str | None = None
    execution_mode: str | None = None
    graph_name: str | None = None
    inputs: dict[str, Any] = msgspec.field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    config: ExecutionConfig = msgspec.field(default_factory=ExecutionConfig)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    progress: Progress = msgspec.field(default_factory=Progress)
    workspace: str = "default"
    # Files in the run's folder when it ended (Working_Directory/<execution_id>).
    output_files: int = 0
    total_steps: int = 0
    llm_calls: int = 0
    tool_calls: int = 0
    total_tokens: int = 0
    # LLM calls and tool calls together.
    cost_usd: float = 0.0
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    estimated_completion: datetime | None = None
    error: ErrorInfo | None = None
    # While `paused`: the question a human must answer (prompt_id, message, options, ...).
    pending_prompt: dict[str, Any] | None = None
    resumed_count: int = 0
    # Who started it: `key:<key id>` or `token:<subject>` (never a key); None when anonymous.
    caller: str | None = None
    # The agent definitions it ran (workflow runs of agents).
    agents: list[AgentUse] = msgspec.field(default_factory=list)
    # Started by another run's tool call through the MCP server face: that run, and how
    # deep the chain of such calls is (0: started by a person or a program).
    parent_execution_id: str | None = None
    call_depth: int = 0
    # The trace it was accepted in (W3C `traceparent`/`tracestate`): its spans join it
    # wherever it runs (docs/observability.md).
    trace_context: dict[str, str] | None = None


class StepExecution(Record):
    step_execution_id: str
    execution_id: str
    step_number: int
    step_name: str
    node_name: str | None = None
    status: StepStatus = "pending"
    workflow_slug: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_seconds: float | None = None
    timeout_seconds: float | None = None
    retry_count: int = 0
    max_retries: int = 0
    parallel_execution: bool = False
    input: dict[str, Any] = msgspec.field(default_factory=dict)
    output: dict[str, Any] | None = None
    llm_calls: list[LLMUsage] = msgspec.field(default_factory=list)
    mcp_tools_used: list[str] = msgspec.field(default_factory=list)
    # Tool calls this step made (MCP and plugin tools), and what they cost (`cost_per_call_usd`).
    tool_calls: int = 0
    tool_cost_usd: float = 0.0
    error: ErrorInfo | None = None


class NodeExecution(Record):
    node_execution_id: str
    execution_id: str
    node_name: str
    node_type: str
    status: StepStatus = "running"
    step_number: int | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_seconds: float | None = None
    input: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    error: ErrorInfo | None = None
