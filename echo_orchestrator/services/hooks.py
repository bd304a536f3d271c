"""Inbound webhooks: `POST /hooks/{trigger_id}` starts the workflow that declares the trigger.

A `signature` trigger takes requests signed the Standard Webhooks way with its secret (a
`${VAR}` reference): `webhook-signature` over `webhook-id.webhook-timestamp.body`, the
timestamp within `tolerance_seconds` of now, the `webhook-id` never seen before (a replay
is refused). An `api_key` trigger takes the API's own keys, like any route. Either way the
run is started as an execute request would start it (input checks, limits, egress rules),
by `hook:<trigger_id>` or the key's caller, and records the trigger in its metadata.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from echo_orchestrator.errors import BadRequest, ConfigurationError, Conflict, Forbidden, Invalid, NotFound, Unauthorized
from echo_orchestrator.models import Execution, ExecutionConfig, rfc3339, utcnow
from echo_orchestrator.models.references import expand
from echo_orchestrator.models.triggers import WebhookTrigger
from echo_orchestrator.security.callers import Caller
from echo_orchestrator.services.executions import ExecutionService
from echo_orchestrator.store.definitions.base import DefinitionStore
from echo_orchestrator.store.runtime.base import RuntimeStore


@dataclass(frozen=True, slots=True)
class Accepted:
    execution: Execution
    trigger: WebhookTrigger


def pick(body: Any, path: str) -> Any:
    """The value at `a.b.0.c` in a JSON document; `Invalid` naming the path when absent."""
    value = body
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise Invalid.at(f"body.{path}", "not in the request's JSON (the trigger maps an input from it)")
    return value


def inputs_of(trigger: WebhookTrigger, body: Any) -> dict[str, Any]:
    if not trigger.inputs:
        if not isinstance(body, dict):
            raise Invalid.at("body", "must be a JSON object: it is the run's input (or give the trigger an `inputs` mapping)")
        return body
    return {name: pick(body, path) for name, path in trigger.inputs.items()}


class HookService:
    def __init__(self, store: DefinitionStore, runtime: RuntimeStore, executions: ExecutionService) -> None:
        self.store, self.runtime, self.executions = store, runtime, executions

    async def trigger(self, trigger_id: str) -> tuple[str, WebhookTrigger]:
        workflow_id, trigger = await self.store.find_trigger(trigger_id)
        if not trigger.enabled:
            raise NotFound(f"Webhook trigger '{trigger_id}' is disabled", details={"trigger_id": trigger_id})
        return workflow_id, trigger

    async def verify(self, trigger: WebhookTrigger, body: bytes, headers: Mapping[str, str], now: float | None = None) -> str:
        """The message id of a correctly signed, timely, first-seen request; else 401 / 409."""
        now = time.time() if now is None else now
        message_id, stamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
        if not message_id or not stamp or not headers.get("webhook-signature"):
            raise Unauthorized("Sign the request: webhook-id, webhook-timestamp and webhook-signature headers (Standard Webhooks)")
        try:
            sent = float(stamp)
        except ValueError:
            raise Unauthorized("webhook-timestamp must be seconds since the epoch") from None
        if abs(now - sent) > trigger.tolerance_seconds:
            raise Unauthorized(
                f"webhook-timestamp is {abs(now - sent):.0f} s from the server's time, beyond the trigger's {trigger.tolerance_seconds:.0f} s",
                details={"tolerance_seconds": trigger.tolerance_seconds},
            )
        try:
            self._signer(trigger).verify(body, dict(headers), json_parse=False)
        except WebhookVerificationError:
            raise Unauthorized("The webhook signature does not match the body (webhook-signature)") from None
        forget = now - 2 * trigger.tolerance_seconds  # older ones fail the timestamp check anyway
        if not await self.runtime.remember_message(trigger.id, message_id, now, forget):
            raise Conflict(
                f"Message '{message_id[:100]}' was received before: a replay is not run again", details={"webhook_id": message_id[:100]}
            )
        return message_id

    @staticmethod
    def _signer(trigger: WebhookTrigger) -> Webhook:
        assert trigger.secret is not None
        text = expand(trigger.secret, os.environ, f"triggers.{trigger.id}.secret")
        try:
            return Webhook(text)
        except Exception:
            raise ConfigurationError(f"trigger {trigger.id}: its secret is not a Standard Webhooks secret (whsec_<base64>)") from None

    async def accept(
        self,
        found: tuple[str, WebhookTrigger],
        body: bytes,
        headers: Mapping[str, str],
        key_caller: Caller | None,
        *,
        address: str = "",
    ) -> Accepted:
        """Start the run a request to the hook asks for. `found`: the (workflow id, trigger)
        `trigger` answered; `key_caller`: who the API's keys say is calling (an `api_key`
        trigger's requests), `address` where a signed one came from."""
        workflow_id, trigger = found
        metadata: dict[str, Any] = {"started_by": "webhook", "trigger_id": trigger.id}
        if trigger.auth == "signature":
            metadata["webhook_id"] = await self.verify(trigger, body, headers)
            caller = Caller("trigger", f"hook:{trigger.id}", address=address)
        else:
            if key_caller is None:
                raise Unauthorized("This trigger takes the API's keys: send `Authorization: Bearer <key>` or `X-API-Key`")
            if key_caller.read_only:
                raise Forbidden("A read-only key cannot start runs")
            caller = key_caller
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            raise BadRequest("The body is not JSON") from None
        metadata["received_at"] = rfc3339(utcnow())
        execution = await self.executions.start_workflow(workflow_id, inputs_of(trigger, document), ExecutionConfig(), metadata, caller)
        return Accepted(execution=execution, trigger=trigger)
