"""Events themselves: who may see and run them, creating (one, or a recurring series),
changing, publishing, cancelling and completing them, and the people trusted to host.

An event is a draft until it is published; then it is open to its audience (the
announcements' rules: roles AND batches AND graduation years, none for everyone) and
may be cancelled (its people are told) or completed (after it ends, by the scheduler
or its organisers). Its organisers are the person who created it, the users named as
organisers, and holders of ``events:manage``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule
from sqlalchemy import ColumnElement, and_, delete, false, insert, or_, select, update

from alumnet.domain.communication.announcements import (
    Audience,
    addressed_to,
    check_audience,
    recipients,
    target_values,
)
from alumnet.domain.communication.notices import BODY_MAX, render
from alumnet.domain.communication.notifications import Event as Notice
from alumnet.domain.communication.notifications import notify
from alumnet.domain.errors import DomainError, Problems, check_label, check_moment
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.people.profiles import check_url
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import (
    Event,
    EventHost,
    EventPerson,
    EventRegistration,
    EventSeries,
    EventTarget,
    User,
)
from alumnet.persistence.uow import UnitOfWork

KINDS = ("reunion", "talk", "career_fair", "meetup", "other")
MODES = ("in_person", "online", "hybrid")
STATUSES = ("draft", "published", "cancelled", "completed")
SHOWN = ("published", "cancelled", "completed")  # what an audience sees
TITLE_MAX = 200
PLACE_MAX = 200
CITY_MAX = 100
PEOPLE_MAX = 20
QUESTIONS_MAX = 10
CHOICES_MAX = 20
LABEL_MAX = 200
GUESTS_MAX = 10
CAPACITY_MAX = 100_000
DURATION_MAX = timedelta(days=31)
AHEAD_MAX = timedelta(days=3 * 366)  # how far ahead an event may start
OCCURRENCES_MAX = 52
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
RULE_PARTS = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "WKST")
WEEKDAYS = "(MO|TU|WE|TH|FR|SA|SU)"
BYDAY_PLAIN = re.compile(WEEKDAYS)
BYDAY_MONTHLY = re.compile(rf"([+-]?[1-4]|-?5)?{WEEKDAYS}")  # the 1st to 4th, 5th, last
SERIES_SPAN = timedelta(days=366)
REASON_MAX = 500
COUNTRY = re.compile(r"[A-Z]{2}")
QUESTION_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")


def zone_of(name: str) -> ZoneInfo | None:
    """The IANA time zone of this name, or None if there is none."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a folder
        return None


def may_host(viewer: Viewer) -> bool:
    """Whether the viewer holds a role that hosts events (a per-user grant aside)."""
    return viewer.can(Permission.EVENTS_HOST) or viewer.can(Permission.EVENTS_MANAGE)


async def is_host(uow: UnitOfWork, viewer: Viewer) -> bool:
    if may_host(viewer):
        return True
    return (
        viewer.user_id is not None and await uow.session.get(EventHost, viewer.user_id) is not None
    )


def organised_by(user_id: int) -> Any:
    """Ids of the events this user created or is an organiser of."""
    return select(EventPerson.event_id).where(
        EventPerson.user_id == user_id, EventPerson.role == "organiser"
    )


def managed(viewer: Viewer) -> ColumnElement[bool] | None:
    """SQL: the events the viewer runs (None: every one, for ``events:manage``)."""
    if viewer.can(Permission.EVENTS_MANAGE):
        return None
    if viewer.user_id is None:
        return false()
    return or_(Event.created_by_id == viewer.user_id, Event.id.in_(organised_by(viewer.user_id)))


def readable(viewer: Viewer, audience: Any = None) -> ColumnElement[bool] | None:
    """SQL: the events the viewer may see (None: every one): those they run, those they
    registered for, and published (or since cancelled or completed) events addressed to
    them (``audience``: ``in_audience(viewer)``, when the caller has built it already)."""
    if not viewer.is_authenticated:
        return false()
    runs = managed(viewer)
    if runs is None:
        return None
    me = viewer.user_id
    return or_(
        runs,
        and_(Event.status.in_(SHOWN), audience if audience is not None else in_audience(viewer)),
        Event.id.in_(select(EventRegistration.event_id).where(EventRegistration.user_id == me)),
    )


def in_audience(viewer: Viewer) -> ColumnElement[bool]:
    return addressed_to(viewer, EventTarget, EventTarget.event_id, Event.id)


async def event_in_audience(uow: UnitOfWork, viewer: Viewer, event_id: int) -> tuple[Event, bool]:
    """The event if the viewer may see it (NOT_FOUND otherwise), and whether it is
    addressed to them (or they run it): one statement."""
    viewer.require_user()
    audience = in_audience(viewer)
    runs = managed(viewer)
    meant = audience if runs is None else or_(audience, runs)
    query = select(Event, meant.label("meant")).where(Event.id == event_id)
    condition = readable(viewer, audience)
    if condition is not None:
        query = query.where(condition)
    found = (await uow.session.execute(query)).first()
    if found is None:
        raise DomainError.of("NOT_FOUND", "No such event.", "eventId")
    return found[0], bool(found[1])


async def event_for(
    uow: UnitOfWork, viewer: Viewer, event_id: int, *, lock: bool = False, manage: bool = False
) -> Event:
    """The event if the viewer may see it (and run it, with ``manage``); NOT_FOUND
    otherwise, the same either way. With ``lock``, its row is locked until commit."""
    viewer.require_user()
    query = select(Event).where(Event.id == event_id)
    condition = managed(viewer) if manage else readable(viewer)
    if condition is not None:
        query = query.where(condition)
    if lock:
        query = query.with_for_update()
    found = (await uow.session.execute(query)).scalar_one_or_none()
    if found is None:
        raise DomainError.of("NOT_FOUND", "No such event.", "eventId")
    return found


@dataclass(frozen=True)
class Person:
    """An organiser or a speaker: a user, or a guest by name."""

    user_id: int | None = None
    name: str | None = None
    affiliation: str | None = None


@dataclass(frozen=True)
class Question:
    key: str
    label: str
    required: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventFields:
    """An event's fields as given; None leaves a field as it is (on update). An empty
    venue, city, country or link clears it; ``unlimited`` clears the capacity."""

    title: str | None = None
    description: str | None = None
    kind: str | None = None
    mode: str | None = None
    venue: str | None = None
    city: str | None = None
    country: str | None = None
    join_url: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    time_zone: str | None = None
    capacity: int | None = None
    unlimited: bool = False
    guests_max: int | None = None
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None
    cover_image_url: str | None = None
    audience: Audience | None = None
    organisers: tuple[Person, ...] | None = None
    speakers: tuple[Person, ...] | None = None
    questions: tuple[Question, ...] | None = None


REQUIRED_ON_CREATE = ("title", "kind", "mode", "starts_at", "ends_at", "time_zone")
FIELD_NAMES = {
    "starts_at": "startsAt", "ends_at": "endsAt", "time_zone": "timeZone",
    "registration_opens_at": "registrationOpensAt",
    "registration_closes_at": "registrationClosesAt",
}  # fmt: skip
# Changes that those registered are told of.
NEWSWORTHY = ("starts_at", "ends_at", "time_zone", "mode", "venue", "city", "join_url")


def _checked(problems: Problems, given: EventFields, current: Event | None) -> dict[str, Any]:
    """The event's column values after the change, each checked, and the times together."""
    values: dict[str, Any] = {}
    if current is None:
        for name in REQUIRED_ON_CREATE:
            if getattr(given, name) is None:
                problems.add("REQUIRED", f"Give the event's {name.replace('_', ' ')}.",
                             FIELD_NAMES.get(name, name))  # fmt: skip
    if given.title is not None:
        values["title"] = check_label(
            problems, given.title, field="title", max_length=TITLE_MAX, min_length=1,
            label="The title",
        )  # fmt: skip
    if given.description is not None:
        markdown = given.description.strip()
        if len(markdown) > BODY_MAX:
            problems.add("TOO_LONG", f"The description is at most {BODY_MAX} characters.",
                         "description")  # fmt: skip
        values["description_markdown"] = markdown
        values["description_html"] = render(markdown) if len(markdown) <= BODY_MAX else ""
    for name, allowed in (("kind", KINDS), ("mode", MODES)):
        value = getattr(given, name)
        if value is not None:
            if value not in allowed:
                problems.add("INVALID", f"Unknown {name}.", name)
            values[name] = value
    for name, limit in (("venue", PLACE_MAX), ("city", CITY_MAX)):
        value = getattr(given, name)
        if value is not None:
            text = check_label(problems, value, field=name, max_length=limit,
                               label=f"The {name}")  # fmt: skip
            values[name] = text or None
    if given.country is not None:
        country = given.country.strip().upper()
        if country and not COUNTRY.fullmatch(country):
            problems.add("INVALID", "A country is an ISO 3166-1 alpha-2 code (GH, KE).", "country")
        values["country"] = country or None
    for name, field in (("join_url", "joinUrl"), ("cover_image_url", "coverImageUrl")):
        value = getattr(given, name)
        if value is not None:
            url = value.strip()
            values[name] = check_url(problems, url, field, https_only=True) if url else None
    if given.time_zone is not None:
        if zone_of(given.time_zone) is None:
            problems.add("INVALID_TIME_ZONE", "Unknown time zone; use an IANA name such as "
                         "Africa/Accra or Europe/London.", "timeZone")  # fmt: skip
        values["time_zone"] = given.time_zone
    for name in ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at"):
        moment = getattr(given, name)
        if moment is not None:
            field = FIELD_NAMES[name]
            values[name] = check_moment(problems, moment, field=field, label=field)
    if given.unlimited:
        values["capacity"] = None
    elif given.capacity is not None:
        if not 1 <= given.capacity <= CAPACITY_MAX:
            problems.add("OUT_OF_RANGE", f"A capacity is 1 to {CAPACITY_MAX:,} people (or "
                         "unlimited).", "capacity")  # fmt: skip
        values["capacity"] = given.capacity
    if given.guests_max is not None:
        if not 0 <= given.guests_max <= GUESTS_MAX:
            problems.add("OUT_OF_RANGE", f"Each person may bring 0 to {GUESTS_MAX} guests.",
                         "guestsMax")  # fmt: skip
        values["guests_max"] = given.guests_max
    if given.questions is not None:
        values["questions"] = _questions(problems, given.questions)
    _check_times(problems, values, current)
    return values


def _questions(problems: Problems, given: tuple[Question, ...]) -> list[dict[str, Any]]:
    if len(given) > QUESTIONS_MAX:
        problems.add("TOO_MANY", f"At most {QUESTIONS_MAX} questions.", "questions")
        return []
    found: list[dict[str, Any]] = []
    for i, q in enumerate(given):
        where = ("questions", str(i))
        if not QUESTION_KEY.fullmatch(q.key):
            problems.add("INVALID", "A question's key is 1 to 32 lower-case letters, digits or "
                         "underscores, starting with a letter.", (*where, "key"))  # fmt: skip
        label = check_label(problems, q.label, field=(*where, "label"), max_length=LABEL_MAX,
                            min_length=1, label="A question")  # fmt: skip
        if len(q.choices) > CHOICES_MAX:
            problems.add("TOO_MANY", f"At most {CHOICES_MAX} choices.", (*where, "choices"))
        choices = [
            check_label(
                problems,
                c,
                field=(*where, "choices"),
                max_length=LABEL_MAX,
                min_length=1,
                label="A choice",
            )
            for c in q.choices[:CHOICES_MAX]
        ]
        found.append({"key": q.key, "label": label, "required": q.required,
                      "choices": list(dict.fromkeys(choices))})  # fmt: skip
    keys = [q["key"] for q in found]
    if len(set(keys)) != len(keys):
        problems.add("INVALID", "Two questions have the same key.", "questions")
    return found


def _check_times(problems: Problems, values: dict[str, Any], current: Event | None) -> None:
    def now_or(name: str) -> Any:
        return values[name] if name in values else getattr(current, name, None)

    starts, ends = now_or("starts_at"), now_or("ends_at")
    opens, closes = now_or("registration_opens_at"), now_or("registration_closes_at")
    now = datetime.now(UTC)
    if starts is not None and ends is not None:
        starts, ends = as_utc(starts), as_utc(ends)
        if ends <= starts:
            problems.add("END_BEFORE_START", "The event ends before it starts.", "endsAt")
        elif ends - starts > DURATION_MAX:
            problems.add("OUT_OF_RANGE", "An event lasts at most 31 days.", "endsAt")
    if "starts_at" in values and starts is not None:
        if as_utc(starts) < now and (current is None or current.starts_at != values["starts_at"]):
            problems.add("DATE_IN_PAST", "The event would start in the past.", "startsAt")
        elif as_utc(starts) > now + AHEAD_MAX:
            problems.add("OUT_OF_RANGE", "An event starts within three years.", "startsAt")
    if closes is not None and starts is not None and as_utc(closes) > as_utc(starts):
        problems.add("DEADLINE_AFTER_START", "Registration must close by the time the event "
                     "starts.", "registrationClosesAt")  # fmt: skip
    if opens is not None and closes is not None and as_utc(opens) >= as_utc(closes):
        problems.add("INVALID", "Registration opens before it closes.", "registrationOpensAt")
    elif opens is not None and starts is not None and as_utc(opens) >= as_utc(starts):
        problems.add("INVALID", "Registration opens before the event starts.",
                     "registrationOpensAt")  # fmt: skip


def as_utc(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes (UTC); PostgreSQL aware ones."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _people(
    uow: UnitOfWork, problems: Problems, role: str, given: tuple[Person, ...]
) -> list[dict[str, Any]]:
    field = f"{role}s"
    if len(given) > PEOPLE_MAX:
        problems.add("TOO_MANY", f"At most {PEOPLE_MAX} {role}s.", field)
        return []
    wanted = {p.user_id for p in given if p.user_id is not None}
    found = set()
    if wanted:
        rows = await uow.session.execute(
            select(User.id).where(User.id.in_(wanted), User.status == "active")
        )
        found = set(rows.scalars())
    rows_out: list[dict[str, Any]] = []
    for i, p in enumerate(given):
        where = (field, str(i))
        name = affiliation = None
        if (p.user_id is None) == (p.name is None):
            problems.add("INVALID", "Name a user or a guest, not both.", where)
            continue
        if p.user_id is not None and p.user_id not in found:
            problems.add("NOT_FOUND", "No such user.", (*where, "userId"))
        if p.name is not None:
            name = check_label(problems, p.name, field=(*where, "name"), max_length=PLACE_MAX,
                               min_length=1, label="A name")  # fmt: skip
        if p.affiliation is not None:
            affiliation = (
                check_label(
                    problems,
                    p.affiliation,
                    field=(*where, "affiliation"),
                    max_length=PLACE_MAX,
                    label="An affiliation",
                )
                or None
            )
        rows_out.append({"role": role, "user_id": p.user_id, "name": name,
                         "affiliation": affiliation, "position": i})  # fmt: skip
    if role == "organiser" and any(p.user_id is None for p in given):
        problems.add("INVALID", "Organisers are users; name guests as speakers.", field)
    return rows_out


def _safe_rule(text: str) -> bool:
    """Whether a rule keeps to the parts that events need (a frequency of a day or more,
    an interval up to 4, a count up to 52, an end, days of the week, days of the month up
    to the 28th or the last): a rule whose filters never match (the 30th of February,
    daily) would have dateutil search to the year 9999, seconds of CPU for one request."""
    parts: dict[str, str] = {}
    for piece in text.split(";"):
        key, sign, value = piece.partition("=")
        if not sign or key in parts or key not in RULE_PARTS or not value:
            return False
        parts[key] = value
    frequency = parts.get("FREQ")
    if frequency not in FREQUENCIES:
        return False
    if not _numbers_in(parts.get("INTERVAL", "1"), range(1, 5)) or not _numbers_in(
        parts.get("COUNT", "1"), range(1, OCCURRENCES_MAX + 1)
    ):
        return False
    if "BYMONTHDAY" in parts and (
        frequency != "MONTHLY" or not _numbers_in(parts["BYMONTHDAY"], [*range(1, 29), -1])
    ):
        return False
    if "BYDAY" in parts and (frequency == "YEARLY" or "BYMONTHDAY" in parts):
        return False  # (the first Monday that is the 28th: never)
    ordinal = BYDAY_MONTHLY if frequency == "MONTHLY" else BYDAY_PLAIN
    if "BYDAY" in parts and not all(ordinal.fullmatch(d) for d in parts["BYDAY"].split(",")):
        return False  # (the 53rd Monday of a month: never, or an error)
    return "COUNT" not in parts or "UNTIL" not in parts


def _numbers_in(text: str, allowed: Any) -> bool:
    try:
        return all(int(v) in allowed for v in text.split(","))
    except ValueError:
        return False


def occurrences(rule: str, starts_at: datetime, zone: ZoneInfo) -> list[datetime] | None:
    """The starts (UTC) of a series by an RFC 5545 rule from its first start, in the
    series' time zone (so 18:00 stays 18:00 across daylight saving); at most 52, within a
    year. None if the rule is not one."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or len(text) > 500 or any(c in text for c in "\r\n"):
        return None
    if not _safe_rule(text.upper()):
        return None
    local = as_utc(starts_at).astimezone(zone)
    try:
        parsed = rrule.rrulestr(text, dtstart=local, forceset=False)
    except Exception:  # dateutil raises several kinds for rules it cannot read
        return None
    if not isinstance(parsed, rrule.rrule):
        return None
    found: list[datetime] = []
    end = local + SERIES_SPAN
    try:
        for moment in parsed:
            if moment > end or len(found) >= OCCURRENCES_MAX:
                break
            # The wall-clock time in the zone, whatever the offset on that day.
            wall = moment.replace(tzinfo=None).replace(tzinfo=zone)
            found.append(wall.astimezone(UTC))
    except Exception:
        return None
    return found or None


async def create(
    uow: UnitOfWork,
    viewer: Viewer,
    given: EventFields,
    *,
    recurrence: str | None = None,
    client_id: str | None = None,
) -> list[Event]:
    """Create a draft event, or a series of them by an RFC 5545 rule (each occurrence its
    own event); returns them in order. With ``client_id``, creating again returns the first."""
    me = viewer.require_user()
    if not await is_host(uow, viewer):
        raise DomainError.of("NOT_ALLOWED", "Only staff and chapter leads create events.")
    problems = Problems()
    if client_id is not None:
        if not 0 < len(client_id) <= 64:
            problems.add("INVALID", "clientId must be 1 to 64 characters.", "clientId")
        else:
            earlier = await uow.session.execute(
                select(Event).where(Event.created_by_id == me, Event.client_id == client_id)
            )
            if (found := earlier.scalar_one_or_none()) is not None:
                return await _series_of(uow, found)
    values = _checked(problems, given, None)
    if given.audience is not None:
        await check_audience(uow, problems, given.audience)
    organisers = await _people(uow, problems, "organiser", given.organisers or ())
    speakers = await _people(uow, problems, "speaker", given.speakers or ())
    starts = None
    zone = zone_of(given.time_zone or "")
    if recurrence is not None and values.get("starts_at") is not None and zone is not None:
        starts = occurrences(recurrence, values["starts_at"], zone)
        if starts is None:
            problems.add("INVALID_RECURRENCE", "The recurrence is not an RFC 5545 rule "
                         "repeating daily or less often (e.g. FREQ=WEEKLY;COUNT=10).",
                         "recurrence")  # fmt: skip
    problems.raise_if_any()
    now = datetime.now(UTC)
    series_id = None
    if starts:
        series = EventSeries(rule=recurrence.strip().removeprefix("RRULE:"),  # type: ignore[union-attr]
                             starts_at=values["starts_at"], time_zone=values["time_zone"],
                             created_by_id=me, created_at=now)  # fmt: skip
        uow.session.add(series)
        await uow.session.flush()
        series_id = series.id
    first = values["starts_at"]
    shifts = [s - first for s in starts] if starts else [timedelta(0)]
    made: list[Event] = []
    for shift in shifts:
        moved = {k: (v + shift if k in FIELD_NAMES and k != "time_zone" and v is not None else v)
                 for k, v in values.items()}  # fmt: skip
        event = Event(
            **moved, series_id=series_id, status="draft", created_by_id=me,
            client_id=client_id if shift == timedelta(0) else None, created_at=now,
            updated_at=now,
        )  # fmt: skip
        uow.session.add(event)
        made.append(event)
    await uow.session.flush()
    for event in made:
        await _set_people(uow, event.id, organisers + speakers, given.audience or Audience())
    audit.record(
        uow, "event.create", object_type="Event", object_ids=[e.id for e in made],
        details={"series": series_id},
    )  # fmt: skip
    return made


async def _series_of(uow: UnitOfWork, event: Event, viewer: Viewer | None = None) -> list[Event]:
    """The events of the event's series in order (those the viewer runs, if given),
    locked until commit."""
    if event.series_id is None:
        return [event]
    query = select(Event).where(Event.series_id == event.series_id)
    runs = managed(viewer) if viewer is not None else None
    if runs is not None:
        query = query.where(runs)
    rows = await uow.session.execute(query.order_by(Event.starts_at, Event.id).with_for_update())
    return list(rows.scalars())


async def _set_people(
    uow: UnitOfWork, event_id: int, people: list[dict[str, Any]], audience: Audience | None
) -> None:
    if people:
        await uow.session.execute(
            insert(EventPerson), [{**p, "event_id": event_id} for p in people]
        )
    if audience is not None:
        targets = target_values(audience)
        if targets:
            await uow.session.execute(
                insert(EventTarget), [{"event_id": event_id, "role": None, "batch_id": None,
                                       "graduation_year": None, **t} for t in targets]
            )  # fmt: skip


async def change(uow: UnitOfWork, viewer: Viewer, event_id: int, given: EventFields) -> Event:
    """Change one event (one occurrence of a series); those registered are told when its
    time, place or link changes."""
    event = await event_for(uow, viewer, event_id, lock=True, manage=True)
    if event.status in ("cancelled", "completed"):
        raise DomainError.of("NOT_OPEN", f"This event is {event.status}.", "id")
    problems = Problems()
    values = _checked(problems, given, event)
    if given.audience is not None:
        await check_audience(uow, problems, given.audience)
    organisers = (
        await _people(uow, problems, "organiser", given.organisers)
        if given.organisers is not None else None
    )  # fmt: skip
    speakers = (
        await _people(uow, problems, "speaker", given.speakers)
        if given.speakers is not None else None
    )  # fmt: skip
    if values.get("capacity") is not None and values["capacity"] < event.seats_taken:
        problems.add("CAPACITY_BELOW_CONFIRMED", f"{event.seats_taken} seats are taken: "
                     "give a capacity of at least that, or use eventCapacitySet to move "
                     "the latest to the waitlist.", "capacity")  # fmt: skip
    problems.raise_if_any()
    news = [n for n in NEWSWORTHY if n in values and values[n] != getattr(event, n)]
    for name, value in values.items():
        setattr(event, name, value)
    event.updated_at = datetime.now(UTC)
    for role, people in (("organiser", organisers), ("speaker", speakers)):
        if people is not None:
            await uow.session.execute(
                delete(EventPerson).where(
                    EventPerson.event_id == event.id, EventPerson.role == role
                )
            )
            await _set_people(uow, event.id, people, None)
    if given.audience is not None:
        await uow.session.execute(delete(EventTarget).where(EventTarget.event_id == event.id))
        await _set_people(uow, event.id, [], given.audience)
    await uow.session.flush()
    if news and event.status == "published":
        await tell_registered(
            uow,
            event,
            f"Changed: {event.title}",
            "The time, place or link of an event you registered for changed.",
        )
    if "capacity" in values:
        from alumnet.domain.events.registrations import promote, publish_attendance

        await promote(uow, event)
        publish_attendance(uow, event.id)
    audit.record(uow, "event.update", object_type="Event", object_ids=[event.id],
                 details={"fields": sorted(values)})  # fmt: skip
    return event


def _missing_for_publishing(event: Event) -> list[tuple[str, str]]:
    missing = []
    if event.mode in ("online", "hybrid") and not event.join_url:
        missing.append(("joinUrl", "An online or hybrid event needs its join link."))
    if event.mode in ("in_person", "hybrid") and not (event.venue or event.city):
        missing.append(("venue", "An event in person needs its venue or city."))
    return missing


async def publish(
    uow: UnitOfWork, viewer: Viewer, event_id: int, *, whole_series: bool, announce: bool
) -> list[Event]:
    """Publish a draft (or every draft of its series still to come); with ``announce``,
    its audience is told."""
    event = await event_for(uow, viewer, event_id, lock=True, manage=True)
    chosen = [event]
    if whole_series and event.series_id is not None:
        chosen = [e for e in await _series_of(uow, event, viewer)
                  if e.starts_at >= event.starts_at]  # fmt: skip
    if event.status != "draft":
        raise DomainError.of("NOT_DRAFT", f"This event is {event.status} already.", "id")
    problems = Problems()
    for field, message in _missing_for_publishing(event):
        problems.add("REQUIRED", message, field)
    if as_utc(event.ends_at) <= datetime.now(UTC):
        problems.add("DATE_IN_PAST", "This event is over.", "id")
    problems.raise_if_any()
    now = datetime.now(UTC)
    published = [e for e in chosen if e.status == "draft" and not _missing_for_publishing(e)
                 and as_utc(e.ends_at) > now]  # fmt: skip
    for e in published:
        e.status, e.published_at, e.updated_at = "published", now, now
    await uow.session.flush()
    if announce:
        audience = await audience_of(uow.session, event.id)
        # An announcement (in the app and the digest by default): its audience may be
        # everyone, and a new event is not worth thousands of e-mails at once.
        await notify(uow, recipients(audience), Notice(
            kind="announcement", title=f"New event: {event.title}",
            body=f"{describe_when(event)}. Register in alumnet.", subject_type="Event",
            subject_id=event.id,
        ))  # fmt: skip
    audit.record(uow, "event.publish", object_type="Event", object_ids=[e.id for e in published],
                 details={"announce": announce})  # fmt: skip
    return published


async def audience_of(executor: Any, event_id: int) -> Audience:
    rows = (
        await executor.execute(
            select(EventTarget.role, EventTarget.batch_id, EventTarget.graduation_year).where(
                EventTarget.event_id == event_id
            )
        )
    ).all()
    return Audience(
        roles=tuple(r.role for r in rows if r.role is not None),
        batch_ids=tuple(r.batch_id for r in rows if r.batch_id is not None),
        graduation_years=tuple(r.graduation_year for r in rows if r.graduation_year is not None),
    )


def describe_when(event: Event) -> str:
    zone = zone_of(event.time_zone) or ZoneInfo("UTC")
    local = as_utc(event.starts_at).astimezone(zone)
    return f"{local:%a %d %b %Y, %H:%M} ({event.time_zone})"


def registered_ids(event_id: int | list[int]) -> Any:
    """Users registered for the event (or events): confirmed or waitlisted, once each."""
    ids = event_id if isinstance(event_id, list) else [event_id]
    return (
        select(EventRegistration.user_id)
        .distinct()
        .where(
            EventRegistration.event_id.in_(ids),
            EventRegistration.status.in_(("confirmed", "waitlisted")),
            EventRegistration.user_id.is_not(None),
        )
    )


async def tell_registered(uow: UnitOfWork, event: Event, title: str, body: str) -> int:
    return await notify(uow, registered_ids(event.id), Notice(
        kind="event", title=title, body=f"{body} {describe_when(event)}.", subject_type="Event",
        subject_id=event.id,
    ))  # fmt: skip


async def cancel(
    uow: UnitOfWork, viewer: Viewer, event_id: int, *, reason: str, whole_series: bool
) -> list[Event]:
    """Cancel an event (or it and the rest of its series); those registered are told why."""
    event = await event_for(uow, viewer, event_id, lock=True, manage=True)
    problems = Problems()
    why = check_label(problems, reason, field="reason", max_length=REASON_MAX, min_length=1,
                      label="The reason")  # fmt: skip
    if event.status in ("cancelled", "completed"):
        problems.add("NOT_OPEN", f"This event is {event.status} already.", "id")
    problems.raise_if_any()
    chosen = [event]
    if whole_series and event.series_id is not None:
        later = await _series_of(uow, event, viewer)
        chosen = [e for e in later if e.starts_at >= event.starts_at
                  and e.status in ("draft", "published")]  # fmt: skip
    now = datetime.now(UTC)
    told = [e.id for e in chosen if e.status == "published"]
    for e in chosen:
        e.status, e.cancel_reason, e.cancelled_at, e.updated_at = "cancelled", why, now, now
    await uow.session.flush()
    if told:
        # One notification a person, however many of the series' dates they had.
        dates = f" ({len(told)} dates)" if len(told) > 1 else ""
        await notify(uow, registered_ids(told), Notice(
            kind="event", title=f"Cancelled: {event.title}{dates}",
            body=f"{why} {describe_when(event)}.", subject_type="Event", subject_id=event.id,
        ))  # fmt: skip
    audit.record(uow, "event.cancel", object_type="Event", object_ids=[e.id for e in chosen],
                 details={"reason": why})  # fmt: skip
    return chosen


async def complete(uow: UnitOfWork, viewer: Viewer, event_id: int) -> Event:
    """Mark an event that has started as completed (the scheduler does it once it ends)."""
    event = await event_for(uow, viewer, event_id, lock=True, manage=True)
    if event.status != "published":
        raise DomainError.of("NOT_OPEN", f"This event is {event.status}.", "id")
    if as_utc(event.starts_at) > datetime.now(UTC):
        raise DomainError.of("NOT_STARTED", "This event has not started yet.", "id")
    event.status = "completed"
    event.updated_at = datetime.now(UTC)
    audit.record(uow, "event.complete", object_type="Event", object_ids=[event.id])
    return event


async def complete_ended(rt: Runtime) -> int:
    """The scheduler: published events that have ended are completed (one statement)."""
    now = datetime.now(UTC)
    async with rt.transaction() as uow:
        done = await uow.session.execute(
            update(Event)
            .where(Event.status == "published", Event.ends_at <= now)
            .values(status="completed", updated_at=now)
            .returning(Event.id)
        )
        return len(done.all())


async def set_host(uow: UnitOfWork, viewer: Viewer, user_id: int, host: bool) -> None:
    """Let a person create and run events of their own (a chapter lead), or stop."""
    me = viewer.require(Permission.EVENTS_MANAGE)
    if await uow.session.get(User, user_id) is None:
        raise DomainError.of("NOT_FOUND", "No such user.", "userId")
    found = await uow.session.get(EventHost, user_id)
    if host and found is None:
        uow.session.add(EventHost(user_id=user_id, granted_by_id=me, created_at=datetime.now(UTC)))
    elif not host and found is not None:
        await uow.session.delete(found)
    await uow.session.flush()
    audit.record(uow, "event.host", object_type="User", object_ids=[user_id],
                 details={"host": host})  # fmt: skip
