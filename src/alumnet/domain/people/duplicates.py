"""Likely duplicate people, found by a job (nightly, or on demand) for an administrator to
merge or dismiss.

Two active accounts are likely the same person when their e-mail addresses are the same
once letter case, dots and ``+tags`` in the local part are ignored; or when their names
are alike (trigram similarity of at least 0.6 on PostgreSQL, the same words in any order
and case on SQLite) and they share a graduation year or a phone number.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, literal, select, update
from sqlalchemy.orm import aliased

from alumnet.domain.errors import DomainError
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.runtime import Runtime
from alumnet.persistence.db import insert_or_ignore
from alumnet.persistence.models import DuplicateCandidate, User
from alumnet.persistence.uow import UnitOfWork

FIND_JOB = "people.find_duplicates"
NAME_SIMILARITY = 0.6


def email_key(address: str) -> str:
    local, _, domain = address.lower().partition("@")
    return f"{local.split('+', 1)[0].replace('.', '')}@{domain}"


def name_key(name: str) -> str:
    return " ".join(sorted(re.findall(r"[^\W_]+", name.lower())))


async def find(rt: Runtime) -> dict[str, Any]:
    """Record every likely pair not known yet; returns how many were found and added."""
    pairs: dict[tuple[int, int], set[str]] = defaultdict(set)
    async with rt.database.connect() as conn:
        people = (
            await conn.execute(
                select(User.id, User.email, User.name, User.phone, User.graduation_year).where(
                    User.status == "active"
                )
            )
        ).all()
        by_email: dict[str, list[int]] = defaultdict(list)
        for person in people:
            by_email[email_key(person.email)].append(person.id)
        for ids in by_email.values():
            _pairs(pairs, ids, "same e-mail address")
        by_phone: dict[str, list[int]] = defaultdict(list)
        by_name: dict[tuple[str, int], list[int]] = defaultdict(list)
        for person in people:
            if person.phone:
                by_phone[re.sub(r"\D", "", person.phone)].append(person.id)
        names = {p.id: p.name for p in people}
        for ids in by_phone.values():
            for a, b in _combinations(ids):
                if _alike(names[a], names[b]):
                    pairs[(a, b)].add("similar name, same phone")
        if conn.dialect.name == "postgresql":
            left, right = aliased(User), aliased(User)
            # For each person, the trigram index finds the alike names (a nested loop of
            # index probes, not a comparison of every pair in a year).
            alike = (
                select(right.id.label("other"))
                .where(
                    right.name.op("%")(left.name),
                    right.id > left.id,
                    right.graduation_year == left.graduation_year,
                    right.status == "active",
                    func.similarity(left.name, right.name) >= NAME_SIMILARITY,
                )
                .lateral()
            )
            similar = await conn.execute(
                select(left.id, alike.c.other)
                .join(alike, literal(True))
                .where(left.status == "active", left.graduation_year.is_not(None))
            )
            for x, y in similar.all():
                pairs[(x, y)].add("similar name, same graduation year")
        else:
            for person in people:
                if person.graduation_year is not None:
                    by_name[(name_key(person.name), person.graduation_year)].append(person.id)
            for ids in by_name.values():
                _pairs(pairs, ids, "similar name, same graduation year")
    added = 0
    async with rt.transaction() as uow:
        for (x, y), reasons in pairs.items():
            added += await insert_or_ignore(
                uow.session, DuplicateCandidate,
                {"user_a_id": x, "user_b_id": y, "reasons": sorted(reasons), "status": "open",
                 "found_at": datetime.now(UTC)},
                ["user_a_id", "user_b_id"],
            )  # fmt: skip
    return {"found": len(pairs), "added": added}


def _alike(a: str, b: str) -> bool:
    left, right = set(name_key(a).split()), set(name_key(b).split())
    return bool(left) and len(left & right) / max(len(left), len(right)) >= 0.5


def _combinations(ids: list[int]) -> list[tuple[int, int]]:
    ordered = sorted(set(ids))
    return [(x, y) for i, x in enumerate(ordered) for y in ordered[i + 1 :]]


def _pairs(pairs: dict[tuple[int, int], set[str]], ids: list[int], reason: str) -> None:
    for pair in _combinations(ids):
        pairs[pair].add(reason)


async def dismiss(uow: UnitOfWork, viewer: Viewer, candidate_id: int) -> DuplicateCandidate:
    viewer.require(Permission.USERS_MANAGE)
    candidate = await uow.session.get(DuplicateCandidate, candidate_id)
    if candidate is None:
        raise DomainError.of("NOT_FOUND", "No such candidate.", "id")
    candidate.status = "dismissed"
    audit.record(
        uow, "duplicate.dismiss", object_type="DuplicateCandidate", object_ids=[candidate_id]
    )
    return candidate


async def resolve_pair(uow: UnitOfWork, keep: int, merged: int) -> None:
    """On a merge: the pair is merged; other candidates of the merged account go."""
    low, high = sorted((keep, merged))
    pair = and_(DuplicateCandidate.user_a_id == low, DuplicateCandidate.user_b_id == high)
    await uow.session.execute(update(DuplicateCandidate).where(pair).values(status="merged"))
    await uow.session.execute(
        delete(DuplicateCandidate).where(
            ~pair,
            (DuplicateCandidate.user_a_id == merged) | (DuplicateCandidate.user_b_id == merged),
        )
    )
