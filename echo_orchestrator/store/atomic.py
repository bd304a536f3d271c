"""Crash-safe file operations.

A replaced file is written to a temp file in the same folder, fsynced, renamed over the
target with `os.replace`, and the folder is fsynced: a reader (or a crash) sees the old
bytes or the new ones, never a torn file. An immutable file is published with `os.link`,
which fails if the name exists, so of two racing creators (threads or processes) exactly
one wins, and the winner's file is complete the moment its name appears.

Temp files are named `.<target>.<pid>.<random>.tmp`; `sweep_temp_files` removes those
whose writer process is gone, so a start-up never deletes another live worker's write.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from echo_orchestrator.lifecycle.ownership import pid_alive

TEMP_SUFFIX = ".tmp"


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def _temp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(target: Path, data: bytes) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


def write_atomic(target: Path, data: bytes) -> None:
    """Replace `target` with `data`, all or nothing."""
    tmp = _write_temp(target, data)
    try:
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def create_exclusive(target: Path, data: bytes) -> None:
    """Create `target` with `data`; raise FileExistsError if it exists (across processes)."""
    tmp = _write_temp(target, data)
    try:
        os.link(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(target.parent)


def remove(target: Path) -> bool:
    """Delete `target` durably; False if it was not there."""
    try:
        target.unlink()
    except FileNotFoundError:
        return False
    _fsync_dir(target.parent)
    return True


def sweep_temp_files(folder: Path) -> list[Path]:
    """Remove temp files left under `folder` by writers that died mid-write."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in folder.rglob(f".*{TEMP_SUFFIX}"):
        parts = path.name[: -len(TEMP_SUFFIX)].rsplit(".", 2)
        pid = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None
        if pid is not None and pid_alive(pid):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


# A folder of runtime data ignores itself (as virtualenvs do): git leaves it out wherever it sits.
SELF_IGNORE = "# Written by echo-orchestrator: runtime data, never versioned.\n*\n"


def ensure_ignored_folder(folder: Path) -> None:
    """A folder of runtime data that git ignores wherever it sits."""
    folder.mkdir(parents=True, exist_ok=True)
    write_if_missing(folder / ".gitignore", SELF_IGNORE)


def write_if_missing(path: Path, text: str) -> None:
    """Write a small file unless it exists (then it is the user's). Other errors are
    ignored: a read-only folder still serves reads."""
    with contextlib.suppress(OSError), path.open("x", encoding="utf-8") as file:
        file.write(text)
