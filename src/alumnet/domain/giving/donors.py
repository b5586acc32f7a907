"""Donors: who gives. A person with an account has one donor row (made the first time they
give or are recorded as giving); an outside donor (a parent, a company's staff, a friend of
the institution) is known by name and e-mail address, one row per address.

Both are found or made race-safe (insert-or-ignore on the unique key, then read), so that
two gifts from a new donor at the same instant make one donor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select, text

from alumnet.domain.errors import DomainError, Problems, check_label
from alumnet.persistence.db import insert_or_ignore, upsert
from alumnet.persistence.models import Donor, User
from alumnet.persistence.uow import UnitOfWork

NAME_MAX = 200
EMAIL_MAX = 320
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class DonorRef:
    """Who gave: exactly one of a user, an existing donor, or an outside donor's name and
    e-mail. Ids are primary keys (-1 for an id that names nothing)."""

    user_id: int | None = None
    donor_id: int | None = None
    name: str | None = None
    email: str | None = None


def email_key(address: str) -> str:
    """An outside donor's address as matched: trimmed and lower-cased (nothing else is
    folded: two addresses that differ are two donors)."""
    return address.strip().lower()


async def for_user(uow: UnitOfWork, user_id: int) -> Donor:
    """The donor row of an active or inactive user, made if they have none; NOT_FOUND if no
    such user."""
    user = await uow.session.get(User, user_id)
    if user is None:
        raise DomainError.of("NOT_FOUND", "No such person.", "userId")
    values = {"user_id": user.id, "name": user.name, "email": user.email, "email_key": None}
    await insert_or_ignore(uow.session, Donor, values, ["user_id"])
    found = await uow.session.execute(select(Donor).where(Donor.user_id == user.id))
    return found.scalar_one()


async def for_outside(uow: UnitOfWork, name: str, email: str) -> Donor:
    """The outside donor with this e-mail address, made with this name if there is none
    (an existing donor keeps the name first recorded)."""
    problems = Problems()
    name = check_label(
        problems, name, field="donorName", max_length=NAME_MAX, min_length=1, label="The name"
    )
    address = (email or "").strip()
    if not EMAIL.match(address) or len(address) > EMAIL_MAX:
        problems.add("INVALID", "Give the donor's e-mail address (name@example.org).",
                     "donorEmail")  # fmt: skip
    problems.raise_if_any()
    key = email_key(address)
    statement = (
        upsert(uow.session, Donor)
        .values(user_id=None, name=name, email=address, email_key=key)
        .on_conflict_do_nothing(index_elements=["email_key"], index_where=text("user_id IS NULL"))
    )
    await uow.session.execute(statement)
    found = await uow.session.execute(
        select(Donor).where(Donor.email_key == key, Donor.user_id.is_(None))
    )
    return found.scalar_one()


def names(ref: DonorRef, donor: Donor) -> bool:
    """Whether ``ref`` names ``donor`` (without making anyone): how a gift sent again under
    its idempotency key is told from another gift under the same key."""
    if ref.user_id is not None:
        return donor.user_id == ref.user_id
    if ref.donor_id is not None:
        return donor.id == ref.donor_id
    return donor.user_id is None and donor.email_key == email_key(ref.email or "")


async def resolve(uow: UnitOfWork, ref: DonorRef) -> Donor:
    """The donor a reference names (made if new); INVALID unless exactly one kind of
    reference is given, NOT_FOUND for an id that names nothing."""
    given = [ref.user_id is not None, ref.donor_id is not None, bool(ref.name or ref.email)]
    if sum(given) != 1:
        raise DomainError.of(
            "INVALID", "Name the donor once: a user, a donor, or an outside donor's name and "
            "e-mail.", "donor",
        )  # fmt: skip
    if ref.user_id is not None:
        return await for_user(uow, ref.user_id)
    if ref.donor_id is not None:
        donor = await uow.session.get(Donor, ref.donor_id)
        if donor is None:
            raise DomainError.of("NOT_FOUND", "No such donor.", "donorId")
        return donor
    return await for_outside(uow, ref.name or "", ref.email or "")
