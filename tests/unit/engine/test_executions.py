"""The execution manager, without HTTP: records, events, retries, timeouts, cancel, capacity, recovery."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from echo_orchestrator.backends import runtime_store
from echo_orchestrator.engine.context import EngineGraphContext
from echo_orchestrator.engine.events import EventBus
from echo_orchestrator.engine.executions import ExecutionManager
from echo_orchestrator.engine.llm.factory import ModelFactory
from echo_orchestrator.engine.llm.prices import PriceTable
from echo_orchestrator.engine.llm.providers import echo
from echo_orchestrator.engine.plans import workflow_plan
from echo_orchestrator.mcp import McpHub
from echo_orchestrator.models import (
    Agent,
    Connection,
    Execution,
    ExecutionConfig,
    LLMConfig,
    McpSettings,
    RetryPolicy,
    Step,
    StrategyDefinition,
    Workflow,
    utcnow,
)
from echo_orchestrator.registry.spec import ProviderSpec
from echo_orchestrator.store.runtime.checkpoints import BufferedSqliteSaver

pytestmark = pytest.mark.anyio

FAILURES: dict[str, int] = {}


class FlakyChatModel(BaseChatModel):
    """Fails the first `fail_times` calls for its key, then answers."""

    key: str
    fail_times: int

    @property
    def _llm_type(self) -> str:
        return "flaky"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        seen = FAILURES.get(self.key, 0)
        FAILURES[self.key] = seen + 1
        if seen < self.fail_times:
            raise ConnectionError(f"upstream hiccup {seen + 1}")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="fine at last"))])


def flaky_provider(llm: LLMConfig) -> BaseChatModel:
    return FlakyChatModel(key=llm.model, fail_times=int(llm.params.get("fail_times", 0)))


PROVIDERS = {"echo": echo, "flaky": ProviderSpec(name="flaky", create=flaky_provider)}


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[ExecutionManager]:
    runtime = runtime_store(None, tmp_path)
    await runtime.open()
    hub = McpHub(lambda: McpSettings(), dict, dict)
    models = ModelFactory(PROVIDERS.get)
    checkpointer = await runtime.checkpointer()  # as the container does
    mgr = ExecutionManager(runtime, models, hub, PriceTable(), EventBus(), max_concurrent=2, checkpointer=checkpointer)
    async with hub.running(), mgr.running():
        yield mgr
    await runtime.close()


def agents(**llms: LLMConfig) -> dict[str, Agent]:
    return {
        name: Agent(agent_id=name, name=name.title(), input_schema=["topic"], output_schema=[f"{name}_out"], llm=llm)
        for name, llm in llms.items()
    }


def plan(mgr: ExecutionManager, ag: dict[str, Agent], **fields: Any) -> Any:
    wf = Workflow(
        workflow_id="wf_t",
        slug="t",
        agents=list(ag),
        connections=[Connection(from_=a, to=b) for a, b in zip(list(ag), list(ag)[1:], strict=False)],
        **fields,
    )
    return workflow_plan(wf, ag, EngineGraphContext(ModelFactory(PROVIDERS.get)), mode="test")


async def run(mgr: ExecutionManager, p: Any, config: ExecutionConfig | None = None) -> Execution:
    started = await mgr.start(p, {"topic": "coffee"}, config=config)
    with anyio.fail_after(20):
        return await mgr.wait(started.execution_id)


async def test_a_run_is_recorded_step_by_step(manager: ExecutionManager) -> None:
    done = await run(manager, plan(manager, agents(a=LLMConfig(), b=LLMConfig())))
    assert done.status == "completed" and done.progress.percentage == 100.0
    assert set(done.outputs or {}) >= {"a_out", "b_out"} and done.llm_calls == 2
    events, total = await manager.runtime.list_events(done.execution_id, limit=1000)
    assert [e.seq for e in events] == list(range(1, total + 1))  # ordered, no gaps
    types = [e.event_type for e in events]
    assert types[0] == "execution_started" and types[-1] == "execution_completed"
    assert types.count("step_started") == 2 and types.count("llm_call_completed") == 2
    steps = await manager.runtime.list_steps(done.execution_id)
    assert [(s.step_number, s.step_name, s.status) for s in steps] == [(1, "A", "completed"), (2, "B", "completed")]
    assert steps[0].llm_calls[0].provider == "echo" and steps[1].input["a_out"].startswith("[echo")
    assert len(await manager.runtime.list_nodes(done.execution_id)) == 2


async def test_a_step_is_committed_before_its_checkpoint_writes(manager: ExecutionManager, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a crash at any moment relies on: once LangGraph's writes of a task are committed
    (so a resume will not run it again), that step's record is committed too, as another
    connection sees it after every commit of the run."""
    snapshots: list[tuple[set[str], dict[str, str]]] = []
    original = manager.runtime._write_batches
    saver = manager.checkpointer
    assert isinstance(saver, BufferedSqliteSaver)
    original_writes = saver.aput_writes
    node_of: dict[str, str] = {}  # LangGraph task id -> node ("~__pregel_pull, <node>")

    async def named(config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        node_of[task_id] = task_path.rpartition(", ")[2]
        await original_writes(config, writes, task_id, task_path)

    async def spy(pending: Any) -> None:
        await original(pending)
        with sqlite3.connect(manager.runtime.path) as other:
            written = {node_of.get(str(task_id), "?") for (task_id,) in other.execute("SELECT task_id FROM writes")}
            steps = {json.loads(doc)["node_name"]: json.loads(doc)["status"] for (doc,) in other.execute("SELECT doc FROM step_executions")}
        snapshots.append((written, steps))

    monkeypatch.setattr(saver, "aput_writes", named)
    monkeypatch.setattr(manager.runtime, "_write_batches", spy)
    done = await run(manager, plan(manager, agents(a=LLMConfig(), b=LLMConfig(), c=LLMConfig())))
    assert done.status == "completed"
    for node in ("a", "b", "c"):
        assert any(node in written for written, _ in snapshots), (node, snapshots)
    for written, steps in snapshots:  # never a task's writes without its completed step
        assert all(steps.get(node) == "completed" for node in written & {"a", "b", "c"}), (written, steps)


async def test_retries_then_success(manager: ExecutionManager) -> None:
    FAILURES.clear()
    ag = agents(a=LLMConfig(provider="flaky", model="twice", params={"fail_times": 2}))
    steps = StrategyDefinition(
        steps=[
            Step(
                step_number=1,
                name="Flaky",
                agent_id="a",
                retry_policy=RetryPolicy(max_retries=3, retry_delay=0.01, exponential_backoff=True),
            )
        ]
    )
    done = await run(manager, plan(manager, ag, strategy_definition=steps))
    assert done.status == "completed", done.error
    (step,) = await manager.runtime.list_steps(done.execution_id)
    assert (step.status, step.retry_count, step.max_retries, step.error) == ("completed", 2, 3, None)
    retrying, _ = await manager.runtime.list_events(done.execution_id, event_type="step_retrying")
    assert [(e.data["attempt"], e.data["retry_in_seconds"]) for e in retrying] == [(1, 0.01), (2, 0.02)]
    assert "upstream hiccup 1" in retrying[0].data["error"]


async def test_retries_exhausted_fail_the_execution(manager: ExecutionManager) -> None:
    FAILURES.clear()
    ag = agents(a=LLMConfig(), b=LLMConfig(provider="flaky", model="always", params={"fail_times": 99}))
    done = await run(manager, plan(manager, ag), ExecutionConfig(max_retries=1))
    assert done.status == "failed" and done.error is not None
    assert (done.error.step_number, done.error.retry_count) == (2, 1)
    assert done.error.message.startswith("Step 2 (B) failed:") and "upstream hiccup 2" in done.error.message
    steps = await manager.runtime.list_steps(done.execution_id)
    assert [s.status for s in steps] == ["completed", "failed"]  # the finished step is kept
    failed, _ = await manager.runtime.list_events(done.execution_id, event_type="execution_failed")
    assert failed[0].data["error"]["step_number"] == 2


async def test_step_timeout(manager: ExecutionManager) -> None:
    ag = agents(a=LLMConfig(latency_ms=2000))
    done = await run(manager, plan(manager, ag), ExecutionConfig(timeout_per_step=0.2))
    assert done.status == "failed" and done.error is not None
    assert (done.error.type, done.error.code) == ("TimeoutError", "ERR_EXEC_002")


async def test_whole_run_timeout(manager: ExecutionManager) -> None:
    ag = agents(a=LLMConfig(latency_ms=300), b=LLMConfig(latency_ms=300), c=LLMConfig(latency_ms=300))
    done = await run(manager, plan(manager, ag), ExecutionConfig(timeout=0.5))
    assert done.status == "failed" and done.error is not None and done.error.code == "ERR_EXEC_002"
    statuses = [s.status for s in await manager.runtime.list_steps(done.execution_id)]
    assert statuses[0] == "completed" and statuses[-1] == "failed"


@pytest.mark.parametrize("graceful", [True, False])
async def test_cancel(manager: ExecutionManager, graceful: bool) -> None:
    ag = agents(a=LLMConfig(latency_ms=400), b=LLMConfig(latency_ms=400), c=LLMConfig(latency_ms=400))
    started = await manager.start(plan(manager, ag), {"topic": "x"})
    with anyio.fail_after(5):  # wait until step 1 is running (no fixed sleep: the machine may be busy)
        while not await manager.runtime.list_steps(started.execution_id):
            await anyio.sleep(0.01)
    await manager.cancel(started.execution_id, graceful=graceful, reason="user asked")
    done = await manager.wait(started.execution_id)
    assert done.status == "cancelled"
    steps = [(s.step_number, s.status) for s in await manager.runtime.list_steps(done.execution_id)]
    # graceful: the running step finishes; immediate: it is cancelled now
    assert steps == ([(1, "completed")] if graceful else [(1, "cancelled")])
    cancelled, _ = await manager.runtime.list_events(done.execution_id, event_type="execution_cancelled")
    assert cancelled[0].data["reason"] == "user asked"


async def test_capacity_limit_keeps_extra_runs_initializing(manager: ExecutionManager) -> None:
    ag = agents(a=LLMConfig(latency_ms=300))
    started = [await manager.start(plan(manager, ag), {"topic": str(i)}) for i in range(4)]
    with anyio.fail_after(5):
        while True:  # until the first two have started
            statuses = sorted([(await manager.runtime.get_execution(e.execution_id)).status for e in started])
            if statuses.count("running") == 2:
                break
            await anyio.sleep(0.01)
    assert statuses == ["initializing", "initializing", "running", "running"]  # max_concurrent=2
    for e in started:
        assert (await manager.wait(e.execution_id)).status == "completed"


async def test_executions_left_running_are_marked_failed_at_start(tmp_path: Path) -> None:
    runtime = runtime_store(None, tmp_path)
    await runtime.open()
    await runtime.save_execution(Execution(execution_id="wfexec_crashed", kind="workflow", status="running", created_at=utcnow()))
    hub = McpHub(lambda: McpSettings(), dict, dict)
    mgr = ExecutionManager(runtime, ModelFactory(PROVIDERS.get), hub, PriceTable(), EventBus())
    async with hub.running(), mgr.running():
        crashed = await runtime.get_execution("wfexec_crashed")
    assert crashed.status == "failed" and crashed.error is not None and "running this execution stopped" in crashed.error.message
    events, _ = await runtime.list_events("wfexec_crashed")
    assert [e.event_type for e in events] == ["execution_failed"]
    await runtime.close()


def review_plan(mgr: ExecutionManager, ag: dict[str, Agent]) -> Any:
    from echo_orchestrator.models import HumanInLoop

    return plan(mgr, ag, human_in_loop=HumanInLoop(enabled=True, review_points=["a"]))


async def paused(mgr: ExecutionManager, execution_id: str) -> Execution:
    with anyio.fail_after(10):
        while (e := await mgr.runtime.get_execution(execution_id)).status != "paused":
            await anyio.sleep(0.01)
    return e


@pytest.mark.parametrize(
    ("answer", "status", "a_out"),
    [
        ({"response": "approve"}, "completed", None),
        ({"response": "modify", "changes": {"a_out": "edited by a human"}}, "completed", "edited by a human"),
        ({"response": "reject", "reason": "numbers look wrong"}, "cancelled", None),
    ],
)
async def test_human_review(manager: ExecutionManager, answer: dict[str, Any], status: str, a_out: str | None) -> None:
    ag = agents(a=LLMConfig(), b=LLMConfig())
    ag["b"].input_schema = ["a_out"]
    started = await manager.start(review_plan(manager, ag), {"topic": "x"})
    waiting = await paused(manager, started.execution_id)
    prompt = waiting.pending_prompt or {}
    assert prompt["options"] == ["approve", "reject", "modify"] and prompt["step_number"] == 1
    assert [s.status for s in await manager.runtime.list_steps(started.execution_id)] == ["completed"]
    await manager.respond(started.execution_id, prompt["prompt_id"], answer)
    done = await manager.wait(started.execution_id)
    if answer["response"] == "reject":  # rejected: the execution ends cancelled, with the reason
        assert done.status == "cancelled" and done.error is not None
        assert done.error.code == "ERR_EXEC_003" and "numbers look wrong" in done.error.message
        cancelled, _ = await manager.runtime.list_events(done.execution_id, event_type="execution_cancelled")
        assert "numbers look wrong" in cancelled[0].data["reason"]
        return
    assert done.status == status
    assert [s.step_name for s in await manager.runtime.list_steps(done.execution_id)] == ["A", "B"]  # A not run again
    if a_out is not None:
        assert (done.outputs or {})["a_out"] == a_out and a_out in str((done.outputs or {})["b_out"])


async def test_respond_errors(manager: ExecutionManager) -> None:
    from echo_orchestrator.errors import Conflict

    started = await manager.start(review_plan(manager, agents(a=LLMConfig(), b=LLMConfig())), {"topic": "x"})
    await paused(manager, started.execution_id)
    with pytest.raises(Conflict, match="not the pending one"):
        await manager.respond(started.execution_id, "prompt_wrong", {"response": "approve"})
    done = await run(manager, plan(manager, agents(a=LLMConfig())))
    with pytest.raises(Conflict, match="not waiting"):
        await manager.respond(done.execution_id, "p", {"response": "approve"})


async def test_resume_a_failed_execution_from_its_checkpoint(manager: ExecutionManager) -> None:
    FAILURES.clear()
    ag = agents(a=LLMConfig(), b=LLMConfig(provider="flaky", model="resume-me", params={"fail_times": 1}))
    the_plan = plan(manager, ag)

    async def plan_factory(_: Execution) -> Any:  # the service rebuilds it from the stored workflow
        return the_plan

    manager.plan_factory = plan_factory
    failed = await run(manager, the_plan)
    assert failed.status == "failed"
    await manager.resume(failed.execution_id)
    done = await manager.wait(failed.execution_id)
    assert done.status == "completed" and done.resumed_count == 1 and done.error is None
    steps = [(s.step_name, s.status) for s in await manager.runtime.list_steps(done.execution_id)]
    assert steps == [("A", "completed"), ("B", "failed"), ("B", "completed")]  # A was not run again
    assert FAILURES["resume-me"] == 2
    events = [e.event_type for e in (await manager.runtime.list_events(done.execution_id, limit=1000))[0]]
    assert "execution_resumed" in events and events[-1] == "execution_completed"


async def test_a_new_runs_opening_read_skips_the_database_and_a_resume_reads_it(
    manager: ExecutionManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new execution's thread has no checkpoint: LangGraph's opening read of it is answered
    without the database. A resumed one is read from it (and finds its checkpoint)."""
    read: list[tuple[str, str]] = []
    original = AsyncSqliteSaver.aget_tuple  # LangGraph's own read, under ours

    async def spy(self: Any, config: Any) -> Any:
        configurable = config["configurable"]
        read.append((configurable["thread_id"], configurable.get("checkpoint_ns", "")))
        return await original(self, config)

    monkeypatch.setattr(AsyncSqliteSaver, "aget_tuple", spy)
    FAILURES.clear()
    ag = agents(a=LLMConfig(), b=LLMConfig(provider="flaky", model="read-me", params={"fail_times": 1}))
    the_plan = plan(manager, ag)

    async def plan_factory(_: Execution) -> Any:
        return the_plan

    manager.plan_factory = plan_factory
    failed = await run(manager, the_plan)
    assert failed.status == "failed"
    assert (failed.execution_id, "") not in read
    await manager.resume(failed.execution_id)
    done = await manager.wait(failed.execution_id)
    assert done.status == "completed" and [s.step_name for s in await manager.runtime.list_steps(done.execution_id)] == ["A", "B", "B"]
    assert (failed.execution_id, "") in read


class HeldQueue:
    """A run queue that only keeps what it is given (the test hands the runs to `run_queued`)."""

    def __init__(self) -> None:
        self.submitted: list[str] = []

    async def submit(self, execution_id: str, answer: dict[str, Any] | None = None) -> None:
        self.submitted.append(execution_id)


async def test_a_queued_run_that_never_started_is_taken_without_reading_steps_or_checkpoints(
    manager: ExecutionManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker taking a new run reads neither its steps nor its checkpoint (it has none: the
    record saying it started is committed before either); one that ran before is read."""
    read: list[str] = []
    checkpoint_read = AsyncSqliteSaver.aget_tuple
    steps_read = manager.runtime.list_steps

    async def spy_checkpoint(self: Any, config: Any) -> Any:
        read.append("checkpoint")
        return await checkpoint_read(self, config)

    async def spy_steps(execution_id: str) -> Any:
        read.append("steps")
        return await steps_read(execution_id)

    monkeypatch.setattr(AsyncSqliteSaver, "aget_tuple", spy_checkpoint)
    monkeypatch.setattr(manager.runtime, "list_steps", spy_steps)
    queue = HeldQueue()
    manager.queue = queue  # type: ignore[assignment]
    the_plan = plan(manager, agents(a=LLMConfig(), b=LLMConfig()))

    async def plan_factory(_: Execution) -> Any:
        return the_plan

    manager.plan_factory = plan_factory
    started = await manager.start(the_plan, {"topic": "coffee"})
    assert queue.submitted == [started.execution_id] and started.started_at is None
    with anyio.fail_after(20):
        await manager.run_queued(started.execution_id, None, False)
    done = await manager.runtime.get_execution(started.execution_id)
    assert done.status == "completed" and done.outputs and read == []
    # Ran before (its worker died mid-run, say): what it did is read back before going on.
    done.status, done.completed_at = "running", None
    await manager.runtime.save_execution(done)
    await manager.runtime.commit()
    with anyio.fail_after(20):
        await manager.run_queued(started.execution_id, None, True)
    assert "steps" in read and "checkpoint" in read


class ToolCallingModel(BaseChatModel):
    """Asks for the calculator once, then answers with what the tool returned."""

    @property
    def _llm_type(self) -> str:
        return "tool-calling"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        results = [m for m in messages if m.type == "tool"]
        if not results:
            call = {"name": "plugins-calculator", "args": {"expression": "6 * 7"}, "id": "call_1", "type": "tool_call"}
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content="", tool_calls=[call]))])
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=f"the tool said {results[-1].content}"))])


async def test_an_agent_uses_its_tools_through_the_hub(tmp_path: Path) -> None:
    from echo_orchestrator.builtins.tools import calculator

    runtime = runtime_store(None, tmp_path)
    await runtime.open()
    hub = McpHub(lambda: McpSettings(), lambda: {"calculator": calculator}, dict)
    providers = {**PROVIDERS, "tooler": ProviderSpec(name="tooler", create=lambda _llm: ToolCallingModel())}
    mgr = ExecutionManager(runtime, ModelFactory(providers.get), hub, PriceTable(), EventBus(), checkpointer=await runtime.checkpointer())
    ag = {"a": Agent(agent_id="a", output_schema=["answer"], tools=["plugins-calculator"], llm=LLMConfig(provider="tooler", model="t"))}
    async with hub.running(), mgr.running():
        done = await run(mgr, plan(mgr, ag))
    assert done.status == "completed", done.error
    assert "42.0" in (done.outputs or {})["answer"]
    (step,) = await runtime.list_steps(done.execution_id)
    assert step.mcp_tools_used == ["plugins-calculator"]
    events = [e.event_type for e in (await runtime.list_events(done.execution_id, limit=1000))[0]]
    assert events.index("tool_call_started") < events.index("tool_call_completed") < events.index("step_completed")
    await runtime.close()


async def test_strategy_steps_run_tools_graphs_and_agents_by_dependencies(tmp_path: Path) -> None:
    from echo_orchestrator.builtins.asis import asis
    from echo_orchestrator.builtins.tools import calculator

    runtime = runtime_store(None, tmp_path)
    await runtime.open()
    hub = McpHub(lambda: McpSettings(), lambda: {"calculator": calculator}, dict)
    mgr = ExecutionManager(runtime, ModelFactory(PROVIDERS.get), hub, PriceTable(), EventBus(), checkpointer=await runtime.checkpointer())
    ag = {"writer": Agent(agent_id="writer", input_schema=["step_1_output", "result"], output_schema=["report"])}
    steps = StrategyDefinition(
        steps=[
            Step(step_number=1, name="Compute", tool_id="plugins-calculator", input_mapping={"expression": "expr"}),
            Step(step_number=2, name="Plan", graph_name="ASIS", input_mapping={"task": "topic"},
                 output_schema={"type": "object", "properties": {"result": {"type": "string"}}}),
            Step(step_number=3, name="Write", agent_id="writer", dependencies=[1, 2]),
        ]
    )  # fmt: skip
    wf = Workflow(workflow_id="wf_steps", slug="steps", agents=["writer"], strategy_definition=steps)
    the_plan = workflow_plan(wf, ag, EngineGraphContext(ModelFactory(PROVIDERS.get)), graphs=lambda name: asis)
    async with hub.running(), mgr.running():
        started = await mgr.start(the_plan, {"expr": "40 + 2", "topic": "a launch"})
        done = await mgr.wait(started.execution_id)
    assert done.status == "completed", done.error
    outputs = done.outputs or {}
    assert outputs["step_1_output"] == {"expression": "40 + 2", "result": 42.0}
    assert outputs["result"].startswith("[echo: offline")  # the ASIS graph's answer
    assert "42.0" in outputs["report"]  # the agent read the tool's result
    steps_run = [(s.step_number, s.step_name, s.status) for s in await runtime.list_steps(done.execution_id)]
    assert sorted(steps_run) == [(1, "Compute", "completed"), (2, "Plan", "completed"), (3, "Write", "completed")]
    assert steps_run[-1][0] == 3  # the join ran last, once
    await runtime.close()
