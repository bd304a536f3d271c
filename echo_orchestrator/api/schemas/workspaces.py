"""Bodies of the workspace routes (ouroboros document: Workspace Endpoints). Paths in them
are relative to the workspace; roots are shown as configured."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from echo_orchestrator.services.checkpoints import CheckpointView
from echo_orchestrator.services.workspaces import (
    DirectoryChanged,
    DirectoryInfo,
    FileListing,
    WorkspaceConfig,
    WorkspaceDirectories,
    WorkspaceSummary,
)
from echo_orchestrator.store.workspaces.folders import FileEntry

__all__ = [  # the workspace service's answers
    "DirectoryChanged",
    "DirectoryInfo",
    "FileEntry",
    "FileListing",
    "WorkspaceConfig",
    "WorkspaceDirectories",
    "WorkspaceSummary",
]

# Checked by the workspace resolver, not here: every bad name or path gets the same 400
# (or 403, 404) with the field named, whichever route or tool it came through.
WorkspaceName = Annotated[str, msgspec.Meta(description="letters, digits, _ and -; at most 64", examples=["default"])]
RelativePath = Annotated[str, msgspec.Meta(description="relative to the workspace, folders separated by /; at most 1024 bytes")]


class DirectoryRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    action: Literal["create", "delete"]
    directory_name: RelativePath
    # Relative to the workspace (or its root as GET /workspace/directories shows it).
    parent_path: RelativePath | None = None
    workspace: WorkspaceName = "default"


class CreateWorkspaceRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: WorkspaceName


class WorkspaceList(msgspec.Struct, kw_only=True):
    workspaces: list[WorkspaceSummary]
    total: int


class WorkspaceCheckpoint(msgspec.Struct, kw_only=True):
    checkpoint_id: str
    execution_id: str
    created_at: str
    size_kb: float


class WorkspaceCheckpoints(msgspec.Struct, kw_only=True):
    workspace: str
    checkpoints: list[WorkspaceCheckpoint]
    total: int


def workspace_checkpoint(c: CheckpointView) -> WorkspaceCheckpoint:
    return WorkspaceCheckpoint(checkpoint_id=c.checkpoint_id, execution_id=c.execution_id, created_at=c.created_at, size_kb=c.size_kb)
