"""Registrations: registering (with answers and guests), the waitlist and its promotion,
cancelling, capacity changes, staff registering people, check-in at the door by a
personal signed code, walk-ins, and feedback from those who came.

Capacity is never exceeded: every change to an event's seats happens with its row
locked (``SELECT … FOR UPDATE``; SQLite's one write lock), so registrations take turns,
each numbered (``arrival``) in the order it got the lock; confirmed people are always
those who came first and fit. A cancellation or a larger capacity promotes the head of
the waitlist at once, in arrival order, while they fit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, and_, case, func, insert, literal, null, or_, select, update

from alumnet.domain.communication.notifications import Item, notify_each
from alumnet.domain.errors import DomainError, Problems, check_label, check_text
from alumnet.domain.events.catalogue import as_utc, event_for, event_in_audience
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Viewer
from alumnet.persistence.models import Event, EventFeedback, EventRegistration, User
from alumnet.persistence.models.base import UTCDateTime
from alumnet.persistence.uow import UnitOfWork

ANSWER_MAX = 500
COMMENT_MAX = 2000
CODE = re.compile(r"R?(\d{1,18})-?([A-Z2-7]{12})")
ACTIVE = ("confirmed", "waitlisted")
PROMOTE_BATCH = 500


def channel(event_id: int) -> str:
    """The pub/sub channel of an event's attendance figures (for its door dashboard)."""
    return f"event:{event_id}:attendance"


def publish_attendance(uow: UnitOfWork, event_id: int) -> None:
    uow.publish(channel(event_id), {"id": event_id})


def check_in_code(secret: str, event_id: int, registration_id: int) -> str:
    """The personal check-in code of a registration: its number and a signature of it
    with its event (60 bits: unguessable), e.g. ``R42-K7Q2M4XZ9ABC``."""
    mac = hmac.new(
        secret.encode(), f"alumnet-check-in:{event_id}:{registration_id}".encode(), hashlib.sha256
    ).digest()
    return f"R{registration_id}-{base64.b32encode(mac).decode()[:12]}"


def read_code(code: str) -> tuple[int, str] | None:
    """The registration a code names and its signature; None if it is not shaped as one."""
    text = "".join(code.split()).upper()[:64]
    found = CODE.fullmatch(text)
    return (int(found.group(1)), found.group(2)) if found else None


def signed(secret: str, event_id: int, registration_id: int, signature: str) -> bool:
    expected = check_in_code(secret, event_id, registration_id).rsplit("-", 1)[1]
    return hmac.compare_digest(expected, signature)


@dataclass(frozen=True)
class Answer:
    key: str
    value: str


def _answers(problems: Problems, event: Event, given: list[Answer]) -> dict[str, str]:
    questions = {q["key"]: q for q in event.questions or []}
    found: dict[str, str] = {}
    for i, answer in enumerate(given[: len(questions) + 1]):
        where = ("answers", str(i))
        question = questions.get(answer.key)
        if question is None:
            problems.add("INVALID", f"This event asks no question {answer.key[:32]!r}.", where)
            continue
        value = check_text(problems, answer.value, field=(*where, "value"),
                           max_length=ANSWER_MAX, label="An answer") or ""  # fmt: skip
        if question.get("choices") and value and value not in question["choices"]:
            problems.add("INVALID", f"Choose one of: {', '.join(question['choices'])}.",
                         (*where, "value"))  # fmt: skip
        if value:
            found[answer.key] = value
    if len(given) > len(questions):
        problems.add("TOO_MANY", "More answers than questions.", "answers")
    for key, question in questions.items():
        if question.get("required") and key not in found:
            problems.add("REQUIRED", f"Answer {question['label']!r}.", "answers")
    return found


def _window(problems: Problems, event: Event, now: datetime) -> None:
    if event.status == "cancelled":
        problems.add("CANCELLED", "This event was cancelled.", "eventId")
    elif event.status != "published" or as_utc(event.starts_at) <= now:
        problems.add("NOT_OPEN", "This event is not open for registration.", "eventId")
    elif event.registration_opens_at is not None and as_utc(event.registration_opens_at) > now:
        problems.add("NOT_YET_OPEN", "Registration has not opened yet.", "eventId")
    elif event.registration_closes_at is not None and as_utc(event.registration_closes_at) < now:
        problems.add("DEADLINE_PASSED", "Registration has closed.", "eventId")


async def _mine(
    uow: UnitOfWork, event_id: int, user_id: int, *, lock: bool = False
) -> EventRegistration | None:
    """The person's registration as it is now (locked until commit with ``lock``: a
    check-in and a cancellation of one registration take turns)."""
    query = (
        select(EventRegistration)
        .where(EventRegistration.event_id == event_id, EventRegistration.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        query = query.with_for_update()
    return (await uow.session.execute(query)).scalar_one_or_none()


def open_for(kind: str, now: datetime) -> Any:
    """SQL on the event's row, checked again under its lock (it may have been cancelled,
    or its deadline moved, since it was read): whether it still takes this kind of
    registration. ``register``: published, not started, before the deadline; ``staff``
    (registered by its organisers): published and not over; ``walk_in``: published or
    completed."""
    if kind == "walk_in":
        return Event.status.in_(("published", "completed"))
    if kind == "staff":
        return and_(Event.status == "published", Event.ends_at > now)
    return and_(
        Event.status == "published",
        Event.starts_at > now,
        or_(Event.registration_closes_at.is_(None), Event.registration_closes_at >= now),
    )


async def _take_place(
    uow: UnitOfWork,
    event_id: int,
    user_id: int | None,
    seats: int,
    now: datetime,
    kind: str,
    **row: Any,
) -> EventRegistration:
    """Lock the event, number the registration and confirm it if it fits and nobody is
    waiting (the rest wait). A person's earlier, cancelled registration is taken up again.

    The event's row is held from the lock to the commit, so the work under it is kept
    short: on PostgreSQL one statement (the lock, the counters and the registration in
    one INSERT … SELECT with data-modifying CTEs), elsewhere three. Whether the person
    registered before is read first; only if they had is it read again under the lock
    (two registrations of one person racing in are otherwise stopped by the unique key)."""
    earlier = await _mine(uow, event_id, user_id) if user_id is not None else None
    if earlier is not None and earlier.status in ACTIVE:
        raise DomainError.of("ALREADY_REGISTERED", "Already registered.", "eventId")
    if earlier is None and uow.session.get_bind().dialect.name == "postgresql":
        registration = await _insert_locked(uow, event_id, user_id, seats, now, kind, row)
        publish_attendance(uow, event_id)
        return registration
    locked = await uow.session.execute(
        select(Event.capacity, Event.seats_taken, Event.arrivals, Event.waiting)
        .where(Event.id == event_id, open_for(kind, now))
        .with_for_update()
    )
    found = locked.one_or_none()
    if found is None:
        raise DomainError.of("NOT_OPEN", "This event is not open for registration.", "eventId")
    capacity, taken, arrivals, waiting = found
    # Nobody jumps the queue: while people wait, newcomers wait behind them.
    fits = capacity is None or (taken + seats <= capacity and waiting == 0)
    if earlier is not None and user_id is not None:
        earlier = await _mine(uow, event_id, user_id)
        if earlier is not None and earlier.status in ACTIVE:
            raise DomainError.of("ALREADY_REGISTERED", "Already registered.", "eventId")
    await uow.session.execute(
        update(Event).where(Event.id == event_id).values(
            arrivals=arrivals + 1, seats_taken=taken + (seats if fits else 0),
            waiting=waiting + (0 if fits else 1),
        )
    )  # fmt: skip
    values = dict(row, status="confirmed" if fits else "waitlisted", arrival=arrivals + 1,
                  seats=seats, registered_at=now, confirmed_at=now if fits else None,
                  cancelled_at=None)  # fmt: skip
    if earlier is not None:
        for name, value in values.items():
            setattr(earlier, name, value)
        registration = earlier
    else:
        registration = EventRegistration(event_id=event_id, user_id=user_id, **values)
        uow.session.add(registration)
    await uow.session.flush()
    publish_attendance(uow, event_id)
    return registration


async def _insert_locked(
    uow: UnitOfWork, event_id: int, user_id: int | None, seats: int, now: datetime, kind: str,
    row: dict[str, Any],
) -> EventRegistration:  # fmt: skip
    """PostgreSQL: lock the event's row, move its counters and insert the registration in
    one statement. ``SELECT … FOR UPDATE`` waits for the lock and then reads the row as
    the previous holder committed it; the counters it reads are the ones kept under the
    lock (the waitlist's too), so no stale snapshot decides a place."""
    cur = (
        select(Event.id, Event.capacity, Event.seats_taken, Event.arrivals, Event.waiting)
        .where(Event.id == event_id, open_for(kind, now))
        .with_for_update()
        .cte("cur")
    )
    fits = or_(
        cur.c.capacity.is_(None),
        and_(cur.c.seats_taken + seats <= cur.c.capacity, cur.c.waiting == 0),
    )
    moved = (
        update(Event)
        .where(Event.id == cur.c.id)
        .values(
            arrivals=cur.c.arrivals + 1,
            seats_taken=cur.c.seats_taken + case((fits, seats), else_=0),
            waiting=cur.c.waiting + case((fits, 0), else_=1),
        )
        .returning(Event.id)
        .cte("moved")
    )
    columns = {
        "event_id": moved.c.id,
        "user_id": literal(user_id, BigInteger),
        "status": case((fits, "confirmed"), else_="waitlisted"),
        "arrival": cur.c.arrivals + 1,
        "seats": literal(seats),
        "registered_at": literal(now, UTCDateTime()),
        "confirmed_at": case((fits, literal(now, UTCDateTime())), else_=null()),
        **{
            k: literal(v, EventRegistration.__table__.c[k].type)
            for k, v in {
                "guests": 0,
                "answers": {},
                "listed": True,
                "walk_in": False,
                **row,
            }.items()
        },
    }
    statement = (
        insert(EventRegistration)
        .from_select(list(columns), select(*columns.values()).select_from(cur).join(
            moved, moved.c.id == cur.c.id))
        .returning(EventRegistration)
    )  # fmt: skip
    found = (await uow.session.execute(statement)).scalar_one_or_none()
    if found is None:  # cancelled, started or past its deadline since it was read
        raise DomainError.of("NOT_OPEN", "This event is not open for registration.", "eventId")
    return found


async def register(
    uow: UnitOfWork,
    viewer: Viewer,
    event_id: int,
    *,
    answers: list[Answer],
    guests: int = 0,
    listed: bool = True,
) -> EventRegistration:
    """Register the viewer (and their guests): confirmed if there is room, else waitlisted."""
    me = viewer.require_user()
    event, meant = await event_in_audience(uow, viewer, event_id)
    now = datetime.now(UTC)
    problems = Problems()
    _window(problems, event, now)
    if problems.items:
        problems.raise_if_any()
    if not meant:
        problems.add("NOT_IN_AUDIENCE", "This event is not open to you.", "eventId")
    if not 0 <= guests <= event.guests_max:
        problems.add("TOO_MANY_GUESTS", f"You may bring up to {event.guests_max} guests.",
                     "guests")  # fmt: skip
    chosen = _answers(problems, event, answers)
    problems.raise_if_any()
    registration = await _take_place(
        uow, event_id, me, 1 + guests, now, "register", guests=guests, answers=chosen,
        listed=listed, added_by_id=me,
    )  # fmt: skip
    return registration


async def register_person(
    uow: UnitOfWork, viewer: Viewer, event_id: int, user_id: int, *, guests: int = 0
) -> EventRegistration:
    """Staff (and the event's organisers) register someone themselves, whatever the
    audience and deadline (not for a cancelled or past event); the person is told."""
    me = viewer.require_user()
    event = await event_for(uow, viewer, event_id, manage=True)
    now = datetime.now(UTC)
    problems = Problems()
    if event.status != "published" or as_utc(event.ends_at) <= now:
        problems.add("NOT_OPEN", "This event is not open for registration.", "eventId")
    if not 0 <= guests <= event.guests_max:
        problems.add("TOO_MANY_GUESTS", f"Up to {event.guests_max} guests.", "guests")
    person = await uow.session.get(User, user_id)
    if person is None or person.status != "active":
        problems.add("NOT_FOUND", "No such user.", "userId")
    problems.raise_if_any()
    registration = await _take_place(uow, event_id, user_id, 1 + guests, now, "staff",
                                     guests=guests, answers={}, listed=True,
                                     added_by_id=me)  # fmt: skip
    state = "have a place" if registration.status == "confirmed" else "are on the waitlist"
    await notify_each(uow, "event", [Item(user_id, f"Registered: {event.title}",
                                          f"You {state}.", "Event", event.id)])  # fmt: skip
    audit.record(uow, "event.register_person", object_type="EventRegistration",
                 object_ids=[registration.id], details={"user": user_id})  # fmt: skip
    return registration


async def promote(uow: UnitOfWork, event: Event) -> list[int]:
    """Confirm the head of the waitlist, in arrival order, while they fit (the event's row
    is locked by the caller, and loaded under that lock); those promoted are told at
    once. Nobody is promoted once the event has started. Returns their ids."""
    now = datetime.now(UTC)
    if event.status != "published" or as_utc(event.starts_at) <= now:
        return []
    promoted: list[EventRegistration] = []
    while True:
        rows = (
            await uow.session.execute(
                select(EventRegistration)
                .where(EventRegistration.event_id == event.id,
                       EventRegistration.status == "waitlisted")
                .order_by(EventRegistration.arrival)
                .limit(PROMOTE_BATCH)
                .with_for_update()
            )
        ).scalars().all()  # fmt: skip
        for waiting in rows:
            if event.capacity is not None and event.seats_taken + waiting.seats > event.capacity:
                rows = []  # the first in line stays first: nobody behind them jumps ahead
                break
            waiting.status, waiting.confirmed_at = "confirmed", now
            event.seats_taken += waiting.seats
            event.waiting -= 1
            promoted.append(waiting)
        await uow.session.flush()
        if len(rows) < PROMOTE_BATCH:
            break
    if promoted:
        await notify_each(uow, "event", [
            Item(r.user_id, f"You have a place: {event.title}",
                 "A place came free and it is yours; cancel if you can no longer come.",
                 "Event", event.id)
            for r in promoted if r.user_id is not None
        ])  # fmt: skip
    return [r.id for r in promoted]


async def _locked_event(uow: UnitOfWork, event_id: int) -> Event:
    """The event's row, locked until commit and read as it is now (not as this session
    may have loaded it before the lock)."""
    found = await uow.session.execute(
        select(Event)
        .where(Event.id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return found.scalar_one()


async def cancel(uow: UnitOfWork, viewer: Viewer, event_id: int) -> EventRegistration:
    """Cancel the viewer's registration before the event starts; a place freed goes to
    the head of the waitlist."""
    me = viewer.require_user()
    await event_for(uow, viewer, event_id)
    event = await _locked_event(uow, event_id)
    found = await _mine(uow, event_id, me, lock=True)
    if found is None or found.status not in ACTIVE:
        raise DomainError.of("NOT_REGISTERED", "You are not registered for this event.", "eventId")
    if found.checked_in_at is not None:
        raise DomainError.of("CHECKED_IN", "You were checked in already.", "eventId")
    if as_utc(event.starts_at) <= datetime.now(UTC):
        raise DomainError.of("NOT_OPEN", "The event has started: it is too late to cancel.",
                             "eventId")  # fmt: skip
    if found.status == "confirmed":
        event.seats_taken -= found.seats
    else:
        event.waiting -= 1
    found.status, found.cancelled_at = "cancelled", datetime.now(UTC)
    await uow.session.flush()
    await promote(uow, event)
    publish_attendance(uow, event.id)
    return found


async def release_person(uow: UnitOfWork, user_id: int) -> int:
    """A person who leaves (erased, deleted): their places at events still to come go to
    those waiting, their answers and comments go. Returns how many places were freed."""
    now = datetime.now(UTC)
    coming = (
        select(EventRegistration.event_id)
        .join(Event, Event.id == EventRegistration.event_id)
        .where(EventRegistration.user_id == user_id, EventRegistration.status.in_(ACTIVE),
               Event.starts_at > now)
        .order_by(EventRegistration.event_id)
    )  # fmt: skip
    freed = 0
    for event_id in list((await uow.session.execute(coming)).scalars()):
        event = await _locked_event(uow, event_id)
        found = await _mine(uow, event_id, user_id, lock=True)
        if found is None or found.status not in ACTIVE:
            continue
        if found.status == "confirmed":
            event.seats_taken -= found.seats
            freed += 1
        else:
            event.waiting -= 1
        found.status, found.cancelled_at = "cancelled", now
        await uow.session.flush()
        await promote(uow, event)
        publish_attendance(uow, event_id)
    await uow.session.execute(
        update(EventRegistration).where(EventRegistration.user_id == user_id)
        .values(answers={}, listed=False)
    )  # fmt: skip
    await uow.session.execute(
        update(EventFeedback)
        .where(EventFeedback.registration_id.in_(
            select(EventRegistration.id).where(EventRegistration.user_id == user_id)))
        .values(comment=None)
    )  # fmt: skip
    return freed


async def set_capacity(
    uow: UnitOfWork, viewer: Viewer, event_id: int, capacity: int | None, *, overflow: str
) -> Event:
    """Change the capacity (None: unlimited). More room promotes the waitlist; less than
    the seats taken needs ``overflow="waitlist_latest"``: those confirmed last go back to
    the head of the waitlist (and are told); with ``"refuse"`` it is refused."""
    await event_for(uow, viewer, event_id, manage=True)
    event = await _locked_event(uow, event_id)
    if event.status in ("cancelled", "completed"):
        raise DomainError.of("NOT_OPEN", f"This event is {event.status}.", "id")
    if capacity is not None and not 1 <= capacity <= 100_000:
        raise DomainError.of("OUT_OF_RANGE", "A capacity is 1 to 100,000 people.", "capacity")
    if capacity is not None and capacity < event.seats_taken:
        if overflow != "waitlist_latest":
            raise DomainError.of(
                "CAPACITY_BELOW_CONFIRMED",
                f"{event.seats_taken} seats are taken: say who moves to the waitlist "
                "(overflow: WAITLIST_LATEST) or give a capacity of at least that.",
                "capacity",
            )
        confirmed = (
            await uow.session.execute(
                select(EventRegistration)
                .where(EventRegistration.event_id == event.id,
                       EventRegistration.status == "confirmed",
                       EventRegistration.checked_in_at.is_(None))
                .order_by(EventRegistration.arrival.desc())
                .limit(event.seats_taken - capacity)  # each takes a place at least
                .with_for_update()
            )
        ).scalars()  # fmt: skip
        moved: list[EventRegistration] = []
        for r in confirmed:
            if event.seats_taken <= capacity:
                break
            r.status, r.confirmed_at = "waitlisted", None
            event.seats_taken -= r.seats
            event.waiting += 1
            moved.append(r)
        if event.seats_taken > capacity:
            raise DomainError.of("CAPACITY_BELOW_CONFIRMED",
                                 "More people are checked in than that.", "capacity")  # fmt: skip
        await notify_each(uow, "event", [
            Item(r.user_id, f"Back on the waitlist: {event.title}",
                 "The event has fewer places now; you are first in line for the next one.",
                 "Event", event.id)
            for r in moved if r.user_id is not None
        ])  # fmt: skip
    event.capacity = capacity
    event.updated_at = datetime.now(UTC)
    await uow.session.flush()
    await promote(uow, event)
    publish_attendance(uow, event.id)
    audit.record(uow, "event.capacity", object_type="Event", object_ids=[event.id],
                 details={"capacity": capacity})  # fmt: skip
    return event


@dataclass(frozen=True)
class CheckIn:
    registration: EventRegistration
    already: bool


async def check_in(
    uow: UnitOfWork, viewer: Viewer, event_id: int, code: str, *, secret: str
) -> CheckIn:
    """Check someone in by their code (organisers); again is a no-op that says so."""
    me = viewer.require_user()
    event = await event_for(uow, viewer, event_id, manage=True)
    found = read_code(code)
    registration = None
    if found is not None:
        registration = await uow.session.get(EventRegistration, found[0], with_for_update=True)
    if registration is None or not signed(secret, registration.event_id, *found):  # type: ignore[misc]
        raise DomainError.of("INVALID_CODE", "This is not a check-in code.", "code")
    if registration.event_id != event.id:
        raise DomainError.of("OTHER_EVENT", "This code is for another event.", "code")
    if registration.status != "confirmed":
        raise DomainError.of("NOT_CONFIRMED", f"This registration is {registration.status}.",
                             "code")  # fmt: skip
    if event.status not in ("published", "completed"):
        raise DomainError.of("NOT_OPEN", f"This event is {event.status}.", "eventId")
    if registration.checked_in_at is not None:
        return CheckIn(registration, already=True)
    registration.checked_in_at, registration.checked_in_by_id = datetime.now(UTC), me
    await uow.session.flush()
    publish_attendance(uow, event.id)
    return CheckIn(registration, already=False)


async def walk_in(
    uow: UnitOfWork, viewer: Viewer, event_id: int, *, user_id: int | None, name: str | None
) -> EventRegistration:
    """Add someone who came without registering, checked in at once: a user, or a person
    without an account by name. They take a seat (refused when the event is full)."""
    me = viewer.require_user()
    event = await event_for(uow, viewer, event_id, manage=True)
    problems = Problems()
    if event.status not in ("published", "completed"):
        problems.add("NOT_OPEN", f"This event is {event.status}.", "eventId")
    shown = None
    if (user_id is None) == (name is None):
        problems.add("INVALID", "Name a user or give a name, not both.", "userId")
    elif name is not None:
        shown = check_label(problems, name, field="name", max_length=200, min_length=1,
                            label="The name")  # fmt: skip
    elif (person := await uow.session.get(User, user_id)) is None or person.status != "active":
        problems.add("NOT_FOUND", "No such user.", "userId")
    problems.raise_if_any()
    now = datetime.now(UTC)
    if user_id is not None:
        earlier = (
            await uow.session.execute(
                select(EventRegistration).where(
                    EventRegistration.event_id == event_id, EventRegistration.user_id == user_id
                )
            )
        ).scalar_one_or_none()
        if earlier is not None and earlier.status == "confirmed":
            raise DomainError.of("ALREADY_REGISTERED", "Registered already: check them in by "
                                 "their code.", "userId")  # fmt: skip
        if earlier is not None and earlier.status == "waitlisted":
            raise DomainError.of("ALREADY_REGISTERED", "On the waitlist: raise the capacity "
                                 "to let them in, then check them in.", "userId")  # fmt: skip
    registration = await _take_place(uow, event_id, user_id, 1, now, "walk_in", guests=0,
                                     answers={},
                                     listed=False, added_by_id=me, walk_in_name=shown,
                                     walk_in=True)  # fmt: skip
    if registration.status != "confirmed":
        raise DomainError.of("FULL", "The event is full: raise its capacity first.", "eventId")
    registration.checked_in_at, registration.checked_in_by_id = now, me
    await uow.session.flush()
    audit.record(uow, "event.walk_in", object_type="EventRegistration",
                 object_ids=[registration.id])  # fmt: skip
    return registration


async def give_feedback(
    uow: UnitOfWork, viewer: Viewer, event_id: int, rating: int, comment: str | None
) -> EventFeedback:
    """Those who came rate the event 1 to 5, with a comment; again replaces it."""
    me = viewer.require_user()
    event = await event_for(uow, viewer, event_id)
    problems = Problems()
    if not 1 <= rating <= 5:
        problems.add("OUT_OF_RANGE", "A rating is 1 to 5.", "rating")
    text = check_text(problems, comment, field="comment", max_length=COMMENT_MAX,
                      label="The comment")  # fmt: skip
    registration = (
        await uow.session.execute(
            select(EventRegistration).where(
                EventRegistration.event_id == event.id, EventRegistration.user_id == me
            )
        )
    ).scalar_one_or_none()
    if registration is None or registration.checked_in_at is None:
        problems.add("NOT_ATTENDED", "Only those who came give feedback.", "eventId")
    elif as_utc(event.starts_at) > datetime.now(UTC):
        problems.add("NOT_STARTED", "The event has not started yet.", "eventId")
    problems.raise_if_any()
    assert registration is not None
    found = await uow.session.get(EventFeedback, registration.id)
    if found is None:
        found = EventFeedback(registration_id=registration.id, event_id=event.id, rating=rating,
                              comment=text or None, created_at=datetime.now(UTC))  # fmt: skip
        uow.session.add(found)
    else:
        found.rating, found.comment, found.created_at = rating, text or None, datetime.now(UTC)
    await uow.session.flush()
    return found


async def counts(executor: Any, event_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per event: people confirmed, seats taken, waitlisted, checked in (one statement)."""
    r = EventRegistration
    query = (
        select(
            r.event_id,
            func.count().filter(r.status == "confirmed"),
            func.coalesce(func.sum(r.seats).filter(r.status == "confirmed"), 0),
            func.count().filter(r.status == "waitlisted"),
            func.count().filter(r.checked_in_at.is_not(None)),
        )
        .where(r.event_id.in_(event_ids))
        .group_by(r.event_id)
    )
    found = {i: {"confirmed": 0, "seats": 0, "waitlisted": 0, "checked_in": 0} for i in event_ids}
    for event_id, confirmed, seats, waitlisted, checked in (await executor.execute(query)).all():
        found[int(event_id)] = {
            "confirmed": int(confirmed),
            "seats": int(seats),
            "waitlisted": int(waitlisted),
            "checked_in": int(checked),
        }
    return found
