"""What the schedule routes, the CLI and the console do: list, create, replace, pause,
resume and delete schedules (files under storage/schedules/), each shown with its next
fire times and its last fires and their runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from echo_orchestrator.errors import Invalid, NotFound
from echo_orchestrator.lifecycle.schedules import next_fires
from echo_orchestrator.models import new_id, rfc3339, utcnow
from echo_orchestrator.models.triggers import Schedule, ScheduleFire
from echo_orchestrator.registry import PluginRegistry
from echo_orchestrator.store.definitions.base import DefinitionStore
from echo_orchestrator.store.definitions.codec import convert
from echo_orchestrator.store.runtime.base import RuntimeStore

NEXT_SHOWN = 5


class ScheduleView(msgspec.Struct, kw_only=True):
    schedule: Schedule
    # Where it is kept, relative to the storage folder (review it, commit it).
    file: str
    next_fire_times: list[str]
    recent_fires: list[ScheduleFire]


class ScheduleService:
    def __init__(self, store: DefinitionStore, runtime: RuntimeStore, registry: PluginRegistry) -> None:
        self.store, self.runtime, self.registry = store, runtime, registry

    async def view(self, schedule: Schedule, *, fires: int = 5) -> ScheduleView:
        upcoming = next_fires(schedule, utcnow(), NEXT_SHOWN) if schedule.enabled else []
        return ScheduleView(
            schedule=schedule,
            file=f"schedules/{schedule.schedule_id}.json",
            next_fire_times=[rfc3339(m) for m in upcoming],
            recent_fires=await self.runtime.list_fires(schedule.schedule_id, limit=fires) if fires else [],
        )

    async def list_all(self, *, fires: int = 1) -> list[ScheduleView]:
        return [await self.view(s, fires=fires) for s in await self.store.list_schedules()]

    async def get(self, schedule_id: str, *, fires: int = 20) -> ScheduleView:
        return await self.view(await self.store.get_schedule(schedule_id), fires=fires)

    async def fires(self, schedule_id: str, limit: int) -> list[ScheduleFire]:
        await self.store.get_schedule(schedule_id)  # 404 for one that does not exist
        return await self.runtime.list_fires(schedule_id, limit=limit)

    def _parse(self, data: Mapping[str, Any], schedule_id: str | None) -> Schedule:
        body = dict(data)
        if schedule_id is not None:
            if body.setdefault("schedule_id", schedule_id) != schedule_id:
                raise Invalid.at("schedule_id", f"is {body['schedule_id']!r}, but the path names {schedule_id!r}")
        else:
            body.setdefault("schedule_id", new_id("sched"))
        return convert(body, Schedule)

    async def _check_target(self, schedule: Schedule) -> None:
        """What it runs must exist now (a file edited by hand may still name one that does not:
        its fires are then recorded as failed)."""
        try:
            if schedule.workflow is not None:
                await self.store.resolve_workflow(schedule.workflow)
            elif schedule.graph is not None:
                self.registry.graph(schedule.graph)
        except NotFound as exc:
            field = "workflow" if schedule.workflow is not None else "graph"
            raise Invalid.at(field, exc.message) from None

    async def create(self, data: Mapping[str, Any]) -> ScheduleView:
        schedule = self._parse(data, None)
        await self._check_target(schedule)
        await self.store.save_schedule(schedule, create=True)
        return await self.view(schedule)

    async def replace(self, schedule_id: str, data: Mapping[str, Any]) -> ScheduleView:
        schedule = self._parse(data, schedule_id)
        await self.store.get_schedule(schedule_id)  # 404: create it with POST
        await self._check_target(schedule)
        await self.store.save_schedule(schedule)
        return await self.view(schedule)

    async def set_enabled(self, schedule_id: str, enabled: bool) -> ScheduleView:
        async with self.store.editing_schedule(schedule_id):
            schedule = await self.store.get_schedule(schedule_id)
            if schedule.enabled != enabled:
                schedule = msgspec.structs.replace(schedule, enabled=enabled)
                await self.store.save_schedule(schedule)
                if enabled:
                    # It takes up from now: what it would have fired while paused is not made up for.
                    await self.runtime.claim_fire(schedule_id, utcnow(), "resumed", "resumed: fires while paused are not run")
        return await self.view(schedule)

    async def delete(self, schedule_id: str) -> None:
        await self.store.delete_schedule(schedule_id)
