"""Reading one definition file: an entity, or a problem naming the file and field.

Shared by the store's index and `echo-orchestrator validate`, so the CLI reports exactly
what the running service would skip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import msgspec

from echo_orchestrator.models import Agent, McpSettings, Workflow
from echo_orchestrator.models.triggers import Schedule
from echo_orchestrator.store.definitions import codec
from echo_orchestrator.store.definitions.base import Problem
from echo_orchestrator.store.definitions.layout import Layout, Location

Entity = Agent | Workflow | McpSettings | Schedule


# (mtime_ns, size, inode): a file whose signature is unchanged needs no re-read.
Signature = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Loaded:
    path: Path
    signature: Signature | None  # None: the file is gone
    location: Location | None
    entity: Entity | None = None
    problem: Problem | None = None


def signature_of(path: Path) -> Signature | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _mismatch(layout: Layout, path: Path, field: str, found: str, expected: str) -> Problem:
    return Problem(relative(layout, path), field, f"{found!r} does not match the file name (expected {expected!r})")


def relative(layout: Layout, path: Path) -> str:
    try:
        return path.relative_to(layout.root).as_posix()
    except ValueError:
        return str(path)


def check_identity(layout: Layout, path: Path, location: Location, entity: Entity) -> Problem | None:
    """The file name and the content must name the same entity (and version)."""
    if isinstance(entity, Agent) and entity.agent_id != location.entity_id:
        return _mismatch(layout, path, "agent_id", entity.agent_id, location.entity_id)
    if isinstance(entity, Schedule) and entity.schedule_id != location.entity_id:
        return _mismatch(layout, path, "schedule_id", entity.schedule_id, location.entity_id)
    if isinstance(entity, Workflow):
        if entity.workflow_id != location.entity_id:
            return _mismatch(layout, path, "workflow_id", entity.workflow_id, location.entity_id)
        if location.version is not None and entity.version != location.version:
            return _mismatch(layout, path, "version", entity.version, location.version)
        if (kept := entity.agent_definitions) is not None:
            # A version runs the agents it keeps: each under its own id, every member there.
            for key, agent in kept.items():
                if agent.agent_id != key:
                    return Problem(relative(layout, path), f"agent_definitions.{key}.agent_id", f"is {agent.agent_id!r}, not {key!r}")
            if missing := [a for a in entity.agents if a not in kept]:
                return Problem(relative(layout, path), "agent_definitions", f"lacks the definition of member agent(s) {', '.join(missing)}")
    return None


def load(layout: Layout, path: Path) -> Loaded:
    """Read and check one file. Never raises for bad content; only the caller's bugs raise."""
    location = layout.locate(path)
    signature = signature_of(path)
    if signature is None:
        return Loaded(path, None, location)
    if location is None:
        problem = Problem(
            relative(layout, path),
            "",
            "file name does not follow the layout (<id>.json, <id>.temp.json or <id>.v<version>.json)",
        )
        return Loaded(path, signature, None, problem=problem)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Loaded(path, None, location)
    except OSError as exc:
        return Loaded(path, signature, location, problem=Problem(relative(layout, path), "", f"unreadable: {exc}"))
    target = _MODEL_OF[location.kind]
    try:
        entity = codec.decode(data, target)
    except msgspec.ValidationError as exc:
        field, message = codec.split_error(exc)
        return Loaded(path, signature, location, problem=Problem(relative(layout, path), field, message))
    except msgspec.DecodeError as exc:
        return Loaded(path, signature, location, problem=Problem(relative(layout, path), "", f"not valid JSON: {exc}"))
    if mismatch := check_identity(layout, path, location, entity):
        return Loaded(path, signature, location, problem=mismatch)
    return Loaded(path, signature, location, entity=entity)


_MODEL_OF: dict[str, type[Agent] | type[Workflow] | type[McpSettings] | type[Schedule]] = {
    "agent": Agent,
    "draft": Workflow,
    "temp": Workflow,
    "final": Workflow,
    "mcp_settings": McpSettings,
    "schedule": Schedule,
}


def candidate_files(layout: Layout) -> list[Path]:
    """Every file the store would read: JSON files in the definition folders, and MCP settings."""
    files: list[Path] = []
    for folder in layout.definition_dirs():
        try:
            with os.scandir(folder) as entries:
                files.extend(Path(e.path) for e in entries if e.is_file() and layout.is_definition_candidate(Path(e.path)))
        except FileNotFoundError:
            continue
    if layout.mcp_settings.is_file():
        files.append(layout.mcp_settings)
    return files
