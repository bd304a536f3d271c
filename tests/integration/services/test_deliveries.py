"""Completion webhooks from the real services to a real receiver on loopback: signed the
Standard Webhooks way (the receiver verifies with the `standardwebhooks` library), retried
with growing, jittered delays after errors, each attempt recorded; given up after the
bounded time; redirects not followed; a forbidden URL refuses the run before it starts."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from prometheus_client import REGISTRY

from echo_orchestrator.container import Services, open_services
from echo_orchestrator.errors import EgressRefused
from echo_orchestrator.models import ExecutionConfig
from echo_orchestrator.models.triggers import WebhookDelivery, WebhookTarget
from echo_orchestrator.settings import Settings
from tests.helpers.receiver import HANG, Receiver, receiving
from tests.helpers.storage import copy_storage

pytestmark = pytest.mark.anyio
SECRET = "whsec_" + base64.b64encode(b"a test secret of thirty-two bytes").decode()
OWN_SECRET = "whsec_" + base64.b64encode(b"the workflow's own signing secret").decode()


@asynccontextmanager
async def running(tmp_path: Path, receiver: Receiver, **overrides: Any) -> AsyncIterator[Services]:
    storage = copy_storage(tmp_path / "storage")
    fields: dict[str, Any] = {
        "retention_interval_seconds": 0,
        "scheduler": False,
        "webhook_secret": SECRET,
        "webhook_allowed_urls": (f"http://127.0.0.1:{receiver.port}",),
        "webhook_backoff_seconds": 0.2,
        "webhook_backoff_max_seconds": 1.0,
        "webhook_retry_seconds": 30,
    }
    settings = Settings(storage_dir=storage, plugins_dir=None, watch=False, watch_plugins=False, **(fields | overrides))
    async with open_services(settings) as services:
        yield services


async def delivered(services: Services, execution_id: str, done: Callable[[WebhookDelivery], bool]) -> list[WebhookDelivery]:
    with anyio.fail_after(30):
        while True:
            deliveries = await services.runtime.deliveries_of(execution_id)
            if deliveries and all(done(d) for d in deliveries):
                return deliveries
            await anyio.sleep(0.05)


async def run_with_webhook(services: Services, url: str, events: list[str] | None = None) -> str:
    target = WebhookTarget(url=url, events=events or ["completed", "failed"])  # type: ignore[arg-type]
    execution = await services.executions.start_workflow("market-research", {"topic": "tides"}, ExecutionConfig(webhooks=[target]), {})
    await services.executions.wait(execution.execution_id)
    return execution.execution_id


def attempts_counted(result: str) -> float:
    return REGISTRY.get_sample_value("echo_webhook_attempts_total", {"result": result}) or 0.0


async def test_a_failing_receiver_gets_the_same_signed_message_until_it_takes_it(tmp_path: Path) -> None:
    retried, delivered_before = attempts_counted("retrying"), attempts_counted("delivered")
    with receiving(SECRET, answers=[500, 503]) as receiver:
        async with running(tmp_path, receiver) as services:
            execution_id = await run_with_webhook(services, receiver.url)
            (delivery,) = await delivered(services, execution_id, lambda d: d.status != "pending")
        got = receiver.wait_for(3)

    assert delivery.status == "delivered" and delivery.attempts == 3
    assert [a.status_code for a in delivery.history] == [500, 503, 200]
    assert delivery.history[0].error == "answered 500" and delivery.history[2].error is None
    assert all(r.verified for r in got) and [r.answered for r in got] == [500, 503, 200]
    assert {r.headers["webhook-id"] for r in got} == {delivery.delivery_id}  # one message, retried
    assert got[0].body["type"] == "execution.completed" and got[0].body["data"]["execution_id"] == execution_id
    assert got[0].body["data"]["outputs"] and got[0].body["data"]["status"] == "completed"
    # Backoff: 0.2 s then 0.4 s, each between half and all of it (jitter), plus the poll.
    first, second = got[1].at - got[0].at, got[2].at - got[1].at
    assert 0.1 <= first <= 0.2 + 0.5 and 0.2 <= second <= 0.4 + 0.5
    planned = [a.next_attempt_at for a in delivery.history]
    assert planned[0] is not None and planned[1] is not None and planned[2] is None
    assert attempts_counted("retrying") - retried == 2 and attempts_counted("delivered") - delivered_before == 1  # /metrics


async def test_a_receiver_that_never_takes_it_fails_it_after_the_bounded_time(tmp_path: Path) -> None:
    with receiving(SECRET, answers=[500] * 100) as receiver:
        async with running(tmp_path, receiver, webhook_retry_seconds=1.0) as services:
            execution_id = await run_with_webhook(services, receiver.url)
            (delivery,) = await delivered(services, execution_id, lambda d: d.status != "pending")
    assert delivery.status == "failed" and 2 <= delivery.attempts <= 8
    assert delivery.history[-1].next_attempt_at is None and all(a.status_code == 500 for a in delivery.history)


async def test_a_receiver_too_slow_for_the_timeout_is_tried_again(tmp_path: Path) -> None:
    with receiving(SECRET, answers=[HANG]) as receiver:
        async with running(tmp_path, receiver, webhook_timeout_seconds=0.5) as services:
            execution_id = await run_with_webhook(services, receiver.url)
            (delivery,) = await delivered(services, execution_id, lambda d: d.status != "pending")
    first, second = delivery.history
    assert first.status_code is None and "Timeout" in (first.error or "") and 400 <= first.duration_ms < 1500
    assert second.status_code == 200 and delivery.status == "delivered"


async def test_a_redirect_is_not_followed(tmp_path: Path) -> None:
    with receiving(SECRET, answers=[302]) as receiver:
        async with running(tmp_path, receiver) as services:
            execution_id = await run_with_webhook(services, receiver.url)
            (delivery,) = await delivered(services, execution_id, lambda d: d.status != "pending")
        got = receiver.wait_for(2)
    assert [a.status_code for a in delivery.history] == [302, 200] and "not followed" in (delivery.history[0].error or "")
    assert [r.path for r in got] == ["/hooks/echo", "/hooks/echo"]


async def test_a_workflow_tells_its_own_urls_signed_with_its_own_secret_about_the_ends_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_HOOK_SECRET", OWN_SECRET)
    with receiving(OWN_SECRET) as receiver:
        async with running(tmp_path, receiver) as services:
            final = services.store.layout.finals / "wf_article_desk.v1.0.json"  # type: ignore[attr-defined]
            document = json.loads(final.read_text())
            document["notify"] = [{"url": receiver.url, "events": ["paused"], "secret": "${DESK_HOOK_SECRET}"}]
            final.write_text(json.dumps(document))
            await services.store.refresh(["workflows/final/wf_article_desk.v1.0.json"])  # as a git pull would
            execution = await services.executions.start_workflow("article-desk", {"brief": "tides"}, ExecutionConfig(), {})
            paused = await services.executions.wait(execution.execution_id)
            (delivery,) = await delivered(services, execution.execution_id, lambda d: d.status == "delivered")
        (got,) = receiver.wait_for(1)
    assert paused.status == "paused" and delivery.event == "paused" and delivery.secret == "${DESK_HOOK_SECRET}"
    assert got.verified and got.body["type"] == "execution.paused" and got.body["data"]["pending_prompt"]["prompt_id"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest",
        "http://[::1]:9/",
        "ftp://example.com/",
    ],
)
async def test_a_url_pointing_where_webhooks_may_not_go_refuses_the_run(tmp_path: Path, url: str) -> None:
    with receiving(SECRET) as receiver:
        async with running(tmp_path, receiver) as services:
            before, _ = await services.executions.list_executions()
            with pytest.raises(EgressRefused) as refused:
                await run_with_webhook(services, url)
            after, _ = await services.executions.list_executions()
    assert refused.value.field == "webhook.url" and len(after) == len(before)  # nothing started
