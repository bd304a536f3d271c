"""The workflow lifecycle (echoai document, Workflow APIs).

draft -> validated (validate/final) -> testing (temp save) -> final (immutable versions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from echo_orchestrator.engine.context import EngineGraphContext
from echo_orchestrator.engine.designer import Design, design, slugify
from echo_orchestrator.engine.llm.factory import ModelFactory
from echo_orchestrator.engine.permissions import allowed_targets, can_call, validate_permissions
from echo_orchestrator.engine.review import REVIEW_PREFIX
from echo_orchestrator.engine.validation import Capabilities, ValidationReport, validate_draft, validate_final
from echo_orchestrator.errors import BadRequest, ConfigurationError, Conflict, EchoError, Invalid, NotFound, NotValidated
from echo_orchestrator.lifecycle import workflows as workflow_lifecycle
from echo_orchestrator.mcp import McpHub
from echo_orchestrator.models import Agent, Connection, ExecutionConfig, LLMConfig, Step, Workflow, new_id, utcnow_iso
from echo_orchestrator.models.versions import version_key
from echo_orchestrator.registry import PluginRegistry
from echo_orchestrator.registry.graphs import GraphInfo
from echo_orchestrator.security.callers import Caller
from echo_orchestrator.services.agents import AgentService, agent_uses, workflow_agents
from echo_orchestrator.services.executions import ExecutionService
from echo_orchestrator.services.graphs import GraphCatalog
from echo_orchestrator.services.preconditions import require_match
from echo_orchestrator.services.workflow_views import GraphEdgeView, GraphNodeView, RunError, RunResult, WorkflowGraphView
from echo_orchestrator.store.definitions import codec
from echo_orchestrator.store.definitions.base import DefinitionStore, EntityRef
from echo_orchestrator.store.definitions.representations import Encoded

GraphState = Literal["draft", "temp", "final"]
FIRST_VERSION = "1.0"


class WorkflowService:
    def __init__(
        self,
        store: DefinitionStore,
        agents: AgentService,
        models: ModelFactory,
        hub: McpHub,
        registry: PluginRegistry,
        executions: ExecutionService,
        graphs: GraphCatalog,
    ) -> None:
        self._store = store
        self._agents = agents
        self._models = models
        self._hub = hub
        self._registry = registry
        self._executions = executions
        self._graphs = graphs

    def capabilities(self) -> Capabilities:
        return Capabilities(
            provider_status=lambda agent: self._models.status(agent.llm),
            llm_refusal=lambda agent: self._models.egress_error(agent.llm),
            tool_known=self._hub.known_tool,
            graph_known=lambda name: name in self._registry.snapshot.graphs,
            context=EngineGraphContext(self._models),
            graph_spec=lambda name: self._registry.graph(name).obj,
        )

    async def agents_for(self, workflow: Workflow, given: Mapping[str, Agent] | None = None) -> dict[str, Agent]:
        """The workflow's agents: a final version's own, else those given in the request, then the registry's."""
        return await workflow_agents(self._store, workflow, given)

    # -- design and validation -----------------------------------------------------------

    async def design(self, prompt: str, default_llm: LLMConfig | None) -> Design:
        if not prompt.strip():
            raise Invalid.at("prompt", "empty", "prompt must not be empty")
        llm = default_llm or LLMConfig()
        self._models.check_egress(llm, "default_llm")
        status = self._models.status(llm)
        if status.unknown:
            raise Invalid(f"default_llm: {status.reason}")

        def model_for(config: LLMConfig) -> Any:
            try:
                return self._models.create(config)
            except ConfigurationError:
                return None  # no key here: design offline, with this llm block on every agent

        result = await design(prompt, llm, model_for)
        report = validate_draft(result.workflow, result.agents)
        if not report.valid:  # pragma: no cover - both designers only return valid designs
            raise Invalid("The designed workflow is invalid: " + "; ".join(report.errors))
        for agent in result.agents.values():
            await self._agents.register(agent)
        await self._store.save_draft(result.workflow, create=True)
        return result

    async def validate_draft(self, workflow: Workflow, given: Mapping[str, Agent] | None) -> ValidationReport:
        return validate_draft(workflow, await self.agents_for(workflow, given))

    async def validate_final(self, workflow: Workflow, given: Mapping[str, Agent] | None) -> ValidationReport:
        """Full validation; on success the workflow is stored as the draft with status `validated`,
        and agents given in the request that the registry lacks are registered."""
        agents = await self.agents_for(workflow, given)
        report = validate_final(workflow, agents, self.capabilities())
        if not report.valid:
            return report
        for agent_id, agent in (given or {}).items():
            if agent_id in workflow.agents:
                stored = await self._store.get_agents([agent_id])
                if agent_id in stored and stored[agent_id] != agent:
                    report.warnings.append(f"Agent '{agent_id}' in the request differs from the registry; the registry's definition runs")
        await self._agents.register_missing(a for k, a in (given or {}).items() if k in workflow.agents)
        await self._store.save_draft(workflow_lifecycle.validated(workflow))
        return report

    # -- temp ----------------------------------------------------------------------------

    async def _require_valid(self, workflow: Workflow, what: str) -> dict[str, Agent]:
        """The agents it passed validation with (a final version keeps them)."""
        workflow_lifecycle.require_validated(workflow, what)
        agents = await self.agents_for(workflow)
        report = validate_final(workflow, agents, self.capabilities())
        if not report.valid:
            raise BadRequest(
                f"Workflow must be validated before saving as {what}: it no longer passes validation",
                details={"errors": report.errors},
            )
        return agents

    async def save_temp(self, workflow: Workflow, *, if_match: str | None = None) -> str:
        await self._require_valid(workflow, "temp")
        temp = workflow_lifecycle.as_temp(workflow)
        async with self._store.editing_workflow(workflow.workflow_id):
            require_match(if_match, await self._stored_temp(workflow.workflow_id), f"The temp copy of '{workflow.workflow_id}'")
            return await self._store.save_temp(temp)

    async def _stored_temp(self, workflow_id: str) -> Workflow | None:
        try:
            return await self._store.get_temp(workflow_id)
        except NotFound:
            return None

    async def delete_temp(self, ref: str, *, if_match: str | None = None) -> None:
        """By id or slug, as `GET` finds it."""
        workflow_id = await self._store.resolve_workflow(ref)
        async with self._store.editing_workflow(workflow_id):
            require_match(if_match, await self._stored_temp(workflow_id), f"The temp copy of '{workflow_id}'")
            await self._store.delete_temp(workflow_id)

    # -- final ---------------------------------------------------------------------------

    async def save_final_request(self, body: Mapping[str, Any]) -> tuple[str, str, str]:
        """`POST /workflows/final/save`: {"workflow": {...}, "version": "1.0"?}. A version named
        at the top level is that version (409 if it exists); otherwise the workflow's own
        while it is above every saved version, else the next after the highest."""
        raw = body.get("workflow")
        if not isinstance(raw, dict):
            raise Invalid.at("workflow", "required", "Invalid input: workflow: an object is required")
        version = body.get("version")
        if version is not None and not isinstance(version, str):
            raise Invalid.at("version", "must be a string", "Invalid input: version: must be a string such as '1.0'")
        workflow = codec.convert(raw, Workflow, where="workflow")
        return await self.save_final(workflow, version, own_version="version" in raw)

    async def save_final(self, workflow: Workflow, version: str | None, *, own_version: bool = True) -> tuple[str, str, str]:
        """Publish an immutable version with the agents it was validated with: `version`
        exactly; or (None) the workflow's own version (`1.0` when it has none) if that is
        above every saved one, else the next after the highest."""
        if version is not None:
            version_key(version)  # malformed -> Invalid (422)
        agents = await self._require_valid(msgspec.structs.replace(workflow, agent_definitions=None), "final")
        wanted = version or (workflow.version if own_version else FIRST_VERSION)
        final = workflow_lifecycle.as_final(workflow, wanted, agents)
        # No version named: the store picks under the workflow's lock (another process may publish too).
        chosen, path = await self._store.create_final(final, next_free=version is None)
        return workflow.workflow_id, chosen, path

    async def save_draft_as(self, ref: str, stage: Literal["temp", "final"], version: str | None = None) -> tuple[str, str, str]:
        """The CLI's `save`: validate the stored draft fully (it becomes `validated`, as
        `validate/final` does), then save it as the temp copy or a final version.
        Answers (workflow id, version, path)."""
        workflow_id = await self._store.resolve_workflow(ref)
        draft = await self._store.get_draft(workflow_id)
        report = await self.validate_final(draft, None)
        if not report.valid:
            raise NotValidated(workflow_id, report.errors)
        validated = await self._store.get_draft(workflow_id)
        if stage == "temp":
            return workflow_id, validated.version, await self.save_temp(validated)
        return await self.save_final(validated, version)

    async def encoded(self, state: Literal["draft", "temp", "final"], ref: str, version: str | None = None) -> Encoded:
        """A workflow's draft, temp copy or final version as the API sends it, with its ETag."""
        if state == "draft":
            ref = await self._store.resolve_workflow(ref)
        return await self._store.encoded(EntityRef(state, ref, version))

    async def versions(self, workflow_id: str) -> list[str]:
        versions = await self._store.list_versions(workflow_id)
        if not versions:
            raise NotFound("No versions found", details={"workflow_id": workflow_id})
        return versions

    async def clone(self, workflow_id: str, from_version: str, *, overwrite: bool = False, if_match: str | None = None) -> Workflow:
        try:
            final = await self._store.get_final(workflow_id, from_version)
        except NotFound:
            raise NotFound("Final workflow not found", details={"workflow_id": workflow_id, "version": from_version}) from None
        async with self._store.editing_workflow(final.workflow_id):
            try:
                current: Workflow | None = await self._store.get_draft(final.workflow_id)
            except NotFound:
                current = None
            require_match(if_match, current, f"The draft of '{final.workflow_id}'")
            # A draft equal to a saved copy (temp or final) loses nothing when replaced; one
            # with edits saved nowhere else is kept unless the caller says overwrite.
            if current is not None and not overwrite and if_match is None and not await self._saved_elsewhere(current):
                raise Conflict(
                    f"Workflow '{final.workflow_id}' has a draft with edits saved nowhere else; pass overwrite=true to replace it",
                    details={"workflow_id": final.workflow_id, "overwrite": False},
                )
            draft = workflow_lifecycle.as_draft(final)
            await self._store.save_draft(draft)
            return draft

    async def _saved_elsewhere(self, draft: Workflow) -> bool:
        saved = [await self._store.get_final(draft.workflow_id, v) for v in await self._store.list_versions(draft.workflow_id)]
        if (temp := await self._stored_temp(draft.workflow_id)) is not None:
            saved.append(temp)
        return any(workflow_lifecycle.same_definition(draft, copy) for copy in saved)

    # -- graph view ----------------------------------------------------------------------

    async def definition(self, ref: str, state: GraphState, version: str | None = None) -> Workflow:
        try:
            workflow_id = await self._store.resolve_workflow(ref)
            if state == "draft":
                return await self._store.get_draft(workflow_id)
            if state == "temp":
                return await self._store.get_temp(workflow_id)
            versions = await self._store.list_versions(workflow_id)
            if not versions:
                raise NotFound("no final version")
            return await self._store.get_final(workflow_id, version or versions[-1])
        except NotFound:
            raise NotFound("Workflow not found", details={"workflow_id": ref, "state": state, "version": version}) from None

    async def graph(self, ref: str, state: GraphState, version: str | None = None) -> WorkflowGraphView:
        workflow = await self.definition(ref, state, version)
        agents = await self.agents_for(workflow)
        uses = {use.agent_id: use for use in agent_uses(workflow, agents)}
        info: GraphInfo = await self._graphs.describe_workflow(workflow)
        conditions = {(c.from_, c.to): c.condition for c in workflow.connections}
        nodes = []
        for node in info.nodes:
            agent = agents.get(node.name)
            if agent is None:
                label = {"__start__": "Start", "__end__": "End", "merge": "Merge"}.get(node.name, node.name)
                nodes.append(GraphNodeView(id=node.name, label=label, type=node.type, metadata={}))
                continue
            nodes.append(
                GraphNodeView(
                    id=node.name,
                    label=agent.name or agent.agent_id,
                    type="agent",
                    metadata={
                        "role": agent.role,
                        "llm": {"provider": agent.llm.provider, "model": agent.llm.model},
                        "tools": list(agent.tools),
                        "node_type": node.type,
                        # Which definition runs: kept in this final version, or the registry's now.
                        "definition": {"source": uses[agent.agent_id].source, "sha256": uses[agent.agent_id].sha256},
                    },
                )
            )
        edges = [GraphEdgeView(source=e.source, target=e.target, condition=conditions.get((e.source, e.target))) for e in info.edges]
        return WorkflowGraphView(
            workflow_id=workflow.workflow_id,
            state=state,
            version=workflow.version,
            execution_model=workflow.execution_model,
            nodes=nodes,
            edges=edges,
            mermaid=info.mermaid,
        )

    async def run_steps(self, workflow: Workflow) -> list[Step]:
        """The steps a run of this copy records, numbered as its step executions are: its
        strategy steps as written; else (agents, or a plugin graph's nodes) one step per
        node the run plan counts, each depending on the steps before it in the graph."""
        if workflow.strategy_definition.steps:
            return sorted(workflow.strategy_definition.steps, key=lambda s: s.step_number)
        try:
            plan = await self._executions.workflow_plan(workflow)
            info = await self._graphs.describe_workflow(workflow)
            agents = await self.agents_for(workflow)
        except EchoError:  # it does not build (yet): no steps to show
            return []

        def number(node: str) -> int | None:
            found = plan.steps.get(node) or plan.steps.get(node.removeprefix(REVIEW_PREFIX))
            return None if found is None else found[0]

        before: dict[str, set[int]] = {}
        for edge in info.edges:
            if (source := number(edge.source)) is not None:
                before.setdefault(edge.target, set()).add(source)
        reviewed = {str(p) for p in workflow.human_in_loop.review_points} if workflow.human_in_loop.enabled else set()
        steps = []
        for node, (step_number, name) in sorted(plan.steps.items(), key=lambda item: item[1][0]):
            agent = agents.get(node)
            steps.append(
                Step(
                    step_number=step_number,
                    name=name,
                    description=(agent.description or agent.role) if agent else "",
                    # Back edges (a delegate reporting to its master) are not dependencies.
                    dependencies=sorted(n for n in before.get(node, ()) if n < step_number),
                    agent_id=node if agent else None,
                    parallel_execution=workflow.execution_model == "parallel" and agent is not None,
                    interactive=node in reviewed or str(step_number) in reviewed,
                )
            )
        return steps

    # -- permissions ---------------------------------------------------------------------

    async def permission_check(self, caller: str, target: str, workflow: Workflow, given: Mapping[str, Agent]) -> bool:
        return can_call(caller, target, workflow, await self.agents_for(workflow, given))

    async def permission_targets(self, agent_id: str, workflow: Workflow, given: Mapping[str, Agent]) -> list[str]:
        if agent_id not in workflow.agents:
            raise NotFound(f"Agent '{agent_id}' is not a member of workflow '{workflow.workflow_id}'")
        return allowed_targets(agent_id, workflow, await self.agents_for(workflow, given))

    async def permission_errors(self, workflow: Workflow, given: Mapping[str, Agent]) -> list[str]:
        return validate_permissions(workflow, await self.agents_for(workflow, given))

    async def stored_for_permissions(self, ref: str) -> Workflow:
        """A stored workflow for permission questions: its draft, else what runs."""
        workflow_id = await self._store.resolve_workflow(ref)
        try:
            return await self._store.get_draft(workflow_id)
        except NotFound:
            return await self._store.get_runnable(workflow_id)

    # -- legacy canvas -------------------------------------------------------------------

    async def from_canvas(
        self,
        *,
        name: str,
        description: str,
        execution_model: str,
        master_agent: str | None,
        nodes: list[tuple[str, str | None, Mapping[str, Any] | None]],
        edges: list[tuple[str, str, str | None]],
    ) -> tuple[Workflow, dict[str, Agent]]:
        """A draft from canvas nodes (an existing agent id, or an inline agent) and edges.
        Everything is validated before anything is written."""
        node_agent: dict[str, str] = {}
        agents: dict[str, Agent] = {}
        inline: list[Agent] = []
        for node_id, agent_id, definition in nodes:
            if definition is not None:
                agent = codec.convert({"agent_id": agent_id or node_id, **definition}, Agent)
                inline.append(agent)
            else:
                try:
                    agent = await self._store.get_agent(agent_id or node_id)
                except NotFound:
                    raise Invalid(f"Canvas node '{node_id}': Agent '{agent_id or node_id}' not found") from None
            node_agent[node_id], agents[agent.agent_id] = agent.agent_id, agent
        connections = []
        for source, target, condition in edges:
            missing = [n for n in (source, target) if n not in node_agent]
            if missing:
                raise Invalid(f"Canvas edge {source} -> {target}: no node '{missing[0]}'")
            connections.append(Connection(from_=node_agent[source], to=node_agent[target], condition=condition))
        workflow_id = new_id("wf")
        workflow = codec.convert(
            {
                "workflow_id": workflow_id,
                "slug": f"{slugify(name)}-{workflow_id[-4:]}",
                "name": name,
                "description": description,
                "execution_model": execution_model,
                "agents": list(agents),
                "connections": msgspec.to_builtins(connections),
                "hierarchy": None if master_agent is None else {"master_agent": node_agent.get(master_agent, master_agent)},
                "metadata": {"created_by": "canvas", "created_at": utcnow_iso()},
            },
            Workflow,
            where="workflow",
        )
        for agent in inline:
            errors = self._agents.definition_errors(agent)
            if errors:
                raise Invalid(errors[0], details={"errors": errors})
        report = validate_draft(workflow, agents)
        if not report.valid:
            raise Invalid("The canvas is not a valid workflow: " + "; ".join(report.errors), details={"errors": report.errors})
        await self._agents.register_missing(inline)
        await self._store.save_draft(workflow, create=True)
        return workflow, agents

    # -- execution -----------------------------------------------------------------------

    async def execute(
        self,
        ref: str,
        mode: Literal["test", "final"],
        version: str | None,
        inputs: Mapping[str, Any],
        caller: Caller | None = None,
        workspace: str | None = None,
    ) -> RunResult:
        if mode == "final" and not version:
            raise Invalid.at("version", "required in final mode", "version is required in final mode")
        workflow = await self.definition(ref, "temp" if mode == "test" else "final", version)
        config = ExecutionConfig(workspace=workspace)
        execution = await self._executions.start_definition(workflow, inputs, mode=mode, caller=caller, config=config)
        finished = await self._executions.wait(execution.execution_id)
        error = (
            None if finished.error is None else RunError(type=finished.error.type, message=finished.error.message, code=finished.error.code)
        )
        started = finished.started_at or finished.created_at
        return RunResult(
            run_id=finished.execution_id,
            workflow_id=workflow.workflow_id,
            version=workflow.version,
            status=finished.status,
            execution_mode=mode,
            output=finished.outputs or {},
            error=error,
            llm_calls=await self._executions.runtime.llm_calls(finished.execution_id),
            duration_seconds=round((finished.completed_at - started).total_seconds(), 3) if finished.completed_at and started else 0.0,
            workspace=finished.workspace,
            output_files=await self._executions.output_files(finished),
        )
