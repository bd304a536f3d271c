"""The graph's top-level tasks, seen from inside the tasks themselves.

LangGraph runs each task (one node in one superstep) as a runnable whose callbacks fire in
the task: `on_chain_start` before the node runs and `on_chain_end` after it returned, but
before LangGraph saves the task's writes to the checkpointer. Recording a step there, and
not from the stream the run is consumed with, gives two things:

- order: a step's record is written before its checkpoint writes, so after a crash no step
  can be done in the checkpoint and missing from the run's records;
- pace: the stream's consumer never waits on the database, so it never holds the run back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from uuid import UUID

from langgraph.errors import GraphInterrupt
from langgraph.types import Command

from echo_orchestrator.engine.llm.handlers import ChainHandler

TaskSink = Callable[[Mapping[str, Any]], Awaitable[None]]
ProgressSink = Callable[[str, str, Any], Awaitable[None]]


class TaskTracker(ChainHandler):
    """Calls `started` and `finished` with the same payloads LangGraph's debug stream has
    (`id`, `name`, `input`; `id`, `name`, `result`, `error`, `interrupts`), for the tasks
    of the outermost graph only (a subgraph's tasks belong to the step that runs it)."""

    def __init__(self, started: TaskSink, finished: TaskSink, progress: ProgressSink | None = None) -> None:
        self._started, self._finished, self._progress = started, finished, progress
        self._root: UUID | None = None
        self._tasks: dict[UUID, tuple[str, str]] = {}  # run id -> (task id, node name)

    async def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: dict[str, Any] | Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if parent_run_id is None:
            self._root = run_id
            return
        if parent_run_id != self._root or not metadata or "langgraph_node" not in metadata:
            return
        # "<node>:<task id>" for a task of the outermost graph
        task_id = str(metadata.get("langgraph_checkpoint_ns", "")).rpartition(":")[2]
        node = str(metadata["langgraph_node"])
        self._tasks[run_id] = (task_id, node)
        await self._started({"id": task_id, "name": node, "input": inputs})

    async def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        task = self._tasks.pop(run_id, None)
        if task is None:
            return
        result = outputs.update if isinstance(outputs, Command) else outputs
        await self._finished({"id": task[0], "name": task[1], "result": result, "error": None, "interrupts": []})

    async def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        task = self._tasks.pop(run_id, None)
        if task is None:
            return
        if isinstance(error, GraphInterrupt):
            interrupts = list(error.args[0]) if error.args and error.args[0] else [error]
            await self._finished({"id": task[0], "name": task[1], "result": None, "error": None, "interrupts": interrupts})
            return
        if not isinstance(error, Exception):
            return  # cancelled: the run's own ending records the steps it cut short
        await self._finished({"id": task[0], "name": task[1], "result": None, "error": error, "interrupts": []})

    async def on_custom_event(self, name: str, data: Any, *, run_id: UUID, metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """A node's own progress report (`adispatch_custom_event(name, data)` in the node)."""
        if self._progress is not None:
            await self._progress(str((metadata or {}).get("langgraph_node", "")), name, data)
