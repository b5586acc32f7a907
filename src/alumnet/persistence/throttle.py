"""Counting failures in a sliding window: Redis when configured, memory otherwise."""

from __future__ import annotations

import time
from typing import Protocol

from redis.asyncio import Redis


class FailureCounter(Protocol):
    async def count(self, key: str) -> int: ...

    async def add(self, key: str) -> int: ...

    async def clear(self, key: str) -> None: ...


class MemoryFailureCounter:
    def __init__(self, window_seconds: int) -> None:
        self.window = window_seconds
        self._hits: dict[str, list[float]] = {}

    def _live(self, key: str) -> list[float]:
        cutoff = time.monotonic() - self.window
        hits = [t for t in self._hits.get(key, []) if t > cutoff]
        if hits:
            self._hits[key] = hits
        else:
            self._hits.pop(key, None)
        return hits

    async def count(self, key: str) -> int:
        return len(self._live(key))

    async def add(self, key: str) -> int:
        hits = self._live(key)
        hits.append(time.monotonic())
        self._hits[key] = hits
        return len(hits)

    async def clear(self, key: str) -> None:
        self._hits.pop(key, None)


class RedisFailureCounter:
    """A fixed window per key; simple, shared by every API process."""

    def __init__(self, redis: Redis, window_seconds: int, prefix: str = "alumnet") -> None:
        self.redis = redis
        self.window = window_seconds
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}:throttle:{key}"

    async def count(self, key: str) -> int:
        value = await self.redis.get(self._key(key))
        return int(value or 0)

    async def add(self, key: str) -> int:
        pipe = self.redis.pipeline()
        pipe.incr(self._key(key))
        pipe.expire(self._key(key), self.window, nx=True)
        count, _ = await pipe.execute()
        return int(count)

    async def clear(self, key: str) -> None:
        await self.redis.delete(self._key(key))
