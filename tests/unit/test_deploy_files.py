"""The compose file and the Containerfile say only what the service understands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from echo_orchestrator.cli import build_parser
from echo_orchestrator.settings import ENV_PREFIX, Settings
from echo_orchestrator.store.runtime.base import is_shared

REPO = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())  # type: ignore[no-any-return]


def _nodes(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if name.startswith(("api", "worker"))}


def test_the_compose_file_has_api_nodes_and_workers_that_run_real_commands() -> None:
    nodes = _nodes(_compose())
    roles = {name: service["command"] for name, service in nodes.items()}
    assert sum(1 for c in roles.values() if c[:2] == ["echo-orchestrator", "serve"]) >= 2
    assert sum(1 for c in roles.values() if c[:2] == ["echo-orchestrator", "worker"]) >= 2
    for command in roles.values():
        build_parser().parse_args(command[1:])  # every flag is one the CLI has


def test_every_node_builds_the_image_and_sets_only_real_settings() -> None:
    compose = _compose()
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.__struct_fields__}
    for service in _nodes(compose).values():
        build = service["build"]
        assert (REPO / "deploy" / build["context"] / build["dockerfile"]).resolve() == REPO / "Containerfile"
        env = service["environment"]
        ours = {name for name in env if not name.startswith("OTEL_")}  # OpenTelemetry's own variables
        assert ours <= fields, ours - fields
        assert is_shared(env["ECHO_RUNTIME_URL"])  # several nodes need the shared runtime
        settings = Settings.from_env({k: str(v) for k, v in env.items()})
        assert settings.runtime_url == env["ECHO_RUNTIME_URL"] and settings.redis_url == env["ECHO_REDIS_URL"]
        for url, port in ((env["ECHO_RUNTIME_URL"], "5432"), (env["ECHO_REDIS_URL"], "6379")):
            host, _, given = url.rpartition("@")[2].split("//")[-1].partition("/")[0].partition(":")
            assert host in compose["services"] and given == port
            assert host in service["depends_on"]


def test_the_image_installs_the_cluster_extras() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    installs = re.findall(r'pip install [^\n]*"\.\[([a-z,]+)\]"', (REPO / "Containerfile").read_text())
    assert installs
    for extra in ("postgres", "redis"):
        assert extra in installs[0].split(",") and extra in extras


def test_the_observability_profile_scrapes_every_node_where_it_listens() -> None:
    compose = _compose()
    services = compose["services"]
    assert services["prometheus"]["profiles"] == ["observability"] and services["jaeger"]["profiles"] == ["observability"]
    config = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]}
    expected = set()
    for name, service in _nodes(compose).items():
        command = service["command"]
        port = command[command.index("--metrics-port") + 1] if "--metrics-port" in command else "8000"
        expected.add(f"{name}:{port}")
    assert targets == expected
    (key_file,) = {job["authorization"]["credentials_file"] for job in config["scrape_configs"]}
    assert any(v.endswith(f":{key_file}:ro") for v in services["prometheus"]["volumes"])
    for service in _nodes(compose).values():  # every node reads its keys: the scraper's key works on each
        assert service["environment"]["ECHO_API_KEYS_FILE"] == "/run/keys/keys.sha256"
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" in service["environment"]
    assert "otel" in re.findall(r'pip install [^\n]*"\.\[([a-z,]+)\]"', (REPO / "Containerfile").read_text())[0].split(",")
