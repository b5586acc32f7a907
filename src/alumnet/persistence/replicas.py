"""Read replicas (ALUMNET_DATABASE_REPLICA_URLS): which replica a request may read from,
and who must read from the primary.

Each replica has a small pool of its own and a health state, checked at most every
``check_every`` seconds by the request that finds it stale (never a statement per request):
unreachable (skipped for ``DOWN_FOR`` seconds, then tried again), not in recovery (promoted,
or not a replica at all: never read), or its replay lag in seconds. A replica lagging more
than ``replica_max_lag`` is not read. Requests take the healthy replicas in turn.

The lag is measured against the primary, not taken from the replica's word: each check
first notes where the primary's WAL ends (flushed, so what a replica can have), then asks
the replica how far it has replayed. Replayed up to what the primary had a moment ago: lag
0. Else the lag is the time since the last check at which the primary's WAL ended at or
before the replica's position: the replica holds everything written until then, perhaps
more (an upper bound, to within a check). A replica cut off from the primary (its WAL
receiver stopped, a network split) has replayed all it received and would say it is not
behind at all; measured this way, it is behind from the primary's first write on.

A viewer who wrote (a committed transaction they were the actor of or that audited an
action of theirs, or a mutation) reads from the primary for ``read_your_writes_seconds``
afterwards, in every API process: the mark is a Redis key with that time to live, or kept
in this process without Redis. The audit counts for the writes made before anyone is
signed in: signing in, registering, resetting a password, confirming an e-mail address
each record an action of the user they concern (``audited_users``).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import object_session

from alumnet.observability import RareWarning, get_logger
from alumnet.persistence.db import Database
from alumnet.persistence.models import AuditEvent

log = get_logger(__name__)

# How long a replica that could not be reached is skipped before it is tried again.
DOWN_FOR = 3.0
# How long a health check may take; longer counts as unreachable.
CHECK_TIMEOUT = 2.0
# How long a connection to a replica may take to open (psycopg's connect_timeout, whole
# seconds), unless its URL says otherwise: a replica that does not answer costs a request
# this long once, and then is skipped.
CONNECT_TIMEOUT_SECONDS = 2
# How long Redis may take to answer whether a viewer wrote lately; past it (or on an
# error), the viewer reads from the primary.
REDIS_TIMEOUT = 0.25

# WAL positions as byte offsets: how far the primary has flushed WAL (a replica never
# receives more), and how far a replica has replayed it.
_PRIMARY_WAL = text("SELECT pg_wal_lsn_diff(pg_current_wal_flush_lsn(), '0/0')")
_HEALTH = text("SELECT pg_is_in_recovery(), pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')")


# Where a session keeps the users whose actions it has audited (``audited_users``).
_AUDITED = "alumnet.audited_users"


@event.listens_for(AuditEvent, "before_insert")
def _note_audited(mapper: object, connection: object, target: AuditEvent) -> None:
    session = object_session(target)
    if session is not None and target.actor_id is not None:
        session.info.setdefault(_AUDITED, set()).add(target.actor_id)


def audited_users(session: AsyncSession) -> set[int]:
    """The users whose actions the session's transaction audited (written so far): the
    writers of a transaction that had no actor, such as a sign-in."""
    return set(session.info.get(_AUDITED, ()))


def replica_name(url: str) -> str:
    """How a replica is named in /readyz and logs: host:port/database, never credentials."""
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def _with_connect_timeout(url: str) -> str:
    parsed = make_url(url)
    if "connect_timeout" in parsed.query:
        return url
    parsed = parsed.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_SECONDS)})
    return parsed.render_as_string(hide_password=False)


@dataclass
class Replica:
    """One replica: its pool and what its last health check found."""

    name: str
    database: Database
    checked_at: float = float("-inf")
    # Until when it is skipped (monotonic), after it could not be reached.
    down_until: float = 0.0
    reachable: bool = False
    in_recovery: bool = True
    # Seconds behind the primary, at most; None: not known yet (behind the primary at its
    # first check), or the primary did not say where its WAL ends.
    lag: float | None = None
    # (monotonic time, the primary's WAL end then) at each check, oldest first.
    primary_wal: deque[tuple[float, int]] = field(default_factory=deque)
    checking: asyncio.Lock = field(default_factory=asyncio.Lock)

    def usable(self, max_lag: float) -> bool:
        return self.reachable and self.in_recovery and self.lag is not None and self.lag <= max_lag

    def status(self, max_lag: float) -> str:
        if not self.reachable:
            return "unreachable: reads go to the primary"
        if not self.in_recovery:
            return "not a replica (not in recovery): reads go to the primary"
        if self.lag is None:
            return "lagging (unknown): reads go to the primary"
        if self.lag > max_lag:
            return f"lagging ({self.lag:.1f} s): reads go to the primary"
        return f"ok (lag {self.lag:.1f} s)"


class RecentWriters:
    """Who wrote in the last ``seconds``: Redis keys with that time to live (every API
    process sees them), or this process's memory without Redis."""

    def __init__(self, seconds: float, redis: Redis | None, prefix: str) -> None:
        self.seconds = seconds
        self.redis = redis
        self.prefix = prefix
        self._until: dict[int, float] = {}
        self._unreachable = RareWarning(log, "recent_writers_unreachable")

    def _key(self, user_id: int) -> str:
        return f"{self.prefix}:wrote:{user_id}"

    async def wrote(self, user_id: int) -> None:
        """Never raises: it runs after a commit, which must not look failed for it."""
        if self.redis is None:
            now = time.monotonic()
            if len(self._until) > 10_000:
                self._until = {u: t for u, t in self._until.items() if t > now}
            self._until[user_id] = now + self.seconds
            return
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                await self.redis.set(self._key(user_id), b"1", px=int(self.seconds * 1000))
        except Exception as exc:
            self._unreachable(exc)

    async def recently(self, user_id: int) -> bool:
        """Whether they wrote lately; when Redis cannot say, yes (the primary is never
        wrong)."""
        if self.redis is None:
            return self._until.get(user_id, 0.0) > time.monotonic()
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                return bool(await self.redis.exists(self._key(user_id)))
        except Exception as exc:
            self._unreachable(exc)
            return True


class Replicas:
    """The process's replicas (none in workers and the CLI, which read the primary; they
    still mark who wrote) and who wrote lately."""

    def __init__(
        self,
        urls: tuple[str, ...],
        *,
        primary: Database,
        max_lag: float,
        writers: RecentWriters,
        check_every: float = 1.0,
        pool_size: int = 10,
        pool_timeout: float = 30.0,
        statement_timeout: float | None = None,
    ) -> None:
        """``check_every``: how long a replica's health, once checked, is trusted
        (config.REPLICA_CHECK_SECONDS: the read-your-writes window must outlast the maximum
        lag plus this)."""
        self.primary = primary
        self.check_every = check_every
        self.max_lag = max_lag
        self.writers = writers
        self.replicas = [
            Replica(
                replica_name(url),
                Database(
                    _with_connect_timeout(url),
                    pool_size=pool_size,
                    pool_timeout=pool_timeout,
                    statement_timeout=statement_timeout,
                    # Its own label in /metrics: alumnet_db_pool_*{pool="replica host:port/db"}.
                    name=f"replica {replica_name(url)}",
                ),
            )
            for url in urls
        ]
        self._turn = itertools.count()

    async def wrote(self, user_id: int) -> None:
        await self.writers.wrote(user_id)

    async def choose(self, reader_id: int | None) -> Database | None:
        """The replica this reader's request may read from; None: the primary (a recent
        writer, or no replica fit to read)."""
        if not self.replicas:
            return None
        if reader_id is not None and await self.writers.recently(reader_id):
            return None
        start = next(self._turn)
        count = len(self.replicas)
        for step in range(count):
            replica = self.replicas[(start + step) % count]
            await self._refresh(replica)
            if replica.usable(self.max_lag):
                return replica.database
        return None

    def failed(self, database: Database, exc: BaseException) -> None:
        """A connection to this replica failed: skip it for a while."""
        for replica in self.replicas:
            if replica.database is database:
                self._down(replica, exc)

    def _down(self, replica: Replica, exc: BaseException) -> None:
        now = time.monotonic()
        if replica.reachable or now >= replica.down_until:
            log.warning("replica_unreachable", replica=replica.name, error=type(exc).__name__)
        replica.reachable = False
        replica.down_until = now + DOWN_FOR
        replica.checked_at = now

    async def _refresh(self, replica: Replica) -> None:
        now = time.monotonic()
        if not replica.reachable and now < replica.down_until:
            return
        if now - replica.checked_at < self.check_every:
            return
        if replica.checking.locked() and replica.checked_at > float("-inf"):
            return  # another request is checking it: what was found last will do
        async with replica.checking:
            if time.monotonic() - replica.checked_at < self.check_every:
                return
            await self._check(replica)

    async def _check(self, replica: Replica) -> None:
        try:
            # Where the primary's WAL ends, before the replica says how far it has replayed.
            async with asyncio.timeout(CHECK_TIMEOUT), self.primary.connect() as conn:
                primary_wal = int((await conn.execute(_PRIMARY_WAL)).scalar_one())
        except Exception as exc:
            primary_wal = None
            log.warning("replica_check_primary_failed", error=type(exc).__name__)
        asked = time.monotonic()
        try:
            async with asyncio.timeout(CHECK_TIMEOUT), replica.database.connect() as conn:
                row = (await conn.execute(_HEALTH)).one()
        except Exception as exc:
            self._down(replica, exc)
            return
        was = replica.status(self.max_lag)
        replica.reachable = True
        replica.in_recovery = bool(row[0])
        replayed = None if row[1] is None else int(row[1])
        replica.lag = None
        if primary_wal is not None and replayed is not None:
            replica.lag = self._lag(replica, asked, primary_wal, replayed)
        replica.checked_at = time.monotonic()
        now = replica.status(self.max_lag)
        if now.split(" ", 1)[0] != was.split(" ", 1)[0]:
            log.info("replica_status", replica=replica.name, status=now)

    def _lag(self, replica: Replica, asked: float, primary_wal: int, replayed: int) -> float | None:
        """At most how many seconds the replica is behind: 0 when it has replayed what the
        primary had when asked, else the time since the last check that found the primary's
        WAL ending at or before what the replica has replayed (None: no such check kept)."""
        history = replica.primary_wal
        history.append((asked, primary_wal))
        # Kept long enough to say "more than the maximum lag" (a replica behind for longer
        # is not read whatever the exact figure), and no longer.
        keep_from = asked - self.max_lag - 5 * self.check_every
        while len(history) > 1 and history[0][0] < keep_from:
            history.popleft()
        if replayed >= primary_wal:
            return 0.0
        now = time.monotonic()
        for when, wal in reversed(history):
            if wal <= replayed:
                return now - when
        oldest = history[0][0]
        # Behind every position kept: behind at least since the oldest, which is a verdict
        # only once that goes back past the maximum lag.
        return now - oldest if now - oldest > self.max_lag else None

    async def status(self) -> dict[str, str]:
        """Each replica's state, as /readyz says it (checked if stale)."""
        for replica in self.replicas:
            await self._refresh(replica)
        return {r.name: r.status(self.max_lag) for r in self.replicas}

    async def close(self) -> None:
        for replica in self.replicas:
            await replica.database.dispose()
