"""The backends' contract fixtures share this: a factory that builds and opens a store on
one backing location each call, and closes every store it opened when the test ends."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar


class Openable(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...


S = TypeVar("S", bound=Openable)


@contextlib.asynccontextmanager
async def opening(build: Callable[..., S]) -> AsyncIterator[Callable[..., Awaitable[S]]]:
    opened: list[S] = []

    async def factory(*args: Any) -> S:
        store = build(*args)
        await store.open()
        opened.append(store)
        return store

    try:
        yield factory
    finally:
        for store in opened:
            await store.close()
