"""A mission's meetings and a meeting's attendees: sorted connections whose pages for every
parent in a response are fetched together."""

from __future__ import annotations

from typing import Any

from tests.engagement.conftest import Programme, ok
from tests.engagement.test_points import MEETING, RECORD

MEETINGS = """query($m: ID!, $o: MeetingOrder, $n: Int, $a: String) { node(id: $m) {
  ... on Mission { meetings(orderBy: $o, first: $n, after: $a) { totalCount
    pageInfo { hasNextPage endCursor } edges { node { topic } } } } } }"""
ATTENDEES = """query($m: ID!, $o: MeetingAttendeeOrder, $n: Int, $a: String) { node(id: $m) {
  ... on Meeting { attendees(orderBy: $o, first: $n, after: $a) { totalCount
    pageInfo { hasNextPage endCursor } edges { node { student { name } } } } } } }"""
EVERY = """query($b: ID!) { node(id: $b) { ... on Batch { missions { edges { node { code
  meetings(first: 20) { totalCount edges { node { topic
    attendees(first: 10) { totalCount edges { node { student { name } } } } } } } } } } } } }"""


async def meet(p: Programme, mission: str, day: str, topic: str) -> str:
    made = await ok(p, "admin", MEETING, {"i": {"missionId": p.ids[mission], "heldOn": day,
                    "topic": topic}}, "meetingCreate")  # fmt: skip
    return str(made["meeting"]["id"])


async def attend(p: Programme, meeting: str, *students: str) -> None:
    for student in students:
        given = {"i": {"meetingId": meeting, "studentIds": [p.ids[student]]}}
        await ok(p, "admin", RECORD, given, "meetingAttendanceRecord")


async def pages(p: Programme, who: str, query: str, key: str, **given: Any) -> Any:
    body = await p.gql(who, query, given)
    assert "errors" not in body, body
    return body["data"]["node"][key]


def said(page: Any, *path: str) -> list[str]:
    found = []
    for edge in page["edges"]:
        value = edge["node"]
        for step in path:
            value = value[step]
        found.append(value)
    return found


async def test_meetings_are_a_sorted_connection(programme: Programme) -> None:
    p = programme
    for day, topic in (("2026-03-02", "Bravo"), ("2026-03-01", "Alpha"), ("2026-03-03", "Delta")):
        await meet(p, "ma", day, topic)
    await meet(p, "mb", "2026-03-01", "Elsewhere")

    async def topics(who: str = "s1", **given: Any) -> list[str]:
        found = await pages(p, who, MEETINGS, "meetings", m=p.ids["ma"], **given)
        assert found["totalCount"] == 3
        return said(found, "topic")

    assert await topics() == ["Alpha", "Bravo", "Delta"]  # earliest first
    assert await topics(o={"field": "HELD_ON", "direction": "DESC"}) == ["Delta", "Bravo", "Alpha"]
    assert await topics(o={"field": "TOPIC"}) == ["Alpha", "Bravo", "Delta"]
    assert await topics(o={"field": "TOPIC", "direction": "DESC"}) == ["Delta", "Bravo", "Alpha"]
    seen, after = [], None
    while True:
        page = await pages(p, "m1", MEETINGS, "meetings", m=p.ids["ma"], n=2, a=after,
                           o={"field": "TOPIC", "direction": "DESC"})  # fmt: skip
        seen += said(page, "topic")
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["Delta", "Bravo", "Alpha"]
    # A student of another mission sees none of it.
    assert (await p.gql("s3", MEETINGS, {"m": p.ids["ma"]}))["data"]["node"] is None


async def test_attendees_are_a_sorted_connection_of_those_you_may_see(
    programme: Programme,
) -> None:
    p = programme
    meeting = await meet(p, "ma", "2026-03-02", "Week 1")
    await attend(p, meeting, "s2", "s1")

    async def names(who: str = "sre", **given: Any) -> tuple[int, list[str]]:
        found = await pages(p, who, ATTENDEES, "attendees", m=meeting, **given)
        return found["totalCount"], said(found, "student", "name")

    assert await names() == (2, ["S2 Person", "S1 Person"])  # in the order recorded
    latest = {"field": "RECORDED_AT", "direction": "DESC"}
    assert await names(o=latest) == (2, ["S1 Person", "S2 Person"])
    assert await names(o={"field": "STUDENT_NAME"}) == (2, ["S1 Person", "S2 Person"])
    by_name_down = {"field": "STUDENT_NAME", "direction": "DESC"}
    assert await names(o=by_name_down) == (2, ["S2 Person", "S1 Person"])
    first = await pages(p, "sre", ATTENDEES, "attendees", m=meeting, n=1, o=by_name_down)
    assert said(first, "student", "name") == ["S2 Person"] and first["pageInfo"]["hasNextPage"]
    rest = await pages(p, "sre", ATTENDEES, "attendees", m=meeting, n=1, o=by_name_down,
                       a=first["pageInfo"]["endCursor"])  # fmt: skip
    assert said(rest, "student", "name") == ["S1 Person"] and not rest["pageInfo"]["hasNextPage"]
    # Each mentor sees their own mentee only; the student themselves.
    assert await names("m1") == (1, ["S1 Person"])
    assert await names("m2") == (1, ["S2 Person"])
    assert await names("s2") == (1, ["S2 Person"])


async def test_meetings_and_attendees_of_every_mission_in_the_same_statements(
    programme: Programme,
) -> None:
    p = programme
    await attend(p, await meet(p, "ma", "2026-03-01", "A1"), "s1")
    few, _ = await p.api.sql_count(EVERY, {"b": p.ids["b1"]}, p.tokens["sre"])
    for day in ("2026-03-02", "2026-03-03", "2026-03-04"):
        await attend(p, await meet(p, "ma", day, f"A {day}"), "s1", "s2")
        await attend(p, await meet(p, "mb", day, f"B {day}"), "s1")
    many, body = await p.api.sql_count(EVERY, {"b": p.ids["b1"]}, p.tokens["sre"])
    assert "errors" not in body, body
    assert many == few, (few, many)
    missions = {
        m["node"]["code"]: m["node"]["meetings"] for m in body["data"]["node"]["missions"]["edges"]
    }
    assert missions["B1-A"]["totalCount"] == 4 and missions["B1-B"]["totalCount"] == 3
    last = missions["B1-A"]["edges"][-1]["node"]["attendees"]
    assert last["totalCount"] == 2
    assert said(last, "student", "name") == ["S1 Person", "S2 Person"]
