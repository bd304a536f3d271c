"""The compose file and the Containerfile say only what the service understands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from echo_orchestrator.settings import ENV_PREFIX, Settings
from echo_orchestrator.store.runtime import is_shared

REPO = Path(__file__).resolve().parents[2]


def test_the_compose_file_builds_the_image_and_sets_only_real_settings() -> None:
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    apis = {name: service for name, service in compose["services"].items() if name.startswith("api")}
    assert len(apis) >= 2
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.__struct_fields__}
    for service in apis.values():
        build = service["build"]
        assert (REPO / "deploy" / build["context"] / build["dockerfile"]).resolve() == REPO / "Containerfile"
        env = service["environment"]
        assert set(env) <= fields, set(env) - fields
        assert is_shared(env["ECHO_RUNTIME_URL"])  # several nodes need the shared runtime
        settings = Settings.from_env({k: str(v) for k, v in env.items()})
        assert settings.runtime_url == env["ECHO_RUNTIME_URL"]
        host, _, port = env["ECHO_RUNTIME_URL"].rpartition("@")[2].partition("/")[0].partition(":")
        assert host in compose["services"] and port == "5432"
        assert "postgres" in service["depends_on"]


def test_the_image_installs_the_postgres_extra() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    installs = re.findall(r'pip install [^\n]*"\.\[([a-z,]+)\]"', (REPO / "Containerfile").read_text())
    assert installs and "postgres" in installs[0].split(",") and "postgres" in extras
