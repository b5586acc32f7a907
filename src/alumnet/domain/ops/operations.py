"""Registered GraphQL operations (``alumnet operations register``): documents that clients
run by their SHA-256, and, with ALUMNET_PERSISTED_ONLY, the only ones that run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from alumnet.persistence.db import Reader, upsert
from alumnet.persistence.models import PersistedOperation
from alumnet.persistence.uow import UnitOfWork


@dataclass(frozen=True)
class Registered:
    sha256: str
    names: str
    registered_at: datetime


async def register(uow: UnitOfWork, documents: dict[str, tuple[str, list[str]]]) -> int:
    """Register documents (by SHA-256: text and operation names); how many were new. One
    registered already is left as it is (same hash, same text)."""
    added = 0
    for sha256, (document, names) in documents.items():
        statement = (
            upsert(uow.session, PersistedOperation)
            .values(sha256=sha256, document=document, names=",".join(names)[:500])
            .on_conflict_do_nothing(index_elements=["sha256"])
            .returning(PersistedOperation.sha256)
        )
        if (await uow.session.execute(statement)).first() is not None:
            added += 1
    return added


async def document(reader: Reader, sha256: str) -> str | None:
    """The registered document with this SHA-256, if any."""
    async with reader.connect() as conn:
        found = await conn.execute(
            select(PersistedOperation.document).where(PersistedOperation.sha256 == sha256)
        )
        return found.scalar_one_or_none()


async def is_registered(uow: UnitOfWork, sha256: str) -> bool:
    found = await uow.session.execute(
        select(PersistedOperation.sha256).where(PersistedOperation.sha256 == sha256)
    )
    return found.first() is not None


async def registered(reader: Reader) -> list[Registered]:
    async with reader.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    PersistedOperation.sha256,
                    PersistedOperation.names,
                    PersistedOperation.registered_at,
                ).order_by(PersistedOperation.registered_at, PersistedOperation.sha256)
            )
        ).all()
    return [Registered(r.sha256, r.names, r.registered_at) for r in rows]
