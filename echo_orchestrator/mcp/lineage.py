"""Which run a tool call comes from, carried to the MCP servers it calls.

A run's tool call may reach this service's own MCP server face (a workflow calling another
through the hub): the call says, in its request's `_meta`, which run made it and how deep
the chain already is, so the face can record the parent on the run it starts and refuse a
chain past `ECHO_MCP_MAX_DEPTH` (a workflow calling itself would otherwise never end).
The engine sets `CURRENT` while it runs an execution; the hub reads it for every call.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

from mcp_types import RequestParamsMeta

PARENT_KEY = "io.echo-orchestrator/parent-execution"
DEPTH_KEY = "io.echo-orchestrator/call-depth"
MAX_ID_LENGTH = 100


@dataclass(frozen=True, slots=True)
class RunLineage:
    execution_id: str
    depth: int  # 0 for a run a person or a program started


CURRENT: ContextVar[RunLineage | None] = ContextVar("echo_current_run", default=None)


def call_meta() -> RequestParamsMeta | None:
    """The `_meta` entries for a tool call made now: the calling run, and the depth the run
    the call may start would have. None outside a run."""
    run = CURRENT.get()
    if run is None:
        return None
    return cast(RequestParamsMeta, {PARENT_KEY: run.execution_id, DEPTH_KEY: run.depth + 1})


def from_meta(meta: Mapping[str, Any] | None) -> RunLineage | None:
    """The calling run a request's `_meta` names, if it names one well-formed."""
    if not meta:
        return None
    parent, depth = meta.get(PARENT_KEY), meta.get(DEPTH_KEY)
    if not isinstance(parent, str) or not 0 < len(parent) <= MAX_ID_LENGTH:
        return None
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        return None
    return RunLineage(parent, depth)
