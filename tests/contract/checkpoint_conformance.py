"""LangGraph's published checkpoint conformance suite over a runtime store's checkpointer,
checking too that the store's records were flushed before the checkpoint writes."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from langgraph.checkpoint.conformance import checkpointer_test, validate

from echo_orchestrator.store.runtime.base import RuntimeStore
from echo_orchestrator.store.runtime.checkpoints import RecordsFirst


async def assert_conformance(name: str, new_store: Callable[[], Awaitable[RuntimeStore]]) -> None:
    """`new_store`: a fresh, unopened store each time (the suite wants empty savers)."""
    flushes: list[int] = []

    @checkpointer_test(name=name)
    async def saver() -> AsyncGenerator[Any, None]:
        store = await new_store()
        await store.open()
        checkpointer = await store.checkpointer()
        assert isinstance(checkpointer, RecordsFirst)
        original = checkpointer._flush_records

        async def counted() -> None:
            flushes.append(1)
            await original()

        checkpointer._flush_records = counted
        yield checkpointer
        await store.close()

    report = await validate(saver)
    failures = {test: result for test, result in report.results.items() if result.passed is False}
    assert not failures, failures
    # every base capability ran and passed; the records were flushed before the writes
    assert all(report.results[test].passed for test in ("put", "put_writes", "get_tuple", "list", "delete_thread"))
    assert flushes and report.results["put"].tests_passed > 0
