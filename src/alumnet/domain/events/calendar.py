"""Calendars (RFC 5545, through ``icalendar``): one event's ``.ics``, a series' ``.ics``
with its recurrence rule, and each user's private feed of their events, at a signed link
that calendar applications subscribe to and that its owner can rotate.

Times are written in the event's own time zone (with its VTIMEZONE), so that a calendar
shows 18:00 in Accra as the organisers meant it. The join link of an online event is in
a calendar only for someone registered (or running it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jwt
from icalendar import Calendar, vRecur
from icalendar import Event as VEvent
from sqlalchemy import or_, select

from alumnet.config import Settings
from alumnet.domain.events.catalogue import (
    as_utc,
    managed,
    occurrences,
    organised_by,
    readable,
    zone_of,
)
from alumnet.domain.identity.permissions import Viewer
from alumnet.persistence.models import (
    CalendarFeed,
    Event,
    EventPerson,
    EventRegistration,
    EventSeries,
)
from alumnet.persistence.uow import UnitOfWork

FEED_AUDIENCE = "alumnet-calendar-feed"
EVENT_AUDIENCE = "alumnet-event-ics"
SESSION_AUDIENCE = "alumnet-mentorship-session-ics"
FEED_MAX = 500  # events in one feed: from 90 days back, soonest first
FEED_PAST = timedelta(days=90)
PRODID = "-//alumnet//events//EN"


def feed_token(settings: Settings, user_id: int, version: int) -> str:
    claims = {"sub": str(user_id), "v": version, "aud": FEED_AUDIENCE}
    return jwt.encode(claims, settings.secret_key, algorithm="HS256")


def read_feed_token(settings: Settings, token: str) -> tuple[int, int] | None:
    try:
        claims = jwt.decode(
            token, settings.secret_key, algorithms=["HS256"], audience=FEED_AUDIENCE,
            options={"require": ["sub", "v", "aud"]},
        )  # fmt: skip
        return int(claims["sub"]), int(claims["v"])
    except (jwt.PyJWTError, TypeError, ValueError):
        return None


def event_token(
    settings: Settings, user_id: int, event_id: int, audience: str = EVENT_AUDIENCE
) -> str:
    """A link to one event's (or, by ``audience``, one mentorship session's) ``.ics`` for
    one person, who must still see it when it is used."""
    claims = {"sub": str(user_id), "event": event_id, "aud": audience,
              "exp": datetime.now(UTC) + timedelta(days=30)}  # fmt: skip
    return jwt.encode(claims, settings.secret_key, algorithm="HS256")


def read_event_token(
    settings: Settings, token: str, audience: str = EVENT_AUDIENCE
) -> tuple[int, int] | None:
    try:
        claims = jwt.decode(
            token, settings.secret_key, algorithms=["HS256"], audience=audience,
            options={"require": ["sub", "event", "aud", "exp"]},
        )  # fmt: skip
        return int(claims["sub"]), int(claims["event"])
    except (jwt.PyJWTError, TypeError, ValueError):
        return None


async def feed_version(executor: Any, user_id: int) -> int:
    found = await executor.execute(
        select(CalendarFeed.version).where(CalendarFeed.user_id == user_id)
    )
    return int(found.scalar_one_or_none() or 1)


async def rotate(uow: UnitOfWork, viewer: Viewer) -> int:
    """A new feed link for the viewer; the old one stops working. Returns the version."""
    me = viewer.require_user()
    found = await uow.session.get(CalendarFeed, me, with_for_update=True)
    now = datetime.now(UTC)
    if found is None:
        found = CalendarFeed(user_id=me, version=2, rotated_at=now)
        uow.session.add(found)
    else:
        found.version, found.rotated_at = found.version + 1, now
    await uow.session.flush()
    return found.version


def new_calendar(name: str | None = None) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if name:
        calendar.add("x-wr-calname", name)
    return calendar


def _vevent(row: Any, public_url: str, *, with_link: bool, stamp: datetime) -> VEvent:
    zone = zone_of(row.time_zone) or ZoneInfo("UTC")
    item = VEvent()
    item.add("uid", f"event-{row.id}@{_host(public_url)}")
    item.add("dtstamp", stamp)
    item.add("dtstart", as_utc(row.starts_at).astimezone(zone))
    item.add("dtend", as_utc(row.ends_at).astimezone(zone))
    item.add("summary", row.title)
    place = ", ".join(p for p in (row.venue, row.city, row.country) if p)
    link = row.join_url if with_link else None
    if link and row.mode == "online":
        place = link
    if place:
        item.add("location", place)
    description = row.description_markdown or ""
    if link:
        description = f"{description}\n\nJoin: {link}".strip()
        item.add("url", link)
    if description:
        item.add("description", description)
    item.add("status", "CANCELLED" if row.status == "cancelled" else "CONFIRMED")
    item.add("last-modified", as_utc(row.updated_at))
    return item


def _host(public_url: str) -> str:
    return public_url.split("://", 1)[-1].split("/", 1)[0] or "alumnet"


def finish_calendar(calendar: Calendar, rows: Sequence[Any]) -> bytes:
    if rows:
        starts = [as_utc(r.starts_at).date() for r in rows]
        calendar.add_missing_timezones(
            first_date=min(starts) - timedelta(days=1), last_date=max(starts) + timedelta(days=40)
        )
    return bytes(calendar.to_ical())


async def joinable(executor: Any, viewer: Viewer, event_ids: list[int]) -> set[int]:
    """Of these events, those whose join link the viewer sees: they have a place (are
    confirmed) or run it. One statement."""
    me = viewer.user_id if viewer.user_id is not None else -1
    runs = managed(viewer)
    query = select(Event.id).where(
        Event.id.in_(event_ids),
        or_(
            Event.id.in_(
                select(EventRegistration.event_id).where(
                    EventRegistration.user_id == me, EventRegistration.status == "confirmed"
                )
            ),
            runs if runs is not None else Event.id.is_not(None),
        ),
    )
    return {int(i) for i in (await executor.execute(query)).scalars()}


async def event_ics(executor: Any, viewer: Viewer, event_id: int, public_url: str) -> bytes | None:
    """One event as an ``.ics`` file, or None if the viewer may not see it."""
    query = select(Event.__table__).where(Event.id == event_id)
    condition = readable(viewer)
    if condition is not None:
        query = query.where(condition)
    row = (await executor.execute(query)).first()
    if row is None:
        return None
    calendar = new_calendar()
    calendar.add("method", "PUBLISH")
    link = event_id in await joinable(executor, viewer, [event_id])
    calendar.add_component(_vevent(row, public_url, with_link=link, stamp=datetime.now(UTC)))
    return finish_calendar(calendar, [row])


async def series_ics(executor: Any, viewer: Viewer, event_id: int, public_url: str) -> bytes | None:
    """The series an event belongs to as one VEVENT: its recurrence rule, ended at its
    last date (a series is at most 52 events), from its first published date; dates
    cancelled, still drafts or moved are EXDATEs, and moved ones RDATEs. None if the viewer
    may not see the event, it is no series, or none of its dates is published."""
    query = select(Event.__table__).where(Event.id == event_id)
    condition = readable(viewer)
    if condition is not None:
        query = query.where(condition)
    row = (await executor.execute(query)).first()
    if row is None or row.series_id is None:
        return None
    series = (
        await executor.execute(select(EventSeries.__table__).where(EventSeries.id == row.series_id))
    ).one()
    shown = (
        await executor.execute(
            select(Event.__table__)
            .where(Event.series_id == row.series_id, Event.status.in_(("published", "completed")))
            .order_by(Event.starts_at, Event.id)
        )
    ).all()
    zone = zone_of(series.time_zone) or ZoneInfo("UTC")
    ruled = occurrences(series.rule, series.starts_at, zone) or []
    if not shown:
        return None
    first, last = as_utc(shown[0].starts_at), as_utc(shown[-1].starts_at)
    dates = {as_utc(o.starts_at) for o in shown}
    expected = [d for d in ruled if first <= d <= last]
    start = next((d for d in expected if d in dates), first)
    anchor = next(o for o in shown if as_utc(o.starts_at) == start)
    item = _vevent(anchor, public_url, with_link=False, stamp=datetime.now(UTC))
    item["uid"] = f"series-{series.id}@{_host(public_url)}"
    rule = vRecur.from_ical(series.rule)
    for bound in ("COUNT", "UNTIL"):
        rule.pop(bound, None)
    rule["UNTIL"] = [last]
    item.add("rrule", rule)
    for missing in (d for d in expected if d not in dates and d > start):
        item.add("exdate", missing.astimezone(zone))
    for moved in sorted(d for d in dates if d not in set(expected) and d != start):
        item.add("rdate", moved.astimezone(zone))
    calendar = new_calendar()
    calendar.add_component(item)
    return finish_calendar(calendar, shown)


def feed_events(user_id: int, since: datetime) -> Any:
    """The events of a user's feed: those they registered for (confirmed or waitlisted)
    and those they run, from ``since`` on, soonest first."""
    mine = select(EventRegistration.event_id).where(
        EventRegistration.user_id == user_id,
        EventRegistration.status.in_(("confirmed", "waitlisted")),
    )
    return (
        select(Event.__table__)
        .where(
            or_(Event.id.in_(mine), Event.created_by_id == user_id,
                Event.id.in_(organised_by(user_id))),
            Event.status != "draft",
            Event.ends_at >= since,
        )
        .order_by(Event.starts_at, Event.id)
        .limit(FEED_MAX)
    )  # fmt: skip


async def feed(executor: Any, user_id: int, public_url: str, name: str) -> bytes:
    """A user's calendar feed: their events with times in each event's zone; the join
    link where they are confirmed or run the event."""
    since = datetime.now(UTC) - FEED_PAST
    rows = (await executor.execute(feed_events(user_id, since))).all()
    ids = [r.id for r in rows]
    linked: set[int] = set()
    if ids:
        confirmed = await executor.execute(
            select(EventRegistration.event_id).where(
                EventRegistration.user_id == user_id,
                EventRegistration.status == "confirmed",
                EventRegistration.event_id.in_(ids),
            )
        )
        linked = set(confirmed.scalars())
        runs = await executor.execute(organised_by(user_id).where(EventPerson.event_id.in_(ids)))
        linked |= set(runs.scalars())
    stamp = datetime.now(UTC)
    calendar = new_calendar(f"{name}: alumnet events")
    calendar.add("refresh-interval;value=duration", "PT1H")
    calendar.add("x-published-ttl", "PT1H")
    for row in rows:
        with_link = row.id in linked or row.created_by_id == user_id
        calendar.add_component(_vevent(row, public_url, with_link=with_link, stamp=stamp))
    return finish_calendar(calendar, rows)
