"""A client generated from the live server's OpenAPI document with `openapi-python-client`
(in a throwaway virtual environment) has no generator warnings and runs a workflow."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.server import RunningServer, running_server
from tests.helpers.storage import copy_storage

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# The generator formats what it writes with ruff (its post-generation hooks): both go in the venv.
GENERATOR = ("openapi-python-client>=0.29,<1", "ruff")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("client")
    with running_server(copy_storage(root / "storage"), "--plugins-dir", str(root / "plugins")) as running:
        yield running


def test_generated_client_runs_a_workflow(server: RunningServer, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    installed = subprocess.run([python, "-m", "pip", "install", "--quiet", *GENERATOR], capture_output=True, text=True, timeout=600)
    if installed.returncode != 0:
        pytest.skip(f"openapi-python-client could not be installed here: {installed.stderr.strip()[-300:]}")
    generated = subprocess.run(
        [str(venv / "bin" / "openapi-python-client"), "generate", "--url", f"{server.url}/docs/openapi.json", "--meta", "setup"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    output = generated.stdout + generated.stderr
    assert "Warning" not in output and "warning" not in output, output
    project = next(p for p in tmp_path.iterdir() if p.is_dir() and p.name.endswith("-client"))
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(project)], check=True, timeout=600)
    script = textwrap.dedent(
        f"""
        import time
        from echo_orchestrator_client import Client
        from echo_orchestrator_client.api.executions import execute_workflow, get_execution
        from echo_orchestrator_client.models import WorkflowExecuteRequest, ErrorResponse

        client = Client(base_url="{server.url}")
        body = WorkflowExecuteRequest.from_dict({{"inputs": {{"topic": "tea"}}}})
        started = execute_workflow.sync("market-research", client=client, body=body)
        assert type(started).__name__ == "WorkflowRunAccepted", started  # a typed model, not a dict
        execution_id = started.execution_id
        for _ in range(100):
            status = get_execution.sync(execution_id, client=client)
            assert type(status).__name__ == "ExecutionStatusView", status
            if status.status == "completed":
                print("completed", execution_id, status.progress.total_steps)
                break
            time.sleep(0.1)
        missing = execute_workflow.sync("no-such-workflow", client=client, body=body)
        assert isinstance(missing, ErrorResponse) and missing.error.code == "ERR_NOT_FOUND_001", missing
        """
    )
    ran = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0 and "completed" in ran.stdout, ran.stdout + ran.stderr
