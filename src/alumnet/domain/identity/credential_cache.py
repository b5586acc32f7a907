"""Credentials an API process has checked, kept so that most requests need no SQL to
know who is asking.

An entry is what ``authenticate`` read for one bearer (an access token or a personal
access token, the exact text as key): the viewer, their user row and roles. It is used
while it is younger than ``ALUMNET_AUTH_CACHE_SECONDS`` and its token has not expired,
and ended at once when a change to its user's sessions, tokens, roles or status commits
(see ``persistence/credentials.py``):

- in the process that made the change, before its response is sent (synchronously, on
  commit), so a sign-out is never followed by a request that still works there;
- in every other process, through the event bus (Redis pub/sub), within milliseconds.

Nothing that could have been missed is trusted for long:

- Every process numbers what it publishes on the channel (changes and a heartbeat every
  ``HEARTBEAT_SECONDS``), one message after the other. A listener that sees a sender's
  numbers jump (a message lost: a publish that failed, a connection that dropped and
  came back) forgets everything it holds.
- A listener that has heard nothing for ``SILENCE_SECONDS`` (Redis unreachable) trusts
  only entries younger than ``ALUMNET_AUTH_CACHE_FALLBACK_SECONDS`` and says so in
  ``/readyz``; hearing the bus again, it forgets everything.
- Without Redis there is no bus shared with other processes (a command-line import, say,
  cannot tell the server), so entries are trusted for the fallback age only.
- A request that read its credential before a change committed cannot store that stale
  answer afterwards: changes are counted, and an answer read before the latest change to
  its user (or to everyone) is not kept.

Writes made outside alumnet (psql, a restore) reach no cache: entries end within their
maximum age, or restart the API processes.
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
# Users whose last change is remembered one by one; past this, a change counts for all.
MAX_REMEMBERED_CHANGES = 100_000
# How long a process that is ending waits for its last changes to be published.
FLUSH_SECONDS = 2.0
# The longest one publish may take before it counts as failed.
PUBLISH_TIMEOUT_SECONDS = 1.0
# A process that sends no heartbeats (a worker's job, a command) sends one this long after
# its last change, so that a listener that missed the change sees the gap in its numbers.
TRAILING_BEAT_SECONDS = 0.3
# A heartbeating process gone quiet: others trust their entries for the fallback age only,
# for this long, then forget everything and forget it (it crashed, or cannot publish).
QUIET_SENDER_GRACE_SECONDS = 30.0
# Senders heard once and not since (a job's, a command's) are forgotten after this long.
SENDER_MEMORY_SECONDS = 300.0
# How often, at most, the heartbeating senders are checked for silence.
QUIET_CHECK_SECONDS = 0.1
# Past this many changes waiting to be published, they become one change to everyone.
OUTBOX_MAX = 100

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
    # When the credential itself stops working (a token's expiry), if it does.
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
        # Changes counted: the count at the latest change to everyone, and to each user.
        self._changes = 0
        self._all_changed_at = 0
        self._changed_at: dict[int, int] = {}
        # When the bus was last heard (time.monotonic()); None: never.
        self._heard: float | None = None
        self._me = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._sequence = 0
        # Each sender heard: its last number and when it was heard.
        self._senders: dict[str, tuple[int, float]] = {}
        # The heartbeating senders (API processes), when last heard, and those gone quiet.
        self._beaters: dict[str, float] = {}
        self._quiet_since: dict[str, float] = {}
        self._quiet_checked = 0.0
        self._outbox: list[dict[str, Any]] = []
        self._sender: asyncio.Task[None] | None = None
        self._beating = False
        self._published = asyncio.Event()  # set once the outbox is empty and the beat sent
        self._published.set()
        self._wake = asyncio.Event()

    @property
    def enabled(self) -> bool:
        return self.max_age > 0

    def following(self) -> bool:
        """Whether changes made by other processes reach this one now: the bus was heard
        within the last second, and no heartbeating process has gone quiet."""
        if not self.bus.shared or self._heard is None:
            return False
        now = time.monotonic()
        if now - self._heard > SILENCE_SECONDS:
            return False
        if now - self._quiet_checked > QUIET_CHECK_SECONDS:
            self._quiet_checked = now
            self._check_quiet(now)
        return not self._quiet_since

    def _check_quiet(self, now: float) -> None:
        for sender, heard in list(self._beaters.items()):
            if now - heard <= SILENCE_SECONDS:
                continue
            since = self._quiet_since.setdefault(sender, now)
            if now - since > QUIET_SENDER_GRACE_SECONDS:
                # Gone for good, or unable to publish for long: whatever it changed
                # meanwhile is read afresh from now on.
                self._forget_sender(sender)
                self.invalidate(None)

    def _forget_sender(self, sender: str) -> None:
        self._senders.pop(sender, None)
        self._beaters.pop(sender, None)
        self._quiet_since.pop(sender, None)

    def status(self) -> str:
        if not self.enabled:
            return "off"
        if self.following():
            return "ok"
        if not self.bus.shared:
            return (
                "no event bus shared with other processes (no Redis): credentials are "
                f"trusted for {self.fallback_age:g} s at most"
            )
        if self._quiet_since:
            return (
                f"{len(self._quiet_since)} other process(es) went quiet on the event bus: "
                f"credentials are trusted for {self.fallback_age:g} s at most"
            )
        return (
            f"the event bus is silent: credentials are trusted for {self.fallback_age:g} s at most"
        )

    # --- lookups ------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Taken before reading a credential, given back to ``put``."""
        return self._changes

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
        """Keep what was read, unless a change to its user (or everyone) has committed
        since it was read (``generation`` is what ``generation`` said before reading)."""
        if not self.enabled:
            return
        if max(self._all_changed_at, self._changed_at.get(entry.user_id, 0)) > generation:
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
        self._changes += 1
        if users is None or len(self._changed_at) + len(users) > MAX_REMEMBERED_CHANGES:
            self._all_changed_at = self._changes
            self._changed_at.clear()
            self._entries.clear()
            self._by_user.clear()
            return
        for user_id in users:
            self._changed_at[user_id] = self._changes
            for key in list(self._by_user.get(user_id, ())):
                self._drop(key)

    def committed(self, users: frozenset[int] | None) -> None:
        """A transaction of this process committed a change to these users' credentials:
        forget them here now, and tell the other processes."""
        self.invalidate(users)
        if not self.bus.shared:
            return
        if len(self._outbox) >= OUTBOX_MAX:
            self._outbox = [credentials.payload(None)]
        else:
            self._outbox.append(credentials.payload(users))
        self._published.clear()
        self._wake.set()
        self._start_sending()

    def _start_sending(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous script): flush() sends it, if anyone calls it
        if self._sender is None or self._sender.done():
            self._sender = loop.create_task(self._send())

    async def _send(self) -> None:
        """Publish, one message after the other so that their numbers arrive in order:
        the changes waiting, and a heartbeat every HEARTBEAT_SECONDS in an API process
        (elsewhere, one TRAILING_BEAT_SECONDS after the last change). A change that cannot
        be published is tried again, as one change to everyone (its number is spent
        anyway: listeners that hear a later one know they missed something)."""
        next_beat = time.monotonic() + (0.0 if self._beating else TRAILING_BEAT_SECONDS)
        trailing = not self._beating
        warned = False
        while self._outbox or self._beating or trailing:
            now = time.monotonic()
            message: dict[str, Any] | None = None
            if self._outbox:
                message = self._outbox[0]
            elif now >= next_beat:
                message = {"beat": self._beating}
            if message is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.0, next_beat - now))
                continue
            self._sequence += 1
            numbered = {**message, "from": self._me, "seq": self._sequence}
            try:
                await asyncio.wait_for(
                    self.bus.publish(credentials.CHANNEL, numbered), PUBLISH_TIMEOUT_SECONDS
                )
            except Exception as exc:
                if not warned:
                    log.warning("credentials_bus_publish_failed", error=type(exc).__name__)
                    warned = True
                if self._outbox:
                    self._outbox = [credentials.payload(None)]
                await asyncio.sleep(HEARTBEAT_SECONDS)
                continue
            warned = False
            if "beat" in message:
                next_beat = time.monotonic() + HEARTBEAT_SECONDS
                trailing = False
            elif self._outbox and message is self._outbox[0]:
                self._outbox.pop(0)
                if not self._beating:
                    trailing = True
                    next_beat = time.monotonic() + TRAILING_BEAT_SECONDS
            if not self._outbox and not trailing:
                self._published.set()

    async def flush(self) -> None:
        """Publish what is still waiting (before a process ends), for a few seconds at
        most; then stop publishing."""
        if self._outbox or not self._published.is_set():
            self._start_sending()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._published.wait(), FLUSH_SECONDS)
            if self._outbox:
                log.warning("credentials_changes_not_published", waiting=len(self._outbox))
        sender, self._sender = self._sender, None
        if sender is not None and not sender.done():
            sender.cancel()
            with contextlib.suppress(BaseException):
                await sender

    def _hear(self, message: Any) -> None:
        if not isinstance(message, dict):
            return  # not ours
        now = time.monotonic()
        if self._heard is None or now - self._heard > SILENCE_SECONDS:
            self.invalidate(None)  # changes may have been missed meanwhile
        self._heard = now
        sender, number = message.get("from"), message.get("seq")
        if isinstance(sender, str) and isinstance(number, int):
            last = self._senders.get(sender)
            if (last is None and number > 1) or (last is not None and number != last[0] + 1):
                # A message of that sender's was lost (or this process has just begun to
                # listen to it): whatever it said is unknown.
                self.invalidate(None)
            if self._quiet_since.pop(sender, None) is not None:
                self.invalidate(None)  # back after a silence: what it said meanwhile is lost
            if message.get("bye") is True:
                self._forget_sender(sender)
            else:
                self._senders[sender] = (number, now)
                if sender != self._me and (message.get("beat") is True or sender in self._beaters):
                    self._beaters[sender] = now
            if len(self._senders) > 1000:
                for old, (_, heard) in list(self._senders.items()):
                    if old not in self._beaters and now - heard > SENDER_MEMORY_SECONDS:
                        del self._senders[old]
        if "beat" in message or "bye" in message or sender == self._me:
            return
        self.invalidate(credentials.read_payload(message))

    async def follow(self) -> None:
        """Listen to the bus for changes made by other processes, and beat, until
        cancelled; subscribe again after any failure (forgetting everything: what was
        published meanwhile is unknown). When cancelled, say goodbye, so that the others
        do not take this process's silence for trouble."""
        if not self.bus.shared:
            return
        self._beating = True
        try:
            while True:
                try:
                    async with self.bus.subscription(credentials.CHANNEL) as events:
                        self._heard = None
                        self._start_sending()
                        async for message in events:
                            self._hear(message)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("credentials_bus_lost", error=type(exc).__name__)
                await asyncio.sleep(HEARTBEAT_SECONDS)
        finally:
            self._beating = False
            self._sequence += 1
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self.bus.publish(
                        credentials.CHANNEL, {"bye": True, "from": self._me, "seq": self._sequence}
                    ),
                    PUBLISH_TIMEOUT_SECONDS,
                )
