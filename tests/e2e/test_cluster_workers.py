"""API nodes that run nothing (`serve --no-worker`) and queue workers (`worker`), over one
storage folder and one PostgreSQL database: every run goes through the queue, any API node
serves any run, and a worker killed with -9 leaves its runs to the others."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.helpers.fake_llm import fake_llm_server
from tests.helpers.postgres import new_schema
from tests.helpers.server import RunningServer, RunningWorker, running_server, running_worker
from tests.helpers.storage import copy_storage
from tests.helpers.streams import follow_sse, follow_ws, seqs, stored_seqs

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

CAPACITY = 4  # per worker
RUNS = 100
GRAPH = "/graphs/ASIS/execute"


def quick(task: str, latency_ms: int = 30) -> dict[str, Any]:
    return {"input": {"task": task, "llm": {"provider": "echo", "latency_ms": latency_ms}}, "async": True}


@pytest.fixture
def cluster(tmp_path: Path, postgres_database: str) -> Iterator[tuple[RunningServer, RunningServer, list[RunningWorker]]]:
    storage = copy_storage(tmp_path / "storage")
    # Hundreds of requests from one caller (the test): its hourly limit is not what is tested.
    env = {"ECHO_RUNTIME_URL": new_schema(postgres_database), "ECHO_RATE_LIMIT_PER_HOUR": "0"}
    plugins = ("--plugins-dir", str(tmp_path / "plugins"))
    with ExitStack() as stack:
        a = stack.enter_context(running_server(storage, *plugins, "--no-worker", env=env, timeout=40))
        b = stack.enter_context(running_server(storage, *plugins, "--no-worker", env=env, timeout=40))
        workers = [stack.enter_context(running_worker(storage, *plugins, "--concurrency", str(CAPACITY), env=env)) for _ in range(3)]
        yield a, b, workers


async def test_a_hundred_runs_through_two_apis_run_on_three_workers_and_are_followed_from_the_other_node(
    cluster: tuple[RunningServer, RunningServer, list[RunningWorker]],
) -> None:
    a, b, _ = cluster
    other = {a.url: b, b.url: a}
    ws: dict[str, list[dict[str, Any]]] = {}
    sse: dict[str, list[tuple[str, int]]] = {}
    started_on: dict[str, RunningServer] = {}
    most_running = 0
    async with httpx.AsyncClient(base_url=a.url, timeout=60) as c:
        wf = (await c.get("/workflows/sales-insights/final/1.0")).json()
        reviewed = {**wf, "workflow_id": "wf_reviewed", "slug": "reviewed", "status": "validated",
                    "human_in_loop": {"enabled": True, "review_points": ["analyzer"]}}  # fmt: skip
        assert (await c.post("/workflows/temp/save", json=reviewed)).status_code == 200

    async def watch_capacity() -> None:
        nonlocal most_running
        async with httpx.AsyncClient(base_url=b.url) as c:
            while True:
                r = await c.get("/executions", params={"status": "running", "limit": 1})
                assert r.status_code == 200, r.text
                running = r.json()["total"]
                most_running = max(most_running, running)
                await anyio.sleep(0.05)

    async def start(tg: Any, node: RunningServer, path: str, body: dict[str, Any]) -> str:
        async with httpx.AsyncClient(base_url=node.url, timeout=60) as c:
            r = await c.post(path, json=body)
        assert r.status_code == 202, r.text
        execution_id = str(r.json()["execution_id"])
        started_on[execution_id] = node
        ws[execution_id], sse[execution_id] = [], []
        # Followed from the node that did not start it, from the moment it exists.
        tg.start_soon(functools.partial(follow_ws, other[node.url], execution_id, ws[execution_id], timeout=None))
        tg.start_soon(functools.partial(follow_sse, other[node.url], execution_id, sse[execution_id], timeout=None))
        return execution_id

    with anyio.fail_after(240):
        async with anyio.create_task_group() as outer:
            outer.start_soon(watch_capacity)
            async with anyio.create_task_group() as tg:
                # It cannot end on its own while the test lasts: only the cancel ends it.
                to_cancel = await start(tg, a, GRAPH, quick("cancel me", latency_ms=600_000))
                to_answer = await start(tg, b, "/workflows/reviewed/execute", {"inputs": {"input_data": "Q1"}})
                plain = [await start(tg, a if i % 2 else b, GRAPH, quick(f"run {i}")) for i in range(RUNS - 2)]
                async with httpx.AsyncClient(base_url=b.url, timeout=60) as c:  # cancelled through the other node
                    while (await c.get(f"/executions/{to_cancel}")).json()["status"] != "running":
                        await anyio.sleep(0.05)
                    r = await c.post(f"/executions/{to_cancel}/cancel", json={"graceful": False, "reason": "from node B"})
                    assert r.status_code == 200, r.text
                async with httpx.AsyncClient(base_url=a.url, timeout=60) as c:  # answered through the other node
                    while (record := (await c.get(f"/executions/{to_answer}")).json())["status"] != "paused":
                        await anyio.sleep(0.05)
                    answer = {"prompt_id": record["pending_prompt"]["prompt_id"], "response": "approve"}
                    r = await c.post(f"/executions/{to_answer}/respond", json=answer)
                    assert r.status_code == 200, r.text
            outer.cancel_scope.cancel()

    assert 1 < most_running <= 3 * CAPACITY  # spread over workers, never past their capacity
    for execution_id in [to_cancel, to_answer, *plain]:
        expected = await stored_seqs(started_on[execution_id], execution_id)
        assert expected == list(range(1, len(expected) + 1)) and len(expected) > 3
        assert seqs(ws[execution_id]) == expected, execution_id  # every event, in order, no gap, no double
        assert [seq for _, seq in sse[execution_id]] == expected, execution_id
    ending = {execution_id: ws[execution_id][-1]["event"] for execution_id in ws}
    assert ending.pop(to_cancel) == "execution_cancelled"
    assert set(ending.values()) == {"execution_completed"}
    assert [f["event"] for f in ws[to_answer]].count("interactive_prompt") == 1


async def test_a_synchronous_run_on_an_api_node_that_runs_nothing_waits_for_the_worker(
    cluster: tuple[RunningServer, RunningServer, list[RunningWorker]],
) -> None:
    a, b, _ = cluster
    for node in (a, b):
        async with httpx.AsyncClient(base_url=node.url, timeout=60) as c:
            r = await c.post(GRAPH, json={**quick("wait for me", latency_ms=300), "async": False})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "completed"
        assert "wait for me" in r.json()["result"]["output"]["result"]


def test_a_worker_killed_with_9_leaves_its_runs_to_the_others(tmp_path: Path, postgres_database: str) -> None:
    storage = copy_storage(tmp_path / "storage")
    plugins = ("--plugins-dir", str(tmp_path / "plugins"))
    with fake_llm_server() as llm:
        env = {
            "ECHO_RUNTIME_URL": new_schema(postgres_database),
            "ECHO_HEARTBEAT_SECONDS": "0.5",
            "ECHO_DEAD_AFTER_SECONDS": "3",
            "OPENAI_API_KEY": "sk-test-cluster",
            "ECHO_LLM_ALLOWED_BASE_URLS": llm,
        }
        model = {"provider": "openai", "model": "slow-2500", "base_url": f"{llm}/v1"}
        with (
            running_server(storage, *plugins, "--no-worker", env=env, timeout=40) as api,
            running_worker(storage, *plugins, "--concurrency", "20", env=env) as first,
        ):
            # Durability `sync`: a finished step's checkpoint is written before the next starts.
            bodies = [{"input": {"task": f"survive {i}", "llm": model}, "config": {"durability": "sync"}, "async": True} for i in range(20)]
            ids = [httpx.post(f"{api.url}/graphs/ASIS/execute", json=body).json()["execution_id"] for body in bodies]
            deadline = time.monotonic() + 30
            while not all(_planner_done(api, e) for e in ids):  # all 20 on the only worker, past their first step
                assert time.monotonic() < deadline
                time.sleep(0.1)
            first.process.kill()
            first.process.wait()
            going = [e for e in ids if httpx.get(f"{api.url}/executions/{e}").json()["status"] != "completed"]
            assert len(going) >= 10, "killed mid-run"
            # The others: they find the dead worker's jobs and continue its runs.
            with running_worker(storage, *plugins, env=env), running_worker(storage, *plugins, env=env):
                deadline = time.monotonic() + 120
                while (statuses := {httpx.get(f"{api.url}/executions/{e}").json()["status"] for e in ids}) != {"completed"}:
                    assert time.monotonic() < deadline, statuses
                    time.sleep(0.2)
            calls = httpx.get(f"{llm}/_requests").json()
            for i, execution_id in enumerate(ids):
                events = httpx.get(f"{api.url}/executions/{execution_id}/events?limit=1000").json()["events"]
                kinds = [e["event_type"] for e in events]
                assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
                assert kinds.count("execution_resumed") == (1 if execution_id in going else 0)  # continued once, by one worker
                assert "execution_failed" not in kinds and kinds[-1] == "execution_completed"
                steps = httpx.get(f"{api.url}/executions/{execution_id}/steps").json()["step_executions"]
                done = [s["step_number"] for s in steps if s["status"] == "completed"]
                assert len(done) == len(set(done)), f"a step of {execution_id} completed twice"
                # Each LLM call of the run is one prompt; only the one in flight at the kill is asked again.
                prompts = Counter(_prompt(c) for c in calls if f"Task: survive {i}\n" in _prompt(c))
                assert sum(n - 1 for n in prompts.values()) <= (1 if execution_id in going else 0), prompts
                assert sum(1 for p in prompts if p.startswith("You plan work")) == 1


def _planner_done(api: RunningServer, execution_id: str) -> bool:
    steps = httpx.get(f"{api.url}/executions/{execution_id}/steps").json()["step_executions"]
    return any(s["step_name"] == "planner" and s["status"] == "completed" for s in steps)


def _prompt(call: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content")) for m in call["messages"])


def test_a_stopped_worker_hands_its_runs_back_and_exits(tmp_path: Path, postgres_database: str) -> None:
    """SIGTERM: no new runs taken; those going on get the grace period, then go back to the
    queue and are continued by another worker from their checkpoints, never ended."""
    storage = copy_storage(tmp_path / "storage")
    plugins = ("--plugins-dir", str(tmp_path / "plugins"))
    env = {"ECHO_RUNTIME_URL": new_schema(postgres_database), "ECHO_STOP_GRACE_SECONDS": "0.5"}
    body = {**quick("hand me over", latency_ms=1500), "config": {"durability": "sync"}}
    with running_server(storage, *plugins, "--no-worker", env=env, timeout=40) as api:
        with running_worker(storage, *plugins, env=env) as first:
            ids = [httpx.post(f"{api.url}{GRAPH}", json=body).json()["execution_id"] for _ in range(5)]
            deadline = time.monotonic() + 30
            while not all(_planner_done(api, e) for e in ids):
                assert time.monotonic() < deadline
                time.sleep(0.1)
            stopping = time.monotonic()
            first.process.send_signal(signal.SIGTERM)
            assert first.process.wait(timeout=20) == 0
            stopped_after = time.monotonic() - stopping
            assert "handed execution" in first.output()
        assert stopped_after < 10  # the grace period, then hand-back: not the runs' full length
        # Waiting for a worker, and saying so: not `running` while nothing runs them.
        assert {httpx.get(f"{api.url}/executions/{e}").json()["status"] for e in ids} == {"initializing"}
        with running_worker(storage, *plugins, env=env):
            deadline = time.monotonic() + 60
            while (statuses := {httpx.get(f"{api.url}/executions/{e}").json()["status"] for e in ids}) != {"completed"}:
                assert time.monotonic() < deadline, statuses
                time.sleep(0.2)
        for execution_id in ids:
            events = httpx.get(f"{api.url}/executions/{execution_id}/events?limit=1000").json()["events"]
            kinds = [e["event_type"] for e in events]
            assert kinds.count("execution_resumed") == 1 and "execution_cancelled" not in kinds
            assert kinds.count("execution_requeued") == 1 and kinds.index("execution_requeued") < kinds.index("execution_resumed")
            requeued = next(e["data"] for e in events if e["event_type"] == "execution_requeued")
            assert requeued["status"] == "initializing" and "stopping" in requeued["reason"]
            steps = httpx.get(f"{api.url}/executions/{execution_id}/steps").json()["step_executions"]
            planners = [s for s in steps if s["step_name"] == "planner"]
            assert [p["status"] for p in planners] == ["completed"]  # checkpointed before the stop: not run again
            # The attempt cut off by the stop is a cancelled attempt; the step ran again and completed.
            assert {s["status"] for s in steps} <= {"completed", "cancelled"}
        # `follow` tells the story: handed back, then resumed elsewhere.
        shown = subprocess.run(
            [sys.executable, "-m", "echo_orchestrator", "follow", ids[0], "--server", api.url],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert "handed back to the queue" in shown.stdout and "resumed from its checkpoint" in shown.stdout, shown.stdout


def test_a_worker_frozen_past_its_deadline_gives_its_runs_up_when_it_wakes(tmp_path: Path, postgres_database: str) -> None:
    """SIGSTOP for longer than ECHO_DEAD_AFTER_SECONDS: another worker continues its runs.
    Woken, the frozen one records nothing more of them and stops them: each run completes
    once, its history written by one worker at a time."""
    storage = copy_storage(tmp_path / "storage")
    plugins = ("--plugins-dir", str(tmp_path / "plugins"))
    env = {"ECHO_RUNTIME_URL": new_schema(postgres_database), "ECHO_HEARTBEAT_SECONDS": "0.5", "ECHO_DEAD_AFTER_SECONDS": "3"}
    body = {**quick("freeze", latency_ms=2000), "config": {"durability": "sync"}}
    with (
        running_server(storage, *plugins, "--no-worker", env=env, timeout=40) as api,
        running_worker(storage, *plugins, env=env) as frozen,
    ):
        ids = [httpx.post(f"{api.url}{GRAPH}", json=body).json()["execution_id"] for _ in range(4)]
        deadline = time.monotonic() + 30
        while not all(_planner_done(api, e) for e in ids):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        frozen.process.send_signal(signal.SIGSTOP)
        try:
            with running_worker(storage, *plugins, env=env) as survivor:

                def resumed(execution_id: str) -> bool:
                    events = httpx.get(f"{api.url}/executions/{execution_id}/events?limit=1000").json()["events"]
                    return any(e["event_type"] == "execution_resumed" for e in events)

                deadline = time.monotonic() + 60
                while not all(resumed(e) for e in ids):  # taken over while the first is frozen
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
                frozen.process.send_signal(signal.SIGCONT)  # it wakes while the other runs them
                deadline = time.monotonic() + 90
                while (statuses := {httpx.get(f"{api.url}/executions/{e}").json()["status"] for e in ids}) != {"completed"}:
                    assert time.monotonic() < deadline, statuses
                    time.sleep(0.2)
                time.sleep(3)  # the woken worker has had time to notice, and to try to record
        finally:
            frozen.process.send_signal(signal.SIGCONT)
        assert frozen.process.poll() is None, "the woken worker must not crash"
        assert "unexpected" not in frozen.output()
        # Its old jobs were ended when they were queued again: only the frozen one finds them gone.
        assert "Traceback" not in survivor.output()
        for execution_id in ids:
            events = httpx.get(f"{api.url}/executions/{execution_id}/events?limit=1000").json()["events"]
            kinds = [e["event_type"] for e in events]
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), kinds  # one writer at a time
            assert kinds.count("execution_completed") == 1 and kinds[-1] == "execution_completed"
            assert "execution_failed" not in kinds and "execution_cancelled" not in kinds
            assert httpx.get(f"{api.url}/executions/{execution_id}").json()["status"] == "completed"
        assert "taken over" in frozen.output() or "is now run by" in frozen.output()


def test_a_cli_run_on_the_shared_runtime_runs_in_its_process_and_takes_no_queued_run(tmp_path: Path, postgres_database: str) -> None:
    storage = copy_storage(tmp_path / "storage")
    plugins = ("--plugins-dir", str(tmp_path / "plugins"))
    env = {"ECHO_RUNTIME_URL": new_schema(postgres_database)}
    with running_server(storage, *plugins, "--no-worker", env=env, timeout=40) as api:  # and no worker at all
        queued = httpx.post(f"{api.url}{GRAPH}", json=quick("nobody takes me")).json()["execution_id"]
        done = subprocess.run(
            [sys.executable, "-m", "echo_orchestrator", "run", "graph:ASIS", "--input", "task=here", "--storage", str(storage), *plugins],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **env},
        )
        assert done.returncode == 0, done.stdout + done.stderr
        execution_id = done.stdout.split("execution ", 1)[1].split()[0]
        assert httpx.get(f"{api.url}/executions/{execution_id}").json()["status"] == "completed"  # seen by the cluster
        assert httpx.get(f"{api.url}/executions/{queued}").json()["status"] == "initializing"  # still waiting for a worker
        health = httpx.get(f"{api.url}/service/health").json()
        assert health["queue"] == {"queued": 1, "running": 0, "takes_runs": False, "error": None}


async def test_a_graceful_cancel_through_an_api_node_lets_the_workers_step_finish(
    cluster: tuple[RunningServer, RunningServer, list[RunningWorker]],
) -> None:
    a, b, _ = cluster
    body = {**quick("stop after this step", latency_ms=3000), "config": {"durability": "sync"}}
    async with httpx.AsyncClient(base_url=a.url, timeout=60) as started_on, httpx.AsyncClient(base_url=b.url, timeout=60) as other:
        execution_id = (await started_on.post(GRAPH, json=body)).json()["execution_id"]
        with anyio.fail_after(30):
            while (await other.get(f"/executions/{execution_id}")).json()["status"] != "running":
                await anyio.sleep(0.05)
            await anyio.sleep(1.0)  # its first step (3 s) is under way on a worker
            r = await other.post(f"/executions/{execution_id}/cancel", json={"graceful": True, "reason": "enough"})
            assert r.status_code == 200, r.text
            while (record := (await other.get(f"/executions/{execution_id}")).json())["status"] != "cancelled":
                await anyio.sleep(0.05)
        steps = (await other.get(f"/executions/{execution_id}/steps")).json()["step_executions"]
    assert [s["status"] for s in steps] == ["completed"]  # the step under way finished; none started after
    assert record["progress"]["completed_steps"] == 1
