"""`echo-orchestrator validate` on the shipped storage and on broken copies, as a subprocess."""

from __future__ import annotations

import json
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


def test_literal_secrets_are_warnings_and_strict_makes_them_fail(tmp_path: Path) -> None:
    root = copy_storage(tmp_path / "storage")
    token = "ghp_" + "a1B2c3D4e5" * 4
    settings = {"mcpServers": {"github": {"command": "github-mcp", "env": {"GITHUB_TOKEN": token, "GH_HOST": "${GH_HOST:-github.com}"}}}}
    (root / "mcp_settings.json").write_text(json.dumps(settings))
    warned = validate(str(root))
    assert warned.returncode == 0, warned.stdout + warned.stderr  # a warning, not a problem
    assert warned.stdout.splitlines() == [
        f"{root.as_posix()}/mcp_settings.json: mcpServers.github.env.GITHUB_TOKEN: warning: looks like a GitHub token; "
        "keep secrets out of the folder: write ${VAR} and set VAR where the service runs (docs/mcp.md)"
    ]
    assert "0 problem(s), 1 secret warning(s)" in warned.stderr
    strict = validate("--strict", str(root))
    assert strict.returncode == 1
    assert token not in warned.stdout + warned.stderr + strict.stdout + strict.stderr
    # written as a reference, it passes even --strict
    settings["mcpServers"]["github"]["env"]["GITHUB_TOKEN"] = "${GITHUB_TOKEN}"
    (root / "mcp_settings.json").write_text(json.dumps(settings))
    assert validate("--strict", str(root)).returncode == 0


def test_a_malformed_reference_is_a_problem(tmp_path: Path) -> None:
    root = copy_storage(tmp_path / "storage")
    (root / "mcp_settings.json").write_text(json.dumps({"mcpServers": {"s": {"url": "https://${HOST/mcp"}}}))
    result = validate(str(root))
    assert result.returncode == 1
    assert "mcp_settings.json" in result.stdout and "'${HOST/mcp' is not a reference" in result.stdout


def test_the_readme_pre_commit_hook_passes_on_the_shipped_storage_and_fails_on_a_key(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    entry = next(line.split("entry:", 1)[1] for line in readme.splitlines() if line.strip().startswith("entry: echo-orchestrator"))
    command = entry.split("#", 1)[0].split()  # as YAML reads it: the comment is not part of it
    assert command[:2] == ["echo-orchestrator", "validate"] and command[-1] == "storage"
    copy_storage(tmp_path / "storage")

    def hook() -> int:
        return subprocess.run([sys.executable, "-m", "echo_orchestrator", *command[1:]], cwd=tmp_path, capture_output=True).returncode

    assert hook() == 0
    agent = tmp_path / "storage" / "agents" / "writer.json"
    document = json.loads(agent.read_text())
    document["metadata"] = {"openai_api_key": "sk-proj-" + "Qw9eR" * 8}
    agent.write_text(json.dumps(document))
    assert hook() == 1


def test_schedules_and_triggers_are_checked_like_every_definition(tmp_path: Path) -> None:
    root = copy_storage(tmp_path / "storage")
    (root / "schedules").mkdir(exist_ok=True)
    good = {
        "schedule_id": "nightly",
        "workflow": "market-research",
        "inputs": {"topic": "tides"},
        "cron": "0 3 * * *",
        "timezone": "Europe/Paris",
    }
    (root / "schedules" / "nightly.json").write_text(json.dumps(good))
    (root / "schedules" / "typo.json").write_text(json.dumps({**good, "schedule_id": "typo", "cron": "0 25 * * *"}))
    (root / "schedules" / "orphan.json").write_text(json.dumps({**good, "schedule_id": "orphan", "workflow": "gone"}))
    final = root / "workflows" / "final" / "wf_sales_insights.v1.0.json"
    document = json.loads(final.read_text())
    final.write_text(json.dumps({**document, "triggers": [{"id": "t", "secret": "whsec_bGl0ZXJhbCBzZWNyZXQ="}]}))
    result = validate(str(root))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{root.as_posix()}/schedules/typo.json: ") and "cron: not a cron expression" in line for line in lines), (
        lines
    )
    assert f"{root.as_posix()}/schedules/orphan.json: workflow: no workflow has the id or slug 'gone': its fires would fail" in lines
    assert any("wf_sales_insights.v1.0.json" in line and "never the secret itself" in line for line in lines), lines
    assert not any("nightly" in line for line in lines)
