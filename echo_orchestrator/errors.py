"""Every error the service raises on purpose.

Services raise these; `api/error_handling.py` is the one place that turns them into HTTP.
`type` and `code` are the ouroboros document's error types and codes, so the same names
reach clients of both documents.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self


class EchoError(Exception):
    type: ClassVar[str] = "ExecutionError"
    code: ClassVar[str] = "ERR_INTERNAL_001"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    @classmethod
    def at(cls, field: str, problem: str, message: str | None = None, **details: Any) -> Self:
        """The error about one field: `details.errors` is the list every client reads
        ({field, message}), whichever layer found the problem."""
        return cls(message or f"{field}: {problem}", details={"errors": [{"field": field, "message": problem}], **details})


class BadRequest(EchoError):
    """The request cannot be acted on as sent (malformed, or a precondition the caller controls)."""

    type = "ValidationError"
    code = "ERR_REQUEST_001"


class UnsafePath(BadRequest):
    """A path a caller named is not a plain relative path inside its workspace (`..`, an
    absolute path, an encoded separator, a control character, a look-alike character)."""

    code = "ERR_PATH_001"


class Invalid(EchoError):
    """The request is well-formed but its content fails validation (a schema, a version, a field)."""

    type = "ValidationError"
    code = "ERR_VALIDATION_001"


class EgressRefused(Invalid):
    """An `llm` block names an address the operator did not allow; `field` says where in it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, details={"field": field})
        self.field = field


class NotValidated(Invalid):
    """A stored draft asked to be saved fails full validation: each problem in `errors`."""

    def __init__(self, workflow: str, errors: list[str]) -> None:
        super().__init__(
            f"The draft of '{workflow}' does not pass validation",
            details={"errors": [{"field": "workflow", "message": e} for e in errors]},
        )
        self.errors = list(errors)


class ConditionLimit(Invalid):
    """A kind of `Invalid` (same code and status): a condition went past one of its bounds
    (size, steps, magnitude). The engine tells it apart from an ordinary evaluation error,
    which a trial evaluation ignores."""


class NotFound(EchoError):
    type = "NotFoundError"
    code = "ERR_NOT_FOUND_001"


class Conflict(EchoError):
    type = "ConflictError"
    code = "ERR_CONFLICT_001"


class OwnedElsewhere(Conflict):
    """A queued run's job found the run recorded with another live process: the job is
    asked again later (a heartbeat that lagged, not a death, put it back in the queue)."""


class PreconditionFailed(EchoError):
    """`If-Match` named a version of the entity that is no longer the stored one."""

    type = "ConflictError"
    code = "ERR_CONFLICT_002"


class Unauthorized(EchoError):
    """No credentials, or credentials that prove nothing (wrong key, bad or expired token)."""

    type = "AuthenticationError"
    code = "ERR_AUTH_001"


class Forbidden(EchoError):
    """A known caller asked for what it may not do (a read-only key writing, a foreign origin or host)."""

    type = "AuthenticationError"
    code = "ERR_AUTH_002"


class PathOutside(Forbidden):
    """A path that resolves outside its workspace (through a symbolic link)."""

    type = "ValidationError"
    code = "ERR_PATH_002"


class TooLarge(EchoError):
    """What was asked for is larger than a configured limit allows in one piece."""

    type = "ValidationError"
    code = "ERR_REQUEST_002"


class RangeNotSatisfiable(EchoError):
    """A `Range` that starts past the end of the file."""

    type = "ValidationError"
    code = "ERR_REQUEST_004"

    def __init__(self, message: str, *, size: int) -> None:
        super().__init__(message, details={"size_bytes": size})
        self.size = size


class WorkspaceFull(EchoError):
    """A write would take a workspace past `max_workspace_size_mb`."""

    type = "ResourceError"
    code = "ERR_WORKSPACE_001"


class UnsupportedMediaType(EchoError):
    """A request body of a content type the route does not take (only JSON, or a multipart upload)."""

    type = "ValidationError"
    code = "ERR_REQUEST_003"


class RateLimited(EchoError):
    """A caller's limit is used up; `retry_after` seconds until it may try again."""

    type = "RateLimitError"
    code = "ERR_RATE_001"

    def __init__(self, message: str, *, retry_after: int, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class Unavailable(EchoError):
    type = "ResourceError"
    code = "ERR_UNAVAILABLE_001"


class McpUnavailable(Unavailable):
    """An MCP server could not be reached, started, or died."""

    type = "NetworkError"
    code = "ERR_MCP_001"


class McpToolFailed(EchoError):
    """The tool ran and reported an error (the upstream's failure, not ours)."""

    type = "ExecutionError"
    code = "ERR_MCP_002"


class CallTooDeep(EchoError):
    """A run called workflows through the MCP server face, which called others, deeper than
    `ECHO_MCP_MAX_DEPTH` (a workflow calling itself would never end). A 409: the call is
    refused as the state of the chain stands, not for its input."""

    type = "ExecutionError"
    code = "ERR_EXEC_004"


class ExecutionFailed(EchoError):
    """A run failed: one of its steps raised, or the engine could not go on (ERR_EXEC_001)."""

    type = "StepExecutionError"
    code = "ERR_EXEC_001"


class TimeoutExceeded(EchoError):
    """A run, a step or a tool call took longer than its timeout (ERR_EXEC_002)."""

    type = "TimeoutError"
    code = "ERR_EXEC_002"


class ExecutionCancelled(EchoError):
    """A run was stopped on purpose: a cancel request, a human's rejection at a review, or a
    cancel of a run whose process died (ERR_EXEC_003)."""

    type = "ExecutionError"
    code = "ERR_EXEC_003"


class StorageError(EchoError):
    """The storage folder could not be read or written (permissions, disk full)."""

    type = "ResourceError"
    code = "ERR_STORAGE_001"


class RuntimeUnavailable(StorageError):
    """The runtime database cannot be used now (gone, full, locked): a run that meets it is
    continued from its last checkpoint once the database is back."""


class ConfigurationError(EchoError):
    type = "ConfigurationError"
    code = "ERR_CONFIG_001"


class UnsetVariable(ConfigurationError):
    """A setting refers to an environment variable (`${VAR}`) the service does not have."""


class SubscriberTooSlow(EchoError):
    """A live-event subscriber fell too far behind and was dropped; it may rejoin and replay."""

    type = "ResourceError"
    code = "ERR_STREAM_001"


class RemoteError(EchoError):
    """A server refused a request the CLI made; its error body's message and details."""

    type = "RemoteError"
    code = "ERR_REMOTE_001"
