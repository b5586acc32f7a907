"""Credentials an API process has checked, kept so that most requests need no SQL to
know who is asking.

An entry is what ``authenticate`` read for one bearer (an access token or a personal
access token): the viewer, their user row and roles. It is used while it is younger than
``ALUMNET_AUTH_CACHE_SECONDS`` and its token has not expired, and ended at once when a
change to its user's sessions, tokens, roles or status commits (see
``persistence/credentials.py``):

- in the process that made the change, before its response is sent (synchronously, on
  commit), so a sign-out is never followed by a request that still works there;
- in every other process, through the event bus (Redis pub/sub), within milliseconds.

The bus is watched: every process sends a heartbeat on the channel every
``HEARTBEAT_SECONDS``, so a process that has heard nothing for ``SILENCE_SECONDS`` knows
it may be missing changes. It then trusts only entries younger than
``ALUMNET_AUTH_CACHE_FALLBACK_SECONDS`` (and says so in ``/readyz``); when it hears the
bus again it forgets everything, since what it missed is unknown. A request that read its
credential before a change committed cannot store that stale answer afterwards: each
change moves a generation counter, and an answer read under an older generation is not
kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter

from alumnet.observability import get_logger
from alumnet.persistence import credentials
from alumnet.persistence.bus import EventBus

if TYPE_CHECKING:
    from alumnet.domain.identity.auth import Authenticated

log = get_logger(__name__)

HEARTBEAT_SECONDS = 0.25
SILENCE_SECONDS = 1.0
MAX_ENTRIES = 20_000

CACHE_LOOKUPS = Counter(
    "alumnet_auth_cache_lookups_total",
    "Credentials looked up in the process's cache, by outcome (hit, miss).",
    ["outcome"],
)


@dataclass
class Entry:
    found: Authenticated
    user_id: int
    stored: float  # time.monotonic()
    # When the credential itself stops working (an access token's expiry), if it does.
    expires_at: datetime | None = None
    # A personal access token's last use as recorded (written at minute resolution).
    last_used_at: datetime | None = None


class CredentialCache:
    def __init__(self, bus: EventBus, max_age: float, fallback_age: float) -> None:
        self.bus = bus
        self.max_age = max_age
        self.fallback_age = min(fallback_age, max_age)
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._by_user: dict[int, set[str]] = {}
        self.generation = 0
        # When the bus was last heard (time.monotonic()); None: never.
        self._heard: float | None = None
        self._me = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._outbox: list[dict[str, Any]] = []
        self._sending: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.max_age > 0

    def following(self) -> bool:
        """Whether the bus has been heard lately (changes elsewhere reach this process)."""
        return self._heard is not None and time.monotonic() - self._heard <= SILENCE_SECONDS

    def status(self) -> str:
        if not self.enabled:
            return "off"
        if self.following():
            return "ok"
        return (
            f"the event bus is silent: credentials are trusted for {self.fallback_age:g} s at most"
        )

    # --- lookups ------------------------------------------------------------------------

    def get(self, key: str, now: datetime) -> Entry | None:
        entry = self._entries.get(key) if self.enabled else None
        if entry is not None:
            limit = self.max_age if self.following() else self.fallback_age
            expired = entry.expires_at is not None and entry.expires_at <= now
            if expired or time.monotonic() - entry.stored > limit:
                self._drop(key)
                entry = None
            else:
                self._entries.move_to_end(key)
        CACHE_LOOKUPS.labels(outcome="miss" if entry is None else "hit").inc()
        return entry

    def put(self, key: str, entry: Entry, generation: int) -> None:
        """Keep what was read, unless a change committed since it was read."""
        if not self.enabled or generation != self.generation:
            return
        self._drop(key)
        self._entries[key] = entry
        self._by_user.setdefault(entry.user_id, set()).add(key)
        while len(self._entries) > MAX_ENTRIES:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            keys = self._by_user.get(entry.user_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_user[entry.user_id]

    def __len__(self) -> int:
        return len(self._entries)

    # --- changes ------------------------------------------------------------------------

    def invalidate(self, users: frozenset[int] | None) -> None:
        """Forget these users' credentials (everyone's for None)."""
        self.generation += 1
        if users is None:
            self._entries.clear()
            self._by_user.clear()
            return
        for user_id in users:
            for key in list(self._by_user.get(user_id, ())):
                self._drop(key)

    def committed(self, users: frozenset[int] | None) -> None:
        """A transaction of this process committed a change to these users' credentials:
        forget them here now, and tell the other processes."""
        self.invalidate(users)
        self._outbox.append({**credentials.payload(users), "from": self._me})
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous script): flush() sends it, if anyone calls it
        if self._sending is None or self._sending.done():
            self._sending = loop.create_task(self._send())

    async def _send(self) -> None:
        while self._outbox:
            batch, self._outbox = self._outbox, []
            try:
                await self.bus.publish_many([(credentials.CHANNEL, m) for m in batch])
            except Exception as exc:
                # The others are then in their fallback (they cannot hear the bus either),
                # or will forget everything when they hear it again.
                log.warning("credentials_change_not_sent", error=type(exc).__name__)

    async def flush(self) -> None:
        """Send what is still to be sent (before a process ends, after a transaction)."""
        if self._sending is not None and not self._sending.done():
            await asyncio.shield(self._sending)
        if self._outbox:
            await self._send()

    def _hear(self, message: dict[str, Any]) -> None:
        now = time.monotonic()
        if self._heard is None or now - self._heard > SILENCE_SECONDS:
            self.invalidate(None)  # changes may have been missed meanwhile
        self._heard = now
        if "beat" in message or message.get("from") == self._me:
            return
        self.invalidate(credentials.read_payload(message))

    async def follow(self) -> None:
        """Listen to the bus for changes made by other processes (and beat), until
        cancelled; reconnect after any failure."""
        while True:
            try:
                async with self.bus.subscription(credentials.CHANNEL) as events:
                    beat = asyncio.create_task(self._beat())
                    try:
                        async for message in events:
                            self._hear(message)
                    finally:
                        beat.cancel()
                        with contextlib.suppress(BaseException):
                            await beat
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("credentials_bus_lost", error=type(exc).__name__)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _beat(self) -> None:
        warned = False
        while True:
            try:
                await self.bus.publish(credentials.CHANNEL, {"beat": self._me})
                warned = False
            except Exception as exc:
                if not warned:
                    log.warning("credentials_heartbeat_failed", error=type(exc).__name__)
                    warned = True
            await asyncio.sleep(HEARTBEAT_SECONDS)
