"""Graph and MCP endpoints through the app, with a real MCP server and the example plugin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from echo_orchestrator.api.app import create_app
from echo_orchestrator.models import McpServerConfig, McpSettings
from echo_orchestrator.settings import Settings
from echo_orchestrator.store.definitions import codec
from tests.helpers.mcp_servers import stdio_test_server
from tests.helpers.plugins import copy_example
from tests.helpers.server import LOCAL


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Litestar]]:
    root = tmp_path_factory.mktemp("api")
    storage, plugins = root / "storage", root / "plugins"
    storage.mkdir()
    copy_example(plugins)
    settings = McpSettings(
        mcp_servers={
            "test": stdio_test_server(
                timeout=15, env={"TEST_API_TOKEN": "s3cret-value"}, capabilities=["math"], display_name="Test tools", max_retries=2
            ),
            "down": McpServerConfig(command="/nonexistent/server", timeout=2),
        }
    )
    (storage / "mcp_settings.json").write_bytes(codec.encode(settings))
    app = create_app(Settings(storage_dir=storage, plugins_dir=plugins, watch=False, watch_plugins=False))
    with TestClient(app, base_url=LOCAL, timeout=60) as c:
        assert c.get("/mcp-servers/status").status_code == 200  # connect everything once
        yield c


def test_list_graphs_with_filters(client: TestClient[Litestar]) -> None:
    body = client.get("/graphs").json()
    assert body["total"] == 2 and [g["name"] for g in body["graphs"]] == ["ASIS", "draft_review"]
    assert body["limit"] == 100 and body["offset"] == 0
    assert [g["name"] for g in client.get("/graphs?category=creative").json()["graphs"]] == ["draft_review"]
    assert [g["name"] for g in client.get("/graphs?tags=agent,planning").json()["graphs"]] == ["ASIS"]
    assert client.get("/graphs?tags=agent,writing").json()["total"] == 0
    page = client.get("/graphs?limit=1&offset=1").json()
    assert (page["total"], [g["name"] for g in page["graphs"]]) == (2, ["draft_review"])
    assert client.get("/graphs?limit=0").status_code == 422


def test_graph_detail_and_mermaid(client: TestClient[Litestar]) -> None:
    detail = client.get("/graphs/ASIS").json()
    assert detail["display_name"] == "Agent-Step Intelligence System"
    assert detail["input_schema"]["required"] == ["task"]
    assert {"name": "planner", "type": "llm_node"} in detail["nodes"]
    assert {"from": "planner", "to": "executor", "conditional": False, "label": None} in detail["edges"]
    assert detail["origin"]["kind"] == "builtin"
    mermaid = client.get("/graphs/draft_review?format=mermaid")
    assert mermaid.headers["content-type"].startswith("text/vnd.mermaid")
    assert "write --> critique" in mermaid.text
    missing = client.get("/graphs/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ERR_NOT_FOUND_001"


def test_mcp_servers_and_tools(client: TestClient[Litestar]) -> None:
    body = client.get("/mcp-servers").json()
    servers = {s["name"]: s for s in body["mcp_servers"]}
    assert set(servers) == {"plugins", "test", "down"}
    assert (body["total"], body["available"], body["unavailable"]) == (3, 2, 1)
    assert servers["test"]["display_name"] == "Test tools" and servers["test"]["tools_count"] == 6
    assert servers["plugins"]["tools_count"] == 7  # text_stats, calculator, 3 file tools + the example's keywords, slugify
    assert "nonexistent" in servers["down"]["error"]
    tools = client.get("/mcp-servers/tools").json()
    ids = {t["tool_id"] for t in tools["tools"]}
    assert {"plugins-keywords", "plugins-calculator", "test-add"} <= ids and tools["total"] == len(ids)
    assert {t["tool_id"] for t in client.get("/mcp-servers/tools?server=plugins").json()["tools"]} == {
        "plugins-calculator",
        "plugins-keywords",
        "plugins-list_files",
        "plugins-read_file",
        "plugins-slugify",
        "plugins-text_stats",
        "plugins-write_file",
    }
    assert {t["server"] for t in client.get("/mcp-servers/tools?capability=math").json()["tools"]} == {"test"}


def test_mcp_status(client: TestClient[Litestar]) -> None:
    body = client.get("/mcp-servers/status").json()
    assert body["overall_status"] == "degraded"
    by_name = {s["name"]: s for s in body["servers"]}
    assert by_name["test"]["status"] == "available" and by_name["test"]["response_time_ms"] > 0
    assert by_name["down"]["status"] == "unavailable" and by_name["down"]["response_time_ms"] is None


def test_mcp_settings_never_show_secrets(client: TestClient[Litestar]) -> None:
    response = client.get("/mcp-servers/settings")
    assert "s3cret-value" not in response.text
    body = response.json()
    test = next(s for s in body["servers"] if s["name"] == "test")
    assert test["env"] == {"TEST_API_TOKEN": "********"} and test["env_vars"] == ["TEST_API_TOKEN"]
    assert test["config"]["timeout"] == 15 and body["mcp_settings_file"].endswith("mcp_settings.json")
    assert (test["config"]["api_key_env"], test["config"]["max_retries"]) == ("TEST_API_TOKEN", 2)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"tool_id": "test-add", "input": {"a": 2, "b": 3}}, 200, None),
        ({"tool_id": "plugins-keywords", "input": {"text": "plan the plan", "top": 1}}, 200, None),
        ({"tool_id": "test-add", "input": {"a": "two"}}, 422, "ERR_VALIDATION_001"),
        ({"tool_id": "test-fail", "input": {"message": "upstream quota"}}, 502, "ERR_MCP_002"),
        ({"tool_id": "down-anything", "input": {}}, 503, "ERR_MCP_001"),
        ({"tool_id": "test-slow", "input": {"seconds": 5}, "config": {"timeout": 0.3}}, 504, "ERR_EXEC_002"),
        ({"tool_id": "nobody-tool", "input": {}}, 404, "ERR_NOT_FOUND_001"),
        ({"tool_id": "test-add", "inputs": {}}, 422, "ERR_VALIDATION_001"),
    ],
)
def test_execute_tool(client: TestClient[Litestar], body: dict[str, object], status: int, code: str | None) -> None:
    response = client.post("/mcp-tools/execute", json=body)
    assert response.status_code == status, response.text
    if code is None:
        result = response.json()
        assert result["status"] == "completed" and result["execution_time_ms"] >= 0
        assert result["output"] in ({"total": 5}, {"result": [{"word": "plan", "count": 2}]})
    else:
        assert response.json()["error"]["code"] == code


def test_service_health_has_plugin_and_mcp_sections(client: TestClient[Litestar]) -> None:
    body = client.get("/service/health").json()
    assert body["plugins"]["graphs"] == ["ASIS", "draft_review"]
    assert body["plugins"]["llm_providers"] == ["anthropic", "echo", "openai"]
    assert body["plugins"]["problems"] == [] and body["plugins"]["plugins_dir"].endswith("plugins")
    assert body["mcp"] == {"servers": 3, "available": 2, "unavailable": ["down"]}
    # The document's blocks: the database and the engine and MCP services.
    assert body["database"]["kind"] == "sqlite" and body["database"]["status"] == "connected"
    assert body["database"]["path"] == "runtime/runtime.sqlite"  # relative to the storage root
    assert body["services"]["workflow_engine"] == "running" and body["services"]["mcp_servers"] == "degraded"
    # How big the run history is and how long it is kept (the prune at start has run).
    assert body["database"]["size_bytes"] > 0 and body["database"]["free_bytes"] >= 0
    retention = body["retention"]
    assert (retention["days"], retention["max_executions"], retention["overrides"]) == (30, 100_000, {})
    assert retention["last_prune"] is None or retention["last_prune"]["executions"] == 0
