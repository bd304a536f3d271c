"""One proxy rule: `X-Forwarded-For` names the client only when the peer is one of
`ECHO_TRUSTED_PROXIES`, on the real server started by `echo-orchestrator serve` (whose
uvicorn would otherwise believe it from 127.0.0.1 by default)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers.server import running_server
from tests.helpers.storage import copy_storage

pytestmark = pytest.mark.e2e

FORGED = ("203.0.113.7", "198.51.100.23", "192.0.2.99")


def _remaining_after_forged_requests(root: Path, env: dict[str, str]) -> list[int]:
    copy_storage(root / "storage")
    seen = []
    with (
        running_server(root / "storage", "--plugins-dir", str(root / "plugins"), env=env) as running,
        httpx.Client(base_url=running.url) as client,
    ):
        for address in FORGED:
            response = client.get("/agents/list", headers={"X-Forwarded-For": address})
            assert response.status_code == 200, response.text
            seen.append(int(response.headers["x-ratelimit-remaining"]))
    return seen


def test_forged_forwarded_for_from_loopback_is_ignored_without_a_trusted_proxy(tmp_path: Path) -> None:
    # Each forged address would otherwise get a fresh window: one caller, one count.
    seen = _remaining_after_forged_requests(tmp_path, {"ECHO_RATE_LIMIT_PER_HOUR": "50", "ECHO_TRUSTED_PROXIES": ""})
    assert seen == [49, 48, 47]


def test_forwarded_for_names_the_client_behind_a_trusted_proxy(tmp_path: Path) -> None:
    env = {"ECHO_RATE_LIMIT_PER_HOUR": "50", "ECHO_TRUSTED_PROXIES": "127.0.0.1/32"}
    seen = _remaining_after_forged_requests(tmp_path, env)
    assert seen == [49, 49, 49]  # three clients behind the proxy, each counted on its own
