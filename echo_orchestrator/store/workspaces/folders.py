"""Workspaces: named folders where runs keep the files they make.

    <root>/<name>/Working_Directory/<execution_id>/   one folder per run (its scratch space)
    <root>/<name>/Longterm_Directory/                  kept across runs

Every path a caller names goes through `safe_paths.resolve_inside`. Walks never follow a
symbolic link (a link is neither listed nor counted), so a link made by hand or by a tool
cannot make a listing or a size reach outside the workspace. All of this is blocking
filesystem work: services call it in a worker thread.
"""

from __future__ import annotations

import mimetypes
import os
import re
import shutil
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from echo_orchestrator.errors import Conflict, NotFound, UnsafePath, WorkspaceFull
from echo_orchestrator.store.atomic import is_temp_name, write_atomic
from echo_orchestrator.store.workspaces.safe_paths import open_regular, path_parts, resolve_inside

WORKING = "Working_Directory"
LONGTERM = "Longterm_Directory"
DEFAULT = "default"
# When the workspace was made, written once in it: Linux has no folder birth time, and a
# folder's ctime moves whenever anything is added to it. Hidden from listings and sizes.
CREATED_MARKER = ".echo-workspace-created"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_EXTENSION = re.compile(r"^\.?[A-Za-z0-9_+-]{1,32}$")
_MB = 1024 * 1024
SIZE_TTL = 5.0


class FileEntry(msgspec.Struct, kw_only=True, frozen=True):
    """A file of a workspace, as listings and an execution's info show it."""

    name: str
    path: str  # relative to the workspace, with /
    size_bytes: int
    created_at: datetime
    modified_at: datetime
    mime_type: str


@dataclass(frozen=True, slots=True)
class Usage:
    size_bytes: int
    file_count: int

    @property
    def size_mb(self) -> float:
        return round(self.size_bytes / _MB, 3)


def mime_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _walk(folder: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Regular files under `folder`, depth first, links never followed."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return
    for entry in entries:
        if entry.is_symlink() or is_temp_name(entry.name) or entry.name == CREATED_MARKER:
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
        elif entry.is_file(follow_symlinks=False):
            try:
                yield Path(entry.path), entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue


def usage_of(folder: Path) -> Usage:
    size = count = 0
    for _path, info in _walk(folder):
        size += info.st_size
        count += 1
    return Usage(size, count)


class Workspaces:
    """The workspaces folder. `shown_as` is the root as configured: what responses show."""

    def __init__(self, root: Path, *, shown_as: str, max_size_mb: float, autocreate: bool = False) -> None:
        self.root = root
        self.shown_as = shown_as
        self.max_size_mb = max_size_mb
        self.max_bytes = int(max_size_mb * _MB)
        self.autocreate = autocreate
        self._write_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        # A workspace's size as last walked (bytes, when), kept up to date by our own writes
        # and walked again when older than SIZE_TTL: a write costs a walk of the whole
        # workspace at most that often (88 ms with 10,000 files), not every time.
        self._sizes: dict[str, tuple[int, float]] = {}

    # -- names -----------------------------------------------------------------------

    @staticmethod
    def check_name(name: str) -> str:
        if _NAME.fullmatch(name) is None:
            raise UnsafePath.at("workspace", "letters, digits, _ and -; at most 64", f"Not a valid workspace name: {name[:80]!r}")
        return name

    def ensure_default(self) -> None:
        self._make(DEFAULT)

    def _make(self, name: str) -> Path:
        folder = self.root / name
        made = not folder.is_dir()
        for sub in (WORKING, LONGTERM):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        if made:  # one that existed gets its marker from its folders' times when first asked
            self._mark_created(folder)
        return folder

    @staticmethod
    def _mark_created(folder: Path, when: datetime | None = None) -> datetime:
        """The workspace's creation time, written once (exclusive create) and read after."""
        marker = folder / CREATED_MARKER
        try:
            with marker.open("x", encoding="utf-8") as file:
                moment = when or datetime.now(UTC)
                file.write(moment.isoformat() + "\n")
                return moment
        except FileExistsError:
            try:
                return datetime.fromisoformat(marker.read_text(encoding="utf-8").strip())
            except (OSError, ValueError):
                return when or _time(folder.stat().st_mtime)

    def names(self) -> list[str]:
        try:
            entries = os.scandir(self.root)
        except FileNotFoundError:
            return []
        with entries:
            return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False) and _NAME.fullmatch(e.name))

    def folder(self, name: str) -> Path:
        """An existing workspace's folder; NotFound otherwise (a link is not a workspace)."""
        folder = self.root / self.check_name(name)
        if not folder.is_dir() or folder.is_symlink():
            raise NotFound(f"Workspace '{name}' not found", details={"workspace": name})
        return folder

    def open_for_run(self, name: str) -> Path:
        """The workspace an execution names: it must exist, or is made when allowed."""
        try:
            return self.folder(name)
        except NotFound:
            if not self.autocreate:
                raise NotFound(
                    f"Workspace '{name}' not found (set ECHO_WORKSPACE_AUTOCREATE=true to create workspaces on first use)",
                    details={"workspace": name},
                ) from None
            return self._make(name)

    def create(self, name: str) -> Path:
        self.check_name(name)
        if (self.root / name).exists():
            raise Conflict(f"Workspace '{name}' already exists", details={"workspace": name})
        return self._make(name)

    def created_at(self, name: str) -> datetime:
        """Stable: what the marker says. A workspace made before markers gets one now, from
        the oldest time its folders show (their change times only move later)."""
        folder = self.folder(name)
        if not (folder / CREATED_MARKER).exists():
            oldest = min(p.stat().st_ctime for p in (folder, folder / WORKING, folder / LONGTERM) if p.exists())
            return self._mark_created(folder, _time(oldest))
        return self._mark_created(folder)

    def shown(self, name: str, relative: str = "") -> str:
        """A path as responses show it: under the configured root, never resolved."""
        return "/".join(part for part in (self.shown_as, name, relative) if part)

    # -- paths -----------------------------------------------------------------------

    def resolve(self, name: str, relative: str, *, field: str, below: bool = False) -> Path:
        return resolve_inside(self.folder(name), relative, field=field, below=below)

    def relative(self, name: str, path: Path) -> str:
        return path.relative_to(self.folder(name).resolve()).as_posix()

    def run_folder(self, name: str, execution_id: str) -> Path:
        """`Working_Directory/<execution_id>` of an existing workspace (not created here)."""
        return self.resolve(name, f"{WORKING}/{execution_id}", field="execution_id")

    # -- reading -----------------------------------------------------------------------

    def usage(self, name: str, relative: str = "") -> Usage:
        return usage_of(self.resolve(name, relative, field="directory"))

    def entry(self, name: str, path: Path, info: os.stat_result, base: Path | None = None) -> FileEntry:
        """`path` as listings show it; `base`, the workspace's resolved folder, when known."""
        return FileEntry(
            name=path.name,
            path=self.relative(name, path) if base is None else path.relative_to(base).as_posix(),
            size_bytes=info.st_size,
            created_at=_time(getattr(info, "st_birthtime", info.st_ctime)),
            modified_at=_time(info.st_mtime),
            mime_type=mime_type(path.name),
        )

    def files(self, name: str, directory: str = "", extension: str | None = None) -> list[FileEntry]:
        """Files under `directory` (recursively), by path."""
        folder = self.resolve(name, directory, field="directory")
        if not folder.is_dir():
            raise NotFound.at("directory", "no such folder", f"directory: no such folder in workspace '{name}'")
        suffix = None
        if extension:
            if _EXTENSION.fullmatch(extension) is None:
                raise UnsafePath.at("extension", "letters, digits, _ + -; at most 32, with or without a leading dot")
            suffix = "." + extension.lstrip(".").lower()
        base = self.folder(name).resolve()
        return [self.entry(name, path, info, base) for path, info in _walk(folder) if suffix is None or path.name.lower().endswith(suffix)]

    def run_files(self, name: str, execution_id: str) -> list[FileEntry]:
        """The files a run has made ([] when it made none, or its folder or workspace is gone)."""
        try:
            return self.files(name, f"{WORKING}/{execution_id}")
        except NotFound:
            return []

    def open_file(self, name: str, file_path: str) -> tuple[int, os.stat_result]:
        """A descriptor of a regular file of the workspace, and its stat."""
        fd = open_regular(self.resolve(name, file_path, field="file_path", below=True), field="file_path")
        return fd, os.fstat(fd)

    def directories(self, name: str) -> list[tuple[str, Usage]]:
        """The workspace's top-level folders and what each holds."""
        folder = self.folder(name)
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
        return [(sub, usage_of(folder / sub)) for sub in names]

    # -- writing -----------------------------------------------------------------------

    def _lock(self, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._write_locks.setdefault(name, threading.Lock())

    def write(self, name: str, target: Path, data: bytes) -> os.stat_result:
        """Write `data` to `target` (resolved inside workspace `name`), all or nothing, unless
        the workspace would then hold more than its limit. The size check and the write are
        one step for writers of this process."""
        with self._lock(name):
            known = self._sizes.get(name)
            if known is None or time.monotonic() - known[1] > SIZE_TTL:
                known = self._sizes[name] = (usage_of(self.folder(name)).size_bytes, time.monotonic())
            total = known[0]
            try:
                replaced = target.lstat().st_size if stat.S_ISREG(target.lstat().st_mode) else 0
            except FileNotFoundError:
                replaced = 0
            if total - replaced + len(data) > self.max_bytes:
                raise WorkspaceFull(
                    f"Workspace '{name}' would hold {(total - replaced + len(data)) / _MB:.2f} MB, over its limit of "
                    f"{self.max_size_mb:g} MB (max_workspace_size_mb)",
                    details={"workspace": name, "limit_mb": self.max_size_mb},
                )
            if target.is_dir():
                raise UnsafePath.at("path", "is a folder, not a file")
            write_atomic(target, data)
            self._sizes[name] = (total - replaced + len(data), known[1])
            return target.stat()

    def make_directory(self, name: str, relative: str) -> str:
        target = self.resolve(name, relative, field="directory_name", below=True)
        if target.exists():
            raise Conflict(f"'{relative}' already exists in workspace '{name}'", details={"directory": relative})
        target.mkdir(parents=True)
        return self.relative(name, target)

    def remove_directory(self, name: str, relative: str, running: set[str]) -> str:
        """Delete a folder and what it holds; never the two standard folders, never the
        folder of a run that is still going (`running`: their execution ids)."""
        parts = path_parts(relative, field="directory_name")
        if parts in ((), (WORKING,), (LONGTERM,)):
            raise Conflict(f"'{relative or '.'}' is a standard folder of the workspace and cannot be deleted")
        if len(parts) >= 2 and parts[0] == WORKING and parts[1] in running:
            raise Conflict(f"Execution {parts[1]} is still going; its folder cannot be deleted", details={"execution_id": parts[1]})
        target = self.resolve(name, relative, field="directory_name")
        if target.is_symlink() or not target.is_dir():
            raise NotFound.at("directory_name", "no such folder", f"directory_name: no such folder in workspace '{name}'")
        shown = self.relative(name, target)
        shutil.rmtree(target)  # removes links, never follows them
        self._sizes.pop(name, None)
        return shown

    def run_folders(self, name: str) -> list[tuple[str, float]]:
        """(execution id, newest modification time) of each run folder of a workspace."""
        working = self.folder(name) / WORKING
        try:
            entries = list(os.scandir(working))
        except FileNotFoundError:
            return []
        found: list[tuple[str, float]] = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                newest = max((info.st_mtime for _p, info in _walk(Path(entry.path))), default=entry.stat(follow_symlinks=False).st_mtime)
                found.append((entry.name, newest))
        return found

    def remove_run_folder(self, name: str, execution_id: str) -> bool:
        """Remove a run's folder; False when it has none."""
        folder = self.folder(name) / WORKING / execution_id
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)
            self._sizes.pop(name, None)
            return True
        return False


def older_than(days: float) -> float:
    return time.time() - days * 86400
