from __future__ import annotations

from pathlib import Path

import pytest

from echo_orchestrator.errors import ConfigurationError
from echo_orchestrator.security.network import requests_per_hour
from echo_orchestrator.settings import Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.host, settings.port, settings.storage_dir) == ("127.0.0.1", 8000, Path("storage"))


def test_env_then_flags_win() -> None:
    env = {"ECHO_PORT": "9000", "ECHO_STORAGE_DIR": "/data", "ECHO_WATCH": "false", "ECHO_HOST": ""}
    settings = Settings.from_env(env)
    assert (settings.port, settings.storage_dir, settings.watch, settings.host) == (9000, Path("/data"), False, "127.0.0.1")
    assert Settings.from_env(env, port=9100, storage_dir=Path("/x")).port == 9100
    assert Settings.from_env(env, port=None).port == 9000


def test_round_trip_through_env() -> None:
    settings = Settings.from_env({}, port=8123, watch=False, storage_dir=Path("/s"))
    assert Settings.from_env(settings.to_env()) == settings


def test_bad_value_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="port"):
        Settings.from_env({"ECHO_PORT": "eighty"})


def test_the_hourly_limit_is_off_only_on_a_private_local_server() -> None:
    assert requests_per_hour(Settings.from_env({})) == 0  # loopback, no keys, no proxy
    assert requests_per_hour(Settings.from_env({"ECHO_RATE_LIMIT_PER_HOUR": "50"})) == 50  # as set
    for exposed in (
        {"ECHO_API_KEYS": "eo_0123456789abcdef0123"},
        {"ECHO_HOST": "0.0.0.0", "ECHO_ALLOW_UNAUTHENTICATED": "true"},
        {"ECHO_TRUSTED_PROXIES": "127.0.0.1"},
        {"ECHO_ALLOWED_HOSTS": "api.example.com"},
    ):
        assert requests_per_hour(Settings.from_env(exposed)) == 1000, exposed
    assert requests_per_hour(Settings.from_env({"ECHO_ALLOWED_HOSTS": "localhost"})) == 0
