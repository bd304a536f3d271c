"""Workspaces as the API and the engine use them: listing, folders, files, their content,
the configuration, and the clean-up of old run folders (ouroboros document: Workspace
Endpoints; docs/workspaces.md)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import anyio
import anyio.to_thread
import msgspec

from echo_orchestrator.errors import NotFound, TooLarge
from echo_orchestrator.lifecycle.executions import ACTIVE
from echo_orchestrator.settings import Settings
from echo_orchestrator.store.runtime.base import RuntimeStore
from echo_orchestrator.store.workspaces.folders import DEFAULT, LONGTERM, WORKING, FileEntry, Workspaces, mime_type, older_than

log = logging.getLogger(__name__)


class WorkspaceSummary(msgspec.Struct, kw_only=True):
    name: str
    path: str  # under the workspaces folder as configured
    created_at: datetime
    size_mb: float
    file_count: int
    execution_count: int


class DirectoryInfo(msgspec.Struct, kw_only=True):
    name: str
    path: str  # relative to the workspace
    size_mb: float
    file_count: int


class WorkspaceDirectories(msgspec.Struct, kw_only=True):
    workspace: str
    workspace_root: str  # as configured
    directories: list[DirectoryInfo]
    total_size_mb: float


class DirectoryChanged(msgspec.Struct, kw_only=True):
    status: Literal["created", "deleted"]
    workspace: str
    directory_path: str  # relative to the workspace
    message: str


class FileListing(msgspec.Struct, kw_only=True):
    workspace: str
    directory: str  # relative to the workspace ("" is its root)
    files: list[FileEntry]
    total: int
    limit: int
    offset: int


class WorkspaceConfig(msgspec.Struct, kw_only=True):
    system_workspace: str
    output_dir: str
    working_directory_name: str
    longterm_directory_name: str
    max_workspace_size_mb: float
    auto_cleanup_enabled: bool
    cleanup_after_days: float
    cleanup_interval_seconds: float
    max_file_read_mb: float
    autocreate: bool
    default_workspace: str


@dataclass(slots=True)
class OpenFile:
    """A file to serve: an open descriptor (the caller closes it), its size and validators."""

    fd: int
    size: int
    mime_type: str
    etag: str
    modified: float
    name: str


class WorkspaceService:
    def __init__(
        self, workspaces: Workspaces, runtime: RuntimeStore, settings: Settings, is_live: Callable[[str], bool] = lambda _id: False
    ) -> None:
        self.workspaces = workspaces
        self._runtime = runtime
        self._settings = settings
        # Runs this process holds: checked again at removal, as one may have resumed since.
        self._is_live = is_live

    async def open(self) -> None:
        await anyio.to_thread.run_sync(self.workspaces.ensure_default)

    # -- for executions ----------------------------------------------------------------

    async def for_run(self, name: str | None) -> str:
        """The workspace a new execution will use: it must exist (or may be made)."""
        chosen = name or DEFAULT
        await anyio.to_thread.run_sync(self.workspaces.open_for_run, chosen)
        return chosen

    # -- reads -------------------------------------------------------------------------

    async def require(self, name: str) -> None:
        await anyio.to_thread.run_sync(self.workspaces.folder, name)

    async def summaries(self) -> list[WorkspaceSummary]:
        counts = await self._runtime.workspace_counts()

        def summaries() -> list[WorkspaceSummary]:
            out: list[WorkspaceSummary] = []
            for name in self.workspaces.names():
                try:
                    usage, created = self.workspaces.usage(name), self.workspaces.created_at(name)
                except NotFound:  # removed while listing
                    continue
                out.append(
                    WorkspaceSummary(
                        name=name,
                        path=self.workspaces.shown(name),
                        created_at=created,
                        size_mb=usage.size_mb,
                        file_count=usage.file_count,
                        execution_count=counts.get(name, 0),
                    )
                )
            return out

        return await anyio.to_thread.run_sync(summaries)

    async def directories(self, name: str) -> WorkspaceDirectories:
        found = await anyio.to_thread.run_sync(self.workspaces.directories, name)
        rows = [DirectoryInfo(name=sub, path=sub, size_mb=usage.size_mb, file_count=usage.file_count) for sub, usage in found]
        return WorkspaceDirectories(
            workspace=name,
            workspace_root=self.workspaces.shown(name),
            directories=rows,
            total_size_mb=round(sum(r.size_mb for r in rows), 3),
        )

    async def files(self, name: str, directory: str, extension: str | None, limit: int, offset: int) -> FileListing:
        found = await anyio.to_thread.run_sync(self.workspaces.files, name, directory, extension)
        page = found[offset : offset + limit]
        shown = "/".join(p for p in directory.split("/") if p not in ("", "."))
        return FileListing(workspace=name, directory=shown, files=page, total=len(found), limit=limit, offset=offset)

    async def open_file(self, name: str, file_path: str) -> OpenFile:
        """The file, open (the caller closes `fd`, or hands it to `refuse_whole`)."""
        fd, info = await anyio.to_thread.run_sync(self.workspaces.open_file, name, file_path)
        name_only = file_path.rstrip("/").rsplit("/", 1)[-1]
        return OpenFile(
            fd=fd,
            size=info.st_size,
            mime_type=mime_type(name_only),
            etag=f'"{info.st_ino:x}-{info.st_size:x}-{info.st_mtime_ns:x}"',
            modified=info.st_mtime,
            name=name_only,
        )

    def refuse_whole(self, opened: OpenFile, *, ranged: bool) -> None:
        """A file over `max_file_read_mb` is served only in ranges (TooLarge, fd closed)."""
        cap = int(self._settings.max_file_read_mb * 1024 * 1024)
        if opened.size > cap and not ranged:
            os.close(opened.fd)
            raise TooLarge(
                f"The file is {opened.size} bytes, over the {self._settings.max_file_read_mb:g} MB served at once; ask for a Range",
                details={"size_bytes": opened.size, "max_file_read_mb": self._settings.max_file_read_mb},
            )

    def config(self) -> WorkspaceConfig:
        s = self._settings
        return WorkspaceConfig(
            system_workspace=self.workspaces.shown_as,
            output_dir=self.workspaces.shown(DEFAULT, WORKING),
            working_directory_name=WORKING,
            longterm_directory_name=LONGTERM,
            max_workspace_size_mb=s.max_workspace_size_mb,
            auto_cleanup_enabled=s.auto_cleanup_enabled,
            cleanup_after_days=s.cleanup_after_days,
            cleanup_interval_seconds=s.cleanup_interval_seconds,
            max_file_read_mb=s.max_file_read_mb,
            autocreate=s.workspace_autocreate,
            default_workspace=DEFAULT,
        )

    # -- writes ------------------------------------------------------------------------

    async def create(self, name: str) -> WorkspaceSummary:
        await anyio.to_thread.run_sync(self.workspaces.create, name)
        return next(w for w in await self.summaries() if w.name == name)

    async def change_directory(
        self, name: str, action: Literal["create", "delete"], directory_name: str, parent_path: str | None
    ) -> DirectoryChanged:
        relative = self._under(name, parent_path, directory_name)
        if action == "create":
            made = await anyio.to_thread.run_sync(self.workspaces.make_directory, name, relative)
            return DirectoryChanged(status="created", workspace=name, directory_path=made, message="Directory created successfully")
        running = await self._still_going()
        gone = await anyio.to_thread.run_sync(self.workspaces.remove_directory, name, relative, running)
        return DirectoryChanged(status="deleted", workspace=name, directory_path=gone, message="Directory deleted")

    def _under(self, name: str, parent_path: str | None, directory_name: str) -> str:
        """`directory_name` under `parent_path`, both relative to the workspace. The
        workspace's root as the directories route shows it is accepted as the parent."""
        parent = parent_path or ""
        if parent in (self.workspaces.shown(name), self.workspaces.shown(name) + "/"):
            parent = ""
        return f"{parent.rstrip('/')}/{directory_name}" if parent else directory_name

    async def _still_going(self) -> set[str]:
        return {owned.execution.execution_id for owned in await self._runtime.executions_in(ACTIVE)}

    # -- clean-up ----------------------------------------------------------------------

    async def clean_up(self) -> list[str]:
        """Remove run folders untouched for `cleanup_after_days` whose run has ended (or is
        unknown); never a folder of a run still going. Returns the removed `workspace/id`s."""
        cutoff = older_than(self._settings.cleanup_after_days)
        running = await self._still_going()
        removed: list[str] = []

        def sweep() -> None:
            for name in self.workspaces.names():
                try:
                    folders = self.workspaces.run_folders(name)
                except NotFound:
                    continue
                for execution_id, newest in folders:
                    if newest < cutoff and execution_id not in running and not self._is_live(execution_id):
                        self.workspaces.remove_run_folder(name, execution_id)
                        removed.append(f"{name}/{execution_id}")

        await anyio.to_thread.run_sync(sweep)
        if removed:
            log.info("workspace clean-up removed %d run folder(s) older than %g days", len(removed), self._settings.cleanup_after_days)
        return removed

    async def clean_up_forever(self) -> None:
        """The lifespan's schedule: a sweep at start, then every `cleanup_interval_seconds`."""
        while True:
            try:
                await self.clean_up()
            except Exception:
                log.exception("workspace clean-up failed; trying again at the next interval")
            await anyio.sleep(self._settings.cleanup_interval_seconds)
