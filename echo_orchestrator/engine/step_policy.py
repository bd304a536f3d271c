"""Retries and timeouts of a step, applied around its graph node.

A node that raises is retried up to `max_retries` times, `retry_delay` seconds apart
(doubling each time with `exponential_backoff`); one attempt longer than `timeout` fails
with TimeoutError (ERR_EXEC_002). The running execution hears of every retry through the
`current_run` context variable, which LangGraph's node tasks inherit from the run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

from echo_orchestrator.errors import TimeoutExceeded
from echo_orchestrator.models import ExecutionConfig, RetryPolicy, Step


class RunHooks(Protocol):
    async def retrying(self, node: str, attempt: int, max_retries: int, error: BaseException, delay: float) -> None: ...

    async def attempting(self, node: str, attempt: int) -> None: ...


current_run: ContextVar[RunHooks | None] = ContextVar("echo_current_run", default=None)


@dataclass(frozen=True, slots=True)
class StepPolicy:
    max_retries: int = 0
    retry_delay: float = 1.0
    exponential_backoff: bool = False
    timeout: float | None = None

    @property
    def is_default(self) -> bool:
        return self.max_retries == 0 and self.timeout is None

    def delay(self, attempt: int) -> float:
        return self.retry_delay * (2 ** (attempt - 1) if self.exponential_backoff else 1)


def policy_for(step: Step | None, config: ExecutionConfig) -> StepPolicy:
    """A step's own policy, else the execution's defaults (`max_retries`, `timeout_per_step`)."""
    retry = step.retry_policy if step is not None and step.retry_policy is not None else None
    if retry is None and config.max_retries:
        retry = RetryPolicy(max_retries=config.max_retries)
    timeout = step.timeout_seconds if step is not None and step.timeout_seconds is not None else config.timeout_per_step
    if retry is None:
        return StepPolicy(timeout=timeout)
    return StepPolicy(retry.max_retries, retry.retry_delay, retry.exponential_backoff, timeout)


def with_policy(name: str, node: Callable[[Any], Awaitable[Any]], policy: StepPolicy) -> Callable[[Any], Awaitable[Any]]:
    if policy.is_default:
        return node

    async def run(state: Any) -> Any:
        attempt = 0
        while True:
            try:
                with anyio.fail_after(policy.timeout) if policy.timeout else contextlib.nullcontext():
                    return await node(state)
            except TimeoutError:
                error: BaseException = TimeoutExceeded(
                    f"Step '{name}' exceeded its timeout of {policy.timeout:g}s", details={"node": name, "timeout": policy.timeout}
                )
            except Exception as exc:
                error = exc
            if attempt >= policy.max_retries:
                raise error
            attempt += 1
            delay = policy.delay(attempt)
            hooks = current_run.get()
            if hooks is not None:
                await hooks.retrying(name, attempt, policy.max_retries, error, delay)
            await anyio.sleep(delay)
            if hooks is not None:
                await hooks.attempting(name, attempt)

    run.__name__ = getattr(node, "__name__", name)
    return run
