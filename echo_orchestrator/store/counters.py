"""Fixed-window request counters per caller, for the rate limits (`api/security.py`).

In one process they are a dict (here); with the PostgreSQL runtime every node counts in one
table (`store.cluster.postgres_counters`), or in Redis when `ECHO_REDIS_URL` is set
(`store.cluster.redis_counters`), so a caller's limit holds across nodes
(`echo_orchestrator.backends.counters_for` picks). A hit is one atomic
step (count and window read together), so two nodes never both let the last request in.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import anyio
import msgspec

log = logging.getLogger(__name__)


class Window(msgspec.Struct, frozen=True):
    count: int  # requests counted in the window so far (may pass the limit: refused ones count)
    reset: int  # epoch seconds at which the window ends


class WindowCounters(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def hit(self, key: str, seconds: int, *, count: bool) -> Window:
        """Count one request of `key` (or only read, with `count=False`) in its current
        window of `seconds`, a new window starting when the last one has ended."""
        ...


class MemoryCounters:
    """This process's counts (the embedded default)."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}
        self._next_sweep = 0.0

    async def open(self) -> None:
        return

    async def close(self) -> None:
        return

    async def hit(self, key: str, seconds: int, *, count: bool) -> Window:
        now = int(time.time())
        self._sweep(now)
        held, reset = self._windows.get(key, (0, 0))
        if reset <= now:
            held, reset = 0, now + seconds
        if count:
            held += 1
            self._windows[key] = (held, reset)
        return Window(count=held, reset=reset)

    def _sweep(self, now: int) -> None:
        # Ended windows go, at most once a minute: callers that stopped calling leave nothing.
        if now < self._next_sweep:
            return
        self._next_sweep = now + 60
        self._windows = {k: v for k, v in self._windows.items() if v[1] > now}


class FailOpen:
    """Counters in a store that may be away (PostgreSQL, Redis): a hit that fails, or takes
    over `seconds`, lets the request through uncounted, said in the log once a minute. The
    limits must not take the service down with their store (health and readiness still
    answer, and say what is wrong)."""

    def __init__(self, inner: WindowCounters, *, seconds: float = 2.0) -> None:
        self._inner, self._seconds = inner, seconds
        self._said_at = 0.0

    @property
    def inner(self) -> WindowCounters:
        return self._inner

    async def open(self) -> None:
        await self._inner.open()

    async def close(self) -> None:
        await self._inner.close()

    async def hit(self, key: str, seconds: int, *, count: bool) -> Window:
        try:
            with anyio.fail_after(self._seconds):
                return await self._inner.hit(key, seconds, count=count)
        except Exception as exc:
            now = time.monotonic()
            if now - self._said_at > 60:
                self._said_at = now
                log.warning("rate-limit counters unavailable (%s): requests pass uncounted until they are back", type(exc).__name__)
            return Window(count=0, reset=int(time.time()) + seconds)
