"""Workspaces, their folders and files (ouroboros document: Workspace Endpoints;
docs/workspaces.md). Every name and path goes through the workspace resolver."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from echo_orchestrator.api.etags import IfNoneMatch
from echo_orchestrator.api.file_responses import file_response, wants_range
from echo_orchestrator.api.schemas.paging import MAX_OFFSET
from echo_orchestrator.api.schemas.workspaces import (
    CreateWorkspaceRequest,
    DirectoryChanged,
    DirectoryRequest,
    FileListing,
    RelativePath,
    WorkspaceCheckpoints,
    WorkspaceConfig,
    WorkspaceDirectories,
    WorkspaceList,
    WorkspaceName,
    WorkspaceSummary,
    workspace_checkpoint,
)
from echo_orchestrator.container import Services

RangeHeader = Annotated[str | None, HeaderParameter(name="Range", required=False, max_length=200, description="one `bytes=` range")]
IfRange = Annotated[str | None, HeaderParameter(name="If-Range", required=False, max_length=200, description="the ETag a range is of")]


class WorkspaceController(Controller):
    tags = ["workspaces"]

    @get("/workspace/directories", summary="A workspace's folders, with sizes and file counts")
    async def get_directories(
        self, services: NamedDependency[Services], workspace: Annotated[WorkspaceName, QueryParameter()] = "default"
    ) -> WorkspaceDirectories:
        return await services.workspaces.directories(workspace)

    @post("/workspace/directories", status_code=HTTP_200_OK, summary="Create or delete a folder inside a workspace")
    async def change_directory(self, services: NamedDependency[Services], data: JSONBody[DirectoryRequest]) -> DirectoryChanged:
        return await services.workspaces.change_directory(data.workspace, data.action, data.directory_name, data.parent_path)

    @get("/service/workspaces", summary="Workspaces, with size and execution count")
    async def list_workspaces(self, services: NamedDependency[Services]) -> WorkspaceList:
        found = await services.workspaces.summaries()
        return WorkspaceList(workspaces=found, total=len(found))

    @post("/service/workspaces", status_code=HTTP_201_CREATED, summary="Create a workspace")
    async def create_workspace(self, services: NamedDependency[Services], data: JSONBody[CreateWorkspaceRequest]) -> WorkspaceSummary:
        return await services.workspaces.create(data.name)

    @get("/service/workspaces/{name:str}/files", summary="Files of a workspace (recursively), by path")
    async def list_files(
        self,
        services: NamedDependency[Services],
        name: FromPath[str],
        directory: Annotated[RelativePath, QueryParameter()] = "",
        extension: Annotated[str | None, QueryParameter(description="e.g. md or .md")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
    ) -> FileListing:
        return await services.workspaces.files(name, directory, extension, limit, offset)

    @get(
        "/service/workspaces/{name:str}/files/content",
        summary="A file's content, streamed, with its type; ETag and single byte ranges",
    )
    async def get_file_content(
        self,
        services: NamedDependency[Services],
        name: FromPath[str],
        file_path: FromQuery[RelativePath],
        range_header: RangeHeader = None,
        if_range: IfRange = None,
        if_none_match: IfNoneMatch = None,
    ) -> Response[bytes] | Stream:
        opened = await services.workspaces.open_file(name, file_path)
        services.workspaces.refuse_whole(opened, ranged=wants_range(range_header, if_range, opened.etag))
        return file_response(opened, range_header, if_range, if_none_match)

    @get("/service/workspace-config", summary="Workspace settings: folders as configured, limits, clean-up")
    async def get_workspace_config(self, services: NamedDependency[Services]) -> WorkspaceConfig:
        return services.workspaces.config()

    @get("/service/workspaces/{name:str}/checkpoints", summary="Checkpoints of a workspace's executions")
    async def list_workspace_checkpoints(
        self,
        services: NamedDependency[Services],
        name: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
    ) -> WorkspaceCheckpoints:
        await services.workspaces.require(name)
        items, total = await services.checkpoints.find(workspace=name, limit=limit)
        return WorkspaceCheckpoints(workspace=name, checkpoints=[workspace_checkpoint(c) for c in items], total=total)
