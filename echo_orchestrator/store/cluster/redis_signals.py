"""Signals between the processes of one cluster over Redis pub/sub (`ECHO_REDIS_URL`), in
place of PostgreSQL's LISTEN/NOTIFY: events committed, control messages (a cancel for the
process running a run), definition files written.

Channel names carry the cluster's id (kept in the runtime database, `store.runtime.postgres_schema`),
so clusters sharing one Redis do not hear each other. Events are published after their
transaction commits, so a listener told of them can read them; what is published while a
listener reconnects is not told (followers fill such gaps from the store by `seq`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import anyio
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from echo_orchestrator.errors import ConfigurationError
from echo_orchestrator.store.runtime.base import OnSignal
from echo_orchestrator.store.runtime.postgres_connect import shown_url

log = logging.getLogger(__name__)


# A command Redis does not answer within this fails (a Redis that hangs must not hang the
# writes that publish, the limits that count, or a stop).
COMMAND_SECONDS = 5.0


async def connect(url: str, *, socket_timeout: float | None = COMMAND_SECONDS) -> Redis:
    """A client that answered a PING, or a clear error naming the URL (without its password).
    `socket_timeout=None` for a subscriber, which waits on its connection by design."""
    client: Redis = Redis.from_url(url, socket_connect_timeout=10, socket_timeout=socket_timeout, health_check_interval=30)
    try:
        await client.ping()
    except (redis_errors.RedisError, OSError, ValueError) as exc:
        await client.aclose()
        raise ConfigurationError(f"Cannot connect to Redis at {shown_url(url)}: {type(exc).__name__}: {exc}") from None
    return client


class RedisChannels:
    def __init__(self, url: str) -> None:
        self.url = url
        self._client: Redis | None = None  # commands (publish, ping): bounded by COMMAND_SECONDS
        self._subscriber: Redis | None = None  # the listener's: it waits for messages
        self._prefix = ""

    async def open(self, cluster: str) -> None:
        self._client = await connect(self.url)
        self._subscriber = await connect(self.url, socket_timeout=None)
        self._prefix = f"echo:{cluster}:"

    async def close(self) -> None:
        for client in (self._client, self._subscriber):
            if client is not None:
                with anyio.move_on_after(COMMAND_SECONDS, shield=True):
                    await client.aclose()
        self._client = self._subscriber = None

    async def ping_ms(self) -> float:
        """How long Redis takes to answer a PING (raises when it does not)."""
        assert self._client is not None, "open() first"
        began = time.perf_counter()
        await self._client.ping()
        return round((time.perf_counter() - began) * 1000, 2)

    async def publish(self, kind: str, payload: str) -> None:
        assert self._client is not None, "open() first"
        await self._client.publish(self._prefix + kind, payload)

    async def listen(self, kinds: tuple[str, ...], on_message: OnSignal) -> None:
        """Until cancelled: every message of these kinds to `on_message`; resubscribed
        after a lost connection."""
        assert self._subscriber is not None, "open() first"
        while True:
            pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*(self._prefix + kind for kind in kinds))
                async for message in pubsub.listen():
                    channel = message["channel"].decode() if isinstance(message["channel"], bytes) else str(message["channel"])
                    data = message["data"].decode() if isinstance(message["data"], bytes) else str(message["data"])
                    await on_message(channel.removeprefix(self._prefix), data)
            except (redis_errors.RedisError, OSError) as exc:
                log.warning("Redis listener lost its connection (%s); reconnecting", type(exc).__name__)
                await anyio.sleep(0.5)
            finally:
                # redis types `aclose` from 8.2 on only: called through a typed name, the
                # check passes on every version the range allows (no ignore to go stale).
                close: Callable[[], Awaitable[None]] = pubsub.aclose
                with anyio.move_on_after(COMMAND_SECONDS, shield=True):
                    await close()
