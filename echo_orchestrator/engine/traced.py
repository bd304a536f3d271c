"""What runs show as OpenTelemetry spans: the execution, its steps, its LLM calls (named and
described by the OpenTelemetry GenAI semantic conventions) and its tool calls.

The execution's span is a child of the context the run was accepted in (an incoming
`traceparent`, through the HTTP server span), stored on its record, so the run joins the
caller's trace in whichever process runs it, after the queue or a restart too. Steps are
spans opened when they start; LLM and tool calls are recorded when they end, with their
measured start. No prompt or completion text, no argument values: names, models, counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from echo_orchestrator.engine.runs import LiveRun
from echo_orchestrator.models import LLMUsage, StepExecution, utcnow
from echo_orchestrator.security.redaction import scrub
from echo_orchestrator.tracing import TRACER, context_from, nanos


@contextmanager
def execution(live: LiveRun) -> Iterator[None]:
    record = live.execution
    what = record.workflow_slug or record.graph_name or "run"
    attributes: dict[str, AttributeValue] = {
        "echo.execution.id": record.execution_id,
        "echo.execution.kind": record.kind,
        "echo.workflow": what,
        "echo.execution.resumed_count": record.resumed_count,
    }
    with TRACER.start_as_current_span(
        f"execution {what}", context=context_from(record.trace_context), attributes=attributes, record_exception=False
    ) as span:
        live.span = span
        try:
            yield
        finally:
            span.set_attribute("echo.execution.status", record.status)
            if record.status == "failed":
                span.set_status(Status(StatusCode.ERROR, (record.error.message if record.error else "failed")[:300]))
            for open_step in live.spans.values():  # steps a cancel or a crash cut short
                open_step.set_attribute("echo.step.status", "cancelled")
                open_step.end()
            live.spans.clear()
            live.span = None


def _parent(live: LiveRun, node: str | None) -> Any:
    step = live.running_steps.get(node or "")
    span = live.spans.get(step.step_execution_id) if step is not None else None
    span = span or live.span
    return None if span is None else trace.set_span_in_context(span)


def step_started(live: LiveRun, step: StepExecution) -> None:
    if live.span is None or not live.span.is_recording():
        return
    live.spans[step.step_execution_id] = TRACER.start_span(
        f"step {step.step_number} {step.step_name}",
        context=trace.set_span_in_context(live.span),
        start_time=nanos(step.started_at),
        attributes={"echo.step.number": step.step_number, "echo.step.name": step.step_name, "echo.node": step.node_name or ""},
    )


def step_ended(live: LiveRun, step: StepExecution) -> None:
    span: Span | None = live.spans.pop(step.step_execution_id, None)
    if span is None:
        return
    span.set_attribute("echo.step.status", step.status)
    span.set_attribute("echo.step.retry_count", step.retry_count)
    if step.status == "failed":
        span.set_status(Status(StatusCode.ERROR, (step.error.message if step.error else "failed")[:300]))
    span.end(end_time=nanos(step.completed_at))


def recording(live: LiveRun) -> bool:
    """Whether the run's spans go anywhere (tracing configured and this run sampled)."""
    return live.span is not None and bool(live.span.is_recording())


# The GenAI conventions' text attributes, when allowed (ECHO_TRACE_CONTENT): scrubbed of
# secrets, and cut at this many characters (a collector's attribute limit is often 64 KiB).
CONTENT_CHARACTERS = 16_000


def _content(text: str) -> str:
    text = scrub(text)
    return text if len(text) <= CONTENT_CHARACTERS else text[:CONTENT_CHARACTERS] + "…"


def llm_call(live: LiveRun, usage: LLMUsage, content: tuple[str, str] | None = None) -> None:
    if not recording(live):
        return
    end = utcnow()
    attributes: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": usage.provider,
        "gen_ai.system": usage.provider,
        "gen_ai.request.model": usage.model,
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
    }
    if usage.cost_usd is not None:
        attributes["echo.cost_usd"] = usage.cost_usd
    if content is not None:
        attributes["gen_ai.input.messages"], attributes["gen_ai.output.messages"] = map(_content, content)
    span = TRACER.start_span(
        f"chat {usage.model}",
        context=_parent(live, usage.node),
        kind=trace.SpanKind.CLIENT,
        start_time=nanos(end - timedelta(milliseconds=usage.latency_ms)),
        attributes=attributes,
    )
    span.end(end_time=nanos(end))


def tool_call(live: LiveRun, tool_id: str, detail: dict[str, Any], node: str | None) -> None:
    if live.span is None or not live.span.is_recording():
        return
    end = utcnow()
    took = float(detail.get("execution_time_ms") or 0.0)
    span = TRACER.start_span(
        f"execute_tool {tool_id}",
        context=_parent(live, node),
        start_time=nanos(end - timedelta(milliseconds=took)),
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool_id},
    )
    if detail.get("error"):
        span.set_status(Status(StatusCode.ERROR, str(detail["error"])[:300]))
    span.end(end_time=nanos(end))
