"""The events counted afterwards, in SQL: one event's attendance (registered, checked in,
no-shows), fill and show rates, feedback, and attendance by graduation year and batch;
and the same rates for every event of a period, by kind.

Fill rate: seats taken over capacity (none for an unlimited event). Show rate: people
checked in over people confirmed (walk-ins count as both).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from alumnet.domain.events.catalogue import as_utc
from alumnet.persistence.models import (
    Batch,
    Enrollment,
    Event,
    EventFeedback,
    EventRegistration,
    Mission,
    User,
)

BATCHES_MAX = 200


@dataclass
class Tally:
    """People registered (confirmed) and checked in, in one group."""

    key: Any
    label: str
    registered: int
    checked_in: int


@dataclass
class Feedback:
    count: int = 0
    average: float | None = None
    by_rating: list[int] = field(default_factory=lambda: [0] * 5)  # ratings 1 to 5


@dataclass
class EventFigures:
    confirmed: int
    seats: int
    waitlisted: int
    cancelled: int
    checked_in: int
    walk_ins: int
    no_shows: int
    capacity: int | None
    feedback: Feedback
    by_graduation_year: list[Tally]
    by_batch: list[Tally]

    @property
    def fill_rate(self) -> float | None:
        return round(self.seats / self.capacity, 4) if self.capacity else None

    @property
    def show_rate(self) -> float | None:
        return round(self.checked_in / self.confirmed, 4) if self.confirmed else None


def _rate(part: int, whole: int | None) -> float | None:
    return round(part / whole, 4) if whole else None


async def feedback_of(executor: Any, event_ids: list[int]) -> dict[int, Feedback]:
    f = EventFeedback
    rows = await executor.execute(
        select(f.event_id, f.rating, func.count())
        .where(f.event_id.in_(event_ids))
        .group_by(f.event_id, f.rating)
    )
    found: dict[int, Feedback] = {i: Feedback() for i in event_ids}
    for event_id, rating, count in rows.all():
        found[int(event_id)].by_rating[int(rating) - 1] = int(count)
    for one in found.values():
        one.count = sum(one.by_rating)
        if one.count:
            total = sum((i + 1) * n for i, n in enumerate(one.by_rating))
            one.average = round(total / one.count, 2)
    return found


async def of_events(executor: Any, ids: list[int], now: datetime) -> dict[int, EventFigures]:
    """Each event's figures, in five statements however many events (a page of them)."""
    r = EventRegistration
    events = {
        int(row.id): row
        for row in await executor.execute(
            select(Event.id, Event.capacity, Event.starts_at).where(Event.id.in_(ids))
        )
    }
    totals = {
        int(row[0]): [int(v) for v in row[1:]]
        for row in await executor.execute(
            select(
                r.event_id,
                func.count().filter(r.status == "confirmed"),
                func.coalesce(func.sum(r.seats).filter(r.status == "confirmed"), 0),
                func.count().filter(r.status == "waitlisted"),
                func.count().filter(r.status == "cancelled"),
                func.count().filter(r.checked_in_at.is_not(None)),
                func.count().filter(r.walk_in.is_(True)),
            )
            .where(r.event_id.in_(ids))
            .group_by(r.event_id)
        )
    }
    came = r.checked_in_at.is_not(None)
    year = User.record_graduation_year
    years: dict[int, list[Tally]] = {i: [] for i in ids}
    for event_id, y, n, c in await executor.execute(
        select(r.event_id, year, func.count(), func.count().filter(came))
        .join(User, User.id == r.user_id)
        .where(r.event_id.in_(ids), r.status == "confirmed")
        .group_by(r.event_id, year)
        .order_by(r.event_id, year)
    ):
        years[int(event_id)].append(
            Tally(y, str(y) if y is not None else "unknown", int(n), int(c))
        )
    batch_of = (
        select(Enrollment.student_id, Mission.batch_id)
        .join(Mission, Mission.id == Enrollment.mission_id)
        .where(Enrollment.status.in_(("active", "completed")))
        .distinct()
        .subquery()
    )
    batches: dict[int, list[Tally]] = {i: [] for i in ids}
    for event_id, batch_id, name, n, c in await executor.execute(
        select(r.event_id, Batch.id, Batch.name, func.count(), func.count().filter(came))
        .select_from(r)
        .join(batch_of, batch_of.c.student_id == r.user_id)
        .join(Batch, Batch.id == batch_of.c.batch_id)
        .where(r.event_id.in_(ids), r.status == "confirmed")
        .group_by(r.event_id, Batch.id, Batch.name)
        .order_by(r.event_id, Batch.name, Batch.id)
    ):
        if len(batches[int(event_id)]) < BATCHES_MAX:
            batches[int(event_id)].append(Tally(batch_id, str(name), int(n), int(c)))
    feedback = await feedback_of(executor, ids)
    found = {}
    for event_id, event in events.items():
        confirmed, seats, waitlisted, cancelled, checked_in, walk_ins = totals.get(
            event_id, [0] * 6
        )
        started = as_utc(event.starts_at) <= now
        found[event_id] = EventFigures(
            confirmed=confirmed, seats=seats, waitlisted=waitlisted, cancelled=cancelled,
            checked_in=checked_in, walk_ins=walk_ins,
            no_shows=confirmed - checked_in if started else 0, capacity=event.capacity,
            feedback=feedback[event_id], by_graduation_year=years[event_id],
            by_batch=batches[event_id],
        )  # fmt: skip
    return found


@dataclass
class KindFigures:
    kind: str
    events: int
    capacity: int  # of the events with one
    seats: int
    confirmed: int
    checked_in: int
    feedback_count: int
    average_rating: float | None

    @property
    def fill_rate(self) -> float | None:
        return _rate(self.seats_limited, self.capacity)

    seats_limited: int = 0  # seats taken at the events with a capacity

    @property
    def show_rate(self) -> float | None:
        return _rate(self.checked_in, self.confirmed)


async def of_period(executor: Any, since: datetime, until: datetime) -> list[KindFigures]:
    """Every published, completed (and cancelled) event starting in [since, until), by
    kind: how many, how full, how many came, what they said. Cancelled events count as
    events only."""
    r = EventRegistration
    held = Event.status.in_(("published", "completed"))
    people = (
        select(
            r.event_id,
            func.count().filter(r.status == "confirmed").label("confirmed"),
            func.count().filter(r.checked_in_at.is_not(None)).label("came"),
        )
        .group_by(r.event_id)
        .subquery()
    )
    rated = (
        select(EventFeedback.event_id, func.count().label("n"),
               func.sum(EventFeedback.rating).label("total"))
        .group_by(EventFeedback.event_id)
        .subquery()
    )  # fmt: skip
    rows = await executor.execute(
        select(
            Event.kind,
            func.count(),
            func.coalesce(func.sum(Event.capacity).filter(held), 0),
            func.coalesce(func.sum(Event.seats_taken).filter(held), 0),
            func.coalesce(func.sum(Event.seats_taken).filter(held, Event.capacity.is_not(None)), 0),
            func.coalesce(func.sum(people.c.confirmed).filter(held), 0),
            func.coalesce(func.sum(people.c.came).filter(held), 0),
            func.coalesce(func.sum(rated.c.n), 0),
            func.coalesce(func.sum(rated.c.total), 0),
        )
        .outerjoin(people, people.c.event_id == Event.id)
        .outerjoin(rated, rated.c.event_id == Event.id)
        .where(Event.status != "draft", Event.starts_at >= since, Event.starts_at < until)
        .group_by(Event.kind)
        .order_by(Event.kind)
    )
    found = []
    for kind, events, capacity, seats, limited, confirmed, came, rated_n, total in rows.all():
        found.append(KindFigures(
            kind=str(kind), events=int(events), capacity=int(capacity), seats=int(seats),
            confirmed=int(confirmed), checked_in=int(came), feedback_count=int(rated_n),
            average_rating=round(int(total) / int(rated_n), 2) if rated_n else None,
            seats_limited=int(limited),
        ))  # fmt: skip
    return found
