"""Counting failures in a window, and holds that last a while: Redis when configured (shared
by every process), memory otherwise."""

from __future__ import annotations

import time
from typing import Protocol

from redis.asyncio import Redis


class FailureCounter(Protocol):
    async def count(self, key: str) -> int: ...

    async def add(self, key: str, window: int | None = None) -> int:
        """Count one more; the count lasts ``window`` seconds (the counter's default if
        None) from the first one."""
        ...

    async def clear(self, key: str) -> None: ...

    async def hold(self, key: str, seconds: int) -> None:
        """Mark ``key`` for ``seconds`` from now (replacing any earlier mark)."""
        ...

    async def held(self, key: str) -> bool: ...


class MemoryFailureCounter:
    # Every this many additions, keys whose window or hold has passed are dropped: a flood
    # of made-up addresses must not grow the process for ever.
    PRUNE_EVERY = 1000

    def __init__(self, window_seconds: int) -> None:
        self.window = window_seconds
        self._hits: dict[str, list[float]] = {}
        self._windows: dict[str, int] = {}
        self._holds: dict[str, float] = {}
        self._added = 0

    def _prune(self) -> None:
        now = time.monotonic()
        for key in list(self._hits):
            if not self._live(key):
                self._windows.pop(key, None)
        for key, until in list(self._holds.items()):
            if until <= now:
                del self._holds[key]

    def _live(self, key: str) -> list[float]:
        cutoff = time.monotonic() - self._windows.get(key, self.window)
        hits = [t for t in self._hits.get(key, []) if t > cutoff]
        if hits:
            self._hits[key] = hits
        else:
            self._hits.pop(key, None)
        return hits

    async def count(self, key: str) -> int:
        return len(self._live(key))

    async def add(self, key: str, window: int | None = None) -> int:
        self._added += 1
        if self._added % self.PRUNE_EVERY == 0:
            self._prune()
        if window is not None:
            self._windows[key] = window
        hits = self._live(key)
        hits.append(time.monotonic())
        self._hits[key] = hits
        return len(hits)

    async def clear(self, key: str) -> None:
        self._hits.pop(key, None)
        self._holds.pop(key, None)

    async def hold(self, key: str, seconds: int) -> None:
        self._added += 1
        if self._added % self.PRUNE_EVERY == 0:
            self._prune()
        self._holds[key] = time.monotonic() + seconds

    async def held(self, key: str) -> bool:
        until = self._holds.get(key)
        if until is None or until <= time.monotonic():
            self._holds.pop(key, None)
            return False
        return True


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

    async def add(self, key: str, window: int | None = None) -> int:
        pipe = self.redis.pipeline()
        pipe.incr(self._key(key))
        pipe.expire(self._key(key), window or self.window, nx=True)
        count, _ = await pipe.execute()
        return int(count)

    async def clear(self, key: str) -> None:
        await self.redis.delete(self._key(key), self._key(f"hold:{key}"))

    async def hold(self, key: str, seconds: int) -> None:
        await self.redis.set(self._key(f"hold:{key}"), 1, ex=max(1, seconds))

    async def held(self, key: str) -> bool:
        return bool(await self.redis.exists(self._key(f"hold:{key}")))
