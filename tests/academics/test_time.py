"""Faculty time: logging, timers, conflicts, limits, who may, utilisation and workload."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from alumnet.persistence.models import FacultyTimeEntry
from tests.academics.conftest import Academics, add_subject, codes, gid, pk_of

ENTRY = "id kind startedAt endedAt minutes running note subjectId topicId faculty { id }"
LOG = (
    "mutation($i: FacultyTimeLogInput!) { facultyTimeLog(input: $i) { entry { " + ENTRY + " }"
    " userErrors { field code message } } }"
)
START = (
    "mutation($i: FacultyTimerStartInput!) { facultyTimerStart(input: $i) { entry { " + ENTRY
    + " } userErrors { field code message } } }"
)  # fmt: skip
STOP = (
    "mutation($i: FacultyTimerStopInput!) { facultyTimerStop(input: $i) { entry { " + ENTRY
    + " } userErrors { field code message } } }"
)  # fmt: skip
UPDATE = (
    "mutation($i: FacultyTimeEntryUpdateInput!) { facultyTimeEntryUpdate(input: $i) { entry { "
    + ENTRY + " } userErrors { field code message } } }"
)  # fmt: skip
DELETE = (
    "mutation($i: FacultyTimeEntryDeleteInput!) { facultyTimeEntryDelete(input: $i) {"
    " deletedId userErrors { field code message } } }"
)
TARGET = (
    "mutation($i: FacultyTargetSetInput!) { facultyTargetSet(input: $i) { target {"
    " weeklyMinutes isDefault faculty { id } } userErrors { field code message } } }"
)
MINE = (
    "query($from: DateTime, $to: DateTime) { myTimeEntries(from: $from, to: $to) {"
    " totalCount edges { node { id minutes faculty { name } student { name } } } } }"
)
THEIRS = "query($f: ID!) { facultyTimeEntries(facultyId: $f) { totalCount edges { node { id } } } }"
NODE = "query($id: ID!) { node(id: $id) { ... on FacultyTimeEntry { id note kind } } }"
UTILISATION = (
    "query($f: ID, $w: Int!, $u: Date) { facultyUtilisation(facultyId: $f, weeks: $w, until: $u)"
    " { targetMinutes totalMinutes utilisation faculty { id } weeks { weekStarting totalMinutes"
    " targetMinutes utilisation byKind { teaching preparation assessment mentoring } } } }"
)
WORKLOAD = (
    "query($w: Date!) { facultyWorkload(week: $w) { weekStarting totalMinutes targetMinutes"
    " utilisation byKind { teaching preparation } faculty { id name } } }"
)


def monday(weeks_back: int = 0) -> datetime:
    """Monday 00:00 UTC of this ISO week, or of one ``weeks_back`` before."""
    today = datetime.now(UTC).date()
    day = today - timedelta(days=today.weekday(), weeks=weeks_back)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


BASE = monday(1) + timedelta(days=1)  # a Tuesday of last week, 00:00 UTC


def at(hours: float) -> str:
    return (BASE + timedelta(hours=hours)).isoformat()


def entry(a: Academics, kind: str = "PREPARATION", **extra: Any) -> dict[str, Any]:
    return {"kind": kind, **extra}


async def log(a: Academics, who: str, start: float, end: float, **extra: Any) -> Any:
    sent = {"kind": "PREPARATION", "startedAt": at(start), "endedAt": at(end), **extra}
    body = await a.gql(who, LOG, {"i": sent})
    assert "errors" not in body, body
    return body["data"]["facultyTimeLog"]


async def stored(a: Academics) -> int:
    async with a.runtime.transaction() as uow:
        return int((await uow.session.execute(select(func.count(FacultyTimeEntry.id)))).scalar())


async def test_a_faculty_member_logs_a_session(academics: Academics) -> None:
    a = academics
    sent = {
        "kind": "TEACHING", "startedAt": at(9), "endedAt": at(10.5),
        "topicId": gid("Topic", a.topics[1]), "studentId": a.ids["student"], "note": "Loops",
        "missionId": gid("Mission", a.pks["mission"]),
    }  # fmt: skip
    payload = await a.ok("faculty", LOG, {"i": sent}, "facultyTimeLog")
    got = payload["entry"]
    assert (got["kind"], got["minutes"], got["running"]) == ("TEACHING", 90, False)
    assert got["subjectId"] == gid("Subject", a.pks["subject"])  # the topic's subject
    assert got["faculty"]["id"] == a.ids["faculty"]
    assert got["startedAt"].startswith(at(9)[:16])
    body = await a.gql("faculty", MINE, {})
    assert body["data"]["myTimeEntries"]["totalCount"] == 1
    assert body["data"]["myTimeEntries"]["edges"][0]["node"]["student"]["name"] == "Student Person"
    # Seen by its faculty member and managers with its note; by its student without it.
    for who, note in (("faculty", "Loops"), ("manager", "Loops"), ("student", None)):
        node = (await a.gql(who, NODE, {"id": got["id"]}))["data"]["node"]
        assert node == {"id": got["id"], "note": note, "kind": "TEACHING"}, who
    for who in ("faculty2", "student2", "student3", "mentor", "sre", "counsellor", "alumnus"):
        assert (await a.gql(who, NODE, {"id": got["id"]}))["data"]["node"] is None, who
    # A session without a student: the students of the missions its subject is offered to.
    payload = await log(a, "faculty", 11, 12, kind="TEACHING",
                        subjectId=gid("Subject", a.pks["subject"]))  # fmt: skip
    session = payload["entry"]["id"]
    for who, seen in (("student", True), ("student2", True), ("student3", False)):
        node = (await a.gql(who, NODE, {"id": session}))["data"]["node"]
        assert (node is not None) == seen, who


async def test_overlapping_entries_are_refused_and_nothing_is_written(
    academics: Academics,
) -> None:
    a = academics
    first = await log(a, "faculty", 10, 12)
    assert first["userErrors"] == []
    for start, end, kind in ((9, 10.5, "PREPARATION"), (11.5, 13, "PREPARATION"),
                             (10.5, 11, "PREPARATION"), (9, 13, "PREPARATION"),
                             (10, 12, "MENTORING")):  # fmt: skip
        payload = await log(a, "faculty", start, end, kind=kind)
        assert codes(payload) == ["TIME_CONFLICT"], (start, end)
        assert payload["entry"] is None
        message = payload["userErrors"][0]["message"]
        assert (BASE + timedelta(hours=10)).strftime("%Y-%m-%d %H:%M UTC") in message
        assert (BASE + timedelta(hours=12)).strftime("%H:%M UTC") in message
    assert await stored(a) == 1
    # The same entry sent again (a script's retry) is the first, not a conflict.
    again = await log(a, "faculty", 10, 12)
    assert again["userErrors"] == [] and again["entry"]["id"] == first["entry"]["id"]
    assert await stored(a) == 1
    # Touching ends are fine; another faculty member's time is theirs.
    assert (await log(a, "faculty", 12, 13))["userErrors"] == []
    assert (await log(a, "faculty", 9, 10))["userErrors"] == []
    assert (await log(a, "faculty2", 10, 12))["userErrors"] == []
    # An update into another entry is refused too, and changes nothing.
    moved = await a.gql("faculty", UPDATE, {"i": {"id": first["entry"]["id"], "endedAt": at(12.5)}})
    assert codes(moved["data"]["facultyTimeEntryUpdate"]) == ["TIME_CONFLICT"]
    mine = await a.gql("faculty", MINE, {})
    assert sorted(e["node"]["minutes"] for e in mine["data"]["myTimeEntries"]["edges"]) == [
        60, 60, 120,
    ]  # fmt: skip


async def test_a_running_timer_overlaps_everything_after_its_start(
    academics: Academics,
) -> None:
    a = academics
    started = await a.ok("faculty", START, {"i": {"kind": "ASSESSMENT"}}, "facultyTimerStart")
    assert started["entry"]["running"] is True and started["entry"]["endedAt"] is None
    again = await a.gql("faculty", START, {"i": {"kind": "PREPARATION"}})
    assert codes(again["data"]["facultyTimerStart"]) == ["TIMER_RUNNING"]
    now = datetime.now(UTC)
    sent = {"kind": "PREPARATION", "startedAt": (now - timedelta(hours=1)).isoformat(),
            "endedAt": (now + timedelta(minutes=2)).isoformat()}  # fmt: skip
    clash = (await a.gql("faculty", LOG, {"i": sent}))["data"]["facultyTimeLog"]
    assert (
        codes(clash) == ["TIME_CONFLICT"]
        and "timer running since" in clash["userErrors"][0]["message"]
    )
    assert await stored(a) == 1
    # Before its start is fine.
    sent = {"kind": "PREPARATION", "startedAt": (now - timedelta(hours=3)).isoformat(),
            "endedAt": (now - timedelta(hours=2)).isoformat()}  # fmt: skip
    await a.ok("faculty", LOG, {"i": sent}, "facultyTimeLog")
    stopped = await a.ok("faculty", STOP, {"i": {}}, "facultyTimerStop")
    assert stopped["entry"]["id"] == started["entry"]["id"]
    assert stopped["entry"]["running"] is False and stopped["entry"]["minutes"] == 0
    none = await a.gql("faculty", STOP, {"i": {}})
    assert codes(none["data"]["facultyTimerStop"]) == ["NO_TIMER"]
    # A timer that ran 17 hours is capped at 16, and its note says so.
    started = await a.ok("faculty", START, {"i": {"kind": "MENTORING", "note": "Office hours"}},
                         "facultyTimerStart")  # fmt: skip
    async with a.runtime.transaction() as uow:
        await uow.session.execute(
            update(FacultyTimeEntry)
            .where(FacultyTimeEntry.id == pk_of(started["entry"]["id"]))
            .values(started_at=datetime.now(UTC) - timedelta(hours=17))
        )
    # Another's timer is not theirs to stop; a manager may.
    other = await a.gql("faculty2", STOP, {"i": {"id": started["entry"]["id"]}})
    assert codes(other["data"]["facultyTimerStop"]) == ["NOT_FOUND"]
    stopped = await a.ok("manager", STOP, {"i": {"id": started["entry"]["id"]}},
                         "facultyTimerStop")  # fmt: skip
    assert stopped["entry"]["minutes"] == 16 * 60
    assert stopped["entry"]["note"].startswith("Office hours\n")
    assert "capped at 16 hours" in stopped["entry"]["note"]


async def test_limits_and_bad_input_write_nothing(academics: Academics) -> None:
    a = academics
    now = datetime.now(UTC)
    cases = [
        ({"startedAt": at(0), "endedAt": at(17)}, "OUT_OF_RANGE", "endedAt"),
        ({"startedAt": at(2), "endedAt": at(1)}, "INVALID", "endedAt"),
        ({"startedAt": (now - timedelta(minutes=30)).isoformat(),
          "endedAt": (now + timedelta(minutes=10)).isoformat()}, "OUT_OF_RANGE", "endedAt"),
        ({"startedAt": (now - timedelta(days=91)).isoformat(),
          "endedAt": (now - timedelta(days=91, hours=-1)).isoformat()}, "OUT_OF_RANGE",
         "startedAt"),
        ({"startedAt": at(1), "endedAt": at(2), "studentId": a.ids["student3"]}, "NOT_TAUGHT",
         "studentId"),
        ({"startedAt": at(1), "endedAt": at(2), "studentId": a.ids["faculty2"]}, "NOT_TAUGHT",
         "studentId"),
        ({"startedAt": at(1), "endedAt": at(2), "missionId": gid("Mission", a.pks["mission2"]),
          "subjectId": gid("Subject", a.pks["subject"])}, "WRONG_MISSION", "missionId"),
        ({"startedAt": at(1), "endedAt": at(2), "subjectId": gid("Subject", 999)}, "NOT_FOUND",
         "subjectId"),
        ({"startedAt": at(1), "endedAt": at(2), "kind": "TEACHING"}, "REQUIRED", "subjectId"),
        ({"startedAt": at(1), "endedAt": at(2), "note": "x" * 2001}, "TOO_LONG", "note"),
    ]  # fmt: skip
    for extra, code, field in cases:
        body = await a.gql("faculty", LOG, {"i": {"kind": "PREPARATION", **extra}})
        payload = body["data"]["facultyTimeLog"]
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            (code, ["input", field])
        ], (extra, payload)
    # A topic of another subject; a subject the faculty member leads no offering of.
    other, other_topics = await add_subject(a, "DB", "Databases", 2, mission_id=a.pks["mission"])
    body = await a.gql("faculty", LOG, {"i": {
        "kind": "PREPARATION", "startedAt": at(1), "endedAt": at(2),
        "subjectId": gid("Subject", a.pks["subject"]), "topicId": gid("Topic", other_topics[0]),
    }})  # fmt: skip
    assert codes(body["data"]["facultyTimeLog"]) == ["WRONG_SUBJECT"]
    body = await a.gql("faculty", LOG, {"i": {
        "kind": "PREPARATION", "startedAt": at(1), "endedAt": at(2),
        "subjectId": gid("Subject", other),
    }})  # fmt: skip
    assert codes(body["data"]["facultyTimeLog"]) == ["NOT_TAUGHT"]
    assert await stored(a) == 0
    # A manager may log it for them (no offering records that subject's lecture).
    payload = await log(a, "manager", 1, 2, subjectId=gid("Subject", other),
                        facultyId=a.ids["faculty"])  # fmt: skip
    assert payload["userErrors"] == [], payload
    # The mentor's mentee, the students of their offering: fine.
    assert (await log(a, "faculty", 3, 4, studentId=a.ids["student2"]))["userErrors"] == []


async def test_who_may_log_and_read(academics: Academics) -> None:
    a = academics
    for who in ("student", "alumnus", "sre", "mentor", "counsellor"):
        payload = await log(a, who, 1, 2)
        assert codes(payload) == ["NOT_ALLOWED"], who
        assert (await a.gql(who, MINE, {}))["data"]["myTimeEntries"]["totalCount"] == 0
    payload = await log(a, "faculty", 1, 2, facultyId=a.ids["faculty2"])
    assert codes(payload) == ["NOT_ALLOWED"]
    payload = await log(a, "manager", 1, 2, facultyId=a.ids["student"])
    assert codes(payload) == ["NOT_FOUND"]
    anonymous = await a.api.gql(LOG, {"i": {"kind": "PREPARATION", "startedAt": at(1),
                                            "endedAt": at(2)}})  # fmt: skip
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    own = (await log(a, "faculty", 1, 2))["entry"]
    by_admin = (await log(a, "admin", 3, 4, facultyId=a.ids["faculty"]))["entry"]
    assert by_admin["faculty"]["id"] == a.ids["faculty"]
    for who, count in (("faculty", 2), ("manager", 2), ("admin", 2), ("faculty2", 0),
                       ("student", 0), ("sre", 0)):  # fmt: skip
        body = await a.gql(who, THEIRS, {"f": a.ids["faculty"]})
        assert body["data"]["facultyTimeEntries"]["totalCount"] == count, who
    for who in ("faculty2", "student", "sre"):
        body = await a.gql(who, UTILISATION, {"f": a.ids["faculty"], "w": 2})
        assert body["data"]["facultyUtilisation"] is None, who
        body = await a.gql(who, WORKLOAD, {"w": BASE.date().isoformat()})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
    # Changing and deleting: its faculty member or a manager; others are told nothing.
    for who in ("faculty2", "student", "mentor"):
        body = await a.gql(who, UPDATE, {"i": {"id": own["id"], "note": "mine"}})
        assert codes(body["data"]["facultyTimeEntryUpdate"]) == ["NOT_FOUND"], who
        body = await a.gql(who, DELETE, {"i": {"id": own["id"]}})
        assert codes(body["data"]["facultyTimeEntryDelete"]) == ["NOT_FOUND"], who
    payload = await a.ok("faculty", UPDATE, {"i": {"id": own["id"], "note": "Slides",
                                                   "kind": "ASSESSMENT"}},
                         "facultyTimeEntryUpdate")  # fmt: skip
    assert (payload["entry"]["note"], payload["entry"]["kind"]) == ("Slides", "ASSESSMENT")
    payload = await a.ok("faculty", UPDATE, {"i": {"id": own["id"], "note": None}},
                         "facultyTimeEntryUpdate")  # fmt: skip
    assert payload["entry"]["note"] is None and payload["entry"]["minutes"] == 60
    payload = await a.ok("manager", DELETE, {"i": {"id": by_admin["id"]}}, "facultyTimeEntryDelete")
    assert payload["deletedId"] == by_admin["id"]
    await a.ok("faculty", DELETE, {"i": {"id": own["id"]}}, "facultyTimeEntryDelete")
    assert await stored(a) == 0
    # Targets: academics managers only.
    body = await a.gql("faculty", TARGET, {"i": {"facultyId": a.ids["faculty"], "weeklyHours": 5}})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await a.gql("manager", TARGET, {"i": {"facultyId": a.ids["student"], "weeklyHours": 5}})
    assert codes(body["data"]["facultyTargetSet"]) == ["NOT_FOUND"]
    body = await a.gql("manager", TARGET, {"i": {"facultyId": a.ids["faculty"], "weeklyHours": 81}})
    assert codes(body["data"]["facultyTargetSet"]) == ["OUT_OF_RANGE"]


async def test_utilisation_and_workload(academics: Academics) -> None:
    a = academics
    default = a.api.settings.faculty_weekly_hours * 60
    set_ = await a.ok("manager", TARGET, {"i": {"facultyId": a.ids["faculty"], "weeklyHours": 10}},
                      "facultyTargetSet")  # fmt: skip
    assert set_["target"] == {"weeklyMinutes": 600, "isDefault": False,
                              "faculty": {"id": a.ids["faculty"]}}  # fmt: skip
    two_back = monday(2)
    subject = gid("Subject", a.pks["subject"])
    logged = [
        ("faculty", "TEACHING", BASE + timedelta(hours=9), 120),
        ("faculty", "PREPARATION", BASE + timedelta(days=5, hours=23), 60),  # Sunday night
        ("faculty", "ASSESSMENT", two_back + timedelta(hours=8), 300),
        ("manager", "MENTORING", BASE + timedelta(hours=9), 600),
    ]
    for who, kind, start, minutes in logged:
        sent = {"kind": kind, "startedAt": start.isoformat(), "subjectId": subject,
                "endedAt": (start + timedelta(minutes=minutes)).isoformat()}  # fmt: skip
        await a.ok(who, LOG, {"i": sent}, "facultyTimeLog")
    body = await a.gql("faculty", UTILISATION, {"w": 3})
    got = body["data"]["facultyUtilisation"]
    assert (got["targetMinutes"], got["totalMinutes"]) == (600, 480)
    assert abs(got["utilisation"] - 480 / 1800) < 1e-9
    weeks = got["weeks"]
    assert [w["weekStarting"] for w in weeks] == [monday(n).date().isoformat() for n in (2, 1, 0)]
    assert [w["totalMinutes"] for w in weeks] == [300, 180, 0]
    assert weeks[1]["byKind"] == {"teaching": 120, "preparation": 60, "assessment": 0,
                                  "mentoring": 0}  # fmt: skip
    assert weeks[0]["byKind"]["assessment"] == 300
    assert [w["utilisation"] for w in weeks] == [0.5, 0.3, 0.0]
    # Up to a given day, for a manager.
    body = await a.gql("manager", UTILISATION, {"f": a.ids["faculty"], "w": 1,
                                                "u": two_back.date().isoformat()})  # fmt: skip
    assert body["data"]["facultyUtilisation"]["weeks"][0]["totalMinutes"] == 300
    bad = await a.gql("faculty", UTILISATION, {"w": 53})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # Workload of last week: the FACULTY role's holders and anyone who logged time.
    body = await a.gql("manager", WORKLOAD, {"w": (BASE + timedelta(days=3)).date().isoformat()})
    rows = body["data"]["facultyWorkload"]
    assert [(r["faculty"]["id"], r["totalMinutes"], r["targetMinutes"]) for r in rows] == [
        (a.ids["manager"], 600, default),
        (a.ids["faculty"], 180, 600),
        (a.ids["faculty2"], 0, default),
    ]
    assert rows[1]["utilisation"] == 0.3 and rows[1]["byKind"]["teaching"] == 120
    assert {r["weekStarting"] for r in rows} == {monday(1).date().isoformat()}
    # Back to the default.
    reset = {"i": {"facultyId": a.ids["faculty"], "weeklyHours": None}}
    set_ = await a.ok("manager", TARGET, reset, "facultyTargetSet")
    assert set_["target"]["weeklyMinutes"] == default and set_["target"]["isDefault"] is True
    # A running timer counts up to now.
    await a.ok("faculty", START, {"i": {"kind": "PREPARATION"}}, "facultyTimerStart")
    async with a.runtime.transaction() as uow:
        await uow.session.execute(
            update(FacultyTimeEntry)
            .where(FacultyTimeEntry.ended_at.is_(None))
            .values(started_at=datetime.now(UTC) - timedelta(minutes=45))
        )
    body = await a.gql("faculty", UTILISATION, {"w": 1, "u": datetime.now(UTC).date().isoformat()})
    assert body["data"]["facultyUtilisation"]["weeks"][0]["byKind"]["preparation"] in (45, 46)


async def test_concurrent_overlapping_logs_store_one(academics: Academics) -> None:
    a = academics
    bodies = await asyncio.gather(*(
        a.gql("faculty", LOG, {"i": {"kind": "PREPARATION", "startedAt": at(1 + n / 4),
                                     "endedAt": at(2 + n / 4)}})
        for n in range(4)
    ))  # fmt: skip
    outcomes = sorted(str(codes(b["data"]["facultyTimeLog"])) for b in bodies)
    assert outcomes.count("[]") == 1, bodies
    assert outcomes.count("['TIME_CONFLICT']") == 3, bodies
    assert await stored(a) == 1


async def test_statement_counts_do_not_grow(academics: Academics) -> None:
    a = academics
    query = MINE.replace("minutes", "minutes kind note running")
    for n in range(2):
        await log(a, "faculty", n, n + 1, studentId=a.ids["student"])
    few, small = await a.api.sql_count(query, token=a.tokens["faculty"])
    for n in range(2, 10):
        await log(a, "faculty", n, n + 1, studentId=a.ids["student2"])
    many, large = await a.api.sql_count(query, token=a.tokens["faculty"])
    assert small["data"]["myTimeEntries"]["totalCount"] == 2
    assert large["data"]["myTimeEntries"]["totalCount"] == 10
    assert many == few, f"{few} statements for 2 entries, {many} for 10"
    week = {"w": BASE.date().isoformat()}
    few, small = await a.api.sql_count(WORKLOAD, week, token=a.tokens["manager"])
    for n in range(5):
        await a.api.create_user(f"teacher{n}@example.org", ["FACULTY"])
    many, large = await a.api.sql_count(WORKLOAD, week, token=a.tokens["manager"])
    assert len(small["data"]["facultyWorkload"]) == 2
    assert len(large["data"]["facultyWorkload"]) == 7
    assert many == few, f"{few} statements for 2 faculty, {many} for 7"
