"""Volunteering: alumni's engagements (speaking, training, judging, mentoring at events,
hosting visits, other), their review by staff, who may read them, and the hours reports.

An active alumnus offers their own (status ``offered``); a holder of
``volunteering:manage`` confirms or declines it, or records one for an alumnus directly
(``confirmed``). The alumnus may change or withdraw their own while it is offered; staff
may change or delete any. Nobody reviews or records their own.

One engagement is one day (``occurred_on``) of at most 24 hours, in hundredths of an hour.
Days run from 1900 to a year ahead: an engagement may be planned (a talk next term) and
is counted by the reports on its day, like any other.

Who reads them: the alumnus all of theirs, holders of ``volunteering:manage`` all of
everyone's, and anyone else signed in the confirmed ones of an active person whose
profile's *work* group they may see (the people context's privacy levels; a person
without a profile has the column's default, everyone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    cast,
    distinct,
    exists,
    extract,
    false,
    func,
    insert,
    or_,
    select,
)

from alumnet.domain.analytics.common import DateRange
from alumnet.domain.cohorts.access import coordinated_mission_ids, sees_everything
from alumnet.domain.communication.notifications import Event as Notice
from alumnet.domain.communication.notifications import notify
from alumnet.domain.errors import (
    DomainError,
    PermissionDenied,
    Problems,
    check_label,
    check_text,
)
from alumnet.domain.events import catalogue
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Role, Viewer
from alumnet.domain.people import privacy
from alumnet.persistence.mentoring import mentored_missions
from alumnet.persistence.models import (
    Enrollment,
    Mission,
    Profile,
    User,
    UserRole,
    VolunteerEngagement,
)
from alumnet.persistence.models import Event as EventModel
from alumnet.persistence.uow import UnitOfWork

KINDS = ("speaking", "training", "judging", "event_mentoring", "hosting_visit", "other")
TITLE_MAX = 200
DESCRIPTION_MAX = 4_000
NOTE_MAX = 1_000
CLIENT_ID_MAX = 64
# Offers one alumnus may have waiting for review at once (the staff's queue stays readable).
OFFERS_WAITING_MAX = 50
# A day holds at most 24 hours; hours are given to the hundredth.
HOURS_MAX = Decimal(24)
EARLIEST = date(1900, 1, 1)
# How far ahead an engagement may be planned.
AHEAD = timedelta(days=366)
# Events one may have volunteered at: published ones, or since completed (not drafts, not
# cancelled ones).
EVENT_STATUSES = ("published", "completed")
GROUPS = ("kind", "year", "graduation_year")

E = VolunteerEngagement


@dataclass(frozen=True)
class Fields:
    """An engagement's values as given; None: not given (kept, on a change). Ids are
    primary keys, -1 for an id that names nothing of its type."""

    kind: str | None = None
    title: str | None = None
    description: str | None = None
    occurred_on: date | None = None
    hours: Decimal | None = None
    event_id: int | None = None
    mission_id: int | None = None
    clear_description: bool = False
    clear_event: bool = False
    clear_mission: bool = False


def hours_of(hundredths: int) -> Decimal:
    """Hundredths of an hour as hours with two decimal places."""
    return (Decimal(hundredths) / 100).quantize(Decimal("0.01"))


def _hundredths(problems: Problems, hours: Decimal) -> int | None:
    message = "Hours are more than 0 and at most 24, to the hundredth (e.g. 1.5)."
    try:
        if not hours.is_finite() or not 0 < hours <= HOURS_MAX:
            problems.add("OUT_OF_RANGE", message, "hours")
            return None
        # Compared exactly: a value with more places is refused, never rounded.
        cents = hours.quantize(Decimal("0.01"))
        if cents != hours:
            problems.add("OUT_OF_RANGE", message, "hours")
            return None
    except InvalidOperation:
        problems.add("OUT_OF_RANGE", message, "hours")
        return None
    return int(cents * 100)


def _check_day(problems: Problems, day: date, today: date) -> date:
    if day < EARLIEST:
        problems.add("OUT_OF_RANGE", f"The day must be on or after {EARLIEST}.", "occurredOn")
    elif day > today + AHEAD:
        problems.add(
            "OUT_OF_RANGE", "The day can be at most a year ahead (a planned engagement).",
            "occurredOn",
        )  # fmt: skip
    return day


def _check_client_id(problems: Problems, client_id: str | None) -> None:
    if client_id is not None and not 0 < len(client_id) <= CLIENT_ID_MAX:
        problems.add("INVALID", f"clientId must be 1 to {CLIENT_ID_MAX} characters.", "clientId")


async def _check_event(uow: UnitOfWork, viewer: Viewer, problems: Problems, pk: int) -> None:
    """The event exists, is published (or completed) and the viewer may see it."""
    query = select(EventModel.id).where(EventModel.id == pk, EventModel.status.in_(EVENT_STATUSES))
    condition = catalogue.readable(viewer)
    if condition is not None:
        query = query.where(condition)
    if (await uow.session.execute(query)).first() is None:
        problems.add("NOT_FOUND", "No such published event.", "eventId")


async def _check_mission(uow: UnitOfWork, viewer: Viewer, problems: Problems, pk: int) -> None:
    """The mission exists and the viewer may see it (cohorts' rules)."""
    query = select(Mission.id).where(Mission.id == pk)
    if not sees_everything(viewer):
        me = viewer.user_id if viewer.user_id is not None else -1
        reach = [
            Mission.id.in_(mentored_missions(me)),
            Mission.id.in_(select(Enrollment.mission_id).where(Enrollment.student_id == me)),
        ]
        coordinating = coordinated_mission_ids(viewer)
        if coordinating is not None:
            reach.append(Mission.id.in_(coordinating))
        query = query.where(or_(*reach))
    if (await uow.session.execute(query)).first() is None:
        problems.add("NOT_FOUND", "No such mission.", "missionId")


async def _checked(
    uow: UnitOfWork,
    viewer: Viewer,
    problems: Problems,
    given: Fields,
    current: VolunteerEngagement | None,
) -> dict[str, Any]:
    """The columns to write, checked; every problem is added, none raised."""
    values: dict[str, Any] = {}
    creating = current is None
    if given.kind is not None:
        if given.kind not in KINDS:
            problems.add("INVALID", "Unknown kind of volunteering.", "kind")
        values["kind"] = given.kind
    elif creating:
        problems.add("REQUIRED", "Give the kind of volunteering.", "kind")
    if given.title is not None or creating:
        values["title"] = check_label(
            problems, given.title or "", field="title", max_length=TITLE_MAX, min_length=1,
            label="The title",
        )  # fmt: skip
    if given.clear_description:
        values["description"] = None
    elif given.description is not None:
        text = check_text(
            problems, given.description.replace("\r\n", "\n"), field="description",
            max_length=DESCRIPTION_MAX, label="The description",
        )  # fmt: skip
        values["description"] = text or None
    today = datetime.now(UTC).date()
    if given.occurred_on is not None:
        values["occurred_on"] = _check_day(problems, given.occurred_on, today)
    elif creating:
        problems.add("REQUIRED", "Give the day.", "occurredOn")
    if given.hours is not None:
        values["hours_hundredths"] = _hundredths(problems, given.hours)
    elif creating:
        problems.add("REQUIRED", "Give the hours.", "hours")
    if given.clear_event:
        values["event_id"] = None
    elif given.event_id is not None:
        unchanged = current is not None and current.event_id == given.event_id
        if not unchanged:
            await _check_event(uow, viewer, problems, given.event_id)
        values["event_id"] = given.event_id
    if given.clear_mission:
        values["mission_id"] = None
    elif given.mission_id is not None:
        unchanged = current is not None and current.mission_id == given.mission_id
        if not unchanged:
            await _check_mission(uow, viewer, problems, given.mission_id)
        values["mission_id"] = given.mission_id
    return values


async def _earlier(uow: UnitOfWork, me: int, client_id: str | None) -> VolunteerEngagement | None:
    if client_id is None:
        return None
    found = await uow.session.execute(
        select(E).where(E.recorded_by_id == me, E.client_id == client_id)
    )
    return found.scalar_one_or_none()


def _audit_details(engagement: VolunteerEngagement) -> dict[str, Any]:
    return {
        "user": engagement.user_id, "kind": engagement.kind,
        "occurredOn": engagement.occurred_on.isoformat(),
        "hours": str(hours_of(engagement.hours_hundredths)), "status": engagement.status,
    }  # fmt: skip


async def offer(
    uow: UnitOfWork, viewer: Viewer, given: Fields, *, client_id: str | None = None
) -> VolunteerEngagement:
    """An active alumnus offers their own engagement, for staff to confirm or decline.
    With ``client_id``, offering again returns the first offer."""
    me = viewer.require_user()
    if Role.ALUMNUS not in viewer.roles:
        raise PermissionDenied("Only alumni offer volunteering.")
    found = await _earlier(uow, me, client_id)
    if found is not None:
        return found
    problems = Problems()
    _check_client_id(problems, client_id)
    waiting = select(func.count()).where(E.user_id == me, E.status == "offered")
    if (await uow.session.execute(waiting)).scalar_one() >= OFFERS_WAITING_MAX:
        problems.add(
            "TOO_MANY", f"You have {OFFERS_WAITING_MAX} offers waiting for review already.",
        )  # fmt: skip
    values = await _checked(uow, viewer, problems, given, None)
    problems.raise_if_any()
    now = datetime.now(UTC)
    engagement = E(
        **values, user_id=me, status="offered", recorded_by_id=me, client_id=client_id,
        created_at=now, updated_at=now,
    )  # fmt: skip
    uow.session.add(engagement)
    await uow.session.flush()
    audit.record(
        uow, "volunteering.offer", object_type="VolunteerEngagement",
        object_ids=[engagement.id], details=_audit_details(engagement),
    )  # fmt: skip
    return engagement


async def _alumnus(uow: UnitOfWork, user_id: int) -> User:
    """An active user who holds the ALUMNUS role; NOT_FOUND otherwise."""
    query = select(User).where(
        User.id == user_id, User.status == "active",
        exists().where(UserRole.user_id == User.id, UserRole.role == Role.ALUMNUS.value),
    )  # fmt: skip
    found = (await uow.session.execute(query)).scalar_one_or_none()
    if found is None:
        raise DomainError.of("NOT_FOUND", "No such alumnus.", "userId")
    return found


async def record(
    uow: UnitOfWork,
    viewer: Viewer,
    user_id: int,
    given: Fields,
    *,
    client_id: str | None = None,
) -> VolunteerEngagement:
    """Staff record an alumnus's engagement (confirmed); the alumnus is notified. With
    ``client_id``, recording again returns the first record and notifies nobody twice."""
    me = viewer.require(Permission.VOLUNTEERING_MANAGE)
    found = await _earlier(uow, me, client_id)
    if found is not None:
        return found
    person = await _alumnus(uow, user_id)
    if person.id == me:
        raise DomainError.of(
            "NOT_ALLOWED", "Offer your own volunteering; another member of staff confirms it.",
            "userId",
        )  # fmt: skip
    problems = Problems()
    _check_client_id(problems, client_id)
    values = await _checked(uow, viewer, problems, given, None)
    problems.raise_if_any()
    now = datetime.now(UTC)
    engagement = E(
        **values, user_id=person.id, status="confirmed", recorded_by_id=me, reviewed_by_id=me,
        reviewed_at=now, client_id=client_id, created_at=now, updated_at=now,
    )  # fmt: skip
    uow.session.add(engagement)
    await uow.session.flush()
    await _tell(uow, engagement, f"Volunteering recorded for you: {engagement.title}")
    audit.record(
        uow, "volunteering.record", object_type="VolunteerEngagement",
        object_ids=[engagement.id], details=_audit_details(engagement),
    )  # fmt: skip
    return engagement


async def _tell(
    uow: UnitOfWork, engagement: VolunteerEngagement, title: str, note: str | None = None
) -> None:
    when = engagement.occurred_on.isoformat()
    hours = hours_of(engagement.hours_hundredths)
    body = f"{engagement.title}, {when}, {hours} hours." + (f" {note}" if note else "")
    await notify(
        uow, [engagement.user_id],
        Notice(kind="volunteering", title=title, body=body[:1000],
               subject_type="VolunteerEngagement", subject_id=engagement.id),
    )  # fmt: skip


async def _locked(uow: UnitOfWork, viewer: Viewer, engagement_id: int) -> VolunteerEngagement:
    """The engagement, locked, if the viewer may read it; NOT_FOUND otherwise."""
    query = select(E).where(E.id == engagement_id)
    condition = readable(viewer)
    if condition is not None:
        query = query.where(condition)
    found = (await uow.session.execute(query.with_for_update())).scalar_one_or_none()
    if found is None:
        raise DomainError.of("NOT_FOUND", "No such engagement.", "id")
    return found


async def review(
    uow: UnitOfWork, viewer: Viewer, engagement_id: int, *, confirm: bool, reason: str | None
) -> VolunteerEngagement:
    """Staff confirm or decline an offer (a reason is required to decline); the alumnus
    is notified."""
    me = viewer.require(Permission.VOLUNTEERING_MANAGE)
    engagement = await _locked(uow, viewer, engagement_id)
    if engagement.status != "offered":
        raise DomainError.of("ALREADY_REVIEWED", "This engagement is not waiting for review.",
                             "id")  # fmt: skip
    if engagement.user_id == me:
        raise DomainError.of("NOT_ALLOWED", "Another member of staff reviews your own offer.",
                             "id")  # fmt: skip
    problems = Problems()
    note = check_text(problems, reason, field="reason", max_length=NOTE_MAX, label="The reason")
    if not confirm and not note:
        problems.add("REQUIRED", "Say why the offer is declined.", "reason")
    problems.raise_if_any()
    now = datetime.now(UTC)
    engagement.status = "confirmed" if confirm else "declined"
    engagement.reviewed_by_id, engagement.reviewed_at = me, now
    engagement.review_note = note or None
    engagement.updated_at = now
    said = "confirmed" if confirm else "declined"
    await _tell(uow, engagement, f"Your volunteering was {said}: {engagement.title}", note)
    audit.record(
        uow, f"volunteering.{'confirm' if confirm else 'decline'}",
        object_type="VolunteerEngagement", object_ids=[engagement.id],
        details=_audit_details(engagement),
    )  # fmt: skip
    return engagement


async def _changeable(uow: UnitOfWork, viewer: Viewer, engagement_id: int) -> VolunteerEngagement:
    """Staff change anyone else's engagement; its alumnus their own while it is offered
    (staff too: nobody changes their own engagement once it has been reviewed)."""
    me = viewer.require_user()
    engagement = await _locked(uow, viewer, engagement_id)
    if viewer.can(Permission.VOLUNTEERING_MANAGE) and engagement.user_id != me:
        return engagement
    if engagement.user_id != me:
        raise DomainError.of("NOT_FOUND", "No such engagement.", "id")
    if engagement.status != "offered":
        raise DomainError.of(
            "ALREADY_REVIEWED", "Staff have reviewed it: ask them to change it.", "id"
        )
    return engagement


async def change(
    uow: UnitOfWork, viewer: Viewer, engagement_id: int, given: Fields
) -> VolunteerEngagement:
    """Correct an engagement (omitted values stay); nobody is notified."""
    engagement = await _changeable(uow, viewer, engagement_id)
    problems = Problems()
    values = await _checked(uow, viewer, problems, given, engagement)
    problems.raise_if_any()
    changed = sorted(k for k, v in values.items() if getattr(engagement, k) != v)
    for key, value in values.items():
        setattr(engagement, key, value)
    engagement.updated_at = datetime.now(UTC)
    audit.record(
        uow, "volunteering.update", object_type="VolunteerEngagement",
        object_ids=[engagement.id], details={**_audit_details(engagement), "changed": changed},
    )  # fmt: skip
    return engagement


async def remove(uow: UnitOfWork, viewer: Viewer, engagement_id: int) -> int:
    """Delete an engagement (staff), or withdraw one's own offer; the id it had."""
    engagement = await _changeable(uow, viewer, engagement_id)
    details = _audit_details(engagement)
    await uow.session.delete(engagement)
    await uow.session.flush()
    audit.record(
        uow, "volunteering.delete", object_type="VolunteerEngagement",
        object_ids=[engagement_id], details=details,
    )  # fmt: skip
    return engagement_id


# -- reading ----------------------------------------------------------------------------------


def readable(viewer: Viewer) -> ColumnElement[bool] | None:
    """SQL: the engagements the viewer may read (None: every one)."""
    if not viewer.is_authenticated:
        return false()
    if viewer.can(Permission.VOLUNTEERING_MANAGE):
        return None
    level = func.coalesce(Profile.work_visibility, "everyone")
    shown_person = (
        select(User.id)
        .outerjoin(Profile, Profile.user_id == User.id)
        .where(User.id == E.user_id, User.status == "active",
               privacy.visible(viewer, User.id, level))
        .exists()
    )  # fmt: skip
    return or_(E.user_id == viewer.user_id, and_(E.status == "confirmed", shown_person))


def sees_review(viewer: Viewer, user_id: int) -> bool:
    """Whether the viewer reads an engagement's review (its note, who and when)."""
    return viewer.user_id == user_id or viewer.can(Permission.VOLUNTEERING_MANAGE)


@dataclass(frozen=True)
class Figures:
    """One row of a report: its key (a kind, a year, or None for an unknown graduation
    year), the hours, the engagements and the distinct volunteers."""

    key: str | int | None
    hours: Decimal
    engagements: int
    volunteers: int


def period(since: date | None, until: date | None, today: date) -> DateRange:
    """The report's days: by default the year up to today."""
    return DateRange.of(since, until, today=today, default_days=365)


async def report(
    conn: Any, viewer: Viewer, span: DateRange, group: str
) -> tuple[list[Figures], Figures]:
    """Confirmed engagements of the days of ``span``, grouped by kind, calendar year or
    graduation year on record, and their total: two statements, summed in SQL."""
    viewer.require(Permission.VOLUNTEERING_MANAGE)
    if group not in GROUPS:
        raise DomainError.of("INVALID", "Unknown grouping.", "groupBy")
    # Whole hundredths of an hour, so that sums are exact on both databases.
    figures = (
        func.coalesce(func.sum(E.hours_hundredths), 0),
        func.count(E.id),
        func.count(distinct(E.user_id)),
    )
    where = (E.status == "confirmed", E.occurred_on >= span.since, E.occurred_on <= span.until)
    key: Any
    if group == "kind":
        key = E.kind
        query = select(key, *figures).where(*where)
    elif group == "year":
        key = cast(extract("year", E.occurred_on), Integer)
        query = select(key, *figures).where(*where)
    else:
        key = User.record_graduation_year
        query = select(key, *figures).join(User, User.id == E.user_id).where(*where)
    rows = (await conn.execute(query.group_by(key).order_by(key))).all()
    total = (await conn.execute(select(*figures).where(*where))).one()
    found = [Figures(r[0], hours_of(int(r[1])), int(r[2]), int(r[3])) for r in rows]
    if group == "kind":
        found.sort(key=lambda f: KINDS.index(str(f.key)) if f.key in KINDS else len(KINDS))
    else:
        # Unknown graduation years last.
        found.sort(key=lambda f: (f.key is None, f.key or 0))
    return found, Figures(None, hours_of(int(total[0])), int(total[1]), int(total[2]))


# -- the demo data set ------------------------------------------------------------------------

DEMO_TITLES = {
    "speaking": [
        "Careers talk to final-year students",
        "Panel: life after graduation",
        "Guest lecture: building products",
    ],
    "training": ["CV and interview workshop", "Excel for analysts", "Git in an afternoon"],
    "judging": ["Hackathon judge", "Capstone project jury", "Pitch competition judge"],
    "event_mentoring": ["Mentoring corner at the career fair", "Reunion mentoring table"],
    "hosting_visit": ["Office visit for the data cohort", "Factory tour for engineers"],
    "other": ["Scholarship committee", "Alumni chapter set-up"],
}


async def seed_volunteering(uow: UnitOfWork, domain: str) -> int:
    """The demo's volunteering: two years of it by 150 alumni (alumnus@ among them), most
    confirmed, some waiting for review, a few declined, some at the demo's past events.
    Skipped when any engagement exists; deterministic; one bulk insert. Returns how many."""
    import random

    from alumnet.domain.careers.demo import ids_of_role

    session = uow.session
    if (await session.execute(select(func.count()).select_from(E))).scalar_one():
        return 0
    email = f"alumnus@{domain}".lower()
    alumnus = (await session.execute(select(User.id).where(User.email_lower == email))).scalar()
    manager_email = f"manager@{domain}".lower()
    manager = (
        await session.execute(select(User.id).where(User.email_lower == manager_email))
    ).scalar()
    people = [i for i in await ids_of_role(uow, Role.ALUMNUS.value, 151) if i != alumnus][:149]
    if alumnus is not None:
        people.insert(0, int(alumnus))
    if not people:
        return 0
    now = datetime.now(UTC)
    today = now.date()
    past_events = list(
        (
            await session.execute(
                select(EventModel.id, EventModel.starts_at)
                .where(EventModel.status == "completed")
                .order_by(EventModel.starts_at)
            )
        ).all()
    )
    rng = random.Random(25)  # noqa: S311  (demo data, not secrets)
    rows: list[dict[str, Any]] = []
    for index, person in enumerate(people):
        for _ in range(1 + rng.randrange(4) if index else 3 + rng.randrange(4)):
            kind = rng.choice(KINDS)
            day = today - timedelta(days=rng.randrange(3, 730))
            event_id = None
            if kind in ("event_mentoring", "speaking") and past_events and rng.random() < 0.4:
                event_id, starts = rng.choice(past_events)
                day = starts.date()
            waiting = day > today - timedelta(days=30) and rng.random() < 0.5
            status = "offered" if waiting else ("declined" if rng.random() < 0.05 else "confirmed")
            staff = status != "offered" or rng.random() < 0.5
            made = datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=1, hours=9)
            rows.append({
                "user_id": person, "kind": kind, "title": rng.choice(DEMO_TITLES[kind]),
                "description": None, "occurred_on": day,
                "hours_hundredths": rng.choice((50, 100, 150, 200, 300, 400, 600, 800)),
                "event_id": event_id, "mission_id": None, "status": status,
                "recorded_by_id": manager if staff and status == "confirmed" else person,
                "reviewed_by_id": manager if status != "offered" else None,
                "reviewed_at": made + timedelta(days=2) if status != "offered" else None,
                "review_note": "No record of this session." if status == "declined" else None,
                "client_id": None, "created_at": made, "updated_at": made,
            })  # fmt: skip
    # alumnus@ has one of each state, so that every screen has something to show.
    if alumnus is not None:
        mine = [r for r in rows if r["user_id"] == alumnus]
        for row, status in zip(mine, ("confirmed", "offered", "declined"), strict=False):
            row["status"] = status
            row["reviewed_by_id"] = manager if status != "offered" else None
            row["reviewed_at"] = row["created_at"] if status != "offered" else None
            row["review_note"] = "No record of this session." if status == "declined" else None
            row["recorded_by_id"] = alumnus
    await session.execute(insert(E), rows)
    return len(rows)
