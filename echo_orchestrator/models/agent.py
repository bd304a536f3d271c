"""Agent definitions: what `storage/agents/<agent_id>.json` holds."""

from __future__ import annotations

from typing import Any

import msgspec

from echo_orchestrator.models.base import Identifier, Model, NonNegativeFloat, NonNegativeInt, PositiveInt


class LLMConfig(Model):
    provider: str = "echo"
    model: str = "echo"
    temperature: float | None = None
    max_tokens: PositiveInt | None = None
    base_url: str | None = None
    # Offline `echo` provider only: simulated latency per call and scripted replies; with
    # `stream_delay_ms` the reply streams in word pieces that far apart (live `llm_token`s).
    latency_ms: NonNegativeInt | None = None
    responses: list[str] | None = None
    stream_delay_ms: NonNegativeInt | None = None
    # Provider-specific keyword arguments (top_p, stop, ...), passed through untouched.
    params: dict[str, Any] = msgspec.field(default_factory=dict)


class AgentConstraints(Model):
    max_steps: PositiveInt | None = None
    timeout_seconds: NonNegativeFloat | None = None
    budget_tokens: PositiveInt | None = None


class AgentPermissions(Model):
    can_call_agents: bool = False
    allowed_agents: list[str] = msgspec.field(default_factory=list)


class Agent(Model):
    agent_id: Identifier
    name: str = ""
    role: str = ""
    description: str = ""
    llm: LLMConfig = msgspec.field(default_factory=LLMConfig)
    tools: list[str] = msgspec.field(default_factory=list)
    input_schema: list[str] = msgspec.field(default_factory=list)
    output_schema: list[str] = msgspec.field(default_factory=list)
    constraints: AgentConstraints = msgspec.field(default_factory=AgentConstraints)
    permissions: AgentPermissions = msgspec.field(default_factory=AgentPermissions)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
