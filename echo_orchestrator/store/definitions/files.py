"""The file backend: one JSON file per definition under the storage root.

Reads are served from the in-memory index. Writes go to disk first (atomically, in a
worker thread) and then into the index. `follow_changes` keeps the index true when files
change underneath (a `git pull`, an editor): every event batch re-reads just the files
whose (mtime, size, inode) changed. All index mutation happens on the event loop, under
one lock, so a re-read can never overwrite the index with bytes older than a write.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread
import msgspec

from echo_orchestrator.errors import Conflict, NotFound, StorageError
from echo_orchestrator.models import Agent, McpSettings, Workflow
from echo_orchestrator.models.triggers import Schedule
from echo_orchestrator.models.versions import canonical_version, next_version, sort_versions, version_key
from echo_orchestrator.store import atomic
from echo_orchestrator.store.definitions import codec
from echo_orchestrator.store.definitions.base import EntityRef, Page, Problem, StoreCounts, WorkflowQuery, WorkflowSummary
from echo_orchestrator.store.definitions.check import all_problems
from echo_orchestrator.store.definitions.following import FollowedFolder
from echo_orchestrator.store.definitions.index import DefinitionIndex, WorkflowEntry
from echo_orchestrator.store.definitions.layout import Layout
from echo_orchestrator.store.definitions.loader import Loaded, relative, signature_of
from echo_orchestrator.store.definitions.locks import EntityLocks, FileMutexes, Mutexes
from echo_orchestrator.store.definitions.representations import Encoded, Representations
from echo_orchestrator.store.definitions.schedules import ScheduleFiles

log = logging.getLogger(__name__)

E = TypeVar("E", Agent, Workflow, McpSettings, Schedule)


def _copy(entity: E) -> E:
    """An independent copy, so a caller mutating what it got cannot corrupt the index."""
    return msgspec.json.decode(msgspec.json.encode(entity), type=type(entity))


class FileDefinitionStore(ScheduleFiles, FollowedFolder):
    def __init__(self, root: Path, *, debounce_ms: int = 50, mutexes: Mutexes | None = None) -> None:
        super().__init__(Layout(root.resolve()), debounce_ms=debounce_ms)
        # flock under runtime/locks by default; PostgreSQL advisory locks across hosts.
        self.locks = EntityLocks(mutexes or FileMutexes(self.layout.runtime / "locks"))
        self._representations = Representations()
        self._announce: Callable[[str], None] | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        await self.locks.mutexes.open()
        await super().open()

    async def close(self) -> None:
        await super().close()
        await self.locks.mutexes.close()

    @property
    def runtime_dir(self) -> Path:
        return self.layout.runtime

    @property
    def mcp_settings_location(self) -> Path:
        return self.layout.mcp_settings

    def current_mcp_settings(self) -> McpSettings:
        return self.index.mcp_settings or McpSettings()

    @property
    def location(self) -> str:
        return str(self.layout.root)

    @property
    def index(self) -> DefinitionIndex:
        return self._index

    def _workflow_id_of(self, ref: str) -> str:
        entry = self._index.resolve(ref)
        return ref if entry is None else entry.workflow_id

    async def _refresh(self, paths: Iterable[Path]) -> None:
        """Bring these files' entries up to date with the disk now (another process may have
        written them since the watcher last looked)."""
        await self._reload(list(paths))

    def _workflow_files(self, workflow_id: str) -> list[Path]:
        return [self.layout.draft_path(workflow_id), self.layout.temp_path(workflow_id)]

    @contextlib.asynccontextmanager
    async def editing_agent(self, agent_id: str) -> AsyncIterator[None]:
        """Hold the agent against every other writer (in any process) and read it fresh from
        disk: a read-modify-write inside loses no concurrent update."""
        async with self.locks.hold(f"agent:{agent_id}"):
            await self._refresh([self.layout.agent_path(agent_id)])
            yield

    @contextlib.asynccontextmanager
    async def editing_workflow(self, workflow_id: str) -> AsyncIterator[None]:
        """The same for a workflow's draft and temp copy (finals are immutable)."""
        async with self.locks.hold(f"workflow:{workflow_id}"):
            await self._refresh(self._workflow_files(workflow_id))
            yield

    @contextlib.asynccontextmanager
    async def _claiming(self, workflow: Workflow) -> AsyncIterator[None]:
        """Hold the workflow, and its slug when it claims one it does not hold yet; then the
        index is brought up to date with every other writer's claims before the check."""
        async with self.editing_workflow(workflow.workflow_id):
            if self._index.slug_holder(workflow.key) == workflow.workflow_id:
                yield
                return
            async with self.locks.hold(f"slug:{workflow.key}"):
                await self._rescan()
                yield

    # -- writing -----------------------------------------------------------------------

    async def _write(self, path: Path, entity: E, *, exclusive: bool, conflict: str) -> str:
        assert self._lock is not None, "open() first"
        location = self.layout.locate(path)
        assert location is not None
        data = codec.encode(entity)
        shown = relative(self.layout, path)  # answers name files inside the storage root, never a server path

        def op() -> tuple[int, int, int] | None:
            if exclusive:
                atomic.create_exclusive(path, data)
            else:
                try:
                    unchanged = path.read_bytes() == data
                except FileNotFoundError:
                    unchanged = False
                if not unchanged:  # same content, same file: no write, no mtime change
                    atomic.write_atomic(path, data)
            return signature_of(path)

        try:
            signature = await anyio.to_thread.run_sync(op)
        except FileExistsError:
            raise Conflict(conflict, details={"path": shown}) from None
        except OSError as exc:
            raise StorageError(f"Could not write {path.name}: {exc.strerror or exc}", details={"path": shown}) from exc
        self._apply(Loaded(path, signature, location, entity=codec.decode(data, type(entity))))
        if self._announce is not None:
            self._announce(shown)
        return shown

    async def _remove(self, path: Path, missing: str) -> None:
        assert self._lock is not None, "open() first"
        async with self._lock:
            try:
                existed = await anyio.to_thread.run_sync(atomic.remove, path)
            except OSError as exc:
                raise StorageError(f"Could not delete {path.name}: {exc.strerror or exc}") from exc
            self._apply(Loaded(path, None, self.layout.locate(path)))
        if not existed:
            raise NotFound(missing)
        if self._announce is not None:
            self._announce(relative(self.layout, path))

    def announce_writes(self, announce: Callable[[str], None]) -> None:
        self._announce = announce

    async def refresh(self, paths: Sequence[str]) -> None:
        root = self.layout.root
        # Only plain relative names inside the folder: the rest is not ours to read.
        wanted = [root / p for p in paths if p and not Path(p).is_absolute() and ".." not in Path(p).parts]
        await self._reload(wanted)

    def _check_slug(self, workflow: Workflow) -> None:
        holder = self._index.slug_holder(workflow.key)
        if holder is not None and holder != workflow.workflow_id:
            raise Conflict(
                f"Slug '{workflow.key}' is already used by workflow '{holder}'",
                details={"slug": workflow.key, "workflow_id": holder},
            )

    # -- agents ------------------------------------------------------------------------

    async def get_agent(self, agent_id: str) -> Agent:
        return _copy(await self._agent(agent_id))

    async def _agent(self, agent_id: str) -> Agent:
        """The index's own object: never handed out, never changed (see representations)."""
        if self.layout.is_entity_id(agent_id):
            await self._fresh(self.layout.agent_path(agent_id))
        agent = self._index.agents.get(agent_id)
        if agent is None:
            raise NotFound(f"Agent '{agent_id}' not found", details={"agent_id": agent_id})
        return agent

    async def encoded(self, ref: EntityRef) -> Encoded:
        match ref.kind:
            case "agent":
                entity: Agent | Workflow = await self._agent(ref.id)
            case "draft":
                entity = await self._draft(ref.id)
            case "temp":
                entity = await self._temp(ref.id)
            case "final":
                entity = await self._final(ref.id, ref.version or "")
        return self._representations.of(entity)

    async def list_agents(self, *, role: str | None = None, limit: int | None = None, offset: int = 0) -> Page[Agent]:
        agents = [a for _, a in sorted(self._index.agents.items()) if role is None or a.role == role]
        end = None if limit is None else offset + limit
        return Page(
            items=[_copy(a) for a in agents[offset:end]],
            total=len(agents),
            limit=len(agents) if limit is None else limit,
            offset=offset,
        )

    async def create_agent(self, agent: Agent) -> str:
        assert self._lock is not None, "open() first"
        async with self.editing_agent(agent.agent_id), self._lock:
            return await self._write(
                self.layout.agent_path(agent.agent_id),
                agent,
                exclusive=True,
                conflict=f"Agent '{agent.agent_id}' already exists",
            )

    async def save_agent(self, agent: Agent) -> str:
        assert self._lock is not None, "open() first"
        async with self.editing_agent(agent.agent_id), self._lock:
            return await self._write(self.layout.agent_path(agent.agent_id), agent, exclusive=False, conflict="")

    async def delete_agent(self, agent_id: str) -> None:
        async with self.editing_agent(agent_id):
            await self._remove(self.layout.agent_path(agent_id), f"Agent '{agent_id}' not found")

    # -- workflows ---------------------------------------------------------------------

    async def _resolved(self, ref: str) -> WorkflowEntry | None:
        """The workflow an id or slug names, looking at the disk again if the index does not
        know it (another process may have just written it)."""
        entry = self._index.resolve(ref)
        if entry is None:
            await self._catch_up()
            entry = self._index.resolve(ref)
        return entry

    async def _entry(self, ref: str) -> WorkflowEntry:
        entry = await self._resolved(ref)
        if entry is None:
            raise NotFound(f"Workflow '{ref}' not found", details={"workflow": ref})
        return entry

    async def resolve_workflow(self, ref: str) -> str:
        return (await self._entry(ref)).workflow_id

    async def get_summary(self, ref: str) -> WorkflowSummary:
        return (await self._entry(ref)).summary()

    async def get_agents(self, agent_ids: Iterable[str]) -> dict[str, Agent]:
        """The agents that exist among `agent_ids` (missing ones are left out, for the caller to report)."""
        return {a: _copy(self._index.agents[a]) for a in agent_ids if a in self._index.agents}

    async def agent_references(self, agent_id: str) -> list[str]:
        """Ids of workflows whose draft, temp copy or any final version uses the agent."""
        return sorted(
            entry.workflow_id
            for entry in self._index.workflows.values()
            if any(agent_id in w.agents for w in (entry.draft, entry.temp, *entry.finals.values()) if w is not None)
        )

    async def list_workflows(self, query: WorkflowQuery) -> Page[WorkflowSummary]:
        items, total = self._index.query(query)
        return Page(items=items, total=total, limit=query.limit, offset=query.offset)

    async def get_draft(self, workflow_id: str) -> Workflow:
        return _copy(await self._draft(workflow_id))

    async def _draft(self, workflow_id: str) -> Workflow:
        if self.layout.is_entity_id(found := self._workflow_id_of(workflow_id)):
            await self._fresh(self.layout.draft_path(found))
        entry = await self._resolved(workflow_id)
        if entry is None or entry.draft is None:
            raise NotFound(f"Draft workflow '{workflow_id}' not found", details={"workflow_id": workflow_id})
        return entry.draft

    async def save_draft(self, workflow: Workflow, *, create: bool = False) -> str:
        assert self._lock is not None, "open() first"
        async with self._claiming(workflow), self._lock:
            self._check_slug(workflow)
            return await self._write(
                self.layout.draft_path(workflow.workflow_id),
                workflow,
                exclusive=create,
                conflict=f"Workflow '{workflow.workflow_id}' already exists",
            )

    async def delete_draft(self, workflow_id: str) -> None:
        async with self.editing_workflow(workflow_id):
            await self._remove(self.layout.draft_path(workflow_id), f"Draft workflow '{workflow_id}' not found")

    async def get_temp(self, workflow_id: str) -> Workflow:
        return _copy(await self._temp(workflow_id))

    async def _temp(self, workflow_id: str) -> Workflow:
        if self.layout.is_entity_id(found := self._workflow_id_of(workflow_id)):
            await self._fresh(self.layout.temp_path(found))
        entry = await self._resolved(workflow_id)
        if entry is None or entry.temp is None:
            raise NotFound("Temp workflow not found", details={"workflow_id": workflow_id})
        return entry.temp

    async def save_temp(self, workflow: Workflow) -> str:
        assert self._lock is not None, "open() first"
        async with self._claiming(workflow), self._lock:
            self._check_slug(workflow)
            return await self._write(self.layout.temp_path(workflow.workflow_id), workflow, exclusive=False, conflict="")

    async def delete_temp(self, workflow_id: str) -> None:
        async with self.editing_workflow(workflow_id):
            await self._remove(self.layout.temp_path(workflow_id), "Temp workflow not found")

    async def get_final(self, workflow_id: str, version: str) -> Workflow:
        return _copy(await self._final(workflow_id, version))

    async def _final(self, workflow_id: str, version: str) -> Workflow:
        # A final version is immutable: one the index holds under this exact name is the file's
        # content, with no `stat` to see whether it changed (a removal by hand or by git is
        # seen by the watcher). Anything else takes the full path below.
        entry = self._index.workflows.get(workflow_id)
        if entry is not None and (held := entry.finals.get(version)) is not None:
            return held
        key = version_key(version)
        if self.layout.is_entity_id(known := self._workflow_id_of(workflow_id)):
            await self._fresh(self.layout.final_path(known, canonical_version(version)))
        entry = await self._resolved(workflow_id)
        found = None if entry is None else next((w for v, w in entry.finals.items() if version_key(v) == key), None)
        if found is None:
            raise NotFound("Workflow version not found", details={"workflow_id": workflow_id, "version": version})
        return found

    async def create_final(self, workflow: Workflow, *, next_free: bool = False) -> tuple[str, str]:
        """Publish an immutable version; answers (version, path). The version is stored in its
        canonical form ("2", "2.0" and "2.0.0" are one version, `v2.0`). A version that exists
        conflicts; with `next_free` the version is the workflow's own while it is above every
        existing one, else the next after the highest, found under the workflow's lock and
        re-chosen if another process took it first (never a conflict)."""
        assert self._lock is not None, "open() first"
        async with self._claiming(workflow):
            for _ in range(1000):
                entry = self._index.workflows.get(workflow.workflow_id)
                existing = [] if entry is None else list(entry.finals)
                version = next_version(existing, workflow.version) if next_free else canonical_version(workflow.version)
                conflict = f"Version {version} of workflow '{workflow.workflow_id}' already exists"
                final = msgspec.structs.replace(workflow, version=version)
                path = self.layout.final_path(workflow.workflow_id, version)
                try:
                    async with self._lock:
                        self._check_slug(final)
                        key = version_key(version)
                        if any(version_key(v) == key for v in existing):
                            raise Conflict(conflict, details={"workflow_id": workflow.workflow_id, "version": version})
                        return version, await self._write(path, final, exclusive=True, conflict=conflict)
                except Conflict:
                    if not next_free:
                        raise
                    await self._refresh([path])  # another process published it: take the next
            raise Conflict(f"No free version found for workflow '{workflow.workflow_id}'")

    async def list_versions(self, workflow_id: str) -> list[str]:
        entry = self._index.resolve(workflow_id)
        return [] if entry is None else sort_versions(list(entry.finals))

    async def get_runnable(self, ref: str, *, shared: bool = False) -> Workflow:
        entry = await self._entry(ref)
        runnable = entry.runnable()
        if runnable is None:
            raise Conflict(
                f"Workflow '{ref}' has no final version and no temp copy to run",
                details={"workflow_id": entry.workflow_id},
            )
        return runnable if shared else _copy(runnable)

    # -- MCP settings ------------------------------------------------------------------

    async def get_mcp_settings(self) -> McpSettings:
        settings = self._index.mcp_settings
        return McpSettings() if settings is None else _copy(settings)

    async def save_mcp_settings(self, settings: McpSettings) -> str:
        assert self._lock is not None, "open() first"
        async with self._lock:
            return await self._write(self.layout.mcp_settings, settings, exclusive=False, conflict="")

    # -- health ------------------------------------------------------------------------

    def problems(self) -> list[Problem]:
        return all_problems(self._index)

    def counts(self) -> StoreCounts:
        workflows = self._index.workflows.values()
        return StoreCounts(
            agents=len(self._index.agents),
            workflows=len(self._index.workflows),
            drafts=sum(1 for e in workflows if e.draft is not None),
            temps=sum(1 for e in workflows if e.temp is not None),
            finals=sum(len(e.finals) for e in workflows),
        )

    def writable(self) -> bool:
        return os.access(self.layout.root, os.W_OK) and all(os.access(d, os.W_OK) for d in self.layout.definition_dirs())
