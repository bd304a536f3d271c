"""Triggers with real processes: two API nodes and two workers on PostgreSQL firing a
per-second schedule start each fire's run exactly once; a completion webhook whose receiver
failed the first attempt is still delivered after the server was stopped and started again."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.helpers.postgres import new_schema
from tests.helpers.receiver import receiving
from tests.helpers.server import RunningServer, RunningWorker, running_server, running_worker
from tests.helpers.storage import copy_storage

pytestmark = [pytest.mark.e2e]
SECRET = "whsec_" + base64.b64encode(b"an end-to-end secret, 32 bytes!!").decode()
FIRING_SECONDS = 12


@pytest.fixture
def cluster(tmp_path: Path, postgres_database: str) -> Iterator[tuple[list[RunningServer], list[RunningWorker]]]:
    storage = copy_storage(tmp_path / "storage")
    env = {"ECHO_RUNTIME_URL": new_schema(postgres_database), "ECHO_RATE_LIMIT_PER_HOUR": "0"}
    plugins = ("--plugins-dir", str(tmp_path / "plugins"))
    with ExitStack() as stack:
        apis = [stack.enter_context(running_server(storage, *plugins, "--no-worker", env=env, timeout=40)) for _ in range(2)]
        workers = [stack.enter_context(running_worker(storage, *plugins, "--concurrency", "8", env=env)) for _ in range(2)]
        yield apis, workers


def test_a_per_second_schedule_on_two_apis_and_two_workers_runs_each_fire_once(
    cluster: tuple[list[RunningServer], list[RunningWorker]],
) -> None:
    (a, b), _ = cluster
    schedule = {
        "schedule_id": "every-second",
        "workflow": "market-research",
        "inputs": {"topic": "tides"},
        "cron": "* * * * * *",
        "overlap": "allow",
    }
    with httpx.Client(base_url=a.url, timeout=30) as api_a, httpx.Client(base_url=b.url, timeout=30) as api_b:
        assert api_a.post("/schedules", json=schedule).status_code == 201
        time.sleep(FIRING_SECONDS)
        assert api_b.post("/schedules/every-second/pause").status_code == 200  # from the other node
        time.sleep(2)  # a fire claimed just before the pause is still recorded
        deadline = time.monotonic() + 60
        while True:
            fires = [f for f in api_b.get("/schedules/every-second/fires", params={"limit": 1000}).json() if f["outcome"] != "began"]
            statuses = Counter(f["execution_status"] for f in fires)
            if set(statuses) <= {"completed"} or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        listed = api_a.get("/executions", params={"limit": 1000}).json()

    moments = sorted(f["fire_at"] for f in fires)
    assert len(moments) >= FIRING_SECONDS - 3, moments
    assert len(set(moments)) == len(moments)  # one record per fire
    assert all(f["outcome"] == "started" for f in fires), Counter(f["outcome"] for f in fires)
    started = [f["execution_id"] for f in fires]
    assert len(set(started)) == len(started) and set(statuses) == {"completed"}, statuses
    # Every second between the first and last fire fired: none lost between the nodes.
    stamps = [time.mktime(time.strptime(m[:19], "%Y-%m-%dT%H:%M:%S")) for m in moments]
    assert [round(t - stamps[0]) for t in stamps] == list(range(len(stamps)))
    scheduled = {e["execution_id"] for e in listed["executions"] if e["caller"] == "schedule:every-second"}
    assert scheduled == set(started)  # and no run the fires do not account for
    claimed_by = Counter(f["node"] for f in fires)
    assert len(claimed_by) >= 2, claimed_by  # the four processes competed; each fire went to one
    print(f"{len(fires)} fires, {len(scheduled)} runs, claimed per process: {sorted(claimed_by.values())}")


def test_a_delivery_survives_a_restart_between_its_attempts(tmp_path: Path) -> None:
    storage = copy_storage(tmp_path / "storage")
    with receiving(SECRET, answers=[500]) as receiver:
        env = {
            "ECHO_WEBHOOK_SECRET": SECRET,
            "ECHO_WEBHOOK_ALLOWED_URLS": f"http://127.0.0.1:{receiver.port}",
            "ECHO_WEBHOOK_BACKOFF_SECONDS": "4",
        }
        with running_server(storage, env=env) as server, httpx.Client(base_url=server.url, timeout=30) as c:
            body = {"inputs": {"topic": "tides"}, "webhook": {"url": receiver.url, "events": ["completed"]}}
            execution_id = c.post("/workflows/market-research/execute", json=body).json()["execution_id"]
            (first,) = receiver.wait_for(1)
            assert first.answered == 500
        # Stopped between the attempts (the next is due 2-4 s after the first); started again.
        with running_server(storage, env=env) as server, httpx.Client(base_url=server.url, timeout=30) as c:
            got = receiver.wait_for(2, timeout=30)
            deadline = time.monotonic() + 10
            while (listed := c.get(f"/executions/{execution_id}/webhooks").json())["deliveries"][0]["status"] != "delivered":
                assert time.monotonic() < deadline, json.dumps(listed)
                time.sleep(0.1)
    assert [r.answered for r in got] == [500, 200] and all(r.verified for r in got)
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
    (delivery,) = listed["deliveries"]
    assert [a["status_code"] for a in delivery["history"]] == [500, 200]


def test_the_cli_lists_schedules_of_a_server_and_of_a_storage_folder(tmp_path: Path) -> None:
    import subprocess
    import sys

    storage = copy_storage(tmp_path / "storage")
    schedule = {"schedule_id": "tick", "workflow": "market-research", "inputs": {"topic": "x"}, "interval_seconds": 1, "overlap": "allow"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "echo_orchestrator", "schedules", *args], capture_output=True, text=True, timeout=60)

    with running_server(storage) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.post("/schedules", json=schedule).status_code == 201
        deadline = time.monotonic() + 20
        while not any(f["outcome"] == "started" for f in c.get("/schedules/tick/fires").json()):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        remote = cli("--server", server.url)
        local = cli("--storage", str(storage))
        as_json = json.loads(cli("--server", server.url, "--json").stdout)
    for listed in (remote, local):
        assert listed.returncode == 0, listed.stderr
        (row,) = [line for line in listed.stdout.splitlines() if line.strip().startswith("tick")]
        assert "workflow market-research" in row and "every 1 s" in row and "started" in row and "Z" in row
    assert as_json["total"] == 1 and as_json["schedules"][0]["schedule"]["interval_seconds"] == 1
    unreachable = cli("--server", "127.0.0.1:9")
    assert unreachable.returncode != 0 and "Traceback" not in unreachable.stderr
