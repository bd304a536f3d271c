"""OpenAPI at /docs/openapi.json and Swagger UI at /docs, with its assets served locally.

The stock Swagger page loads its JS and CSS from a CDN and is blank offline. Litestar writes
OpenAPI 3.1, which Swagger UI renders from version 5 on (the `swagger-ui-bundle` package on
PyPI stops at 4.15, which shows only "Unable to render this definition"), so Swagger UI 5's
files from the npm package `swagger-ui-dist` are vendored in `static/swagger-ui/` with their
licence, and served from /docs-assets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Parameter,
    Reference,
    Schema,
    SecurityScheme,
    Tag,
)
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler
from litestar.types.internal_types import PathParameterDefinition

from echo_orchestrator import __version__

ASSETS_PATH = "/docs-assets"
# `?format=mermaid` answers: Mermaid text under its registered media type.
MERMAID = "text/vnd.mermaid"
_ASSETS_DIR = Path(__file__).parent / "static" / "swagger-ui"


def openapi_config(*, authenticated: bool = False) -> OpenAPIConfig:
    """The OpenAPI document's settings; with keys or tokens configured it declares them, so
    Swagger UI shows its Authorize button and try-it-out sends the key."""
    components = Components(
        security_schemes={
            "bearer": SecurityScheme(type="http", scheme="bearer", description="An API key or a JWT"),
            "apiKey": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header", description="An API key"),
        }
    )
    swagger = SwaggerRenderPlugin(
        path="/",
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )
    return OpenAPIConfig(
        title="Echo Orchestrator",
        version=__version__,
        description=(
            "Design, version and run AI agent workflows. Implements the EchoAI Workflow Orchestrator "
            "API and the Ouroboros Compute API on one set of models."
        ),
        path="/docs",
        render_plugins=[swagger],
        tags=[Tag(name="service", description="Health and metrics")],
        use_handler_docstrings=True,
        components=components if authenticated else Components(),
        operation_id_creator=_operation_id,
        security=[{"bearer": []}, {"apiKey": []}] if authenticated else None,
    )


def _operation_id(handler: HTTPRouteHandler, method: Any, path: list[str | PathParameterDefinition]) -> str:
    """Operation ids are the handlers' names (`list_workflows`, `execute_workflow`,
    `get_execution`), which are unique: generated clients get readable, stable method names."""
    return handler.handler_name


def assets_router() -> ControllerRouterHandler:
    return create_static_files_router(path=ASSETS_PATH, directories=[_ASSETS_DIR], include_in_schema=False, name="docs-assets")


# The error statuses every operation may answer, with the one error body; more by kind below.
_ALWAYS = {
    "400": "Malformed request (bad JSON, invalid UTF-8, nesting too deep, a foreign Host)",
    "401": "No or invalid credentials (when keys or tokens are configured)",
    "403": "A read-only caller writing, or a foreign browser origin",
    "404": "Not found",
    "422": "A parameter or the body fails validation; each field in error.details.errors",
    "429": "A rate limit is used up (see Retry-After)",
    "500": "Unexpected failure (no internals; the log has the request id)",
    "503": "Unavailable (storage unwritable, a dependency down)",
}
_WITH_BODY = {
    "409": "Conflicts with what is stored (exists, in use, wrong state)",
    "413": "Body larger than ECHO_MAX_BODY_BYTES",
    "415": "Body is not application/json",
}
_UPSTREAM = {"502": "A tool or upstream service failed", "504": "A time limit ran out"}


def _error_schema() -> Schema:
    text = Schema(type=OpenAPIType.STRING)
    info = Schema(
        type=OpenAPIType.OBJECT,
        required=["type", "message", "code", "details", "timestamp", "request_id"],
        properties={
            "type": Schema(type=OpenAPIType.STRING, examples=["ValidationError"]),
            "message": text,
            "code": Schema(type=OpenAPIType.STRING, examples=["ERR_VALIDATION_001"]),
            "details": Schema(type=OpenAPIType.OBJECT),
            "timestamp": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME),
            "request_id": text,
        },
    )
    return Schema(type=OpenAPIType.OBJECT, required=["detail", "error"], properties={"detail": text, "error": info})


# msgspec's constraint keywords and the attribute Litestar's Schema holds each in.
_CONSTRAINTS = {
    "exclusiveMinimum": "exclusive_minimum",
    "minimum": "minimum",
    "exclusiveMaximum": "exclusive_maximum",
    "maximum": "maximum",
    "minLength": "min_length",
    "maxLength": "max_length",
    "pattern": "pattern",
}


def _our_structs() -> dict[str, type[msgspec.Struct]]:
    found: dict[str, type[msgspec.Struct]] = {}
    stack: list[type[msgspec.Struct]] = [msgspec.Struct]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub.__module__.startswith("echo_orchestrator."):
                found.setdefault(sub.__name__, sub)
            stack.append(sub)
    return found


def restore_optional_constraints(openapi: OpenAPI) -> None:
    """Litestar drops the constraints of an optional field (`Annotated[float, Meta(gt=0)] |
    None` is documented as a bare number); msgspec's own schema of the struct has them, so
    they are copied back: a client sees `exclusiveMinimum: 0` where the server enforces it."""
    schemas = (openapi.components.schemas if openapi.components else None) or {}
    structs = _our_structs()
    for name, component in schemas.items():
        struct = structs.get(name)
        if struct is None or not isinstance(component, Schema) or not component.properties:
            continue
        try:
            own = msgspec.json.schema(struct)["$defs"][name]["properties"]
        except (KeyError, TypeError, ValueError):
            continue
        for field, prop in component.properties.items():
            options = (own.get(field) or {}).get("anyOf") or []
            constrained = next((o for o in options if o.get("type") != "null" and set(o) & set(_CONSTRAINTS)), None)
            if constrained is None or not isinstance(prop, Schema) or not prop.one_of:
                continue
            for alternative in prop.one_of:
                if isinstance(alternative, Schema) and alternative.type not in (None, OpenAPIType.NULL):
                    for keyword, attribute in _CONSTRAINTS.items():
                        if keyword in constrained:
                            setattr(alternative, attribute, constrained[keyword])


def document_errors(openapi: OpenAPI) -> None:
    """Every operation documents the error body it really sends (`{detail, error{…}}`), in
    place of Litestar's default 400 body, so generated clients and schema checks agree with
    what the server answers."""
    assert openapi.components is not None
    if openapi.components.schemas is None:
        openapi.components.schemas = {}
    openapi.components.schemas["ErrorResponse"] = _error_schema()
    body = {"application/json": OpenAPIMediaType(schema=Reference(ref="#/components/schemas/ErrorResponse"))}
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "post", "put", "patch", "delete"):
            operation = getattr(item, method)
            if operation is None:
                continue
            if operation.responses is None:
                operation.responses = {}
            _split_text_alternative(operation.responses.get("200"))
            _describe_event_stream(operation.responses.get("200"))
            codes = dict(_ALWAYS)
            if _describe_file(path, operation.responses):
                codes.update(_FILE)
            if method != "get":
                codes.update(_WITH_BODY)
            if any(word in path for word in ("mcp", "execute", "resume", "respond")):
                codes.update(_UPSTREAM)
            headers = {p.name.lower() for p in operation.parameters or [] if isinstance(p, Parameter) and p.param_in == "header"}
            if "if-match" in headers:
                codes["412"] = "If-Match does not match the stored entity"
            if "if-none-match" in headers:
                operation.responses.setdefault("304", OpenAPIResponse(description="Not modified: If-None-Match matches"))
            for code, description in codes.items():
                operation.responses[code] = OpenAPIResponse(description=description, content=dict(body))
    # Swagger UI lists a tag's operations in the document's order, which is the order the
    # controllers declare them: sorted by path, a reader finds one as in an index.
    if openapi.paths:
        openapi.paths = dict(sorted(openapi.paths.items()))


EVENT_STREAM = "text/event-stream"
# Routes that answer a file's own bytes (Litestar would document them as JSON).
FILE_ROUTES = ("/files/content",)
_FILE = {
    "413": "The file is over max_file_read_mb: ask for a Range",
    "416": "The Range starts past the end of the file",
}


def _describe_file(path: str, responses: dict[str, Any]) -> bool:
    """A file route's body is the file's bytes, in its own type; a Range gets 206."""
    response = responses.get("200")
    if not isinstance(response, OpenAPIResponse) or not path.endswith(FILE_ROUTES):
        return False
    # Documented as octet-stream (what generated clients read as a file); the real
    # `Content-Type` is the file's own.
    binary = {"application/octet-stream": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY))}
    response.content = dict(binary)
    response.description = "The file, in its own content type (`Content-Type` by its extension), with `ETag` and `Content-Length`"
    responses["206"] = OpenAPIResponse(description="The byte range asked for (`Content-Range`)", content=dict(binary))
    responses["304"] = OpenAPIResponse(description="Not modified: If-None-Match matches")
    return True


def _describe_event_stream(response: Any) -> None:
    """An SSE route's body is a stream of text frames, not a JSON document: say so."""
    if not isinstance(response, OpenAPIResponse) or not response.content or EVENT_STREAM not in response.content:
        return
    # The schema of one event, as SSE-aware tools read it (each frame's fields).
    response.content[EVENT_STREAM] = OpenAPIMediaType(
        schema=Schema(
            type=OpenAPIType.OBJECT,
            description="One Server-Sent Event per execution event: `id` is its seq, `event` its type, `data` its data as JSON",
            properties={
                "id": Schema(type=OpenAPIType.STRING),
                "event": Schema(type=OpenAPIType.STRING),
                "data": Schema(
                    type=OpenAPIType.STRING,
                    content_media_type="application/json",
                    # The event's own data with its seq, event_id and timestamp (its type is `event`).
                    content_schema=Schema(
                        type=OpenAPIType.OBJECT,
                        required=["execution_id", "seq", "event_id", "timestamp"],
                        properties={
                            "execution_id": Schema(type=OpenAPIType.STRING),
                            "seq": Schema(type=OpenAPIType.INTEGER),
                            "event_id": Schema(type=OpenAPIType.STRING),
                            "timestamp": Schema(type=OpenAPIType.STRING),
                        },
                    ),
                ),
                "retry": Schema(type=OpenAPIType.INTEGER),
            },
        )
    )


def _split_text_alternative(response: Any) -> None:
    """A handler returning `Model | Response[str]` (JSON, or Mermaid text with
    `?format=mermaid`) is rendered by Litestar as `oneOf: [Model, {}]`, which matches any
    body: document it as what it is, the model as JSON or a string as Mermaid."""
    if not isinstance(response, OpenAPIResponse) or not response.content:
        return
    media = response.content.get("application/json")
    schema = None if media is None else media.schema
    if not isinstance(schema, Schema) or not schema.one_of or len(schema.one_of) != 2:
        return
    model, anything = schema.one_of
    if anything == Schema():  # the empty schema Litestar gives `Response[...]`
        response.content = {
            "application/json": OpenAPIMediaType(schema=model),
            MERMAID: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)),
        }
