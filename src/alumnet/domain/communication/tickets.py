"""Tickets: a student's private question to one of their mentors or to the SRE team, each
its own thread. Status: open (waiting for staff), answered (staff replied last), closed.

Only the student, the mentor a mentor ticket is for, and (for SRE tickets) holders of
``tickets:handle`` read a ticket. The time to the first reply is kept on the ticket, so
SLA figures are plain SQL aggregates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, or_, select

from alumnet.domain.communication.notifications import Event, notify
from alumnet.domain.errors import DomainError, Problems, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Role, Viewer
from alumnet.persistence.mentoring import mentors_student
from alumnet.persistence.models import Enrollment, Ticket, TicketMessage, UserRole
from alumnet.persistence.uow import UnitOfWork

QUEUES = ("mentor", "sre")
STATUSES = ("open", "answered", "closed")
SUBJECT_MAX = 200
BODY_MAX = 10_000


def readable(viewer: Viewer) -> ColumnElement[bool]:
    me = viewer.user_id if viewer.user_id is not None else -1
    own = or_(
        Ticket.student_id == me,
        and_(Ticket.queue == "mentor", Ticket.mentor_id == me),
    )
    if viewer.can(Permission.TICKETS):
        return or_(own, Ticket.queue == "sre")
    return own


def sre_team() -> Any:
    """The SREs, who answer tickets to the team."""
    return select(UserRole.user_id).where(UserRole.role == Role.SRE.value)


def _handles(viewer: Viewer, ticket: Ticket) -> bool:
    """Whether the viewer answers this ticket (rather than asks it)."""
    if ticket.queue == "mentor":
        return ticket.mentor_id == viewer.user_id
    return viewer.can(Permission.TICKETS)


async def _ticket(uow: UnitOfWork, viewer: Viewer, ticket_id: int) -> Ticket:
    ticket = await uow.session.get(Ticket, ticket_id, with_for_update=True)
    if ticket is None or not (ticket.student_id == viewer.user_id or _handles(viewer, ticket)):
        raise DomainError.of("NOT_FOUND", "No such ticket.", "ticketId")
    return ticket


def _body(problems: Problems, body: str) -> str:
    return (
        check_text(
            problems, body.replace("\r\n", "\n"), field="body", max_length=BODY_MAX,
            min_length=1, label="The message",
        )
        or ""
    )  # fmt: skip


def _event(ticket: Ticket, title: str, body: str) -> Event:
    preview = " ".join(body.split())
    return Event(
        kind="ticket", title=title[:200], body=preview[:280], subject_type="Ticket",
        subject_id=ticket.id,
    )  # fmt: skip


async def open_ticket(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    queue: str,
    mentor_id: int | None,
    subject: str,
    body: str,
    client_id: str | None = None,
) -> Ticket:
    """Open a ticket. With ``client_id``, opening again returns the first ticket."""
    me = viewer.require_user()
    if client_id is not None:
        earlier = await uow.session.execute(
            select(Ticket).where(Ticket.student_id == me, Ticket.client_id == client_id)
        )
        found = earlier.scalar_one_or_none()
        if found is not None:
            return found
    problems = Problems()
    if client_id is not None and not 0 < len(client_id) <= 64:
        problems.add("INVALID", "clientId must be 1 to 64 characters.", "clientId")
    title = check_text(
        problems, subject, field="subject", max_length=SUBJECT_MAX, min_length=1,
        label="The subject",
    )  # fmt: skip
    text = _body(problems, body)
    if queue not in QUEUES:
        problems.add("INVALID", "Unknown queue.", "queue")
    problems.raise_if_any()
    enrolled = await uow.session.execute(
        select(Enrollment.id).where(Enrollment.student_id == me).limit(1)
    )
    if enrolled.first() is None:
        raise DomainError.of("NOT_A_STUDENT", "Only enrolled students open tickets.", "queue")
    if queue == "mentor":
        if mentor_id is None:
            raise DomainError.of("REQUIRED", "Which of your mentors?", "mentorId")
        mentors = await uow.session.execute(
            select(literal(1)).where(mentors_student(mentor_id, me))
        )
        if mentors.first() is None:
            raise DomainError.of("NOT_FOUND", "That person is not your mentor.", "mentorId")
    elif mentor_id is not None:
        raise DomainError.of("INVALID", "SRE tickets go to the team, not a person.", "mentorId")
    now = datetime.now(UTC)
    ticket = Ticket(
        student_id=me, queue=queue, mentor_id=mentor_id, subject=title or "", status="open",
        created_at=now, last_activity_at=now, client_id=client_id,
    )  # fmt: skip
    uow.session.add(ticket)
    await uow.session.flush()
    uow.session.add(TicketMessage(ticket_id=ticket.id, author_id=me, body=text, created_at=now))
    await notify(
        uow, [mentor_id] if mentor_id is not None else sre_team(),
        _event(ticket, f"New ticket: {ticket.subject}", text),
    )  # fmt: skip
    audit.record(uow, "ticket.open", object_type="Ticket", object_ids=[ticket.id], details={})
    return ticket


async def reply(uow: UnitOfWork, viewer: Viewer, ticket_id: int, body: str) -> TicketMessage:
    me = viewer.require_user()
    ticket = await _ticket(uow, viewer, ticket_id)
    problems = Problems()
    text = _body(problems, body)
    problems.raise_if_any()
    if ticket.status == "closed":
        raise DomainError.of("CLOSED", "This ticket is closed; open a new one.", "ticketId")
    now = datetime.now(UTC)
    message = TicketMessage(ticket_id=ticket.id, author_id=me, body=text, created_at=now)
    uow.session.add(message)
    ticket.last_activity_at = now
    if me != ticket.student_id:
        ticket.status = "answered"
        if ticket.first_reply_at is None:
            ticket.first_reply_at = now
            ticket.first_reply_seconds = int((now - ticket.created_at).total_seconds())
        if ticket.queue == "sre" and ticket.handler_id is None:
            ticket.handler_id = me
        await notify(uow, [ticket.student_id], _event(ticket, f"Reply: {ticket.subject}", text))
    else:
        ticket.status = "open"
        to = ticket.mentor_id if ticket.queue == "mentor" else ticket.handler_id
        # Before any SRE has answered, the whole team hears of it.
        recipients = [to] if to is not None else sre_team()
        await notify(uow, recipients, _event(ticket, f"Student replied: {ticket.subject}", text))
    await uow.session.flush()
    return message


async def close(uow: UnitOfWork, viewer: Viewer, ticket_id: int) -> Ticket:
    """Close a ticket (the student, or whoever answers it); closing twice is harmless."""
    me = viewer.require_user()
    ticket = await _ticket(uow, viewer, ticket_id)
    if ticket.status == "closed":
        return ticket
    now = datetime.now(UTC)
    ticket.status, ticket.closed_at, ticket.last_activity_at = "closed", now, now
    if me != ticket.student_id:
        await notify(
            uow, [ticket.student_id],
            _event(ticket, f"Closed: {ticket.subject}", "Your ticket was closed."),
        )  # fmt: skip
    audit.record(uow, "ticket.close", object_type="Ticket", object_ids=[ticket.id], details={})
    return ticket


@dataclass(frozen=True)
class SlaFigures:
    opened: int
    replied: int
    awaiting_first_reply: int
    open_now: int
    average_first_reply_seconds: float | None
    median_first_reply_seconds: int | None
    p90_first_reply_seconds: int | None
    oldest_awaiting_since: datetime | None


async def sla(
    db: Any, viewer: Viewer, *, queue: str | None, since: datetime | None, until: datetime | None
) -> SlaFigures:
    """Time to first reply over the tickets opened in [since, until) that the viewer
    answers: all SRE and mentor tickets for holders of ``tickets:handle``, a mentor's own
    otherwise. Aggregated in SQL: one statement for the counts, one per percentile."""
    viewer.require_user()
    where = [Ticket.queue == queue] if queue else []
    if not viewer.can(Permission.TICKETS):
        where.append(and_(Ticket.queue == "mentor", Ticket.mentor_id == viewer.user_id))
    if since is not None:
        where.append(Ticket.created_at >= since)
    if until is not None:
        where.append(Ticket.created_at < until)
    waiting = Ticket.first_reply_at.is_(None) & (Ticket.status != "closed")
    counts = select(
        func.count(),
        func.count(Ticket.first_reply_seconds),
        func.count().filter(waiting),
        func.count().filter(Ticket.status != "closed"),
        func.avg(Ticket.first_reply_seconds),
        func.min(Ticket.created_at).filter(waiting),
    ).where(*where)
    async with db.connect() as conn:
        opened, replied, awaiting, open_now, average, oldest = (await conn.execute(counts)).one()

        async def percentile(q: float) -> int | None:
            if not replied:
                return None
            query = (
                select(Ticket.first_reply_seconds)
                .where(*where, Ticket.first_reply_seconds.is_not(None))
                .order_by(Ticket.first_reply_seconds)
                .offset(int(q * (replied - 1)))
                .limit(1)
            )
            value = (await conn.execute(query)).scalar()
            return None if value is None else int(value)

        median, p90 = await percentile(0.5), await percentile(0.9)
    return SlaFigures(
        opened=int(opened), replied=int(replied), awaiting_first_reply=int(awaiting),
        open_now=int(open_now),
        average_first_reply_seconds=None if average is None else float(average),
        median_first_reply_seconds=median, p90_first_reply_seconds=p90,
        oldest_awaiting_since=oldest,
    )  # fmt: skip
