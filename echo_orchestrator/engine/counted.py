"""What runs count for Prometheus (`metrics`): started, ended, steps, LLM calls. The
`workflow` label is the workflow's slug, else the graph's name: bounded by the definitions."""

from __future__ import annotations

from datetime import datetime

from echo_orchestrator import metrics
from echo_orchestrator.models import Execution, LLMUsage, StepExecution


def _workflow(execution: Execution) -> str:
    return metrics.label(execution.workflow_slug or execution.graph_name)


def started(execution: Execution) -> None:
    metrics.EXECUTIONS_STARTED.labels(execution.kind, _workflow(execution)).inc()


def ended(execution: Execution, status: str, now: datetime) -> None:
    kind, workflow = execution.kind, _workflow(execution)
    metrics.EXECUTIONS_ENDED.labels(kind, workflow, status).inc()
    began = execution.started_at or execution.created_at
    if began is not None:
        metrics.EXECUTION_SECONDS.labels(kind, workflow, status).observe(max(0.0, (now - began).total_seconds()))


def step(execution: Execution, step: StepExecution) -> None:
    metrics.STEP_SECONDS.labels(_workflow(execution), step.status).observe(step.duration_seconds or 0.0)


def llm_call(usage: LLMUsage) -> None:
    provider, model = usage.provider, usage.model
    metrics.LLM_CALLS.labels(provider, model).inc()
    metrics.LLM_TOKENS.labels(provider, model, "input").inc(usage.prompt_tokens)
    metrics.LLM_TOKENS.labels(provider, model, "output").inc(usage.completion_tokens)
    metrics.LLM_COST.labels(provider, model).inc(usage.cost_usd or 0.0)
