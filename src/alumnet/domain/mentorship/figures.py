"""Mentorship in figures, in SQL: the programme's (requests and how they were answered,
the request success rate, hours to answer, mentorships active and how they ended,
sessions per mentorship, ratings) and each mentor's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Double, case, cast, func, literal, select

from alumnet.persistence.models import (
    Mentorship,
    MentorshipFeedback,
    MentorshipRequest,
    MentorshipSession,
    User,
)
from alumnet.persistence.models.base import UTCDateTime


@dataclass
class Figures:
    requests: int
    accepted: int
    declined: int
    expired: int
    withdrawn: int
    pending: int
    average_hours_to_answer: float | None
    active: int
    completed: int
    ended_early: int
    sessions: int
    rating_of_mentors: float | None  # by their mentees
    rating_of_mentees: float | None  # by their mentors
    ratings: int

    @property
    def acceptance_rate(self) -> float | None:
        answered = self.accepted + self.declined + self.expired
        return round(self.accepted / answered, 4) if answered else None

    @property
    def completion_rate(self) -> float | None:
        over = self.completed + self.ended_early
        return round(self.completed / over, 4) if over else None

    @property
    def sessions_per_mentorship(self) -> float | None:
        total = self.active + self.completed + self.ended_early
        return round(self.sessions / total, 2) if total else None


def _now() -> Any:
    return literal(datetime.now(UTC), UTCDateTime())


def _hours(later: Any, earlier: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier) / 3600.0
    return (func.julianday(later) - func.julianday(earlier)) * 24.0


async def overall(executor: Any, dialect: str, mentor_id: int | None = None) -> Figures:
    """The programme's figures (or one mentor's), in four statements."""
    r, m = MentorshipRequest, Mentorship
    requests = select(
        func.count(),
        *(func.count().filter(r.status == s) for s in
          ("accepted", "declined", "expired", "withdrawn", "pending")),
        func.avg(case((r.status.in_(("accepted", "declined")),
                       cast(_hours(r.answered_at, r.created_at, dialect), Double)))),
    )  # fmt: skip
    mentorships = select(*(func.count().filter(m.status == s)
                           for s in ("active", "completed", "ended")))  # fmt: skip
    # Sessions held: booked, not cancelled, and started.
    sessions = select(func.count()).where(
        MentorshipSession.status == "scheduled", MentorshipSession.starts_at <= _now()
    )
    f = MentorshipFeedback
    ratings = select(
        func.avg(case((f.by_mentor.is_(False), cast(f.rating, Double)))),
        func.avg(case((f.by_mentor.is_(True), cast(f.rating, Double)))),
        func.count(),
    )
    if mentor_id is not None:
        requests = requests.where(r.mentor_id == mentor_id)
        mentorships = mentorships.where(m.mentor_id == mentor_id)
        sessions = sessions.where(MentorshipSession.mentor_id == mentor_id)
        ratings = ratings.where(f.mentorship_id.in_(select(m.id).where(m.mentor_id == mentor_id)))
    else:
        requests, mentorships = requests.select_from(r), mentorships.select_from(m)
        ratings = ratings.select_from(f)
    total, accepted, declined, expired, withdrawn, pending, hours = (
        await executor.execute(requests)
    ).one()
    active, completed, ended = (await executor.execute(mentorships)).one()
    held = (await executor.execute(sessions)).scalar_one()
    of_mentors, of_mentees, rated = (await executor.execute(ratings)).one()
    return Figures(
        requests=int(total), accepted=int(accepted), declined=int(declined),
        expired=int(expired), withdrawn=int(withdrawn), pending=int(pending),
        average_hours_to_answer=round(float(hours), 2) if hours is not None else None,
        active=int(active), completed=int(completed), ended_early=int(ended),
        sessions=int(held),
        rating_of_mentors=round(float(of_mentors), 2) if of_mentors is not None else None,
        rating_of_mentees=round(float(of_mentees), 2) if of_mentees is not None else None,
        ratings=int(rated),
    )  # fmt: skip


@dataclass
class MentorLine:
    mentor_id: int
    name: str
    requests: int
    accepted: int
    active: int
    completed: int
    sessions: int
    average_rating: float | None
    ratings: int
    answered: int = 0  # accepted, declined or expired: as the programme's rate counts

    @property
    def acceptance_rate(self) -> float | None:
        return round(self.accepted / self.answered, 4) if self.answered else None


def requests_by_mentor() -> Any:
    """Every mentor asked at least once, with their request counts (``mentor_id``,
    ``name``, ``requests``, ``accepted``, ``answered``): a query to sort and page."""
    r = MentorshipRequest
    counts = (
        select(r.mentor_id, func.count().label("requests"),
               func.count().filter(r.status == "accepted").label("accepted"),
               func.count().filter(r.status.in_(("accepted", "declined", "expired")))
               .label("answered"))
        .group_by(r.mentor_id)
        .subquery("requests_by_mentor")
    )  # fmt: skip
    return select(
        counts.c.mentor_id, User.name, counts.c.requests, counts.c.accepted, counts.c.answered
    ).join(User, User.id == counts.c.mentor_id)


async def mentor_lines(executor: Any, rows: Sequence[Any]) -> list[MentorLine]:
    """Rows of ``requests_by_mentor`` with the rest of each mentor's figures (two
    statements, whatever the number of rows)."""
    m = Mentorship
    ids = [int(row.mentor_id) for row in rows]
    if not ids:
        return []
    held = {
        int(i): (int(a), int(c), int(s))
        for i, a, c, s in await executor.execute(
            select(
                m.mentor_id, func.count().filter(m.status == "active"),
                func.count().filter(m.status == "completed"),
                select(func.count()).where(MentorshipSession.mentor_id == m.mentor_id,
                                           MentorshipSession.status == "scheduled",
                                           MentorshipSession.starts_at <= _now())
                .scalar_subquery(),
            ).where(m.mentor_id.in_(ids)).group_by(m.mentor_id)
        )
    }  # fmt: skip
    f = MentorshipFeedback
    rated = {
        int(i): (float(a), int(n))
        for i, a, n in await executor.execute(
            select(f.subject_id, func.avg(cast(f.rating, Double)), func.count())
            .where(f.subject_id.in_(ids), f.by_mentor.is_(False))
            .group_by(f.subject_id)
        )
    }
    return [
        MentorLine(
            mentor_id=i,
            name=str(row.name),
            requests=int(row.requests),
            accepted=int(row.accepted),
            active=held.get(i, (0, 0, 0))[0],
            completed=held.get(i, (0, 0, 0))[1],
            sessions=held.get(i, (0, 0, 0))[2],
            average_rating=round(rated[i][0], 2) if i in rated else None,
            ratings=rated.get(i, (0.0, 0))[1],
            answered=int(row.answered),
        )
        for row in rows
        for i in [int(row.mentor_id)]
    ]
