"""Start the real server (`python -m echo_orchestrator serve`) on a free loopback port, and
queue workers (`python -m echo_orchestrator worker`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[bytes]
    storage: Path
    log: Path
    ready_after: float  # seconds from spawn to the first 200 from /health

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_server(
    storage: Path,
    *extra_args: str,
    timeout: float = 20.0,
    env: dict[str, str] | None = None,
    python: str = sys.executable,
    port: int | None = None,
) -> Iterator[RunningServer]:
    """`port`: one chosen beforehand (a storage folder that names the server's own URL)."""
    port = port or free_port()
    log = storage.parent / f"server-{port}.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                python,
                "-m",
                "echo_orchestrator",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--storage",
                str(storage),
                "--log-level",
                "warning",
                *extra_args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, **(env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = started + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() > deadline:
                raise TimeoutError(f"server not ready after {timeout}s:\n{log.read_text()}")
            time.sleep(0.02)
        yield RunningServer(url, process, storage, log, time.perf_counter() - started)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class RunningWorker:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_worker(storage: Path, *extra_args: str, env: dict[str, str], timeout: float = 40.0) -> Iterator[RunningWorker]:
    """A worker process on the shared runtime of `env`; ready once it says it takes runs."""
    log = storage.parent / f"worker-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "echo_orchestrator", "worker", "--storage", str(storage), "--log-level", "info", *extra_args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, **env},
        )
    try:
        deadline = time.monotonic() + timeout
        while "taking runs from" not in log.read_text(errors="replace"):
            if process.poll() is not None:
                raise RuntimeError(f"worker exited with {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker not ready after {timeout}s:\n{log.read_text()}")
            time.sleep(0.05)
        yield RunningWorker(process, log)
    finally:
        _stop(process)


# The base URL of in-process test clients: a loopback name, which the default Host check accepts.
LOCAL = "http://127.0.0.1"
