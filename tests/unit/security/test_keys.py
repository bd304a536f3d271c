from __future__ import annotations

from pathlib import Path

import pytest

from echo_orchestrator.errors import ConfigurationError, Unauthorized
from echo_orchestrator.security.callers import Authenticator, bearer_of
from echo_orchestrator.security.keys import KeyRing, new_key, stored_line

pytestmark = pytest.mark.anyio

KEY = "eo_0123456789abcdef0123"


def test_a_keys_file_of_hashes_matches_the_keys(tmp_path: Path) -> None:
    other = new_key()
    (tmp_path / "keys").write_text(f"# comment\n\n{stored_line(KEY, key_id='ci')}\n{stored_line(other, read_only=True)}\n")
    ring = KeyRing.load("", tmp_path / "keys")
    ci = ring.match(KEY)
    assert ci is not None and ci.key_id == "ci" and not ci.read_only
    ro = ring.match(other)
    assert ro is not None and ro.read_only and ro.key_id.startswith("key_")
    assert ring.match("eo_0123456789abcdef0124") is None


def test_bad_entries_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="16 characters"):
        KeyRing.load("short", None)
    with pytest.raises(ConfigurationError, match="unknown option"):
        KeyRing.load(f"{KEY} admin", None)
    with pytest.raises(ConfigurationError, match="Cannot read"):
        KeyRing.load("", tmp_path / "missing")


async def test_authenticator() -> None:
    auth = Authenticator(KeyRing.load(f"{KEY} id=ci, {KEY}x read-only", None), None)
    assert (await auth.authenticate(bearer=KEY, api_key=None)).id == "key:ci"
    assert (await auth.authenticate(bearer=None, api_key=f"{KEY}x")).read_only
    for bearer, api_key in ((None, None), ("nope", None), (None, "nope"), ("a.b.c", None)):
        with pytest.raises(Unauthorized):
            await auth.authenticate(bearer=bearer, api_key=api_key)
    open_ = Authenticator(KeyRing([]), None)
    assert not open_.required and (await open_.authenticate(bearer=None, api_key=None)).id is None


def test_bearer_of() -> None:
    assert bearer_of("Bearer abc") == "abc" and bearer_of("bearer  abc ") == "abc"
    assert bearer_of("Basic abc") is None and bearer_of(None) is None and bearer_of("Bearer") is None
