"""Literal secrets in a storage folder: found where they are, never shown; references and ids are not secrets."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from pathlib import Path

import pytest

from echo_orchestrator.security.secret_scan import scan_folder, scan_text, value_problem
from tests.helpers.storage import copy_storage

PLANTED = {
    "an Anthropic API key": "sk-ant-api03-" + "Ab3dE" * 8,
    "an OpenAI-style API key": "sk-proj-" + "Qw9eR" * 8,
    "a GitHub token": "ghp_" + "a1B2c3D4e5" * 4,
    "a GitLab token": "glpat-" + "x7Y8z9W0v1" * 2,
    "a Slack token": "xoxb-1234567890-abcdefghij",
    "an AWS access key id": "AKIAIOSFODNN7EXAMPLE",
    "a Google API key": "AIza" + "Sy" + "B1c2D3e4F5" * 3 + "g6H",
    "a Hugging Face token": "hf_" + "Kp4Lm7Nq2Rs5" * 3,
    "an Echo Orchestrator API key": "eo_" + "Zx8Cv7Bn6Mq5" * 3,
    "a JSON Web Token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl",
}


@pytest.mark.parametrize(("label", "value"), PLANTED.items())
def test_known_prefixes_are_found_under_any_name(label: str, value: str) -> None:
    assert value_problem("note", f"use {value} here") == f"looks like {label}"


def test_secret_names_with_literal_values_are_found() -> None:
    assert value_problem("LEAKY_SECRET", "correct-horse-battery") is not None
    assert value_problem("Authorization", "Basic dXNlcjpwYXNzd29yZA==") is not None
    assert value_problem("apiKey", "plain-but-long-value") is not None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GITHUB_TOKEN", "${GITHUB_TOKEN}"),
        ("Authorization", "Bearer ${env:API_TOKEN}"),
        ("API_KEY", "${API_KEY:-}"),
        ("api_key_env", "OPENAI_API_KEY"),  # names a variable to read
        ("password", "<your password>"),
        ("token", "changeme"),
        ("keywords", "market research competitors"),
        ("max_tokens", "4096"),
        ("sha256", hashlib.sha256(b"x").hexdigest()),
        ("execution_id", "wfexec_9f1c2b7e4a6d4c3b8e5f0a1b2c3d4e5f"),
        ("description", "Researches the market and writes a report for the sales team"),
    ],
)
def test_references_ids_and_words_are_not_secrets(name: str, value: str) -> None:
    assert value_problem(name, value) is None


def test_high_entropy_tokens_are_found_and_digests_are_not() -> None:
    assert value_problem("note", secrets.token_urlsafe(32)) == "a high-entropy token (a key or password?)"
    assert value_problem("note", hashlib.sha256(b"a").hexdigest()) is None
    assert value_problem("note", str(uuid.uuid4())) is None


def test_text_files_are_read_line_by_line() -> None:
    found = list(scan_text("# notes\nexport OPENAI_API_KEY=abcdEFGH12345678\nAPI_KEY=$FROM_SHELL\n", ".env"))
    assert found == [("line 2", "a literal value under a secret-looking name (OPENAI_API_KEY)")]


def test_scan_folder_skips_runtime_data_and_never_shows_values(tmp_path: Path) -> None:
    root = copy_storage(tmp_path / "storage")
    assert scan_folder(root) == []  # the shipped storage is clean
    token = PLANTED["a GitHub token"]
    settings = {"mcpServers": {"github": {"command": "gh-mcp", "env": {"GITHUB_TOKEN": token, "OTHER": "${OTHER}"}}}}
    (root / "mcp_settings.json").write_text(json.dumps(settings))
    for unversioned in ("runtime", "workspaces"):
        (root / unversioned).mkdir(exist_ok=True)
        (root / unversioned / "notes.json").write_text(json.dumps({"token": token}))
    ignored = root / "agents" / "cache"
    ignored.mkdir()
    (ignored / ".gitignore").write_text("*\n")
    (ignored / "x.json").write_text(json.dumps({"token": token}))
    findings = scan_folder(root)
    assert [(f.file, f.where, f.reason) for f in findings] == [
        ("mcp_settings.json", "mcpServers.github.env.GITHUB_TOKEN", "looks like a GitHub token")
    ]
    assert token not in repr(findings)
