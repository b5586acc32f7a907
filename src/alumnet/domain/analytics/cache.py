"""Heavy aggregates, cached: a value is kept under its name, its key and the generations of
the tables it was computed from, so that a committed change to any of those tables makes
it unreachable at once (nothing is served stale after a change).

How it holds (``persistence/written.py``, ``persistence/aggregates.py``): every committed
transaction that wrote a table moves that table's generation on after its commit and
before the commit returns, so before the response of the request that made the change.
A lookup reads the generations of the tables asked about *before* computing, and what is
computed is kept under those: a value computed from data read before a concurrent commit
is never kept under the generation after it. Values live in Redis when configured (every
API process and worker shares them and their generations), in the process otherwise, for
``ALUMNET_ANALYTICS_CACHE_SECONDS`` (300; 0 turns the cache off). Redis unreachable: the
value is computed, as without a cache (said once in the log), and the changes committed
meanwhile are owed and made once it is back (``persistence/aggregates.py`` says how, and
what a process killed meanwhile leaves). ``forget`` (``alumnet cache clear``, and after
``alumnet migrate``) makes every value unreachable.

Two requests of one process missing the same value under the same generations compute it
once (the second waits for the first). Outside production, what a computation reads is
compared with its ``depends_on``: a table read but not named would let a change to it go
unseen, so in tests it is an error (``UndeclaredDependency``) and in development a logged
one.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import orjson
from prometheus_client import Counter

from alumnet.domain.runtime import Runtime
from alumnet.observability import get_logger
from alumnet.persistence.aggregates import AggregateStore, tables_of
from alumnet.persistence.models import Base
from alumnet.persistence.written import READING

log = get_logger(__name__)

# Larger values (encoded) are computed every time rather than kept.
MAX_VALUE_BYTES = 1024 * 1024
# Names counted under their own label in /metrics; past this many, "other".
MAX_LABELLED_NAMES = 100

LOOKUPS = Counter(
    "alumnet_analytics_cache_lookups_total",
    "Cached aggregates asked for, by name and outcome: hit, miss (computed and kept), "
    "shared (computed once for requests asking at the same time), too_large (computed, "
    "not kept), unavailable (Redis unreachable: computed).",
    ["name", "outcome"],
)

_labelled: set[str] = set()
# Computations under way in this process: (store, key, stamp) → their encoded value, or
# None if they failed (those waiting then compute for themselves).
_flights: dict[tuple[int, bytes, str], asyncio.Future[bytes | None]] = {}


class UndeclaredDependency(RuntimeError):
    """A cached computation read a table its ``depends_on`` does not name."""


async def cached(
    rt: Runtime,
    name: str,
    key: Iterable[Hashable],
    depends_on: Iterable[str],
    compute: Callable[[], Awaitable[Any]],
    *,
    at_most: float | None = None,
) -> Any:
    """The value of ``compute()`` for ``name`` and ``key`` (include whatever the answer
    depends on: the viewer or their reach, the mission, the range, today's date).
    ``depends_on`` names the tables it reads (``"attendance_days"``, ``"submissions"``…).
    ``compute`` must return plain JSON values (dicts, lists, strings, numbers, None):
    what comes back from the cache is decoded JSON, not the objects it was made of.

    ``name`` is a fixed string per figure (it labels /metrics). ``key``'s parts are plain
    values: None, booleans, numbers, strings, dates and times, enums, UUIDs, and tuples,
    lists, sets, mappings and dataclasses of them (a ``Viewer``, a ``DateRange``); anything
    else is a TypeError, as a value without a stable form could mix two viewers' answers.
    An unknown table in ``depends_on`` is a ValueError. ``at_most``: keep it no longer than
    this many seconds (a key that holds the minute is of no use after it)."""
    tables = _checked_tables(name, depends_on)
    outer = READING.get()
    if outer is not None:
        # Inside another cached computation: what this value depends on, that one does too.
        outer.update(tables)
    store: AggregateStore | None = rt.aggregates
    seconds = rt.settings.analytics_cache_seconds
    if at_most is not None:
        seconds = min(seconds, at_most)
    if store is None or seconds <= 0:
        return orjson.loads(await _computed(rt, name, tables, compute))
    identity = _identity(name, key)
    label = _label(name)
    found = await store.lookup(identity, tables)
    if found is None:
        LOOKUPS.labels(name=label, outcome="unavailable").inc()
        return orjson.loads(await _computed(rt, name, tables, compute))
    if found.value is not None:
        LOOKUPS.labels(name=label, outcome="hit").inc()
        return orjson.loads(found.value)
    flight = (id(store), identity, found.stamp)
    running = _flights.get(flight)
    if running is not None:
        shared = await asyncio.shield(running)
        if shared is not None:
            LOOKUPS.labels(name=label, outcome="shared").inc()
            return orjson.loads(shared)
    # First to miss it here (or the first failed): compute, and share with those who ask
    # meanwhile under the same generations.
    mine: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
    if running is None:
        _flights[flight] = mine
    outcome: bytes | None = None
    try:
        outcome = await _computed(rt, name, tables, compute)
    finally:
        if _flights.get(flight) is mine:
            del _flights[flight]
        mine.set_result(outcome)
    data = outcome
    if len(data) > MAX_VALUE_BYTES:
        LOOKUPS.labels(name=label, outcome="too_large").inc()
    else:
        LOOKUPS.labels(name=label, outcome="miss").inc()
        await store.keep(identity, tables, found.stamp, data, seconds)
    return orjson.loads(data)


# How long `forget` keeps trying to reach Redis.
FORGET_SECONDS = 5.0


async def forget(rt: Runtime) -> bool:
    """Make every cached value unreachable: after writes alumnet did not make (a restore,
    psql, a migration), which no generation records (``alumnet cache clear``). False when
    the shared store (Redis) could not be reached within ``FORGET_SECONDS``."""
    if rt.aggregates is None:
        return True
    await rt.aggregates.forget()
    return await rt.aggregates.settle(FORGET_SECONDS)


async def _computed(
    rt: Runtime, name: str, tables: tuple[str, ...], compute: Callable[[], Awaitable[Any]]
) -> bytes:
    """``compute()``'s value, encoded; outside production, checked against its tables."""
    if rt.settings.is_production:
        return orjson.dumps(await compute())
    reading: set[str] = set()
    token = READING.set(reading)
    try:
        value = await compute()
    finally:
        READING.reset(token)
    undeclared = sorted((reading & _known_tables()) - set(tables))
    if undeclared:
        message = (
            f"cached({name!r}) read {', '.join(undeclared)}, not in its depends_on: a change "
            "there would not reach the cached value"
        )
        if rt.settings.env == "test":
            raise UndeclaredDependency(message)
        log.error("aggregates_undeclared_dependency", name=name, tables=undeclared)
    return orjson.dumps(value)


_known: frozenset[str] = frozenset()


def _known_tables() -> frozenset[str]:
    global _known
    if not _known:
        _known = frozenset(Base.metadata.tables)
    return _known


def _checked_tables(name: str, depends_on: Iterable[str]) -> tuple[str, ...]:
    if isinstance(depends_on, str):
        depends_on = (depends_on,)
    tables = tables_of(depends_on)
    unknown = [t for t in tables if t not in _known_tables()]
    if unknown:
        raise ValueError(f"cached({name!r}) depends on unknown tables: {', '.join(unknown)}")
    return tables


def _label(name: str) -> str:
    if name in _labelled:
        return name
    if len(_labelled) < MAX_LABELLED_NAMES:
        _labelled.add(name)
        return name
    return "other"


def _identity(name: str, key: Iterable[Hashable]) -> bytes:
    """``name`` and ``key`` as bytes that are the same in every process for equal keys and
    differ for different ones (typed, length-prefixed; sets and mappings in sorted order)."""
    out: list[bytes] = []
    _encode(name, out, name)
    for part in key:
        _encode(part, out, name)
    return b"".join(out)


def _encode(value: Any, out: list[bytes], name: str) -> None:
    if value is None:
        out.append(b"N")
    elif isinstance(value, bool):
        out.append(b"T" if value else b"F")
    elif isinstance(value, Enum):
        _text(b"E", f"{type(value).__module__}.{type(value).__qualname__}.{value.name}", out)
    elif isinstance(value, int):
        _text(b"i", str(value), out)
    elif isinstance(value, float):
        _text(b"f", repr(value), out)
    elif isinstance(value, str):
        _text(b"s", value, out)
    elif isinstance(value, bytes):
        out.append(b"b%d:" % len(value) + value)
    elif isinstance(value, Decimal):
        _text(b"D", str(value), out)
    elif isinstance(value, datetime):
        _text(b"t", value.isoformat(), out)
    elif isinstance(value, date):
        _text(b"d", value.isoformat(), out)
    elif isinstance(value, time):
        _text(b"h", value.isoformat(), out)
    elif isinstance(value, timedelta):
        _text(b"p", repr(value.total_seconds()), out)
    elif isinstance(value, UUID):
        _text(b"u", str(value), out)
    elif isinstance(value, tuple | list):
        out.append(b"(")
        for item in value:
            _encode(item, out, name)
        out.append(b")")
    elif isinstance(value, set | frozenset):
        out.append(b"{")
        out.extend(sorted(_encoded(item, name) for item in value))
        out.append(b"}")
    elif isinstance(value, Mapping):
        out.append(b"<")
        out.extend(sorted(_encoded(k, name) + _encoded(v, name) for k, v in value.items()))
        out.append(b">")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _text(b"@", f"{type(value).__module__}.{type(value).__qualname__}", out)
        for field in dataclasses.fields(value):
            _text(b"=", field.name, out)
            _encode(getattr(value, field.name), out, name)
        out.append(b"@")
    else:
        raise TypeError(
            f"cached({name!r}): a key part of type {type(value).__name__} has no stable "
            "form; pass plain values (ids, dates, strings, enums, tuples or dataclasses)"
        )


def _encoded(value: Any, name: str) -> bytes:
    out: list[bytes] = []
    _encode(value, out, name)
    return b"".join(out)


def _text(tag: bytes, text: str, out: list[bytes]) -> None:
    raw = text.encode("utf-8", "surrogatepass")
    out.append(tag + b"%d:" % len(raw) + raw)
