"""The one mapping from errors to HTTP responses.

Every error body serves clients of both documents: echoai clients read `detail`,
ouroboros clients read `error` {type, message, code, details, timestamp, request_id}.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from echo_orchestrator import errors
from echo_orchestrator.api.request_context import request_id_of
from echo_orchestrator.services.error_bodies import ErrorBody, domain_error_body, error_body

log = logging.getLogger(__name__)


STATUS_OF: dict[type[errors.EchoError], int] = {
    errors.BadRequest: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.CallTooDeep: 409,
    errors.PreconditionFailed: 412,
    errors.TooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.RangeNotSatisfiable: 416,
    errors.Invalid: 422,
    errors.RateLimited: 429,
    errors.ConfigurationError: 500,
    errors.McpToolFailed: 502,
    errors.Unavailable: 503,
    errors.TimeoutExceeded: 504,
    errors.StorageError: 503,
    errors.WorkspaceFull: 507,
}

# Litestar's own HTTP exceptions, by status: (type, code).
_HTTP_KINDS: dict[int, tuple[str, str]] = {
    400: ("ValidationError", "ERR_REQUEST_001"),
    401: ("AuthenticationError", "ERR_AUTH_001"),
    403: ("AuthenticationError", "ERR_AUTH_002"),
    404: ("NotFoundError", "ERR_NOT_FOUND_001"),
    405: ("MethodNotAllowedError", "ERR_METHOD_001"),
    413: ("ValidationError", "ERR_REQUEST_002"),
    415: ("ValidationError", "ERR_REQUEST_003"),
    422: ("ValidationError", "ERR_VALIDATION_001"),
    429: ("RateLimitError", "ERR_RATE_001"),
    503: ("ResourceError", "ERR_UNAVAILABLE_001"),
}

_AT_PATH = re.compile(r"^(?P<message>.*?) - at `\$(?:\.data)?(?P<path>[^`]*)`$", re.DOTALL)


def status_of(exc: errors.EchoError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return HTTP_500_INTERNAL_SERVER_ERROR


def error_response(
    request: Request[Any, Any, Any],
    *,
    status: int,
    type_: str,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[ErrorBody]:
    body = error_body(type_=type_, code=code, message=message, details=details, request_id=request_id_of(request.scope))
    return Response(body, status_code=status, headers=headers)


def handle_domain_error(request: Request[Any, Any, Any], exc: errors.EchoError) -> Response[ErrorBody]:
    status = status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, errors.Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="echo-orchestrator"'
    elif isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, errors.RangeNotSatisfiable):
        headers["Content-Range"] = f"bytes */{exc.size}"
    return Response(domain_error_body(exc, request_id_of(request.scope)), status_code=status, headers=headers or None)


def _source_of(request: Request[Any, Any, Any], field: str) -> str:
    """Where the failing value came from: a query or path parameter named like the field's
    first part, else the body."""
    name = field.split(".", 1)[0].split("[", 1)[0]
    if name in request.query_params:
        return "query"
    if name in request.path_params:
        return "path"
    return "body"


def _field_errors(request: Request[Any, Any, Any], exc: ValidationException) -> list[dict[str, str]]:
    """Field paths for a failed validation: `connections[0].from`, not just `data`."""
    cause = exc.__cause__
    if isinstance(cause, msgspec.ValidationError) and (match := _AT_PATH.match(str(cause))):
        field = match["path"].lstrip(".") or "(body)"
        return [{"field": field, "message": match["message"], "source": _source_of(request, field)}]
    out: list[dict[str, str]] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            out.append(
                {
                    "field": str(item.get("key", "")),
                    "message": str(item.get("message", "")),
                    "source": str(item.get("source", "")),
                }
            )
    return out


def handle_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[ErrorBody]:
    cause = exc.__cause__
    if isinstance(cause, msgspec.ValidationError) and "missing required field `data`" in str(cause):
        return error_response(
            request, status=400, type_="ValidationError", code="ERR_REQUEST_001", message="A JSON request body is required"
        )
    fields = _field_errors(request, exc)
    message = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "Request validation failed"
    return error_response(
        request,
        status=422,
        type_="ValidationError",
        code="ERR_VALIDATION_001",
        message=f"Invalid input: {message}",
        details={"errors": fields},
    )


def handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    status = exc.status_code
    type_, code = _HTTP_KINDS.get(status, ("ExecutionError", f"ERR_HTTP_{status}"))
    message = exc.detail
    if status == 404 and message == "Not Found":
        message = f"No route for {request.method} {request.url.path}"
    elif status == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}"
    headers = {k: v for k, v in (exc.headers or {}).items()}
    return error_response(request, status=status, type_=type_, code=code, message=message, headers=headers)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    rid = request_id_of(request.scope)
    log.error("unhandled error in %s %s [request_id=%s]", request.method, request.url.path, rid, exc_info=exc)
    return error_response(
        request,
        status=500,
        type_="ExecutionError",
        code="ERR_INTERNAL_001",
        message=f"Internal server error; see the server log for request {rid}",
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    errors.EchoError: handle_domain_error,
    ValidationException: handle_validation,
    HTTPException: handle_http,
    Exception: handle_unexpected,
}
