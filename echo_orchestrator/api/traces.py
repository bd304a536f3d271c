"""An HTTP server span per request (when traces are exported: `tracing.configure`), named by
the route template, a child of the caller's `traceparent`; a run accepted inside it joins
that trace (`Execution.trace_context`)."""

from __future__ import annotations

from litestar.datastructures import Headers
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import propagate, trace

from echo_orchestrator import tracing
from echo_orchestrator.api.request_context import UNMATCHED


async def traced(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    """`app` inside a server span (the gate calls this only when traces are exported)."""
    method = str(scope.get("method", "GET"))
    route = scope.get("path_template") or UNMATCHED
    parent = propagate.extract(dict(Headers.from_scope(scope).items()))
    attributes = {"http.request.method": method, "http.route": route, "url.path": str(scope.get("path", ""))}
    with tracing.TRACER.start_as_current_span(
        f"{method} {route}", context=parent, kind=trace.SpanKind.SERVER, attributes=attributes
    ) as span:

        async def traced_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(trace.Status(trace.StatusCode.ERROR))
            await send(message)

        await app(scope, receive, traced_send)
