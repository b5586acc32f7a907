"""Calendars, reminders, the door dashboard's live counts, exports, and lists whose SQL
does not grow with their length."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from icalendar import Calendar
from sqlalchemy import select, update
from strawberry.relay import from_base64
from tests.conftest import Api, post_to, subscribe, token_at
from tests.events.conftest import CANCEL, CHECK_IN, CREATE, PUBLISH, UPDATE, Events, crowd

from alumnet.persistence.models import Event, Notification

FEED = "query { viewer { calendarFeedUrl } }"
ROTATE = "mutation { calendarFeedRotate { url userErrors { code } } }"
LINKS = """query($id: ID!) { node(id: $id) { ... on Event { calendarUrl seriesCalendarUrl } } }"""


async def fetch(p: Events, url: str) -> Any:
    parts = urlparse(url)
    return await p.api.client.get(f"{parts.path}?{parts.query}" if parts.query else parts.path)


async def test_files_and_feeds_speak_rfc_5545(people: Events) -> None:
    p = people
    online = await p.published("manager", title="Webinar", mode="ONLINE", kind="TALK",
                               joinUrl="https://meet.example.org/w",
                               timeZone="Asia/Kolkata")  # fmt: skip
    reunion = await p.published("manager", title="Reunion", capacity=5)
    await p.register("a1", online["id"])
    await p.register("a1", reunion["id"])
    await p.register("a2", reunion["id"])
    # The feed: a1's events, times in each event's zone, the join link where they have a place.
    url = (await p.gql("a1", FEED))["data"]["viewer"]["calendarFeedUrl"]
    response = await fetch(p, url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    feed = Calendar.from_ical(response.content)
    events = {str(e["summary"]): e for e in feed.walk("VEVENT")}
    assert set(events) == {"Webinar", "Reunion"}
    assert events["Webinar"]["dtstart"].dt.tzinfo.key == "Asia/Kolkata"  # type: ignore[union-attr]
    assert "https://meet.example.org/w" in str(events["Webinar"]["description"])
    # (Accra keeps UTC all year: its times are written in UTC, and need no VTIMEZONE.)
    assert {str(z["tzid"]) for z in feed.walk("VTIMEZONE")} == {"Asia/Kolkata"}
    # a2's feed has only theirs; another person's token does not open a1's.
    other = (await p.gql("a2", FEED))["data"]["viewer"]["calendarFeedUrl"]
    assert other != url
    theirs = Calendar.from_ical((await fetch(p, other)).content)
    assert [str(e["summary"]) for e in theirs.walk("VEVENT")] == ["Reunion"]
    # Rotating: the old link stops working, the new one works.
    rotated = await p.ok("a1", ROTATE, {}, "calendarFeedRotate")
    assert rotated["url"] != url
    assert (await fetch(p, url)).status_code == 404
    assert (await fetch(p, rotated["url"])).status_code == 200
    # A forged or mangled signature is refused.
    path = urlparse(rotated["url"]).path
    token = path.rsplit("/", 1)[1].removesuffix(".ics")
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (f"/calendar/feed/{forged}.ics", "/calendar/feed/x.ics", "/calendar/event.ics",
                "/calendar/event.ics?token=abc"):  # fmt: skip
        assert (await p.api.client.get(bad)).status_code == 404, bad
    # One event's file: the join link only for someone with a place.
    mine = (await p.gql("a1", LINKS, {"id": online["id"]}))["data"]["node"]
    assert mine["seriesCalendarUrl"] is None
    one = Calendar.from_ical((await fetch(p, mine["calendarUrl"])).content)
    [item] = one.walk("VEVENT")
    assert str(item["url"]) == "https://meet.example.org/w"
    stranger = (await p.gql("a2", LINKS, {"id": online["id"]}))["data"]["node"]
    [bare] = Calendar.from_ical((await fetch(p, stranger["calendarUrl"])).content).walk("VEVENT")
    assert "url" not in bare and "meet.example.org" not in bare.to_ical().decode()
    # A link made for someone who may not see the event (a student, an alumni-only event).
    secret = await p.published("manager", title="Alumni only", audience={"roles": ["ALUMNUS"]})
    link = (await p.gql("a1", LINKS, {"id": secret["id"]}))["data"]["node"]["calendarUrl"]
    token = urlparse(link).query.split("=", 1)[1]
    from alumnet.domain.events.calendar import event_token

    student = int(from_base64(p.ids["s1"])[1])
    forged_for = event_token(p.api.settings, student, int(from_base64(secret["id"])[1]))
    assert token != forged_for
    assert (await p.api.client.get(f"/calendar/event.ics?token={forged_for}")).status_code == 404


async def test_a_series_file_carries_its_rule_and_only_what_is_published(people: Events) -> None:
    p = people
    start = datetime.now(UTC) + timedelta(days=2)
    made = await p.ok("manager", CREATE, {"i": {
        "title": "Monthly talk", "kind": "TALK", "mode": "IN_PERSON", "venue": "Room 4",
        "timeZone": "Europe/Paris", "startsAt": start.isoformat(),
        "endsAt": (start + timedelta(hours=1)).isoformat(), "recurrence": "FREQ=MONTHLY;COUNT=4",
    }}, "eventCreate")  # fmt: skip
    first, second, third, fourth = (e["id"] for e in made["events"])
    # The first stays a draft with a secret title; the third is cancelled.
    await p.ok("manager", UPDATE, {"i": {"id": first, "title": "SECRET plans"}}, "eventUpdate")
    await p.ok("manager", PUBLISH, {"i": {"id": second, "wholeSeries": True}}, "eventPublish")
    await p.ok("manager", CANCEL, {"i": {"id": third, "reason": "Holiday"}}, "eventCancel")
    link = (await p.gql("a1", LINKS, {"id": second}))["data"]["node"]["seriesCalendarUrl"]
    body = (await fetch(p, link)).content
    assert b"SECRET" not in body
    [series] = Calendar.from_ical(body).walk("VEVENT")
    assert series["rrule"]["FREQ"] == ["MONTHLY"] and "COUNT" not in series["rrule"]
    starts = [e["startsAt"] for e in made["events"]]
    until = series["rrule"]["UNTIL"][0]
    assert until == datetime.fromisoformat(starts[3])  # the last date that exists
    assert series["dtstart"].dt == datetime.fromisoformat(starts[1])
    assert series["dtstart"].dt.tzinfo.key == "Europe/Paris"  # type: ignore[union-attr]
    excluded = [d.dt for d in series["exdate"].dts]  # the cancelled third
    assert excluded == [datetime.fromisoformat(starts[2])]
    assert fourth


async def test_reminders_a_day_and_an_hour_before_once_each(people: Events) -> None:
    p = people
    event = await p.published("manager", title="Gala", capacity=1)
    await p.register("a1", event["id"])
    await p.register("a2", event["id"])  # waitlisted: no reminders
    pk = int(from_base64(event["id"])[1])

    async def starts_in(delta: timedelta) -> None:
        async with p.api.app.state.runtime.transaction() as uow:
            await uow.session.execute(
                update(Event).where(Event.id == pk).values(starts_at=datetime.now(UTC) + delta,
                                                           ends_at=datetime.now(UTC) + delta * 2)
            )  # fmt: skip

    async def remind() -> list[str]:
        from alumnet.domain.events import reminders

        await reminders.run(p.api.app.state.runtime)
        async with p.api.app.state.runtime.transaction() as uow:
            rows = await uow.session.execute(
                select(Notification.title).where(Notification.kind == "event_reminder")
                .order_by(Notification.id)
            )  # fmt: skip
            return list(rows.scalars())

    assert await remind() == []
    await starts_in(timedelta(hours=20))
    assert await remind() == ["Reminder: Gala tomorrow"]
    assert await remind() == ["Reminder: Gala tomorrow"]  # never twice
    await starts_in(timedelta(minutes=40))
    assert await remind() == ["Reminder: Gala tomorrow", "Reminder: Gala within the hour"]
    assert len(await remind()) == 2
    # After it ends, the scheduler completes it.
    async with p.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(Event).where(Event.id == pk).values(
                starts_at=datetime.now(UTC) - timedelta(hours=3),
                ends_at=datetime.now(UTC) - timedelta(hours=1),
            )
        )  # fmt: skip
    await remind()
    assert (await p.event("manager", event["id"]))["status"] == "COMPLETED"
    # The scheduler's job runs it (the same job through the queue and a worker).
    from alumnet.workers.schedule import AT_START, SCHEDULE

    assert ("events.reminders", {}) in AT_START
    assert any(name == "events.reminders" for name, _, _ in SCHEDULE)


async def test_the_door_dashboard_hears_every_check_in(people: Events, server: str) -> None:
    p = people
    event = await p.published("manager", capacity=10)
    subscription = """subscription($e: ID!) { eventAttendanceChanged(eventId: $e) {
      confirmed checkedIn waitlisted seatsTaken } }"""
    variables = {"e": event["id"]}
    door = await subscribe(server, await token_at(server, "manager@example.org"), subscription,
                           variables)  # fmt: skip
    outsider = await subscribe(server, await token_at(server, "a2@example.org"), subscription,
                               variables)  # fmt: skip
    a1 = await token_at(server, "a1@example.org")
    register = "mutation($e: ID!) { eventRegister(input: {eventId: $e}) { registration { " \
        "checkInCode } } }"  # fmt: skip
    code = (await post_to(server, register, variables, a1))["data"]["eventRegister"][
        "registration"]["checkInCode"]  # fmt: skip
    manager = await token_at(server, "manager@example.org")
    await post_to(server, CHECK_IN, {"e": event["id"], "c": code}, manager)
    heard = []
    while len(heard) < 2:
        message = json.loads(await asyncio.wait_for(door.recv(), 10))
        heard.append(message["payload"]["data"]["eventAttendanceChanged"])
    assert heard == [
        {"confirmed": 1, "checkedIn": 0, "waitlisted": 0, "seatsTaken": 1},
        {"confirmed": 1, "checkedIn": 1, "waitlisted": 0, "seatsTaken": 1},
    ]
    ended = json.loads(await asyncio.wait_for(outsider.recv(), 10))
    assert ended["type"] == "complete"  # not an organiser: nothing, and the end at once
    for ws in (door, outsider):
        await ws.close()


async def test_exports_of_registrations_and_of_a_period(people: Events) -> None:
    p = people
    event = await p.published("manager", questions=[{"key": "diet", "label": "Diet"}])
    await p.register("a1", event["id"], answers=[{"key": "diet", "value": "=HYPERLINK(1)"}])
    export = """mutation($e: ID!) { eventRegistrationsExport(input: {eventId: $e, format: CSV}) {
      job { id } userErrors { code } } }"""
    denied = await p.call("a1", export, {"e": event["id"]}, "eventRegistrationsExport")
    assert [e["code"] for e in denied["userErrors"]] == ["NOT_FOUND"]
    job = (await p.ok("manager", export, {"e": event["id"]}, "eventRegistrationsExport"))["job"]
    await p.api.run_jobs()
    text = await download(p, job["id"])
    header, row = text.splitlines()[:2]
    assert header.startswith("name,email,status,arrival")
    assert row.startswith("A1 Person,") and "'=HYPERLINK" not in row  # JSON text, not a formula
    period = """mutation($f: Date!, $t: Date!) { eventsExport(input: {from: $f, to: $t,
      format: CSV}) { job { id } userErrors { code } } }"""
    today = datetime.now(UTC).date()
    variables = {"f": today.isoformat(), "t": (today + timedelta(days=30)).isoformat()}
    refused = await p.gql("a1", period, variables)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    job = (await p.ok("manager", period, variables, "eventsExport"))["job"]
    await p.api.run_jobs()
    lines = (await download(p, job["id"])).splitlines()
    assert lines[0].startswith("title,kind,status,starts_at") and len(lines) == 2
    report = """query($f: Date!, $t: Date!) { eventsReport(from: $f, to: $t) { kind events
      confirmed } }"""
    body = await p.gql("manager", report, variables)
    assert body["data"]["eventsReport"] == [{"kind": "REUNION", "events": 1, "confirmed": 1}]


async def download(p: Events, job: str) -> str:
    """The newest export file of the manager's."""
    listed = await p.gql("manager", "{ exports(first: 1) { edges { node { downloadUrl } } } }")
    url = urlparse(listed["data"]["exports"]["edges"][0]["node"]["downloadUrl"])
    response = await p.api.client.get(f"{url.path}?{url.query}")
    assert response.status_code == 200
    return str(response.text)


async def test_lists_of_events_cost_the_same_sql_whatever_their_length(people: Events) -> None:
    p = people
    query = """query { events(first: 100) { edges { node { id title audience { roles }
      organisers { name } speakers { name } recurrence joinUrl viewerRegistration { status }
      attendance { confirmed } attendees(first: 5) { edges { node { name checkedIn } } }
      registrations(first: 5) { totalCount edges { node { name event { title }
        feedback { rating } waitlistPosition } } }
      report { confirmed feedback { count } byBatch { label } byGraduationYear { label } }
    } } } }"""

    async def statements() -> int:
        body = await p.gql("manager", query)
        assert "errors" not in body, body
        return int(body["extensions"]["timing"]["sqlStatements"])

    mutation = "mutation($e: ID!) { eventRegister(input: {eventId: $e}) { userErrors { code } } }"
    first = await p.published("manager", speakers=[{"name": "Ama"}])
    tokens = await crowd(p.api, 6)
    await p.api.gql(mutation, {"e": first["id"]}, token=tokens[5])
    one = await statements()
    for i in range(5):
        event = await p.published("manager", title=f"E{i}", speakers=[{"name": "Kwame"}],
                                  organisers=[{"userId": p.ids["sre"]}])  # fmt: skip
        for token in tokens[:3]:
            await p.api.gql(mutation, {"e": event["id"]}, token=token)
    assert await statements() == one


async def test_nobody_else_reaches_a_registration_s_code(api: Api, people: Events) -> None:
    p = people
    event = await p.published("manager")
    mine = (await p.register("a1", event["id"]))["registration"]
    query = """query($id: ID!) { node(id: $id) { ... on EventRegistration { checkInCode
      checkInQrSvg answers { key } } } }"""
    for who in ("a2", "s1", "sre"):
        assert (await p.gql(who, query, {"id": mine["id"]}))["data"]["node"] is None, who
    assert (await api.gql(query, {"id": mine["id"]}))["data"]["node"] is None
