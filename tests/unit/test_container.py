from __future__ import annotations

from echo_orchestrator.container import register_secrets
from echo_orchestrator.security.redaction import MASK, SECRETS
from echo_orchestrator.settings import Settings


def test_the_runtime_databases_password_is_never_logged() -> None:
    try:
        register_secrets(Settings(runtime_url="postgresql://echo:runtime-pw-4711@db:5432/echo"))
        assert SECRETS.scrub("connecting with runtime-pw-4711 failed") == f"connecting with {MASK} failed"
        assert "echo" in SECRETS.scrub("user echo")  # the user name is not a secret
    finally:
        register_secrets(Settings())
