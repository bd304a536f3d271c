"""Recording a run: its execution, step and node records and its events.

Every change is written to the runtime store first and then published on the event bus,
so a follower that reads the store and then listens misses nothing. Statuses change only
through `lifecycle.executions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

from echo_orchestrator.engine import counted, traced
from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.engine.notify import queue_notifications
from echo_orchestrator.engine.review import REVIEW_PREFIX
from echo_orchestrator.engine.runs import LiveRun
from echo_orchestrator.errors import EchoError
from echo_orchestrator.lifecycle import executions as lifecycle
from echo_orchestrator.models import ErrorInfo, EventType, Execution, LLMUsage, NodeExecution, StepExecution, new_id, rfc3339, utcnow
from echo_orchestrator.security.redaction import scrub
from echo_orchestrator.store.runtime.base import RuntimeStore
from echo_orchestrator.store.workspaces.folders import FileEntry

Ending = Literal["completed", "failed", "cancelled"]


class RunRecorder:
    def __init__(self, runtime: RuntimeStore, bus: EventBus) -> None:
        self.runtime, self.bus = runtime, bus

    async def event(self, live: LiveRun, event_type: EventType, data: dict[str, Any]) -> None:
        queue_notifications(self.runtime, live.execution, event_type)  # written with the event
        event = await self.runtime.append_event(live.execution.execution_id, event_type, data)
        await self.bus.send(event)

    async def save(self, live: LiveRun) -> None:
        await self.runtime.save_execution(live.execution)

    # -- the run as a whole ----------------------------------------------------------------

    async def accepted(self, live: LiveRun) -> None:
        """A new execution: `execution_started` as the document has it, sent when the run is
        accepted (`initializing`, possibly waiting for capacity), its start the acceptance."""
        execution = live.execution
        counted.started(execution)
        await self.event(
            live,
            "execution_started",
            {
                "workflow_slug": execution.workflow_slug,
                "graph_name": execution.graph_name,
                "status": execution.status,
                "started_at": rfc3339(execution.created_at or utcnow()),
            },
        )

    async def started(self, live: LiveRun, resumed_from: str | None) -> None:
        """The run begins running: `execution_progress` says so (status `running`, nothing done
        yet); a continued run says `execution_resumed` and where it resumed from."""
        execution = live.execution
        lifecycle.move(execution, "running")
        if resumed_from is None or execution.started_at is None:
            execution.started_at = utcnow()
        if resumed_from == "response":  # the question is answered
            execution.pending_prompt = None
            nodes = await self.runtime.list_nodes(execution.execution_id)
            live.waiting_nodes = {n.node_name: n for n in nodes if n.status == "pending"}
        await self.save(live)
        common = {"workflow_slug": execution.workflow_slug, "graph_name": execution.graph_name, "status": "running"}
        if resumed_from is None:
            progress = execution.progress
            data: dict[str, Any] = {
                **common,
                "progress_percentage": progress.percentage,
                "completed_steps": progress.completed_steps,
                "total_steps": progress.total_steps,
                "running_since": rfc3339(execution.started_at),
            }
            await self.event(live, "execution_progress", data)
        else:
            await self.event(
                live, "execution_resumed", {**common, "started_at": rfc3339(execution.started_at), "resumed_from": resumed_from}
            )
        await self.runtime.commit()

    async def pause(self, live: LiveRun, prompt: Any) -> None:
        execution = live.execution
        prompt = dict(prompt) if isinstance(prompt, dict) else {"message": str(prompt)}
        # A plugin graph may ask with anything: the prompt still has an id to answer it by.
        prompt.setdefault("prompt_id", new_id("prompt"))
        prompt.setdefault("message", "Your answer is needed")
        agent = prompt.get("agent_id")
        if prompt.get("step_number") is None:  # a step's review names its step; an agent's, its agent
            prompt["step_number"] = live.step_for(str(agent))[0] if agent in live.step_numbers else None
        for node in live.nodes.values():
            node.status = "pending"  # waiting for the answer; the review runs again when it comes
            await self.runtime.save_node(node)
        live.nodes.clear()
        lifecycle.move(execution, "paused")
        execution.pending_prompt = prompt
        await self.save(live)
        await self.event(live, "execution_paused", {"status": "paused", "prompt_id": prompt.get("prompt_id")})
        await self.event(live, "interactive_prompt", prompt)
        await self.runtime.commit()

    async def requeued(self, live: LiveRun, reason: str) -> None:
        """Stopped here unfinished, to be continued by another worker from its checkpoint: it
        waits for one as `initializing` (the document's "being set up"), not as `running`."""
        execution = live.execution
        # The attempts cut off here end as cancelled attempts; the next worker runs the step again.
        await self._cut_short(live, "cancelled", ErrorInfo(type="ExecutionError", message=reason), utcnow())
        if execution.status == "running":
            lifecycle.move(execution, "initializing")
            execution.resumed_count += 1  # as a resume counts when it is asked for: it will be continued
        await self.save(live)
        progress = execution.progress
        data = {
            "status": execution.status,
            "reason": reason,
            "completed_steps": progress.completed_steps,
            "total_steps": progress.total_steps,
        }
        await self.event(live, "execution_requeued", data)
        await self.runtime.commit()

    async def cancelled_while_paused(self, execution: Execution, reason: str, now: datetime) -> None:
        """A paused run cancelled (its record already says so, `ExecutionManager.cancel`):
        the review nodes that waited for the answer and its unfinished steps are cancelled
        with it, and `execution_cancelled` says why."""
        for node in await self.runtime.list_nodes(execution.execution_id):
            if node.status == "pending":
                node.status, node.completed_at = "cancelled", now
                await self.runtime.save_node(node)
        for step in await self.runtime.list_steps(execution.execution_id):
            if step.status in lifecycle.UNFINISHED_STEPS:
                step.status, step.completed_at = "cancelled", now
                await self.runtime.save_step(step)
        queue_notifications(self.runtime, execution, "execution_cancelled")
        event = await self.runtime.append_event(
            execution.execution_id, "execution_cancelled", {"status": "cancelled", "reason": reason, "cancelled_at": rfc3339(now)}
        )
        await self.runtime.commit()
        counted.ended(execution, "cancelled", now)
        self.bus.publish(event)

    async def finish(self, live: LiveRun, status: Ending, error: ErrorInfo | None, output_files: int = 0) -> None:
        execution, now = live.execution, utcnow()
        execution.output_files = output_files
        execution.pending_prompt = None  # whatever it asked is answered or moot now
        await self._cut_short(live, status, error, now)
        lifecycle.move(execution, status)
        execution.completed_at, execution.error = now, error
        if status == "completed":
            execution.progress.percentage = 100.0
            execution.progress.completed_steps = len(live.completed_steps)
        await self.save(live)
        counted.ended(execution, status, now)
        if status == "completed":
            summary = {"output_files": output_files, "llm_calls": execution.llm_calls, "total_cost_usd": execution.cost_usd}
            duration = _seconds(execution.started_at or execution.created_at, now)
            data: dict[str, Any] = {
                "status": status,
                "duration_seconds": duration,
                "duration": duration,  # the document's SSE name for it
                "completed_at": rfc3339(now),
                "result_summary": summary,
            }
            await self.event(live, "execution_completed", data)
        elif status == "failed":
            await self.event(live, "execution_failed", {"status": status, "error": msgspec.to_builtins(error), "failed_at": rfc3339(now)})
        else:
            await self.event(live, "execution_cancelled", {"status": status, "reason": live.cancel_reason, "cancelled_at": rfc3339(now)})
        await self.runtime.commit()

    async def _cut_short(self, live: LiveRun, status: Ending, error: ErrorInfo | None, now: Any) -> None:
        """Steps and nodes a cancel or a timeout stopped mid-way end with the run."""
        ended: Literal["cancelled", "failed"] = "cancelled" if status == "cancelled" else "failed"
        for step in live.running_steps.values():
            step.status, step.completed_at, step.duration_seconds = ended, now, _seconds(step.started_at, now)
            step.error = error
            await self.runtime.save_step(step)
            event: EventType = "step_cancelled" if ended == "cancelled" else "step_failed"
            await self.event(live, event, {"step_number": step.step_number, "step_name": step.step_name, "status": step.status})
        for node in live.nodes.values():
            node.status, node.completed_at = ended, now
            await self.runtime.save_node(node)
        live.running_steps.clear()

    # -- tasks: nodes and steps ------------------------------------------------------------

    async def task_started(self, live: LiveRun, payload: Mapping[str, Any]) -> None:
        execution, name, now = live.execution, str(payload["name"]), utcnow()
        if name.startswith(REVIEW_PREFIX) and name.removeprefix(REVIEW_PREFIX) in live.step_numbers:
            number = live.step_numbers[name.removeprefix(REVIEW_PREFIX)][0]
            review = live.waiting_nodes.pop(name, None) or self._node(live, name, "review_node", number, None)
            review.status = "running"
            live.nodes[str(payload["id"])] = review
            await self.runtime.save_node(review)
            return
        number, step_name = live.step_for(name)
        node = live.waiting_nodes.pop(name, None) or self._node(live, name, live.plan.node_types.get(name, "node"), number, None)
        node.status, node.input = "running", _jsonable(payload.get("input"))
        live.nodes[str(payload["id"])] = node
        await self.runtime.save_node(node)
        policy = live.policies.get(name)
        step = StepExecution(
            step_execution_id=new_id("stepexec"),
            execution_id=execution.execution_id,
            step_number=number,
            step_name=step_name,
            node_name=name,
            status="running",
            workflow_slug=execution.workflow_slug,
            started_at=now,
            input=node.input or {},
            max_retries=policy.max_retries if policy else 0,
            timeout_seconds=policy.timeout if policy else None,
        )
        live.running_steps[name] = step
        traced.step_started(live, step)
        await self.runtime.save_step(step)
        execution.progress.current_step = number
        await self.save(live)
        await self.event(live, "step_started", {"step_number": number, "step_name": step_name, "started_at": rfc3339(now)})
        await self.event(live, "node_started", {"node_name": name, "node_type": node.node_type, "step_number": number})

    @staticmethod
    def _node(live: LiveRun, name: str, node_type: str, number: int, node_input: dict[str, Any] | None) -> NodeExecution:
        return NodeExecution(
            node_execution_id=new_id("ne"),
            execution_id=live.execution.execution_id,
            node_name=name,
            node_type=node_type,
            status="running",
            step_number=number,
            started_at=utcnow(),
            input=node_input,
        )

    async def progress(self, live: LiveRun, node: str, name: str, data: Any) -> None:
        step = live.running_steps.get(node)
        number = step.step_number if step else None
        await self.event(live, "node_progress", {"node_name": node, "step_number": number, "name": name, "data": _jsonable(data)})

    async def task_finished(self, live: LiveRun, payload: Mapping[str, Any]) -> None:
        failure = payload.get("error")
        error = None if failure is None else ErrorInfo(type="ExecutionError", message=scrub(f"{type(failure).__name__}: {failure}"))
        node = live.nodes.pop(str(payload["id"]), None)
        if node is not None and payload.get("interrupts"):
            node.status = "pending"  # paused for a human; it runs again when answered
            await self.runtime.save_node(node)
            return
        if node is not None:
            await self._node_finished(live, node, payload, error)
        step = live.running_steps.pop(str(payload["name"]), None)
        if step is None:
            return
        await self._step_finished(live, step, payload, failure, error)
        if failure:
            live.failed_step = step
            await self.runtime.commit()
            return
        live.completed_steps.add(step.step_number)
        await self._advance(live)
        if not live.checkpointed:
            # A step boundary: its records are durable. With a checkpointer, it commits
            # them before it saves the step's writes (BufferedSqliteSaver), off the run's path.
            await self.runtime.flush()

    async def _node_finished(self, live: LiveRun, node: NodeExecution, payload: Mapping[str, Any], error: ErrorInfo | None) -> None:
        now = utcnow()
        node.status = "failed" if error else "completed"
        node.completed_at, node.duration_seconds = now, _seconds(node.started_at, now)
        node.output, node.error = _jsonable(payload.get("result")), error
        await self.runtime.save_node(node)
        await self.event(
            live, "node_completed", {"node_name": node.node_name, "status": node.status, "duration_seconds": node.duration_seconds}
        )

    async def _step_finished(
        self, live: LiveRun, step: StepExecution, payload: Mapping[str, Any], failure: Any, error: ErrorInfo | None
    ) -> None:
        now = utcnow()
        step.status = "failed" if failure else "completed"
        step.completed_at, step.duration_seconds = now, _seconds(step.started_at, now)
        step.output, step.error = _jsonable(payload.get("result")), error
        if error is not None:
            error.step_number, error.retry_count = step.step_number, step.retry_count
            if isinstance(failure, EchoError):
                error.type, error.code, error.message = failure.type, failure.code, failure.message
        elif step.error is not None and step.error.retry_count:
            step.error = None  # an earlier attempt failed; the step succeeded in the end
        await self.runtime.save_step(step)
        counted.step(live.execution, step)
        traced.step_ended(live, step)
        await self.event(
            live,
            "step_completed" if not failure else "step_failed",
            {
                "step_number": step.step_number,
                "step_name": step.step_name,
                "status": step.status,
                "duration_seconds": step.duration_seconds,
                "duration": step.duration_seconds,  # the document's SSE name for it
                "completed_at": rfc3339(now),
                **({"error": msgspec.to_builtins(error)} if error else {}),
            },
        )

    async def _advance(self, live: LiveRun) -> None:
        """Progress after a finished step: counts, percentage and the estimated end."""
        execution, now = live.execution, utcnow()
        progress = execution.progress
        progress.completed_steps = len(live.completed_steps)
        total = max(execution.total_steps, len(live.step_numbers), 1)
        progress.total_steps = total
        progress.percentage = round(min(100.0, 100.0 * progress.completed_steps / total), 1)
        if execution.started_at is not None and progress.completed_steps:
            elapsed = (now - execution.started_at).total_seconds()
            execution.estimated_completion = execution.started_at + timedelta(seconds=elapsed * total / progress.completed_steps)
        await self.save(live)
        estimate = execution.estimated_completion
        await self.event(
            live,
            "execution_progress",
            {
                "progress_percentage": progress.percentage,
                "completed_steps": progress.completed_steps,
                "total_steps": total,
                "estimated_completion": rfc3339(estimate) if estimate else None,
            },
        )

    # -- retries, LLM calls and tools ------------------------------------------------------

    async def retrying(self, live: LiveRun, node: str, attempt: int, max_retries: int, error: BaseException, delay: float) -> None:
        step = live.running_steps.get(node)
        if step is None:
            return
        step.status, step.retry_count = "retrying", attempt
        message = scrub(f"{type(error).__name__}: {error}")
        step.error = ErrorInfo(type=getattr(error, "type", "ExecutionError"), message=message, retry_count=attempt)
        await self.runtime.save_step(step)
        data = {"step_number": step.step_number, "step_name": step.step_name, "attempt": attempt, "max_retries": max_retries}
        await self.event(live, "step_retrying", {**data, "retry_in_seconds": delay, "error": message})
        await self.runtime.commit()

    async def attempting(self, live: LiveRun, node: str) -> None:
        step = live.running_steps.get(node)
        if step is not None:
            step.status = "running"
            await self.runtime.save_step(step)

    async def llm_started(self, live: LiveRun, provider: str, model: str, prompt_tokens: int, node: str | None, call_id: str) -> None:
        step = live.running_steps.get(node or "")
        data = {"provider": provider, "model": model, "prompt_tokens": prompt_tokens, "step_number": step.step_number if step else None}
        await self.event(live, "llm_call_started", {**data, "call_id": call_id})

    async def llm_used(self, live: LiveRun, usage: LLMUsage, call_id: str) -> None:
        execution, step = live.execution, live.running_steps.get(usage.node or "")
        if step is not None:
            step.llm_calls.append(usage)
        execution.llm_calls += 1
        execution.total_tokens += usage.total_tokens
        execution.cost_usd = round(execution.cost_usd + (usage.cost_usd or 0.0), 8)
        counted.llm_call(usage)
        traced.llm_call(live, usage, live.call_content.pop(call_id, None))
        await self.runtime.add_llm_call(execution.execution_id, step.step_execution_id if step else None, usage)
        number = step.step_number if step else None
        await self.event(live, "llm_call_completed", {**msgspec.to_builtins(usage), "step_number": number, "call_id": call_id})
        await self.event(live, "llm_call", {"model": usage.model, "tokens": usage.total_tokens, "step_number": number})

    async def tool_used(self, live: LiveRun, tool_id: str, phase: str, detail: dict[str, Any], *, node: str | None = None) -> None:
        """A tool call of the step running `node` (else of the only step running): named in the
        step's `mcp_tools_used`, its price (`cost_per_call_usd`) added to the step's and the
        run's cost, and a `tool_call_started` / `tool_call_completed` event."""
        execution = live.execution
        step = live.running_steps.get(node or "") or live.only_running_step()
        if phase == "started":
            if step is not None and tool_id not in step.mcp_tools_used:
                step.mcp_tools_used.append(tool_id)
        else:
            traced.tool_call(live, tool_id, detail, node)
            cost = float(detail.get("cost_usd") or 0.0)
            execution.tool_calls += 1
            execution.cost_usd = round(execution.cost_usd + cost, 8)
            if step is not None:
                step.tool_calls += 1
                step.tool_cost_usd = round(step.tool_cost_usd + cost, 8)
        event: EventType = "tool_call_started" if phase == "started" else "tool_call_completed"
        await self.event(live, event, {"tool_id": tool_id, "step_number": step.step_number if step else None, **detail})

    async def file_written(self, live: LiveRun, entry: FileEntry) -> None:
        step = live.only_running_step()
        file = {"name": entry.name, "path": entry.path, "size_bytes": entry.size_bytes, "mime_type": entry.mime_type}
        await self.event(live, "output_file", {"file": file, "step_number": step.step_number if step else None})


async def record_interrupted(
    runtime: RuntimeStore, only: Sequence[str] | None = None, *, cancelled: bool = False, reason: str | None = None
) -> list[str]:
    """End the executions a dead process left active, as the lifecycle says a crash ends
    them (or with `reason`). Those another live process runs (a CLI `run` next to the
    server, another worker, another host sharing the database) are left alone. `only`:
    just these executions."""
    ended: list[str] = []
    for owned in await runtime.executions_in(lifecycle.INTERRUPTIBLE, only):
        if await runtime.owned_elsewhere(owned.owner):
            continue
        # Taken first (only an execution's owner may change its record): of processes
        # settling it at once, or a worker adopting it meanwhile, one wins.
        if not await runtime.adopt(owned.execution.execution_id, owned.owner):
            continue
        execution = owned.execution
        if reason is None:
            event, data = lifecycle.interrupt(execution, cancelled=cancelled, now=utcnow())
        else:
            event, data = lifecycle.interrupt(execution, cancelled=cancelled, now=utcnow(), reason=reason)
        await runtime.save_execution(execution)
        for step in await runtime.list_steps(execution.execution_id):
            if lifecycle.interrupt_step(step, execution):
                await runtime.save_step(step)
        queue_notifications(runtime, execution, event)
        await runtime.append_event(execution.execution_id, event, data)
        ended.append(execution.execution_id)
    await runtime.commit()
    return ended


def _seconds(start: Any, end: Any) -> float | None:
    return None if start is None else round((end - start).total_seconds(), 3)


def _jsonable(value: Any) -> dict[str, Any] | None:
    """A node's input or output as plain JSON (message objects and the like become strings)."""
    if value is None:
        return None
    try:
        plain = msgspec.to_builtins(value, enc_hook=str)
    except (TypeError, msgspec.EncodeError):
        plain = {"value": str(value)}
    return plain if isinstance(plain, dict) else {"value": plain}
