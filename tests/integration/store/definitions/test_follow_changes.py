"""External changes (editors, git) reach the index while the store follows them."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest

from echo_orchestrator.store.definitions import codec
from echo_orchestrator.store.definitions.files import FileDefinitionStore
from tests.factories import agent, workflow

pytestmark = pytest.mark.anyio


@pytest.fixture
async def following(tmp_path: Path) -> AsyncIterator[FileDefinitionStore]:
    store = FileDefinitionStore(tmp_path / "storage")
    await store.open()
    async with anyio.create_task_group() as tg:
        tg.start_soon(store.follow_changes)
        with anyio.fail_after(5):
            await store.wait_following()
        yield store
        await store.close()
        tg.cancel_scope.cancel()


async def eventually(check: Callable[[], bool], within: float = 2.0) -> None:
    with anyio.fail_after(within):
        while not check():
            await anyio.sleep(0.01)


async def test_external_create_edit_delete(following: FileDefinitionStore) -> None:
    path = following.layout.agent_path("ext")
    path.write_bytes(codec.encode(agent("ext", name="One")))
    await eventually(lambda: "ext" in following.index.agents)
    path.write_bytes(codec.encode(agent("ext", name="Two")))
    await eventually(lambda: following.index.agents["ext"].name == "Two")
    path.unlink()
    await eventually(lambda: "ext" not in following.index.agents)


async def test_external_corrupt_write_is_reported_then_recovered(following: FileDefinitionStore) -> None:
    path = following.layout.draft_path("wf_1")
    path.write_text('{"workflow_id": ')
    await eventually(lambda: any(p.file == "workflows/draft/wf_1.json" for p in following.problems()))
    assert "wf_1" not in following.index.workflows
    path.write_bytes(codec.encode(workflow("wf_1")))
    await eventually(lambda: "wf_1" in following.index.workflows and not following.problems())


async def test_removed_and_restored_folder(following: FileDefinitionStore) -> None:
    await following.create_agent(agent("a1"))
    backup = following.layout.root.parent / "agents-backup"
    shutil.move(following.layout.agents, backup)
    await eventually(lambda: "a1" not in following.index.agents)
    shutil.move(backup, following.layout.agents)
    await eventually(lambda: "a1" in following.index.agents)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
async def test_git_checkout_of_an_older_commit_is_seen(following: FileDefinitionStore) -> None:
    root = following.layout.root

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True, capture_output=True)

    await following.create_agent(agent("a1", name="Old"))
    await following.save_draft(workflow("wf_1", slug="flow"))
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "old")
    await following.save_agent(agent("a1", name="New"))
    for i in range(50):
        await following.create_agent(agent(f"bulk_{i}"))
    await following.delete_draft("wf_1")
    git("add", "-A")
    git("commit", "-qm", "new")

    git("checkout", "-q", "HEAD~1")
    await eventually(
        lambda: (
            following.index.agents.get("a1") is not None
            and following.index.agents["a1"].name == "Old"
            and len(following.index.agents) == 1
            and "wf_1" in following.index.workflows
        )
    )
