"""A run's own files: `Working_Directory/<execution_id>/` of the workspace it runs in.

The file tools and plugin graphs reach it through `current_files()` (set for the run's
tasks, like the graph context); every path goes through the workspace's resolver, every
write through its size limit, and each written file is reported to the run (an
`output_file` event).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path

import anyio.to_thread

from echo_orchestrator.errors import BadRequest, NotFound, TooLarge
from echo_orchestrator.store.workspaces.folders import WORKING, FileEntry, Workspaces
from echo_orchestrator.store.workspaces.safe_paths import open_regular, resolve_inside

FileObserver = Callable[[FileEntry], Awaitable[None]]

# What read_file hands a model at most; larger files are read in pieces (offset, limit).
MAX_TOOL_READ = 1024 * 1024


class RunFiles:
    """One run's folder. Created on first use, so runs that make no files leave none."""

    def __init__(self, workspaces: Workspaces, workspace: str, execution_id: str, on_written: FileObserver | None = None) -> None:
        self.workspaces = workspaces
        self.workspace = workspace
        self.execution_id = execution_id
        self._on_written = on_written

    @property
    def relative_root(self) -> str:
        """The run's folder relative to its workspace."""
        return f"{WORKING}/{self.execution_id}"

    def directory(self) -> Path:
        """The run's folder on disk (made if missing): for plugin graphs that write files
        themselves. Files written here are listed like the tools' files."""
        folder = self.workspaces.run_folder(self.workspace, self.execution_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _resolve(self, path: str) -> Path:
        return resolve_inside(self.directory(), path, field="path", below=True)

    async def write(self, path: str, content: bytes) -> FileEntry:
        def write() -> FileEntry:
            target = self._resolve(path)
            info = self.workspaces.write(self.workspace, target, content)
            return self.workspaces.entry(self.workspace, target, info)

        entry = await anyio.to_thread.run_sync(write)
        if self._on_written is not None:
            await self._on_written(entry)
        return entry

    async def read(self, path: str, offset: int = 0, limit: int = MAX_TOOL_READ) -> tuple[bytes, int]:
        """Up to `limit` bytes from `offset`, and the file's size."""
        if limit > MAX_TOOL_READ:
            raise TooLarge(f"read at most {MAX_TOOL_READ} bytes at a time", details={"limit": MAX_TOOL_READ})

        def read() -> tuple[bytes, int]:
            fd = open_regular(self._resolve(path), field="path")
            try:
                size = os.fstat(fd).st_size
                return os.pread(fd, limit, offset), size
            finally:
                os.close(fd)

        return await anyio.to_thread.run_sync(read)

    async def listing(self, directory: str = "") -> list[FileEntry]:
        def listing() -> list[FileEntry]:
            root = self.directory()
            relative = f"{self.relative_root}/{directory}" if directory else self.relative_root
            resolve_inside(root, directory, field="directory")
            try:
                return self.workspaces.files(self.workspace, relative)
            except NotFound:
                return []

        return await anyio.to_thread.run_sync(listing)

    def files(self) -> list[FileEntry]:
        """What the run has made so far (blocking; for the end of a run)."""
        return self.workspaces.run_files(self.workspace, self.execution_id)


current_files: ContextVar[RunFiles | None] = ContextVar("echo_run_files", default=None)


def run_files() -> RunFiles:
    """The files of the run calling; BadRequest outside a run (a direct tool call)."""
    files = current_files.get()
    if files is None:
        raise BadRequest("File tools work inside an execution: they read and write that run's folder")
    return files
