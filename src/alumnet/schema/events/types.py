"""Events types: events, their people and questions, registrations (with the personal
check-in code and its QR image), attendance figures and reports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self
from zoneinfo import ZoneInfo

import segno
import strawberry
from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased
from strawberry import relay

from alumnet.domain.events import calendar, catalogue, figures, registrations
from alumnet.persistence.loaders.common import grouped
from alumnet.persistence.models import Event as EventModel
from alumnet.persistence.models import EventFeedback as FeedbackModel
from alumnet.persistence.models import EventPerson as PersonModel
from alumnet.persistence.models import EventRegistration as RegistrationModel
from alumnet.persistence.models import EventSeries as SeriesModel
from alumnet.persistence.models import EventTarget, User
from alumnet.schema.communication.announcements import (
    AnnouncementAudience,
    audience_of_targets,
)
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID
from alumnet.schema.nodes import int_ids, readable_rows
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey, reads_loader

if TYPE_CHECKING:
    from alumnet.schema.people.types import Profile

ev = strawberry.enum_value
PEOPLE = "alumnet.schema.people.types"


@strawberry.enum(description="What kind of event it is.")
class EventKind(Enum):
    REUNION = ev("reunion", description="A reunion of a class, batch or chapter.")
    TALK = ev("talk", description="A talk or webinar.")
    CAREER_FAIR = ev("career_fair", description="A career fair.")
    MEETUP = ev("meetup", description="A meet-up (mentoring, networking, a chapter's).")
    OTHER = ev("other", description="Anything else.")


@strawberry.enum(description="Where an event happens.")
class EventMode(Enum):
    IN_PERSON = ev("in_person", description="At a venue.")
    ONLINE = ev("online", description="Online, by a join link shown to those registered.")
    HYBRID = ev("hybrid", description="At a venue and online.")


@strawberry.enum(description="Where an event is in its life.")
class EventStatus(Enum):
    DRAFT = ev("draft", description="Being prepared; only its organisers see it.")
    PUBLISHED = ev("published", description="Open to its audience.")
    CANCELLED = ev("cancelled", description="Cancelled (see `cancelReason`).")
    COMPLETED = ev("completed", description="Over.")


@strawberry.enum(description="Where a registration stands.")
class EventRegistrationStatus(Enum):
    CONFIRMED = ev("confirmed", description="Has a place.")
    WAITLISTED = ev("waitlisted", description="Waiting for a place, in the order they came.")
    CANCELLED = ev("cancelled", description="Cancelled by the person.")


def local_time(moment: datetime, zone_name: str) -> str:
    """ISO 8601 in the event's zone, with its offset that day."""
    zone = catalogue.zone_of(zone_name) or ZoneInfo("UTC")
    return catalogue.as_utc(moment).astimezone(zone).isoformat()


@strawberry.type(description="An organiser or speaker: a user, or a guest from outside.")
class EventPerson:
    name: str = strawberry.field(description="Their name.")
    affiliation: str | None = strawberry.field(description="Where they are from, for a guest.")
    _user_id: strawberry.Private[int | None]

    @strawberry.field(description="Their profile, as the directory shows it to you (users only).")
    async def profile(self, info: Info) -> Annotated[Profile, strawberry.lazy(PEOPLE)] | None:
        if self._user_id is None:
            return None
        from alumnet.schema.people.types import Profile as ProfileNode

        [found] = await ProfileNode.resolve_nodes(info=info, node_ids=[str(self._user_id)])
        return found


@strawberry.type(description="A question of an event's registration form.")
class EventQuestion:
    key: str = strawberry.field(description="Its key: answers name it.")
    label: str = strawberry.field(description="The question, as people read it.")
    required: bool = strawberry.field(description="Whether an answer is required.")
    choices: list[str] = strawberry.field(
        description="The answers to choose from (none: free text)."
    )


@strawberry.type(description="One answer of a registration.")
class EventAnswer:
    key: str = strawberry.field(description="The question's key.")
    value: str = strawberry.field(description="The answer.")


@strawberry.type(description="An event's attendance now (for a door dashboard).")
class EventAttendance:
    event_id: relay.GlobalID = strawberry.field(description="The event.")
    confirmed: int = strawberry.field(description="People with a place (guests not counted).")
    seats_taken: int = strawberry.field(description="Places taken: people and their guests.")
    capacity: int | None = strawberry.field(description="Places in all; null: unlimited.")
    waitlisted: int = strawberry.field(description="People waiting for a place.")
    checked_in: int = strawberry.field(description="People checked in (walk-ins included).")


@strawberry.type(description="People registered and checked in, in one group.")
class EventAttendanceGroup:
    label: str = strawberry.field(description="The group: a year, a batch's name, or unknown.")
    graduation_year: int | None = strawberry.field(description="The year, by graduation year.")
    batch_id: relay.GlobalID | None = strawberry.field(description="The batch, by batch.")
    registered: int = strawberry.field(description="People confirmed.")
    checked_in: int = strawberry.field(description="Of them, checked in.")


@strawberry.type(description="What those who came thought.")
class EventFeedbackSummary:
    count: int = strawberry.field(description="How many gave feedback.")
    average_rating: float | None = strawberry.field(description="Their average rating (1 to 5).")
    by_rating: list[int] = strawberry.field(
        description="How many gave each rating: five numbers, for 1 to 5."
    )


@strawberry.type(description="An event counted: attendance, rates, feedback and who came.")
class EventReport:
    confirmed: int = strawberry.field(description="People with a place.")
    seats_taken: int = strawberry.field(description="Places taken, guests included.")
    capacity: int | None = strawberry.field(description="Places in all; null: unlimited.")
    waitlisted: int = strawberry.field(description="People still waiting.")
    cancelled: int = strawberry.field(description="Registrations cancelled.")
    checked_in: int = strawberry.field(description="People checked in.")
    walk_ins: int = strawberry.field(description="Of them, people who came without registering.")
    no_shows: int = strawberry.field(
        description="People confirmed and not checked in, once it has started (0 before)."
    )
    fill_rate: float | None = strawberry.field(
        description="Places taken over capacity (0 to 1); null for an unlimited event."
    )
    show_rate: float | None = strawberry.field(
        description="People checked in over people confirmed (0 to 1); null with nobody."
    )
    feedback: EventFeedbackSummary = strawberry.field(description="Ratings of those who came.")
    by_graduation_year: list[EventAttendanceGroup] = strawberry.field(
        description="People confirmed and checked in by graduation year (on record)."
    )
    by_batch: list[EventAttendanceGroup] = strawberry.field(
        description="People confirmed and checked in by batch (students enrolled in it)."
    )


def report_of(found: figures.EventFigures) -> EventReport:
    return EventReport(
        confirmed=found.confirmed, seats_taken=found.seats, capacity=found.capacity,
        waitlisted=found.waitlisted, cancelled=found.cancelled, checked_in=found.checked_in,
        walk_ins=found.walk_ins, no_shows=found.no_shows, fill_rate=found.fill_rate,
        show_rate=found.show_rate,
        feedback=EventFeedbackSummary(count=found.feedback.count,
                                      average_rating=found.feedback.average,
                                      by_rating=found.feedback.by_rating),
        by_graduation_year=[
            EventAttendanceGroup(label=t.label, graduation_year=t.key, batch_id=None,
                                 registered=t.registered, checked_in=t.checked_in)
            for t in found.by_graduation_year
        ],
        by_batch=[
            EventAttendanceGroup(label=t.label, graduation_year=None,
                                 batch_id=relay.GlobalID("Batch", str(t.key)),
                                 registered=t.registered, checked_in=t.checked_in)
            for t in found.by_batch
        ],
    )  # fmt: skip


@strawberry.type(
    description="A reunion, talk, career fair or meet-up. Drafts are seen by their "
    "organisers only; published events by their audience."
)
class Event(relay.Node):
    id: relay.NodeID[int]
    title: str = strawberry.field(description="Its title.")
    description_markdown: str = strawberry.field(description="The description as written.")
    description_html: str = strawberry.field(
        description="The description rendered to HTML, safe to insert (raw HTML escaped)."
    )
    kind: EventKind = strawberry.field(description="Reunion, talk, career fair…")
    mode: EventMode = strawberry.field(description="In person, online or hybrid.")
    venue: str | None = strawberry.field(description="Where, in person.")
    city: str | None = strawberry.field(description="The city, in person.")
    country: str | None = strawberry.field(description="The country (ISO 3166-1 alpha-2).")
    starts_at: datetime = strawberry.field(description="When it starts (UTC).")
    ends_at: datetime = strawberry.field(description="When it ends (UTC).")
    time_zone: str = strawberry.field(description="Its time zone (IANA), to show times in.")
    capacity: int | None = strawberry.field(description="Places, guests included; null: unlimited.")
    seats_taken: int = strawberry.field(description="Places taken (people and their guests).")
    guests_max: int = strawberry.field(description="Guests each person may bring.")
    registration_opens_at: datetime | None = strawberry.field(
        description="When registration opens (UTC); null: once published."
    )
    registration_closes_at: datetime | None = strawberry.field(
        description="The registration deadline (UTC); null: until it starts."
    )
    cover_image_url: str | None = strawberry.field(description="Its cover image (https).")
    status: EventStatus = strawberry.field(description="Draft, published, cancelled, completed.")
    cancel_reason: str | None = strawberry.field(description="Why it was cancelled.")
    published_at: datetime | None = strawberry.field(description="When it was published (UTC).")
    updated_at: datetime = strawberry.field(description="Last changed (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, title=row.title, description_markdown=row.description_markdown,
            description_html=row.description_html, kind=EventKind(row.kind),
            mode=EventMode(row.mode), venue=row.venue, city=row.city, country=row.country,
            starts_at=row.starts_at, ends_at=row.ends_at, time_zone=row.time_zone,
            capacity=row.capacity, seats_taken=row.seats_taken, guests_max=row.guests_max,
            registration_opens_at=row.registration_opens_at,
            registration_closes_at=row.registration_closes_at,
            cover_image_url=row.cover_image_url, status=EventStatus(row.status),
            cancel_reason=row.cancel_reason, published_at=row.published_at,
            updated_at=row.updated_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        condition = catalogue.readable(info.context.viewer)
        found = await readable_rows(info, EventModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="When it starts, in its time zone (ISO 8601 with the offset).")
    def local_starts_at(self) -> str:
        return local_time(self.starts_at, self.time_zone)

    @strawberry.field(description="When it ends, in its time zone (ISO 8601 with the offset).")
    def local_ends_at(self) -> str:
        return local_time(self.ends_at, self.time_zone)

    @strawberry.field(
        description="Places left (null: unlimited); 0 when full, and new registrations wait."
    )
    def seats_left(self) -> int | None:
        return None if self.capacity is None else max(0, self.capacity - self.seats_taken)

    @strawberry.field(description="The questions of its registration form.")
    def questions(self) -> list[EventQuestion]:
        return [
            EventQuestion(
                key=q["key"],
                label=q["label"],
                required=bool(q.get("required")),
                choices=list(q.get("choices") or []),
            )
            for q in self._row.questions or []
        ]

    @strawberry.field(
        description="The link to join online: only for people with a place and its "
        "organisers; null for anyone else."
    )
    async def join_url(self, info: Info) -> str | None:
        if self._row.join_url is None:
            return None
        allowed = await reads_loader(info, ("events", "join"), _joinable(info)).load(self.id)
        return self._row.join_url if allowed else None

    @strawberry.field(description="Whether you run it (its creator, an organiser, or staff).")
    async def viewer_organises(self, info: Info) -> bool:
        return bool(await reads_loader(info, ("events", "runs"), _runs(info)).load(self.id))

    @strawberry.field(description="Who it is for.")
    async def audience(self, info: Info) -> AnnouncementAudience:
        targets = await reads_loader(info, ("events", "targets"), _targets).load(self.id)
        return audience_of_targets(targets)

    @strawberry.field(description="Its organisers, in order.")
    async def organisers(self, info: Info) -> list[EventPerson]:
        return await _people_of(info, self.id, "organiser")

    @strawberry.field(description="Its speakers, in order.")
    async def speakers(self, info: Info) -> list[EventPerson]:
        return await _people_of(info, self.id, "speaker")

    @strawberry.field(
        description="The RFC 5545 rule of the series it belongs to (e.g. FREQ=WEEKLY;COUNT=10); "
        "null for a one-off event."
    )
    async def recurrence(self, info: Info) -> str | None:
        if self._row.series_id is None:
            return None
        return await reads_loader(info, ("events", "series"), _series_rules).load(  # type: ignore[no-any-return]
            self._row.series_id
        )

    @strawberry.field(description="Your registration, if you registered.")
    async def viewer_registration(self, info: Info) -> EventRegistration | None:
        row = await reads_loader(info, ("events", "mine"), _mine(info)).load(self.id)
        return EventRegistration.from_row(row) if row is not None else None

    @strawberry.field(description="Its attendance now.")
    async def attendance(self, info: Info) -> EventAttendance:
        found = await reads_loader(info, ("events", "counts"), _counts).load(self.id)
        return attendance_of(self.id, self.capacity, self.seats_taken, found)

    @strawberry.field(
        description="A link to it as an iCalendar (.ics) file for you, valid for 30 days; the "
        "join link is in it only if you have a place."
    )
    def calendar_url(self, info: Info) -> str | None:
        me = info.context.viewer.user_id
        if me is None:
            return None
        settings = info.context.runtime.settings
        token = calendar.event_token(settings, me, self.id)
        return f"{settings.public_url}/calendar/event.ics?token={token}"

    @strawberry.field(
        description="For a series: a link to the whole series as one iCalendar (.ics) event "
        "with its recurrence rule (30 days); null for a one-off event."
    )
    def series_calendar_url(self, info: Info) -> str | None:
        me = info.context.viewer.user_id
        if me is None or self._row.series_id is None:
            return None
        settings = info.context.runtime.settings
        token = calendar.event_token(settings, me, self.id)
        return f"{settings.public_url}/calendar/series.ics?token={token}"

    @relay.connection(
        Annotated["EventRegistrationConnection", strawberry.lazy("alumnet.schema.events.types")],
        description="Its registrations in the order they came, with their answers (its "
        "organisers; empty for anyone else).",
        max_results=1000,
    )
    async def registrations(
        self,
        info: Info,
        status: Annotated[
            list[EventRegistrationStatus] | None,
            strawberry.argument(description="Only these."),
        ] = None,
    ) -> Iterable[EventRegistration]:
        runs = bool(await reads_loader(info, ("events", "runs"), _runs(info)).load(self.id))
        query = select(RegistrationModel.__table__).add_columns(
            User.name.label("person_name")
        ).outerjoin(User, User.id == RegistrationModel.user_id)  # fmt: skip
        if not runs:
            query = query.where(RegistrationModel.id.is_(None))
        chosen = tuple(sorted({str(s.value) for s in status or ()}))
        if chosen:
            query = query.where(RegistrationModel.status.in_(chosen))
        sort = [SortKey(RegistrationModel.arrival), SortKey(RegistrationModel.id)]
        return KeysetQuery(
            query, sort, EventRegistration.from_row, info.context.reads,
            partition=(RegistrationModel.event_id, self.id),
            batch_key=("Event.registrations", runs, chosen),
        )  # fmt: skip

    @relay.connection(
        Annotated["EventAttendeeConnection", strawberry.lazy("alumnet.schema.events.types")],
        description="Who is coming (people with a place), by name, as the directory shows "
        "them to you: those who chose not to be listed are left out, except for its "
        "organisers, who see everyone. Empty for a draft.",
        max_results=1000,
    )
    async def attendees(self, info: Info) -> Iterable[EventAttendee]:
        runs = bool(await reads_loader(info, ("events", "runs"), _runs(info)).load(self.id))
        r = RegistrationModel
        query = (
            select(r.id, r.user_id, r.event_id, r.checked_in_at, User.name.label("person_name"))
            .join(User, User.id == r.user_id)
            .where(r.status == "confirmed", User.status == "active")
        )
        if not runs:
            query = query.where(r.listed.is_(True))
        if self._row.status == "draft" or not info.context.viewer.is_authenticated:
            query = query.where(r.id.is_(None))
        sort = [SortKey(User.name, attr="person_name"), SortKey(r.user_id)]
        return KeysetQuery(
            query, sort, EventAttendee.from_row, info.context.reads,
            partition=(r.event_id, self.id), batch_key=("Event.attendees", runs),
        )  # fmt: skip

    @strawberry.field(
        description="It counted: attendance, fill and show rates, feedback, by graduation "
        "year and batch (its organisers; null for anyone else)."
    )
    async def report(self, info: Info) -> EventReport | None:
        if not await reads_loader(info, ("events", "runs"), _runs(info)).load(self.id):
            return None
        found = await reads_loader(info, ("events", "report"), _reports).load(self.id)
        return report_of(found)

    @relay.connection(
        Annotated["EventFeedbackConnection", strawberry.lazy("alumnet.schema.events.types")],
        description="The feedback of those who came, newest first (its organisers; empty "
        "for anyone else).",
        max_results=1000,
    )
    async def feedback(self, info: Info) -> Iterable[EventFeedback]:
        runs = bool(await reads_loader(info, ("events", "runs"), _runs(info)).load(self.id))
        query = select(FeedbackModel.__table__)
        if not runs:
            query = query.where(FeedbackModel.event_id.is_(None))
        sort = [SortKey(FeedbackModel.created_at, descending=True),
                SortKey(FeedbackModel.registration_id, descending=True)]  # fmt: skip
        return KeysetQuery(
            query, sort, EventFeedback.from_row, info.context.reads,
            partition=(FeedbackModel.event_id, self.id), batch_key=("Event.feedback", runs),
        )  # fmt: skip


async def _reports(reads: Any, ids: Sequence[int]) -> list[figures.EventFigures]:
    async with reads.connect() as conn:
        found = await figures.of_events(conn, list(ids), datetime.now(UTC))
    return [found[i] for i in ids]


def attendance_of(
    event_id: int, capacity: int | None, seats: int, found: dict[str, int]
) -> EventAttendance:
    return EventAttendance(
        event_id=relay.GlobalID("Event", str(event_id)), confirmed=found["confirmed"],
        seats_taken=seats, capacity=capacity, waitlisted=found["waitlisted"],
        checked_in=found["checked_in"],
    )  # fmt: skip


async def _counts(reads: Any, ids: Sequence[int]) -> list[dict[str, int]]:
    async with reads.connect() as conn:
        found = await registrations.counts(conn, list(ids))
    return [found[i] for i in ids]


async def _targets(reads: Any, ids: Sequence[int]) -> list[list[Any]]:
    query = select(EventTarget.__table__).where(EventTarget.event_id.in_(list(ids)))
    return await grouped(reads, query, "event_id", ids)


async def _series_rules(reads: Any, ids: Sequence[int]) -> list[str | None]:
    async with reads.connect() as conn:
        rows = await conn.execute(
            select(SeriesModel.id, SeriesModel.rule).where(SeriesModel.id.in_(list(ids)))
        )
        found = {int(i): str(rule) for i, rule in rows.all()}
    return [found.get(i) for i in ids]


async def _people_of(info: Info, event_id: int, role: str) -> list[EventPerson]:
    rows = await reads_loader(info, ("events", "people"), _people).load(event_id)
    return [
        EventPerson(
            name=r.person_name or r.name or "", affiliation=r.affiliation, _user_id=r.user_id
        )
        for r in rows
        if r.role == role
    ]


async def _people(reads: Any, ids: Sequence[int]) -> list[list[Any]]:
    query = (
        select(PersonModel.__table__, User.name.label("person_name"))
        .outerjoin(User, User.id == PersonModel.user_id)
        .where(PersonModel.event_id.in_(list(ids)))
        .order_by(PersonModel.position, PersonModel.id)
    )
    return await grouped(reads, query, "event_id", ids)


def _runs(info: Info) -> Any:
    viewer = info.context.viewer

    async def load(reads: Any, ids: Sequence[int]) -> list[bool]:
        condition = catalogue.managed(viewer)
        if condition is None:
            return [True] * len(ids)
        query = select(EventModel.id).where(EventModel.id.in_(list(ids)), condition)
        async with reads.connect() as conn:
            found = set((await conn.execute(query)).scalars())
        return [i in found for i in ids]

    return load


def _joinable(info: Info) -> Any:
    viewer = info.context.viewer

    async def load(reads: Any, ids: Sequence[int]) -> list[bool]:
        async with reads.connect() as conn:
            found = await calendar.joinable(conn, viewer, list(ids))
        return [i in found for i in ids]

    return load


def _mine(info: Info) -> Any:
    me = info.context.viewer.user_id or -1

    async def load(reads: Any, ids: Sequence[int]) -> list[Any]:
        query = (
            select(RegistrationModel.__table__, User.name.label("person_name"))
            .join(User, User.id == RegistrationModel.user_id)
            .where(RegistrationModel.user_id == me, RegistrationModel.event_id.in_(list(ids)))
        )
        async with reads.connect() as conn:
            found = {r.event_id: r for r in (await conn.execute(query)).all()}
        return [found.get(i) for i in ids]

    return load


@strawberry.type(description="Events, a page at a time.")
class EventConnection(CountedConnection[Event]):
    pass


@strawberry.type(description="Someone coming to an event, as the directory shows them to you.")
class EventAttendee(relay.Node):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="Their name.")
    _user_id: strawberry.Private[int]
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(id=row.id, name=row.person_name, _user_id=row.user_id, _row=row)

    @strawberry.field(
        description="Whether they have been checked in (the event's organisers; null for "
        "anyone else)."
    )
    async def checked_in(self, info: Info) -> bool | None:
        runs = await reads_loader(info, ("events", "runs"), _runs(info)).load(self._row.event_id)
        return self._row.checked_in_at is not None if runs else None

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        viewer = info.context.viewer
        r = RegistrationModel
        shown = select(EventModel.id).where(EventModel.status != "draft")
        if (condition := catalogue.readable(viewer)) is not None:
            shown = shown.where(condition)
        query = (
            select(r.id, r.user_id, r.event_id, r.checked_in_at, User.name.label("person_name"))
            .join(User, User.id == r.user_id)
            .where(r.id.in_([i for i in ids if i is not None]), r.status == "confirmed",
                   User.status == "active", r.event_id.in_(shown))
        )  # fmt: skip
        runs = catalogue.managed(viewer)
        if runs is not None:
            query = query.where(
                r.listed.is_(True) | r.event_id.in_(select(EventModel.id).where(runs))
            )
        async with info.context.reads.connect() as conn:
            found = {row.id: row for row in (await conn.execute(query)).all()}
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Their profile, with their privacy applied.")
    async def profile(self, info: Info) -> Annotated[Profile, strawberry.lazy(PEOPLE)] | None:
        from alumnet.schema.people.types import Profile as ProfileNode

        [found] = await ProfileNode.resolve_nodes(info=info, node_ids=[str(self._user_id)])
        return found


@strawberry.type(description="An event's attendees, a page at a time.")
class EventAttendeeConnection(CountedConnection[EventAttendee]):
    pass


@strawberry.type(description="One person's feedback on an event they came to.")
class EventFeedback(relay.Node):
    id: relay.NodeID[int]
    rating: int = strawberry.field(description="1 (poor) to 5 (excellent).")
    comment: str | None = strawberry.field(description="What they wrote.")
    created_at: datetime = strawberry.field(description="When (UTC).")

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(id=row.registration_id, rating=row.rating, comment=row.comment,
                   created_at=row.created_at)  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        """The feedback's author and the event's organisers see it."""
        ids = int_ids(node_ids)
        viewer = info.context.viewer
        f, r = FeedbackModel, RegistrationModel
        query = select(f.__table__).where(f.registration_id.in_([i for i in ids if i is not None]))
        runs = catalogue.managed(viewer)
        if runs is not None:
            me = viewer.user_id if viewer.user_id is not None else -1
            mine = select(r.id).where(r.user_id == me)
            query = query.where(
                f.registration_id.in_(mine) | f.event_id.in_(select(EventModel.id).where(runs))
            )
        async with info.context.reads.connect() as conn:
            found = {row.registration_id: row for row in (await conn.execute(query)).all()}
        return [cls.from_row(found[i]) if i in found else None for i in ids]


@strawberry.type(description="Feedback, a page at a time.")
class EventFeedbackConnection(CountedConnection[EventFeedback]):
    pass


@strawberry.type(
    description="A place at an event: confirmed, or waiting in line. Seen by the person and "
    "the event's organisers."
)
class EventRegistration(relay.Node):
    id: relay.NodeID[int]
    status: EventRegistrationStatus = strawberry.field(description="Confirmed, waitlisted…")
    guests: int = strawberry.field(description="Guests they bring (each takes a place).")
    arrival: int = strawberry.field(
        description="Its place in the order registrations came (1 is the first)."
    )
    walk_in: bool = strawberry.field(description="Whether they came without registering.")
    listed: bool = strawberry.field(description="Whether they are shown among the attendees.")
    registered_at: datetime = strawberry.field(description="When (UTC).")
    confirmed_at: datetime | None = strawberry.field(description="When they got a place (UTC).")
    cancelled_at: datetime | None = strawberry.field(description="When it was cancelled (UTC).")
    checked_in_at: datetime | None = strawberry.field(description="When they came in (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, status=EventRegistrationStatus(row.status),
            guests=row.guests, arrival=row.arrival, walk_in=row.walk_in, listed=row.listed,
            registered_at=row.registered_at, confirmed_at=row.confirmed_at,
            cancelled_at=row.cancelled_at, checked_in_at=row.checked_in_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        viewer = info.context.viewer
        r = RegistrationModel
        query = (
            select(r.__table__, User.name.label("person_name"))
            .outerjoin(User, User.id == r.user_id)
            .where(r.id.in_([i for i in ids if i is not None]))
        )
        runs = catalogue.managed(viewer)
        if runs is not None:
            mine = r.user_id == (viewer.user_id if viewer.user_id is not None else -1)
            query = query.where(mine | r.event_id.in_(select(EventModel.id).where(runs)))
        async with info.context.reads.connect() as conn:
            found = {row.id: row for row in (await conn.execute(query)).all()}
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    def _own(self, info: Info) -> bool:
        me = info.context.viewer.user_id
        return me is not None and me == self._row.user_id

    @strawberry.field(description="The person's name (or a walk-in's).")
    async def name(self, info: Info) -> str:
        known = getattr(self._row, "person_name", None)
        if known or self._row.user_id is None:
            return str(known or self._row.walk_in_name or "")
        row = await info.context.loaders.user_by_id.load(self._row.user_id)
        return str(row.name) if row is not None else ""

    @strawberry.field(description="The answers to the event's questions.")
    def answers(self) -> list[EventAnswer]:
        return [EventAnswer(key=k, value=v) for k, v in (self._row.answers or {}).items()]

    @strawberry.field(description="The event.")
    async def event(self, info: Info) -> Event | None:
        return await reads_loader(info, ("events", "event"), _events(info)).load(  # type: ignore[no-any-return]
            self._row.event_id
        )

    @strawberry.field(
        description="While waiting: how many are ahead in line, plus one (1: next to get a "
        "place). Null once confirmed or cancelled."
    )
    async def waitlist_position(self, info: Info) -> int | None:
        if self._row.status != "waitlisted":
            return None
        return await reads_loader(info, ("events", "line"), _line).load(self.id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="Your personal check-in code, to show at the door (yours only, while "
        "confirmed; null otherwise)."
    )
    def check_in_code(self, info: Info) -> str | None:
        if not self._own(info) or self._row.status != "confirmed":
            return None
        secret = info.context.runtime.settings.secret_key
        return registrations.check_in_code(secret, self._row.event_id, self.id)

    @strawberry.field(
        description="Your check-in code as a QR code image (SVG markup; yours only, while "
        "confirmed)."
    )
    def check_in_qr_svg(self, info: Info) -> str | None:
        code = self.check_in_code(info)
        if code is None:
            return None
        return str(segno.make(code, error="m").svg_inline(scale=4, title="Check-in code"))

    @strawberry.field(description="Your feedback on the event, if you gave it (yours only).")
    async def feedback(self, info: Info) -> EventFeedback | None:
        if not self._own(info):
            return None
        row = await reads_loader(info, ("events", "feedback"), _feedback_rows).load(self.id)
        return EventFeedback.from_row(row) if row is not None else None


def _events(info: Info) -> Any:
    async def load(reads: Any, ids: Sequence[int]) -> list[Event | None]:
        return await Event.resolve_nodes(info=info, node_ids=[str(i) for i in ids])

    return load


async def _feedback_rows(reads: Any, ids: Sequence[int]) -> list[Any]:
    query = select(FeedbackModel.__table__).where(FeedbackModel.registration_id.in_(list(ids)))
    async with reads.connect() as conn:
        found = {r.registration_id: r for r in (await conn.execute(query)).all()}
    return [found.get(i) for i in ids]


async def _line(reads: Any, ids: Sequence[int]) -> list[int]:
    mine, ahead = aliased(RegistrationModel), aliased(RegistrationModel)
    query = (
        select(mine.id, func.count(ahead.id))
        .join(
            ahead,
            and_(
                ahead.event_id == mine.event_id,
                ahead.status == "waitlisted",
                ahead.arrival <= mine.arrival,
            ),
        )
        .where(mine.id.in_(list(ids)))
        .group_by(mine.id)
    )
    async with reads.connect() as conn:
        found = {int(i): int(n) for i, n in (await conn.execute(query)).all()}
    return [found.get(i, 1) for i in ids]


@strawberry.type(description="Registrations, a page at a time.")
class EventRegistrationConnection(CountedConnection[EventRegistration]):
    pass


@strawberry.type(description="Events of one kind in a period, counted.")
class EventKindReport:
    kind: EventKind = strawberry.field(description="The kind.")
    events: int = strawberry.field(description="Events (published, completed or cancelled).")
    confirmed: int = strawberry.field(description="People confirmed at them.")
    checked_in: int = strawberry.field(description="People checked in.")
    fill_rate: float | None = strawberry.field(
        description="Places taken over capacity, at the events with one (0 to 1)."
    )
    show_rate: float | None = strawberry.field(description="Checked in over confirmed (0 to 1).")
    feedback_count: int = strawberry.field(description="Feedback given.")
    average_rating: float | None = strawberry.field(description="Average rating (1 to 5).")


def kind_report(found: figures.KindFigures) -> EventKindReport:
    return EventKindReport(
        kind=EventKind(found.kind), events=found.events, confirmed=found.confirmed,
        checked_in=found.checked_in, fill_rate=found.fill_rate, show_rate=found.show_rate,
        feedback_count=found.feedback_count, average_rating=found.average_rating,
    )  # fmt: skip


@strawberry.enum(description="Why an event mutation failed.")
class EventErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such event, user or batch.")
    NOT_ALLOWED = ev("NOT_ALLOWED", description="You may not create or run events.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    TOO_MANY = ev("TOO_MANY", description="Too many people, questions, choices or audience values.")
    INVALID_URL = ev("INVALID_URL", description="A link is not an https:// address with a host.")
    INVALID_TIME_ZONE = ev("INVALID_TIME_ZONE", description="Not an IANA time zone name.")
    INVALID_RECURRENCE = ev(
        "INVALID_RECURRENCE", description="Not an RFC 5545 rule repeating daily or less often."
    )
    END_BEFORE_START = ev("END_BEFORE_START", description="It would end before it starts.")
    DEADLINE_AFTER_START = ev(
        "DEADLINE_AFTER_START", description="Registration would close after the event starts."
    )
    DATE_IN_PAST = ev("DATE_IN_PAST", description="It would start (or is) in the past.")
    OUT_OF_RANGE = ev("OUT_OF_RANGE", description="A number or a date is out of range.")
    CAPACITY_BELOW_CONFIRMED = ev(
        "CAPACITY_BELOW_CONFIRMED",
        description="Fewer places than are taken, without saying who moves to the waitlist.",
    )
    NOT_DRAFT = ev("NOT_DRAFT", description="It is not a draft.")
    NOT_OPEN = ev("NOT_OPEN", description="It is cancelled or completed.")
    NOT_STARTED = ev("NOT_STARTED", description="It has not started yet.")
    CONFLICT = ev("CONFLICT", description="Someone changed this at the same time; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with an event mutation's input.")
class EventError(UserError):
    code: EventErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.enum(description="Why a registration, check-in or feedback failed.")
class EventRegistrationErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such event or user.")
    NOT_IN_AUDIENCE = ev("NOT_IN_AUDIENCE", description="The event is not open to you.")
    NOT_OPEN = ev("NOT_OPEN", description="The event is not open for registration (or over).")
    CANCELLED = ev("CANCELLED", description="The event was cancelled.")
    NOT_YET_OPEN = ev("NOT_YET_OPEN", description="Registration has not opened yet.")
    DEADLINE_PASSED = ev("DEADLINE_PASSED", description="Registration has closed.")
    ALREADY_REGISTERED = ev("ALREADY_REGISTERED", description="Registered already.")
    NOT_REGISTERED = ev("NOT_REGISTERED", description="Not registered.")
    TOO_MANY_GUESTS = ev("TOO_MANY_GUESTS", description="More guests than the event allows.")
    REQUIRED = ev("REQUIRED", description="A required answer is missing.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    TOO_MANY = ev("TOO_MANY", description="More answers than questions.")
    INVALID_CODE = ev("INVALID_CODE", description="Not a check-in code (forged or mistyped).")
    OTHER_EVENT = ev("OTHER_EVENT", description="The code is for another event.")
    NOT_CONFIRMED = ev("NOT_CONFIRMED", description="The registration has no place.")
    CHECKED_IN = ev("CHECKED_IN", description="Checked in already: it cannot be cancelled.")
    FULL = ev("FULL", description="The event is full.")
    NOT_ATTENDED = ev("NOT_ATTENDED", description="Only those who came give feedback.")
    NOT_STARTED = ev("NOT_STARTED", description="The event has not started yet.")
    OUT_OF_RANGE = ev("OUT_OF_RANGE", description="A rating is 1 to 5.")
    CONFLICT = ev("CONFLICT", description="Someone changed this at the same time; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a registration, check-in or feedback.")
class EventRegistrationError(UserError):
    code: EventRegistrationErrorCode = strawberry.field(description=CODE_DESCRIPTION)
