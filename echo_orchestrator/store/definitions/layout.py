"""Where each definition lives under the storage root, and what a path names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from echo_orchestrator.errors import Invalid
from echo_orchestrator.models.base import IDENTIFIER_PATTERN, VERSION_PATTERN
from echo_orchestrator.store.atomic import ensure_ignored_folder, write_if_missing

Kind = Literal["agent", "draft", "temp", "final", "mcp_settings", "schedule"]

_ID = IDENTIFIER_PATTERN.removeprefix("^").removesuffix(r"(?!\n)$")
_VERSION = VERSION_PATTERN.removeprefix("^").removesuffix(r"(?!\n)$")
_ID_RE = re.compile(_ID)
_VERSION_RE = re.compile(_VERSION)
_FINAL_NAME = re.compile(rf"^(?P<id>{_ID})\.v(?P<version>{_VERSION})\.json$")
_TEMP_NAME = re.compile(rf"^(?P<id>{_ID})\.temp\.json$")
_PLAIN_NAME = re.compile(rf"^(?P<id>{_ID})\.json$")

MCP_SETTINGS = "mcp_settings.json"
# Entity paths kept built (`Layout._file`): more than the definitions a folder usually holds.
_PATHS_KEPT = 4096

# A storage folder is meant to be kept in git: what it holds that is not a definition is
# ignored from the start, so `git add -A` in a new folder never commits the run database.
# The root's file is written only when there is none (it is the user's to edit); runtime/
# and workspaces/ ignore themselves (as virtualenvs do), which holds wherever the folder sits.
ROOT_GITIGNORE = """\
# Run history (SQLite) and execution workspaces are runtime data, not versioned definitions.
runtime/
workspaces/
# Temp files of an interrupted write; removed at the next start.
.*.tmp
"""


@dataclass(frozen=True, slots=True)
class Location:
    """What a definition path names: its kind, entity id and (for finals) version."""

    kind: Kind
    entity_id: str
    version: str | None = None


class Layout:
    """The storage folder's shape. Folder paths are computed once: `locate` runs per file event."""

    __slots__ = ("_built", "agents", "drafts", "finals", "mcp_settings", "root", "runtime", "schedules", "temps", "workspaces")

    def __init__(self, root: Path) -> None:
        self.root = root
        self.agents = root / "agents"
        self.drafts = root / "workflows" / "draft"
        self.temps = root / "workflows" / "temp"
        self.finals = root / "workflows" / "final"
        self.schedules = root / "schedules"
        self.runtime = root / "runtime"
        self.workspaces = root / "workspaces"
        self.mcp_settings = root / MCP_SETTINGS
        self._built: dict[tuple[str, str], Path] = {}

    def definition_dirs(self) -> tuple[Path, ...]:
        return (self.agents, self.drafts, self.temps, self.finals, self.schedules)

    def ensure(self) -> None:
        """The folders, and the ignore files that keep runtime data out of git."""
        for folder in self.definition_dirs():
            folder.mkdir(parents=True, exist_ok=True)
        write_if_missing(self.root / ".gitignore", ROOT_GITIGNORE)
        for folder in (self.runtime, self.workspaces):
            ensure_ignored_folder(folder)

    @staticmethod
    def is_entity_id(text: str) -> bool:
        """Can `text` name a definition file? (Ids are checked before any path is built.)"""
        return _ID_RE.fullmatch(text) is not None

    # Every file name built from a caller's id or version goes through `_checked`: nothing
    # else than a valid id (no separator, no "..", no NUL, at most 128 characters) ever
    # reaches the filesystem.
    @classmethod
    def _checked(cls, entity_id: str) -> str:
        if not cls.is_entity_id(entity_id):
            raise Invalid.at(
                "id",
                "letters, digits, _ . -; at most 128 characters",
                f"Not a valid id: {entity_id[:80]!r} (letters, digits, _ . -; at most 128)",
            )
        return entity_id

    def _file(self, kind: Kind, folder: Path, name: str) -> Path:
        """`folder / name`, the same object for the same file: a single-entity read checks its
        file's freshness by the path's hash and text, which pathlib builds anew (slowly) for
        each new object and keeps on the object. At most `_PATHS_KEPT` are kept, so ids a
        caller makes up cannot grow it."""
        key = (kind, name)
        path = self._built.get(key)
        if path is None:
            if len(self._built) >= _PATHS_KEPT:
                self._built.clear()
            path = self._built[key] = folder / name
        return path

    def agent_path(self, agent_id: str) -> Path:
        return self._file("agent", self.agents, f"{self._checked(agent_id)}.json")

    def schedule_path(self, schedule_id: str) -> Path:
        return self._file("schedule", self.schedules, f"{self._checked(schedule_id)}.json")

    def draft_path(self, workflow_id: str) -> Path:
        return self._file("draft", self.drafts, f"{self._checked(workflow_id)}.json")

    def temp_path(self, workflow_id: str) -> Path:
        return self._file("temp", self.temps, f"{self._checked(workflow_id)}.temp.json")

    def final_path(self, workflow_id: str, version: str) -> Path:
        if _VERSION_RE.fullmatch(version) is None:
            raise Invalid.at("version", "dotted integers", f"Not a valid version: {version[:40]!r}")
        return self._file("final", self.finals, f"{self._checked(workflow_id)}.v{version}.json")

    def locate(self, path: Path) -> Location | None:
        """Name what `path` holds, or None if it is not a definition file of this layout."""
        folder, name = path.parent, path.name
        if path == self.mcp_settings:
            return Location("mcp_settings", MCP_SETTINGS)
        if folder == self.finals:
            if m := _FINAL_NAME.match(name):
                return Location("final", m["id"], m["version"])
            return None
        if folder == self.temps:
            return Location("temp", m["id"]) if (m := _TEMP_NAME.match(name)) else None
        if folder == self.drafts:
            return Location("draft", m["id"]) if (m := _PLAIN_NAME.match(name)) else None
        if folder == self.agents:
            return Location("agent", m["id"]) if (m := _PLAIN_NAME.match(name)) else None
        if folder == self.schedules:
            return Location("schedule", m["id"]) if (m := _PLAIN_NAME.match(name)) else None
        return None

    def is_definition_candidate(self, path: Path) -> bool:
        """A JSON file in a definition folder, named right or not (misnamed ones are reported)."""
        return path.suffix == ".json" and not path.name.startswith(".") and path.parent in self.definition_dirs()
