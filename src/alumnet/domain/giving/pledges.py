"""Pledges and their instalments."""

from __future__ import annotations

from alumnet.persistence.models import Gift
from alumnet.persistence.uow import UnitOfWork


async def match_gift(uow: UnitOfWork, gift: Gift) -> None:
    """Match a gift just confirmed to the instalment of a pledge it pays (to be written)."""
    return None
