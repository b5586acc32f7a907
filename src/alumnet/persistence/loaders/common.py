"""What every context's batch loaders share: rows by id, and rows grouped by a parent."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from alumnet.persistence.db import Reader


async def by_id(
    db: Reader, columns: Sequence[Any], id_column: Any, ids: Sequence[int]
) -> list[Any]:
    """One row per id (None where there is none), in the order asked, in one statement."""
    return await rows_by_id(db, select(*columns).where(id_column.in_(list(ids))), ids)


async def rows_by_id(db: Reader, query: Any, ids: Sequence[int]) -> list[Any]:
    """The rows of ``query`` (which selects ``id``) in the order of ``ids``."""
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    found = {row.id: row for row in rows}
    return [found.get(i) for i in ids]


async def grouped(db: Reader, query: Any, key: str, ids: Sequence[int]) -> list[list[Any]]:
    """The rows of ``query`` grouped by their ``key`` attribute, one list per id asked."""
    async with db.connect() as conn:
        rows = (await conn.execute(query)).all()
    found: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        found[getattr(row, key)].append(row)
    return [found.get(i, []) for i in ids]
