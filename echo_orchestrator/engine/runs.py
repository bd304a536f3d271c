"""What one run is: the plan it follows and the state it keeps while it goes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from langgraph.graph import StateGraph

from echo_orchestrator.engine.files import RunFiles
from echo_orchestrator.engine.step_policy import StepPolicy
from echo_orchestrator.models import AgentUse, Execution, ExecutionConfig, NodeExecution, StepExecution
from echo_orchestrator.models.execution import Durability
from echo_orchestrator.registry.spec import GraphContext

GraphBuilder = Callable[[GraphContext, ExecutionConfig], StateGraph[Any]]
PlanFactory = Callable[[Execution], Awaitable["RunPlan"]]

# Keys kept out of a run's outputs: bookkeeping of the compiled workflow graphs.
INTERNAL_KEYS = frozenset({"delegations"})


@dataclass(frozen=True)
class RunPlan:
    """What to run: a graph builder and how its nodes map to steps."""

    kind: Literal["workflow", "graph"]
    build: GraphBuilder
    # node name -> (step number, step name); nodes not listed get numbers as they first run
    steps: Mapping[str, tuple[int, str]]
    total_steps: int
    node_types: Mapping[str, str] = field(default_factory=dict)
    workflow_id: str | None = None
    workflow_slug: str | None = None
    workflow_version: str | None = None
    execution_mode: str | None = None
    graph_name: str | None = None
    estimated_seconds: float | None = None
    # The plan's own durability (a plugin graph's), used when an execution names none.
    durability: Durability | None = None
    # node -> its step's retry policy and timeout, for the given execution config
    policies: Callable[[ExecutionConfig], Mapping[str, StepPolicy]] = lambda _config: {}
    # The agent definitions it runs (recorded with each execution).
    agents: tuple[AgentUse, ...] = ()
    # Compiled graphs by (policies, checkpointing): compiling costs more than a short run.
    compiled: dict[Any, Any] = field(default_factory=dict, compare=False)


@dataclass(eq=False)
class LiveRun:
    """An execution this process is running (or holding paused), with its running state."""

    execution: Execution
    plan: RunPlan
    done: anyio.Event = field(default_factory=anyio.Event)
    scope: anyio.CancelScope | None = None
    stop_after_step: bool = False
    cancel_reason: str | None = None
    running_steps: dict[str, StepExecution] = field(default_factory=dict)  # by node name
    nodes: dict[str, NodeExecution] = field(default_factory=dict)  # by LangGraph task id
    # Nodes that asked a human and wait for the answer, by node name: the same record goes
    # on when the answer comes (LangGraph runs the node again from its start).
    waiting_nodes: dict[str, NodeExecution] = field(default_factory=dict)
    step_numbers: dict[str, tuple[int, str]] = field(default_factory=dict)
    completed_steps: set[int] = field(default_factory=set)
    policies: Mapping[str, StepPolicy] = field(default_factory=dict)
    failed_step: StepExecution | None = None
    checkpointed: bool = False  # whether this run writes checkpoints
    # Whose concurrent-execution limit this run counts against (a caller, or an address).
    limit_key: str | None = None
    files: RunFiles | None = None  # the run's folder, when the engine has workspaces
    # Stopped to be continued by another worker (this one is stopping, or another took it
    # over while this one was unresponsive): nothing more is recorded.
    handed_back: bool = False
    adopted: bool = False  # taken from the queue: its record names this process as owner
    # Stopped because the runtime database could not be used: continued from its last
    # checkpoint once it is back (`ExecutionManager._run`).
    database_lost: bool = False
    # Its OpenTelemetry span while it runs here, and its open step spans by step execution id.
    span: Any = None
    # With ECHO_TRACE_CONTENT: each LLM call's (input, output) messages until its span is made.
    call_content: dict[str, tuple[str, str]] = field(default_factory=dict)
    spans: dict[str, Any] = field(default_factory=dict)

    @property
    def durability(self) -> Durability:
        """When this run writes checkpoints: the execution's choice, the plan's, else "async"."""
        return self.execution.config.durability or self.plan.durability or "async"

    def step_for(self, node: str) -> tuple[int, str]:
        """The node's step (number, name); a node the plan did not list gets the next number."""
        found = self.step_numbers.get(node)
        if found is None:
            found = self.step_numbers[node] = (len(self.step_numbers) + 1, node)
        return found

    def only_running_step(self) -> StepExecution | None:
        """The step a tool call belongs to, when exactly one step is running."""
        return next(iter(self.running_steps.values())) if len(self.running_steps) == 1 else None
