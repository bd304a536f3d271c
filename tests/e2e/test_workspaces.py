"""Workspaces on the real server: an agent (the OpenAI client against a local fake server)
writes files with the file tools; they show in the stream, the info, the listing and the
content route. The clean-up removes old run folders on its schedule, never a running one's."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.helpers.fake_llm import fake_llm_server
from tests.helpers.server import RunningServer, running_server
from tests.helpers.storage import copy_storage
from tests.helpers.streams import TERMINAL, data, sse_events

pytestmark = pytest.mark.anyio

FILES = {"report.md": "# Coffee shop plan\n\nOpen in spring.\n", "data/sales.csv": "month,sales\njan,10\nfeb,12\n"}


def _agent(llm_url: str) -> dict[str, Any]:
    return {
        "agent_id": "file_writer",
        "name": "File writer",
        "role": "Writing the files asked for",
        "llm": {"provider": "openai", "model": "gpt-4o-mini", "base_url": f"{llm_url}/v1"},
        "tools": ["plugins-write_file"],
        "input_schema": ["write_files"],
        "output_schema": ["summary"],
    }


def _workflow() -> dict[str, Any]:
    return {
        "workflow_id": "wf_file_report",
        "slug": "file-report",
        "name": "File report",
        "status": "final",
        "version": "1.0",
        "execution_model": "sequential",
        "agents": ["file_writer"],
        "input_fields": [{"name": "write_files", "type": "object", "required": True}],
        "metadata": {"immutable": True},
    }


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    with fake_llm_server() as url:
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llm_url: str) -> Iterator[RunningServer]:
    storage = tmp_path_factory.mktemp("workspaces") / "storage"
    copy_storage(storage)
    (storage / "agents" / "file_writer.json").write_text(json.dumps(_agent(llm_url)))
    (storage / "workflows" / "final" / "wf_file_report.v1.0.json").write_text(json.dumps(_workflow()))
    env = {"OPENAI_API_KEY": "sk-test-workspaces", "ECHO_LLM_ALLOWED_BASE_URLS": llm_url}
    with running_server(storage, env=env) as running:
        yield running


async def test_an_agent_writes_files_that_are_listed_and_served(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        started = await c.post("/workflows/file-report/execute", json={"inputs": {"write_files": FILES}})
        assert started.status_code == 202, started.text
        execution_id = started.json()["execution_id"]
        seen: list[tuple[str, Any]] = []
        async with c.stream("GET", f"/executions/{execution_id}/stream") as response:
            async for event in sse_events(response):
                if event.event:
                    seen.append((event.event, data(event)))
                if event.event in TERMINAL:
                    break
        kinds = [k for k, _ in seen]
        assert kinds[-1] == "execution_completed", seen[-1]
        written = [d["file"] for k, d in seen if k == "output_file"]
        run_dir = f"Working_Directory/{execution_id}"
        assert sorted((f["path"], f["mime_type"]) for f in written) == [
            (f"{run_dir}/data/sales.csv", "text/csv"),
            (f"{run_dir}/report.md", "text/markdown"),
        ]
        assert seen[-1][1]["result_summary"]["output_files"] == 2
        assert kinds.count("tool_call_completed") == 2

        info = (await c.get(f"/executions/{execution_id}/info")).json()
        assert info["workspace"] == "default"
        assert [(f["name"], f["path"], f["size_bytes"], f["mime_type"]) for f in info["output_files"]] == [
            ("sales.csv", f"{run_dir}/data/sales.csv", len(FILES["data/sales.csv"]), "text/csv"),
            ("report.md", f"{run_dir}/report.md", len(FILES["report.md"]), "text/markdown"),
        ]
        assert info["outputs"]["summary"].startswith("wrote: ")

        listed = (await c.get("/service/workspaces/default/files", params={"directory": run_dir, "extension": "md"})).json()
        assert [f["path"] for f in listed["files"]] == [f"{run_dir}/report.md"]
        content = await c.get("/service/workspaces/default/files/content", params={"file_path": f"{run_dir}/report.md"})
        assert content.text == FILES["report.md"] and content.headers["content-type"].startswith("text/markdown")
        assert content.headers["content-length"] == str(len(FILES["report.md"].encode()))
        spaces = {w["name"]: w for w in (await c.get("/service/workspaces")).json()["workspaces"]}
        assert spaces["default"]["execution_count"] >= 1 and spaces["default"]["file_count"] >= 2
        assert not Path(spaces["default"]["path"]).is_absolute() or str(server.storage) in spaces["default"]["path"]


async def test_the_clean_up_removes_old_run_folders_but_never_a_running_ones(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    copy_storage(storage)
    # Folders untouched for 2 s count as old; the sweep runs every 0.3 s.
    env = {"ECHO_CLEANUP_AFTER_DAYS": str(2 / 86400), "ECHO_CLEANUP_INTERVAL_SECONDS": "0.3"}
    with running_server(storage, env=env) as server:
        working = storage / "workspaces" / "default" / "Working_Directory"
        old = time.time() - 86400

        def plant(name: str) -> Path:
            folder = working / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "scratch.txt").write_text("made by a run")
            os.utime(folder / "scratch.txt", (old, old))
            return folder

        async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
            slow = {"input": {"task": "take a while", "llm": {"provider": "echo", "latency_ms": 1200}}, "async": True}
            started = await c.post("/graphs/ASIS/execute", json=slow)
            execution_id = started.json()["execution_id"]
            running = plant(execution_id)
            finished = plant("wfexec_finished_long_ago")
            with anyio.fail_after(15):
                while finished.exists():
                    await anyio.sleep(0.1)
            status = (await c.get(f"/executions/{execution_id}")).json()["status"]
            assert status == "running" and running.exists(), "a running execution's folder was removed"
            with anyio.fail_after(30):
                while (await c.get(f"/executions/{execution_id}")).json()["status"] == "running":
                    assert running.exists()
                    await anyio.sleep(0.2)
            os.utime(running / "scratch.txt", (old, old))
            with anyio.fail_after(15):
                while running.exists():
                    await anyio.sleep(0.1)
        assert "workspace clean-up failed" not in server.output()
