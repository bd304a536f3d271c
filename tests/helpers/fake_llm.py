"""Run tests/fixtures/fake_llm_server.py on a free loopback port."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.helpers.server import REPO, free_port


@contextmanager
def fake_llm_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(REPO / "tests" / "fixtures" / "fake_llm_server.py"), str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"{url}/_requests", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("fake LLM server did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
