"""Follows between people, and who looked at whose profile."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, update

from alumnet.domain.errors import DomainError
from alumnet.domain.identity.permissions import Viewer
from alumnet.persistence.db import insert_or_ignore
from alumnet.persistence.models import Follow, Profile, ProfileView, User
from alumnet.persistence.uow import UnitOfWork


async def _person(uow: UnitOfWork, me: int, other: int) -> None:
    person = await uow.session.get(User, other)
    if person is None or person.status != "active" or other == me:
        raise DomainError.of("NOT_FOUND", "No such person.", "userId")


async def follow(uow: UnitOfWork, viewer: Viewer, other: int, *, on: bool) -> bool:
    """Follow (or stop following) someone; idempotent. Returns whether one follows now."""
    me = viewer.require_user()
    await _person(uow, me, other)
    if on:
        await insert_or_ignore(
            uow.session, Follow,
            {"follower_id": me, "followee_id": other, "created_at": datetime.now(UTC)},
            ["follower_id", "followee_id"],
        )  # fmt: skip
    else:
        await uow.session.execute(
            delete(Follow).where(Follow.follower_id == me, Follow.followee_id == other)
        )
    return on


async def record_view(uow: UnitOfWork, viewer: Viewer, viewed: int) -> bool:
    """Someone opened a profile: counted once per viewer and day (one's own not at all).
    Returns whether this was the viewer's first look today."""
    me = viewer.require_user()
    if viewed == me:
        return False
    if await uow.session.get(Profile, viewed) is None:
        raise DomainError.of("NOT_FOUND", "No such profile.", "userId")
    now = datetime.now(UTC)
    added = await insert_or_ignore(
        uow.session, ProfileView,
        {"viewed_id": viewed, "viewer_id": me, "viewed_on": now.date(), "last_viewed_at": now},
        ["viewed_id", "viewer_id", "viewed_on"],
    )  # fmt: skip
    if not added:
        await uow.session.execute(
            update(ProfileView)
            .where(ProfileView.viewed_id == viewed, ProfileView.viewer_id == me,
                   ProfileView.viewed_on == now.date())
            .values(last_viewed_at=now)
        )  # fmt: skip
    return added
