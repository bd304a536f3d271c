"""OpenTelemetry traces as a collector receives them: the real server (and a queue worker on
PostgreSQL) exporting OTLP/HTTP to a local receiver that decodes the protobuf with
`opentelemetry-proto`. The span tree of a run, its parent from the caller's `traceparent`,
and the trace carried through the queue to the process that runs it."""

from __future__ import annotations

import json
import secrets
import sys
import time
from pathlib import Path

import httpx

from tests.helpers.mcp_servers import TEST_SERVER
from tests.helpers.otlp import ReceivedSpan, otlp_receiver
from tests.helpers.postgres import new_schema
from tests.helpers.server import running_server, running_worker
from tests.helpers.storage import copy_storage

KEY = "eo_traces_key_0123456789abcdef"


def exporting(url: str, service: str) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_SERVICE_NAME": service}


def traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def run(url: str, header: str) -> str:
    headers = {"traceparent": header, "Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as c:
        execution_id = str(c.post("/workflows/market-research/execute", json={"inputs": {"topic": "tea"}}).json()["execution_id"])
        deadline = time.monotonic() + 30
        while c.get(f"/executions/{execution_id}").json()["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    return execution_id


def test_a_run_is_a_span_tree_under_the_callers_trace(tmp_path: Path) -> None:
    storage = copy_storage(tmp_path / "storage")
    header, trace_id, caller_span = traceparent()
    with otlp_receiver() as receiver:
        env = {**exporting(receiver.url, "echo-test"), "ECHO_API_KEYS": f"{KEY} id=ops"}
        with running_server(storage, "--plugins-dir", str(tmp_path / "plugins"), env=env) as server:
            execution_id = run(server.url, header)

            def whole(spans: list[ReceivedSpan]) -> bool:
                mine = [s for s in spans if s.trace_id == trace_id]
                names = {s.name.split()[0] for s in mine}
                return sum(s.name.startswith("chat ") for s in mine) == 2 and {"execution", "POST"} <= names

            spans = [s for s in receiver.wait_for(whole) if s.trace_id == trace_id]
    by_id = {s.span_id: s for s in spans}
    http = next(s for s in spans if s.name == "POST /workflows/{workflow_slug}/execute")
    assert http.parent_span_id == caller_span and http.attributes["http.response.status_code"] == 202
    execution = next(s for s in spans if s.name == "execution market-research")
    assert execution.parent_span_id == http.span_id and execution.service == "echo-test"
    assert execution.attributes["echo.execution.id"] == execution_id and execution.attributes["echo.execution.status"] == "completed"
    steps = [s for s in spans if s.name.startswith("step ")]
    assert sorted(s.attributes["echo.step.name"] for s in steps) == ["Competitor Scout", "Merge", "Researcher"]
    assert all(s.parent_span_id == execution.span_id for s in steps)
    for call in (s for s in spans if s.name.startswith("chat ")):
        assert by_id[call.parent_span_id].name.startswith("step ")
        assert call.attributes["gen_ai.operation.name"] == "chat" and call.attributes["gen_ai.request.model"] == "echo"
        assert call.attributes["gen_ai.provider.name"] == "echo" and call.attributes["gen_ai.usage.output_tokens"] > 0
    assert not any(KEY in str(s.attributes) for s in receiver.spans)  # no secret in any attribute
    assert not any("gen_ai.input.messages" in s.attributes for s in receiver.spans)  # no text unless allowed


def test_llm_spans_carry_the_text_only_when_allowed_and_never_a_secret(tmp_path: Path) -> None:
    """ECHO_TRACE_CONTENT=true: each chat span has the call's messages and reply in the GenAI
    conventions' attributes, with the service's secrets (here a token in its environment
    that a user pasted into the topic) masked."""
    storage = copy_storage(tmp_path / "storage")
    token = "tok_live_" + secrets.token_hex(12)
    header, trace_id, _ = traceparent()
    with otlp_receiver() as receiver:
        env = {**exporting(receiver.url, "echo-test"), "ECHO_TRACE_CONTENT": "true", "PAYMENTS_TOKEN": token}
        with running_server(storage, "--plugins-dir", str(tmp_path / "plugins"), env=env) as server:
            with httpx.Client(base_url=server.url, timeout=30, headers={"traceparent": header}) as c:
                r = c.post("/workflows/market-research/execute", json={"inputs": {"topic": f"tea, key {token}"}})
                execution_id = r.json()["execution_id"]
                deadline = time.monotonic() + 30
                while c.get(f"/executions/{execution_id}").json()["status"] != "completed":
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            spans = receiver.wait_for(lambda got: sum(s.trace_id == trace_id and s.name.startswith("chat ") for s in got) == 2)
    calls = [s for s in spans if s.trace_id == trace_id and s.name.startswith("chat ")]
    for call in calls:
        asked = json.loads(str(call.attributes["gen_ai.input.messages"]))
        replied = json.loads(str(call.attributes["gen_ai.output.messages"]))
        assert [m["role"] for m in asked] == ["system", "user"] and "tea, key" in asked[1]["parts"][0]["content"]
        assert replied[0]["role"] == "assistant" and replied[0]["parts"][0]["content"].startswith("[echo: offline")
    assert not any(token in str(s.attributes) for s in receiver.spans)
    assert any("********" in str(call.attributes["gen_ai.input.messages"]) for call in calls)


def test_the_trace_goes_with_the_run_through_the_queue_to_the_worker(tmp_path: Path, postgres_database: str) -> None:
    storage = copy_storage(tmp_path / "storage")
    header, trace_id, _ = traceparent()
    plugins = ("--plugins-dir", str(tmp_path / "plugins"))
    cluster = {"ECHO_RUNTIME_URL": new_schema(postgres_database), "ECHO_API_KEYS": f"{KEY} id=ops"}
    with otlp_receiver() as receiver:
        api_env, worker_env = {**cluster, **exporting(receiver.url, "echo-api")}, {**cluster, **exporting(receiver.url, "echo-worker")}
        with (
            running_server(storage, *plugins, "--no-worker", env=api_env, timeout=40) as api,
            running_worker(storage, *plugins, env=worker_env),
        ):
            run(api.url, header)
            # Two processes export on their own schedules: wait for both spans.
            spans = receiver.wait_for(lambda got: {"execution", "POST"} <= {s.name.split()[0] for s in got if s.trace_id == trace_id})
    execution = next(s for s in spans if s.trace_id == trace_id and s.name.startswith("execution "))
    http = next(s for s in spans if s.trace_id == trace_id and s.name.startswith("POST "))
    assert execution.service == "echo-worker" and http.service == "echo-api"
    assert execution.parent_span_id == http.span_id  # one trace, across processes and the queue


def test_a_tool_step_is_an_execute_tool_span_of_its_step(tmp_path: Path) -> None:
    storage = copy_storage(tmp_path / "storage")
    (storage / "mcp_settings.json").write_text(
        json.dumps({"mcpServers": {"tools": {"command": sys.executable, "args": [str(TEST_SERVER)]}}})
    )
    workflow = {
        "name": "Adder",
        "input_fields": [{"name": "a", "type": "integer", "required": True}, {"name": "b", "type": "integer", "required": True}],
        "strategy_definition": {
            "steps": [{"step_number": 1, "name": "Add", "tool_id": "tools-add", "input_mapping": {"a": "a", "b": "b"}}]
        },
    }
    header, trace_id, _ = traceparent()
    with (
        otlp_receiver() as receiver,
        running_server(storage, "--plugins-dir", str(tmp_path / "p"), env=exporting(receiver.url, "echo")) as s,
    ):
        with httpx.Client(base_url=s.url, timeout=30) as c:
            deadline = time.monotonic() + 30
            while c.post("/workflows", json=workflow).status_code != 201:  # the tool server may still be starting
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert c.post("/workflows/adder/execute", json={"inputs": {"a": 2, "b": 3}}, headers={"traceparent": header}).status_code == 202
        names = {"execute_tool tools-add", "step 1 Add"}
        spans = receiver.wait_for(lambda got: names <= {x.name for x in got if x.trace_id == trace_id})
    tool = next(x for x in spans if x.trace_id == trace_id and x.name == "execute_tool tools-add")
    step = next(x for x in spans if x.trace_id == trace_id and x.name == "step 1 Add")
    assert tool.parent_span_id == step.span_id
    assert tool.attributes == {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "tools-add"}  # no argument values
