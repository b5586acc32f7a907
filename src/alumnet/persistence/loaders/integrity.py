"""Batch loaders for integrity and outreach: one statement per batch of keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from alumnet.persistence.db import Reader
from alumnet.persistence.loaders.common import by_id, grouped
from alumnet.persistence.models import (
    AccessChange,
    Appeal,
    CallListEntry,
    IntegrityDecision,
    IntegrityFlag,
)


async def _rows(
    db: Reader, model: Any, key: Any, ids: Sequence[int], order: Any
) -> list[list[Any]]:
    query = select(model.__table__).where(key.in_(list(ids))).order_by(order)
    return await grouped(db, query, key.key, ids)


async def flags_by_enrollment_id(db: Reader, ids: Sequence[int]) -> list[list[Any]]:
    return await _rows(db, IntegrityFlag, IntegrityFlag.enrollment_id, ids, IntegrityFlag.id.desc())


async def decisions_by_enrollment_id(db: Reader, ids: Sequence[int]) -> list[list[Any]]:
    return await _rows(
        db, IntegrityDecision, IntegrityDecision.enrollment_id, ids, IntegrityDecision.id.desc()
    )


async def access_changes_by_enrollment_id(db: Reader, ids: Sequence[int]) -> list[list[Any]]:
    return await _rows(db, AccessChange, AccessChange.enrollment_id, ids, AccessChange.id.desc())


async def appeals_by_decision_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    groups = await _rows(db, Appeal, Appeal.decision_id, ids, Appeal.id)
    return [g[0] if g else None for g in groups]


async def entries_by_call_list_id(db: Reader, ids: Sequence[int]) -> list[list[Any]]:
    return await _rows(db, CallListEntry, CallListEntry.call_list_id, ids, CallListEntry.priority)


async def of_model_by_id(db: Reader, model: Any, ids: Sequence[int]) -> list[Any]:
    return await by_id(db, [model.__table__], model.id, ids)
