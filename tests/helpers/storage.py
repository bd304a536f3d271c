"""A copy of the shipped `storage/` for a test: its tracked files only, so nothing a user did
locally (a run's `runtime/`, a workspace, an edited agent not committed) changes a test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_UNTRACKED = shutil.ignore_patterns("runtime", "workspaces", ".*.tmp")


def copy_storage(dest: Path) -> Path:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", "storage"], cwd=REPO, capture_output=True, check=True, timeout=30
        ).stdout.decode()
        tracked = [name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        tracked = []
    if not tracked:  # not a git checkout (an sdist, a copy): all but the git-ignored folders
        shutil.copytree(REPO / "storage", dest, ignore=_UNTRACKED)
        return dest
    for name in tracked:
        target = dest / Path(name).relative_to("storage")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    for folder in ("agents", "workflows/draft", "workflows/temp", "workflows/final"):
        (dest / folder).mkdir(parents=True, exist_ok=True)
    return dest
