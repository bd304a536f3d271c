"""Sending completion webhooks: every node sends the due deliveries of the runtime
database, one attempt at a time under a lease (two nodes never send the same attempt).

An attempt is a POST of the message, signed the Standard Webhooks way (`webhook-id`,
`webhook-timestamp`, `webhook-signature`), to the address the egress rules checked, with
redirects not followed. A 2xx answer delivers it; anything else (an error status, a
timeout, a refused connection) is recorded and tried again after a backoff that doubles
from `webhook_backoff_seconds` up to `webhook_backoff_max_seconds`, with full jitter (a
random share between half and all of it), until `webhook_retry_seconds` after the run's
end; then it has failed. A URL the rules refuse now fails at once. The queue is the
database: a restart, on any node, carries on where it was.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio
import httpx
import msgspec
from standardwebhooks import Webhook

from echo_orchestrator import metrics
from echo_orchestrator.errors import ConfigurationError, EchoError, EgressRefused
from echo_orchestrator.models.references import expand
from echo_orchestrator.models.triggers import DeliveryAttempt, WebhookDelivery
from echo_orchestrator.security.destinations import WebhookDestinations
from echo_orchestrator.settings import Settings
from echo_orchestrator.store.runtime.base import RuntimeStore

log = logging.getLogger(__name__)

USER_AGENT = "echo-orchestrator-webhooks"
BATCH = 20
CONCURRENT = 8


@dataclass(frozen=True, slots=True)
class RetryRule:
    first: float = 5.0
    most: float = 600.0
    give_up_after: float = 86400.0
    timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryRule:
        return cls(
            first=settings.webhook_backoff_seconds,
            most=settings.webhook_backoff_max_seconds,
            give_up_after=settings.webhook_retry_seconds,
            timeout=settings.webhook_timeout_seconds,
        )

    def delay(self, attempts: int, rand: Callable[[], float] = random.random) -> float:
        """After the `attempts`-th failure: doubling, capped, between half and all of it."""
        full: float = min(self.most, self.first * 2.0 ** (attempts - 1))
        return full * (0.5 + rand() / 2)


def signer(secret: str | None, fallback: str) -> Webhook | None:
    """The signer of a delivery: its own secret (a `${VAR}` reference), else the server's."""
    text = expand(secret, os.environ, "notify.secret") if secret else fallback
    if not text:
        return None
    try:
        return Webhook(text)
    except Exception as exc:  # not base64: say so without showing it
        raise ConfigurationError(
            f"a webhook signing secret is not a Standard Webhooks secret (whsec_<base64>): {type(exc).__name__}"
        ) from exc


class Deliverer:
    def __init__(
        self,
        runtime: RuntimeStore,
        destinations: WebhookDestinations,
        *,
        secret: str = "",
        rule: RetryRule | None = None,
        poll_seconds: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.runtime, self.destinations = runtime, destinations
        self.secret, self.rule, self.poll_seconds = secret, rule or RetryRule(), poll_seconds
        self._transport = transport
        self.wake = anyio.Event()

    async def run_forever(self) -> None:
        failing = False
        async with httpx.AsyncClient(follow_redirects=False, transport=self._transport, headers={"User-Agent": USER_AGENT}) as client:
            while True:
                try:
                    await self.send_due(client)
                except EchoError as exc:  # the database is away: said once, the next turns try again
                    if not failing:
                        log.warning("webhook deliveries wait for the runtime database: %s", exc.message)
                    failing = True
                else:
                    failing = False
                with anyio.move_on_after(self.poll_seconds):
                    await self.wake.wait()
                self.wake = anyio.Event()

    async def send_due(self, client: httpx.AsyncClient) -> int:
        """Send every delivery due now; how many attempts were made."""
        now = time.time()
        due = await self.runtime.due_deliveries(now, BATCH)
        leased = [d for d in due if await self.runtime.lease_delivery(d.delivery_id, d.attempts, now, now + self.rule.timeout + 30)]
        limit = anyio.Semaphore(CONCURRENT)

        async def one(delivery: WebhookDelivery) -> None:
            async with limit:
                await self.attempt(client, delivery)

        async with anyio.create_task_group() as tg:
            for delivery in leased:
                tg.start_soon(one, delivery)
        return len(leased)

    async def attempt(self, client: httpx.AsyncClient, delivery: WebhookDelivery) -> WebhookDelivery:
        number, started = delivery.attempts + 1, time.perf_counter()
        status_code, error, final = None, None, False
        try:
            status_code = await self._post(client, delivery)
            if not 200 <= status_code < 300:
                error = f"answered {status_code}" + (" (redirects are not followed)" if 300 <= status_code < 400 else "")
        except EgressRefused as exc:  # the rules refuse it now: no later attempt would go
            error, final = exc.message, True
        except EchoError as exc:  # a signing secret unset or malformed: may be mended meanwhile
            error = exc.message
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        return await self._record(delivery, number, started, status_code, error, final=final)

    async def _post(self, client: httpx.AsyncClient, delivery: WebhookDelivery) -> int:
        destination = await self.destinations.check(delivery.url, "webhook.url")
        url, headers, extensions = destination.pinned()
        body = msgspec.json.encode(delivery.payload)
        now = datetime.now(UTC)
        headers |= {"content-type": "application/json", "webhook-id": delivery.delivery_id, "webhook-timestamp": str(int(now.timestamp()))}
        signing = signer(delivery.secret, self.secret)
        if signing is not None:
            headers["webhook-signature"] = signing.sign(delivery.delivery_id, now, body.decode())  # the same bytes, UTF-8
        response = await client.post(url, content=body, headers=headers, extensions=extensions, timeout=self.rule.timeout)
        return response.status_code

    async def _record(
        self, delivery: WebhookDelivery, number: int, started: float, status_code: int | None, error: str | None, *, final: bool
    ) -> WebhookDelivery:
        now = datetime.now(UTC)
        created = delivery.created_at or now
        give_up = created + timedelta(seconds=self.rule.give_up_after)
        next_at = None if error is None or final else now + timedelta(seconds=self.rule.delay(number))
        if next_at is not None and next_at > give_up:
            next_at = None
        attempt = DeliveryAttempt(
            attempt=number,
            at=now,
            status_code=status_code,
            error=error,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            next_attempt_at=next_at,
        )
        status = "delivered" if error is None else ("pending" if next_at is not None else "failed")
        updated = msgspec.structs.replace(
            delivery, status=status, attempts=number, next_attempt_at=next_at or now, give_up_at=give_up, history=[]
        )
        await self.runtime.record_attempt(updated, attempt)
        metrics.WEBHOOK_ATTEMPTS.labels("retrying" if status == "pending" else status).inc()
        if status == "failed":
            log.warning("webhook %s to %s failed after %d attempt(s): %s", delivery.delivery_id, delivery.url, number, error)
        return updated
