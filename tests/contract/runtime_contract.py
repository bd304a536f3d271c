"""The runtime store contract: every backend must pass these.

A backend's test module subclasses `RuntimeStoreContract` and provides `make_runtime`, a
fixture returning a factory that opens a store on one shared backing location (so a second
call sees what the first one wrote, as a restart or another process would), each with the
owner it is given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from echo_orchestrator.errors import NotFound
from echo_orchestrator.models import Execution, LLMUsage, NodeExecution, StepExecution, utcnow
from echo_orchestrator.store.runtime.base import RuntimeStore

RuntimeFactory = Callable[[str], Awaitable[RuntimeStore]]


def _execution(execution_id: str, *, slug: str | None = "wf", status: str = "running", minutes_ago: int = 0) -> Execution:
    return Execution(
        execution_id=execution_id,
        kind="workflow",
        status=status,  # type: ignore[arg-type]
        workflow_slug=slug,
        created_at=utcnow() - timedelta(minutes=minutes_ago),
    )


def _step(step_id: str, execution_id: str, number: int, status: str = "completed", slug: str | None = "wf") -> StepExecution:
    return StepExecution(
        step_execution_id=step_id,
        execution_id=execution_id,
        step_number=number,
        step_name=f"step {number}",
        status=status,  # type: ignore[arg-type]
        workflow_slug=slug,
        started_at=utcnow(),
        duration_seconds=float(number),
    )


@pytest.mark.anyio
class RuntimeStoreContract:
    @pytest.fixture
    async def runtime(self, make_runtime: RuntimeFactory) -> RuntimeStore:
        return await make_runtime("host/boot:1")

    # -- executions --------------------------------------------------------------------

    async def test_execution_round_trip_and_update(self, runtime: RuntimeStore) -> None:
        execution = _execution("wfexec_1")
        execution.inputs = {"topic": "ünïcode", "n": [1, 2]}
        await runtime.save_execution(execution)
        assert await runtime.get_execution("wfexec_1") == execution  # read sees the buffered write
        execution.status, execution.outputs = "completed", {"x": 1}
        await runtime.save_execution(execution)
        assert (await runtime.get_execution("wfexec_1")).outputs == {"x": 1}

    async def test_missing_records_are_not_found(self, runtime: RuntimeStore) -> None:
        with pytest.raises(NotFound):
            await runtime.get_execution("wfexec_none")
        with pytest.raises(NotFound):
            await runtime.get_step("stepexec_none")

    async def test_writes_survive_a_reopen(self, make_runtime: RuntimeFactory) -> None:
        first = await make_runtime("host/boot:1")
        await first.save_execution(_execution("wfexec_1"))
        await first.flush()
        second = await make_runtime("host/boot:2")
        assert (await second.get_execution("wfexec_1")).execution_id == "wfexec_1"

    async def test_a_claim_is_won_once_and_only_from_the_given_statuses(self, make_runtime: RuntimeFactory) -> None:
        first, second = await make_runtime("host/boot:1"), await make_runtime("host/boot:2")
        await first.save_execution(_execution("exec_paused", status="paused"))
        await first.save_execution(_execution("exec_done", status="completed"))
        await first.flush()
        won = [await first.claim("exec_paused", ["paused"]), await second.claim("exec_paused", ["paused"])]
        assert won == [True, False]
        owned = {o.execution.execution_id: o.owner for o in await second.executions_in(["initializing"])}
        assert owned == {"exec_paused": "host/boot:1"}
        assert not await first.claim("exec_done", ["paused", "failed"])
        assert not await first.claim("exec_missing", ["paused"])

    async def test_a_queued_run_has_no_owner_until_one_adopts_it(self, make_runtime: RuntimeFactory) -> None:
        api, worker, other = await make_runtime("host/boot:1"), await make_runtime("host/boot:2"), await make_runtime("host/boot:3")
        await api.save_execution(_execution("exec_q", status="initializing"), queued=True)
        await api.save_execution(_execution("exec_p", status="paused"))
        await api.flush()
        assert {o.execution.execution_id: o.owner for o in await other.executions_in(["initializing"])} == {"exec_q": None}
        assert [await worker.adopt("exec_q", None), await other.adopt("exec_q", None)] == [True, False]
        assert not await other.adopt("exec_q", "host/boot:1")  # not its owner any more
        assert (await other.executions_in(["initializing"]))[0].owner == "host/boot:2"
        # Answering or resuming for the queue: claimed, owned by no one.
        assert await api.claim("exec_p", ["paused"], queued=True)
        assert {o.execution.execution_id: o.owner for o in await other.executions_in(["initializing"])} == {
            "exec_q": "host/boot:2",
            "exec_p": None,
        }
        assert not await other.adopt("exec_p", "host/boot:1")
        assert await other.adopt("exec_p", None)
        # A stopping worker gives its run back; only the owner can.
        assert not await worker.release("exec_p")
        assert await other.release("exec_p")
        assert (await api.executions_in(["initializing"], ["exec_p"]))[0].owner is None

    async def test_runs_are_counted_by_their_limit_key(self, make_runtime: RuntimeFactory) -> None:
        first, second = await make_runtime("host/boot:1"), await make_runtime("host/boot:2")
        await first.save_execution(_execution("exec_a1"), limit_key="key:a")
        await first.save_execution(_execution("exec_a1", status="running"))  # a later save keeps the key
        await first.save_execution(_execution("exec_a2", status="initializing"), limit_key="key:a")
        await first.save_execution(_execution("exec_a3", status="paused"), limit_key="key:a")
        await first.save_execution(_execution("exec_b1"), limit_key="addr:10.0.0.1")
        await first.flush()
        await first.save_execution(_execution("exec_a2", status="completed"))  # flushed before: the key stays too
        await first.flush()
        assert await second.active_for("key:a", ["initializing", "running"]) == 1
        assert await second.active_for("key:a", ["initializing", "running", "paused", "completed"]) == 3
        assert await second.active_for("addr:10.0.0.1", ["running"]) == 1
        assert await second.active_for("key:none", ["running"]) == 0
        async with second.admission("key:a"):  # usable on every backend
            pass

    async def test_list_filters_orders_newest_first_and_pages(self, runtime: RuntimeStore) -> None:
        for i in range(5):
            await runtime.save_execution(_execution(f"wfexec_{i}", slug="a" if i % 2 else "b", minutes_ago=10 - i))
        items, total = await runtime.list_executions(limit=2)
        assert total == 5 and [e.execution_id for e in items] == ["wfexec_4", "wfexec_3"]
        items, total = await runtime.list_executions(workflow_slug="a")
        assert total == 2 and [e.execution_id for e in items] == ["wfexec_3", "wfexec_1"]
        items, total = await runtime.list_executions(status="completed")
        assert (items, total) == ([], 0)
        items, _ = await runtime.list_executions(limit=2, offset=4)
        assert [e.execution_id for e in items] == ["wfexec_0"]

    async def test_executions_in_statuses_carry_their_owner(self, make_runtime: RuntimeFactory) -> None:
        one, two = await make_runtime("host/boot:1"), await make_runtime("host/boot:2")
        await one.save_execution(_execution("wfexec_1", status="running"))
        await one.flush()
        await two.save_execution(_execution("wfexec_2", status="initializing"))
        await two.save_execution(_execution("wfexec_3", status="completed"))
        await two.flush()
        found = {o.execution.execution_id: o.owner for o in await two.executions_in(["initializing", "running"])}
        assert found == {"wfexec_1": "host/boot:1", "wfexec_2": "host/boot:2"}
        assert [o.execution.execution_id for o in await two.executions_in(["running", "initializing"], only=["wfexec_2"])] == ["wfexec_2"]

    async def test_executions_are_counted_per_workspace(self, runtime: RuntimeStore) -> None:
        assert await runtime.workspace_counts() == {}
        for i, workspace in enumerate(["default", "team", "team", "default", "team"]):
            execution = _execution(f"e{i}")
            execution.workspace = workspace
            await runtime.save_execution(execution)
        await runtime.commit()
        assert await runtime.workspace_counts() == {"default": 2, "team": 3}

    async def test_stats_count_active_and_today(self, runtime: RuntimeStore) -> None:
        await runtime.save_execution(_execution("wfexec_1", status="running"))
        await runtime.save_execution(_execution("wfexec_2", status="paused"))
        done = _execution("wfexec_3", status="completed", minutes_ago=1)
        done.completed_at = utcnow()
        failed = _execution("wfexec_4", status="failed")
        failed.completed_at = utcnow()
        for execution in (done, failed):
            await runtime.save_execution(execution)
        stats = await runtime.stats()
        assert (stats.active, stats.completed_today, stats.failed_today) == (2, 1, 1)
        assert stats.avg_duration_seconds is not None and 55 <= stats.avg_duration_seconds <= 65

    async def test_workflow_statistics_follow_every_change_at_once(self, runtime: RuntimeStore) -> None:
        # Asked twice with nothing changed, then after each kind of change this process makes.
        await runtime.save_execution(_execution("wfexec_1", status="running"))
        assert (await runtime.workflow_stats(["wf"]))["wf"].total == 1
        assert (await runtime.workflow_stats(["wf"]))["wf"].completed == 0
        done = _execution("wfexec_1", status="completed")
        done.completed_at = utcnow()
        await runtime.save_execution(done)
        assert (await runtime.workflow_stats(["wf"]))["wf"].completed == 1
        await runtime.save_execution(_execution("wfexec_2", status="running"))
        assert (await runtime.workflow_stats(["wf"]))["wf"].total == 2
        assert (await runtime.workflow_stats())["wf"].total == 2
        deleted, _ = await runtime.delete_ended(["wfexec_1"])  # retention
        assert deleted == ["wfexec_1"]
        assert (await runtime.workflow_stats(["wf"]))["wf"].total == 1

    async def test_workflow_statistics_and_analytics_count_ended_runs(self, runtime: RuntimeStore) -> None:
        now = utcnow()
        durations = {"wfexec_1": 1.0, "wfexec_2": 2.0, "wfexec_3": 3.0, "wfexec_4": 10.0}
        for execution_id, seconds in durations.items():
            run = _execution(execution_id, status="completed", minutes_ago=30)
            run.started_at, run.completed_at = now - timedelta(seconds=seconds), now
            run.total_tokens, run.cost_usd = 10, 0.5
            await runtime.save_execution(run)
        failed = _execution("wfexec_5", status="failed", minutes_ago=30)
        failed.started_at, failed.completed_at = now, now
        await runtime.save_execution(failed)
        await runtime.save_execution(_execution("wfexec_6", status="running"))
        await runtime.save_execution(_execution("wfexec_7", slug="other", status="completed"))
        await runtime.save_step(_step("s1", "wfexec_1", 1))
        await runtime.save_step(_step("s2", "wfexec_5", 1, status="failed"))
        await runtime.add_llm_call("wfexec_1", "s1", LLMUsage(provider="echo", model="m", total_tokens=10, cost_usd=0.5))
        stats = await runtime.workflow_stats(["wf"])
        assert set(stats) == {"wf"} and (stats["wf"].total, stats["wf"].completed, stats["wf"].failed) == (6, 4, 1)
        assert stats["wf"].avg_duration_seconds == 4.0 and stats["wf"].success_rate == 0.8
        assert set(await runtime.workflow_stats()) == {"wf", "other"} and await runtime.workflow_stats([]) == {}
        assert await runtime.median_duration("wf") == 2.0 and await runtime.median_duration("nothing") is None
        found = await runtime.workflow_analytics(
            "wf", start=(now - timedelta(hours=2)).timestamp(), end=(now + timedelta(minutes=1)).timestamp(), granularity="hour"
        )
        summary = found.summary
        assert (summary.ended, summary.completed, summary.failed) == (5, 4, 1)
        assert (summary.median_duration_seconds, summary.p95_duration_seconds) == (2.0, 10.0)  # nearest rank over 1, 2, 3, 10
        assert (summary.total_tokens, summary.total_cost_usd) == (40, 2.0)
        assert [(s.step_number, s.runs, s.failure_rate) for s in found.steps] == [(1, 2, 0.5)]
        assert [(m.provider, m.model, m.calls, m.tokens) for m in found.models] == [("echo", "m", 1, 10)]
        assert sum(b.executions for b in found.timeline) == 5 and all(b.bucket.endswith(":00:00Z") for b in found.timeline)
        empty = await runtime.workflow_analytics("wf", start=0.0, end=1.0, granularity="day")
        assert (empty.summary.ended, empty.steps, empty.models, empty.timeline) == (0, [], [], [])

    # -- steps and nodes ---------------------------------------------------------------

    async def test_steps_by_execution_in_order_and_found_by_filters(self, runtime: RuntimeStore) -> None:
        await runtime.save_step(_step("s2", "wfexec_1", 2, status="failed"))
        await runtime.save_step(_step("s1", "wfexec_1", 1))
        await runtime.save_step(_step("s3", "wfexec_2", 1, slug="other"))
        assert [s.step_execution_id for s in await runtime.list_steps("wfexec_1")] == ["s1", "s2"]
        assert (await runtime.get_step("s2")).status == "failed"
        found, total = await runtime.find_steps(status="failed")
        assert total == 1 and found[0].step_execution_id == "s2"
        found, total = await runtime.find_steps(workflow_slug="other")
        assert [s.step_execution_id for s in found] == ["s3"] and total == 1

    async def test_step_metrics_aggregate_finished_steps(self, runtime: RuntimeStore) -> None:
        await runtime.save_step(_step("s1", "wfexec_1", 1))
        await runtime.save_step(_step("s2", "wfexec_1", 3, status="failed"))
        await runtime.save_step(_step("s3", "wfexec_1", 2, status="running"))
        await runtime.add_llm_call("wfexec_1", "s1", LLMUsage(provider="echo", model="m", total_tokens=5, cost_usd=0.25))
        metrics = await runtime.step_metrics(workflow_slug="wf")
        assert metrics["summary"]["total_step_executions"] == 2 and metrics["summary"]["success_rate"] == 0.5
        by_step = {row["step_name"]: row for row in metrics["by_step"]}
        assert by_step["step 1"]["avg_cost_usd"] == 0.25 and by_step["step 3"]["failure_rate"] == 1.0
        assert metrics["slow_steps"][0]["step_name"] == "step 3"

    async def test_nodes_by_execution(self, runtime: RuntimeStore) -> None:
        for i in (1, 2):
            node = NodeExecution(
                node_execution_id=f"ne{i}", execution_id="wfexec_1", node_name=f"n{i}", node_type="agent", started_at=utcnow()
            )
            await runtime.save_node(node)
        node.status = "completed"
        await runtime.save_node(node)
        nodes = await runtime.list_nodes("wfexec_1")
        assert [(n.node_name, n.status) for n in nodes] == [("n1", "running"), ("n2", "completed")]

    # -- events and LLM calls ----------------------------------------------------------

    async def test_events_are_numbered_from_one_and_listed_after_a_seq(self, runtime: RuntimeStore) -> None:
        runtime.new_sequence("wfexec_1")
        for i in range(5):
            event = await runtime.append_event("wfexec_1", "node_progress", {"i": i})
            assert event.seq == i + 1 and event.data == {"execution_id": "wfexec_1", "i": i}
        events, total = await runtime.list_events("wfexec_1", after_seq=2, limit=2)
        assert total == 3 and [e.seq for e in events] == [3, 4]
        await runtime.append_event("wfexec_1", "execution_completed", {})
        events, total = await runtime.list_events("wfexec_1", event_type="execution_completed")
        assert total == 1 and events[0].seq == 6
        # What followers read: after a seq, in order, no total.
        assert [e.seq for e in await runtime.events_after("wfexec_1", 3, 2)] == [4, 5]
        assert [e.seq for e in await runtime.events_after("wfexec_1", 5, 100)] == [6]
        assert await runtime.events_after("wfexec_1", 6, 100) == []

    async def test_sequence_continues_after_a_reopen(self, make_runtime: RuntimeFactory) -> None:
        first = await make_runtime("host/boot:1")
        first.new_sequence("wfexec_1")
        await first.append_event("wfexec_1", "execution_started", {})
        await first.flush()
        second = await make_runtime("host/boot:1")  # a resume in another process
        assert (await second.append_event("wfexec_1", "execution_resumed", {})).seq == 2

    async def test_llm_calls_in_order(self, runtime: RuntimeStore) -> None:
        for model in ("a", "b"):
            await runtime.add_llm_call("wfexec_1", None, LLMUsage(provider="echo", model=model, total_tokens=3))
        assert [c.model for c in await runtime.llm_calls("wfexec_1")] == ["a", "b"]

    async def test_checkpointer_commits_records_before_checkpoints(self, make_runtime: RuntimeFactory) -> None:
        runtime = await make_runtime("host/boot:1")
        saver = await runtime.checkpointer()
        await runtime.save_execution(_execution("wfexec_1"))
        config = {"configurable": {"thread_id": "wfexec_1", "checkpoint_ns": "", "checkpoint_id": "1"}}
        await saver.aput_writes(config, [("x", 1)], "task-1")  # type: ignore[arg-type]
        other = await make_runtime("host/boot:2")  # another connection sees the record
        assert (await other.get_execution("wfexec_1")).execution_id == "wfexec_1"
