"""Real MCP servers for tests: ours (stdio / HTTP) and the published `mcp-server-time`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from echo_orchestrator.models import McpServerConfig
from tests.helpers.server import REPO, free_port

TEST_SERVER = REPO / "tests" / "fixtures" / "mcp_test_server.py"
CACHE = Path(os.environ.get("ECHO_TEST_CACHE", Path.home() / ".cache" / "echo-orchestrator-tests"))


def stdio_test_server(**overrides: object) -> McpServerConfig:
    return McpServerConfig(command=sys.executable, args=[str(TEST_SERVER)], **overrides)  # type: ignore[arg-type]


@contextmanager
def http_test_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(TEST_SERVER), "http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("MCP HTTP test server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


def published_time_server() -> Path:
    """`mcp-server-time` from PyPI, in a venv of its own (cached between runs).

    A third-party server runs as its own process with its own dependencies (its own `mcp`),
    exactly as users run them. Raises RuntimeError if it cannot be installed here.
    """
    venv = CACHE / "venvs" / "mcp-server-time"
    executable = venv / "bin" / "mcp-server-time"
    if executable.exists():
        return executable
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True)
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "mcp-server-time"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0 or not executable.exists():
        raise RuntimeError(f"could not install mcp-server-time: {result.stderr[-500:]}")
    return executable
