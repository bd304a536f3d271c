"""`echo-orchestrator run` and `follow`, as processes, in-process on a storage copy and
against the real server: progress, answering a prompt at the terminal, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.server import REPO, RunningServer, running_server
from tests.helpers.storage import copy_storage

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("cli")
    copy_storage(root / "storage")
    # The operator allows a dead port as an OpenAI endpoint: a run sent there fails for real.
    env = {"ECHO_LLM_ALLOWED_BASE_URLS": "http://127.0.0.1:9", "OPENAI_API_KEY": "sk-test"}
    with running_server(root / "storage", "--plugins-dir", str(root / "plugins"), env=env) as running:
        wf = httpx.get(f"{running.url}/workflows/sales-insights/final/1.0").json()
        reviewed = {**wf, "workflow_id": "wf_reviewed", "slug": "reviewed", "status": "validated",
                    "human_in_loop": {"enabled": True, "review_points": ["analyzer"]}}  # fmt: skip
        assert httpx.post(f"{running.url}/workflows/temp/save", json=reviewed).status_code == 200
        yield running


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echo_orchestrator", *args], input=stdin, capture_output=True, text=True, cwd=REPO, timeout=60
    )


def test_run_in_process_on_local_storage(tmp_path: Path) -> None:
    copy_storage(tmp_path / "storage")
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"topic": "from a file"}))
    done = cli("run", "market-research", "--input-file", str(inputs), "--input", "topic=tea",
               "--storage", str(tmp_path / "storage"), "--plugins-dir", str(tmp_path / "p"))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "✓ step 1 Researcher" in done.stdout and "completed · LLM calls 2" in done.stdout
    # the run is in the storage's runtime database, and `follow` reads it from there
    execution_id = done.stdout.split("execution ", 1)[1].split()[0]
    again = cli("follow", execution_id, "--storage", str(tmp_path / "storage"))
    assert again.returncode == 0 and "completed" in again.stdout


def test_run_on_a_server_answers_the_prompt_at_the_terminal(server: RunningServer) -> None:
    done = cli("run", "reviewed", "--input", "input_data=Q1", "--server", server.url, stdin="approve\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "answer" in done.stdout and "completed · LLM calls" in done.stdout
    execution_id = done.stdout.split("execution ", 1)[1].split()[0]
    status = httpx.get(f"{server.url}/executions/{execution_id}").json()["status"]
    assert status == "completed"
    # following a finished execution replays it and exits with its outcome
    again = cli("follow", execution_id, "--server", server.url)
    assert again.returncode == 0 and "completed" in again.stdout


def test_exit_codes(server: RunningServer) -> None:
    unreachable = json.dumps(
        {"provider": "openai", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1", "params": {"max_retries": 0}}
    )
    failed = cli("run", "graph:ASIS", "--input", "task=fail", "--input", f"llm={unreachable}", "--server", server.url)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "failed:" in failed.stdout
    no_answer = cli("run", "reviewed", "--input", "input_data=Q1", "--server", server.url, stdin="")
    assert no_answer.returncode == 4 and "paused" in no_answer.stdout
    bad = cli("run", "market-research", "--server", server.url)  # `topic` is required
    assert bad.returncode == 2 and "422" in bad.stderr and "topic" in bad.stderr
    unknown = cli("follow", "wfexec_nope", "--server", server.url)
    assert unknown.returncode == 2 and "404" in unknown.stderr
    assert cli("run", "market-research", "--input", "novalue").returncode == 2
    down = cli("follow", "wfexec_nope", "--server", "http://127.0.0.1:9")  # nothing listens there
    assert down.returncode == 2 and "cannot reach" in down.stderr and "Traceback" not in down.stderr
