"""Pub/sub for subscriptions: Redis across API processes, or in-process."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import orjson
from redis.asyncio import Redis


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

    def __init__(self, redis: Redis, prefix: str = "alumnet") -> None:
        self._redis = redis
        self._prefix = prefix

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
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self._channel(channel))

        async def events() -> AsyncIterator[dict[str, Any]]:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    yield orjson.loads(message["data"])

        try:
            yield events()
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await self._redis.aclose()
