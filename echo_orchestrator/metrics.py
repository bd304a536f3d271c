"""Prometheus metrics: what every part counts, exposed at `GET /metrics` (docs/observability.md).

The parts that see a thing happen count it here (the engine's recorder: runs, steps, LLM
calls; the hub: MCP tool calls; the app: HTTP requests). Label values are bounded: route
templates (never paths), workflow slugs and graph names (as many as the definitions),
providers and models (as configured), statuses; never an execution id or a caller.

Several processes (`serve --workers N`): `serve` points PROMETHEUS_MULTIPROC_DIR at a fresh
folder before the workers start, prometheus_client then keeps each process's figures in
files there, and `exposition()` adds them up, so one scrape of any worker sees them all.
Imports nothing of ours.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
DURATIONS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

HTTP_REQUESTS = Counter("echo_http_requests", "HTTP responses by route template and status", ["method", "route", "status"])
HTTP_SECONDS = Histogram(
    "echo_http_request_duration_seconds", "Time to the response's start, by route template", ["method", "route"], buckets=DURATIONS
)
EXECUTIONS_STARTED = Counter("echo_executions_started", "Executions accepted", ["kind", "workflow"])
EXECUTIONS_ENDED = Counter("echo_executions_ended", "Executions ended, by status", ["kind", "workflow", "status"])
EXECUTION_SECONDS = Histogram(
    "echo_execution_duration_seconds", "Executions from start to end", ["kind", "workflow", "status"], buckets=DURATIONS
)
STEP_SECONDS = Histogram("echo_step_duration_seconds", "Steps from start to end", ["workflow", "status"], buckets=DURATIONS)
LLM_CALLS = Counter("echo_llm_calls", "LLM calls", ["provider", "model"])
LLM_TOKENS = Counter("echo_llm_tokens", "LLM tokens, by direction (input, output)", ["provider", "model", "direction"])
LLM_COST = Counter("echo_llm_cost_usd", "LLM cost in US dollars, from the price table", ["provider", "model"])
SCHEDULE_FIRES = Counter("echo_schedule_fires", "Schedule fires this process claimed, by what became of them", ["schedule", "outcome"])
WEBHOOK_ATTEMPTS = Counter("echo_webhook_attempts", "Completion webhook attempts, by result (delivered, retrying, failed)", ["result"])
MCP_TOOL_CALLS = Counter("echo_mcp_tool_calls", "Hub tool calls by server and outcome", ["server", "outcome"])
# Raised and lowered where they change; with several processes, the live ones' sum.
RUNNING = Gauge("echo_executions_running", "Executions running now", multiprocess_mode="livesum")
LIVE_SUBSCRIBERS = Gauge(
    "echo_live_subscribers", "Live event subscribers (WebSocket, Socket.IO, SSE, waits) now", multiprocess_mode="livesum"
)


def label(value: str | None) -> str:
    """A label value for something that may be absent."""
    return value or "none"


def exposition() -> bytes:
    """The text exposition format: this process's figures, or every process's added up."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()
