"""Triggers (docs/triggers.md): schedules (files under storage/schedules/), the inbound
webhook route `POST /hooks/{trigger_id}`, and the deliveries of a run's completion webhooks."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from echo_orchestrator.api.requests import checked_body
from echo_orchestrator.api.schemas.triggers import HookAccepted, HookResult, ScheduleList, WebhookDeliveries
from echo_orchestrator.api.security import SELF_AUTHENTICATED, SecurityPolicy, caller_of
from echo_orchestrator.container import Services
from echo_orchestrator.models.triggers import ScheduleFire
from echo_orchestrator.run_sources import result_of
from echo_orchestrator.services.schedules import ScheduleView

FireLimit = Annotated[int, QueryParameter(ge=1, le=1000)]


class TriggerController(Controller):
    tags = ["triggers"]

    @get("/schedules", summary="Schedules, each with its next fire times and its last fire")
    async def list_schedules(self, services: NamedDependency[Services]) -> ScheduleList:
        views = await services.schedules.list_all()
        return ScheduleList(schedules=views, total=len(views))

    @post("/schedules", status_code=HTTP_201_CREATED, summary="Create a schedule (written to storage/schedules/<id>.json)")
    async def create_schedule(self, services: NamedDependency[Services], data: JSONBody[dict[str, Any]]) -> ScheduleView:
        return await services.schedules.create(data)

    @get("/schedules/{schedule_id:str}", summary="A schedule, its next fire times and its recent fires")
    async def get_schedule(self, services: NamedDependency[Services], schedule_id: FromPath[str]) -> ScheduleView:
        return await services.schedules.get(schedule_id)

    @put("/schedules/{schedule_id:str}", summary="Replace a schedule")
    async def replace_schedule(
        self, services: NamedDependency[Services], schedule_id: FromPath[str], data: JSONBody[dict[str, Any]]
    ) -> ScheduleView:
        return await services.schedules.replace(schedule_id, data)

    @post("/schedules/{schedule_id:str}/pause", status_code=HTTP_200_OK, summary="Pause a schedule (`enabled: false`)")
    async def pause_schedule(self, services: NamedDependency[Services], schedule_id: FromPath[str]) -> ScheduleView:
        return await services.schedules.set_enabled(schedule_id, False)

    @post("/schedules/{schedule_id:str}/resume", status_code=HTTP_200_OK, summary="Resume a schedule from now on")
    async def resume_schedule(self, services: NamedDependency[Services], schedule_id: FromPath[str]) -> ScheduleView:
        return await services.schedules.set_enabled(schedule_id, True)

    @delete("/schedules/{schedule_id:str}", status_code=HTTP_204_NO_CONTENT, summary="Delete a schedule (its file)")
    async def delete_schedule(self, services: NamedDependency[Services], schedule_id: FromPath[str]) -> None:
        await services.schedules.delete(schedule_id)

    @get("/schedules/{schedule_id:str}/fires", summary="A schedule's fires, newest first, with their runs")
    async def schedule_fires(
        self, services: NamedDependency[Services], schedule_id: FromPath[str], limit: FireLimit = 50
    ) -> list[ScheduleFire]:
        return await services.schedules.fires(schedule_id, limit)

    @get("/executions/{execution_id:str}/webhooks", summary="The completion webhooks of a run, each attempt recorded")
    async def execution_webhooks(self, services: NamedDependency[Services], execution_id: FromPath[str]) -> WebhookDeliveries:
        await services.executions.get(execution_id)  # 404 for an unknown run
        deliveries = await services.runtime.deliveries_of(execution_id)
        return WebhookDeliveries(execution_id=execution_id, deliveries=deliveries)

    # The route checks who calls itself: a signature (no key), or the API's keys, as the trigger says.
    @post("/hooks/{trigger_id:str}", status_code=HTTP_202_ACCEPTED, summary="Start a run by webhook", opt={SELF_AUTHENTICATED: True})
    async def hook(
        self,
        services: NamedDependency[Services],
        policy: NamedDependency[SecurityPolicy],
        trigger_id: FromPath[str],
        request: Request[Any, Any, Any],
    ) -> Response[HookAccepted | HookResult]:
        await checked_body(request)
        body = await request.body()
        found = await services.hooks.trigger(trigger_id)
        trigger = found[1]
        key_caller = None
        if trigger.auth == "api_key":
            key_caller = await policy.identify(request.headers, caller_of(request.scope).address)
        accepted = await services.hooks.accept(found, body, request.headers, key_caller, address=caller_of(request.scope).address)
        execution = accepted.execution
        if trigger.wait:
            with anyio.move_on_after(trigger.timeout_seconds):
                ended = await services.executions.wait(execution.execution_id)
                return Response(HookResult(trigger_id=trigger.id, **result_of(ended)), status_code=HTTP_200_OK)
        body_out = HookAccepted(
            trigger_id=trigger.id,
            execution_id=execution.execution_id,
            workflow_slug=execution.workflow_slug,
            status=execution.status,
            stream_url=f"/executions/{execution.execution_id}/stream",
        )
        return Response(body_out, status_code=HTTP_202_ACCEPTED)
