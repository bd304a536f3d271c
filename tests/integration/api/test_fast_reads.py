"""Reads the gate answers itself (`api/fast_reads.py`) answer exactly as their routes would:
the same status, headers and bytes for a found entity, a 304, an unknown id, a caller
without a key, a foreign Host, a read-only key, and under the hourly limit. Each request is
sent to two apps on copies of the same storage, one with the gate's answers switched off."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from echo_orchestrator.api import gate
from echo_orchestrator.api.app import create_app
from echo_orchestrator.settings import Settings
from tests.helpers.server import LOCAL
from tests.helpers.storage import copy_storage

KEY, READER = "eo_fast-read-key-0123456789abcdef0", "eo_fast-read-reader-0123456789abcd"
FINAL = "/workflows/wf_article_desk/final/1.0"
AGENT = "/agents/analyzer"
SLUG = "/workflows/article-desk"
# Headers that differ between any two answers by design.
PER_REQUEST = ("x-ratelimit-reset",)


def app_on(tmp_path: Path, name: str) -> Litestar:
    settings = Settings(
        storage_dir=copy_storage(tmp_path / name),
        plugins_dir=None,
        watch=False,
        watch_plugins=False,
        scheduler=False,
        api_keys=f"{KEY},{READER} read-only",
        rate_limit_per_hour=1000,
    )
    return create_app(settings)


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient[Litestar], TestClient[Litestar]]]:
    with TestClient(app_on(tmp_path, "fast"), base_url=LOCAL) as fast, TestClient(app_on(tmp_path, "routed"), base_url=LOCAL) as routed:
        yield fast, routed


def answer_of(client: TestClient[Litestar], path: str, headers: dict[str, str], *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as switched:
        if not fast:
            switched.setattr(gate, "FAST_READ", "no fast read here")
        response = client.get(path, headers={"X-Request-ID": "fast-read-test", **headers})
    kept = sorted((name, value) for name, value in response.headers.multi_items() if name not in PER_REQUEST)
    body = response.content
    if response.status_code >= 400:  # an error body says when it was made
        error = response.json()
        body = json.dumps({**error, "error": {**error["error"], "timestamp": None}}).encode()
    return response.status_code, kept, body


def test_the_gate_answers_as_the_routes_would(
    pair: tuple[TestClient[Litestar], TestClient[Litestar]], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, routed = pair
    key = {"Authorization": f"Bearer {KEY}"}
    final_tag = routed.get(FINAL, headers=key).headers["etag"]
    agent_tag = routed.get(AGENT, headers=key).headers["etag"]
    fast.get(FINAL, headers=key), fast.get(AGENT, headers=key)  # the same count of requests on each side
    cases: list[tuple[str, dict[str, str], int]] = [
        (FINAL, key, 200),
        (FINAL, {**key, "If-None-Match": final_tag}, 304),
        (FINAL, {**key, "If-None-Match": f'W/"other", {final_tag}'}, 304),
        (FINAL, {**key, "If-None-Match": '"other"'}, 200),
        (FINAL, {**key, "If-None-Match": "*"}, 304),
        ("/workflows/wf_article_desk/final/9.9", key, 404),
        ("/workflows/nobody/final/1.0", key, 404),
        (AGENT, key, 200),
        (AGENT, {**key, "If-None-Match": agent_tag}, 304),
        ("/agents/nobody", key, 404),
        (SLUG, key, 200),
        ("/workflows/no-such-slug", key, 404),
        (SLUG, {"Authorization": f"Bearer {READER}"}, 200),
        (SLUG, {}, 401),
        (FINAL, {"Authorization": "Bearer eo_wrong"}, 401),
        (AGENT, {**key, "Host": "evil.example"}, 400),
    ]
    for path, headers, status in cases:
        ours = answer_of(fast, path, headers, fast=True, monkeypatch=monkeypatch)
        theirs = answer_of(routed, path, headers, fast=False, monkeypatch=monkeypatch)
        assert ours[0] == status, (path, headers, ours)
        assert ours == theirs, (path, headers)
    # The hourly limit counted every request of the key, answered by the gate or not.
    keyed = 2 + sum(1 for _, headers, _ in cases if headers.get("Authorization") == key["Authorization"]) + 1
    assert dict(answer_of(fast, SLUG, key, fast=True, monkeypatch=monkeypatch)[1])["x-ratelimit-remaining"] == str(1000 - keyed)


def test_the_gates_answer_is_the_one_sent(pair: tuple[TestClient[Litestar], TestClient[Litestar]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is taken (not the route): the route's handler is never called."""
    fast, _ = pair
    from echo_orchestrator.api.controllers import workflows

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the route was called")

    monkeypatch.setattr(workflows, "representation", refuse)
    assert fast.get(FINAL, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    with monkeypatch.context() as switched:
        switched.setattr(gate, "FAST_READ", "no fast read here")
        assert fast.get(FINAL, headers={"Authorization": f"Bearer {KEY}"}).status_code == 500


def test_a_catalogue_page_follows_its_workflow_and_its_runs(pair: tuple[TestClient[Litestar], TestClient[Litestar]]) -> None:
    """The page the gate keeps encoded is made again when what it shows changes."""
    fast, _ = pair
    fast.headers["Authorization"] = f"Bearer {KEY}"
    page = "/workflows/market-research"
    assert fast.get(page).json()["statistics"]["total_executions"] == 0
    assert fast.get(page).json()["status"] == "final"  # answered from what was kept
    started = fast.post(f"{page}/execute", json={"inputs": {"topic": "tides"}})
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 20
    while fast.get(f"/executions/{started.json()['execution_id']}").json()["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    statistics = fast.get(page).json()["statistics"]
    assert statistics["total_executions"] == 1 and statistics["successful_executions"] == 1
    assert fast.post(f"{page}/archive").json()["status"] == "archived"
    assert fast.get(page).json()["status"] == "archived"
    assert fast.post(f"{page}/unarchive").json()["status"] == "final"
    assert fast.get(page).json()["status"] == "final"
