"""A real Redis for the tests that need one (`ECHO_REDIS_URL` deployments).

The server is `ECHO_TEST_REDIS_URL` (default: the local one on 127.0.0.1:6379). Where none
answers, those tests skip and say why; with `ECHO_REQUIRE_REDIS=1` (set by `.ci/run`) they
fail instead. A test's keys and channels are named by its runtime schema's cluster id, so
tests never see each other's; `forget_cluster` removes a test's keys afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    return os.environ.get("ECHO_TEST_REDIS_URL") or DEFAULT_URL


def require_redis() -> str:
    """The test server's URL, once it has answered a PING."""
    import redis

    url = redis_url()
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=3) as client:
            client.ping()
    except (redis.RedisError, OSError) as exc:
        reason = f"{url} did not answer ({type(exc).__name__})"
        if os.environ.get("ECHO_REQUIRE_REDIS"):
            pytest.fail(f"Redis is required here (ECHO_REQUIRE_REDIS is set) but {reason}")
        pytest.skip(f"no Redis: {reason} (set ECHO_TEST_REDIS_URL)")
    return url


def forget_cluster(runtime_url: str) -> None:
    """Delete the Redis keys of the cluster whose runtime database is `runtime_url`."""
    import psycopg
    import redis

    with psycopg.connect(runtime_url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM echo_cluster").fetchone()
    if row is None:
        return
    with redis.Redis.from_url(redis_url()) as client:
        for key in client.scan_iter(match=f"echo:{row[0]}:*", count=500):
            client.delete(key)


class ThrowawayRedis:
    """A redis-server of a test's own (`throwaway_redis`), to stop or freeze."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process, self.url = process, f"redis://127.0.0.1:{port}/0"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def freeze(self) -> None:
        """The server hangs: stopped (SIGSTOP), its connections left open."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)


@contextmanager
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    """A new redis-server on a free loopback port, keeping nothing on disk; killed afterwards."""
    import redis

    from tests.helpers.server import free_port

    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("ECHO_REQUIRE_REDIS"):
            pytest.fail("redis-server is required here (ECHO_REQUIRE_REDIS is set) but not installed")
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = ThrowawayRedis(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), port)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis.from_url(server.url, socket_connect_timeout=1) as client:
                    client.ping()
                break
            except (redis.RedisError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield server
    finally:
        server.thaw()
        if server.process.poll() is None:
            server.stop()
