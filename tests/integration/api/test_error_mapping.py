"""The one error body, for every kind of failure, through the real exception handlers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar, get, post
from litestar.params import JSONBody
from litestar.testing import TestClient

from echo_orchestrator.api.app import create_app
from echo_orchestrator.errors import Conflict, NotFound
from echo_orchestrator.models import Workflow
from echo_orchestrator.settings import Settings
from tests.helpers.server import LOCAL


@post("/probe/workflow")
async def accept_workflow(data: JSONBody[Workflow]) -> dict[str, str]:
    return {"workflow_id": data.workflow_id}


@get("/probe/missing")
async def missing() -> None:
    raise NotFound("Agent 'agt_9' not found", details={"agent_id": "agt_9"})


@get("/probe/conflict")
async def conflict() -> None:
    raise Conflict("Version 1.0 of workflow 'wf_1' already exists")


@get("/probe/crash")
async def crash() -> None:
    raise RuntimeError("database password is hunter2")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    app = create_app(Settings(storage_dir=tmp_path / "storage", watch=False, max_body_bytes=4096))
    for handler in (accept_workflow, missing, conflict, crash):
        app.register(handler)
    with TestClient(app, base_url=LOCAL) as c:
        yield c


def assert_error_body(body: dict[str, object], status_type: str, code: str) -> dict[str, object]:
    assert set(body) == {"detail", "error"}
    error = body["error"]
    assert isinstance(error, dict)
    assert set(error) == {"type", "message", "code", "details", "timestamp", "request_id"}
    assert (error["type"], error["code"]) == (status_type, code)
    assert error["message"] == body["detail"]
    return error


def test_malformed_json_is_400(client: TestClient[Litestar]) -> None:
    r = client.post("/probe/workflow", content=b'{"workflow_id": ', headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert_error_body(r.json(), "ValidationError", "ERR_REQUEST_001")


def test_missing_body_is_400(client: TestClient[Litestar]) -> None:
    r = client.post("/probe/workflow")
    assert r.status_code == 400
    assert r.json()["detail"] == "A JSON request body is required"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"workflow_id": "wf_1", "connections": [{"from": 1, "to": "b"}]}, "connections[0].from"),
        ({"workflow_id": "wf_1", "version": "v1"}, "version"),
        ({"name": "no id"}, "(body)"),
        ({"workflow_id": "wf_1", "agnets": []}, "(body)"),
    ],
)
def test_schema_violation_is_422_with_field_path(client: TestClient[Litestar], body: dict[str, object], field: str) -> None:
    r = client.post("/probe/workflow", json=body)
    assert r.status_code == 422
    error = assert_error_body(r.json(), "ValidationError", "ERR_VALIDATION_001")
    details = error["details"]
    assert isinstance(details, dict)
    assert details["errors"][0]["field"] == field


def test_body_over_the_cap_is_413(client: TestClient[Litestar]) -> None:
    r = client.post("/probe/workflow", json={"workflow_id": "wf_1", "description": "x" * 10_000})
    assert r.status_code == 413
    assert_error_body(r.json(), "ValidationError", "ERR_REQUEST_002")


def test_domain_errors(client: TestClient[Litestar]) -> None:
    r = client.get("/probe/missing")
    assert r.status_code == 404
    error = assert_error_body(r.json(), "NotFoundError", "ERR_NOT_FOUND_001")
    assert error["details"] == {"agent_id": "agt_9"}
    assert r.json()["detail"] == "Agent 'agt_9' not found"
    r = client.get("/probe/conflict")
    assert r.status_code == 409
    assert_error_body(r.json(), "ConflictError", "ERR_CONFLICT_001")


def test_unknown_route_and_wrong_method(client: TestClient[Litestar]) -> None:
    r = client.get("/no/such/route")
    assert r.status_code == 404
    assert_error_body(r.json(), "NotFoundError", "ERR_NOT_FOUND_001")
    r = client.delete("/health")
    assert r.status_code == 405
    assert_error_body(r.json(), "MethodNotAllowedError", "ERR_METHOD_001")


def test_crash_is_500_without_internals_and_logged_with_request_id(client: TestClient[Litestar], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="echo_orchestrator"):
        r = client.get("/probe/crash", headers={"X-Request-ID": "trace-42"})
    assert r.status_code == 500
    error = assert_error_body(r.json(), "ExecutionError", "ERR_INTERNAL_001")
    assert error["request_id"] == "trace-42"
    assert "hunter2" not in r.text and "Traceback" not in r.text
    assert any("trace-42" in rec.getMessage() and rec.exc_info for rec in caplog.records)


def test_request_id_is_echoed_or_generated(client: TestClient[Litestar]) -> None:
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = client.get("/health").headers["x-request-id"]
    assert generated.startswith("req_") and len(generated) == 20
    # An id that could inject into logs or headers is replaced, not echoed.
    assert client.get("/health", headers={"X-Request-ID": "a b\tc"}).headers["x-request-id"].startswith("req_")
    r = client.get("/nope", headers={"X-Request-ID": "on-404"})
    assert r.headers["x-request-id"] == "on-404" and r.json()["error"]["request_id"] == "on-404"
