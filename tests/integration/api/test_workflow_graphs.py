"""Runnable workflows are listed and drawn as graphs (`workflow:<slug>`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from echo_orchestrator.api.app import create_app
from echo_orchestrator.settings import Settings
from tests.helpers.server import LOCAL
from tests.helpers.storage import add_draft_only, copy_storage

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Litestar]]:
    storage = tmp_path_factory.mktemp("wfgraphs") / "storage"
    copy_storage(storage)
    add_draft_only(storage)
    app = create_app(Settings(storage_dir=storage, plugins_dir=None, watch=False, watch_plugins=False))  # type: ignore[arg-type]
    with TestClient(app, base_url=LOCAL) as c:
        yield c


def test_runnable_workflows_are_listed_after_plugin_graphs(client: TestClient[Litestar]) -> None:
    body = client.get("/graphs").json()
    names = [g["name"] for g in body["graphs"]]
    # A workflow with only a draft is not runnable, not listed.
    assert names == ["ASIS", "workflow:article-desk", "workflow:market-research", "workflow:sales-insights"] and body["total"] == 4
    sales = body["graphs"][3]
    assert sales["origin"] == {"kind": "workflow", "distribution": "wf_sales_insights", "version": "1.0", "path": None}
    # The list carries each workflow's real input schema, as its detail does.
    assert sales["input_schema"] == client.get("/graphs/workflow:sales-insights").json()["input_schema"]
    assert sales["input_schema"]["required"] == ["input_data"]
    assert [g["name"] for g in client.get("/graphs?source=workflow&category=research").json()["graphs"]] == ["workflow:market-research"]
    page = client.get("/graphs?limit=1&offset=2").json()
    assert [g["name"] for g in page["graphs"]] == ["workflow:market-research"] and page["total"] == 4


def test_workflow_graph_detail(client: TestClient[Litestar]) -> None:
    detail = client.get("/graphs/workflow:sales-insights").json()
    assert detail["input_schema"] == {
        "type": "object",
        "properties": {"input_data": {"type": "string", "description": "The sales data to analyze"}},
        "required": ["input_data"],
    }
    assert {"from": "analyzer", "to": "synthesizer", "conditional": False, "label": None} in detail["edges"]
    assert {"name": "analyzer", "type": "agent_node"} in detail["nodes"]
    parallel = client.get("/graphs/workflow:wf_market_research?format=mermaid").text
    assert "researcher --> merge" in parallel and "competitor_scout --> merge" in parallel
    assert client.get("/graphs/workflow:only-draft").status_code == 409  # a draft has nothing to run
    assert client.get("/graphs/workflow:nope").status_code == 404
