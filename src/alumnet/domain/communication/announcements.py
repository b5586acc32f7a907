"""Announcements: institution-wide, or to an audience of roles, batches and graduation
years; pinned ones first in the feed, expired ones out of it.

An audience narrows by each kind of target it names (roles AND batches AND years); within
one kind any value matches. A batch's people are its actively enrolled students and the
mentors of its missions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select, union

from alumnet.domain.communication.notices import BODY_MAX, TITLE_MAX, check_posting, render
from alumnet.domain.communication.notifications import Event, notify
from alumnet.domain.errors import DomainError, Problems, check_moment, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Role, Viewer
from alumnet.domain.identity.users import GRADUATION_YEARS
from alumnet.persistence.mentoring import mentored_missions
from alumnet.persistence.models import (
    Announcement,
    AnnouncementTarget,
    Batch,
    Enrollment,
    MentorAssignment,
    Mission,
    MissionMentor,
    User,
    UserRole,
)
from alumnet.persistence.uow import UnitOfWork

TARGETS_MAX = 200


@dataclass(frozen=True)
class Audience:
    roles: tuple[str, ...] = ()
    batch_ids: tuple[int, ...] = ()
    graduation_years: tuple[int, ...] = ()

    @property
    def everyone(self) -> bool:
        return not (self.roles or self.batch_ids or self.graduation_years)


def batch_people(batch_ids: Sequence[int] | Any) -> Any:
    """User ids of the active students and the mentors of these batches' missions."""
    missions = select(Mission.id).where(Mission.batch_id.in_(batch_ids))
    return union(
        select(Enrollment.student_id).where(
            Enrollment.mission_id.in_(missions), Enrollment.status == "active"
        ),
        select(MentorAssignment.mentor_id).where(MentorAssignment.mission_id.in_(missions)),
        select(MissionMentor.mentor_id).where(MissionMentor.mission_id.in_(missions)),
    )


def recipients(audience: Audience) -> Any:
    """The ids of the users an audience reaches, as a SELECT."""
    query = select(User.id).where(User.status == "active")
    if audience.roles:
        query = query.where(
            User.id.in_(select(UserRole.user_id).where(UserRole.role.in_(audience.roles)))
        )
    if audience.batch_ids:
        query = query.where(User.id.in_(batch_people(list(audience.batch_ids))))
    if audience.graduation_years:
        # The year on record (staff-set or verified), never one a person typed themselves.
        query = query.where(User.record_graduation_year.in_(audience.graduation_years))
    return query


def _kind_allows(
    link: Any, owner: Any, column: Any, match: ColumnElement[bool]
) -> ColumnElement[bool]:
    """True when the owner's targets name no value of this kind, or one that matches."""
    named = exists().where(link == owner, column.is_not(None))
    hit = exists().where(link == owner, match)
    return or_(~named, hit)


def addressed_to(viewer: Viewer, target: Any, link: Any, owner: Any) -> ColumnElement[bool]:
    """SQL: the viewer is in the audience whose values are the ``target`` rows (with
    ``role``, ``batch_id`` and ``graduation_year`` columns) whose ``link`` column is the
    ``owner`` id column: an announcement's, an event's."""
    me = viewer.user_id if viewer.user_id is not None else -1
    my_batches = select(Mission.batch_id).where(
        or_(
            Mission.id.in_(
                select(Enrollment.mission_id).where(
                    Enrollment.student_id == me, Enrollment.status == "active"
                )
            ),
            Mission.id.in_(mentored_missions(me)),
        )
    )
    my_year = select(User.record_graduation_year).where(User.id == me).scalar_subquery()
    roles = [r.value for r in viewer.roles] or [""]
    return and_(
        _kind_allows(link, owner, target.role, target.role.in_(roles)),
        _kind_allows(link, owner, target.batch_id, target.batch_id.in_(my_batches)),
        _kind_allows(link, owner, target.graduation_year, target.graduation_year == my_year),
    )


def readable(viewer: Viewer) -> ColumnElement[bool] | None:
    """Announcements addressed to the viewer (None: all, for those who post them)."""
    if viewer.can(Permission.ANNOUNCEMENTS_POST):
        return None
    t = AnnouncementTarget
    return addressed_to(viewer, t, t.announcement_id, Announcement.id)


def target_values(audience: Audience) -> list[dict[str, Any]]:
    """The audience as target rows' values (one per role, batch and year)."""
    return (
        [{"role": r} for r in dict.fromkeys(audience.roles)]
        + [{"batch_id": b} for b in sorted(set(audience.batch_ids))]
        + [{"graduation_year": y} for y in sorted(set(audience.graduation_years))]
    )


def current(now: datetime) -> ColumnElement[bool]:
    return or_(Announcement.expires_at.is_(None), Announcement.expires_at > now)


async def check_audience(uow: UnitOfWork, problems: Problems, audience: Audience) -> None:
    if len(audience.roles) + len(audience.batch_ids) + len(audience.graduation_years) > (
        TARGETS_MAX
    ):
        problems.add("TOO_MANY", f"At most {TARGETS_MAX} audience values.", "audience")
        return
    for index, role in enumerate(audience.roles):
        if role not in Role.__members__:
            problems.add("INVALID", f"Unknown role {role[:32]!r}.",
                         ("audience", "roles", str(index)))  # fmt: skip
    for index, year in enumerate(audience.graduation_years):
        if year not in GRADUATION_YEARS:
            problems.add(
                "INVALID",
                "Graduation years run from 1900 to 2200.",
                ("audience", "graduationYears", str(index)),
            )
    if audience.batch_ids:
        found = set(
            (
                await uow.session.execute(select(Batch.id).where(Batch.id.in_(audience.batch_ids)))
            ).scalars()
        )
        for index, batch_id in enumerate(audience.batch_ids):
            if batch_id not in found:
                problems.add("NOT_FOUND", "No such batch.", ("audience", "batchIds", str(index)))


async def post(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    title: str,
    body: str,
    priority: str,
    pinned: bool,
    expires_at: datetime | None,
    audience: Audience,
    client_id: str | None = None,
) -> Announcement:
    """Post an announcement and notify its audience. With ``client_id``, posting again
    returns the first announcement and notifies nobody twice."""
    me = viewer.require(Permission.ANNOUNCEMENTS_POST)
    if client_id is not None:
        earlier = await uow.session.execute(
            select(Announcement).where(
                Announcement.author_id == me, Announcement.client_id == client_id
            )
        )
        found = earlier.scalar_one_or_none()
        if found is not None:
            return found
    problems = Problems()
    if client_id is not None and not 0 < len(client_id) <= 64:
        problems.add("INVALID", "clientId must be 1 to 64 characters.", "clientId")
    posting = check_posting(problems, title=title, body=body, priority=priority)
    now = datetime.now(UTC)
    expiry = check_moment(problems, expires_at, field="expiresAt", label="The expiry")
    if expiry is not None and expiry <= now:
        problems.add("DATE_IN_PAST", "The expiry has passed.", "expiresAt")
    await check_audience(uow, problems, audience)
    problems.raise_if_any()
    announcement = Announcement(
        title=posting.title, body_markdown=posting.markdown, body_html=posting.html,
        priority=priority, pinned=pinned, expires_at=expiry, author_id=me, created_at=now,
        updated_at=now, client_id=client_id,
    )  # fmt: skip
    uow.session.add(announcement)
    await uow.session.flush()
    uow.session.add_all(
        [
            AnnouncementTarget(announcement_id=announcement.id, **values)
            for values in target_values(audience)
        ]
    )
    await uow.session.flush()
    notified = await notify(
        uow, recipients(audience),
        Event(kind="announcement", title=announcement.title,
              body=" ".join(announcement.body_markdown.split())[:280],
              subject_type="Announcement", subject_id=announcement.id,
              email_text=announcement.body_markdown, email_html=announcement.body_html),
    )  # fmt: skip
    audit.record(
        uow, "announcement.post", object_type="Announcement", object_ids=[announcement.id],
        details={"roles": list(audience.roles), "batches": list(audience.batch_ids),
                 "years": list(audience.graduation_years), "notified": notified},
    )  # fmt: skip
    return announcement


async def update(
    uow: UnitOfWork,
    viewer: Viewer,
    announcement_id: int,
    *,
    pinned: bool | None,
    expires_at: datetime | None,
    clear_expiry: bool,
    title: str | None,
    body: str | None,
) -> Announcement:
    """Pin, unpin, expire or correct an announcement (no one is notified again)."""
    viewer.require(Permission.ANNOUNCEMENTS_POST)
    announcement = await uow.session.get(Announcement, announcement_id, with_for_update=True)
    if announcement is None:
        raise DomainError.of("NOT_FOUND", "No such announcement.", "id")
    problems = Problems()
    changed: list[str] = []
    if title is not None:
        announcement.title = (
            check_text(
                problems, title, field="title", max_length=TITLE_MAX, min_length=1,
                label="The title",
            )
            or announcement.title
        )  # fmt: skip
        changed.append("title")
    if body is not None:
        markdown = check_text(
            problems, body, field="body", max_length=BODY_MAX, min_length=1, label="The body"
        )
        if markdown:
            announcement.body_markdown, announcement.body_html = markdown, render(markdown)
        changed.append("body")
    if pinned is not None:
        announcement.pinned = pinned
        changed.append("pinned")
    if clear_expiry:
        announcement.expires_at = None
        changed.append("expiresAt")
    elif expires_at is not None:
        # An expiry in the past is allowed here: it takes the announcement down now.
        announcement.expires_at = check_moment(
            problems, expires_at, field="expiresAt", label="The expiry"
        )
        changed.append("expiresAt")
    problems.raise_if_any()
    announcement.updated_at = datetime.now(UTC)
    audit.record(
        uow, "announcement.update", object_type="Announcement", object_ids=[announcement.id],
        details={"changed": changed},
    )  # fmt: skip
    return announcement
