"""Prompt stops whatever the database does: once a stop begins (SIGINT or SIGTERM), a second
signal exits at once, and the process exits by a deadline even if something it waits for
(a database, a Redis, an MCP server) never answers.

Every close path is bounded too (`closing`); the deadline is the last resort for what is not.
A run that could not be ended or handed back by then is left as after a crash: the next start
(SQLite) or another worker's sweep (PostgreSQL) settles it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from types import FrameType
from typing import Any

import anyio

log = logging.getLogger("echo_orchestrator.stopping")

SIGNALS = (signal.SIGINT, signal.SIGTERM)
# A close path that takes longer is abandoned (logged): the process goes on stopping. The
# closes that can run side by side do (`closing_together`), so they share this bound.
CLOSE_SECONDS = 4.0
# After the runs' grace, how long the queue's worker may take to hand back what is left.
HAND_BACK_SECONDS = 3.0
# How long uvicorn lets HTTP requests in flight finish when `serve` stops.
HTTP_GRACE_SECONDS = 5
# A stop's deadline: the runs' grace (ECHO_STOP_GRACE_SECONDS), the HTTP grace, and this for
# the hand-back and the closes (what those bounds add up to, and a little more).
STOP_MARGIN_SECONDS = 12.0
EXIT_AFTER_DEADLINE = 1  # the status of a stop that had to be cut short

# After the orderly part of a stop, what is left (tasks still connecting to a server that does
# not answer, which the event loop's teardown would wait for) gets this long.
WIND_UP_SECONDS = 1.0

_armed = threading.Event()
_timer: threading.Timer | None = None


def _exit_now(status: int, why: str) -> None:
    with contextlib.suppress(Exception):  # the log may be what hangs: say it on stderr too
        (log.error if status else log.warning)("%s: exiting now", why)
        sys.stderr.write(f"echo-orchestrator: {why}: exiting now\n")
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)


def arm(deadline_seconds: float) -> None:
    """A stop began: exit at the deadline whatever is still waiting, and at once on a second
    SIGINT or SIGTERM (status 128 + the signal, as a shell reports it)."""
    if _armed.is_set():
        return
    _armed.set()
    _set_timer(deadline_seconds, EXIT_AFTER_DEADLINE, f"the stop took over {deadline_seconds:g}s")
    if threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            signal.signal(sig, _second_signal)


def wind_up(seconds: float = WIND_UP_SECONDS) -> None:
    """The orderly part of a signalled stop is done (runs ended or handed back, closes run):
    the process exits within `seconds`, with success, whatever tasks a dead server left behind.
    Without a signalled stop (tests, an embedding program) it does nothing."""
    if _armed.is_set():
        _set_timer(seconds, 0, "stopped, with tasks still waiting on a server that does not answer")


def _set_timer(seconds: float, status: int, why: str) -> None:
    global _timer
    if _timer is not None:
        _timer.cancel()
    _timer = threading.Timer(seconds, _exit_now, (status, why))
    _timer.daemon = True
    _timer.start()


def _second_signal(sig: int, frame: FrameType | None) -> None:
    _exit_now(128 + sig, f"{signal.Signals(sig).name} while stopping")


def chain_signals(deadline_seconds: float) -> None:
    """For a server whose handlers are another's (uvicorn's): the first signal still goes to
    them (the graceful stop) and arms the deadline; a second exits at once. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in SIGNALS:
        previous = signal.getsignal(sig)

        def handler(number: int, frame: FrameType | None, previous: Any = previous) -> None:
            arm(deadline_seconds)
            if callable(previous):
                previous(number, frame)

        signal.signal(sig, handler)


async def closing_together(closes: Sequence[tuple[str, Callable[[], Awaitable[Any]]]], seconds: float = CLOSE_SECONDS) -> None:
    """Run close paths side by side, each bounded as `closing`: a stop waits for the slowest
    of them, not for their sum."""
    async with anyio.create_task_group() as tg:
        for what, close in closes:
            tg.start_soon(closing, what, close, seconds)


async def closing(what: str, close: Callable[[], Awaitable[Any]], seconds: float = CLOSE_SECONDS) -> None:
    """Run one close path shielded from the stop's cancellation, for `seconds` at most; a
    failure or a timeout is logged and the stop goes on."""
    with anyio.move_on_after(seconds, shield=True) as scope:
        try:
            await close()
        except Exception as exc:
            log.warning("closing %s failed (%s): going on", what, f"{type(exc).__name__}: {exc}"[:300])
    if scope.cancelled_caught:
        log.warning("closing %s took over %gs: left behind", what, seconds)
