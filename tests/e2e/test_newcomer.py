"""What a newcomer tripped on in a fresh clone, each through the real server or the CLI as a
process: the checkout left alone by the suite, runtime data kept out of git, no hourly limit
on a private local server, health probes through a Host rule, final versions that keep their
agents, saving a draft again and from the terminal, clear MCP start errors, and the small
things (listing columns, prompts as JSON, names cut at words, honest `db upgrade`, broken
agent files named, one step total)."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.mcp_servers import TEST_SERVER
from tests.helpers.server import REPO, RunningServer, running_server
from tests.helpers.storage import copy_storage

pytestmark = pytest.mark.e2e


def cli(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echo_orchestrator", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=90,
        env={**os.environ, **(env or {})},
    )


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30).stdout


def finish(c: httpx.Client, execution_id: str, *, approve: bool = True) -> dict[str, Any]:
    """Wait for the execution to end, approving any review on the way."""
    deadline = time.monotonic() + 60
    while (status := c.get(f"/executions/{execution_id}").json())["status"] not in ("completed", "failed", "cancelled"):
        if status["status"] == "paused" and approve:
            prompt = status["pending_prompt"]["prompt_id"]
            c.post(f"/executions/{execution_id}/respond", json={"prompt_id": prompt, "response": "approve"})
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    return dict(c.get(f"/executions/{execution_id}/info").json())


# -- 1. the checkout and git ---------------------------------------------------------------


def test_what_the_quick_start_server_writes_in_a_checkout_changes_no_test(tmp_path: Path) -> None:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the suite copies the storage folder as it is")
    clone = tmp_path / "clone"
    git("clone", "-q", str(REPO), str(clone), cwd=tmp_path)
    draft_path = "storage/workflows/draft/wf_article_desk.json"
    with running_server(clone / "storage", "--plugins-dir", str(tmp_path / "p")) as quick_start:
        draft = httpx.get(f"{quick_start.url}/workflows/article-desk/draft").json()
        assert httpx.post(f"{quick_start.url}/workflows/validate/final", json={"workflow": draft}).json()["valid"]
        run = httpx.post(f"{quick_start.url}/workflows/market-research/execute", json={"inputs": {"topic": "tea"}})
        assert run.status_code == 202
    assert draft_path in git("status", "--porcelain", cwd=clone)  # the draft is `validated` now, as the API says
    assert "runtime" not in git("status", "--porcelain", "--untracked-files=all", cwd=clone)  # ignored
    # What a test gets is the committed folder, not the user's checkout.
    copied = copy_storage(tmp_path / "copy", repo=clone)
    assert (copied / "workflows/draft/wf_article_desk.json").read_text() == git("show", f"HEAD:{draft_path}", cwd=clone)
    assert not (copied / "runtime").exists()


def test_a_new_storage_folder_keeps_its_runtime_data_out_of_git(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    git("init", "-q", cwd=project)
    first = cli("db", "upgrade", "--storage", "storage", cwd=project)
    assert first.returncode == 0 and "created (schema version" in first.stdout, first.stdout + first.stderr
    again = cli("db", "upgrade", "--storage", "storage", cwd=project)
    assert "already up to date (schema version" in again.stdout, again.stdout
    done = cli("run", "graph:ASIS", "--input", "task=tea", "--storage", "storage", "--plugins-dir", "p", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (project / "storage/runtime/runtime.sqlite").exists() and any((project / "storage/workspaces").iterdir())
    git("add", "-A", cwd=project)
    staged = git("diff", "--cached", "--name-only", cwd=project).split()
    assert "storage/.gitignore" in staged
    assert not [name for name in staged if name.startswith(("storage/runtime", "storage/workspaces"))], staged


# -- 2, 3. limits and the Host rule -----------------------------------------------------------


def test_a_private_local_server_has_no_hourly_limit_and_says_so(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url) as c:
        for _ in range(1050):  # past the 1,000 of the document's default
            r = c.get("/agents/list")
            assert r.status_code == 200 and "x-ratelimit-limit" not in r.headers
    assert "no per-hour request limit (a private local server" in server.output()


def test_with_a_key_the_documents_limit_applies(storage: Path, tmp_path: Path) -> None:
    key = "eo_newcomer-key-0123456789abcdef"
    with running_server(storage, "--plugins-dir", str(tmp_path / "p"), "--log-level", "info", env={"ECHO_API_KEYS": key}) as s:
        r = httpx.get(f"{s.url}/agents/list", headers={"Authorization": f"Bearer {key}"})
        assert r.headers["x-ratelimit-limit"] == "1000"
        assert "limits: 1000 requests per caller per hour" in s.output()


def test_allowed_hosts_keep_loopback_health_probes_working(storage: Path, tmp_path: Path) -> None:
    env = {"ECHO_ALLOWED_HOSTS": "api.example.com"}
    with running_server(storage, "--plugins-dir", str(tmp_path / "p"), env=env) as s:
        port = s.url.rsplit(":", 1)[1]
        for path in ("/health", "/health/ready", "/agents/list"):
            assert httpx.get(f"{s.url}{path}").status_code == 200, path  # Host: 127.0.0.1:<port>
            assert httpx.get(f"http://localhost:{port}{path}").status_code == 200, path
        assert httpx.get(f"{s.url}/health", headers={"Host": "api.example.com"}).status_code == 200
        refused = httpx.get(f"{s.url}/agents/list", headers={"Host": "rebound.example.net"})
        assert refused.status_code == 400 and "ECHO_ALLOWED_HOSTS" in refused.json()["detail"]
        # The container's own health check, as the Containerfile runs it.
        probe = re.search(r'HEALTHCHECK .* CMD (python -c ".*")', (REPO / "Containerfile").read_text())
        assert probe is not None
        command = probe.group(1).replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        assert subprocess.run(command, shell=True, timeout=30).returncode == 0


# -- 4, 5. final versions keep their agents; saving again ------------------------------------


def test_a_final_version_runs_the_agents_it_was_saved_with(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        edit = {"llm": {"provider": "echo", "model": "echo", "responses": ["EDITED RESEARCH"]}}
        assert c.put("/agents/researcher", json=edit).status_code == 200
        info = finish(c, c.post("/workflows/market-research/execute", json={"inputs": {"topic": "tea"}}).json()["execution_id"])
        assert info["status"] == "completed" and info["workflow_version"] == "1.0"
        assert "EDITED RESEARCH" not in json.dumps(info["outputs"])  # 1.0 runs the researcher it was saved with
        kept = c.get("/workflows/market-research/final/1.0").json()["agent_definitions"]["researcher"]
        used = {a["agent_id"]: a for a in info["agents"]}
        assert used["researcher"]["source"] == "version"
        assert used["researcher"]["sha256"] == hashlib.sha256((json.dumps(kept, indent=2, ensure_ascii=False) + "\n").encode()).hexdigest()
        graph = c.get("/workflows/market-research/graph", params={"state": "final"}).json()
        shown = {n["id"]: n["metadata"].get("definition") for n in graph["nodes"] if n["type"] == "agent"}
        assert shown["researcher"] == {"source": "version", "sha256": used["researcher"]["sha256"]}
        # A new version picks up the edit: clone, validate, save (no version: the next one).
        assert c.post("/workflows/clone", json={"workflow_id": "market-research", "from_version": "1.0"}).status_code == 200
        draft = c.get("/workflows/market-research/draft").json()
        assert draft["agent_definitions"] is None  # a draft uses the registry's agents
        assert c.post("/workflows/validate/final", json={"workflow": draft}).json()["valid"]
        validated = c.get("/workflows/market-research/draft").json()
        saved = c.post("/workflows/final/save", json={"workflow": validated})
        assert saved.status_code == 201 and saved.json()["version"] == "1.1", saved.text
        info = finish(c, c.post("/workflows/market-research/execute", json={"inputs": {"topic": "tea"}}).json()["execution_id"])
        assert info["workflow_version"] == "1.1" and "EDITED RESEARCH" in json.dumps(info["outputs"])
        file_hash = hashlib.sha256((server.storage / "agents" / "researcher.json").read_bytes()).hexdigest()
        assert {a["agent_id"]: a["sha256"] for a in info["agents"]}["researcher"] == file_hash
        # 1.0 is untouched on disk and still runs its own agents.
        old = finish(c, c.post("/workflows/execute", json={"workflow_id": "market-research", "mode": "final", "version": "1.0",
                                                            "input_payload": {"topic": "tea"}}).json()["run_id"])  # fmt: skip
        assert "EDITED RESEARCH" not in json.dumps(old["outputs"])


def test_a_draft_saved_again_gets_the_next_version_over_http_and_from_the_cli(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        draft = c.get("/workflows/article-desk/draft").json()
        assert c.post("/workflows/validate/final", json={"workflow": draft}).json()["valid"]
        validated = c.get("/workflows/article-desk/draft").json()
        versions = [c.post("/workflows/final/save", json={"workflow": validated}).json()["version"] for _ in range(2)]
        assert versions == ["1.1", "1.2"]  # 1.0 ships; the draft's own 0.1 is below it
        again = c.post("/workflows/final/save", json={"workflow": validated, "version": "1.2"})
        assert again.status_code == 409  # a version named at the top level is exact
    local = ("--storage", str(server.storage), "--plugins-dir", str(server.storage.parent / "plugins"))
    saved = cli("save", "article-desk", *local)
    assert saved.returncode == 0 and "as final version 1.3: workflows/final/wf_article_desk.v1.3.json" in saved.stdout, saved.stderr
    temp = cli("save", "article-desk", "--to", "temp", *local)
    assert temp.returncode == 0 and "its temp copy: workflows/temp/wf_article_desk.temp.json" in temp.stdout, temp.stderr
    remote = cli("save", "article-desk", "--server", server.url)
    assert remote.returncode == 0 and "final version 1.4" in remote.stdout, remote.stderr
    taken = cli("save", "article-desk", "--version", "1.0", *local)
    assert taken.returncode == 2 and "already exists" in taken.stderr and "Traceback" not in taken.stderr
    # A draft that no longer validates: each problem on its own line, exit 1, nothing saved.
    draft_file = server.storage / "workflows/draft/wf_article_desk.json"
    broken = json.loads(draft_file.read_text())
    broken["agents"].append("ghost_writer")
    draft_file.write_text(json.dumps(broken, indent=2))
    before = sorted(p.name for p in (server.storage / "workflows/final").iterdir())
    refused = cli("save", "article-desk", *local)
    assert refused.returncode == 1 and "article-desk: Agent 'ghost_writer' not found" in refused.stdout, refused.stdout + refused.stderr
    assert "nothing saved" in refused.stderr
    assert sorted(p.name for p in (server.storage / "workflows/final").iterdir()) == before


def test_the_shipped_interactive_example_runs_and_shows_its_review_as_json(server: RunningServer) -> None:
    output, status = in_terminal(["run", "article-desk", "--input", "brief=a tea shop opens", "--server", server.url], "approve")
    assert status == 0, output
    question = output[output.index("Review the output of Writer") : output.index("answer [approve/reject/modify]")]
    # The agent's output as JSON (what the API shows), not as a Python dict.
    assert json.loads(question[question.index("{") :])["draft"].startswith("[echo: offline"), question
    assert "completed · LLM calls 5" in output


def in_terminal(args: list[str], answer: str, timeout: float = 60) -> tuple[str, int]:
    """The CLI in a pseudo-terminal (so it asks, as it does for a person), answering its
    first question with `answer`. (output, exit status)."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "LINES": "50", "TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "-m", "echo_orchestrator", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=REPO,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    output, answered = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the terminal closed: the process is done
                    break
                if not chunk:
                    break
                output += chunk
            if not answered and b"answer" in output and b"approve" in output.split(b"answer")[-1]:
                os.write(master, answer.encode() + b"\r")
                answered = True
            if process.poll() is not None and not ready:
                break
        status = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode(errors="replace")), status


# -- 6 is in test_cluster_workers (a worker stopping hands its runs back) ---------------------
# -- 7. MCP stdio servers -------------------------------------------------------------------


def test_a_stdio_server_that_cannot_start_is_named_and_inherits_only_what_it_is_given(storage: Path, tmp_path: Path) -> None:
    settings = {
        "mcpServers": {
            "ghost": {"command": "no-such-mcp-server-for-echo"},
            "tools": {
                "command": sys.executable,
                "args": [str(TEST_SERVER)],
                "env": {"GIVEN": "in the file"},
                "inherit_env": ["ECHO_TEST_PROXY", "ECHO_TEST_UNSET"],
            },
        }
    }
    (storage / "mcp_settings.json").write_text(json.dumps(settings))
    env = {"ECHO_TEST_PROXY": "http://proxy.internal:3128", "ECHO_TEST_NOT_GIVEN": "stays here"}
    with running_server(storage, "--plugins-dir", str(tmp_path / "p"), env=env) as s, httpx.Client(base_url=s.url, timeout=60) as c:
        status = {x["name"]: x for x in c.get("/mcp-servers/status").json()["servers"]}
        assert status["ghost"]["status"] == "unavailable"
        assert status["ghost"]["error"].startswith("cannot start 'no-such-mcp-server-for-echo': no such command"), status["ghost"]
        call = c.post("/mcp-tools/execute", json={"tool_id": "ghost-anything", "input": {}})
        assert call.status_code in (404, 503) and "no-such-mcp-server-for-echo" in call.text
        names = ["ECHO_TEST_PROXY", "ECHO_TEST_UNSET", "ECHO_TEST_NOT_GIVEN", "GIVEN", "HOME", "PATH"]
        seen = c.post("/mcp-tools/execute", json={"tool_id": "tools-environment", "input": {"names": names}})
        assert seen.status_code == 200, seen.text
        got = seen.json()["output"]
        # `env` values are the file's secrets: the server got it, every answer masks it.
        assert got["ECHO_TEST_PROXY"] == "http://proxy.internal:3128" and got["GIVEN"] == "********"
        assert got["ECHO_TEST_NOT_GIVEN"] is None and got["ECHO_TEST_UNSET"] is None and got["PATH"]
        shown = {x["name"]: x for x in c.get("/mcp-servers/settings").json()["servers"]}["tools"]
        assert shown["config"]["inherit_env"] == ["ECHO_TEST_PROXY", "ECHO_TEST_UNSET"] and "proxy.internal" not in json.dumps(shown)


# -- 9. smaller things ----------------------------------------------------------------------


def test_executions_from_a_server_list_when_and_who(storage: Path, tmp_path: Path) -> None:
    key = "eo_lister-key-0123456789abcdef id=alice"
    secret = key.split()[0]
    with running_server(storage, "--plugins-dir", str(tmp_path / "p"), env={"ECHO_API_KEYS": key}) as s:
        headers = {"Authorization": f"Bearer {secret}"}
        run = httpx.post(f"{s.url}/workflows/market-research/execute", json={"inputs": {"topic": "tea"}}, headers=headers)
        assert run.status_code == 202
        listed = cli("executions", "--server", s.url, env={"ECHO_API_KEY": secret})
        assert listed.returncode == 0, listed.stderr
        row = next(line for line in listed.stdout.splitlines() if run.json()["execution_id"] in line)
        assert "key:alice" in row and re.search(r"\d{4}-\d{2}-\d{2}T", row), row


def test_designed_names_are_cut_at_words_and_slugs_stay_short(server: RunningServer) -> None:
    prompt = (
        "Create a workflow to analyze the quarterly sales figures of every regional office, compare them "
        "with the forecasts prepared by the finance department, and write a summary for the board"
    )
    designed = httpx.post(f"{server.url}/workflows/design/prompt", json={"prompt": prompt}).json()
    workflow = designed["workflow"]
    words = set(re.findall(r"[a-z]+", prompt.lower()))
    assert len(workflow["name"]) <= 60 and workflow["name"].endswith("…")
    assert set(re.findall(r"[a-z]+", workflow["name"].lower())) <= words  # no word cut in half
    assert len(workflow["slug"]) <= 45 and set(workflow["slug"].split("-")[:-1]) <= words, workflow["slug"]


def test_a_broken_agent_file_is_named_when_a_workflow_runs(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        draft = c.get("/workflows/article-desk/draft").json()
        assert c.post("/workflows/temp/save", json={**draft, "status": "validated"}).status_code == 200
        writer = server.storage / "agents" / "writer.json"
        writer.write_text(writer.read_text().replace('"temperature": null', '"temperature": "hot"'))
        deadline = time.monotonic() + 10
        while not c.get("/service/health").json()["storage"]["problems"]:  # the watcher has read it
            assert time.monotonic() < deadline
            time.sleep(0.05)
        run = c.post("/workflows/execute", json={"workflow_id": "article-desk", "mode": "test", "input_payload": {"brief": "x"}})
        assert run.status_code == 422, run.text
        message = run.json()["error"]["message"]
        assert "Agent 'writer' cannot be read: agents/writer.json: llm.temperature:" in message, message
        # The final version keeps its own writer: it still runs.
        assert finish(c, c.post("/workflows/article-desk/execute", json={"inputs": {"brief": "x"}}).json()["execution_id"])["status"] == (
            "completed"
        )


def test_step_totals_agree_from_the_first_event_to_the_last(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        execution_id = c.post("/workflows/market-research/execute", json={"inputs": {"topic": "tea"}}).json()["execution_id"]
        finish(c, execution_id)
        events = c.get(f"/executions/{execution_id}/events", params={"limit": 1000}).json()["events"]
    totals = {e["data"]["total_steps"] for e in events if "total_steps" in e["data"]}
    steps = {e["data"]["step_number"] for e in events if e["event_type"] == "step_completed"}
    assert totals == {len(steps)} == {3}, (totals, steps)  # two researchers and the merge
    percentages = [e["data"]["progress_percentage"] for e in events if e["event_type"] == "execution_progress"]
    assert percentages[-1] == 100.0 and max(percentages[:-1]) < 100.0
    address = server.url.removeprefix("http://")
    shown = cli("run", "market-research", "--input", "topic=tea", "--server", address)
    assert shown.returncode == 0 and "3/3" in shown.stdout and "2/2" not in shown.stdout, shown.stdout


def test_the_start_up_line_names_the_storage_folder_once(server: RunningServer) -> None:
    line = next(line for line in server.output().splitlines() if "agents," in line and "workflows," in line)
    assert "loaded storage folder " in line and "storage storage" not in line, line


def test_workflows_the_docs_run_ship_with_the_storage_folder(storage: Path) -> None:
    shipped = {json.loads(p.read_text())["slug"] for p in (storage / "workflows").rglob("*.json")}
    named = set()
    for doc in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        named |= set(re.findall(r"echo-orchestrator run ([a-z0-9-]+)(?=\s)", doc.read_text()))
    assert named and named <= shipped, named - shipped
