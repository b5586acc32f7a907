"""Pub/sub for subscriptions: Redis across API processes, or in-process."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any, Protocol

import orjson
import redis
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from alumnet.observability import RareWarning, get_logger

log = get_logger(__name__)

# A Redis that is down (refused) or gone silent must cost a request milliseconds, not the
# client's default of three retries with back-off of up to seconds each: one immediate
# retry (a connection dropped since its last use), short connect and read timeouts.
REDIS_CONNECT_TIMEOUT_SECONDS = 0.5
REDIS_SOCKET_TIMEOUT_SECONDS = 2.0


def redis_options() -> dict[str, Any]:
    return {
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
        "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
        "health_check_interval": 10,
    }


def redis_client(url: str) -> Redis:
    """The asyncio client of every Redis use in a request's path (see ``redis_options``).
    Pub/sub's blocking reads are not bound by the read timeout (redis-py waits for them
    without one)."""
    return Redis.from_url(url, retry=Retry(NoBackoff(), 1), **redis_options())


def sync_redis_client(url: str) -> redis.Redis:
    """The same, blocking (RQ's enqueueing)."""
    from redis.retry import Retry as SyncRetry

    return redis.Redis.from_url(url, retry=SyncRetry(NoBackoff(), 1), **redis_options())


class EventBus(Protocol):
    # Whether other processes hear what this one publishes (Redis), or only itself.
    shared: bool

    async def publish(self, channel: str, payload: dict[str, Any]) -> None: ...

    async def publish_many(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Several events at once (a notification to 3,000 people is 3,000 events)."""
        ...

    def subscription(self, channel: str) -> Any:
        """``async with bus.subscription(ch) as events``: subscribed on entry, so nothing
        published after entering is missed; ``events`` is an async iterator of payloads."""
        ...

    async def close(self) -> None: ...


class InProcessEventBus:
    shared = False

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

    async def publish(self, channel: str, payload: dict[str, Any]) -> None:
        for queue in list(self._subscribers.get(channel, ())):
            queue.put_nowait(payload)

    async def publish_many(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        for channel, payload in events:
            await self.publish(channel, payload)

    @asynccontextmanager
    async def subscription(self, channel: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._subscribers[channel].add(queue)

        async def events() -> AsyncIterator[dict[str, Any]]:
            while True:
                yield await queue.get()

        try:
            yield events()
        finally:
            self._subscribers[channel].discard(queue)

    async def close(self) -> None:
        self._subscribers.clear()


class RedisEventBus:
    shared = True

    # A subscription whose connection to Redis fails subscribes again, this long after
    # each failure, for as long as its subscriber stays (Redis restarted, say): what was
    # published meanwhile is lost, what is published once it is back arrives.
    RESUBSCRIBE_SECONDS = 0.5

    def __init__(self, redis: Redis, prefix: str = "alumnet") -> None:
        self._redis = redis
        self._prefix = prefix
        self._lost = RareWarning(log, "event_bus_subscription_lost")

    def _channel(self, channel: str) -> str:
        return f"{self._prefix}:events:{channel}"

    async def publish(self, channel: str, payload: dict[str, Any]) -> None:
        await self._redis.publish(self._channel(channel), orjson.dumps(payload))

    async def publish_many(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        # One round trip per thousand events instead of one per event.
        for start in range(0, len(events), 1000):
            async with self._redis.pipeline(transaction=False) as pipe:
                for channel, payload in events[start : start + 1000]:
                    pipe.publish(self._channel(channel), orjson.dumps(payload))
                await pipe.execute()

    @asynccontextmanager
    async def subscription(self, channel: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        name = self._channel(channel)
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        # Subscribed on entry, as the port promises: a Redis down at entry is an error
        # here (the subscriber is told at once) rather than a silent wait.
        await pubsub.subscribe(name)

        async def events() -> AsyncIterator[dict[str, Any]]:
            nonlocal pubsub
            while True:
                try:
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            yield orjson.loads(message["data"])
                except (RedisError, OSError) as exc:
                    self._lost(exc)
                # Subscribe again on a new connection, until Redis answers.
                await _closed(pubsub)
                while True:
                    await asyncio.sleep(self.RESUBSCRIBE_SECONDS)
                    pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                    try:
                        await pubsub.subscribe(name)
                        break
                    except (RedisError, OSError) as exc:
                        self._lost(exc)
                        await _closed(pubsub)

        try:
            yield events()
        finally:
            with suppress(RedisError, OSError):
                await pubsub.unsubscribe()
            await _closed(pubsub)

    async def close(self) -> None:
        await self._redis.aclose()


async def _closed(pubsub: Any) -> None:
    with suppress(RedisError, OSError):
        await pubsub.aclose()
