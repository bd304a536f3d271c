"""A tool call is a run: started as the REST routes start one, followed, answered.

The call starts an execution through the same service the REST routes use (its limits,
its caller, its egress rules), reports the run's steps as MCP progress when the client
asked for progress, and answers when the run ends or pauses, or after
`ECHO_MCP_CALL_TIMEOUT_SECONDS` with the execution id to go on with. A client that cancels
its call (closes the response stream, or sends `notifications/cancelled`) cancels the run
it started; a server that stops does not.

Every answer has one shape (`tools.result_schema`): structured content plus the same as text.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import mcp_types as types
import msgspec

from echo_orchestrator.engine.feed import EventFeed
from echo_orchestrator.errors import CallTooDeep, EchoError, Invalid
from echo_orchestrator.lifecycle import executions as lifecycle
from echo_orchestrator.mcp.lineage import RunLineage
from echo_orchestrator.mcp_server.tools import RESPOND_TOOL, WAIT_TOOL, Target
from echo_orchestrator.models import Execution, ExecutionConfig
from echo_orchestrator.security.callers import Caller
from echo_orchestrator.services.error_bodies import domain_error_body
from echo_orchestrator.services.executions import ExecutionService
from echo_orchestrator.settings import Settings

log = logging.getLogger(__name__)

# `progress(value, total, message)`: the client's progress notifications for this call.
Progress = Callable[[float, float | None, str | None], Awaitable[None]]
STARTED_BY = {"started_by": "mcp"}
FAILED = ("failed", "cancelled", "refused")


def text_result(envelope: dict[str, Any], summary: str) -> types.CallToolResult:
    """Structured content, and the same as text for clients that read only text."""
    return types.CallToolResult(
        content=[types.TextContent(text=summary), types.TextContent(text=json.dumps(envelope, default=str))],
        structured_content=envelope,
        is_error=envelope["status"] in FAILED,
    )


def refused(exc: EchoError, request_id: str) -> types.CallToolResult:
    """A run that could not start: the API's error object, as the REST route answers it."""
    error = msgspec.to_builtins(domain_error_body(exc, request_id).error)
    return text_result({"status": "refused", "error": error}, f"Refused: {error['message']} ({error['code']})")


def _arguments(arguments: Mapping[str, Any], name: str) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value:
        raise Invalid.at(name, "required string", f"{name} is required")
    return value


class _Steps:
    """The run's steps as MCP progress: strictly increasing, as the specification asks."""

    def __init__(self, report: Progress, total: int) -> None:
        self._report, self.total, self.done, self.last = report, max(total, 1), 0, 0.0

    async def seen(self, event_type: str, data: Mapping[str, Any]) -> None:
        name = data.get("step_name") or ""
        if event_type == "execution_progress":
            self.done = max(self.done, int(data.get("completed_steps") or 0))
            self.total = max(self.total, int(data.get("total_steps") or 0))
        elif event_type == "step_started":
            await self._send(self.done + 0.5, f"step {data.get('step_number')} of {self.total}: {name}")
        elif event_type == "step_completed":
            self.done += 1
            await self._send(self.done, f"{name} done")
        elif event_type == "step_failed":
            await self._send(self.done + 0.5, f"{name} failed")
        elif event_type == "interactive_prompt":
            await self._send(self.done + 0.5, f"waiting for a person: {data.get('message') or ''}".strip())
        elif event_type == "execution_completed":
            await self._send(self.total, "completed")

    async def _send(self, value: float, message: str) -> None:
        value = min(value, self.total)
        if value <= self.last:  # several events at one step: halfway to the next whole step
            if self.last >= self.total:
                return  # nothing is left to count up to
            value = self.last + (min(math.floor(self.last) + 1, self.total) - self.last) / 2
        self.last = value
        await self._report(value, float(self.total), message)


class RunCalls:
    def __init__(self, executions: ExecutionService, feed: EventFeed, settings: Settings) -> None:
        self._executions, self._feed, self._settings = executions, feed, settings
        # Set while the server stops: its calls end then, and the runs they started go on.
        self.stopping = False

    async def start(self, target: Target, arguments: Mapping[str, Any], caller: Caller, parent: RunLineage | None) -> Execution:
        """Start the workflow or graph a tool names, as its REST route does."""
        if parent is not None and parent.depth > self._settings.mcp_max_depth:
            raise CallTooDeep(
                f"Runs may call workflows through MCP at most {self._settings.mcp_max_depth} deep (ECHO_MCP_MAX_DEPTH); "
                f"execution {parent.execution_id} is already {parent.depth - 1} deep",
                details={"parent_execution_id": parent.execution_id, "depth": parent.depth},
            )
        config = ExecutionConfig()
        if target.kind == "graph":
            return await self._executions.start_graph(target.ref, arguments, config, caller, metadata=STARTED_BY, parent=parent)
        return await self._executions.start_workflow(target.ref, arguments, config, STARTED_BY, caller, parent)

    async def respond(self, arguments: Mapping[str, Any], caller: Caller) -> str:
        """Answer a paused run's question (the one it waits on unless `prompt_id` names it)."""
        execution_id = _arguments(arguments, "execution_id")
        prompt_id = arguments.get("prompt_id")
        if not isinstance(prompt_id, str) or not prompt_id:
            pending = (await self._executions.get(execution_id)).pending_prompt or {}
            prompt_id = str(pending.get("prompt_id") or "")
        changes = arguments.get("changes") or {}
        if not isinstance(changes, dict):
            raise Invalid.at("changes", "object", "changes must be an object")
        reason = arguments.get("reason")
        response = str(arguments.get("response") or "")
        await self._executions.respond(execution_id, prompt_id, response, changes, None if reason is None else str(reason), caller)
        return execution_id

    async def follow(self, execution_id: str, progress: Progress | None, *, owned: bool) -> types.CallToolResult:
        """Wait for the run to end or pause, at most the call timeout; a cancelled call
        cancels the run it `owned` (started)."""
        execution = await self._executions.get(execution_id)  # NotFound before anything waits
        finished: Execution | None = None
        try:
            async with anyio.create_task_group() as tg:
                if progress is not None:
                    tg.start_soon(self._forward, execution, progress)
                with anyio.move_on_after(self._settings.mcp_call_timeout_seconds):
                    finished = await self._executions.wait(execution_id)
                tg.cancel_scope.cancel()
        except anyio.get_cancelled_exc_class():
            if owned and not self.stopping:
                with anyio.CancelScope(shield=True):
                    await self._cancel(execution_id)
            raise
        except BaseExceptionGroup as group:  # the service's own error, as the caller knows it
            if len(group.exceptions) == 1 and isinstance(group.exceptions[0], EchoError):
                raise group.exceptions[0] from None
            raise
        return await self.outcome(finished or await self._executions.get(execution_id))

    async def wait_for(self, arguments: Mapping[str, Any], progress: Progress | None) -> types.CallToolResult:
        return await self.follow(_arguments(arguments, "execution_id"), progress, owned=False)

    async def _cancel(self, execution_id: str) -> None:
        try:
            await self._executions.cancel(execution_id, graceful=False, reason="The MCP client cancelled the tool call")
        except EchoError as exc:  # it ended meanwhile
            log.info("execution %s was not cancelled: %s", execution_id, exc.message)

    async def _forward(self, execution: Execution, progress: Progress) -> None:
        steps = _Steps(progress, execution.total_steps)
        try:
            async for event in self._feed.follow(execution.execution_id, until_end=True):
                if event is not None:
                    await steps.seen(event.event_type, event.data)
        except EchoError as exc:  # progress is a courtesy: the call still answers
            log.info("progress of execution %s stopped: %s", execution.execution_id, exc.message)

    async def outcome(self, execution: Execution) -> types.CallToolResult:
        """What became of a run, as every tool of the face answers it."""
        eid, status = execution.execution_id, execution.status
        envelope: dict[str, Any] = {"execution_id": eid, "cost_usd": execution.cost_usd, "total_tokens": execution.total_tokens}
        what = execution.workflow_slug or execution.graph_name or "run"
        if status == "completed":
            files = await self._executions.output_files(execution)
            seconds = _duration(execution)
            envelope |= {"status": "completed", "outputs": execution.outputs or {}, "files": [f.path for f in files]}
            envelope["duration_seconds"] = seconds
            took = "" if seconds is None else f" in {seconds:.1f} s"
            return text_result(envelope, f"Execution {eid} of {what} completed{took}.")
        if status in ("failed", "cancelled"):
            error = msgspec.to_builtins(execution.error) if execution.error is not None else {"message": status}
            envelope |= {"status": status, "error": error, "duration_seconds": _duration(execution)}
            return text_result(envelope, f"Execution {eid} of {what} {status}: {error.get('message', '')}")
        if status == "paused":
            prompt = dict(execution.pending_prompt or {})
            envelope |= {"status": "paused", "pending_prompt": prompt, "next": _respond_next(eid, prompt)}
            return text_result(
                envelope,
                f"Execution {eid} of {what} waits for a person's answer: {prompt.get('message', '')} "
                f"Answer with the tool {RESPOND_TOOL} (execution_id, response: approve | reject | modify) "
                f"or POST /executions/{eid}/respond.",
            )
        assert lifecycle.is_interruptible(status)
        envelope |= {"status": "running", "next": _wait_next(eid)}
        return text_result(
            envelope,
            f"Execution {eid} of {what} is still running after {self._settings.mcp_call_timeout_seconds:g} s: "
            f"go on with the tool {WAIT_TOOL}, the resource echo://executions/{eid} or GET /executions/{eid}.",
        )


def _duration(execution: Execution) -> float | None:
    if execution.started_at is None or execution.completed_at is None:
        return None
    return round((execution.completed_at - execution.started_at).total_seconds(), 3)


def _respond_next(execution_id: str, prompt: Mapping[str, Any]) -> dict[str, Any]:
    arguments = {"execution_id": execution_id, "prompt_id": prompt.get("prompt_id"), "response": "approve | reject | modify"}
    return {"tool": RESPOND_TOOL, "arguments": arguments, "http": f"POST /executions/{execution_id}/respond"}


def _wait_next(execution_id: str) -> dict[str, Any]:
    return {
        "tool": WAIT_TOOL,
        "arguments": {"execution_id": execution_id},
        "resource": f"echo://executions/{execution_id}",
        "http": f"GET /executions/{execution_id}",
    }
