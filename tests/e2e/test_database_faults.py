"""The PostgreSQL runtime under real faults, with a throwaway cluster of the test's own
(`initdb` + `pg_ctl` on a free port): restarted under load, gone or hung while the server
stops. Nothing is stuck `running`, no service restart is needed, and SIGTERM ends `serve`
and `worker` within the grace period and a few seconds whatever the database does.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.postgres import Cluster, throwaway_cluster
from tests.helpers.redis import throwaway_redis
from tests.helpers.server import RunningServer, running_server, running_worker
from tests.helpers.storage import copy_storage

pytestmark = pytest.mark.e2e

GRACE = 2.0
ENV = {
    "ECHO_STOP_GRACE_SECONDS": str(GRACE),
    "ECHO_HEARTBEAT_SECONDS": "1",
    "ECHO_DEAD_AFTER_SECONDS": "4",
    "ECHO_RATE_LIMIT_PER_HOUR": "0",
}
GRAPH = "/graphs/ASIS/execute"
ENDED = ("completed", "failed", "cancelled")


def slow_run(task: str, latency_ms: int = 700) -> dict[str, Any]:
    return {"input": {"task": task, "llm": {"provider": "echo", "latency_ms": latency_ms}}, "async": True}


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with throwaway_cluster() as made:
        yield made


def _env(cluster: Cluster) -> dict[str, str]:
    return {**ENV, "ECHO_RUNTIME_URL": cluster.url}


def _wait_all_ended(client: httpx.Client, ids: list[str], timeout: float = 120) -> dict[str, dict[str, Any]]:
    deadline, ended = time.monotonic() + timeout, {}
    while len(ended) < len(ids):
        for execution_id in ids:
            if execution_id in ended:
                continue
            response = client.get(f"/executions/{execution_id}")
            if response.status_code == 200 and response.json()["status"] in ENDED:
                ended[execution_id] = response.json()
        assert time.monotonic() < deadline, {i: client.get(f"/executions/{i}").text[:200] for i in ids if i not in ended}
        time.sleep(0.2)
    return ended


def test_postgresql_restarted_under_load_loses_no_run(tmp_path: Path, cluster: Cluster) -> None:
    storage = copy_storage(tmp_path / "storage")
    with (
        running_server(storage, "--plugins-dir", str(tmp_path / "plugins"), "--log-level", "info", env=_env(cluster), timeout=40) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        ids = []
        for i in range(6):
            response = client.post(GRAPH, json=slow_run(f"before the restart {i}"))
            assert response.status_code == 202, response.text
            ids.append(response.json()["execution_id"])
        deadline = time.monotonic() + 30
        while client.get("/executions", params={"status": "running", "limit": 1}).json()["total"] < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)

        cluster.stop("fast")  # every connection cut, as a restart or a failover cuts them
        began = time.monotonic()
        health = client.get("/service/health")
        assert time.monotonic() - began < 8 and health.json()["database"]["status"] == "error"
        assert client.get("/health/ready").status_code == 503
        refused = client.post(GRAPH, json=slow_run("while it is down"))
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "ERR_STORAGE_001", refused.text
        time.sleep(2)
        cluster.start()

        try:
            ended = _wait_all_ended(client, ids, timeout=60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{server.output()[-8000:]}") from None
        assert {e["status"] for e in ended.values()} == {"completed"}, [
            (i, e.get("error")) for i, e in ended.items() if e["status"] != "completed"
        ]
        again = client.post(GRAPH, json=slow_run("after the restart", 50))
        assert again.status_code == 202, again.text
        assert _wait_all_ended(client, [again.json()["execution_id"]])[again.json()["execution_id"]]["status"] == "completed"
        assert client.get("/health/ready").status_code == 200
        stuck = client.get("/executions", params={"status": "running"}).json()["total"]
        assert stuck == 0 and server.process.poll() is None  # no restart of the service was needed


def _sigterm_seconds(process: subprocess.Popen[bytes]) -> float:
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    return time.monotonic() - began


@pytest.mark.parametrize("fault", ["stopped", "hung"])
@pytest.mark.parametrize("role", ["serve", "serve --no-worker", "worker"])
def test_sigterm_ends_promptly_whatever_the_database_does(tmp_path: Path, cluster: Cluster, role: str, fault: str) -> None:
    storage = copy_storage(tmp_path / "storage")
    plugins = ("--plugins-dir", str(tmp_path / "plugins"))
    env = _env(cluster)
    if role == "worker":
        with running_server(storage, *plugins, "--no-worker", env=env, timeout=40) as api, running_worker(storage, *plugins, env=env) as w:
            _start_runs(api)
            _fault(cluster, fault)
            took = _sigterm_seconds(w.process)
            output = w.output()
            cluster.thaw()
    else:
        extra = ("--no-worker",) if "--no-worker" in role else ()
        with running_server(storage, *plugins, *extra, env=env, timeout=40) as server:
            _start_runs(server)
            _fault(cluster, fault)
            took = _sigterm_seconds(server.process)
            output = server.output()
            cluster.thaw()
    print(f"{role}, database {fault}: SIGTERM to exit {took:.1f}s")
    assert took < GRACE + 10, (took, output[-6000:])


@pytest.mark.parametrize("fault", ["stopped", "hung"])
def test_sigterm_ends_promptly_whatever_redis_does(tmp_path: Path, cluster: Cluster, fault: str) -> None:
    storage = copy_storage(tmp_path / "storage")
    with throwaway_redis() as redis_server:
        env = {**_env(cluster), "ECHO_REDIS_URL": redis_server.url}
        with running_server(storage, "--plugins-dir", str(tmp_path / "plugins"), env=env, timeout=40) as server:
            _start_runs(server)
            time.sleep(0.5)
            redis_server.stop() if fault == "stopped" else redis_server.freeze()
            took = _sigterm_seconds(server.process)
            output = server.output()
    print(f"serve, Redis {fault}: SIGTERM to exit {took:.1f}s")
    assert took < GRACE + 10, (took, output[-6000:])


def _start_runs(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for i in range(3):
            assert client.post(GRAPH, json=slow_run(f"run {i}", 2000)).status_code == 202


def _fault(cluster: Cluster, fault: str) -> None:
    time.sleep(0.5)
    if fault == "stopped":
        cluster.stop("immediate")
    else:
        cluster.freeze()


def test_a_second_signal_exits_at_once(tmp_path: Path, cluster: Cluster) -> None:
    storage = copy_storage(tmp_path / "storage")
    env = {**_env(cluster), "ECHO_STOP_GRACE_SECONDS": "60"}  # runs would be given a minute
    with running_server(storage, "--plugins-dir", str(tmp_path / "plugins"), env=env, timeout=40) as server:
        _start_runs(server)
        time.sleep(1.0)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert server.process.poll() is None  # the first lets runs finish
        took = _sigterm_seconds(server.process)
        assert took < 3, took
        assert server.process.returncode == 128 + signal.SIGTERM
        assert "SIGTERM while stopping: exiting now" in server.output()
