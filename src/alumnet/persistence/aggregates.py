"""Where cached aggregates live (``domain/analytics/cache.py``): Redis when configured
(shared by every API process and worker), this process's memory otherwise.

Each table has a generation, moved on by every committed transaction that wrote it
(``bump``; ``persistence/written.py`` says which). A value is kept with the *stamp* of the
generations it was computed under, read before computing: a lookup answers the stamp of
the tables asked about now, and the value only if it was kept under that same stamp. A
change committed meanwhile moves a generation on, so what was computed before it is never
read again (and expires with its time to live). One more generation, ``*``, is part of
every stamp: moving it on (``forget``) makes everything unreachable at once.

In Redis (``<prefix>:aggregate:…``) a lookup, a keep and a bump are one Lua script each,
one round trip. Generations are microsecond clock readings from Redis's clock (a bump
takes the later of the clock and one more than before), so a generation key lost (an
eviction, a restore, or expired: each is kept a day past its last bump, and at least as
long as any value stamped with it) never comes back with a value already used. Key names are
HMAC digests (a key names a viewer, a mission, a range: nothing of it in the clear) and
values are encrypted (AES-GCM, bound to their key and stamp), with keys derived from the
secret key: Redis dumps, replicas and MONITOR show neither the figures nor who asked.
Redis unreachable or slower than ``TIMEOUT_SECONDS``: lookups answer None (compute without
the cache), keeps are dropped, and bumps that could not be made are owed (recorded before
``bump`` is awaited, so a commit cancelled while it announces still owes them). What is
owed is paid before this process's next lookup (the tables owed are not served from the
cache here until then), by a task of the process that tries again with back-off for as
long as anything is owed, and before the process's runtime closes (``close``: a few
seconds more). Workers (``patient``) also try again with back-off before a commit returns,
as a job's process ends with its job. After a failure Redis is left alone by requests for
``pause_seconds`` (lookups answer None at once, bumps are owed), so that a Redis that hangs
costs a write or a dashboard the timeout once in a while, not every time. What remains: a
process killed (or unable to reach Redis until it closes) while it owes leaves the other
processes serving the values kept before its change until they expire (logged as
``aggregates_bump_lost``; ``alumnet cache clear`` forgets everything).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Iterable, Sequence
from typing import NamedTuple, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from redis.asyncio import Redis
from redis.exceptions import RedisError

from alumnet.observability import get_logger

log = get_logger(__name__)

# The generation in every stamp: moving it on forgets everything.
EVERYTHING = "*"


class Lookup(NamedTuple):
    """What a lookup found: the stamp of the tables' generations now (keep what is
    computed from here under it), and the value kept under that stamp, if any."""

    stamp: str
    value: bytes | None


class AggregateStore(Protocol):
    async def lookup(self, key: bytes, tables: Sequence[str]) -> Lookup | None:
        """The stamp of ``tables`` now and the value kept for ``key`` under it; None when
        the store cannot be reached or cannot vouch for the tables (compute without it)."""
        ...

    async def keep(
        self, key: bytes, tables: Sequence[str], stamp: str, value: bytes, seconds: float
    ) -> None:
        """Keep ``value`` for ``key`` under ``stamp`` for ``seconds``, unless a generation
        has moved on since the stamp was read (the value is already out of date)."""
        ...

    def bump(self, tables: frozenset[str]) -> Awaitable[None]:
        """Move the generations of ``tables`` on: a transaction that wrote them committed.
        What could not be moved yet is owed from the moment this is called (before it is
        awaited). Never raises."""
        ...

    async def forget(self) -> None:
        """Make every value unreachable (writes alumnet did not see: a restore, psql)."""
        ...

    async def settle(self, seconds: float) -> bool:
        """Pay what is owed, trying again with back-off for up to ``seconds``; True when
        nothing is owed any more."""
        ...

    async def close(self) -> None:
        """Before the process's runtime ends: pay what is owed (a few seconds at most)."""
        ...


class MemoryAggregateStore:
    """This process's values (without Redis there is no other process to share with)."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._generations: dict[str, int] = {}
        # key: (stamp, until (time.monotonic()), value), least recently used first
        self._entries: OrderedDict[bytes, tuple[str, float, bytes]] = OrderedDict()
        self._bytes = 0

    def _stamp(self, tables: Sequence[str]) -> str:
        generations = self._generations
        return ".".join(str(generations.get(t, 0)) for t in (*tables, EVERYTHING))

    def _drop(self, key: bytes) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[2]) + len(key)

    async def lookup(self, key: bytes, tables: Sequence[str]) -> Lookup | None:
        key = _short(key)
        stamp = self._stamp(tables)
        entry = self._entries.get(key)
        if entry is None:
            return Lookup(stamp, None)
        if entry[0] != stamp or entry[1] <= time.monotonic():
            self._drop(key)
            return Lookup(stamp, None)
        self._entries.move_to_end(key)
        return Lookup(stamp, entry[2])

    async def keep(
        self, key: bytes, tables: Sequence[str], stamp: str, value: bytes, seconds: float
    ) -> None:
        key = _short(key)
        if self._stamp(tables) != stamp or len(value) > self.max_bytes:
            return
        self._drop(key)
        self._entries[key] = (stamp, time.monotonic() + seconds, value)
        self._bytes += len(value) + len(key)
        while self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def bump(self, tables: frozenset[str]) -> Awaitable[None]:
        generations = self._generations
        for table in tables:
            generations[table] = generations.get(table, 0) + 1
        return _done()

    async def forget(self) -> None:
        await self.bump(frozenset({EVERYTHING}))
        self._entries.clear()
        self._bytes = 0

    async def settle(self, seconds: float) -> bool:
        return True

    async def close(self) -> None:
        return None


async def _done() -> None:
    return None


def _short(key: bytes) -> bytes:
    return hashlib.blake2b(key, digest_size=20).digest()


# A generation missing (never bumped, expired or lost) starts at Redis's clock, in
# microseconds. ARGV[1]: how long a generation is kept (seconds).
_LOOKUP = """
local clock = redis.call('TIME')
local now = string.format('%d%06d', clock[1], clock[2])
local generations = {}
for i = 2, #KEYS do
  local g = redis.call('GET', KEYS[i])
  if not g then
    g = now
    redis.call('SET', KEYS[i], g, 'EX', ARGV[1])
  end
  generations[#generations + 1] = g
end
local stamp = table.concat(generations, '.')
local kept = redis.call('GET', KEYS[1])
if kept then
  local cut = string.find(kept, '\\n', 1, true)
  if cut and string.sub(kept, 1, cut - 1) == stamp then
    return {stamp, string.sub(kept, cut + 1)}
  end
end
return {stamp}
"""

# ARGV: the stamp the value was computed under, the value (its stamp, a newline and the
# sealed JSON), its time to live in milliseconds. Its generations are kept at least as
# long as it is.
_KEEP = """
local generations = {}
for i = 2, #KEYS do
  local g = redis.call('GET', KEYS[i])
  if not g then return 0 end
  generations[#generations + 1] = g
end
if table.concat(generations, '.') ~= ARGV[1] then return 0 end
local ttl = tonumber(ARGV[3])
for i = 2, #KEYS do
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
return 1
"""

# The later of Redis's clock and one more than before: never a generation used before,
# even after its key was lost. ARGV[1]: how long a generation is kept (seconds).
_BUMP = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
for i = 1, #KEYS do
  local g = tonumber(redis.call('GET', KEYS[i]) or '0')
  if g < now then g = now else g = g + 1 end
  redis.call('SET', KEYS[i], string.format('%.0f', g), 'EX', ARGV[1])
end
return #KEYS
"""


class RedisAggregateStore:
    """Values and generations in Redis, shared by every process of the deployment."""

    # Every dashboard looks up and every committing write bumps: a Redis that hangs must
    # hang neither (nor fill the log: said once when it fails, once when it is back).
    TIMEOUT_SECONDS = 0.25
    # Past this many tables owed, the debt becomes "everything".
    MAX_OWED = 200
    # How long a generation is kept without a bump (longer while values stamped with it
    # live): one that expired starts again from the clock, past every value it had.
    GENERATION_SECONDS = 24 * 3600

    # How long a closing runtime (and a worker's commit) keeps trying to pay what it owes.
    SETTLE_SECONDS = 3.0
    # The longest wait between two tries of the task that pays what is owed.
    MAX_RETRY_SECONDS = 10.0

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        secret_key: str,
        *,
        pause_seconds: float = 2.0,
        retry_seconds: float = 0.25,
        patient: bool = False,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.pause_seconds = pause_seconds
        # The first wait of the task that pays what is owed (doubled after each failure).
        self.retry_seconds = retry_seconds
        # A worker's: a commit waits (SETTLE_SECONDS at most) until its bump is made.
        self.patient = patient
        self._retrying: asyncio.Task[None] | None = None
        self._paused_until = 0.0
        derived = HKDF(
            algorithm=hashes.SHA256(), length=64, salt=None, info=b"alumnet aggregates cache"
        ).derive(secret_key.encode("utf-8"))
        self._naming = derived[:32]
        self._sealing = AESGCM(derived[32:])
        self._lookup = redis.register_script(_LOOKUP)
        self._keep = redis.register_script(_KEEP)
        self._bump = redis.register_script(_BUMP)
        self._owed: set[str] = set()
        self._failing = False

    def _value_key(self, key: bytes) -> str:
        digest = hmac.new(self._naming, key, hashlib.sha256).hexdigest()
        return f"{self.prefix}:aggregate:{digest}"

    def _generation_key(self, table: str) -> str:
        return f"{self.prefix}:aggregate:generation:{table}"

    def _keys(self, key: bytes, tables: Sequence[str]) -> list[str]:
        return [
            self._value_key(key),
            *(self._generation_key(t) for t in tables),
            self._generation_key(EVERYTHING),
        ]

    def _paused(self) -> bool:
        return self._paused_until > 0 and time.monotonic() < self._paused_until

    def _failed(self, exc: BaseException) -> None:
        self._paused_until = time.monotonic() + self.pause_seconds
        if not self._failing:
            self._failing = True
            log.warning("aggregates_cache_unavailable", error=type(exc).__name__)

    def _worked(self) -> None:
        if self._failing:
            self._failing = False
            log.info("aggregates_cache_available")

    async def lookup(self, key: bytes, tables: Sequence[str]) -> Lookup | None:
        if self._paused():
            return None
        if self._owed:
            await self._pay()
            if self._owed & {*tables, EVERYTHING}:
                return None
        keys = self._keys(key, tables)
        try:
            async with asyncio.timeout(self.TIMEOUT_SECONDS):
                found = await self._lookup(
                    keys=keys, args=[self.GENERATION_SECONDS], client=self.redis
                )
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return None
        self._worked()
        stamp = _text(found[0])
        if len(found) < 2:
            return Lookup(stamp, None)
        sealed = bytes(found[1])
        try:
            value = self._sealing.decrypt(sealed[:12], sealed[12:], _bound(keys[0], stamp))
        except (InvalidTag, ValueError):
            return Lookup(stamp, None)  # sealed with another secret key: computed again
        return Lookup(stamp, value)

    async def keep(
        self, key: bytes, tables: Sequence[str], stamp: str, value: bytes, seconds: float
    ) -> None:
        if self._paused():
            return
        keys = self._keys(key, tables)
        nonce = os.urandom(12)
        sealed = nonce + self._sealing.encrypt(nonce, value, _bound(keys[0], stamp))
        try:
            async with asyncio.timeout(self.TIMEOUT_SECONDS):
                await self._keep(
                    keys=keys,
                    args=[stamp, stamp.encode() + b"\n" + sealed, max(1, int(seconds * 1000))],
                    client=self.redis,
                )
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)

    def bump(self, tables: frozenset[str]) -> Awaitable[None]:
        self._owed |= tables  # owed until Redis has it, even if what follows never runs
        return self._bumped()

    async def _bumped(self) -> None:
        await self._pay()
        if not self._owed:
            return
        if self.patient:
            await self.settle(self.SETTLE_SECONDS)
        if self._owed:
            self._retry_later()

    async def _pay(self, *, now: bool = False) -> None:
        """One try at what is owed (``now``: even while requests leave Redis alone)."""
        if len(self._owed) > self.MAX_OWED:
            self._owed = {EVERYTHING}
        if not self._owed or (self._paused() and not now):
            return
        owed = sorted(self._owed)
        try:
            async with asyncio.timeout(self.TIMEOUT_SECONDS):
                await self._bump(
                    keys=[self._generation_key(t) for t in owed],
                    args=[self.GENERATION_SECONDS],
                    client=self.redis,
                )
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return
        except Exception:
            log.exception("aggregates_bump_failed", tables=owed)
            return
        self._owed.difference_update(owed)
        self._worked()

    async def settle(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        wait = 0.05
        while True:
            await self._pay(now=True)
            left = deadline - time.monotonic()
            if not self._owed or left <= 0:
                return not self._owed
            await asyncio.sleep(min(wait, left))
            wait = min(wait * 2, 1.0)

    def _retry_later(self) -> None:
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.get_running_loop().create_task(self._retry())

    async def _retry(self) -> None:
        wait = self.retry_seconds
        while self._owed:
            await asyncio.sleep(wait)
            await self._pay(now=True)
            wait = min(wait * 2, self.MAX_RETRY_SECONDS)

    async def forget(self) -> None:
        await self.bump(frozenset({EVERYTHING}))

    async def close(self) -> None:
        retrying, self._retrying = self._retrying, None
        if retrying is not None and not retrying.done():
            retrying.cancel()
            await asyncio.gather(retrying, return_exceptions=True)
        if self._owed and not await self.settle(self.SETTLE_SECONDS):
            # The other processes serve what they kept before these changes until it
            # expires: `alumnet cache clear` once Redis is back.
            log.error("aggregates_bump_lost", tables=sorted(self._owed))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bound(key: str, stamp: str) -> bytes:
    """What a sealed value is bound to: its key and stamp (a value moved elsewhere in
    Redis does not open)."""
    return key.encode() + b"\n" + stamp.encode()


def tables_of(names: Iterable[str]) -> tuple[str, ...]:
    """Table names in the order stamps list them."""
    return tuple(sorted(set(names)))
