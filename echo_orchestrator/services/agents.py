"""The agent registry and factory (echoai document, Agent APIs)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import msgspec

from echo_orchestrator.engine.designer import design_offline
from echo_orchestrator.engine.llm.factory import ModelFactory
from echo_orchestrator.engine.validation import ValidationReport
from echo_orchestrator.errors import ConfigurationError, Conflict, Invalid, NotFound
from echo_orchestrator.lifecycle import workflows as workflow_lifecycle
from echo_orchestrator.mcp import McpHub, ToolBinding
from echo_orchestrator.models import Agent, AgentUse, LLMConfig, Workflow, new_id, utcnow_iso
from echo_orchestrator.models.base import IDENTIFIER_PATTERN
from echo_orchestrator.services.preconditions import require_match
from echo_orchestrator.store.definitions import codec
from echo_orchestrator.store.definitions.base import DefinitionStore, EntityRef
from echo_orchestrator.store.definitions.representations import Encoded

# Ids that would shadow the fixed routes under /agents/.
RESERVED_IDS = frozenset({"list", "register", "registry", "role", "instantiate", "permissions", "create", "validate", "batch"})


async def workflow_agents(store: DefinitionStore, workflow: Workflow, given: Mapping[str, Agent] | None = None) -> dict[str, Agent]:
    """The agents a copy of a workflow runs and validates with: those its final version keeps,
    else those given in the request, then the registry's. Missing ones are left out (the
    caller reports them), unless the registry has their file and cannot read it: that is
    `Invalid`, naming the file and its problem, not a bare "not found"."""
    pinned = workflow_lifecycle.pinned_agents(workflow)
    if pinned is not None:
        return dict(pinned)
    given = dict(given or {})
    wanted = [a for a in workflow.agents if a not in given]
    stored = await store.get_agents(wanted)
    if missing := [a for a in wanted if a not in stored]:
        broken = {p.file: p for p in store.problems()}
        for agent_id in missing:
            if (problem := broken.get(f"agents/{agent_id}.json")) is not None:
                raise Invalid(
                    f"Agent '{agent_id}' cannot be read: {problem}",
                    details={"agent_id": agent_id, "file": problem.file, "field": problem.field, "problem": problem.message},
                )
    return {**stored, **{k: v for k, v in given.items() if k in workflow.agents}}


def agent_uses(workflow: Workflow, agents: Mapping[str, Agent]) -> list[AgentUse]:
    """Which definition of each of its agents a run of this copy uses, by the hash of the
    bytes its file holds (or would hold)."""
    source: Literal["version", "registry"] = "version" if workflow_lifecycle.pinned_agents(workflow) is not None else "registry"
    return [
        AgentUse(agent_id=agent_id, sha256=hashlib.sha256(codec.encode(agents[agent_id])).hexdigest(), source=source)
        for agent_id in dict.fromkeys(workflow.agents)
        if agent_id in agents
    ]


class LLMReadiness(msgspec.Struct, kw_only=True):
    provider: str
    model: str
    temperature: float | None
    ready: bool
    reason: str | None


class ConstraintsView(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An agent's constraints that are set (the document shows only those)."""

    max_steps: int | None = None
    timeout_seconds: float | None = None
    budget_tokens: int | None = None


class AgentInstance(msgspec.Struct, kw_only=True):
    agent_id: str
    name: str
    role: str
    llm: LLMReadiness
    tools: list[ToolBinding]
    constraints: ConstraintsView
    runtime_ready: bool
    reasons: list[str]


class BatchInstance(msgspec.Struct, kw_only=True, omit_defaults=True):
    agent_id: str
    name: str | None = None
    runtime_ready: bool
    reasons: list[str] = msgspec.field(default_factory=list)


class AgentService:
    def __init__(self, store: DefinitionStore, models: ModelFactory, hub: McpHub) -> None:
        self._store = store
        self._models = models
        self._hub = hub

    def definition_errors(self, agent: Agent) -> list[str]:
        errors: list[str] = []
        if agent.agent_id in RESERVED_IDS:
            errors.append(f"Agent id '{agent.agent_id}' is reserved (it names a route under /agents/)")
        status = self._models.status(agent.llm)
        if status.unknown:
            errors.append(f"Agent '{agent.agent_id}': {status.reason}")
        if (refused := self._models.egress_error(agent.llm)) is not None:
            errors.append(f"Agent '{agent.agent_id}': {refused}")
        return errors

    def _check(self, agent: Agent) -> None:
        errors = self.definition_errors(agent)
        if errors:
            raise Invalid(errors[0], details={"errors": errors, "agent_id": agent.agent_id})

    async def register_card(self, card: Mapping[str, Any]) -> tuple[Agent, str]:
        """A legacy agent card: registered as an agent, its id generated when absent."""
        data = dict(card)
        data.setdefault("agent_id", self.new_agent_id(str(data.get("name") or "agent")))
        agent = codec.convert(data, Agent)
        return agent, await self.register(agent)

    async def register(self, agent: Agent) -> str:
        self._check(agent)
        if "registered_at" not in agent.metadata:
            agent.metadata["registered_at"] = utcnow_iso()
        return await self._store.create_agent(agent)

    async def register_missing(self, agents: Iterable[Agent]) -> list[str]:
        """Register the agents the registry does not have yet; never overwrite one."""
        added: list[str] = []
        for agent in agents:
            try:
                await self._store.get_agent(agent.agent_id)
            except NotFound:
                await self.register(agent)
                added.append(agent.agent_id)
        return added

    async def encoded(self, agent_id: str) -> Encoded:
        return await self._store.encoded(EntityRef("agent", agent_id))

    async def list_agents(self, role: str | None = None) -> list[Agent]:
        return (await self._store.list_agents(role=role)).items

    async def update(self, agent_id: str, changes: Mapping[str, Any], *, if_match: str | None = None) -> Agent:
        if changes.get("agent_id", agent_id) != agent_id:
            raise Invalid.at("agent_id", "cannot be changed", "agent_id cannot be changed")
        # Read, merge and write under the agent's lock: concurrent updates (any process) all land.
        async with self._store.editing_agent(agent_id):
            current = await self._store.get_agent(agent_id)
            require_match(if_match, current, f"Agent '{agent_id}'")
            merged: dict[str, Any] = {**msgspec.to_builtins(current), **changes}
            merged["metadata"] = {**current.metadata, **dict(changes.get("metadata") or {})}
            updated = codec.convert(merged, Agent)
            self._check(updated)
            if updated == current:
                return current  # nothing changed: no write, no new timestamp
            updated.metadata["updated_at"] = utcnow_iso()
            await self._store.save_agent(updated)
            return updated

    async def delete(self, agent_id: str, *, force: bool = False, if_match: str | None = None) -> None:
        async with self._store.editing_agent(agent_id):
            current = await self._store.get_agent(agent_id)
            require_match(if_match, current, f"Agent '{agent_id}'")
            users = await self._store.agent_references(agent_id)
            if users and not force:
                raise Conflict(
                    f"Agent '{agent_id}' is used by workflow(s) {', '.join(users)}; pass force=true to delete it anyway",
                    details={"agent_id": agent_id, "workflows": users},
                )
            await self._store.delete_agent(agent_id)

    async def instantiate(self, agent_id: str, *, bind_tools: bool = True) -> AgentInstance:
        agent = await self._store.get_agent(agent_id)
        reasons: list[str] = []
        model = None
        try:
            model = self._models.create(agent.llm)
            ready, reason = True, None
        except (ConfigurationError, Invalid) as exc:
            ready, reason = False, exc.message
            reasons.append(exc.message)
        bindings: list[ToolBinding] = []
        for tool_id in agent.tools:
            if not bind_tools:
                bindings.append(ToolBinding(tool_id=tool_id, name=tool_id, bound=False, reason="bind_tools=false"))
                continue
            binding = await self._hub.binding(tool_id)
            bindings.append(binding)
            if not binding.bound:
                reasons.append(f"tool '{tool_id}': {binding.reason}")
        if model is not None and bind_tools and bindings and all(b.bound for b in bindings):
            from echo_orchestrator.engine.tools import langchain_tools

            model.bind_tools(await langchain_tools(self._hub, [b.tool_id for b in bindings]))
        return AgentInstance(
            agent_id=agent.agent_id,
            name=agent.name,
            role=agent.role,
            llm=LLMReadiness(
                provider=agent.llm.provider, model=agent.llm.model, temperature=agent.llm.temperature, ready=ready, reason=reason
            ),
            tools=bindings,
            constraints=msgspec.convert(msgspec.to_builtins(agent.constraints), ConstraintsView),
            runtime_ready=ready and (not bind_tools or all(b.bound for b in bindings)),
            reasons=reasons,
        )

    async def instantiate_batch(self, agent_ids: list[str]) -> dict[str, BatchInstance]:
        out: dict[str, BatchInstance] = {}
        for agent_id in dict.fromkeys(agent_ids):
            try:
                instance = await self.instantiate(agent_id)
            except NotFound:
                out[agent_id] = BatchInstance(agent_id=agent_id, runtime_ready=False, reasons=["Agent not found"])
                continue
            out[agent_id] = BatchInstance(
                agent_id=agent_id, name=instance.name, runtime_ready=instance.runtime_ready, reasons=instance.reasons
            )
        return out

    async def create_from_prompt(self, prompt: str, llm: LLMConfig | None) -> tuple[Agent, str]:
        """Legacy: one agent designed from a prompt (its role from the prompt's leading verb),
        reading `input_data` and writing `result`, registered."""
        designed = design_offline(prompt, llm or LLMConfig())
        agent = next(iter(designed.agents.values()))
        agent.input_schema, agent.output_schema = ["input_data"], ["result"]
        return agent, await self.register(agent)

    async def validate(self, data: Mapping[str, Any]) -> ValidationReport:
        """Legacy /agents/validate: would this definition register and run here?"""
        try:
            agent = codec.convert({"agent_id": data.get("agent_id") or "unregistered", **data}, Agent)
        except Invalid as exc:
            return ValidationReport(valid=False, errors=[exc.message], warnings=[])
        errors = self.definition_errors(agent)
        warnings: list[str] = []
        status = self._models.status(agent.llm)
        if not status.ready and not errors:
            warnings.append(f"provider '{agent.llm.provider}' is not ready here: {status.reason}")
        for tool_id in agent.tools:
            if not self._hub.known_tool(tool_id):
                errors.append(f"Tool '{tool_id}' is not available")
        if not agent.output_schema:
            warnings.append(f"no output_schema: the agent's answer goes to '{agent.agent_id}_output'")
        return ValidationReport(valid=not errors, errors=errors, warnings=warnings)

    @staticmethod
    def new_agent_id(name: str) -> str:
        import re

        base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:40]
        candidate = f"{base}_{new_id('x')[2:8]}" if base else new_id("agt")
        return candidate if re.fullmatch(IDENTIFIER_PATTERN, candidate) else new_id("agt")
