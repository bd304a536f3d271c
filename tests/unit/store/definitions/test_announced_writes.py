"""A store tells which files it writes; another store sharing the folder reads them again
when told (the PostgreSQL runtime carries the paths between nodes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from echo_orchestrator.store.definitions.files import FileDefinitionStore
from tests.factories import agent


@pytest.mark.anyio
async def test_written_paths_are_announced_and_refreshed_elsewhere(tmp_path: Path) -> None:
    writer, reader = FileDefinitionStore(tmp_path / "storage"), FileDefinitionStore(tmp_path / "storage")
    await writer.open()
    await reader.open()  # no watcher running: it sees only what it is told or reads by name
    announced: list[str] = []
    writer.announce_writes(announced.append)
    try:
        await writer.create_agent(agent("agt_shared"))
        assert announced == ["agents/agt_shared.json"]  # relative to the storage folder
        assert [a.agent_id for a in (await reader.list_agents()).items] == []
        await reader.refresh(announced)
        assert [a.agent_id for a in (await reader.list_agents()).items] == ["agt_shared"]
        await writer.delete_agent("agt_shared")
        assert announced[-1] == "agents/agt_shared.json"
        await reader.refresh(announced[-1:])
        assert (await reader.list_agents()).items == []
        outside = tmp_path / "outside.json"
        outside.write_text("{}")
        await reader.refresh(["../outside.json", str(outside), ""])  # never read: not inside the folder
        assert reader.problems() == []
    finally:
        await writer.close()
        await reader.close()
