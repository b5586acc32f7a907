"""Batch loaders for people: one statement per batch of keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from alumnet.persistence.db import Reader
from alumnet.persistence.loaders.common import grouped, rows_by_id
from alumnet.persistence.models import (
    Achievement,
    Degree,
    Follow,
    Profile,
    Programme,
    Skill,
    SocialLink,
    User,
    UserSkill,
    WorkExperience,
)

# A profile row: its own columns (not the search documents), with the person's account.
PROFILE_COLUMNS = (
    Profile.user_id.label("id"),
    *(c for c in Profile.__table__.columns if not c.key.startswith("search_")),
    User.name,
    User.email,
    User.phone,
    User.graduation_year,
    User.email_verified_at,
)


def profile_query() -> Any:
    return (
        select(*PROFILE_COLUMNS)
        .join(User, User.id == Profile.user_id)
        .where(User.status == "active")
    )


async def profiles_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    return await rows_by_id(db, profile_query().where(Profile.user_id.in_(list(ids))), ids)


async def _by_user(db: Reader, query: Any, key: Any, ids: Sequence[int]) -> list[list[Any]]:
    return await grouped(db, query.where(key.in_(list(ids))), key.key, ids)


async def degrees_by_user(db: Reader, ids: Sequence[int]) -> list[list[Any]]:
    query = (
        select(Degree.__table__, Programme.name.label("programme_name"),
               Programme.code.label("programme_code"))
        .join(Programme, Programme.id == Degree.programme_id)
        .order_by(Degree.graduation_year.desc(), Degree.id)
    )  # fmt: skip
    return await _by_user(db, query, Degree.user_id, ids)


async def work_by_user(db: Reader, ids: Sequence[int]) -> list[list[Any]]:
    query = select(WorkExperience.__table__).order_by(
        WorkExperience.started_on.desc(), WorkExperience.id
    )
    return await _by_user(db, query, WorkExperience.user_id, ids)


async def skills_by_user(db: Reader, ids: Sequence[int]) -> list[list[Any]]:
    query = (
        select(UserSkill.user_id, Skill.name, UserSkill.proficiency)
        .join(Skill, Skill.id == UserSkill.skill_id)
        .order_by(Skill.name)
    )
    return await _by_user(db, query, UserSkill.user_id, ids)


async def achievements_by_user(db: Reader, ids: Sequence[int]) -> list[list[Any]]:
    query = select(Achievement.__table__).order_by(Achievement.year.desc(), Achievement.id)
    return await _by_user(db, query, Achievement.user_id, ids)


async def links_by_user(db: Reader, ids: Sequence[int]) -> list[list[Any]]:
    query = select(SocialLink.__table__).order_by(SocialLink.id)
    return await _by_user(db, query, SocialLink.user_id, ids)


async def follow_counts(db: Reader, ids: Sequence[int]) -> list[tuple[int, int]]:
    """(followers, following) per user."""
    wanted = list(ids)
    followers = (
        select(Follow.followee_id.label("id"), func.count().label("n"))
        .where(Follow.followee_id.in_(wanted))
        .group_by(Follow.followee_id)
    )
    following = (
        select(Follow.follower_id.label("id"), func.count().label("n"))
        .where(Follow.follower_id.in_(wanted))
        .group_by(Follow.follower_id)
    )
    async with db.connect() as conn:
        a = dict((await conn.execute(followers)).all())
        b = dict((await conn.execute(following)).all())
    return [(int(a.get(i, 0)), int(b.get(i, 0))) for i in wanted]
