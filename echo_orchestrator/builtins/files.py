"""File tools: what an agent writes, reads and lists stays in its run's own folder
(`Working_Directory/<execution_id>/` of the run's workspace; see docs/workspaces.md)."""

from __future__ import annotations

import msgspec

from echo_orchestrator.engine.files import MAX_TOOL_READ, run_files
from echo_orchestrator.errors import BadRequest
from echo_orchestrator.registry.spec import tool
from echo_orchestrator.store.workspaces.folders import FileEntry


class RunFile(msgspec.Struct):
    path: str  # relative to the run's folder
    size_bytes: int
    mime_type: str


class Written(RunFile):
    workspace_path: str  # relative to the workspace: what the file routes take


class FileText(msgspec.Struct):
    path: str
    content: str
    size_bytes: int
    offset: int
    truncated: bool


class FileList(msgspec.Struct):
    files: list[RunFile]
    total: int


def _in_run(entry: FileEntry, root: str) -> RunFile:
    return RunFile(path=entry.path.removeprefix(root + "/"), size_bytes=entry.size_bytes, mime_type=entry.mime_type)


@tool
async def write_file(path: str, content: str) -> Written:
    """Write a text file (UTF-8) in this run's folder, replacing it if it exists. `path` is relative, e.g. "report.md" or "data/out.csv"."""
    files = run_files()
    entry = await files.write(path, content.encode("utf-8"))
    found = _in_run(entry, files.relative_root)
    return Written(path=found.path, size_bytes=found.size_bytes, mime_type=found.mime_type, workspace_path=entry.path)


@tool
async def read_file(path: str, offset: int = 0, limit: int = 65536) -> FileText:
    """Read a text file of this run's folder (UTF-8), from `offset` for at most `limit` bytes."""
    if offset < 0 or not 1 <= limit <= MAX_TOOL_READ:
        raise BadRequest(f"offset must be >= 0 and limit between 1 and {MAX_TOOL_READ}")
    data, size = await run_files().read(path, offset, limit)
    return FileText(path=path, content=data.decode("utf-8", "replace"), size_bytes=size, offset=offset, truncated=offset + len(data) < size)


@tool
async def list_files(directory: str = "") -> FileList:
    """List the files in this run's folder (or one of its sub-folders), with sizes and types."""
    files = run_files()
    found = [_in_run(e, files.relative_root) for e in await files.listing(directory)]
    return FileList(files=found, total=len(found))
