"""Requests and mentorships: a student or alumnus asks a mentor; the mentor accepts
(within capacity, race-free) or declines with a reason; unanswered requests expire
(nightly); an accepted request is a mentorship, active until completed or ended early.

Capacity: every change of a mentor's active mentees takes their offer's row lock and
counts in ``mentor_offers.active_mentees``, so two acceptances at once take turns and
the second sees the first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from alumnet.domain.communication.notifications import Item, notify_each
from alumnet.domain.errors import DomainError, Problems, check_label, check_text
from alumnet.domain.events.catalogue import as_utc
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.mentorship.offers import (
    may_be_mentored,
    mentee_kind,
    offer_of,
)
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import (
    Block,
    MentorOffer,
    Mentorship,
    MentorshipFeedback,
    MentorshipNote,
    MentorshipRequest,
    MentorshipSession,
    User,
)
from alumnet.persistence.uow import UnitOfWork

GOALS_MAX = 2000
MESSAGE_MAX = 2000
REASON_MAX = 500
EXPIRE_JOB = "mentorship.expire_requests"


def channel(user_id: int) -> str:
    """The pub/sub channel of one person's mentorship requests (as mentee or mentor)."""
    return f"user:{user_id}:mentorship"


def _publish(uow: UnitOfWork, request: MentorshipRequest) -> None:
    for user_id in (request.mentee_id, request.mentor_id):
        uow.publish(channel(user_id), {"id": request.id})


def blocked(a: Any, b: Any) -> Any:
    """SQL: either of the two blocked the other."""
    return select(Block.blocker_id).where(
        or_(and_(Block.blocker_id == a, Block.blocked_id == b),
            and_(Block.blocker_id == b, Block.blocked_id == a))
    ).exists()  # fmt: skip


def readable(viewer: Viewer) -> Any:
    """SQL: requests the viewer may see: their own, either side (staff: every one)."""
    if viewer.can(Permission.MENTORSHIP_MANAGE):
        return None
    me = viewer.user_id if viewer.user_id is not None else -1
    return or_(MentorshipRequest.mentee_id == me, MentorshipRequest.mentor_id == me)


def readable_mentorships(viewer: Viewer) -> Any:
    if viewer.can(Permission.MENTORSHIP_MANAGE):
        return None
    me = viewer.user_id if viewer.user_id is not None else -1
    return or_(Mentorship.mentee_id == me, Mentorship.mentor_id == me)


async def create(
    uow: UnitOfWork, viewer: Viewer, mentor_id: int, *, goals: str, message: str | None,
    expires_in: timedelta,
) -> MentorshipRequest:  # fmt: skip
    """Ask a mentor; they are told. A paused or full mentor, oneself, a mentor one already
    has or has asked, or one blocked either way, is refused, and nothing is written."""
    me = viewer.require_user()
    if not may_be_mentored(viewer):
        raise DomainError.of("NOT_ALLOWED", "Students and alumni ask for mentors.")
    problems = Problems()
    goal_text = check_text(problems, goals, field="goals", max_length=GOALS_MAX, min_length=1,
                           label="Your goals")  # fmt: skip
    note = check_text(problems, message, field="message", max_length=MESSAGE_MAX,
                      label="The message")  # fmt: skip
    if mentor_id == me:
        raise DomainError.of("SELF", "You cannot ask yourself.", "mentorId")
    offer = await offer_of(uow, mentor_id)
    person = await uow.session.get(User, mentor_id)
    hidden = (
        await uow.session.execute(select(blocked(me, mentor_id)))
    ).scalar()  # fmt: skip
    if offer is None or person is None or person.status != "active" or hidden:
        raise DomainError.of("NOT_FOUND", "No such mentor.", "mentorId")
    if offer.paused:
        problems.add("PAUSED", "This mentor is not taking mentees now.", "mentorId")
    elif offer.active_mentees >= offer.capacity:
        problems.add("FULL", "This mentor has as many mentees as they can take.", "mentorId")
    elif offer.preferred_mentee not in mentee_kind(viewer):
        problems.add("NOT_FOR_YOU", f"This mentor mentors {offer.preferred_mentee} only.",
                     "mentorId")  # fmt: skip
    open_ = await uow.session.execute(
        select(MentorshipRequest.id).where(
            MentorshipRequest.mentee_id == me, MentorshipRequest.mentor_id == mentor_id,
            MentorshipRequest.status == "pending",
        )
    )  # fmt: skip
    if open_.first() is not None:
        problems.add("DUPLICATE", "You have asked this mentor already.", "mentorId")
    active = await uow.session.execute(
        select(Mentorship.id).where(
            Mentorship.mentee_id == me, Mentorship.mentor_id == mentor_id,
            Mentorship.status == "active",
        )
    )  # fmt: skip
    if active.first() is not None:
        problems.add("ALREADY_MENTORED", "This mentor mentors you already.", "mentorId")
    problems.raise_if_any()
    now = datetime.now(UTC)
    request = MentorshipRequest(
        mentee_id=me, mentor_id=mentor_id, goals=goal_text or "", message=note or None,
        status="pending", expires_at=now + expires_in, created_at=now,
    )  # fmt: skip
    uow.session.add(request)
    await uow.session.flush()
    await notify_each(uow, "mentorship", [
        Item(mentor_id, f"{viewer.name or 'Someone'} asks you to mentor them",
             (goal_text or "")[:280], "MentorshipRequest", request.id)
    ])  # fmt: skip
    _publish(uow, request)
    return request


async def _request(uow: UnitOfWork, viewer: Viewer, request_id: int) -> MentorshipRequest:
    viewer.require_user()
    query = select(MentorshipRequest).where(MentorshipRequest.id == request_id)
    condition = readable(viewer)
    if condition is not None:
        query = query.where(condition)
    found = (await uow.session.execute(query.with_for_update())).scalar_one_or_none()
    if found is None:
        raise DomainError.of("NOT_FOUND", "No such request.", "id")
    return found


async def answer(
    uow: UnitOfWork, viewer: Viewer, request_id: int, *, accept: bool, reason: str | None
) -> MentorshipRequest:
    """The mentor accepts (a mentorship begins, within their capacity) or declines with a
    reason; the mentee is told."""
    request = await _request(uow, viewer, request_id)
    if request.mentor_id != viewer.user_id:
        raise DomainError.of("NOT_FOUND", "No such request.", "id")
    now = datetime.now(UTC)
    if request.status != "pending" or as_utc(request.expires_at) <= now:
        raise DomainError.of("NOT_PENDING", f"This request is {request.status}.", "id")
    problems = Problems()
    why = None
    if not accept:
        why = check_label(problems, reason or "", field="reason", max_length=REASON_MAX,
                          min_length=1, label="The reason")  # fmt: skip
    problems.raise_if_any()
    if accept:
        offer = await offer_of(uow, request.mentor_id, lock=True)
        if offer is None or offer.active_mentees >= offer.capacity:
            raise DomainError.of("FULL", "You have as many mentees as you said you can take.",
                                 "id")  # fmt: skip
        offer.active_mentees += 1
        uow.session.add(Mentorship(request_id=request.id, mentor_id=request.mentor_id,
                                   mentee_id=request.mentee_id, status="active",
                                   started_at=now))  # fmt: skip
    request.status = "accepted" if accept else "declined"
    request.reason, request.answered_at = why, now
    await uow.session.flush()
    title = "accepted" if accept else "declined"
    await notify_each(uow, "mentorship", [
        Item(request.mentee_id, f"{viewer.name or 'Your mentor'} {title} your request",
             why or "Your mentorship begins.", "MentorshipRequest", request.id)
    ])  # fmt: skip
    _publish(uow, request)
    audit.record(uow, f"mentorship_request.{title}", object_type="MentorshipRequest",
                 object_ids=[request.id])  # fmt: skip
    return request


async def withdraw(uow: UnitOfWork, viewer: Viewer, request_id: int) -> MentorshipRequest:
    request = await _request(uow, viewer, request_id)
    if request.mentee_id != viewer.user_id:
        raise DomainError.of("NOT_FOUND", "No such request.", "id")
    if request.status != "pending":
        raise DomainError.of("NOT_PENDING", f"This request is {request.status}.", "id")
    request.status, request.answered_at = "withdrawn", datetime.now(UTC)
    await uow.session.flush()
    _publish(uow, request)
    return request


async def end(
    uow: UnitOfWork, viewer: Viewer, mentorship_id: int, *, completed: bool, reason: str | None
) -> Mentorship:
    """Either side completes a mentorship, or ends it early with a reason; the other side
    is told, and the mentor has room again."""
    me = viewer.require_user()
    query = select(Mentorship).where(
        Mentorship.id == mentorship_id, or_(Mentorship.mentor_id == me, Mentorship.mentee_id == me)
    )
    found = (await uow.session.execute(query.with_for_update())).scalar_one_or_none()
    if found is None:
        raise DomainError.of("NOT_FOUND", "No such mentorship.", "id")
    if found.status != "active":
        raise DomainError.of("NOT_ACTIVE", f"This mentorship is {found.status}.", "id")
    problems = Problems()
    why = check_label(problems, reason or "", field="reason", max_length=REASON_MAX,
                      min_length=0 if completed else 1, label="The reason") or None  # fmt: skip
    problems.raise_if_any()
    offer = await offer_of(uow, found.mentor_id, lock=True)
    if offer is not None:
        offer.active_mentees = max(0, offer.active_mentees - 1)
    now = datetime.now(UTC)
    found.status = "completed" if completed else "ended"
    found.ended_by_id, found.end_reason, found.ended_at = me, why, now
    await uow.session.execute(
        update(MentorshipSession)
        .where(MentorshipSession.mentorship_id == found.id,
               MentorshipSession.status == "scheduled", MentorshipSession.starts_at > now)
        .values(status="cancelled")
    )  # fmt: skip
    await uow.session.flush()
    other = found.mentee_id if me == found.mentor_id else found.mentor_id
    await notify_each(uow, "mentorship", [
        Item(other, f"Your mentorship was {'completed' if completed else 'ended'}",
             why or "", "Mentorship", found.id)
    ])  # fmt: skip
    audit.record(uow, f"mentorship.{found.status}", object_type="Mentorship",
                 object_ids=[found.id], details={"reason": why})  # fmt: skip
    return found


async def expire(rt: Runtime) -> dict[str, int]:
    """The nightly job: requests past their time expire, and their mentees are told."""
    now = datetime.now(UTC)
    async with rt.transaction() as uow:
        rows = (
            await uow.session.execute(
                update(MentorshipRequest)
                .where(MentorshipRequest.status == "pending", MentorshipRequest.expires_at <= now)
                .values(status="expired", answered_at=now)
                .returning(MentorshipRequest.id, MentorshipRequest.mentee_id,
                           MentorshipRequest.mentor_id)
            )
        ).all()  # fmt: skip
        await notify_each(uow, "mentorship", [
            Item(int(mentee), "A mentorship request expired",
                 "The mentor did not answer in time; ask another.", "MentorshipRequest", int(i))
            for i, mentee, _ in rows
        ])  # fmt: skip
        for i, mentee, mentor in rows:
            for user_id in (mentee, mentor):
                uow.publish(channel(int(user_id)), {"id": int(i)})
    return {"expired": len(rows)}


async def release_person(uow: UnitOfWork, user_id: int) -> None:
    """A person who leaves (erased, deleted): their open requests close, their active
    mentorships end (their mentors have room again), what they wrote goes, and their
    offer to mentor is withdrawn."""
    now = datetime.now(UTC)
    await uow.session.execute(
        update(MentorshipRequest)
        .where(MentorshipRequest.status == "pending",
               or_(MentorshipRequest.mentee_id == user_id, MentorshipRequest.mentor_id == user_id))
        .values(status="withdrawn", answered_at=now)
    )  # fmt: skip
    ships = (
        await uow.session.execute(
            select(Mentorship).where(
                Mentorship.status == "active",
                or_(Mentorship.mentee_id == user_id, Mentorship.mentor_id == user_id),
            ).with_for_update()
        )
    ).scalars().all()  # fmt: skip
    for ship in ships:
        offer = await offer_of(uow, ship.mentor_id, lock=True)
        if offer is not None:
            offer.active_mentees = max(0, offer.active_mentees - 1)
        ship.status, ship.ended_by_id, ship.ended_at = "ended", user_id, now
        ship.end_reason = "The account was closed."
    await uow.session.execute(
        update(MentorshipSession)
        .where(MentorshipSession.status == "scheduled", MentorshipSession.starts_at > now,
               or_(MentorshipSession.mentee_id == user_id, MentorshipSession.mentor_id == user_id))
        .values(status="cancelled")
    )  # fmt: skip
    await uow.session.execute(
        update(MentorshipRequest)
        .where(MentorshipRequest.mentee_id == user_id)
        .values(goals="[erased]", message=None)
    )
    # What they wrote, and what their mentors wrote about them (their private notes too).
    await uow.session.execute(
        update(MentorshipNote)
        .where(
            or_(
                MentorshipNote.author_id == user_id,
                MentorshipNote.mentorship_id.in_(
                    select(Mentorship.id).where(Mentorship.mentee_id == user_id)
                ),
            )
        )
        .values(body="[erased]")
    )
    await uow.session.execute(
        update(MentorshipFeedback).where(MentorshipFeedback.author_id == user_id)
        .values(comment=None)
    )  # fmt: skip
    offer = await uow.session.get(MentorOffer, user_id)
    if offer is not None:
        await uow.session.delete(offer)
    await uow.session.flush()
