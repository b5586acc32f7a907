"""Event reminders, sent by the scheduler (`events.reminders`, every five minutes): one a
day before an event and one an hour before, to each person confirmed, once each.

Set-based, as the other reminders: one ``INSERT … SELECT … ON CONFLICT DO NOTHING
RETURNING`` into ``reminders_sent`` marks who is due which reminder (a second run, a
second scheduler or a restart marks nobody twice), and one ``notify_each`` tells them.
Someone who registers within the hour gets only the hour's reminder. The same run
completes the events that have ended.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, select

from alumnet.domain.communication.notifications import Item, notify_each
from alumnet.domain.communication.reminders import mark_once
from alumnet.domain.events.catalogue import complete_ended, describe_when
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import Event, EventRegistration
from alumnet.persistence.uow import UnitOfWork

REMINDERS_JOB = "events.reminders"
WINDOWS = (("event_day", timedelta(hours=24), "tomorrow"), ("event_hour", timedelta(hours=1),
           "within the hour"))  # fmt: skip


def _due(now: datetime, ahead: timedelta, closer: timedelta | None) -> Any:
    """(event, person, its start) for each person confirmed for a published event starting within
    ``ahead`` (and not within ``closer``, the next reminder's window)."""
    query = (
        # Keyed by the start: an event moved after its reminder is reminded of again.
        select(Event.id, EventRegistration.user_id, cast(Event.starts_at, String(32)))
        .join(EventRegistration, EventRegistration.event_id == Event.id)
        .where(
            Event.status == "published",
            Event.starts_at > now,
            Event.starts_at <= now + ahead,
            EventRegistration.status == "confirmed",
            EventRegistration.user_id.is_not(None),
        )
    )
    if closer is not None:
        query = query.where(Event.starts_at > now + closer)
    return query


async def remind(uow: UnitOfWork, now: datetime) -> int:
    sent = 0
    for index, (kind, ahead, when) in enumerate(WINDOWS):
        closer = WINDOWS[index + 1][1] if index + 1 < len(WINDOWS) else None
        marked = await mark_once(uow, kind, _due(now, ahead, closer))
        if not marked:
            continue
        ids = {s for s, _, _ in marked}
        events = {
            e.id: e
            for e in (await uow.session.execute(select(Event).where(Event.id.in_(ids)))).scalars()
        }
        items = [
            Item(user, f"Reminder: {events[subject].title} {when}",
                 f"{describe_when(events[subject])}.", "Event", subject)
            for subject, user, _ in marked
        ]  # fmt: skip
        sent += await notify_each(uow, "event_reminder", items)
    return sent


async def run(rt: Runtime) -> dict[str, int]:
    """The scheduler's job: reminders, then the events that have ended are completed."""
    async with rt.transaction() as uow:
        sent = await remind(uow, datetime.now(UTC))
    return {"reminded": sent, "completed": await complete_ended(rt)}
