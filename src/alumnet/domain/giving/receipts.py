"""Receipts."""

from __future__ import annotations

from alumnet.persistence.models import Gift
from alumnet.persistence.uow import UnitOfWork


async def queue(uow: UnitOfWork, gift: Gift) -> None:
    """Queue the job that makes a confirmed gift's PDF receipt and e-mails it (to be
    written)."""
    return None
