"""Heavy aggregates, cached: a value is kept under its name, its key and the generations of
the tables it was computed from, so that a committed change to any of those tables makes
it unreachable at once (nothing is served stale after a change).

(First version: computes every time; the cache itself is being built.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any

import orjson

from alumnet.domain.runtime import Runtime


async def cached(
    rt: Runtime,
    name: str,
    key: Iterable[Hashable],
    depends_on: Iterable[str],
    compute: Callable[[], Awaitable[Any]],
) -> Any:
    """The value of ``compute()`` for ``name`` and ``key`` (include whatever the answer
    depends on: the viewer or their reach, the mission, the range, today's date).
    ``depends_on`` names the tables it reads (``"attendance_days"``, ``"submissions"``…).
    ``compute`` must return plain JSON values (dicts, lists, strings, numbers, None):
    what comes back from the cache is decoded JSON, not the objects it was made of."""
    # Round-tripped as the cache will, so that what callers get never depends on a hit.
    return orjson.loads(orjson.dumps(await compute()))
