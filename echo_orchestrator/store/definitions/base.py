"""The definition store's interface: what every backend provides.

Agents and workflows (draft, temp, immutable final versions) as whole documents. The file
backend is the embedded default; the contract suite in `tests/contract/` runs over any
backend, so a second one (a database for several machines) is held to the same behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Generic, Literal, Protocol, TypeVar

import msgspec

from echo_orchestrator.models import Agent, McpSettings, Workflow
from echo_orchestrator.models.triggers import Schedule, WebhookTrigger
from echo_orchestrator.store.definitions.representations import Encoded

T = TypeVar("T")


class Problem(msgspec.Struct, frozen=True):
    """A file that could not be used: where, which field, what is wrong."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field or '-'}: {self.message}"


class WorkflowSummary(msgspec.Struct, kw_only=True):
    """One catalogue row: what a list shows of a workflow across its draft, temp and finals."""

    workflow_id: str
    slug: str
    name: str
    description: str
    category: str
    tags: list[str]
    version: str
    status: str
    graph_name: str | None
    execution_model: str
    created_at: str | None
    updated_at: str | None
    versions: list[str]
    has_draft: bool
    has_temp: bool


class WorkflowQuery(msgspec.Struct, kw_only=True):
    category: str | None = None
    tags: list[str] = msgspec.field(default_factory=list)  # all must be present
    search: str | None = None  # case-insensitive substring of slug, name or description
    status: str | None = None  # one of lifecycle.workflows.CATALOGUE_STATUSES
    include_archived: bool = False
    limit: int = 50
    offset: int = 0


class Page(msgspec.Struct, Generic[T], kw_only=True):
    items: list[T]
    total: int
    limit: int
    offset: int


class StoreCounts(msgspec.Struct, kw_only=True):
    agents: int
    workflows: int
    drafts: int
    temps: int
    finals: int


class EntityRef(msgspec.Struct, frozen=True):
    """One stored definition: an agent, or a workflow's draft, temp copy or final version."""

    kind: Literal["agent", "draft", "temp", "final"]
    id: str  # agent id, or workflow id or slug
    version: str | None = None  # finals only


class DefinitionStore(Protocol):
    """Errors: `NotFound` for a missing entity, `Conflict` for an existing one (create) or a
    slug held by another workflow, `StorageError` when the medium fails."""

    @property
    def location(self) -> str:
        """Where the definitions live (a folder, a database URL), for health reports."""
        ...

    @property
    def runtime_dir(self) -> Path:
        """A local folder for this node's runtime state: the runtime database, MCP server
        logs, entity locks. Never part of the definitions."""
        ...

    @property
    def mcp_settings_location(self) -> Path:
        """Where the MCP settings live, shown to operators (relative to the storage root)."""
        ...

    def current_mcp_settings(self) -> McpSettings:
        """The MCP settings as last loaded, without I/O (the hub asks on every use)."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    @property
    def revision(self) -> int:
        """Grows with every change the store sees (its own writes, the watcher's, a refresh):
        a view built at one revision may be stale at a later one."""
        ...

    @property
    def is_following(self) -> bool:
        """Whether external changes are being followed now (health reports it)."""
        ...

    async def follow_changes(self) -> None:
        """Keep the index true under external changes until cancelled (or closed)."""
        ...

    def announce_writes(self, announce: Callable[[str], None]) -> None:
        """Tell `announce` (it must not block) the storage-relative path of every file this
        store writes or removes, for other nodes sharing the folder."""
        ...

    async def refresh(self, paths: Sequence[str]) -> None:
        """Read these storage-relative files again now: another node changed them (on a
        network filesystem no watcher would tell)."""
        ...

    # agents
    def editing_agent(self, agent_id: str) -> AbstractAsyncContextManager[None]:
        """Hold the agent against every other writer, in any process, and read it fresh."""
        ...

    def editing_workflow(self, workflow_id: str) -> AbstractAsyncContextManager[None]:
        """Hold the workflow's draft and temp copy likewise."""
        ...

    async def get_agent(self, agent_id: str) -> Agent: ...

    async def encoded(self, ref: EntityRef) -> Encoded:
        """The entity as the API sends it and its ETag (errors as its `get_*`); kept per
        version of the entity, so repeated reads cost a lookup."""
        ...

    async def list_agents(self, *, role: str | None = None, limit: int | None = None, offset: int = 0) -> Page[Agent]: ...

    async def create_agent(self, agent: Agent) -> str: ...

    async def save_agent(self, agent: Agent) -> str: ...

    async def delete_agent(self, agent_id: str) -> None: ...

    async def agent_references(self, agent_id: str) -> list[str]: ...

    # workflows
    async def resolve_workflow(self, ref: str) -> str: ...

    async def list_workflows(self, query: WorkflowQuery) -> Page[WorkflowSummary]: ...

    async def get_summary(self, ref: str) -> WorkflowSummary: ...

    async def get_agents(self, agent_ids: Iterable[str]) -> dict[str, Agent]: ...

    async def get_draft(self, workflow_id: str) -> Workflow: ...

    async def save_draft(self, workflow: Workflow, *, create: bool = False) -> str: ...

    async def delete_draft(self, workflow_id: str) -> None: ...

    async def get_temp(self, workflow_id: str) -> Workflow: ...

    async def save_temp(self, workflow: Workflow) -> str: ...

    async def delete_temp(self, workflow_id: str) -> None: ...

    async def get_final(self, workflow_id: str, version: str) -> Workflow: ...

    async def create_final(self, workflow: Workflow, *, next_free: bool = False) -> tuple[str, str]: ...

    async def list_versions(self, workflow_id: str) -> list[str]: ...

    async def get_runnable(self, ref: str, *, shared: bool = False) -> Workflow:
        """The final version a run would take, else the temp copy. `shared`: the store's own
        object, not a copy, for a caller that only reads it (an answer about to be encoded)."""
        ...

    # MCP settings
    async def get_mcp_settings(self) -> McpSettings: ...

    async def save_mcp_settings(self, settings: McpSettings) -> str: ...

    # schedules (storage/schedules/<id>.json) and webhook triggers (declared by workflows)
    def editing_schedule(self, schedule_id: str) -> AbstractAsyncContextManager[None]: ...

    async def list_schedules(self) -> list[Schedule]: ...

    async def get_schedule(self, schedule_id: str) -> Schedule: ...

    async def save_schedule(self, schedule: Schedule, *, create: bool = False) -> str: ...

    async def delete_schedule(self, schedule_id: str) -> None: ...

    async def find_trigger(self, trigger_id: str) -> tuple[str, WebhookTrigger]:
        """(workflow id, trigger) of the workflow whose runnable definition declares it."""
        ...

    # health
    def problems(self) -> list[Problem]: ...

    def counts(self) -> StoreCounts: ...

    def writable(self) -> bool: ...
