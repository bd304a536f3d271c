"""Logging: text for people, or JSON lines for machines (`--log-format json`,
`ECHO_LOG_FORMAT`), with the request id, the execution id, the route and the duration on
every record they apply to. Secrets are scrubbed by `security.redaction.ScrubFilter`."""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

# Set by the request middleware and by an execution's task; read by every log record.
REQUEST_ID: ContextVar[str | None] = ContextVar("echo_request_id", default=None)
EXECUTION_ID: ContextVar[str | None] = ContextVar("echo_execution_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Fields an access record (or any record given them as `extra`) carries into JSON.
_FIELDS = ("request_id", "execution_id", "method", "route", "path", "status", "duration_ms", "caller")


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        if getattr(record, "execution_id", None) is None:
            record.execution_id = EXECUTION_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str)


def configure(level: str, fmt: str) -> None:
    """One handler on the root logger; uvicorn's loggers propagate to it."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The run queue logs every job at info, with its arguments (a review's answer among
    # them): the executions' own records say the same; its warnings and errors stay.
    logging.getLogger("procrastinate").setLevel(logging.DEBUG if level.lower() == "debug" else logging.WARNING)
