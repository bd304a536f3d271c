"""A workflow's one status, shown and filtered alike, and timeouts that must be more than
nothing, through the real server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers.server import RunningServer

pytestmark = pytest.mark.e2e

FILTERS = ("draft", "validated", "testing", "final", "archived")


def rows(c: httpx.Client, **params: Any) -> dict[str, str]:
    listed = c.get("/workflows", params={"limit": 1000, **params})
    assert listed.status_code == 200, listed.text
    return {w["slug"]: w["status"] for w in listed.json()["workflows"]}


def test_the_status_filter_and_the_status_shown_are_one(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        # a released workflow being edited again: still `final`
        assert c.post("/workflows/clone", json={"workflow_id": "market-research", "from_version": "1.0"}).status_code == 200
        # a temp copy only: `testing`
        draft = c.get("/workflows/article-desk/draft").json()
        temp_only = {**draft, "workflow_id": "wf_temp_only", "slug": "temp-only", "status": "validated"}
        assert c.post("/workflows/temp/save", json=temp_only).status_code == 200
        # a draft, and a validated draft
        designed = c.post("/workflows/design/prompt", json={"prompt": "Summarize the news"}).json()["workflow"]
        validated = c.post("/workflows/design/prompt", json={"prompt": "Translate the memo"}).json()["workflow"]
        assert c.post("/workflows/validate/final", json={"workflow": validated}).json()["valid"]
        # an archived one
        assert c.post("/workflows/sales-insights/archive").status_code == 200

        everything = rows(c, include_archived=True)
        expected = {
            "market-research": "final",
            "article-desk": "final",
            "temp-only": "testing",
            designed["slug"]: "draft",
            validated["slug"]: "validated",
            "sales-insights": "archived",
        }
        assert {slug: everything[slug] for slug in expected} == expected
        for wanted in FILTERS:
            found = rows(c, status=wanted)
            assert set(found.values()) <= {wanted}, (wanted, found)  # the filter shows what it filtered on
            assert {s for s, v in expected.items() if v == wanted} <= set(found), (wanted, found)
        active = rows(c, status="active")
        assert set(active.values()) == {"testing", "final"} and "sales-insights" not in active
        for slug, status in expected.items():
            assert c.get(f"/workflows/{slug}").json()["status"] == status  # the detail says the same


def test_timeouts_must_be_more_than_nothing(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        before = c.get("/executions").json()["total"]
        cases = [
            ("/workflows/sales-insights/execute", {"inputs": {"input_data": "x"}, "config": {"timeout_per_step": -1}}, "config.timeout_per_step"),
            ("/workflows/sales-insights/execute", {"inputs": {"input_data": "x"}, "config": {"timeout": -1}}, "config.timeout"),
            ("/workflows/sales-insights/execute", {"inputs": {"input_data": "x"}, "config": {"timeout": 0}}, "config.timeout"),
            ("/graphs/ASIS/execute", {"input": {"task": "x"}, "config": {"timeout_per_step": -0.5}}, "config.timeout_per_step"),
            ("/workflows/sales-insights/execute", {"inputs": {"input_data": "x"}, "config": {"max_retries": -1}}, "config.max_retries"),
            ("/mcp-tools/execute", {"tool_id": "plugins-calculator", "input": {"expression": "1"}, "config": {"timeout": -5}}, "config.timeout"),
        ]  # fmt: skip
        for path, body, field in cases:
            refused = c.post(path, json=body)
            assert refused.status_code == 422, (path, body, refused.text)
            error = refused.json()["error"]["details"]["errors"][0]
            assert (error["field"], error["source"]) == (field, "body"), error
            assert "> 0" in error["message"] or ">= 0" in error["message"], error
        assert c.get("/executions").json()["total"] == before  # nothing was started
        schemas = c.get("/docs/openapi.json").json()["components"]["schemas"]
        for schema, prop in (("ExecutionConfig", "timeout_per_step"), ("ExecutionConfig", "timeout"), ("ToolExecuteConfig", "timeout")):
            number = next(o for o in schemas[schema]["properties"][prop]["oneOf"] if o["type"] == "number")
            assert number["exclusiveMinimum"] == 0, (schema, prop, number)
