"""The one error body, whichever door a refusal leaves by.

Every error body serves clients of both documents: echoai clients read `detail`,
ouroboros clients read `error` {type, message, code, details, timestamp, request_id}. HTTP
answers it (`api/error_handling.py`); the MCP server face carries it as a JSON-RPC error's
`data` or a failed tool result's structured content.
"""

from __future__ import annotations

from typing import Any

import msgspec

from echo_orchestrator.errors import EchoError
from echo_orchestrator.models import utcnow_iso
from echo_orchestrator.security.redaction import SECRETS


class ErrorDetail(msgspec.Struct, kw_only=True):
    """The `error` object of every error body (the record of an error in a run is `models.ErrorInfo`)."""

    type: str
    message: str
    code: str
    details: dict[str, Any]
    timestamp: str
    request_id: str


class ErrorBody(msgspec.Struct, kw_only=True):
    detail: str
    error: ErrorDetail


def error_body(*, type_: str, code: str, message: str, details: dict[str, Any] | None, request_id: str) -> ErrorBody:
    detail = ErrorDetail(type=type_, message=message, code=code, details=details or {}, timestamp=utcnow_iso(), request_id=request_id)
    return ErrorBody(detail=message, error=detail)


def domain_error_body(exc: EchoError, request_id: str) -> ErrorBody:
    # Outside text (a tool's error, a provider's message) may quote a secret or a server path.
    return error_body(
        type_=exc.type, code=exc.code, message=SECRETS.scrub(exc.message), details=SECRETS.scrub_data(exc.details), request_id=request_id
    )
