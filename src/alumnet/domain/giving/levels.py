"""Giving levels ("Founders' Circle", "Leadership Society"): donors whose confirmed giving in a
calendar year, in the level's currency, reaches its minimum. Giving staff define them; a
donor's level in a year is the highest (largest minimum) they reach in any level's currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol, TypeVar

from sqlalchemy import func, select

from alumnet.domain import money
from alumnet.domain.errors import DomainError, Problems, check_label
from alumnet.domain.giving.gifts import check_amount, check_currency
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.persistence.models import GivingLevel
from alumnet.persistence.uow import UnitOfWork

NAME_MAX = 100
# Enough for any office's ladder; the list is read whole with every donor page.
LEVELS_MAX = 100


@dataclass(frozen=True)
class LevelFields:
    """A level as given: ``id`` None makes a new one (a primary key, -1 for one that names
    nothing, changes that one)."""

    name: str
    currency: str
    minimum_yearly: Decimal
    id: int | None = None


def _details(level: GivingLevel) -> dict[str, object]:
    amount = money.major_units(level.min_yearly_minor, level.currency)
    return {"name": level.name, "currency": level.currency, "minimumYearly": str(amount)}


async def save(uow: UnitOfWork, viewer: Viewer, given: LevelFields) -> GivingLevel:
    """Create or change a level (giving staff). Names are unique regardless of case."""
    viewer.require(Permission.GIVING)
    session = uow.session
    level: GivingLevel | None = None
    if given.id is not None:
        level = await session.get(GivingLevel, given.id, with_for_update=True)
        if level is None:
            raise DomainError.of("NOT_FOUND", "No such giving level.", "id")
    problems = Problems()
    name = check_label(problems, given.name or "", field="name", max_length=NAME_MAX,
                       min_length=1, label="The name")  # fmt: skip
    currency = check_currency(problems, given.currency)
    minor = check_amount(problems, given.minimum_yearly, currency, "minimumYearly")
    if name:
        same = select(GivingLevel.id).where(func.lower(GivingLevel.name) == name.lower())
        if level is not None:
            same = same.where(GivingLevel.id != level.id)
        if (await session.execute(same)).first() is not None:
            problems.add("DUPLICATE", "Another giving level has this name.", "name")
    if level is None:
        count = (await session.execute(select(func.count()).select_from(GivingLevel))).scalar()
        if (count or 0) >= LEVELS_MAX:
            problems.add("TOO_MANY", f"There are {LEVELS_MAX} giving levels already.")
    problems.raise_if_any()
    assert minor is not None
    if level is None:
        level = GivingLevel(name=name, currency=currency, min_yearly_minor=minor,
                            created_at=datetime.now(UTC))  # fmt: skip
        session.add(level)
        action = "giving_level.create"
    else:
        level.name, level.currency, level.min_yearly_minor = name, currency, minor
        action = "giving_level.update"
    await session.flush()
    audit.record(uow, action, object_type="GivingLevel", object_ids=[level.id],
                 details=_details(level))  # fmt: skip
    return level


async def remove(uow: UnitOfWork, viewer: Viewer, level_id: int) -> int:
    """Delete a level (giving staff); the id it had. Nothing else refers to a level."""
    viewer.require(Permission.GIVING)
    level = await uow.session.get(GivingLevel, level_id, with_for_update=True)
    if level is None:
        raise DomainError.of("NOT_FOUND", "No such giving level.", "id")
    details = _details(level)
    await uow.session.delete(level)
    await uow.session.flush()
    audit.record(uow, "giving_level.delete", object_type="GivingLevel", object_ids=[level_id],
                 details=details)  # fmt: skip
    return level_id


class Level(Protocol):
    """A level as read (a model or a row)."""

    name: str
    currency: str
    min_yearly_minor: int


L = TypeVar("L", bound=Level)


def level_of(levels: Iterable[L], totals: Mapping[str, int]) -> L | None:
    """The highest level a year's ``totals`` (minor units by currency) reach: the one with
    the largest minimum among those reached (ties: the first by name), or None."""
    reached = [
        lv for lv in levels
        if totals.get(lv.currency, 0) > 0 and totals.get(lv.currency, 0) >= lv.min_yearly_minor
    ]  # fmt: skip
    if not reached:
        return None
    return min(reached, key=lambda lv: (-lv.min_yearly_minor, lv.name))
