"""Events queries: finding events, the period report, the viewer's registrations and
calendar feed (through `User`), and `eventAttendanceChanged` for a door dashboard."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from datetime import UTC, date, datetime, time
from enum import Enum
from typing import Annotated, Any

import strawberry
from sqlalchemy import func, or_, select
from strawberry import relay

from alumnet.domain.events import calendar, catalogue, figures, registrations
from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.models import Event as EventModel
from alumnet.persistence.models import EventRegistration as RegistrationModel
from alumnet.persistence.models import User
from alumnet.schema.context import Info
from alumnet.schema.errors import bad_input
from alumnet.schema.events.types import (
    Event,
    EventAttendance,
    EventConnection,
    EventKind,
    EventKindReport,
    EventRegistration,
    EventRegistrationStatus,
    EventStatus,
    attendance_of,
    kind_report,
)
from alumnet.schema.nodes import global_pk
from alumnet.schema.pagination import (
    ORDER_DIRECTION_DESCRIPTION,
    KeysetQuery,
    SortDirection,
    SortKey,
    descending,
)
from alumnet.schema.permissions import requires

ev = strawberry.enum_value
QUERY_MAX = 200
PERIOD_MAX_DAYS = 3 * 366


@strawberry.enum(description="What events can be sorted by.")
class EventOrderField(Enum):
    STARTS_AT = ev(
        "starts_at", description="When it starts (natural: soonest first; DESC for past events)."
    )
    CREATED_AT = ev("created_at", description="When it was created (natural: newest first).")


@strawberry.input(description="How events are sorted; ties are broken by id.")
class EventOrder:
    field: EventOrderField = strawberry.field(
        default=EventOrderField.STARTS_AT, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


@strawberry.input(description="Narrow the events; every filter given must match.")
class EventFilter:
    upcoming: bool | None = strawberry.field(
        default=None, description="True: not yet ended; false: ended."
    )
    kind: list[EventKind] | None = strawberry.field(default=None, description="Any of these.")
    city: str | None = strawberry.field(default=None, description="In this city (any case).")
    online: bool | None = strawberry.field(
        default=None,
        description="True: can be joined online (online or hybrid); false: in person only.",
    )
    starts_from: date | None = strawberry.field(
        default=None, description="Starting on or after this day (UTC).", name="from"
    )
    starts_to: date | None = strawberry.field(
        default=None, description="Starting on or before this day (UTC).", name="to"
    )
    status: list[EventStatus] | None = strawberry.field(
        default=None, description="Any of these (drafts: only those you organise)."
    )


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def events_query(info: Info, query: str | None, filter: EventFilter | None) -> Any:
    viewer = info.context.viewer
    base = select(EventModel.__table__)
    condition = catalogue.readable(viewer)
    if condition is not None:
        base = base.where(condition)
    given = filter or EventFilter()
    now = datetime.now(UTC)
    if given.upcoming is True:
        base = base.where(EventModel.ends_at > now)
    elif given.upcoming is False:
        base = base.where(EventModel.ends_at <= now)
    if given.kind:
        base = base.where(EventModel.kind.in_([str(k.value) for k in given.kind]))
    if given.city is not None:
        base = base.where(func.lower(EventModel.city) == " ".join(given.city.split()).lower())
    if given.online is True:
        base = base.where(EventModel.mode.in_(("online", "hybrid")))
    elif given.online is False:
        base = base.where(EventModel.mode == "in_person")
    if given.starts_from is not None:
        base = base.where(EventModel.starts_at >= _day_start(given.starts_from))
    if given.starts_to is not None:
        base = base.where(EventModel.starts_at < _day_start(given.starts_to) + _ONE_DAY)
    if given.status:
        base = base.where(EventModel.status.in_([str(s.value) for s in given.status]))
    else:
        base = base.where(EventModel.status != "draft")
    text = " ".join((query or "").split()).lower()[:QUERY_MAX]
    for word in text.split()[:8]:
        base = base.where(
            or_(
                func.lower(EventModel.title).contains(word, autoescape=True),
                func.lower(EventModel.description_markdown).contains(word, autoescape=True),
                func.lower(EventModel.venue).contains(word, autoescape=True),
                func.lower(EventModel.city).contains(word, autoescape=True),
            )
        )
    return base


_ONE_DAY = datetime(2000, 1, 2) - datetime(2000, 1, 1)


@strawberry.type
class EventsQuery:
    @relay.connection(
        EventConnection,
        description="Events you may see: published (or since cancelled or completed) events "
        "whose audience includes you, those you registered for, and those you organise. "
        "Drafts only when asked for by `filter.status`. `query` matches words of the title, "
        "description, venue or city.",
        max_results=1000,
    )
    def events(
        self,
        info: Info,
        query: Annotated[str | None, strawberry.argument(description="Words to look for.")] = None,
        filter: Annotated[
            EventFilter | None, strawberry.argument(description="Narrow the events.")
        ] = None,
        order_by: Annotated[
            EventOrder | None,
            strawberry.argument(description="How they are sorted (soonest first by default)."),
        ] = None,
    ) -> Iterable[Event]:
        base = events_query(info, query, filter)
        order = order_by or EventOrder()
        if order.field == EventOrderField.CREATED_AT:
            down = descending(order.direction, SortDirection.DESC)
            column = EventModel.created_at
        else:
            down = descending(order.direction, SortDirection.ASC)
            column = EventModel.starts_at
        sort = [SortKey(column, descending=down), SortKey(EventModel.id, descending=down)]
        return KeysetQuery(base, sort, Event.from_row, info.context.reads)

    @strawberry.field(
        description="Every event starting in a period (from and to, days in UTC, at most "
        "three years), counted by kind: fill and show rates and feedback (`events:manage`).",
        extensions=requires(Permission.EVENTS_MANAGE),
    )
    async def events_report(
        self,
        info: Info,
        starts_from: Annotated[date, strawberry.argument(description="First day.", name="from")],
        starts_to: Annotated[date, strawberry.argument(description="Last day.", name="to")],
    ) -> list[EventKindReport]:
        if starts_to < starts_from or (starts_to - starts_from).days > PERIOD_MAX_DAYS:
            raise bad_input("`to` must be on or after `from`, within three years.")
        async with info.context.reads.connect() as conn:
            found = await figures.of_period(
                conn, _day_start(starts_from), _day_start(starts_to) + _ONE_DAY
            )
        return [kind_report(k) for k in found]


@strawberry.type
class EventsSubscription:
    @strawberry.subscription(
        description="An event's attendance whenever it changes (registrations, waitlist, "
        "check-ins): for its organisers' door dashboard. Ends at once for anyone else."
    )
    async def event_attendance_changed(
        self,
        info: Info,
        event_id: Annotated[relay.GlobalID, strawberry.argument(description="The event.")],
    ) -> AsyncGenerator[EventAttendance, None]:
        viewer = info.context.viewer
        pk = global_pk(event_id, "Event")
        runs = catalogue.managed(viewer)
        if viewer.user_id is None or pk is None:
            return
        query = select(EventModel.id).where(EventModel.id == pk)
        if runs is not None:
            query = query.where(runs)
        async with info.context.reads.connect() as conn:
            if (await conn.execute(query)).first() is None:
                return
        async with info.context.runtime.bus.subscription(registrations.channel(pk)) as events:
            async for _ in events:
                if not await info.context.still_signed_in():
                    return
                async with info.context.reads.connect() as conn:
                    if (await conn.execute(query)).first() is None:
                        return  # no longer one of its organisers
                    row = (
                        await conn.execute(
                            select(EventModel.capacity, EventModel.seats_taken).where(
                                EventModel.id == pk
                            )
                        )
                    ).one()
                    found = await registrations.counts(conn, [pk])
                yield attendance_of(pk, row.capacity, row.seats_taken, found[pk])


# The viewer's own, served as fields of `User` (empty for anyone but the user).


def own_registrations(
    info: Info, user_id: int, status: list[EventRegistrationStatus] | None, upcoming: bool | None
) -> KeysetQuery[EventRegistration]:
    mine = info.context.viewer.user_id == user_id
    r = RegistrationModel
    query = (
        select(r.__table__, User.name.label("person_name"), EventModel.starts_at)
        .join(EventModel, EventModel.id == r.event_id)
        .join(User, User.id == r.user_id)
    )
    if not mine:
        query = query.where(r.id.is_(None))
    chosen = tuple(sorted({str(s.value) for s in status or ()}))
    if chosen:
        query = query.where(r.status.in_(chosen))
    now = datetime.now(UTC)
    if upcoming is True:
        query = query.where(EventModel.ends_at > now)
    elif upcoming is False:
        query = query.where(EventModel.ends_at <= now)
    latest = upcoming is False
    sort = [SortKey(EventModel.starts_at, descending=latest, attr="starts_at"),
            SortKey(r.id, descending=latest)]  # fmt: skip
    return KeysetQuery(
        query, sort, EventRegistration.from_row, info.context.reads,
        partition=(r.user_id, user_id),
        batch_key=("User.eventRegistrations", mine, chosen, upcoming),
    )  # fmt: skip


async def feed_url(info: Info, user_id: int) -> str | None:
    if info.context.viewer.user_id != user_id:
        return None
    settings = info.context.runtime.settings
    async with info.context.reads.connect() as conn:
        version = await calendar.feed_version(conn, user_id)
    return (
        f"{settings.public_url}/calendar/feed/{calendar.feed_token(settings, user_id, version)}.ics"
    )
