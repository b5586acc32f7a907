"""Merging two accounts of one person: everything of the merged account moves onto the
kept one, in one transaction, audited.

Every column that refers to a user is found from the schema itself, so tables added
later are merged too. Where the kept account already has the same thing (a role, an
enrolment in the same mission, a follow), the merged account's copy is dropped and
counted; the merged account's sign-ins and tokens end; conversations with the same
person are joined into one; the merged account is closed and its e-mail address freed.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, UniqueConstraint, delete, exists, func, select, update
from sqlalchemy.sql import Select

from alumnet.domain.community import erasure as community_erasure
from alumnet.domain.errors import DomainError
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.people.duplicates import resolve_pair
from alumnet.domain.people.profiles import RECORD_FIELDS, refresh_graduation_year
from alumnet.persistence.models import (
    Base,
    Conversation,
    ConversationMember,
    Message,
    OneTimeToken,
    PersonalAccessToken,
    Profile,
    Session,
    User,
)
from alumnet.persistence.uow import UnitOfWork

# Handled on their own before the generic move.
SPECIAL = {"conversations", "conversation_members", "profiles", "sessions",
           "personal_access_tokens", "refresh_tokens", "one_time_tokens",
           "duplicate_candidates"}  # fmt: skip
# Tables of pairs of people: a pair of the two merged accounts means nothing once merged.
PAIRS = {"follows", "blocks", "profile_views"}


def user_columns() -> list[tuple[Table, Any]]:
    """Every (table, column) with a foreign key to users.id."""
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if any(fk.column.table.name == "users" for fk in column.foreign_keys):
                found.append((table, column))
    return found


async def merge(uow: UnitOfWork, viewer: Viewer, keep_id: int, merged_id: int) -> User:
    viewer.require(Permission.USERS_MANAGE)
    if keep_id == merged_id:
        raise DomainError.of("INVALID", "Choose two different people.", "mergeId")
    keep = await uow.session.get(User, keep_id, with_for_update=True)
    merged = await uow.session.get(User, merged_id, with_for_update=True)
    if keep is None or keep.status == "deleted":
        raise DomainError.of("NOT_FOUND", "No such person to keep.", "keepId")
    if merged is None or merged.status == "deleted":
        raise DomainError.of("NOT_FOUND", "No such person to merge.", "mergeId")
    moved: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    session = uow.session
    for model in (PersonalAccessToken, OneTimeToken, Session):  # refresh tokens go with sessions
        result = await session.execute(delete(model).where(model.user_id == merged_id))
        dropped[model.__tablename__] += _count(result)
    await _merge_profiles(uow, keep_id, merged_id, dropped)
    await _merge_conversations(uow, keep_id, merged_id, moved, dropped)
    await resolve_pair(uow, keep_id, merged_id)
    for table, column in user_columns():
        if table.name in SPECIAL:
            continue
        if table.name in PAIRS:
            # A row about the two of them (keep follows merged) would point at one person.
            for other in _user_columns_of(table):
                if other is not column:
                    result = await session.execute(
                        delete(table).where(column == merged_id, other == keep_id)
                    )
                    dropped[table.name] += _count(result)
        for unique in _uniques_with(table, column):
            others = [c for c in unique if c is not column]
            twin = table.alias("twin")
            clash = exists().where(
                twin.c[column.name] == keep_id,
                *[twin.c[c.name] == c for c in others],
            )
            if any(c.name == "client_id" for c in others):
                # The same idempotency key used by both accounts: keep both rows, without
                # the merged one's key.
                await session.execute(
                    update(table).where(column == merged_id, clash).values(client_id=None)
                )
                continue
            result = await session.execute(delete(table).where(column == merged_id, clash))
            dropped[table.name] += _count(result)
        result = await session.execute(
            update(table).where(column == merged_id).values({column.name: keep_id})
        )
        moved[table.name] += _count(result)
    # Both liked the same post or comment: one like was dropped above, and its count with it.
    await community_erasure.recount_likes_of(uow, keep_id)
    keep_user = await session.get(User, keep_id)
    if keep_user is not None and keep_user.staff_graduation_year is None:
        keep_user.staff_graduation_year = merged.staff_graduation_year
    merged.status = "deleted"
    # The closed account keeps nothing personal: it all lives on the kept account now.
    merged.email = merged.email_lower = f"merged-{merged_id}@merged.invalid"
    merged.name = f"Merged into {keep_id}"
    merged.phone = None
    merged.password_hash = None
    merged.updated_at = datetime.now(UTC)
    await session.flush()
    await refresh_graduation_year(uow, keep_id)
    audit.record(
        uow, "user.merge", object_type="User", object_ids=[keep_id, merged_id],
        details={"kept": keep_id, "merged": merged_id, "moved": dict(moved),
                 "dropped": dict(dropped)},
    )  # fmt: skip
    return keep


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _uniques_with(table: Table, column: Any) -> list[list[Any]]:
    keys = [list(table.primary_key.columns)] if table.primary_key is not None else []
    keys += [list(c.columns) for c in table.constraints if isinstance(c, UniqueConstraint)]
    keys += [list(i.columns) for i in table.indexes if i.unique]
    return [k for k in keys if any(c is column for c in k)]


def _user_columns_of(table: Table) -> list[Any]:
    return [
        c for c in table.columns if any(fk.column.table.name == "users" for fk in c.foreign_keys)
    ]


async def _merge_profiles(
    uow: UnitOfWork, keep_id: int, merged_id: int, dropped: Counter[str]
) -> None:
    """The kept profile keeps its values and takes the merged one's where it has none."""
    session = uow.session
    theirs = await session.get(Profile, merged_id)
    if theirs is None:
        return
    mine = await session.get(Profile, keep_id)
    if mine is None:
        await session.execute(
            update(Profile).where(Profile.user_id == merged_id).values(user_id=keep_id)
        )
        session.expunge(theirs)
        return
    filled = set()
    for column in Profile.__table__.columns:
        name = column.key
        if name in ("user_id", "search_basic", "search_all", "search_name", "search_work",
                    "student_number"):  # fmt: skip
            continue
        if getattr(mine, name) is None and getattr(theirs, name) is not None:
            setattr(mine, name, getattr(theirs, name))
            filled.add(name)
    if filled & set(RECORD_FIELDS) or (
        theirs.student_number is not None and mine.student_number is None
    ):
        # The record now holds what its verification did not see.
        mine.record_status, mine.record_note = "unverified", None
    number = theirs.student_number
    await session.delete(theirs)
    await session.flush()
    if mine.student_number is None and number is not None:
        mine.student_number = number
    dropped["profiles"] += 1


async def _merge_conversations(
    uow: UnitOfWork, keep_id: int, merged_id: int, moved: Counter[str], dropped: Counter[str]
) -> None:
    session = uow.session
    theirs = (
        (
            await session.execute(
                select(Conversation).where(
                    (Conversation.user_low_id == merged_id)
                    | (Conversation.user_high_id == merged_id)
                )
            )
        )
        .scalars()
        .all()
    )
    for conversation in theirs:
        other = (
            conversation.user_high_id
            if conversation.user_low_id == merged_id
            else conversation.user_low_id
        )
        if other == keep_id:  # a conversation with oneself: gone
            await session.delete(conversation)
            dropped["conversations"] += 1
            continue
        low, high = sorted((keep_id, other))
        existing = (
            await session.execute(
                select(Conversation).where(
                    Conversation.user_low_id == low, Conversation.user_high_id == high
                )
            )
        ).scalar_one_or_none()
        if existing is None:
            conversation.user_low_id, conversation.user_high_id = low, high
            await session.execute(
                update(ConversationMember)
                .where(ConversationMember.conversation_id == conversation.id,
                       ConversationMember.user_id == merged_id)
                .values(user_id=keep_id)
            )  # fmt: skip
            moved["conversations"] += 1
            continue
        result = await session.execute(
            update(Message)
            .where(Message.conversation_id == conversation.id)
            .values(conversation_id=existing.id)
        )
        moved["messages"] += _count(result)
        latest: Select[Any] = select(func.max(Message.id)).where(
            Message.conversation_id == existing.id
        )
        existing.last_message_id = (await session.execute(latest)).scalar()
        await session.delete(conversation)
        dropped["conversations"] += 1
    await session.flush()
