"""Agent registry, factory and permissions (echoai document, Agent APIs), with legacy routes."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from echo_orchestrator.api.etags import IfMatch, IfNoneMatch, representation, tagged
from echo_orchestrator.api.fast_reads import FAST_READ, FastRead
from echo_orchestrator.api.requests import checked_body, decode_body
from echo_orchestrator.api.schemas.agents import (
    AgentBrief,
    AgentDeleted,
    AgentInstance,
    AgentList,
    AgentPath,
    AgentPromptRequest,
    AgentRegistryList,
    AgentsByRole,
    BatchRequest,
    BatchResponse,
    CreatedAgent,
    PermissionCheck,
    PermissionCheckRequest,
    PermissionTargets,
    PermissionValidation,
    ValidationReport,
    WorkflowWithAgents,
)
from echo_orchestrator.container import Services
from echo_orchestrator.errors import BadRequest
from echo_orchestrator.models import Agent


def _brief(agents: list[Agent]) -> list[AgentBrief]:
    return [AgentBrief(agent_id=a.agent_id, name=a.name, role=a.role) for a in agents]


class AgentController(Controller):
    path = "/agents"
    tags = ["agents"]

    @post("/register", status_code=201, summary="Register an agent (409 if the id exists)")
    async def register_agent(self, services: NamedDependency[Services], data: JSONBody[Agent]) -> AgentPath:
        return AgentPath(agent_id=data.agent_id, path=await services.agents.register(data))

    @get("/registry/list", summary="All agents, briefly")
    async def list_agent_registry(self, services: NamedDependency[Services]) -> AgentRegistryList:
        agents = await services.agents.list_agents()
        return AgentRegistryList(agents=_brief(agents), count=len(agents))

    @get("/role/{role:str}", summary="Agents with a role")
    async def list_agents_by_role(self, services: NamedDependency[Services], role: FromPath[str]) -> AgentsByRole:
        agents = await services.agents.list_agents(role=role)
        return AgentsByRole(role=role, agents=_brief(agents), count=len(agents))

    @get(
        "/{agent_id:str}",
        summary="One agent (with its ETag)",
        opt={FAST_READ: FastRead(lambda services, path: services.agents.encoded(path["agent_id"]))},
    )
    async def get_agent(
        self, services: NamedDependency[Services], agent_id: FromPath[str], if_none_match: IfNoneMatch = None
    ) -> Response[Agent]:
        return representation(await services.agents.encoded(agent_id), if_none_match)

    @put("/{agent_id:str}", summary="Merge the given fields into an agent (If-Match: 412 if it changed)")
    async def update_agent(
        self,
        services: NamedDependency[Services],
        agent_id: FromPath[str],
        data: JSONBody[dict[str, Any]],
        if_match: IfMatch = None,
    ) -> Response[Agent]:
        return tagged(await services.agents.update(agent_id, data, if_match=if_match), None)

    @delete("/{agent_id:str}", status_code=200, summary="Delete an agent (409 while workflows use it, unless force)")
    async def delete_agent(
        self,
        services: NamedDependency[Services],
        agent_id: FromPath[str],
        force: FromQuery[bool] = False,
        if_match: IfMatch = None,
    ) -> AgentDeleted:
        await services.agents.delete(agent_id, force=force, if_match=if_match)
        return AgentDeleted(message="Agent deleted", agent_id=agent_id)

    # -- factory -------------------------------------------------------------------------

    @post("/instantiate/batch", status_code=200, summary="Instantiate several agents")
    async def instantiate_agents(self, services: NamedDependency[Services], data: JSONBody[BatchRequest]) -> BatchResponse:
        instances = await services.agents.instantiate_batch(data.agent_ids)
        return BatchResponse(instances=instances, count=len(instances))

    @post("/instantiate/{agent_id:str}", status_code=200, summary="Build the runtime agent: model and tools")
    async def instantiate_agent(
        self, services: NamedDependency[Services], agent_id: FromPath[str], bind_tools: FromQuery[bool] = True
    ) -> AgentInstance:
        return await services.agents.instantiate(agent_id, bind_tools=bind_tools)

    # -- permissions ---------------------------------------------------------------------

    @post("/permissions/check", status_code=200, summary="May the caller call the target?")
    async def check_permission(self, services: NamedDependency[Services], data: JSONBody[PermissionCheckRequest]) -> PermissionCheck:
        allowed = await services.workflows.permission_check(data.caller_id, data.target_id, data.workflow, data.agents)
        return PermissionCheck(caller_id=data.caller_id, target_id=data.target_id, allowed=allowed)

    @post("/permissions/validate", status_code=200, summary="Check every permission of a workflow")
    async def validate_permissions(self, services: NamedDependency[Services], data: JSONBody[WorkflowWithAgents]) -> PermissionValidation:
        errors = await services.workflows.permission_errors(data.workflow, data.agents)
        return PermissionValidation(valid=not errors, errors=errors)

    @get("/permissions/targets/{agent_id:str}", summary="Whom an agent may call (JSON body, or ?workflow_id=)")
    async def list_permission_targets(
        self,
        services: NamedDependency[Services],
        request: Request[Any, Any, Any],
        agent_id: FromPath[str],
        workflow_id: FromQuery[str | None] = None,
    ) -> PermissionTargets:
        body = await checked_body(request)
        if workflow_id is not None:
            workflow, given = await services.workflows.stored_for_permissions(workflow_id), {}
        elif body.strip():
            parsed = decode_body(body, WorkflowWithAgents)
            workflow, given = parsed.workflow, parsed.agents
        else:
            raise BadRequest("Give the workflow as a JSON body, or ?workflow_id= of a stored workflow")
        targets = await services.workflows.permission_targets(agent_id, workflow, given)
        return PermissionTargets(agent_id=agent_id, allowed_targets=targets)

    # -- legacy --------------------------------------------------------------------------

    @get("/list", summary="Legacy: all agents, in full")
    async def legacy_list_agents(self, services: NamedDependency[Services]) -> AgentList:
        agents = await services.agents.list_agents()
        return AgentList(agents=agents, count=len(agents))

    @post("/create/prompt", status_code=201, summary="Legacy: create one agent from a prompt")
    async def legacy_create_agent_from_prompt(
        self, services: NamedDependency[Services], data: JSONBody[AgentPromptRequest]
    ) -> CreatedAgent:
        agent, path = await services.agents.create_from_prompt(data.prompt, data.llm)
        return CreatedAgent(agent_id=agent.agent_id, path=path, agent=agent)

    @post("/create/card", status_code=201, summary="Legacy: create an agent from a card (id generated when absent)")
    async def legacy_create_agent_from_card(self, services: NamedDependency[Services], data: JSONBody[dict[str, Any]]) -> CreatedAgent:
        agent, path = await services.agents.register_card(data)
        return CreatedAgent(agent_id=agent.agent_id, path=path, agent=agent)

    @post("/validate", status_code=200, summary="Legacy: would this agent definition register and run here?")
    async def legacy_validate_agent(self, services: NamedDependency[Services], data: JSONBody[dict[str, Any]]) -> ValidationReport:
        return await services.agents.validate(data)
