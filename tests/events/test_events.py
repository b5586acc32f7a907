"""Events: who creates and sees them, bad input that changes nothing, series by a
recurrence rule, publishing, changes and cancellations told to those registered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from tests.events.conftest import CANCEL, CREATE, PUBLISH, UPDATE, Events, codes

from alumnet.persistence.models import Event, EventRegistration, Notification

HOST = """mutation($u: ID!, $h: Boolean!) { eventHostSet(input: {userId: $u, host: $h}) {
  userId userErrors { code } } }"""
EVENTS = """query($q: String, $f: EventFilter, $o: EventOrder) {
  events(query: $q, filter: $f, orderBy: $o, first: 50) { totalCount edges { node {
    id title status } } } }"""


async def count(p: Events, model: Any) -> int:
    async with p.api.app.state.runtime.transaction() as uow:
        return int((await uow.session.execute(select(func.count()).select_from(model))).scalar())


async def listed(p: Events, who: str, **variables: Any) -> list[str]:
    body = await p.gql(who, EVENTS, variables)
    assert "errors" not in body, body
    return [e["node"]["title"] for e in body["data"]["events"]["edges"]]


async def test_bad_input_is_refused_and_nothing_is_written(people: Events) -> None:
    p = people
    start = datetime.now(UTC) + timedelta(days=3)
    base = {
        "title": "Talk",
        "kind": "TALK",
        "mode": "ONLINE",
        "timeZone": "Africa/Accra",
        "startsAt": start.isoformat(),
        "endsAt": (start + timedelta(hours=1)).isoformat(),
    }
    cases = [
        ({"endsAt": (start - timedelta(hours=1)).isoformat()}, "END_BEFORE_START", "endsAt"),
        ({"registrationClosesAt": (start + timedelta(minutes=5)).isoformat()},
         "DEADLINE_AFTER_START", "registrationClosesAt"),
        ({"timeZone": "Mars/Olympus_Mons"}, "INVALID_TIME_ZONE", "timeZone"),
        ({"timeZone": "../../etc/passwd"}, "INVALID_TIME_ZONE", "timeZone"),
        ({"timeZone": "America"}, "INVALID_TIME_ZONE", "timeZone"),  # a folder of zones
        ({"joinUrl": "http://meet.example.org/x"}, "INVALID_URL", "joinUrl"),
        ({"coverImageUrl": "javascript:alert(1)"}, "INVALID_URL", "coverImageUrl"),
        ({"capacity": 0}, "OUT_OF_RANGE", "capacity"),
        ({"guestsMax": 11}, "OUT_OF_RANGE", "guestsMax"),
        ({"startsAt": (datetime.now(UTC) - timedelta(days=1)).isoformat()}, "DATE_IN_PAST",
         "startsAt"),
        ({"recurrence": "FREQ=MINUTELY;COUNT=1000"}, "INVALID_RECURRENCE", "recurrence"),
        ({"recurrence": "not a rule"}, "INVALID_RECURRENCE", "recurrence"),
        # Filters that never match would have the rule searched to the year 9999.
        ({"recurrence": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"}, "INVALID_RECURRENCE",
         "recurrence"),
        ({"recurrence": "FREQ=MONTHLY;BYMONTHDAY=30;INTERVAL=12"}, "INVALID_RECURRENCE",
         "recurrence"),
        ({"recurrence": "FREQ=WEEKLY;UNTIL=20000101T000000Z"}, "INVALID_RECURRENCE",
         "recurrence"),
        ({"recurrence": "FREQ=MONTHLY;BYDAY=53MO"}, "INVALID_RECURRENCE", "recurrence"),
        ({"recurrence": "FREQ=MONTHLY;BYDAY=-6SU"}, "INVALID_RECURRENCE", "recurrence"),
        ({"recurrence": "FREQ=MONTHLY;BYDAY=1MO;BYMONTHDAY=28"}, "INVALID_RECURRENCE",
         "recurrence"),
        ({"registrationOpensAt": (start + timedelta(minutes=30)).isoformat()}, "INVALID",
         "registrationOpensAt"),
        ({"title": " "}, "REQUIRED", "title"),
        ({"speakers": [{"userId": p.ids["a1"], "name": "Both"}]}, "INVALID", "speakers"),
        ({"organisers": [{"name": "A guest"}]}, "INVALID", "organisers"),
        ({"questions": [{"key": "Bad Key!", "label": "Diet"}]}, "INVALID", "questions"),
        ({"audience": {"batchIds": ["QmF0Y2g6OTk5OQ=="]}}, "NOT_FOUND", "audience"),
    ]  # fmt: skip
    for given, code, field in cases:
        payload = await p.call("manager", CREATE, {"i": {**base, **given}}, "eventCreate")
        assert code in codes(payload), (given, payload)
        assert any(field in (e["field"] or []) for e in payload["userErrors"]), payload
        assert payload["event"] is None
    assert await count(p, Event) == 0
    # Students and plain alumni do not create events; a chapter lead may once trusted.
    for who in ("s1", "a1", "lead"):
        payload = await p.call(who, CREATE, {"i": base}, "eventCreate")
        assert codes(payload) == ["NOT_ALLOWED"], who
    denied = await p.gql("sre", HOST, {"u": p.ids["lead"], "h": True})  # not events:manage
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    await p.ok("manager", HOST, {"u": p.ids["lead"], "h": True}, "eventHostSet")
    made = await p.ok("lead", CREATE, {"i": {**base, "title": "Chapter talk"}}, "eventCreate")
    assert made["event"]["status"] == "DRAFT"
    # An http join link is refused on publishing too: an online event needs its link.
    unpublished = await p.call("lead", PUBLISH, {"i": {"id": made["event"]["id"]}},
                               "eventPublish")  # fmt: skip
    assert codes(unpublished) == ["REQUIRED"]
    # The lead runs their own event, not the manager's.
    other = await p.create("manager")
    stranger = await p.call("lead", UPDATE, {"i": {"id": other["id"], "title": "Mine"}},
                            "eventUpdate")  # fmt: skip
    assert codes(stranger) == ["NOT_FOUND"]
    await p.ok("manager", HOST, {"u": p.ids["lead"], "h": False}, "eventHostSet")
    again = await p.call("lead", CREATE, {"i": base}, "eventCreate")
    assert codes(again) == ["NOT_ALLOWED"]


async def test_drafts_are_the_organisers_and_audiences_decide_who_sees(people: Events) -> None:
    p = people
    draft = await p.create("manager", title="Draft gala")
    assert await p.event("a1", draft["id"]) is None
    assert (await p.event("manager", draft["id"]))["viewerOrganises"] is True
    assert (await p.event("admin", draft["id"]))["title"] == "Draft gala"
    alumni = await p.published("manager", title="Alumni mixer",
                               audience={"roles": ["ALUMNUS"]})  # fmt: skip
    students = await p.published("manager", title="Student fair", kind="CAREER_FAIR",
                                 audience={"roles": ["STUDENT"]})  # fmt: skip
    assert await p.event("s1", alumni["id"]) is None
    assert (await p.event("a1", alumni["id"]))["title"] == "Alumni mixer"
    assert await listed(p, "a1") == ["Alumni mixer"]
    assert await listed(p, "s1") == ["Student fair"]
    assert await listed(p, "manager") == ["Alumni mixer", "Student fair"]
    assert await listed(p, "manager", f={"status": ["DRAFT"]}) == ["Draft gala"]
    assert await listed(p, "a1", f={"status": ["DRAFT"]}) == []
    assert await listed(p, "manager", q="FAIR") == ["Student fair"]
    assert await listed(p, "manager", f={"kind": ["CAREER_FAIR"]}) == ["Student fair"]
    assert await listed(p, "manager", f={"city": "accra", "online": False}) == [
        "Alumni mixer", "Student fair"]  # fmt: skip
    assert await listed(p, "manager", f={"online": True}) == []
    assert await listed(p, "manager", f={"upcoming": False}) == []
    assert await listed(p, "manager", q="100%_") == []
    anonymous = await p.api.gql(EVENTS, {})
    assert anonymous["data"]["events"]["totalCount"] == 0
    assert (await p.register("s1", alumni["id"]))["userErrors"][0]["code"] == "NOT_FOUND"
    assert codes(await p.register("s1", students["id"])) == []


async def test_a_weekly_series_keeps_its_local_time_across_daylight_saving(people: Events) -> None:
    p = people
    # Tuesdays at 18:00 in London, across the end of summer time (last Sunday of October).
    year = datetime.now(UTC).year + 1
    start = datetime(year, 10, 20, 17, 0, tzinfo=UTC)  # 18:00 BST
    payload = await p.ok("manager", CREATE, {"i": {
        "title": "Office hours", "kind": "MEETUP", "mode": "ONLINE", "timeZone": "Europe/London",
        "joinUrl": "https://meet.example.org/office", "startsAt": start.isoformat(),
        "endsAt": (start + timedelta(hours=1)).isoformat(),
        "recurrence": "FREQ=WEEKLY;COUNT=4", "capacity": 10, "clientId": "office-hours",
    }}, "eventCreate")  # fmt: skip
    events = payload["events"]
    assert len(events) == 4
    assert [e["localStartsAt"][11:16] for e in events] == ["18:00"] * 4
    london = ZoneInfo("Europe/London")
    second = datetime(year, 10, 27, 18, 0, tzinfo=london).astimezone(UTC)
    assert [e["startsAt"][11:16] for e in events] == [
        "17:00", f"{second:%H:%M}", "18:00", "18:00"]  # fmt: skip
    assert payload["event"]["recurrence"] == "FREQ=WEEKLY;COUNT=4"
    again = await p.ok("manager", CREATE, {"i": {
        "title": "Office hours", "kind": "MEETUP", "mode": "ONLINE", "timeZone": "Europe/London",
        "startsAt": start.isoformat(), "endsAt": (start + timedelta(hours=1)).isoformat(),
        "recurrence": "FREQ=WEEKLY;COUNT=4", "clientId": "office-hours",
    }}, "eventCreate")  # fmt: skip
    assert [e["id"] for e in again["events"]] == [e["id"] for e in events]
    published = await p.ok("manager", PUBLISH, {"i": {"id": events[1]["id"],
                           "wholeSeries": True}}, "eventPublish")  # fmt: skip
    assert [e["id"] for e in published["events"]] == [e["id"] for e in events[1:]]
    assert (await p.event("a1", events[0]["id"])) is None  # still a draft
    # Each occurrence is registrable on its own.
    assert codes(await p.register("a1", events[1]["id"])) == []
    assert codes(await p.register("a1", events[2]["id"])) == []
    cancelled = await p.ok("manager", CANCEL, {"i": {"id": events[2]["id"], "reason": "Holiday",
                           "wholeSeries": True}}, "eventCancel")  # fmt: skip
    assert len(cancelled["events"]) == 2
    assert (await p.event("a1", events[1]["id"]))["status"] == "PUBLISHED"


async def test_changes_and_cancellations_reach_those_registered(people: Events) -> None:
    p = people
    event = await p.published("manager", capacity=1)
    assert codes(await p.register("a1", event["id"])) == []
    assert codes(await p.register("a2", event["id"])) == []  # waitlisted
    start = datetime.now(UTC) + timedelta(days=8)
    await p.ok("manager", UPDATE, {"i": {"id": event["id"], "title": "New title"}}, "eventUpdate")
    moved = await p.ok("manager", UPDATE, {"i": {"id": event["id"], "startsAt": start.isoformat(),
                       "endsAt": (start + timedelta(hours=2)).isoformat(),
                       "venue": "Garden"}}, "eventUpdate")  # fmt: skip
    assert moved["event"]["venue"] == "Garden"
    bad = await p.call(
        "manager",
        UPDATE,
        {
            "i": {
                "id": event["id"],
                "capacity": 5,
                "endsAt": (start - timedelta(hours=1)).isoformat(),
            }
        },
        "eventUpdate",
    )
    assert codes(bad) == ["END_BEFORE_START"]
    assert (await p.event("manager", event["id"]))["capacity"] == 1  # nothing written
    no_reason = await p.call("manager", CANCEL, {"i": {"id": event["id"], "reason": ""}},
                             "eventCancel")  # fmt: skip
    assert codes(no_reason) == ["REQUIRED"]
    await p.ok("manager", CANCEL, {"i": {"id": event["id"], "reason": "The hall flooded."}},
               "eventCancel")  # fmt: skip
    async with p.api.app.state.runtime.transaction() as uow:
        rows = (
            await uow.session.execute(
                select(Notification.user_id, Notification.title)
                .where(Notification.kind == "event")
                .order_by(Notification.id)
            )
        ).all()
    titles: dict[str, list[str]] = {}
    for user_id, title in rows:
        titles.setdefault(str(user_id), []).append(title)
    assert sorted(len(t) for t in titles.values()) == [2, 2]  # a1 and a2: the move, the end
    assert all(t[0].startswith("Changed: ") and t[1] == "Cancelled: New title"
               for t in titles.values())  # fmt: skip
    late = await p.register("a3", event["id"])
    assert codes(late) == ["CANCELLED"]
    assert await count(p, EventRegistration) == 2
    changed = await p.call("manager", UPDATE, {"i": {"id": event["id"], "title": "x"}},
                           "eventUpdate")  # fmt: skip
    assert codes(changed) == ["NOT_OPEN"]


async def test_announcing_an_event_tells_its_audience_only(people: Events) -> None:
    p = people
    event = await p.create("manager", title="Alumni dinner", audience={"roles": ["ALUMNUS"]})
    await p.ok("manager", PUBLISH, {"i": {"id": event["id"], "announce": True}}, "eventPublish")
    async with p.api.app.state.runtime.transaction() as uow:
        told = (
            await uow.session.execute(
                select(func.count()).where(Notification.title == "New event: Alumni dinner")
            )
        ).scalar()
    assert told == 4  # lead, a1, a2, a3: the alumni; not the student, mentor or staff


async def test_events_sort_by_start_or_creation_either_way_and_page(people: Events) -> None:
    p = people
    now = datetime.now(UTC)
    for title, days in (("Later", 20), ("Soon", 5), ("Middle", 10)):
        start = now + timedelta(days=days)
        await p.published("manager", title=title, startsAt=start.isoformat(),
                          endsAt=(start + timedelta(hours=2)).isoformat())  # fmt: skip
    assert await listed(p, "manager") == ["Soon", "Middle", "Later"]  # soonest first
    assert await listed(p, "manager", o={"field": "STARTS_AT", "direction": "DESC"}) == [
        "Later", "Middle", "Soon"]  # fmt: skip
    assert await listed(p, "manager", o={"field": "CREATED_AT"}) == ["Middle", "Soon", "Later"]
    assert await listed(p, "manager", o={"field": "CREATED_AT", "direction": "ASC"}) == [
        "Later", "Soon", "Middle"]  # fmt: skip
    page = """query($a: String) { events(first: 2, after: $a, orderBy: {field: STARTS_AT,
      direction: DESC}) { totalCount pageInfo { hasNextPage endCursor }
      edges { node { title } } } }"""
    first = (await p.gql("manager", page, {}))["data"]["events"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    rest = (await p.gql("manager", page, {"a": first["pageInfo"]["endCursor"]}))["data"]["events"]
    assert rest["totalCount"] == 3 and not rest["pageInfo"]["hasNextPage"]
    assert [e["node"]["title"] for e in first["edges"] + rest["edges"]] == [
        "Later", "Middle", "Soon"]  # fmt: skip
