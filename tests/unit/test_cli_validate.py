"""`echo-orchestrator validate` on the shipped storage and on broken copies, as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.storage import copy_storage

REPO = Path(__file__).resolve().parents[2]


def validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "echo_orchestrator", "validate", *args], capture_output=True, text=True, cwd=REPO)


def test_shipped_storage_passes(tmp_path: Path) -> None:
    result = validate(str(copy_storage(tmp_path / "storage")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "0 problem(s)" in result.stderr


def test_broken_file_fails_naming_file_and_field(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    copy_storage(root)
    broken = root / "agents" / "analyzer.json"
    broken.write_text(broken.read_text().replace('"temperature": 0.2', '"temperature": "hot"'))
    (root / "workflows" / "draft" / "wf_x.json").write_text('{"workflow_id": "wf_x", "slug": "sales-insights"}')
    result = validate(str(root))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert f"{root.as_posix()}/agents/analyzer.json: llm.temperature: Expected `float | null`, got `str`" in lines
    # the workflow that held the slug keeps it; the newcomer is the problem
    assert any(line.startswith("workflows: slug: workflow 'wf_x' claims slug 'sales-insights', which workflow") for line in lines)


def test_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = validate(str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "no such storage folder" in result.stderr
