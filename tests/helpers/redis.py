"""A real Redis for the tests that need one (`ECHO_REDIS_URL` deployments).

The server is `ECHO_TEST_REDIS_URL` (default: the local one on 127.0.0.1:6379). Where none
answers, those tests skip and say why; with `ECHO_REQUIRE_REDIS=1` (set by `.ci/run`) they
fail instead. A test's keys and channels are named by its runtime schema's cluster id, so
tests never see each other's; `forget_cluster` removes a test's keys afterwards.
"""

from __future__ import annotations

import os

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
