"""Demo events: a reunion and a career fair that are over (registrations, check-ins,
no-shows, walk-ins and feedback), and coming ones (a full reunion with a waitlist, an
online talk, a weekly office-hours series) with alumnus@ and student@ registered.
Deterministic; bulk inserts; all dates relative to today."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update

from alumnet.domain.careers.demo import ids_of_role
from alumnet.domain.communication.notices import render
from alumnet.domain.events.catalogue import occurrences
from alumnet.persistence.models import (
    Event,
    EventFeedback,
    EventPerson,
    EventRegistration,
    EventSeries,
    EventTarget,
    User,
)
from alumnet.persistence.uow import UnitOfWork

ZONE = "Africa/Accra"
COMMENTS = ["Wonderful to see everyone again.", "Too short!", "Great speakers.",
            "The venue was hard to find.", "Loved the mentoring corner.", None, None]  # fmt: skip


def _at(days: int, hour: int) -> datetime:
    """A day relative to today at a local hour in Accra (UTC+0), as UTC."""
    day = datetime.now(UTC).date() + timedelta(days=days)
    return datetime.combine(day, time(hour), ZoneInfo(ZONE)).astimezone(UTC)


async def _user(uow: UnitOfWork, email: str) -> int | None:
    found = (await uow.session.execute(select(User.id).where(User.email_lower == email))).scalar()
    return int(found) if found is not None else None


async def seed_events(uow: UnitOfWork, domain: str) -> int:
    """The demo events; skipped when any event exists. Returns how many it made."""
    session = uow.session
    if (await session.execute(select(func.count()).select_from(Event))).scalar_one():
        return 0
    manager = await _user(uow, f"manager@{domain}")
    alumnus = await _user(uow, f"alumnus@{domain}")
    student = await _user(uow, f"student@{domain}")
    # The crowd: everyone but alumnus@ and student@, who are added by name.
    alumni = [i for i in await ids_of_role(uow, "ALUMNUS", 401) if i != alumnus][:400]
    students = [i for i in await ids_of_role(uow, "STUDENT", 201) if i != student][:200]
    now = datetime.now(UTC)
    rng = random.Random(20)  # noqa: S311  (demo data, not secrets)

    def event(title: str, kind: str, mode: str, starts: datetime, hours: int, **more: Any) -> Any:
        text = more.pop("description", f"Join us for **{title}**.")
        status = "completed" if starts + timedelta(hours=hours) < now else "published"
        return {
            "title": title, "kind": kind, "mode": mode, "starts_at": starts,
            "ends_at": starts + timedelta(hours=hours), "time_zone": ZONE,
            "description_markdown": text, "description_html": render(text), "status": status,
            "created_by_id": manager, "published_at": starts - timedelta(days=30),
            "created_at": starts - timedelta(days=31), "updated_at": starts - timedelta(days=30),
            "questions": [], "guests_max": 0, **more,
        }  # fmt: skip

    rows = [
        event("Class of 2016 ten-year reunion", "reunion", "in_person", _at(-40, 18), 4,
              venue="Great Hall", city="Accra", country="GH", capacity=150, guests_max=1,
              questions=[{"key": "diet", "label": "Dietary needs", "required": False,
                          "choices": ["none", "vegetarian", "vegan", "halal"]}]),
        event("Spring career fair", "career_fair", "hybrid", _at(-12, 10), 6, venue="Expo Centre",
              city="Accra", country="GH", capacity=300, join_url="https://meet.example.org/fair"),
        event("Homecoming reunion", "reunion", "in_person", _at(10, 17), 5, venue="Alumni Lawn",
              city="Accra", country="GH", capacity=40, guests_max=1),
        event("Breaking into data science", "talk", "online", _at(4, 19), 1,
              join_url="https://meet.example.org/data-talk", capacity=None),
        event("Students meet alumni: Lagos chapter", "meetup", "in_person", _at(18, 16), 3,
              venue="Chapter House", city="Lagos", country="NG", capacity=60),
    ]  # fmt: skip
    ids = [
        int(i) for i in (await session.execute(insert(Event).returning(Event.id), rows)).scalars()
    ]
    reunion, fair, homecoming, talk, lagos = ids
    await session.execute(insert(EventTarget), [
        {"event_id": lagos, "role": "STUDENT", "batch_id": None, "graduation_year": None},
        {"event_id": lagos, "role": "ALUMNUS", "batch_id": None, "graduation_year": None},
    ])  # fmt: skip
    people = [{"event_id": talk, "role": "speaker", "user_id": None, "name": "Dr Abena Owusu",
               "affiliation": "Data lead, Kente Systems", "position": 0}]  # fmt: skip
    if alumnus is not None:
        people.append({"event_id": lagos, "role": "organiser", "user_id": alumnus, "name": None,
                       "affiliation": None, "position": 0})  # fmt: skip
    await session.execute(insert(EventPerson), people)
    # Weekly office hours for the next six weeks, a series of its own events.
    first = _at(2, 15)
    starts = occurrences("FREQ=WEEKLY;COUNT=6", first, ZoneInfo(ZONE)) or [first]
    series = EventSeries(rule="FREQ=WEEKLY;COUNT=6", starts_at=first, time_zone=ZONE,
                         created_by_id=manager, created_at=now)  # fmt: skip
    session.add(series)
    await session.flush()
    hours = [
        event("Careers office hours", "meetup", "online", s, 1, series_id=series.id,
              join_url="https://meet.example.org/office-hours", capacity=12)
        for s in starts
    ]  # fmt: skip
    office = [int(i) for i in (await session.execute(insert(Event).returning(Event.id),
                                                        hours)).scalars()]  # fmt: skip
    registrations: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    seats: dict[int, int] = {}
    arrivals: dict[int, int] = {}
    waits: dict[int, int] = {}

    def register(event_id: int, user_id: int, *, came: bool | None = None, wait: bool = False,
                 guests: int = 0, walk_in: bool = False) -> None:  # fmt: skip
        arrivals[event_id] = arrivals.get(event_id, 0) + 1
        waits[event_id] = waits.get(event_id, 0) + (1 if wait else 0)
        if not wait:
            seats[event_id] = seats.get(event_id, 0) + 1 + guests
        when = now - timedelta(days=rng.randint(1, 20))
        registrations.append({
            "event_id": event_id, "user_id": user_id,
            "status": "waitlisted" if wait else "confirmed",
            "arrival": arrivals[event_id], "guests": guests, "seats": 1 + guests,
            "answers": {}, "listed": True, "registered_at": when,
            "confirmed_at": None if wait else when, "checked_in_at": now if came else None,
            "walk_in": walk_in, "added_by_id": manager if walk_in else user_id,
        })  # fmt: skip

    past = [alumnus, *alumni[:110]] if alumnus is not None else alumni[:110]
    for n, user_id in enumerate(past):
        register(reunion, user_id, came=n % 5 != 0, guests=1 if n % 7 == 0 else 0)
    for n, user_id in enumerate([*alumni[110:200], *students[:120]]):
        register(fair, user_id, came=n % 4 != 0)
    for user_id in alumni[200:205]:
        register(fair, user_id, came=True, walk_in=True)
    full = [alumnus, *alumni[205:250]] if alumnus is not None else alumni[205:250]
    for n, user_id in enumerate(full):
        register(homecoming, user_id, wait=n >= 40)
    for user_id in ([student] if student else []) + alumni[250:280] + students[120:150]:
        register(talk, user_id)
    for user_id in ([student] if student else []) + students[150:170] + alumni[280:300]:
        register(lagos, user_id)
    for user_id in ([student] if student else []) + students[170:178]:
        register(office[0], user_id)
    rows_made = (
        await session.execute(
            insert(EventRegistration).returning(
                EventRegistration.id, EventRegistration.event_id, EventRegistration.checked_in_at
            ),
            registrations,
        )
    ).all()
    for registration_id, event_id, came in rows_made:
        if came is not None and event_id in (reunion, fair) and rng.random() < 0.45:
            feedback.append({"registration_id": registration_id, "event_id": event_id,
                             "rating": rng.choice([3, 4, 4, 5, 5, 5, 2]),
                             "comment": rng.choice(COMMENTS), "created_at": now})  # fmt: skip
    if feedback:
        await session.execute(insert(EventFeedback), feedback)
    for event_id in set(arrivals):
        await session.execute(
            update(Event).where(Event.id == event_id).values(
                seats_taken=seats.get(event_id, 0), arrivals=arrivals[event_id],
                waiting=waits[event_id],
            )
        )  # fmt: skip
    return len(ids) + len(office)
