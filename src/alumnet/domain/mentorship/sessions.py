"""A mentorship's sessions, goals, notes and feedback.

Sessions are scheduled by either side of an active mentorship, in the future and never
overlapping the mentor's other sessions (checked with the mentor's offer row locked, so
two at once take turns); the other side is told, both hear `mentorshipSessionScheduled`,
and the scheduler reminds both a day and an hour before. Notes are private to their
writer unless shared. Feedback rates the other side, 1 to 5, after a session has started
or once the mentorship has ended.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from icalendar import Event as VEvent
from sqlalchemy import String, cast, or_, select

from alumnet.domain.communication.notifications import Item, notify_each
from alumnet.domain.communication.reminders import mark_once
from alumnet.domain.errors import DomainError, Problems, check_label, check_moment, check_text
from alumnet.domain.events.calendar import finish_calendar, new_calendar
from alumnet.domain.events.catalogue import as_utc
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.people.profiles import check_url
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import (
    Mentorship,
    MentorshipFeedback,
    MentorshipGoal,
    MentorshipNote,
    MentorshipSession,
    User,
)
from alumnet.persistence.uow import UnitOfWork

MINUTES = (15, 480)
AHEAD_MAX = timedelta(days=366)
NOTE_MAX = 10_000
COMMENT_MAX = 2000
GOAL_STATUSES = ("not_started", "in_progress", "done")
REMINDERS_JOB = "mentorship.reminders"
WINDOWS = (("mentor_session_day", timedelta(hours=24), "tomorrow"),
           ("mentor_session_hour", timedelta(hours=1), "within the hour"))  # fmt: skip


def channel(user_id: int) -> str:
    """The pub/sub channel of one person's new mentorship sessions."""
    return f"user:{user_id}:mentorship_sessions"


async def mentorship_of(
    uow: UnitOfWork, viewer: Viewer, mentorship_id: int, *, sides_only: bool = True
) -> Mentorship:
    """The mentorship if the viewer is one of its two sides (or, without ``sides_only``,
    manages mentorship); NOT_FOUND otherwise."""
    me = viewer.require_user()
    found = await uow.session.get(Mentorship, mentorship_id)
    allowed = found is not None and (
        me in (found.mentor_id, found.mentee_id)
        or (not sides_only and viewer.can(Permission.MENTORSHIP_MANAGE))
    )
    if found is None or not allowed:
        raise DomainError.of("NOT_FOUND", "No such mentorship.", "mentorshipId")
    return found


async def schedule(
    uow: UnitOfWork, viewer: Viewer, mentorship_id: int, *, starts_at: datetime, minutes: int,
    join_url: str | None, place: str | None, agenda: str | None,
) -> MentorshipSession:  # fmt: skip
    me = viewer.require_user()
    mentorship = await mentorship_of(uow, viewer, mentorship_id)
    if mentorship.status != "active":
        raise DomainError.of("NOT_ACTIVE", f"This mentorship is {mentorship.status}.",
                             "mentorshipId")  # fmt: skip
    problems = Problems()
    start = check_moment(problems, starts_at, field="startsAt", label="The start")
    now = datetime.now(UTC)
    if start is not None and start <= now:
        problems.add("DATE_IN_PAST", "The session would start in the past.", "startsAt")
    elif start is not None and start > now + AHEAD_MAX:
        problems.add("OUT_OF_RANGE", "A session is within a year.", "startsAt")
    if not MINUTES[0] <= minutes <= MINUTES[1]:
        problems.add("OUT_OF_RANGE", "A session lasts 15 minutes to 8 hours.", "minutes")
    link = check_url(problems, join_url.strip(), "joinUrl", https_only=True) if join_url else None
    where = check_label(problems, place or "", field="place", max_length=200,
                        label="The place") or None  # fmt: skip
    if link is None and where is None:
        problems.add("REQUIRED", "Give a link to join, or a place.", "joinUrl")
    plan = check_text(problems, agenda, field="agenda", max_length=NOTE_MAX,
                      label="The agenda")  # fmt: skip
    problems.raise_if_any()
    assert start is not None
    end = start + timedelta(minutes=minutes)
    # Both people's bookings take turns: their user rows are the locks, taken in id order
    # (a mentor may be someone else's mentee, and a mentee have two mentors).
    people = sorted({mentorship.mentor_id, mentorship.mentee_id})
    await uow.session.execute(
        select(User.id).where(User.id.in_(people)).order_by(User.id).with_for_update()
    )
    clash = await uow.session.execute(
        select(MentorshipSession.id).where(
            MentorshipSession.status == "scheduled",
            or_(MentorshipSession.mentor_id.in_(people),
                MentorshipSession.mentee_id.in_(people)),
            MentorshipSession.starts_at < end, MentorshipSession.ends_at > start,
        ).limit(1)
    )  # fmt: skip
    if clash.first() is not None:
        raise DomainError.of("OVERLAP", "Another session is booked at that time.", "startsAt")
    session = MentorshipSession(
        mentorship_id=mentorship.id, mentor_id=mentorship.mentor_id,
        mentee_id=mentorship.mentee_id, starts_at=start, ends_at=end, join_url=link,
        place=where, agenda=plan or None, status="scheduled", created_by_id=me, created_at=now,
    )  # fmt: skip
    uow.session.add(session)
    await uow.session.flush()
    other = mentorship.mentee_id if me == mentorship.mentor_id else mentorship.mentor_id
    await notify_each(uow, "mentorship", [
        Item(other, "A mentorship session was booked", f"{start:%a %d %b %Y, %H:%M} UTC.",
             "MentorshipSession", session.id)
    ])  # fmt: skip
    for user_id in (mentorship.mentor_id, mentorship.mentee_id):
        uow.publish(channel(user_id), {"id": session.id})
    return session


async def cancel_session(uow: UnitOfWork, viewer: Viewer, session_id: int) -> MentorshipSession:
    me = viewer.require_user()
    found = await uow.session.get(MentorshipSession, session_id, with_for_update=True)
    if found is None or me not in (found.mentor_id, found.mentee_id):
        raise DomainError.of("NOT_FOUND", "No such session.", "id")
    if found.status != "scheduled" or as_utc(found.starts_at) <= datetime.now(UTC):
        raise DomainError.of("NOT_OPEN", "This session is over or cancelled.", "id")
    found.status = "cancelled"
    await uow.session.flush()
    other = found.mentee_id if me == found.mentor_id else found.mentor_id
    await notify_each(uow, "mentorship", [
        Item(other, "A mentorship session was cancelled",
             f"{as_utc(found.starts_at):%a %d %b %Y, %H:%M} UTC.", "MentorshipSession", found.id)
    ])  # fmt: skip
    return found


async def add_note(
    uow: UnitOfWork, viewer: Viewer, mentorship_id: int, *, body: str, shared: bool,
    session_id: int | None,
) -> MentorshipNote:  # fmt: skip
    me = viewer.require_user()
    mentorship = await mentorship_of(uow, viewer, mentorship_id)
    problems = Problems()
    text = check_text(problems, body, field="body", max_length=NOTE_MAX, min_length=1,
                      label="The note")  # fmt: skip
    if session_id is not None:
        session = await uow.session.get(MentorshipSession, session_id)
        if session is None or session.mentorship_id != mentorship.id:
            problems.add("NOT_FOUND", "No such session of this mentorship.", "sessionId")
    problems.raise_if_any()
    note = MentorshipNote(mentorship_id=mentorship.id, session_id=session_id, author_id=me,
                          body=text or "", shared=shared, created_at=datetime.now(UTC))  # fmt: skip
    uow.session.add(note)
    await uow.session.flush()
    return note


def readable_notes(viewer: Viewer) -> Any:
    """SQL: notes the viewer may read: their own, and those shared with them by the other
    side of a mentorship of theirs. Nobody else's, staff included."""
    me = viewer.user_id if viewer.user_id is not None else -1
    mine = select(Mentorship.id).where(or_(Mentorship.mentor_id == me, Mentorship.mentee_id == me))
    return or_(
        MentorshipNote.author_id == me,
        (MentorshipNote.shared.is_(True)) & MentorshipNote.mentorship_id.in_(mine),
    )


async def add_goal(
    uow: UnitOfWork, viewer: Viewer, mentorship_id: int, title: str
) -> MentorshipGoal:
    mentorship = await mentorship_of(uow, viewer, mentorship_id)
    problems = Problems()
    name = check_label(problems, title, field="title", max_length=200, min_length=1,
                       label="The goal")  # fmt: skip
    problems.raise_if_any()
    now = datetime.now(UTC)
    goal = MentorshipGoal(mentorship_id=mentorship.id, title=name, status="not_started",
                          created_at=now, updated_at=now)  # fmt: skip
    uow.session.add(goal)
    await uow.session.flush()
    return goal


async def update_goal(
    uow: UnitOfWork, viewer: Viewer, goal_id: int, *, title: str | None, status: str | None
) -> MentorshipGoal:
    goal = await uow.session.get(MentorshipGoal, goal_id, with_for_update=True)
    if goal is None:
        raise DomainError.of("NOT_FOUND", "No such goal.", "id")
    await mentorship_of(uow, viewer, goal.mentorship_id)
    problems = Problems()
    if title is not None:
        goal.title = check_label(problems, title, field="title", max_length=200, min_length=1,
                                 label="The goal")  # fmt: skip
    if status is not None:
        if status not in GOAL_STATUSES:
            problems.add("INVALID", "Unknown status.", "status")
        goal.status = status
    problems.raise_if_any()
    goal.updated_at = datetime.now(UTC)
    await uow.session.flush()
    return goal


async def give_feedback(
    uow: UnitOfWork, viewer: Viewer, mentorship_id: int, *, session_id: int | None, rating: int,
    comment: str | None,
) -> MentorshipFeedback:  # fmt: skip
    """Rate the other side, 1 to 5: after a session has started, or once the mentorship has
    ended (``session_id`` None). Again replaces it."""
    me = viewer.require_user()
    mentorship = await mentorship_of(uow, viewer, mentorship_id)
    problems = Problems()
    if not 1 <= rating <= 5:
        problems.add("OUT_OF_RANGE", "A rating is 1 to 5.", "rating")
    text = check_text(problems, comment, field="comment", max_length=COMMENT_MAX,
                      label="The comment")  # fmt: skip
    if session_id is not None:
        session = await uow.session.get(MentorshipSession, session_id)
        if session is None or session.mentorship_id != mentorship.id:
            problems.add("NOT_FOUND", "No such session of this mentorship.", "sessionId")
        elif session.status != "scheduled" or as_utc(session.starts_at) > datetime.now(UTC):
            problems.add("NOT_STARTED", "Rate a session once it has taken place.", "sessionId")
    elif mentorship.status == "active":
        problems.add("NOT_ENDED", "Rate the mentorship once it has ended.", "mentorshipId")
    problems.raise_if_any()
    about = f"session:{session_id}" if session_id is not None else "end"
    by_mentor = me == mentorship.mentor_id
    found = (
        await uow.session.execute(
            select(MentorshipFeedback).where(
                MentorshipFeedback.mentorship_id == mentorship.id,
                MentorshipFeedback.author_id == me, MentorshipFeedback.about == about,
            ).with_for_update()
        )
    ).scalar_one_or_none()  # fmt: skip
    now = datetime.now(UTC)
    if found is None:
        found = MentorshipFeedback(
            mentorship_id=mentorship.id, session_id=session_id, about=about, author_id=me,
            subject_id=mentorship.mentee_id if by_mentor else mentorship.mentor_id,
            by_mentor=by_mentor, rating=rating, comment=text or None, created_at=now,
        )  # fmt: skip
        uow.session.add(found)
    else:
        found.rating, found.comment, found.created_at = rating, text or None, now
    await uow.session.flush()
    return found


def _due(now: datetime, ahead: timedelta, closer: timedelta | None, side: Any) -> Any:
    query = select(
        MentorshipSession.id, side, cast(MentorshipSession.starts_at, String(32))
    ).where(
        MentorshipSession.status == "scheduled",
        MentorshipSession.starts_at > now,
        MentorshipSession.starts_at <= now + ahead,
    )  # fmt: skip
    if closer is not None:
        query = query.where(MentorshipSession.starts_at > now + closer)
    return query


async def remind(rt: Runtime) -> dict[str, int]:
    """The scheduler: both sides of each session are reminded a day and an hour before,
    once each (``reminders_sent``, keyed by the start: a moved session is reminded again)."""
    now = datetime.now(UTC)
    sent = 0
    async with rt.transaction() as uow:
        for index, (kind, ahead, when) in enumerate(WINDOWS):
            closer = WINDOWS[index + 1][1] if index + 1 < len(WINDOWS) else None
            marked = []
            for side in (MentorshipSession.mentor_id, MentorshipSession.mentee_id):
                marked += await mark_once(uow, kind, _due(now, ahead, closer, side))
            sent += await notify_each(uow, "mentorship", [
                Item(user, f"Mentorship session {when}", "", "MentorshipSession", subject)
                for subject, user, _ in marked
            ])  # fmt: skip
    return {"reminded": sent}


async def session_ics(
    executor: Any, user_id: int, session_id: int, public_url: str
) -> bytes | None:
    """One session as an ``.ics`` file, for one of its two sides (None for anyone else)."""

    row = (
        await executor.execute(
            select(MentorshipSession.__table__).where(MentorshipSession.id == session_id)
        )
    ).first()
    if row is None or user_id not in (row.mentor_id, row.mentee_id):
        return None
    item = VEvent()
    host = public_url.split("://", 1)[-1].split("/", 1)[0] or "alumnet"
    item.add("uid", f"mentorship-session-{row.id}@{host}")
    item.add("dtstamp", datetime.now(UTC))
    item.add("dtstart", as_utc(row.starts_at))
    item.add("dtend", as_utc(row.ends_at))
    item.add("summary", "Mentorship session")
    if row.place or row.join_url:
        item.add("location", row.place or row.join_url)
    if row.join_url:
        item.add("url", row.join_url)
    if row.agenda:
        item.add("description", row.agenda)
    item.add("status", "CANCELLED" if row.status == "cancelled" else "CONFIRMED")
    calendar = new_calendar()
    calendar.add_component(item)
    return finish_calendar(calendar, [row])
