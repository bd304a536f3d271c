"""The stop's last resorts, in a process of their own (they exit it): the deadline, the
wind-up after an orderly stop, a second signal, and bounded closes."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import anyio
import pytest

from echo_orchestrator import stopping


def _run(body: str) -> tuple[int, str, float]:
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", "import time\nfrom echo_orchestrator import stopping\n" + textwrap.dedent(body)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.returncode, done.stderr, time.monotonic() - began


def test_a_stop_that_overruns_its_deadline_exits_with_failure() -> None:
    status, err, took = _run("stopping.arm(0.5)\ntime.sleep(20)")
    assert status == stopping.EXIT_AFTER_DEADLINE and "the stop took over 0.5s: exiting now" in err
    assert took < 10


def test_after_an_orderly_stop_what_is_left_waits_a_moment_at_most() -> None:
    # A thread stuck on a dead server (here: a non-daemon sleep) would keep the process alive.
    body = """
    import threading
    threading.Thread(target=time.sleep, args=(20,)).start()
    stopping.arm(30)
    stopping.wind_up(0.3)
    """
    status, err, took = _run(body)
    assert status == 0 and "tasks still waiting" in err
    assert took < 10


def test_wind_up_without_a_signalled_stop_does_nothing() -> None:
    status, _, _ = _run("stopping.wind_up(0.1)\ntime.sleep(0.5)\nprint('still here')")
    assert status == 0


def test_a_second_signal_while_stopping_exits_at_once() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time, sys\nfrom echo_orchestrator import stopping\nstopping.arm(30)\nprint('armed', flush=True)\ntime.sleep(20)",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "armed"
    began = time.monotonic()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 128 + signal.SIGINT
    assert time.monotonic() - began < 5
    assert process.stderr is not None and "SIGINT while stopping" in process.stderr.read()


@pytest.mark.anyio
async def test_closes_side_by_side_wait_for_the_slowest_not_the_sum(caplog: pytest.LogCaptureFixture) -> None:
    closed: list[str] = []

    async def slow() -> None:
        await anyio.sleep(0.3)
        closed.append("slow")

    async def hung() -> None:
        await anyio.sleep(60)

    async def failing() -> None:
        raise ConnectionError("gone")

    began = time.monotonic()
    await stopping.closing_together((("a", slow), ("b", slow), ("the hung one", hung), ("the failing one", failing)), seconds=0.5)
    assert time.monotonic() - began < 2 and closed == ["slow", "slow"]
    assert "closing the hung one took over 0.5s: left behind" in caplog.text
    assert "closing the failing one failed (ConnectionError: gone)" in caplog.text
