"""Counting failures in a window, holds that last a while, and query-cost budgets (leaky
buckets): Redis when configured (shared by every process), memory otherwise."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from alumnet.observability import RareWarning, get_logger

log = get_logger(__name__)


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


def redis_key(prefix: str, key: str) -> str:
    """A throttle's Redis key: a digest, not the key itself. Keys name e-mail addresses and
    client addresses, personal data that Redis (its dumps, MONITOR, KEYS) must not hold in
    the clear."""
    return f"{prefix}:throttle:{hashlib.sha256(key.encode()).hexdigest()}"


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
    """A fixed window per key; simple, shared by every API process.

    Redis unreachable (or slower than ``TIMEOUT_SECONDS``): the counts go on in this
    process's memory (``MemoryFailureCounter``) until Redis answers again, warned once a
    while. Sign-in and registration limits then hold per process rather than for the whole
    deployment (an attacker spread over N processes gets N times the tries) instead of
    failing every sign-in, or none: requests never fail for it, and throttling never stops.
    Counts made meanwhile are not carried into Redis; counts in Redis resume where they
    were."""

    TIMEOUT_SECONDS = 0.25

    def __init__(self, redis: Redis, window_seconds: int, prefix: str = "alumnet") -> None:
        self.redis = redis
        self.window = window_seconds
        self.prefix = prefix
        self.fallback = MemoryFailureCounter(window_seconds)
        self._unreachable = RareWarning(log, "throttle_counts_in_process")

    def _key(self, key: str) -> str:
        return redis_key(self.prefix, key)

    async def count(self, key: str) -> int:
        try:
            async with asyncio.timeout(self.TIMEOUT_SECONDS):
                value = await self.redis.get(self._key(key))
        except (RedisError, OSError, TimeoutError) as exc:
            self._unreachable(exc)
            return await self.fallback.count(key)
        return max(int(value or 0), await self.fallback.count(key))

    async def add(self, key: str, window: int | None = None) -> int:
        try:
            async with asyncio.timeout(self.TIMEOUT_SECONDS):
                pipe = self.redis.pipeline()
                pipe.incr(self._key(key))
                pipe.expire(self._key(key), window or self.window, nx=True)
                count, _ = await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            self._unreachable(exc)
            return await self.fallback.add(key, window)
        return max(int(count), await self.fallback.count(key))

    async def clear(self, key: str) -> None:
        await self.fallback.clear(key)
        try:
            async with asyncio.timeout(self.TIMEOUT_SECONDS):
                await self.redis.delete(self._key(key), self._key(f"hold:{key}"))
        except (RedisError, OSError, TimeoutError) as exc:
            self._unreachable(exc)

    async def hold(self, key: str, seconds: int) -> None:
        try:
            async with asyncio.timeout(self.TIMEOUT_SECONDS):
                await self.redis.set(self._key(f"hold:{key}"), 1, ex=max(1, seconds))
        except (RedisError, OSError, TimeoutError) as exc:
            self._unreachable(exc)
            await self.fallback.hold(key, seconds)

    async def held(self, key: str) -> bool:
        try:
            async with asyncio.timeout(self.TIMEOUT_SECONDS):
                found = bool(await self.redis.exists(self._key(f"hold:{key}")))
        except (RedisError, OSError, TimeoutError) as exc:
            self._unreachable(exc)
            return await self.fallback.held(key)
        return found or await self.fallback.held(key)


class BudgetStore(Protocol):
    """Leaky buckets of query-cost points, one per key (see domain/identity/budgets.py)."""

    async def draw(self, key: str, cost: int, size: int, rate: int) -> tuple[bool, float] | None:
        """Take ``cost`` points from ``key``'s bucket (``size`` points at most, ``rate`` a
        second coming back) if it holds that many: whether it did, and what is left. None
        when the buckets cannot be reached (the request goes on, uncounted)."""
        ...


class MemoryBudgetStore:
    """The buckets of this process (without Redis, it is the only one)."""

    PRUNE_EVERY = 1000

    def __init__(self) -> None:
        # key: (level, when it was, when it will be full again)
        self._buckets: dict[str, tuple[float, float, float]] = {}
        self._lock = threading.Lock()
        self._draws = 0

    def _prune(self, now: float) -> None:
        # A bucket full again is the same as none: forget it (made-up addresses must not
        # grow the process for ever).
        for key, (_, _, full) in list(self._buckets.items()):
            if full <= now:
                del self._buckets[key]

    async def draw(self, key: str, cost: int, size: int, rate: int) -> tuple[bool, float] | None:
        now = time.monotonic()
        with self._lock:
            self._draws += 1
            if self._draws % self.PRUNE_EVERY == 0:
                self._prune(now)
            level, at, _ = self._buckets.get(key, (float(size), now, now))
            level = min(float(size), level + max(0.0, now - at) * rate)
            allowed = cost <= level
            if allowed:
                level -= cost
            self._buckets[key] = (level, now, now + (size - level) / rate)
            return allowed, level

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()


# One atomic step per request: refill by the time passed (Redis's own clock, the same for
# every process), then take the cost if it is there.
_DRAW = """
local size, rate, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local kept = redis.call('HMGET', KEYS[1], 'level', 'at')
local level = tonumber(kept[1]) or size
local at = tonumber(kept[2]) or now
level = math.min(size, level + math.max(0, now - at) * rate)
local allowed = 0
if cost <= level then
  level = level - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'level', tostring(level), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(size / rate) + 1)
return {allowed, tostring(level)}
"""


class RedisBudgetStore:
    """The buckets in Redis, shared by every process (``redis_key``: digests under
    ``<prefix>:throttle:``)."""

    # Every request draws: a Redis that hangs must not hang them (nor fill the log).
    TIMEOUT_SECONDS = 0.25

    def __init__(self, redis: Redis, prefix: str = "alumnet") -> None:
        self.prefix = prefix
        self._draw = redis.register_script(_DRAW)
        self._unavailable = RareWarning(log, "query_budget_unavailable")

    async def draw(self, key: str, cost: int, size: int, rate: int) -> tuple[bool, float] | None:
        try:
            async with asyncio.timeout(self.TIMEOUT_SECONDS):
                allowed, level = await self._draw(
                    keys=[redis_key(self.prefix, f"budget:{key}")], args=[size, rate, cost]
                )
        except (RedisError, OSError, TimeoutError) as exc:
            # Redis unreachable or slow: serve, uncounted (each operation's cost is still
            # bounded by ALUMNET_MAX_QUERY_COST), rather than refuse or stall everyone.
            self._unavailable(exc)
            return None
        return bool(int(allowed)), float(level)
