"""Read-only resources of the MCP server face, under a URI scheme of ours.

- `echo://workflows/{slug}/versions/{version}`: a final version, exactly as
  `GET /workflows/{id}/final/{version}` sends it (listed, one per version);
- `echo://executions/{execution_id}`: an execution with its steps and LLM calls, as
  `GET /executions/{id}/info` holds them (a template: executions are too many to list).
"""

from __future__ import annotations

import hashlib
from urllib.parse import unquote, urlsplit

import mcp_types as types
import msgspec

from echo_orchestrator.errors import NotFound
from echo_orchestrator.mcp_server.tools import paged
from echo_orchestrator.services.executions import ExecutionService
from echo_orchestrator.store.definitions.base import DefinitionStore, EntityRef, WorkflowQuery

SCHEME = "echo"
WORKFLOW_TEMPLATE = "echo://workflows/{slug}/versions/{version}"
EXECUTION_TEMPLATE = "echo://executions/{execution_id}"
JSON = "application/json"
PAGE = 200
ALL = 1_000_000

TEMPLATES = [
    types.ResourceTemplate(
        name="workflow-version",
        title="A final version of a workflow",
        uri_template=WORKFLOW_TEMPLATE,
        description="An immutable saved version of a workflow: agents, connections, steps, input fields",
        mime_type=JSON,
    ),
    types.ResourceTemplate(
        name="execution",
        title="An execution",
        uri_template=EXECUTION_TEMPLATE,
        description="A run: status, progress, inputs, outputs, error, steps and LLM calls",
        mime_type=JSON,
    ),
]


def workflow_uri(slug: str, version: str) -> str:
    return f"echo://workflows/{slug}/versions/{version}"


class Resources:
    def __init__(self, store: DefinitionStore, executions: ExecutionService) -> None:
        self._store, self._executions = store, executions
        self._built: tuple[int, list[types.Resource]] | None = None

    async def all(self) -> list[types.Resource]:
        """Every final version of every workflow that is not archived, built once per change."""
        revision = self._store.revision
        if self._built is None or self._built[0] != revision:
            found: list[types.Resource] = []
            for summary in (await self._store.list_workflows(WorkflowQuery(limit=ALL))).items:
                for version in summary.versions:
                    found.append(
                        types.Resource(
                            name=f"{summary.slug}@{version}",
                            title=f"{summary.name or summary.slug} {version}",
                            uri=workflow_uri(summary.slug, version),
                            description=summary.description or None,
                            mime_type=JSON,
                        )
                    )
            self._built = (revision, found)
        return self._built[1]

    async def fingerprint(self) -> str:
        """What the list looks like to a client (`list_changed` when it changes)."""
        listed = "\n".join(f"{r.uri}\t{r.title}\t{r.description}" for r in await self.all())
        return hashlib.sha256(listed.encode()).hexdigest()

    async def page(self, cursor: str | None) -> types.ListResourcesResult:
        resources, following = paged(await self.all(), cursor, PAGE)
        return types.ListResourcesResult(resources=resources, next_cursor=following)

    async def read(self, uri: str) -> types.ReadResourceResult:
        parts = urlsplit(uri)
        segments = [unquote(s) for s in parts.path.split("/") if s]
        body: bytes | None = None
        if parts.scheme == SCHEME and parts.netloc == "workflows" and len(segments) == 3 and segments[1] == "versions":
            body = (await self._store.encoded(EntityRef("final", segments[0], segments[2]))).body
        elif parts.scheme == SCHEME and parts.netloc == "executions" and len(segments) == 1:
            body = msgspec.json.encode(await self._executions.info(segments[0]))
        if body is None:
            raise NotFound(
                f"No resource {uri[:200]!r}: this server has {WORKFLOW_TEMPLATE} and {EXECUTION_TEMPLATE}",
                details={"uri": uri[:200]},
            )
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type=JSON, text=body.decode())])
