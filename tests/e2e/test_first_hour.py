"""The first hour, as a new user meets it: the CLI as a process (one-line failures with their
exit codes, Ctrl-C, no hang), a run whose process died, results for scripts, every shipped
example running, and the readiness probe."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.server import REPO, RunningServer, running_server
from tests.helpers.storage import add_draft_only, copy_storage

pytestmark = pytest.mark.e2e

SLOW = ["graph:ASIS", "--input", "task=slow", "--input", 'llm={"provider": "echo", "latency_ms": 2500}']


def cli(*args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echo_orchestrator", *args], input=stdin, capture_output=True, text=True, cwd=REPO, timeout=timeout
    )


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "echo_orchestrator", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO
    )


def wait_for_execution_id(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("execution "):
            return line.split()[1]
    raise AssertionError("the run never printed its execution id")


def status_in(storage: Path, execution_id: str) -> str:
    with sqlite3.connect(storage / "runtime" / "runtime.sqlite") as db:
        row = db.execute("SELECT status FROM executions WHERE execution_id = ?", (execution_id,)).fetchone()
    return str(row[0])


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return copy_storage(tmp_path / "storage")


def test_local_failures_are_one_line_and_exit(storage: Path, tmp_path: Path) -> None:
    local = ["--storage", str(storage), "--plugins-dir", str(tmp_path / "p")]
    add_draft_only(storage)
    cases = {
        ("run", "nope", *local): "Workflow 'nope' not found",
        ("run", "market-research", *local): "topic: Required field is missing",
        ("run", "only-draft", *local): "has no final version and no temp copy to run",
        ("run", "market-research", "--input", "novalue", *local): "expected key=value",
        ("follow", "wfexec_nope", "--storage", str(storage)): "not found",
        ("run", "x", "--server", "127.0.0.1:9"): "cannot reach",
    }
    for args, expected in cases.items():
        started = time.monotonic()
        done = cli(*args, timeout=30)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0] and "Traceback" not in done.stderr, (args, done.stderr)
        assert time.monotonic() - started < 20  # it exits; it does not hang
    traced = cli("run", "nope", *local, "--debug")
    assert traced.returncode == 2 and "Traceback" in traced.stderr
    for command in (["plugins"], ["workflows", "--storage", str(storage)], ["validate", str(storage)]):
        bad_setting = subprocess.run(
            [sys.executable, "-m", "echo_orchestrator", *command],
            capture_output=True, text=True, cwd=REPO, timeout=30, env={**os.environ, "ECHO_PORT": "not-a-port"},
        )  # fmt: skip
        assert bad_setting.returncode in (0, 2), bad_setting.stderr  # validate reads no setting it cannot parse
        assert "Traceback" not in bad_setting.stderr and len(bad_setting.stderr.strip().splitlines()) <= 1, bad_setting.stderr


def test_ctrl_c_cancels_a_local_run_and_a_second_quits(storage: Path, tmp_path: Path) -> None:
    local = ["--storage", str(storage), "--plugins-dir", str(tmp_path / "p")]
    process = spawn("run", *SLOW, *local)
    execution_id = wait_for_execution_id(process)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 130, output
    assert "cancelling" in output and "Traceback" not in output
    assert status_in(storage, execution_id) == "cancelled"

    twice = spawn("run", *SLOW, *local)
    wait_for_execution_id(twice)
    twice.send_signal(signal.SIGINT)
    time.sleep(0.05)
    twice.send_signal(signal.SIGINT)
    twice.communicate(timeout=10)
    # 130 from our handler; or, when the second Ctrl-C lands while the interpreter is already
    # finalizing (it restores the default handlers), death by SIGINT, which a shell also
    # reports as 130. Either way the process quit at once.
    assert twice.returncode in (130, -signal.SIGINT)


@pytest.fixture
def server(storage: Path, tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(storage, "--plugins-dir", str(tmp_path / "p")) as running:
        yield running


def test_a_run_whose_process_died_can_be_cancelled_and_resumed_elsewhere(server: RunningServer, tmp_path: Path) -> None:
    process = spawn("run", *SLOW, "--storage", str(server.storage), "--plugins-dir", str(tmp_path / "p"))
    execution_id = wait_for_execution_id(process)
    time.sleep(0.5)
    process.kill()  # kill -9: nothing is recorded by the dying process
    process.wait()
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get(f"/executions/{execution_id}").json()["status"] == "running"
        cancelled = c.post(f"/executions/{execution_id}/cancel", json={"graceful": False})
        assert cancelled.status_code == 200, cancelled.text
        assert c.get(f"/executions/{execution_id}").json()["status"] == "cancelled"
        resumed = c.post(f"/executions/{execution_id}/resume")
        assert resumed.status_code == 202, resumed.text
        deadline = time.monotonic() + 30
        while c.get(f"/executions/{execution_id}").json()["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_results_for_scripts_and_host_port(server: RunningServer) -> None:
    address = server.url.removeprefix("http://")
    done = cli("run", "market-research", "--input", "topic=tea", "--server", address, "--output", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # stdout is the result document and nothing else
    assert result["status"] == "completed" and "research_notes" in result["outputs"]
    shown = cli("run", "market-research", "--input", "topic=tea", "--server", server.url)
    assert shown.returncode == 0 and "result" in shown.stdout and "research_notes" in shown.stdout


def test_a_bad_answer_is_asked_again(server: RunningServer) -> None:
    wf = httpx.get(f"{server.url}/workflows/sales-insights/final/1.0").json()
    reviewed = {**wf, "workflow_id": "wf_reviewed", "slug": "reviewed", "status": "validated",
                "human_in_loop": {"enabled": True, "review_points": ["analyzer"]}}  # fmt: skip
    assert httpx.post(f"{server.url}/workflows/temp/save", json=reviewed).status_code == 200
    done = cli("run", "reviewed", "--input", "input_data=Q1", "--server", server.url, stdin='modify\nnot json\n[1]\n{"tone": "formal"}\n')
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "changes (a JSON object)" not in done.stdout  # no terminal: no question text printed


def test_every_shipped_workflow_validates_and_runs(server: RunningServer) -> None:
    checked = cli("validate", "--deep", str(server.storage))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with httpx.Client(base_url=server.url, timeout=60) as c:
        assert c.get("/health/ready").json()["status"] == "ready"
        slugs = []
        for path in sorted((server.storage / "workflows").rglob("*.json")):
            wf: dict[str, Any] = json.loads(path.read_text())
            if wf["slug"] in slugs:
                continue
            slugs.append(wf["slug"])
            if wf["status"] == "draft":
                report = c.post("/workflows/validate/final", json={"workflow": wf}).json()
                assert report["valid"], (wf["slug"], report)
                assert c.post("/workflows/temp/save", json={**wf, "status": "validated"}).status_code == 200
            inputs = {f["name"]: f"example {f['name']}" for f in wf.get("input_fields", []) if f.get("required")}
            run = c.post(f"/workflows/{wf['slug']}/execute", json={"inputs": inputs})
            assert run.status_code == 202, run.text
            execution_id = run.json()["execution_id"]
            deadline = time.monotonic() + 30
            while (status := c.get(f"/executions/{execution_id}").json())["status"] not in ("completed", "failed", "cancelled"):
                if status["status"] == "paused":  # a human review point: approve it
                    prompt = status["pending_prompt"]["prompt_id"]
                    assert (
                        c.post(f"/executions/{execution_id}/respond", json={"prompt_id": prompt, "response": "approve"}).status_code == 200
                    )
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert status["status"] == "completed", (wf["slug"], status)
    assert set(slugs) >= {"sales-insights", "market-research", "article-desk"}


def test_readiness_probe_is_open_and_says_why(storage: Path, tmp_path: Path) -> None:
    env = {"ECHO_API_KEYS": "eo_readiness-probe-key-0123456789"}
    with running_server(storage, "--plugins-dir", str(tmp_path / "p"), env=env) as secured:
        ready = httpx.get(f"{secured.url}/health/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"started": True, "storage_writable": True, "engine_running": True, "runtime_database": True}
        os.chmod(storage / "agents", 0o500)
        try:
            if os.access(storage / "agents", os.W_OK):
                pytest.skip("running as a user who can write anywhere (root): unwritable storage cannot be shown")
            down = httpx.get(f"{secured.url}/health/ready")
            assert down.status_code == 503 and "storage_writable" in down.json()["detail"]
        finally:
            os.chmod(storage / "agents", 0o700)


def test_json_logs_carry_request_route_duration_and_execution(storage: Path, tmp_path: Path) -> None:
    with running_server(storage, "--plugins-dir", str(tmp_path / "p"), "--log-format", "json", "--log-level", "info") as server:
        r = httpx.get(f"{server.url}/workflows/sales-insights/final/1.0", headers={"X-Request-ID": "req-log-test"})
        assert r.status_code == 200
        time.sleep(0.3)
        lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    (access,) = [line for line in lines if line.get("request_id") == "req-log-test" and line["logger"] == "echo_orchestrator.access"]
    assert access["route"] == "/workflows/{workflow_id}/final/{version}" and access["status"] == 200
    assert access["method"] == "GET" and isinstance(access["duration_ms"], float)
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's records in the same format


def test_text_logs_show_each_request_once_without_logging_errors(storage: Path, tmp_path: Path) -> None:
    # The default a person sees: `serve` in a terminal, text logs at info.
    with running_server(storage, "--plugins-dir", str(tmp_path / "p"), "--log-level", "info") as server:
        assert httpx.get(f"{server.url}/workflows/sales-insights/final/1.0").status_code == 200
        time.sleep(0.3)
        output = server.output()
    assert "Logging error" not in output and "Traceback" not in output, output[-2000:]
    assert '"GET /workflows/sales-insights/final/1.0 HTTP/1.1" 200' in output


def test_workflows_and_executions_are_listed(server: RunningServer) -> None:
    listed = cli("workflows", "--storage", str(server.storage), "--json")
    assert listed.returncode == 0, listed.stderr
    slugs = {w["slug"] for w in json.loads(listed.stdout)["workflows"]}
    assert slugs == {"sales-insights", "market-research", "article-desk"}
    active = json.loads(cli("workflows", "--storage", str(server.storage), "--status", "active", "--json").stdout)
    assert {w["slug"] for w in active["workflows"]} == {"sales-insights", "market-research", "article-desk"}
    assert "article-desk" in cli("workflows", "--storage", str(server.storage)).stdout  # the table
    # A server's catalogue, with the same filters and the same rows.
    remote = cli("workflows", "--server", server.url.removeprefix("http://"), "--status", "active", "--json")
    assert remote.returncode == 0, remote.stderr
    assert {w["slug"] for w in json.loads(remote.stdout)["workflows"]} == {"sales-insights", "market-research", "article-desk"}
    assert "market-research" in cli("workflows", "--server", server.url).stdout
    unreachable = cli("workflows", "--server", "127.0.0.1:9")
    assert unreachable.returncode == 2 and "cannot reach" in unreachable.stderr and "Traceback" not in unreachable.stderr
    run = httpx.post(f"{server.url}/workflows/market-research/execute", json={"inputs": {"topic": "tea"}}).json()
    for where in (["--server", server.url.removeprefix("http://")], ["--storage", str(server.storage)]):
        listed = cli("executions", *where, "--workflow", "market-research", "--json")
        assert listed.returncode == 0, listed.stderr
        assert run["execution_id"] in {e["execution_id"] for e in json.loads(listed.stdout)["executions"]}
    bad = cli("executions", "--server", "127.0.0.1:9")
    assert bad.returncode == 2 and "cannot reach" in bad.stderr and "Traceback" not in bad.stderr
