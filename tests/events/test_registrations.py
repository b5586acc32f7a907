"""Registration: places and the waitlist in arrival order, promotion, capacity changes,
answers and guests, the join link, check-in at the door, walk-ins, feedback and reports."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from strawberry.relay import from_base64
from tests.conftest import _serve
from tests.events.conftest import (
    CAPACITY,
    CHECK_IN,
    PUBLISH,
    UNREGISTER,
    Events,
    codes,
    crowd,
)

from alumnet.persistence.models import Event, EventRegistration, Notification

PERSON = """mutation($e: ID!, $u: ID!) { eventPersonRegister(input: {eventId: $e, userId: $u}) {
  registration { id status name } userErrors { field code } } }"""
WALK_IN = """mutation($i: EventWalkInAddInput!) { eventWalkInAdd(input: $i) {
  registration { id status name walkIn checkedInAt } userErrors { field code } } }"""
FEEDBACK = """mutation($e: ID!, $r: Int!, $c: String) {
  eventFeedbackSubmit(input: {eventId: $e, rating: $r, comment: $c}) {
  feedback { rating comment } userErrors { field code } } }"""
REPORT = """query($id: ID!) { node(id: $id) { ... on Event {
  report { confirmed seatsTaken capacity waitlisted cancelled checkedIn walkIns noShows fillRate
    showRate feedback { count averageRating byRating }
    byGraduationYear { label graduationYear registered checkedIn } }
  registrations(first: 50) { totalCount edges { node { name status arrival answers { key value }
    } } }
  attendees(first: 50) { totalCount edges { node { name checkedIn profile { id } } } }
  feedback(first: 10) { edges { node { rating comment } } } } } }"""


async def statuses(p: Events, event: str) -> list[tuple[str, int]]:
    from strawberry.relay import from_base64

    async with p.api.app.state.runtime.transaction() as uow:
        rows = await uow.session.execute(
            select(EventRegistration.status, EventRegistration.arrival)
            .where(EventRegistration.event_id == int(from_base64(event)[1]))
            .order_by(EventRegistration.arrival)
        )
        return [(s, a) for s, a in rows.all()]


async def test_places_then_the_waitlist_and_promotion_in_order(people: Events) -> None:
    p = people
    event = await p.published("manager", capacity=2, guestsMax=1, questions=[
        {"key": "diet", "label": "Dietary needs", "required": True,
         "choices": ["none", "vegetarian", "halal"]},
        {"key": "note", "label": "Anything else?"},
    ])  # fmt: skip
    diet = [{"key": "diet", "value": "vegetarian"}]
    missing = await p.register("a1", event["id"])
    assert codes(missing) == ["REQUIRED"]
    wrong = await p.register("a1", event["id"], answers=[{"key": "diet", "value": "pizza"}])
    assert codes(wrong) == ["INVALID"]
    unknown = await p.register("a1", event["id"], answers=[*diet, {"key": "x", "value": "y"}])
    assert "INVALID" in codes(unknown)
    guests = await p.register("a1", event["id"], answers=diet, guests=2)
    assert codes(guests) == ["TOO_MANY_GUESTS"]
    assert await statuses(p, event["id"]) == []  # nothing written by any of them
    first = await p.register("a1", event["id"], answers=diet, guests=1)  # takes both places
    assert first["registration"]["status"] == "CONFIRMED"
    assert first["registration"]["answers"] == [{"key": "diet", "value": "vegetarian"}]
    twice = await p.register("a1", event["id"], answers=diet)
    assert codes(twice) == ["ALREADY_REGISTERED"]
    second = await p.register("a2", event["id"], answers=diet)
    third = await p.register("a3", event["id"], answers=diet)
    assert second["registration"]["status"] == "WAITLISTED"
    assert second["registration"]["waitlistPosition"] == 1
    assert third["registration"]["waitlistPosition"] == 2
    assert second["registration"]["checkInCode"] is None  # no place, no code
    # The first cancels: both places free; a2 then a3 move up, in order, and are told.
    await p.ok("a1", UNREGISTER, {"e": event["id"]}, "eventRegistrationCancel")
    assert await statuses(p, event["id"]) == [("cancelled", 1), ("confirmed", 2),
                                               ("confirmed", 3)]  # fmt: skip
    async with p.api.app.state.runtime.transaction() as uow:
        told = (
            await uow.session.execute(
                select(func.count()).where(Notification.kind == "event",
                                           Notification.title.startswith("You have a place"))
            )
        ).scalar()  # fmt: skip
    assert told == 2
    again = await p.register("a1", event["id"], answers=diet)  # back of the line
    assert again["registration"]["status"] == "WAITLISTED"
    assert again["registration"]["arrival"] == 4
    not_registered = await p.call("s1", UNREGISTER, {"e": event["id"]}, "eventRegistrationCancel")
    assert codes(not_registered) == ["NOT_REGISTERED"]
    # Fewer places than taken: refused without a decision, nothing changes.
    refused = await p.call("manager", CAPACITY, {"i": {"id": event["id"], "capacity": 1}},
                           "eventCapacitySet")  # fmt: skip
    assert codes(refused) == ["CAPACITY_BELOW_CONFIRMED"]
    moved = await p.ok("manager", CAPACITY, {"i": {"id": event["id"], "capacity": 1,
                       "overflow": "WAITLIST_LATEST"}}, "eventCapacitySet")  # fmt: skip
    assert moved["event"]["seatsTaken"] == 1
    # (a1's registration was taken up again: its arrival is now 4.)
    assert await statuses(p, event["id"]) == [("confirmed", 2), ("waitlisted", 3),
                                               ("waitlisted", 4)]  # fmt: skip
    # More places promote the line at once, in arrival order.
    await p.ok("manager", CAPACITY, {"i": {"id": event["id"], "capacity": 3}}, "eventCapacitySet")
    assert await statuses(p, event["id"]) == [("confirmed", 2), ("confirmed", 3),
                                               ("confirmed", 4)]  # fmt: skip
    state = await p.event("a1", event["id"])
    assert state["attendance"] == {"confirmed": 3, "seatsTaken": 3, "capacity": 3,
                                   "waitlisted": 0, "checkedIn": 0}  # fmt: skip
    # Staff register someone themselves, whatever the audience: a3 is told.
    full = await p.ok("manager", PERSON, {"e": event["id"], "u": p.ids["s1"]},
                      "eventPersonRegister")  # fmt: skip
    assert full["registration"]["status"] == "WAITLISTED"
    stranger = await p.call("a2", PERSON, {"e": event["id"], "u": p.ids["s1"]},
                            "eventPersonRegister")  # fmt: skip
    assert codes(stranger) == ["NOT_FOUND"]


async def test_windows_and_states_refuse_registration(people: Events) -> None:
    p = people
    start = datetime.now(UTC) + timedelta(days=5)
    later = await p.published(
        "manager", registrationOpensAt=(start - timedelta(days=2)).isoformat()
    )
    assert codes(await p.register("a1", later["id"])) == ["NOT_YET_OPEN"]
    closing = await p.published("manager", title="Closing")
    async with p.api.app.state.runtime.transaction() as uow:
        from strawberry.relay import from_base64

        await uow.session.execute(
            update(Event).where(Event.id == int(from_base64(closing["id"])[1])).values(
                registration_closes_at=datetime.now(UTC) - timedelta(minutes=1)
            )
        )  # fmt: skip
    assert codes(await p.register("a1", closing["id"])) == ["DEADLINE_PASSED"]
    draft = await p.create("manager", title="Draft")
    assert codes(await p.register("a1", draft["id"])) == ["NOT_FOUND"]
    assert codes(await p.register("a1", "RXZlbnQ6OTk5OTk=")) == ["NOT_FOUND"]
    malformed = await p.gql("a1", "mutation { eventRegister(input: {eventId: \"not-an-id\"}) "
                            "{ userErrors { code } } }")  # fmt: skip
    assert "cannot represent a GlobalID" in malformed["errors"][0]["message"]
    published = await p.call("manager", PUBLISH, {"i": {"id": later["id"]}}, "eventPublish")
    assert codes(published) == ["NOT_DRAFT"]
    anonymous = await p.api.gql(
        "mutation($e: ID!) { eventRegister(input: {eventId: $e}) { userErrors { code } } }",
        {"e": later["id"]},
    )
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_join_link_reaches_only_people_with_a_place(people: Events) -> None:
    p = people
    event = await p.published("manager", mode="HYBRID", joinUrl="https://meet.example.org/r",
                              capacity=1)  # fmt: skip
    assert (await p.event("a1", event["id"]))["joinUrl"] is None
    await p.register("a1", event["id"])
    await p.register("a2", event["id"])  # waitlisted
    assert (await p.event("a1", event["id"]))["joinUrl"] == "https://meet.example.org/r"
    assert (await p.event("a2", event["id"]))["joinUrl"] is None
    assert (await p.event("manager", event["id"]))["joinUrl"] == "https://meet.example.org/r"
    body = await p.gql("a2", """query { events(first: 10) { edges { node { joinUrl } } } }""")
    assert body["data"]["events"]["edges"] == [{"node": {"joinUrl": None}}]


async def test_check_in_at_the_door_walk_ins_feedback_and_the_report(people: Events) -> None:
    p = people
    event = await p.published("manager", capacity=3)
    other = await p.published("manager", title="Another")
    mine = (await p.register("a1", event["id"]))["registration"]
    theirs = (await p.register("a2", event["id"]))["registration"]
    elsewhere = (await p.register("a1", other["id"]))["registration"]
    code = mine["checkInCode"]
    assert code.startswith("R") and len(code) > 12
    assert mine["checkInQrSvg"].startswith("<svg") and "</svg>" in mine["checkInQrSvg"]
    # The person's code is theirs: organisers see no codes of others' registrations.
    peek = await p.gql("manager", """query($id: ID!) { node(id: $id) { ... on EventRegistration
      { name checkInCode } } }""", {"id": mine["id"]})  # fmt: skip
    assert peek["data"]["node"] == {"name": "A1 Person", "checkInCode": None}
    assert (await p.gql("a2", """query($id: ID!) { node(id: $id) { id } }""",
                        {"id": mine["id"]}))["data"]["node"] is None  # fmt: skip
    # Only organisers check people in.
    denied = await p.call("a2", CHECK_IN, {"e": event["id"], "c": code}, "eventCheckIn")
    assert codes(denied) == ["NOT_FOUND"]
    done = await p.ok("manager", CHECK_IN, {"e": event["id"], "c": code.lower()}, "eventCheckIn")
    assert done["alreadyCheckedIn"] is False and done["registration"]["name"] == "A1 Person"
    again = await p.ok("manager", CHECK_IN, {"e": event["id"], "c": code}, "eventCheckIn")
    assert again["alreadyCheckedIn"] is True
    assert again["registration"]["checkedInAt"] == done["registration"]["checkedInAt"]
    forged = code[:-1] + ("A" if code[-1] != "A" else "B")
    for bad in (forged, "R1-AAAAAAAAAAAA", "hello", "x" * 5000, ""):
        refused = await p.call("manager", CHECK_IN, {"e": event["id"], "c": bad}, "eventCheckIn")
        assert codes(refused) == ["INVALID_CODE"], bad
    wrong = await p.call("manager", CHECK_IN, {"e": event["id"], "c": elsewhere["checkInCode"]},
                         "eventCheckIn")  # fmt: skip
    assert codes(wrong) == ["OTHER_EVENT"]
    # Walk-ins: an account, or a name; they take a place.
    walked = await p.ok("manager", WALK_IN, {"i": {"eventId": event["id"], "name": "Kofi"}},
                        "eventWalkInAdd")  # fmt: skip
    assert walked["registration"]["walkIn"] is True and walked["registration"]["checkedInAt"]
    full = await p.call("manager", WALK_IN, {"i": {"eventId": event["id"],
                        "userId": p.ids["a3"]}}, "eventWalkInAdd")  # fmt: skip
    assert codes(full) == ["FULL"]
    # Feedback: only those who came, once started.
    early = await p.call("a1", FEEDBACK, {"e": event["id"], "r": 5}, "eventFeedbackSubmit")
    assert codes(early) == ["NOT_STARTED"]
    from strawberry.relay import from_base64

    async with p.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(Event).where(Event.id == int(from_base64(event["id"])[1])).values(
                starts_at=datetime.now(UTC) - timedelta(hours=1)
            )
        )  # fmt: skip
    no = await p.call("a2", FEEDBACK, {"e": event["id"], "r": 5}, "eventFeedbackSubmit")
    assert codes(no) == ["NOT_ATTENDED"]
    bad = await p.call("a1", FEEDBACK, {"e": event["id"], "r": 6}, "eventFeedbackSubmit")
    assert codes(bad) == ["OUT_OF_RANGE"]
    await p.ok("a1", FEEDBACK, {"e": event["id"], "r": 2, "c": "Too loud"}, "eventFeedbackSubmit")
    await p.ok("a1", FEEDBACK, {"e": event["id"], "r": 4, "c": "Lovely"}, "eventFeedbackSubmit")
    assert theirs["status"] == "CONFIRMED"
    body = await p.gql("manager", REPORT, {"id": event["id"]})
    assert "errors" not in body, body
    node = body["data"]["node"]
    report = node["report"]
    assert report["confirmed"] == 3 and report["checkedIn"] == 2 and report["walkIns"] == 1
    assert report["noShows"] == 1 and report["fillRate"] == 1.0
    assert report["showRate"] == round(2 / 3, 4)
    assert report["feedback"] == {"count": 1, "averageRating": 4.0, "byRating": [0, 0, 0, 1, 0]}
    assert node["registrations"]["totalCount"] == 3
    assert [e["node"]["name"] for e in node["registrations"]["edges"]] == [
        "A1 Person", "A2 Person", "Kofi"]  # fmt: skip
    # Attendees: the walk-in without an account is no profile; everyone else is listed.
    assert [e["node"]["name"] for e in node["attendees"]["edges"]] == ["A1 Person", "A2 Person"]
    seen = await p.gql("a2", REPORT, {"id": event["id"]})
    assert seen["data"]["node"]["report"] is None
    assert seen["data"]["node"]["registrations"]["totalCount"] == 0
    assert seen["data"]["node"]["feedback"]["edges"] == []
    assert seen["data"]["node"]["attendees"]["totalCount"] == 2
    # Checked in: no cancelling out of the count.
    gone = await p.call("a1", UNREGISTER, {"e": event["id"]}, "eventRegistrationCancel")
    assert codes(gone) == ["CHECKED_IN"]


async def test_two_hundred_at_once_for_fifty_places_across_two_servers(people: Events) -> None:
    """200 registrations at once for 50 places, through two API processes: exactly 50
    confirmed and 150 waitlisted, numbered in the order they got the event's lock."""
    p = people
    event = await p.published("manager", capacity=50)
    tokens = await crowd(p.api, 200)
    servers = await asyncio.gather(
        *(asyncio.to_thread(_serve, p.api, subprocess.DEVNULL) for _ in range(2))
    )
    query = "mutation($e: ID!) { eventRegister(input: {eventId: $e}) { registration { status } }}"
    try:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:

            async def one(index: int, token: str) -> Any:
                base = servers[index % 2][1]
                body = {"query": query, "variables": {"e": event["id"]}}
                # A server too busy for a request answers 503 with nothing written; a client
                # tries again, as this one does (a loaded machine gets there).
                for _ in range(20):
                    response = await client.post(
                        f"http://{base}/graphql",
                        json=body,
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    if response.status_code != 503:
                        break
                    await asyncio.sleep(0.2)
                return response.json()

            answers = await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait(timeout=10)
    assert all("errors" not in a for a in answers), [a["errors"] for a in answers if "errors" in a]
    found = [a["data"]["eventRegister"]["registration"]["status"] for a in answers]
    assert found.count("CONFIRMED") == 50 and found.count("WAITLISTED") == 150
    rows = await statuses(p, event["id"])
    assert [a for _, a in rows] == list(range(1, 201))
    assert all(s == "confirmed" for s, _ in rows[:50])
    assert all(s == "waitlisted" for s, _ in rows[50:])
    state = await p.event("manager", event["id"])
    assert state["seatsTaken"] == 50 and state["attendance"]["waitlisted"] == 150


async def test_someone_erased_gives_up_their_place_and_their_answers(people: Events) -> None:
    p = people
    event = await p.published("manager", capacity=1, questions=[{"key": "diet", "label": "Diet"}])
    await p.register("a1", event["id"], answers=[{"key": "diet", "value": "no nuts"}])
    waiting = (await p.register("a2", event["id"]))["registration"]
    assert waiting["status"] == "WAITLISTED"
    deleted = """mutation($u: ID!) { userDelete(input: {userId: $u, reason: "Asked to."}) {
      userErrors { code } } }"""
    await p.ok("admin", deleted, {"u": p.ids["a1"]}, "userDelete")
    assert await statuses(p, event["id"]) == [("cancelled", 1), ("confirmed", 2)]
    state = await p.event("manager", event["id"])
    assert state["seatsTaken"] == 1 and state["attendance"]["waitlisted"] == 0
    async with p.api.app.state.runtime.transaction() as uow:
        answers = (await uow.session.execute(select(EventRegistration.answers))).scalars()
        assert all("no nuts" not in str(a) for a in answers)


async def test_too_late_to_cancel_and_no_place_in_an_event_cancelled_meanwhile(
    people: Events,
) -> None:
    p = people
    event = await p.published("manager", capacity=1)
    await p.register("a1", event["id"])
    await p.register("a2", event["id"])  # waitlisted
    pk = int(from_base64(event["id"])[1])
    async with p.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(Event).where(Event.id == pk).values(
                starts_at=datetime.now(UTC) - timedelta(minutes=5)
            )
        )  # fmt: skip
    late = await p.call("a1", UNREGISTER, {"e": event["id"]}, "eventRegistrationCancel")
    assert codes(late) == ["NOT_OPEN"]
    assert await statuses(p, event["id"]) == [("confirmed", 1), ("waitlisted", 2)]
    # An event cancelled after a registration read it: the place is refused under the lock.
    from alumnet.domain.errors import DomainError
    from alumnet.domain.events import registrations

    other = await p.published("manager", title="Other")
    other_pk = int(from_base64(other["id"])[1])
    async with p.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(Event).where(Event.id == other_pk).values(status="cancelled")
        )
    a3 = int(from_base64(p.ids["a3"])[1])
    with pytest.raises(DomainError) as refused:
        async with p.api.app.state.runtime.transaction() as uow:
            await registrations._take_place(uow, other_pk, a3, 1, datetime.now(UTC), "register")
    assert [x.code for x in refused.value.problems] == ["NOT_OPEN"]
    assert await statuses(p, other["id"]) == []
