"""Rate-limit windows in Redis (`store.counters`, with `ECHO_REDIS_URL`): one key per
caller and limit, counted and read by one script, so every node sees one count and the
key expires with its window."""

from __future__ import annotations

import time
from typing import Any

import anyio
import psycopg

from echo_orchestrator.store.cluster.redis_signals import COMMAND_SECONDS, connect
from echo_orchestrator.store.counters import Window
from echo_orchestrator.store.runtime.postgres_connect import conninfo
from echo_orchestrator.store.runtime.postgres_schema import cluster_id

# KEYS[1]: the window's key; ARGV: its length in seconds, 1 to count (0 to read).
_HIT = """
local count
if ARGV[2] == '1' then
  count = redis.call('INCR', KEYS[1])
  if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
else
  count = tonumber(redis.call('GET', KEYS[1]) or '0')
end
return {count, redis.call('TTL', KEYS[1])}
"""


class RedisCounters:
    def __init__(self, url: str, runtime_url: str) -> None:
        self._url, self._runtime_url = url, runtime_url
        self._client: Any = None
        self._script: Any = None
        self._prefix = ""

    async def open(self) -> None:
        # Keys carry the cluster's id (the runtime database's), as the channels do.
        async with await psycopg.AsyncConnection.connect(conninfo(self._runtime_url), autocommit=True) as conn:
            cluster = await cluster_id(conn)
        self._client = await connect(self._url)
        self._script = self._client.register_script(_HIT)
        self._prefix = f"echo:{cluster}:rate:"

    async def close(self) -> None:
        if self._client is not None:
            with anyio.move_on_after(COMMAND_SECONDS, shield=True):
                await self._client.aclose()
            self._client = None

    async def hit(self, key: str, seconds: int, *, count: bool) -> Window:
        assert self._script is not None, "open() first"
        held, ttl = await self._script(keys=[self._prefix + key], args=[seconds, 1 if count else 0])
        now = int(time.time())
        return Window(count=int(held), reset=now + (int(ttl) if int(ttl) > 0 else seconds))
