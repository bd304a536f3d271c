"""Files that cannot be used are skipped and reported, never fatal."""

from __future__ import annotations

from pathlib import Path

import pytest

from echo_orchestrator.store.definitions import codec
from echo_orchestrator.store.definitions.check import check_storage
from echo_orchestrator.store.definitions.files import FileDefinitionStore
from tests.factories import agent

pytestmark = pytest.mark.anyio


def _seed(root: Path) -> None:
    (root / "agents").mkdir(parents=True)
    (root / "workflows" / "draft").mkdir(parents=True)
    (root / "workflows" / "final").mkdir(parents=True)
    (root / "agents" / "good.json").write_bytes(codec.encode(agent("good")))
    (root / "agents" / "torn.json").write_text('{"agent_id": "torn", "na')
    (root / "agents" / "typo.json").write_text('{"agent_id": "typo", "nmae": "x"}')
    (root / "agents" / "other.json").write_bytes(codec.encode(agent("not-other")))
    (root / "agents" / "bad name!.json").write_text("{}")
    (root / "workflows" / "final" / "wf_1.v1.0.json").write_text('{"workflow_id": "wf_1", "version": "2.0"}')
    (root / "workflows" / "draft" / "wf_2.json").write_text('{"workflow_id": "wf_2", "execution_model": "mesh"}')
    (root / "mcp_settings.json").write_text('{"mcpServers": {"x": {"args": []}}}')


async def test_bad_files_are_skipped_and_reported(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    _seed(root)
    store = FileDefinitionStore(root)
    await store.open()
    assert list(store.index.agents) == ["good"]
    problems = {p.file: (p.field, p.message) for p in store.problems()}
    assert problems["agents/torn.json"][1].startswith("not valid JSON")
    assert problems["agents/typo.json"] == ("", "Object contains unknown field `nmae`")
    assert problems["agents/other.json"][0] == "agent_id"
    assert "does not follow the layout" in problems["agents/bad name!.json"][1]
    assert problems["workflows/final/wf_1.v1.0.json"][0] == "version"
    assert problems["workflows/draft/wf_2.json"][0] == "execution_model"
    assert "exactly one of `command`" in problems["mcp_settings.json"][1]
    assert len(problems) == 7


async def test_fixing_a_file_clears_its_problem(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    _seed(root)
    store = FileDefinitionStore(root)
    await store.open()
    (root / "agents" / "torn.json").write_bytes(codec.encode(agent("torn")))
    await store._rescan()
    assert "torn" in store.index.agents
    assert "agents/torn.json" not in {p.file for p in store.problems()}


def test_check_storage_reports_the_same_problems(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    _seed(root)
    report = check_storage(root)
    assert report.files == 8
    assert len(report.problems) == 7
