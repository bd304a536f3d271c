"""The embedded runtime (SQLite) under real faults, on the real server: a storage disk that
fills up while runs are accepted, and a runtime database another process keeps locked.

Accepted means recorded: every 202 names an execution that exists, and runs to an end; a
start that cannot be recorded is a 503 with the error body and no id. Health and readiness
say what is wrong meanwhile, and the server recovers by itself when the fault clears.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.faults import fill, small_disk
from tests.helpers.server import RunningServer, running_server
from tests.helpers.storage import copy_storage

pytestmark = pytest.mark.e2e

START = "/workflows/market-research/execute"
BODY = {"inputs": {"topic": "tea"}}


def assert_storage_error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    body: dict[str, Any] = response.json()
    assert body["error"]["code"] == "ERR_STORAGE_001" and body["detail"] == body["error"]["message"]
    assert "execution_id" not in body
    return body


def wait_ended(client: httpx.Client, execution_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/executions/{execution_id}")
        if response.status_code == 200 and response.json()["status"] in ("completed", "failed", "cancelled"):
            return dict(response.json())
        assert time.monotonic() < deadline, f"{execution_id} did not end: {response.status_code} {response.text[:300]}"
        time.sleep(0.1)


def test_a_full_disk_never_answers_202_without_a_record_and_recovers(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "24m") as disk:
        storage = copy_storage(disk / "storage")
        with (
            running_server(storage, "--plugins-dir", str(tmp_path / "plugins")) as server,
            httpx.Client(base_url=server.url, timeout=60) as client,
        ):
            first = client.post(START, json=BODY)
            assert first.status_code == 202, first.text
            wait_ended(client, first.json()["execution_id"])

            filler = disk / "filler"
            fill(filler)
            accepted, refused = _start_until_refused(client)
            assert refused, "the full disk refused no start"
            _report_the_fault(client, server)
            # a definition write on the same disk is refused whole, as before
            agent = client.post("/agents/register", json={"agent_id": "written_on_a_full_disk", "name": "Full"})
            assert_storage_error(agent)
            assert not (storage / "agents" / "written_on_a_full_disk.json").exists()

            filler.unlink()  # space comes back: no restart needed
            for execution_id in accepted:  # every id answered exists and ended; none stuck running
                assert wait_ended(client, execution_id)["execution_id"] == execution_id
            again = client.post(START, json=BODY)
            assert again.status_code == 202, again.text
            assert wait_ended(client, again.json()["execution_id"])["status"] == "completed"
            _wait_healthy(client)
            listed = client.get("/executions", params={"limit": 500}).json()
            ids = {e["execution_id"] for e in listed["executions"]}
            assert set(accepted) <= ids
            assert not [e for e in listed["executions"] if e["status"] in ("running", "initializing")]


def _start_until_refused(client: httpx.Client) -> tuple[list[str], list[httpx.Response]]:
    accepted: list[str] = []
    refused: list[httpx.Response] = []
    for _ in range(400):
        response = client.post(START, json=BODY)
        if response.status_code == 202:
            accepted.append(response.json()["execution_id"])
            continue
        assert_storage_error(response)
        assert "full" in response.json()["detail"]  # SQLite's own reason: "database or disk is full"
        refused.append(response)
        if len(refused) >= 3:
            break
    return accepted, refused


def _report_the_fault(client: httpx.Client, server: RunningServer) -> None:
    ready = client.get("/health/ready")
    assert ready.status_code == 503 and "runtime_database" in ready.json()["detail"]
    database = client.get("/service/health").json()["database"]
    assert database["status"] == "error" and "full" in database["error"]
    assert server.process.poll() is None


def _wait_healthy(client: httpx.Client, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/health/ready").status_code != 200:
        assert time.monotonic() < deadline, client.get("/health/ready").text
        time.sleep(0.2)
    assert client.get("/service/health").json()["database"]["status"] == "connected"


@pytest.mark.slow  # waits out SQLite's busy timeout (5 s) a few times
def test_a_locked_runtime_database_gives_503_and_recovers(tmp_path: Path) -> None:
    storage = copy_storage(tmp_path / "storage")
    with (
        running_server(storage, "--plugins-dir", str(tmp_path / "plugins")) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        assert client.post(START, json=BODY).status_code == 202
        locked, release = threading.Event(), threading.Event()

        def hold_the_lock() -> None:  # another process's writer that never lets go (a stuck tool, a backup)
            with sqlite3.connect(storage / "runtime" / "runtime.sqlite", timeout=30, isolation_level=None) as other:
                other.execute("BEGIN IMMEDIATE")
                locked.set()
                release.wait(60)
                other.execute("ROLLBACK")

        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        try:
            assert locked.wait(30)
            started = time.monotonic()
            refused = client.post(START, json=BODY)
            waited = time.monotonic() - started
            assert_storage_error(refused)
            # each write queued behind the lock waits out the busy timeout (5 s): seconds, never a hang
            assert "locked" in refused.json()["detail"] and waited < 40, waited
        finally:
            release.set()
            holder.join()
        again = client.post(START, json=BODY)
        assert again.status_code == 202, again.text
        assert wait_ended(client, again.json()["execution_id"])["status"] == "completed"
        _wait_healthy(client)
