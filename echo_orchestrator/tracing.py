"""OpenTelemetry traces (docs/observability.md): off unless the standard `OTEL_*` variables
say where to send them.

The code everywhere uses only the OpenTelemetry API (a no-op until a provider is set);
`configure()` sets the SDK's provider with an OTLP/HTTP exporter when
`OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set, and `OTEL_SDK_DISABLED` or
`OTEL_TRACES_EXPORTER=none` do not say otherwise. The exporter reads its own variables
(headers, protocol details, timeouts); the resource's service name is `OTEL_SERVICE_NAME`,
else `echo-orchestrator`. Imports nothing of ours.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from opentelemetry import context, propagate, trace

log = logging.getLogger(__name__)
TRACER = trace.get_tracer("echo_orchestrator")
_configured: Any = None  # the SDK's provider, once set here


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true" or env.get("OTEL_TRACES_EXPORTER", "").lower() == "none":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure() -> bool:
    """Export traces if the environment asks; once per process. False when it does not, or
    the SDK is not installed (said once: `pip install "echo-orchestrator[otel]"`)."""
    global _configured
    if _configured is not None:
        return True
    if not wanted():
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry SDK is not installed: pip install 'echo-orchestrator[otel]'")
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "echo-orchestrator"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = provider
    log.info(
        "traces go to %s (OpenTelemetry, OTLP/HTTP)",
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"],
    )
    return True


def enabled() -> bool:
    return _configured is not None


def flush(timeout_seconds: float = 3.0) -> None:
    """Send what is batched (a stopping process)."""
    if _configured is not None:
        _configured.force_flush(int(timeout_seconds * 1000))


def current_carrier() -> dict[str, str] | None:
    """The current trace context as W3C headers (`traceparent`), to store with a run or a job."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


def context_from(carrier: Mapping[str, str] | None) -> context.Context | None:
    return None if not carrier else propagate.extract(dict(carrier))


def nanos(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1_000_000_000)
