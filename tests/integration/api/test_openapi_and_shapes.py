"""The spec clients generate from, and the execute routes' two input shapes."""

from __future__ import annotations

import re
from pathlib import Path

from litestar import Litestar
from litestar.testing import TestClient

Client = TestClient[Litestar]


def test_operation_ids_are_readable_and_unique(shipped_client: Client) -> None:
    spec = shipped_client.get("/docs/openapi.json").json()
    ids = [
        op["operationId"]
        for item in spec["paths"].values()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", i) for i in ids), ids
    assert {"list_graphs", "execute_workflow", "get_execution", "execute_graph", "register_agent", "get_final_workflow"} <= set(ids)
    # every operation documents the one error body
    for item in spec["paths"].values():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                assert op["responses"]["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}


def test_every_operation_documents_what_it_answers(shipped_client: Client) -> None:
    """A typed answer for every route: no success response whose schema is empty or a bare
    object (which a generated client can only treat as `Any`)."""
    spec = shipped_client.get("/docs/openapi.json").json()
    untyped = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            for code, response in op["responses"].items():
                if code.startswith("2"):
                    untyped += [
                        (method, path, code, media)
                        for media, body in (response.get("content") or {}).items()
                        if body.get("schema") in (None, {}, {"type": "object"}, {"type": "object", "additionalProperties": {}})
                    ]
    assert not untyped, untyped


def test_input_and_inputs_mean_the_same_everywhere(shipped_client: Client) -> None:
    c = shipped_client
    for field in ("input", "inputs"):
        wf = c.post("/workflows/sales-insights/execute", json={field: {"input_data": "Q1"}})
        assert wf.status_code == 202 and wf.json()["input_field"] == field, wf.text
        graph = c.post("/graphs/ASIS/execute", json={field: {"task": "plan"}})
        assert graph.status_code == 200 and graph.json()["input_field"] == field and graph.json()["status"] == "completed", graph.text
        legacy = c.post("/execute", json={"graph_name": "ASIS", field: {"task": "plan"}})
        assert legacy.status_code == 200 and legacy.json()["input_field"] == field, legacy.text
    both = c.post("/graphs/ASIS/execute", json={"input": {"task": "a"}, "inputs": {"task": "b"}})
    assert both.status_code == 422 and both.json()["error"]["details"]["errors"][0]["field"] == "input"
    same = c.post("/graphs/ASIS/execute", json={"input": {"task": "a"}, "inputs": {"task": "a"}})
    assert same.status_code == 200


def test_every_documented_route_needs_a_caller(tmp_path: Path) -> None:
    """With keys configured, each operation of the OpenAPI document (the catalogue's included)
    answers 401 with the error body to a request without one; only the probes and docs are open."""
    import re

    from echo_orchestrator.api.app import create_app
    from echo_orchestrator.settings import Settings
    from tests.helpers.server import LOCAL

    key = "eo_catalogue-test-key-0123456789abcdef"
    app = create_app(Settings(storage_dir=tmp_path / "storage", plugins_dir=None, watch=False, watch_plugins=False, api_keys=key))  # type: ignore[arg-type]
    with TestClient(app, base_url=LOCAL) as c:
        spec = c.get("/docs/openapi.json").json()
        checked = 0
        for path, item in spec["paths"].items():
            for method in ("get", "post", "put", "patch", "delete"):
                if method not in item or path in ("/health", "/health/ready"):
                    continue
                url = re.sub(r"\{[^}]+\}", "1", path)
                r = c.request(method.upper(), url, json={} if method in ("post", "put", "patch") else None)
                if path == "/hooks/{trigger_id}":  # checks a signature or a key itself, as its trigger says
                    assert r.status_code == 404 and r.json()["error"]["code"] == "ERR_NOT_FOUND_001", r.text
                    continue
                assert r.status_code == 401 and r.json()["error"]["code"] == "ERR_AUTH_001", (method, path, r.status_code)
                checked += 1
        assert checked > 60
        assert c.get("/workflows", headers={"Authorization": f"Bearer {key}"}).status_code == 200
