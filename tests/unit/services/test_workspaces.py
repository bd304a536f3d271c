"""The clean-up's rule: old run folders go, unless their run is still going (running,
paused, waiting to start, or live in this process)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from echo_orchestrator.backends import runtime_store
from echo_orchestrator.models import Execution
from echo_orchestrator.services.workspaces import WorkspaceService
from echo_orchestrator.settings import Settings
from echo_orchestrator.store.runtime.base import RuntimeStore
from echo_orchestrator.store.workspaces.folders import WORKING, Workspaces

pytestmark = pytest.mark.anyio


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[RuntimeStore]:
    store = runtime_store(None, tmp_path)
    await store.open()
    yield store
    await store.close()


async def test_old_run_folders_go_unless_their_run_is_still_going(tmp_path: Path, runtime: RuntimeStore) -> None:
    spaces = Workspaces(tmp_path / "workspaces", shown_as="workspaces", max_size_mb=10)
    spaces.ensure_default()
    spaces.create("team")
    service = WorkspaceService(spaces, runtime, Settings(cleanup_after_days=1), is_live=lambda eid: eid == "exec_live")
    old = time.time() - 3 * 86400
    statuses = {"exec_done": "completed", "exec_failed": "failed", "exec_running": "running", "exec_paused": "paused",
                "exec_waiting": "initializing", "exec_live": "completed", "exec_new": "completed"}  # fmt: skip
    for execution_id, status in statuses.items():
        await runtime.save_execution(Execution(execution_id=execution_id, kind="graph", status=status))  # type: ignore[arg-type]
    await runtime.commit()
    for workspace, execution_id in [*(("default", e) for e in statuses), ("team", "exec_unknown"), ("team", "exec_nested")]:
        folder = spaces.folder(workspace) / WORKING / execution_id
        (folder / "sub").mkdir(parents=True)
        for file in (folder / "a.txt", folder / "sub" / "b.txt"):
            file.write_text("x")
            if execution_id != "exec_new":
                os.utime(file, (old, old))
    # A file touched recently deep inside keeps the whole folder.
    os.utime(spaces.folder("team") / WORKING / "exec_nested" / "a.txt", (old, old))
    os.utime(spaces.folder("team") / WORKING / "exec_nested" / "sub" / "b.txt")

    removed = await service.clean_up()
    assert sorted(removed) == ["default/exec_done", "default/exec_failed", "team/exec_unknown"]
    left = sorted(p.name for p in (spaces.folder("default") / WORKING).iterdir())
    assert left == ["exec_live", "exec_new", "exec_paused", "exec_running", "exec_waiting"]
    assert (spaces.folder("team") / WORKING / "exec_nested").exists()
    assert await service.clean_up() == []
