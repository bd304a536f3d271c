"""Plugin tools (typed Python functions) called like MCP tools: input checked against their
schema, bounded by a timeout, failures reported as the tool's own."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.to_thread
import msgspec

from echo_orchestrator.errors import EchoError, Invalid, McpToolFailed, TimeoutExceeded
from echo_orchestrator.mcp.schema import input_errors
from echo_orchestrator.mcp.types import ToolCallResult
from echo_orchestrator.registry.spec import ToolSpec


def check_input(tool_id: str, schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> None:
    problems = input_errors(schema, dict(arguments))
    if problems:
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise Invalid(f"Invalid input for tool '{tool_id}': {summary}", details={"errors": problems})


async def call_plugin_tool(spec: ToolSpec, tool_id: str, arguments: Mapping[str, Any], timeout: float | None) -> ToolCallResult:
    """A plugin tool (a typed Python function) called in process, bounded by `timeout`."""
    check_input(tool_id, spec.input_schema, arguments)
    limit = timeout or 30.0
    began = time.perf_counter()
    try:
        with anyio.fail_after(limit):
            if spec.is_async:
                value = await spec.call(arguments)
            else:
                # Sync tools run in a worker thread; a timed-out one is abandoned, not killed.
                value = await anyio.to_thread.run_sync(spec.call, arguments, abandon_on_cancel=True)
    except TimeoutError:
        raise TimeoutExceeded(
            f"Tool '{tool_id}' did not finish within {limit:g}s", details={"tool_id": tool_id, "timeout": limit}
        ) from None
    except msgspec.ValidationError as exc:
        raise Invalid(f"Invalid input for tool '{tool_id}': {exc}", details={"tool_id": tool_id}) from exc
    except EchoError as exc:  # the tool refused on purpose (a path, a limit): its own status and code
        exc.details.setdefault("tool_id", tool_id)
        raise
    except Exception as exc:
        raise McpToolFailed(
            f"Tool '{tool_id}' failed: {type(exc).__name__}: {exc}",
            details={"tool_id": tool_id, "tool_error": f"{type(exc).__name__}: {exc}"},
        ) from exc
    output = msgspec.to_builtins(value)
    if not isinstance(output, dict):
        output = {"result": output}
    return ToolCallResult(
        tool_id=tool_id,
        status="completed",
        output=output,
        content=[{"type": "text", "text": msgspec.json.encode(output).decode()}],
        execution_time_ms=round((time.perf_counter() - began) * 1000, 1),
        cost_usd=None,
    )
