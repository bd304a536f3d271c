"""The file store's schedules (storage/schedules/<id>.json) and the webhook triggers its
workflows declare: read from the index, written like every definition."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from echo_orchestrator.errors import NotFound
from echo_orchestrator.models.triggers import Schedule, WebhookTrigger
from echo_orchestrator.store.definitions.index import DefinitionIndex
from echo_orchestrator.store.definitions.layout import Layout
from echo_orchestrator.store.definitions.locks import EntityLocks


class ScheduleFiles:
    """Part of `FileDefinitionStore` (which gives the attributes and methods declared here)."""

    layout: Layout
    locks: EntityLocks
    _index: DefinitionIndex
    _lock: anyio.Lock | None

    if TYPE_CHECKING:  # declared only: the store's own methods must be the ones called

        async def _refresh(self, paths: list[Path]) -> None: ...
        async def _fresh(self, *paths: Path) -> None: ...
        async def _catch_up(self) -> None: ...
        async def _write(self, path: Path, entity: Any, *, exclusive: bool, conflict: str) -> str: ...
        async def _remove(self, path: Path, missing: str) -> None: ...

    @contextlib.asynccontextmanager
    async def editing_schedule(self, schedule_id: str) -> AsyncIterator[None]:
        async with self.locks.hold(f"schedule:{schedule_id}"):
            await self._refresh([self.layout.schedule_path(schedule_id)])
            yield

    async def list_schedules(self) -> list[Schedule]:
        # From the index (the watcher and other nodes' announcements keep it true): the
        # scheduler asks every second.
        return [msgspec.structs.replace(s) for _, s in sorted(self._index.schedules.items())]

    async def get_schedule(self, schedule_id: str) -> Schedule:
        if self.layout.is_entity_id(schedule_id):
            await self._fresh(self.layout.schedule_path(schedule_id))
        found = self._index.schedules.get(schedule_id)
        if found is None:
            raise NotFound(f"Schedule '{schedule_id}' not found", details={"schedule_id": schedule_id})
        return msgspec.structs.replace(found)

    async def save_schedule(self, schedule: Schedule, *, create: bool = False) -> str:
        assert self._lock is not None, "open() first"
        async with self.editing_schedule(schedule.schedule_id), self._lock:
            return await self._write(
                self.layout.schedule_path(schedule.schedule_id),
                schedule,
                exclusive=create,
                conflict=f"Schedule '{schedule.schedule_id}' already exists",
            )

    async def delete_schedule(self, schedule_id: str) -> None:
        async with self.editing_schedule(schedule_id):
            await self._remove(self.layout.schedule_path(schedule_id), f"Schedule '{schedule_id}' not found")

    async def find_trigger(self, trigger_id: str) -> tuple[str, WebhookTrigger]:
        """The workflow whose runnable definition declares webhook trigger `trigger_id`."""
        declared = self._index.triggers().get(trigger_id)
        if not declared:  # another process may have just saved it
            await self._catch_up()
            declared = self._index.triggers().get(trigger_id)
        if not declared:
            raise NotFound(f"Webhook trigger '{trigger_id}' not found", details={"trigger_id": trigger_id})
        workflow_id, trigger = declared[0]
        return workflow_id, msgspec.structs.replace(trigger)
