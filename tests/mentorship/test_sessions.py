"""Sessions, notes, goals, feedback and figures of a mentorship."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from icalendar import Calendar
from sqlalchemy import func, select, update
from strawberry.relay import from_base64
from tests.mentorship.conftest import ANSWER, END, Mentoring, codes

from alumnet.persistence.models import MentorshipSession, Notification

BOOK = """mutation($i: MentorshipSessionScheduleInput!) {
  mentorshipSessionSchedule(input: $i) {
  session { id startsAt minutes joinUrl place status calendarUrl } userErrors { field code } } }"""
NOTE = """mutation($i: MentorshipNoteAddInput!) { mentorshipNoteAdd(input: $i) {
  note { body shared mine } userErrors { field code } } }"""
GOAL = """mutation($i: MentorshipGoalAddInput!) { mentorshipGoalAdd(input: $i) {
  goal { id title status } userErrors { field code } } }"""
GOAL_MOVE = """mutation($i: MentorshipGoalUpdateInput!) { mentorshipGoalUpdate(input: $i) {
  goal { id status } userErrors { field code } } }"""
RATE = """mutation($i: MentorshipFeedbackGiveInput!) { mentorshipFeedbackGive(input: $i) {
  feedback { rating comment } userErrors { field code } } }"""
SEEN = """query($id: ID!) { node(id: $id) { ... on Mentorship { status
  sessions { edges { node { id status } } } goals { title status }
  notes { edges { node { body shared mine } } }
  viewerFeedback { rating comment } } } }"""


async def mentorship(p: Mentoring, mentee: str = "s1", mentor: str = "a1") -> str:
    offer = await p.offer(mentor)
    asked = (await p.ask(mentee, offer["id"]))["request"]["id"]
    answer = await p.ok(mentor, ANSWER, {"i": {"id": asked, "accept": True}},
                        "mentorshipRequestAnswer")  # fmt: skip
    return str(answer["mentorship"]["id"])


def at(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def test_sessions_are_booked_without_overlaps_and_reminded(mentoring: Mentoring) -> None:
    p = mentoring
    one = await mentorship(p)
    other = await mentorship(p, "s2", "a1")
    base = {"mentorshipId": one, "startsAt": at(30), "minutes": 60,
            "joinUrl": "https://meet.example.org/m"}  # fmt: skip
    bad = [({"startsAt": at(-1)}, "DATE_IN_PAST"), ({"minutes": 5}, "OUT_OF_RANGE"),
           ({"joinUrl": "http://x.org"}, "INVALID_URL"),
           ({"joinUrl": None}, "REQUIRED")]  # fmt: skip
    for given, code in bad:
        payload = await p.call("s1", BOOK, {"i": {**base, **given}}, "mentorshipSessionSchedule")
        assert code in codes(payload), (given, payload)
    outsider = await p.call("s3", BOOK, {"i": base}, "mentorshipSessionSchedule")
    assert codes(outsider) == ["NOT_FOUND"]
    booked = await p.ok("s1", BOOK, {"i": base}, "mentorshipSessionSchedule")
    assert booked["session"]["minutes"] == 60
    # The mentor's other mentee cannot take the same hour.
    clash = await p.call("s2", BOOK, {"i": {**base, "mentorshipId": other,
                         "startsAt": at(30.5)}}, "mentorshipSessionSchedule")  # fmt: skip
    assert codes(clash) == ["OVERLAP"]
    soon = {**base, "mentorshipId": other, "startsAt": at(0.5), "joinUrl": None,
            "place": "Library"}  # fmt: skip
    later = await p.ok("s2", BOOK, {"i": soon}, "mentorshipSessionSchedule")
    assert later["session"]["place"] == "Library"
    # Its .ics, for either side only.
    url = urlparse(booked["session"]["calendarUrl"])
    ics = await p.api.client.get(f"{url.path}?{url.query}")
    [item] = Calendar.from_ical(ics.content).walk("VEVENT")
    assert str(item["url"]) == "https://meet.example.org/m"
    from alumnet.domain.events.calendar import SESSION_AUDIENCE, event_token

    s3, session = (int(from_base64(g)[1]) for g in (p.ids["s3"], booked["session"]["id"]))
    stranger = event_token(p.api.settings, s3, session, SESSION_AUDIENCE)
    assert (await p.api.client.get(f"/calendar/session.ics?token={stranger}")).status_code == 404
    # Reminders: the hour's for the session in 30 minutes, the day's for the one in 30 hours
    # is not due yet; both sides, once each.
    from alumnet.domain.mentorship.sessions import remind

    assert await remind(p.api.app.state.runtime) == {"reminded": 2}
    assert await remind(p.api.app.state.runtime) == {"reminded": 0}
    async with p.api.app.state.runtime.transaction() as uow:
        told = (
            await uow.session.execute(
                select(func.count()).where(Notification.title == "Mentorship session within "
                                           "the hour")
            )
        ).scalar()  # fmt: skip
    assert told == 2


async def test_notes_goals_and_ratings_stay_with_their_writers(mentoring: Mentoring) -> None:
    p = mentoring
    one = await mentorship(p)
    other = await mentorship(p, "s2", "a1")
    await p.ok("s1", NOTE, {"i": {"mentorshipId": one, "body": "Private worry"}},
               "mentorshipNoteAdd")  # fmt: skip
    await p.ok("a1", NOTE, {"i": {"mentorshipId": one, "body": "Read chapter 3",
               "shared": True}}, "mentorshipNoteAdd")  # fmt: skip
    await p.ok("a1", NOTE, {"i": {"mentorshipId": one, "body": "Mentor's own"}},
               "mentorshipNoteAdd")  # fmt: skip
    wrong = await p.call("s2", NOTE, {"i": {"mentorshipId": one, "body": "x"}},
                         "mentorshipNoteAdd")  # fmt: skip
    assert codes(wrong) == ["NOT_FOUND"]

    async def seen(who: str, m: str) -> Any:
        body = await p.gql(who, SEEN, {"id": m})
        assert "errors" not in body, body
        return body["data"]["node"]

    mentee = await seen("s1", one)
    mentee_notes = {n["node"]["body"] for n in mentee["notes"]["edges"]}
    assert mentee_notes == {"Private worry", "Read chapter 3"}
    mentor = await seen("a1", one)
    mentor_notes = {n["node"]["body"] for n in mentor["notes"]["edges"]}
    assert mentor_notes == {"Read chapter 3", "Mentor's own"}
    assert await seen("s2", one) is None  # another mentee sees nothing of it
    staff = await seen("manager", one)
    assert staff["notes"]["edges"] == []  # nobody's notes but one's own and those shared
    goal = (await p.ok("s1", GOAL, {"i": {"mentorshipId": one, "title": "Ship a portfolio"}},
                       "mentorshipGoalAdd"))["goal"]  # fmt: skip
    moved = await p.ok("a1", GOAL_MOVE, {"i": {"id": goal["id"], "status": "IN_PROGRESS"}},
                       "mentorshipGoalUpdate")  # fmt: skip
    assert moved["goal"]["status"] == "IN_PROGRESS"
    meddling = await p.call("s2", GOAL_MOVE, {"i": {"id": goal["id"], "status": "DONE"}},
                            "mentorshipGoalUpdate")  # fmt: skip
    assert codes(meddling) == ["NOT_FOUND"]
    # Ratings: a session once it has taken place, the mentorship once it has ended.
    booked = await p.ok("s1", BOOK, {"i": {"mentorshipId": one, "startsAt": at(2),
                        "minutes": 30, "place": "Cafe"}}, "mentorshipSessionSchedule")  # fmt: skip
    session = booked["session"]["id"]
    early = await p.call("s1", RATE, {"i": {"mentorshipId": one, "sessionId": session,
                         "rating": 5}}, "mentorshipFeedbackGive")  # fmt: skip
    assert codes(early) == ["NOT_STARTED"]
    async with p.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(MentorshipSession).where(MentorshipSession.id == int(from_base64(session)[1]))
            .values(starts_at=datetime.now(UTC) - timedelta(hours=1),
                    ends_at=datetime.now(UTC) - timedelta(minutes=30))
        )  # fmt: skip
    for bad, code in ((7, "OUT_OF_RANGE"), (0, "OUT_OF_RANGE")):
        refused = await p.call("s1", RATE, {"i": {"mentorshipId": one, "sessionId": session,
                               "rating": bad}}, "mentorshipFeedbackGive")  # fmt: skip
        assert codes(refused) == [code]
    elsewhere = await p.call("s2", RATE, {"i": {"mentorshipId": other, "sessionId": session,
                             "rating": 4}}, "mentorshipFeedbackGive")  # fmt: skip
    assert codes(elsewhere) == ["NOT_FOUND"]
    await p.ok("s1", RATE, {"i": {"mentorshipId": one, "sessionId": session, "rating": 4,
               "comment": "Useful"}}, "mentorshipFeedbackGive")  # fmt: skip
    not_over = await p.call("s1", RATE, {"i": {"mentorshipId": one, "rating": 5}},
                            "mentorshipFeedbackGive")  # fmt: skip
    assert codes(not_over) == ["NOT_ENDED"]
    await p.ok("a1", END, {"i": {"id": one, "completed": True}}, "mentorshipEnd")
    await p.ok("s1", RATE, {"i": {"mentorshipId": one, "rating": 2}}, "mentorshipFeedbackGive")
    await p.ok("s1", RATE, {"i": {"mentorshipId": one, "rating": 5}}, "mentorshipFeedbackGive")
    mine = await seen("s1", one)
    assert sorted(f["rating"] for f in mine["viewerFeedback"]) == [4, 5]  # again replaced it
    assert (await seen("a1", one))["viewerFeedback"] == []  # the mentor reads no comments
    # The mentor sees their averages; staff see everyone's and the programme's.
    own = await p.gql("a1", "query { viewer { mentorOffer { figures { averageRatingOfMentors "
                      "ratings completed active acceptanceRate } } } }")  # fmt: skip
    assert own["data"]["viewer"]["mentorOffer"]["figures"] == {
        "averageRatingOfMentors": 4.5, "ratings": 2, "completed": 1, "active": 1,
        "acceptanceRate": 1.0}  # fmt: skip
    figures = await p.gql("manager", """query { mentorshipFigures { requests accepted
      acceptanceRate active completed completionRate sessionsPerMentorship
      averageRatingOfMentors averageHoursToAnswer }
      mentorFigures(first: 5) { totalCount edges { node { name requests averageRating ratings
        acceptanceRate mentor { id } } } } }""")  # fmt: skip
    assert "errors" not in figures, figures
    programme = figures["data"]["mentorshipFigures"]
    assert programme["requests"] == 2 and programme["acceptanceRate"] == 1.0
    assert programme["completionRate"] == 1.0 and programme["sessionsPerMentorship"] == 0.5
    assert figures["data"]["mentorFigures"]["totalCount"] == 1
    [line] = [e["node"] for e in figures["data"]["mentorFigures"]["edges"]]
    assert line.pop("mentor")["id"]
    assert line == {"name": "A1 Person", "requests": 2, "averageRating": 4.5, "ratings": 2,
                    "acceptanceRate": 1.0}  # fmt: skip
    denied = await p.gql("s1", "query { mentorshipFigures { requests } }")
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_ending_cancels_sessions_and_staff_do_not_end_others(mentoring: Mentoring) -> None:
    p = mentoring
    one = await mentorship(p)
    booked = await p.ok("s1", BOOK, {"i": {"mentorshipId": one, "startsAt": at(48),
                        "minutes": 60, "place": "Cafe"}}, "mentorshipSessionSchedule")  # fmt: skip
    staff = await p.call("manager", END, {"i": {"id": one, "completed": True}}, "mentorshipEnd")
    assert codes(staff) == ["NOT_FOUND"]  # either side ends it, not staff
    await p.ok("s1", END, {"i": {"id": one, "completed": False, "reason": "Moving abroad"}},
               "mentorshipEnd")  # fmt: skip
    seen = await p.gql("s1", SEEN, {"id": one})
    assert seen["data"]["node"]["sessions"]["edges"] == [
        {"node": {"id": booked["session"]["id"], "status": "CANCELLED"}}
    ]
    # A mentee with two mentors cannot be in two sessions at once.
    first = await mentorship(p, "s2", "a1")
    second = await mentorship(p, "s2", "a2")
    start = at(72)
    await p.ok("s2", BOOK, {"i": {"mentorshipId": first, "startsAt": start, "minutes": 60,
               "place": "Cafe"}}, "mentorshipSessionSchedule")  # fmt: skip
    clash = await p.call("a2", BOOK, {"i": {"mentorshipId": second, "startsAt": start,
                         "minutes": 30, "place": "Hall"}}, "mentorshipSessionSchedule")  # fmt: skip
    assert codes(clash) == ["OVERLAP"]


FIGURES = """query($o: MentorFiguresOrder, $n: Int, $a: String) {
  mentorFigures(orderBy: $o, first: $n, after: $a) { totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { name requests accepted acceptanceRate active mentor { id } } } } }"""


async def test_mentor_figures_are_a_sorted_connection(mentoring: Mentoring) -> None:
    p = mentoring
    await mentorship(p, "s1", "a1")
    few, _ = await p.api.sql_count(FIGURES, {"n": 50}, p.tokens["manager"])
    await mentorship(p, "s2", "a1")
    await mentorship(p, "s2", "a2")
    many, body = await p.api.sql_count(FIGURES, {"n": 50}, p.tokens["manager"])
    assert many == few, (few, many)
    assert body["data"]["mentorFigures"]["totalCount"] == 2

    async def names(order: dict[str, str] | None, n: int = 50, a: str | None = None) -> Any:
        found = await p.gql("manager", FIGURES, {"o": order, "n": n, "a": a})
        assert "errors" not in found, found
        return found["data"]["mentorFigures"]

    def said(page: Any) -> list[tuple[str, int]]:
        return [(e["node"]["name"], e["node"]["requests"]) for e in page["edges"]]

    most = await names(None)
    assert most["totalCount"] == 2 and said(most) == [("A1 Person", 2), ("A2 Person", 1)]
    a1 = most["edges"][0]["node"]
    assert a1["accepted"] == 2 and a1["acceptanceRate"] == 1.0 and a1["active"] == 2
    assert a1["mentor"]["id"]
    assert said(await names({"field": "REQUESTS", "direction": "ASC"})) == said(most)[::-1]
    assert said(await names({"field": "NAME"})) == said(most)
    assert said(await names({"field": "NAME", "direction": "DESC"})) == said(most)[::-1]
    first = await names(None, 1)
    assert first["totalCount"] == 2 and first["pageInfo"]["hasNextPage"]
    rest = await names(None, 1, first["pageInfo"]["endCursor"])
    assert said(first) + said(rest) == said(most) and not rest["pageInfo"]["hasNextPage"]
    denied = await p.gql("s1", FIGURES, {"n": 5})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


LISTS = """query($id: ID!, $so: MentorshipSessionOrder, $no: MentorshipNoteOrder, $n: Int,
  $sa: String, $na: String) { node(id: $id) { ... on Mentorship {
  sessions(orderBy: $so, first: $n, after: $sa) { totalCount
    pageInfo { hasNextPage endCursor } edges { node { agenda } } }
  notes(orderBy: $no, first: $n, after: $na) { totalCount
    pageInfo { hasNextPage endCursor } edges { node { body } } } } } }"""


async def test_sessions_and_notes_are_sorted_connections(mentoring: Mentoring) -> None:
    p = mentoring
    one = await mentorship(p)
    for hours, agenda in ((30, "second"), (10, "first"), (50, "third")):
        await p.ok("s1", BOOK, {"i": {"mentorshipId": one, "startsAt": at(hours), "minutes": 60,
                   "place": "Cafe", "agenda": agenda}}, "mentorshipSessionSchedule")  # fmt: skip
    for body in ("n1", "n2", "n3"):
        await p.ok("s1", NOTE, {"i": {"mentorshipId": one, "body": body}}, "mentorshipNoteAdd")

    async def lists(who: str = "s1", **given: Any) -> Any:
        body = await p.gql(who, LISTS, {"id": one, **given})
        assert "errors" not in body, body
        return body["data"]["node"]

    def said(found: Any, key: str) -> list[str]:
        return [e["node"][key] for e in found["edges"]]

    both = await lists()
    assert both["sessions"]["totalCount"] == 3 and both["notes"]["totalCount"] == 3
    assert said(both["sessions"], "agenda") == ["first", "second", "third"]  # earliest first
    assert said(both["notes"], "body") == ["n3", "n2", "n1"]  # newest first
    down = await lists(so={"field": "STARTS_AT", "direction": "DESC"},
                       no={"field": "CREATED_AT", "direction": "ASC"})  # fmt: skip
    assert said(down["sessions"], "agenda") == ["third", "second", "first"]
    assert said(down["notes"], "body") == ["n1", "n2", "n3"]
    first = await lists(n=2)
    assert said(first["sessions"], "agenda") == ["first", "second"]
    assert said(first["notes"], "body") == ["n3", "n2"]
    rest = await lists(n=2, sa=first["sessions"]["pageInfo"]["endCursor"],
                       na=first["notes"]["pageInfo"]["endCursor"])  # fmt: skip
    assert said(rest["sessions"], "agenda") == ["third"] and said(rest["notes"], "body") == ["n1"]
    assert not rest["sessions"]["pageInfo"]["hasNextPage"]
    assert rest["notes"]["totalCount"] == 3
    # The mentor reads the sessions but none of the mentee's private notes.
    mentor = await lists("a1")
    assert mentor["sessions"]["totalCount"] == 3 and mentor["notes"]["totalCount"] == 0


EVERY_SHIP = """{ viewer { mentorships(first: 10) { edges { node {
  sessions(first: 5) { totalCount edges { node { startsAt } } }
  notes(first: 5) { totalCount edges { node { body mine } } } } } } } }"""


async def test_sessions_and_notes_of_every_mentorship_in_the_same_statements(
    mentoring: Mentoring,
) -> None:
    p = mentoring
    one = await mentorship(p, "s1", "a1")
    await p.ok("s1", BOOK, {"i": {"mentorshipId": one, "startsAt": at(10), "minutes": 60,
               "place": "Cafe"}}, "mentorshipSessionSchedule")  # fmt: skip
    await p.ok("s1", NOTE, {"i": {"mentorshipId": one, "body": "n"}}, "mentorshipNoteAdd")
    few, _ = await p.api.sql_count(EVERY_SHIP, token=p.tokens["s1"])
    for k, mentor in enumerate(("a2", "a3")):
        ship = await mentorship(p, "s1", mentor)
        for hours in (20 + 10 * k, 100 + 10 * k):
            await p.ok("s1", BOOK, {"i": {"mentorshipId": ship, "startsAt": at(hours),
                       "minutes": 60, "place": "Cafe"}}, "mentorshipSessionSchedule")  # fmt: skip
        await p.ok(mentor, NOTE, {"i": {"mentorshipId": ship, "body": "shared", "shared": True}},
                   "mentorshipNoteAdd")  # fmt: skip
    many, body = await p.api.sql_count(EVERY_SHIP, token=p.tokens["s1"])
    assert "errors" not in body, body
    assert many == few, (few, many)
    ships = [e["node"] for e in body["data"]["viewer"]["mentorships"]["edges"]]
    assert len(ships) == 3
    assert sorted(s["sessions"]["totalCount"] for s in ships) == [1, 2, 2]
    assert sorted(s["notes"]["totalCount"] for s in ships) == [1, 1, 1]
