"""A run request's `webhook` (docs/triggers.md)."""

from __future__ import annotations

import msgspec

from echo_orchestrator.errors import Invalid
from echo_orchestrator.models import ExecutionConfig
from echo_orchestrator.models.triggers import WebhookTarget


def with_webhook(config: ExecutionConfig, webhook: WebhookTarget | None) -> ExecutionConfig:
    """A request names one URL, as `webhook`; the secrets that sign are the operator's."""
    if config.webhooks:
        raise Invalid.at("config.webhooks", "give the URL as `webhook` {url, events} at the top level")
    if webhook is None:
        return config
    if webhook.secret is not None:
        raise Invalid.at("webhook.secret", "not accepted in a request: deliveries are signed with the server's ECHO_WEBHOOK_SECRET")
    return msgspec.structs.replace(config, webhooks=[webhook])
