"""The code samples of docs/ run: every ```python block is executed, so a sample that does not
run fails the suite. Plugin samples are run and their objects used (the graph built and
compiled, the run it defines executed offline); client samples are run against the real
server with the sample's address and execution id replaced by live ones."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from echo_orchestrator.backends import runtime_store
from echo_orchestrator.engine.context import EngineGraphContext
from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.engine.executions import ExecutionManager
from echo_orchestrator.engine.llm.prices import PriceTable
from echo_orchestrator.engine.runs import RunPlan
from echo_orchestrator.mcp import McpHub
from echo_orchestrator.models import Execution, LLMConfig, McpSettings
from echo_orchestrator.registry import GraphSpec, ProviderSpec, ToolSpec
from echo_orchestrator.services.plugins import build_registry
from echo_orchestrator.settings import Settings
from echo_orchestrator.store.workspaces.folders import Workspaces
from tests.helpers.server import REPO, RunningServer, running_server
from tests.helpers.storage import copy_storage

pytestmark = pytest.mark.e2e

BLOCK = re.compile(r"^(?P<indent>[ ]*)```python\n(?P<code>.*?)^(?P=indent)```", re.DOTALL | re.MULTILINE)


def samples(doc: str) -> list[str]:
    return [textwrap.dedent(m["code"]) for m in BLOCK.finditer((REPO / "docs" / doc).read_text())]


def test_every_python_sample_is_covered_here() -> None:
    counted = {doc.name: len(samples(doc.name)) for doc in (REPO / "docs").glob("*.md")}
    assert {doc: n for doc, n in counted.items() if n} == {"plugins.md": 3, "streaming.md": 2, "triggers.md": 2, "workspaces.md": 1}, (
        counted
    )


def test_plugin_samples_run() -> None:
    registry, models = build_registry(Settings(plugins_dir=None))  # type: ignore[arg-type]
    registry.load()
    context = EngineGraphContext(models)
    found: dict[type, list[Any]] = {GraphSpec: [], ToolSpec: [], ProviderSpec: []}
    for i, code in enumerate(samples("plugins.md")):
        # A real module, as a plugin's would be: type hints resolve against its globals.
        module = types.ModuleType(f"doc_sample_{i}")
        sys.modules[module.__name__] = module
        exec(compile(code, "docs/plugins.md", "exec"), module.__dict__)
        for value in list(module.__dict__.values()):
            for kind in found:
                if isinstance(value, kind):
                    found[kind].append(value)
    (graph,) = found[GraphSpec]
    compiled = graph.build(context).compile()
    result = anyio.run(compiled.ainvoke, {"topic": "tea", "llm": {"provider": "echo"}})
    assert result["draft"].startswith("[echo: offline")
    (slugify,) = found[ToolSpec]
    assert slugify.input_schema["required"] == ["text"]
    (provider,) = found[ProviderSpec]
    assert provider.check(LLMConfig(provider="mistral", model="x")).ready in (True, False)


def test_the_workspace_sample_writes_into_its_run_folder(tmp_path: Path) -> None:
    """docs/workspaces.md's graph, run as an execution: its files land in the run's folder."""
    (code,) = samples("workspaces.md")
    module = types.ModuleType("doc_sample_workspaces")
    sys.modules[module.__name__] = module
    exec(compile(code, "docs/workspaces.md", "exec"), module.__dict__)
    graph = module.report_writer
    spaces = Workspaces(tmp_path / "workspaces", shown_as="workspaces", max_size_mb=1)
    spaces.ensure_default()

    async def run() -> Execution:
        runtime = runtime_store(None, tmp_path)
        await runtime.open()
        _registry, models = build_registry(Settings(plugins_dir=None))  # type: ignore[arg-type]
        hub = McpHub(lambda: McpSettings(), dict, dict)
        engine = ExecutionManager(runtime, models, hub, PriceTable(), EventBus(), workspaces=spaces)
        plan = RunPlan(kind="graph", build=lambda ctx, _c: graph.build(ctx), steps={"write_report": (1, "write_report")}, total_steps=1)
        try:
            async with hub.running(), engine.running():
                started = await engine.start(plan, {"topic": "Tea"})
                with anyio.fail_after(20):
                    return await engine.wait(started.execution_id)
        finally:
            await runtime.close()

    done = anyio.run(run)
    folder = spaces.folder("default") / "Working_Directory" / done.execution_id
    assert done.status == "completed" and done.output_files == 2
    assert (folder / "report.md").read_text() == "# Tea\n" and (folder / "notes.txt").exists()
    assert (done.outputs or {})["report"] == f"Working_Directory/{done.execution_id}/report.md"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("samples")
    with running_server(copy_storage(root / "storage"), "--plugins-dir", str(root / "plugins")) as running:
        yield running


@pytest.mark.parametrize("index", [0, 1], ids=["websocket", "socketio"])
def test_streaming_samples_run_against_the_server(server: RunningServer, index: int) -> None:
    run = httpx.post(
        f"{server.url}/graphs/ASIS/execute",
        json={"input": {"task": "sample", "llm": {"provider": "echo", "latency_ms": 300}}, "async": True},
    )
    execution_id = run.json()["execution_id"]
    code = (
        samples("streaming.md")[index].replace("127.0.0.1:8000", server.url.removeprefix("http://")).replace("wfexec_abc123", execution_id)
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=Path(REPO))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "execution_completed" in done.stdout
    # An id that does not exist: the sample says so and ends, it does not wait forever.
    unknown = code.replace(execution_id, "wfexec_doesnotexist")
    done = subprocess.run([sys.executable, "-c", unknown], capture_output=True, text=True, timeout=30, cwd=Path(REPO))
    assert done.returncode == 1 and "Execution 'wfexec_doesnotexist' not found" in done.stderr, done.stdout + done.stderr


def test_the_trigger_samples_sign_for_a_hook_and_verify_a_delivery(tmp_path: Path) -> None:
    """docs/triggers.md: its stdlib signer is accepted by a real server's hook, and its
    verifier accepts a real delivery (and refuses it tampered with)."""
    import base64
    import json

    from standardwebhooks.webhooks import WebhookVerificationError

    from tests.helpers.receiver import receiving

    send_code, verify_code = samples("triggers.md")
    scope: dict[str, Any] = {}
    exec(compile(send_code, "docs/triggers.md", "exec"), scope)
    exec(compile(verify_code, "docs/triggers.md", "exec"), scope)
    secret = "whsec_" + base64.b64encode(b"documentation sample secret 32b!").decode()
    storage = copy_storage(tmp_path / "storage")
    final = storage / "workflows" / "final" / "wf_market_research.v1.0.json"
    hook = {"id": "docs-hook", "secret": "${DOCS_HOOK_SECRET}", "inputs": {"topic": "ticket.subject"}}
    final.write_text(json.dumps({**json.loads(final.read_text()), "triggers": [hook]}))
    with receiving(secret) as receiver:
        env = {"DOCS_HOOK_SECRET": secret, "ECHO_WEBHOOK_SECRET": secret, "ECHO_WEBHOOK_ALLOWED_URLS": f"http://127.0.0.1:{receiver.port}"}
        with running_server(storage, env=env) as server:
            sent = scope["send"](f"{server.url}/hooks/docs-hook", {"ticket": {"subject": "tides"}}, secret)
            assert sent.status_code == 202, sent.text
            body = {"inputs": {"topic": "tides"}, "webhook": {"url": receiver.url}}
            assert httpx.post(f"{server.url}/workflows/market-research/execute", json=body).status_code == 202
            (got,) = receiver.wait_for(1)
    message = scope["verify"](got.raw, got.headers, secret)
    assert message["type"] == "execution.completed" and message["data"]["status"] == "completed"
    with pytest.raises(WebhookVerificationError):
        scope["verify"](got.raw.replace(b"completed", b"failed"), got.headers, secret)
