"""The MCP server face without HTTP: the official SDK's client talks to the face's server in
process (the 2026-07-28 per-request path, and the handshake-era path where it differs), over
the real services on a copy of the shipped storage. The HTTP door, its auth and the stdio
command are tested with the real server in tests/e2e/test_mcp_server.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from mcp import Client
from mcp.client.subscriptions import ToolsListChanged
from mcp.shared.exceptions import MCPError

from echo_orchestrator.container import Services, open_services
from echo_orchestrator.engine.inputs import input_schema
from echo_orchestrator.mcp.lineage import DEPTH_KEY, PARENT_KEY
from echo_orchestrator.mcp_server import McpFace
from echo_orchestrator.mcp_server.server import REFUSED, RESOURCE_NOT_FOUND
from echo_orchestrator.models import InputField, Workflow
from echo_orchestrator.security.callers import Caller
from echo_orchestrator.settings import Settings
from echo_orchestrator.store.definitions.base import EntityRef, WorkflowQuery
from tests.helpers.storage import copy_storage

pytestmark = pytest.mark.anyio

OWNER = Caller("key", "key:owner")
READER = Caller("key", "key:reader", read_only=True)


def add_slow_workflow(storage: Path, slug: str = "slow-lane", latency_ms: int = 1500) -> None:
    """A final version with one agent whose (offline) model takes `latency_ms` to answer."""
    agent = json.loads((storage / "agents" / "researcher.json").read_text())
    agent |= {"agent_id": "sleeper", "name": "Sleeper", "llm": {**agent["llm"], "latency_ms": latency_ms}}
    workflow = json.loads((storage / "workflows" / "final" / "wf_market_research.v1.0.json").read_text())
    workflow |= {
        "workflow_id": "wf_slow_lane",
        "slug": slug,
        "name": "Slow Lane",
        "execution_model": "sequential",
        "agents": ["sleeper"],
        "agent_definitions": {"sleeper": agent},
    }
    (storage / "workflows" / "final" / "wf_slow_lane.v1.0.json").write_text(json.dumps(workflow))


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    root = copy_storage(tmp_path / "storage")
    add_slow_workflow(root)
    return root


def settings_for(storage: Path, **overrides: Any) -> Settings:
    return Settings(storage_dir=storage, plugins_dir=None, watch=False, watch_plugins=False, retention_interval_seconds=0, **overrides)


@pytest.fixture
async def services(storage: Path) -> AsyncIterator[Services]:
    async with open_services(settings_for(storage), queued=False) as opened:
        yield opened


def face_client(services: Services, caller: Caller = OWNER, mode: str = "auto") -> Client:
    return Client(McpFace(services, local_caller=caller).server, mode=mode)


async def test_the_tools_are_the_runnable_workflows_and_graphs_with_their_input_fields(services: Services) -> None:
    async with face_client(services) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {"market-research", "article-desk", "sales-insights", "slow-lane", "graph_ASIS"} <= set(tools)
    assert {"respond_to_execution", "wait_for_execution"} <= set(tools)
    for slug in ("market-research", "article-desk", "sales-insights"):
        workflow = await services.store.get_runnable(slug)
        assert tools[slug].input_schema == input_schema(workflow.input_fields)
        assert tools[slug].title == workflow.name and workflow.description in (tools[slug].description or "")
        assert tools[slug].output_schema is not None and tools[slug].output_schema["required"] == ["status"]
    assert tools["market-research"].input_schema["required"] == ["topic"]
    asis = services.registry.graph("ASIS").obj
    assert tools["graph_ASIS"].input_schema == dict(asis.input_schema)


async def test_archived_draft_only_and_unexposed_workflows_are_not_tools(services: Services, storage: Path) -> None:
    await services.catalogue.archive("sales-insights")
    draft = Workflow(workflow_id="wf_only_draft", slug="only-draft", name="Only a draft", agents=["researcher"])
    await services.store.save_draft(draft, create=True)
    hidden = json.loads((storage / "workflows" / "final" / "wf_slow_lane.v1.0.json").read_text())
    hidden |= {"workflow_id": "wf_hidden", "slug": "hidden", "mcp": {"expose": False}}
    await services.store.create_final(msgspec.convert(hidden, Workflow))
    async with face_client(services) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert "sales-insights" not in names and "only-draft" not in names and "hidden" not in names
    assert "market-research" in names


async def test_with_workflows_not_exposed_by_default_only_those_that_ask_are(storage: Path) -> None:
    workflow = json.loads((storage / "workflows" / "final" / "wf_slow_lane.v1.0.json").read_text())
    workflow |= {"workflow_id": "wf_wanted", "slug": "wanted", "mcp": {"expose": True}}
    (storage / "workflows" / "final" / "wf_wanted.v1.0.json").write_text(json.dumps(workflow))
    settings = settings_for(storage, mcp_expose_workflows=False, mcp_expose_graphs=False)
    async with open_services(settings, queued=False) as services, face_client(services) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert names == {"wanted", "respond_to_execution", "wait_for_execution"}


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # 2026-07-28, and the handshake era (2025-11-25)
async def test_a_call_runs_the_workflow_reports_its_steps_and_answers_its_outputs(services: Services, mode: str) -> None:
    progress: list[tuple[float, float | None, str | None]] = []

    async def seen(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async with face_client(services, mode=mode) as client:
        result = await client.call_tool("market-research", {"topic": "tea"}, progress_callback=seen)
    assert result.is_error is False
    answer = result.structured_content
    assert answer["status"] == "completed" and {"research_notes", "competitors"} <= set(answer["outputs"])
    assert json.loads(result.content[1].text) == answer  # the same, as text
    values = [p[0] for p in progress]
    assert values == sorted(values) and len(set(values)) == len(values), progress  # strictly increasing
    assert values[-1] == 3.0 and {p[1] for p in progress} == {3.0}
    assert sum("done" in (p[2] or "") for p in progress) == 3
    execution = await services.executions.get(answer["execution_id"])
    assert execution.caller == OWNER.id and execution.metadata == {"started_by": "mcp"}
    assert execution.parent_execution_id is None and execution.call_depth == 0


async def test_bad_input_is_refused_as_the_rest_route_refuses_it_and_nothing_runs(services: Services) -> None:
    async with face_client(services) as client:
        result = await client.call_tool("market-research", {"topic": 7})
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("no-such-workflow", {})
    assert result.is_error is True
    error = result.structured_content["error"]
    assert result.structured_content["status"] == "refused" and error["code"] == "ERR_VALIDATION_001"
    assert error["details"]["errors"][0]["field"] == "topic"
    assert unknown.value.code == -32602 and unknown.value.data["error"]["code"] == "ERR_NOT_FOUND_001"
    assert (await services.executions.list_executions())[1] == 0


async def test_a_paused_run_says_how_to_answer_and_the_answer_continues_it(services: Services) -> None:
    async with face_client(services) as client:
        paused = await client.call_tool("article-desk", {"brief": "a tea shop opens"})
        answer = paused.structured_content
        assert paused.is_error is False and answer["status"] == "paused", answer
        assert answer["pending_prompt"]["prompt_id"] and answer["next"]["tool"] == "respond_to_execution"
        assert f"/executions/{answer['execution_id']}/respond" in answer["next"]["http"]
        done = await client.call_tool("respond_to_execution", {"execution_id": answer["execution_id"], "response": "approve"})
    assert done.structured_content["status"] == "completed", done.structured_content
    assert done.structured_content["execution_id"] == answer["execution_id"]


async def test_a_long_run_answers_its_id_and_waiting_goes_on_with_it(storage: Path) -> None:
    async with open_services(settings_for(storage, mcp_call_timeout_seconds=0.3), queued=False) as services:
        async with face_client(services) as client:
            first = await client.call_tool("slow-lane", {"topic": "tea"})
            assert first.structured_content["status"] == "running" and first.is_error is False
            assert first.structured_content["next"]["tool"] == "wait_for_execution"
            execution_id = first.structured_content["execution_id"]
            assert (await services.executions.get(execution_id)).status == "running"  # not cancelled by the answer
            while (result := await client.call_tool("wait_for_execution", {"execution_id": execution_id})).structured_content[
                "status"
            ] == "running":
                pass
        assert result.structured_content["status"] == "completed"


async def test_a_cancelled_call_cancels_its_run(services: Services) -> None:
    async with face_client(services) as client:
        with anyio.move_on_after(0.6):
            await client.call_tool("slow-lane", {"topic": "tea"})
    runs, _ = await services.executions.list_executions(workflow_slug="slow-lane")
    assert len(runs) == 1
    with anyio.fail_after(10):
        while (execution := await services.executions.get(runs[0].execution_id)).status != "cancelled":
            await anyio.sleep(0.05)
    events, _ = await services.executions.events(execution.execution_id, event_type="execution_cancelled")
    assert "MCP client cancelled" in events[0].data["reason"]


async def test_a_read_only_caller_may_list_read_and_wait_but_not_start_or_answer(services: Services) -> None:
    async with face_client(services, READER) as client:
        assert (await client.list_tools()).tools
        assert (await client.list_resources()).resources
        for name, arguments in (
            ("market-research", {"topic": "tea"}),
            ("respond_to_execution", {"execution_id": "x", "response": "approve"}),
        ):
            with pytest.raises(MCPError) as refused:
                await client.call_tool(name, arguments)
            assert refused.value.code == REFUSED and refused.value.data["error"]["code"] == "ERR_AUTH_002"
            assert refused.value.data["detail"] == refused.value.data["error"]["message"]  # the API's error body
        with pytest.raises(MCPError) as missing:
            await client.call_tool("wait_for_execution", {"execution_id": "wfexec_none"})
        assert missing.value.data["error"]["code"] == "ERR_NOT_FOUND_001"  # it may wait: it was looked for
    assert (await services.executions.list_executions())[1] == 0


async def test_a_chain_of_runs_through_mcp_is_recorded_and_bounded(services: Services) -> None:
    async with face_client(services) as client:
        nested = await client.call_tool("market-research", {"topic": "tea"}, meta={PARENT_KEY: "wfexec_up", DEPTH_KEY: 2})
        too_deep = await client.call_tool("market-research", {"topic": "tea"}, meta={PARENT_KEY: "wfexec_up", DEPTH_KEY: 4})
    execution = await services.executions.get(nested.structured_content["execution_id"])
    assert execution.parent_execution_id == "wfexec_up" and execution.call_depth == 2
    assert too_deep.is_error and too_deep.structured_content["error"]["code"] == "ERR_EXEC_004"
    assert "ECHO_MCP_MAX_DEPTH" in too_deep.structured_content["error"]["message"]
    assert (await services.executions.list_executions())[1] == 1


async def test_definitions_and_executions_are_resources(services: Services) -> None:
    async with face_client(services) as client:
        listed = {r.uri for r in (await client.list_resources()).resources}
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        version = await client.read_resource("echo://workflows/market-research/versions/1.0")
        run = await client.call_tool("market-research", {"topic": "tea"})
        record = await client.read_resource(f"echo://executions/{run.structured_content['execution_id']}")
        with pytest.raises(MCPError) as unknown:
            await client.read_resource("echo://workflows/market-research/versions/9.9")
    assert "echo://workflows/market-research/versions/1.0" in listed and len(listed) == 4
    assert templates == {"echo://workflows/{slug}/versions/{version}", "echo://executions/{execution_id}"}
    stored = await services.store.encoded(EntityRef("final", "market-research", "1.0"))
    assert version.contents[0].text == stored.body.decode() and version.contents[0].mime_type == "application/json"
    assert json.loads(record.contents[0].text)["execution"]["status"] == "completed"
    assert unknown.value.code == RESOURCE_NOT_FOUND and unknown.value.data["error"]["code"] == "ERR_NOT_FOUND_001"


async def test_the_design_prompt_gives_the_format_a_sketch_and_the_agents(services: Services) -> None:
    async with face_client(services, READER) as client:
        prompts = (await client.list_prompts()).prompts
        got = await client.get_prompt("design_workflow", {"goal": "analyze sales data and write a report"})
        with pytest.raises(MCPError) as empty:
            await client.get_prompt("design_workflow", {"goal": " "})
    assert [p.name for p in prompts] == ["design_workflow"]
    text = got.messages[0].content.text
    assert "analyze sales data and write a report" in text and '"execution_model"' in text
    assert "Analyzer" in text and "- researcher: Researcher" in text
    assert empty.value.data["error"]["code"] == "ERR_VALIDATION_001"
    assert (await services.store.list_workflows(WorkflowQuery())).total == 4  # nothing saved


async def test_clients_hear_when_the_tools_change_and_not_for_a_draft(services: Services) -> None:
    face = McpFace(services, local_caller=OWNER)
    async with anyio.create_task_group() as tg, Client(face.server) as client:
        tg.start_soon(face.follow_changes)
        await anyio.sleep(0.1)
        async with client.listen(tools_list_changed=True) as subscription:
            draft = Workflow(workflow_id="wf_quiet", slug="quiet", name="Quiet", agents=["researcher"])
            await services.store.save_draft(draft, create=True)
            with anyio.move_on_after(1.5) as quiet:
                async for _ in subscription:
                    break
            assert quiet.cancelled_caught  # a draft is no tool: no notice
            field = InputField(name="topic", required=True)
            await services.catalogue.create({"name": "Fresh", "agents": ["researcher"], "input_fields": [msgspec.to_builtins(field)]})
            with anyio.fail_after(5):
                async for event in subscription:
                    assert isinstance(event, ToolsListChanged)
                    break
        assert "fresh" in {t.name for t in (await client.list_tools()).tools}
        tg.cancel_scope.cancel()


async def test_an_llm_block_pointing_where_the_operator_did_not_allow_is_refused_as_over_rest(services: Services) -> None:
    arguments = {"task": "x", "llm": {"provider": "openai", "model": "gpt-4o", "base_url": "http://169.254.169.254/v1"}}
    async with face_client(services) as client:
        result = await client.call_tool("graph_ASIS", arguments)
    assert result.is_error and result.structured_content["status"] == "refused"
    error = result.structured_content["error"]
    assert error["code"] == "ERR_VALIDATION_001" and "ECHO_LLM_ALLOWED_BASE_URLS" in error["message"]
    assert error["details"]["errors"][0]["field"] == "input.llm.base_url"
    assert (await services.executions.list_executions())[1] == 0
