"""Run history kept in bounds, as an operator meets it, on both runtime backends: the real
server prunes on its schedule (ended runs beyond the policy go with their run folders; a
paused run stays), health shows the database's size and the policy, and
`echo-orchestrator prune` run as a process says what it would delete and what it deleted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.postgres import new_schema
from tests.helpers.server import REPO, running_server
from tests.helpers.storage import copy_storage

pytestmark = pytest.mark.e2e

GRAPH_RUN = {"input": {"task": "short", "llm": {"provider": "echo"}}}


@pytest.fixture(params=["sqlite", "postgresql"])
def runtime_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    return {"ECHO_RUNTIME_URL": new_schema(request.getfixturevalue("postgres_database"))}


def _prune(storage: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echo_orchestrator", "prune", "--storage", str(storage), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, **env},
    )


def test_the_server_prunes_on_schedule_and_the_cli_on_demand(tmp_path: Path, runtime_env: dict[str, str]) -> None:
    storage = copy_storage(tmp_path / "storage")
    policy = {"ECHO_RETENTION_DAYS": "0", "ECHO_RETENTION_MAX_EXECUTIONS": "3", "ECHO_RATE_LIMIT_PER_HOUR": "0"}
    env = {**runtime_env, **policy, "ECHO_RETENTION_INTERVAL_SECONDS": "1"}
    with (
        running_server(storage, "--plugins-dir", str(tmp_path / "plugins"), env=env) as server,
        httpx.Client(base_url=server.url, timeout=30) as c,
    ):
        paused = c.post("/workflows/article-desk/execute", json={"inputs": {"brief": "x"}}).json()["execution_id"]
        ids = []
        for _ in range(7):
            done = c.post("/graphs/ASIS/execute", json=GRAPH_RUN)
            assert done.status_code == 200 and done.json()["status"] == "completed", done.text
            ids.append(done.json()["execution_id"])
        # The oldest run left a file in its run folder: it goes with the run.
        folder = storage / "workspaces" / "default" / "Working_Directory" / ids[0]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report.md").write_text("made by the run")

        deadline = time.monotonic() + 30
        while c.get("/executions", params={"status": "completed"}).json()["total"] > 3:
            assert time.monotonic() < deadline, c.get("/service/health").json().get("retention")
            time.sleep(0.2)
        kept = [e["execution_id"] for e in c.get("/executions", params={"status": "completed"}).json()["executions"]]
        assert sorted(kept) == sorted(ids[-3:])  # the newest three
        assert c.get(f"/executions/{ids[0]}").status_code == 404
        assert c.get(f"/executions/{ids[0]}/events").status_code == 404
        assert not folder.exists()
        assert c.get(f"/executions/{paused}").json()["status"] == "paused"  # never deleted

        health = c.get("/service/health").json()
        assert health["database"]["size_bytes"] > 0
        assert (health["retention"]["days"], health["retention"]["max_executions"]) == (0, 3)
        assert health["retention"]["last_prune"]["took_seconds"] >= 0

    # The server is gone: the command does it on demand, against the same runtime.
    dry = _prune(storage, {**runtime_env, **policy, "ECHO_RETENTION_MAX_EXECUTIONS": "1"}, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would delete 2 ended execution(s)" in dry.stdout and "graph runs): 2" in dry.stdout, dry.stdout
    done = _prune(storage, {**runtime_env, **policy, "ECHO_RETENTION_MAX_EXECUTIONS": "1"}, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["executions"] == 2 and report["rows"]["executions"] == 2 and report["rows"]["events"] > 0
    again = _prune(storage, {**runtime_env, **policy, "ECHO_RETENTION_MAX_EXECUTIONS": "1"})
    assert again.returncode == 0 and "deleted 0 ended execution(s)" in again.stdout, again.stdout
    bad = _prune(storage, {**runtime_env, "ECHO_RETENTION_DAYS": "soon"})
    assert bad.returncode != 0 and "retention_days" in bad.stderr and "Traceback" not in bad.stderr
