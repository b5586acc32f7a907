"""Reports with date ranges and comparisons: figures against values worked out by hand on
small programmes built through the API, on both databases; who may read them and what
they never show; their exports; and statement counts flat in the number of students.

People, batches, missions, enrolments, mentors, assignments, submissions, grades and
notices are made through the API. Weeks of attendance history are planted with one
INSERT (a `attendanceCorrect` per student and day would take seconds); a few days go
through `attendanceCorrect` too, and count the same."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from strawberry.relay import from_base64

from alumnet.persistence.models import AttendanceDay
from tests.conftest import Api

TODAY = datetime.now(UTC).date()
# The Monday five weeks before this week's: the reports' ranges end before today.
W0 = TODAY - timedelta(days=TODAY.weekday()) - timedelta(weeks=5)


def pk(gid: str) -> int:
    return int(from_base64(gid)[1])


async def ok(api: Api, token: str, query: str, variables: dict[str, Any], key: str) -> Any:
    body = await api.gql(query, variables, token=token)
    assert "errors" not in body, body
    payload = body["data"][key]
    assert payload["userErrors"] == [], payload
    return payload


BATCH = """mutation($i: BatchCreateInput!) { batchCreate(input: $i) { batch { id }
  userErrors { field code message } } }"""
MISSION = """mutation($i: MissionCreateInput!) { missionCreate(input: $i) { mission { id }
  userErrors { field code message } } }"""
ENROLL = """mutation($m: ID!, $s: ID!) { enrollmentCreate(input: {missionId: $m, studentId: $s}) {
  enrollment { id } userErrors { field code message } } }"""
ASSIGN = """mutation($m: ID!, $s: ID!, $t: ID!) {
  mentorAssign(input: {missionId: $m, studentId: $s, mentorId: $t}) {
  assignment { id } userErrors { field code message } } }"""
CORRECT = """mutation($i: AttendanceCorrectInput!) { attendanceCorrect(input: $i) {
  attendance { id } userErrors { field code message } } }"""


@dataclass
class World:
    api: Api
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    # student key -> (enrollment id, mission id, student id), per mission key
    enrolled: dict[tuple[str, str], str] = field(default_factory=dict)

    async def gql(self, who: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        return await self.api.gql(query, variables, token=self.tokens[who])

    async def person(self, who: str, roles: list[str]) -> None:
        self.ids[who], self.tokens[who] = await self.api.create_user(
            f"{who}@example.org", roles, name=f"{who.upper()} Person"
        )

    async def mission(self, key: str, batch: str, starts: date, ends: date) -> None:
        made = await ok(self.api, self.tokens["admin"], MISSION, {"i": {
            "batchId": self.ids[batch], "title": key.upper(), "code": key.upper(),
            "status": "ACTIVE", "startsOn": starts.isoformat(), "endsOn": ends.isoformat(),
        }}, "missionCreate")  # fmt: skip
        self.ids[key] = made["mission"]["id"]

    async def enrol(self, mission: str, *students: str) -> None:
        for s in students:
            given = {"m": self.ids[mission], "s": self.ids[s]}
            made = await ok(self.api, self.tokens["admin"], ENROLL, given, "enrollmentCreate")
            self.enrolled[(s, mission)] = made["enrollment"]["id"]

    async def mentor(self, mentor: str, mission: str, *students: str) -> None:
        for s in students:
            await ok(self.api, self.tokens["admin"], ASSIGN,
                     {"m": self.ids[mission], "s": self.ids[s], "t": self.ids[mentor]},
                     "mentorAssign")  # fmt: skip

    async def plant(self, mission: str, days: dict[str, list[date]]) -> None:
        """Attendance rows (present) for these students and days, in one INSERT."""
        now = datetime.now(UTC)
        rows = [
            {"enrollment_id": pk(self.enrolled[(s, mission)]), "mission_id": pk(self.ids[mission]),
             "student_id": pk(self.ids[s]), "day": d, "kind": "check_in", "status": "present",
             "created_at": now, "updated_at": now}
            for s, present in days.items() for d in present
        ]  # fmt: skip
        async with self.api.app.state.runtime.database.connect() as conn:
            await conn.execute(insert(AttendanceDay), rows)
            await conn.commit()


async def make_world(api: Api, students: int = 6) -> World:
    w = World(api)
    for who, roles in [("admin", ["ADMIN"]), ("manager", ["MANAGER"]), ("m1", ["MENTOR"]),
                       ("m2", ["MENTOR"]), ("student", ["STUDENT"])]:  # fmt: skip
        await w.person(who, roles)
    for i in range(1, students + 1):
        await w.person(f"s{i}", ["STUDENT"])
    made = await ok(api, w.tokens["admin"], BATCH, {"i": {
        "name": "Batch One", "code": "B1", "startsOn": (W0 - timedelta(weeks=10)).isoformat(),
        "endsOn": (TODAY + timedelta(days=60)).isoformat()}}, "batchCreate")  # fmt: skip
    w.ids["b1"] = made["batch"]["id"]
    await w.mission("ma", "b1", W0 - timedelta(weeks=6), TODAY + timedelta(days=30))
    return w


def span(first: date, days: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(days)]


ATTENDANCE = """query($from: Date, $to: Date, $f: ReportFilter, $g: AttendanceReportGroup!,
  $first: Int! = 100) {
  attendanceReport(from: $from, to: $to, filter: $f, groupBy: $g) {
    period { from to } previousPeriod { from to } groupBy students present possible rate
    previousRate change trend weeks { weekStart days present possible rate }
    rows(first: $first) { key label nodeId email students present possible rate previousRate
      change withheld }
    totalRows
    anomalies { missionId mission weekStart rate norm threshold }
    missionAverages { missionId students rate previousRate withheld }
    notes
  } }"""


async def attendance(w: World, who: str, group: str = "MISSION", **given: Any) -> Any:
    variables = {"from": W0.isoformat(), "to": (W0 + timedelta(days=13)).isoformat(),
                 "g": group, **given}  # fmt: skip
    body = await w.gql(who, ATTENDANCE, variables)
    assert "errors" not in body, body
    return body["data"]["attendanceReport"]


async def refused(w: World, who: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The one error a report query answers, with its code and field."""
    body = await w.gql(who, query, variables)
    [error] = body["errors"]
    return {"code": error["extensions"]["code"], "field": error["extensions"].get("field"),
            "message": error["message"], "data": body["data"]}  # fmt: skip


def weekday(first: date, last: date, number: int) -> int:
    return sum(1 for d in span(first, (last - first).days + 1) if d.weekday() == number)


@pytest.fixture
async def world(api: Api) -> World:
    """Batch B1: mission MA (six students; M1 mentors S1 and S2, M2 mentors S6) and MB
    (one student, mentored by M2, starting after the reports' ranges)."""
    w = await make_world(api)
    students = [f"s{i}" for i in range(1, 7)]
    await w.enrol("ma", *students)
    await w.mentor("m1", "ma", "s1", "s2")
    await w.mentor("m2", "ma", "s6")
    await w.mission("mb", "b1", TODAY - timedelta(days=2), TODAY + timedelta(days=30))
    await w.enrol("mb", "student")
    await w.mentor("m2", "mb", "student")
    prev = W0 - timedelta(days=14)
    # This period (14 days from W0): S1 every day, S2 the first week, S3 never, S4 every
    # day, S5 ten days, S6 every day (the last through the API). The previous period:
    # everyone its first week.
    now = {"s1": span(W0, 14), "s2": span(W0, 7), "s3": [], "s4": span(W0, 14),
           "s5": span(W0, 10), "s6": span(W0, 13)}  # fmt: skip
    await w.plant("ma", {s: span(prev, 7) + now[s] for s in students})
    await ok(api, w.tokens["admin"], CORRECT, {"i": {
        "enrollmentId": w.enrolled[("s6", "ma")], "day": (W0 + timedelta(days=13)).isoformat(),
        "present": True, "reason": "Signed the paper sheet"}}, "attendanceCorrect")  # fmt: skip
    return w


MA_PRESENT = 14 + 7 + 0 + 14 + 10 + 14


async def test_attendance_by_mission_against_the_previous_period(world: World) -> None:
    ma = {"missionId": world.ids["ma"]}
    report = await attendance(world, "manager", f=ma)
    assert report["period"] == {"from": W0.isoformat(),
                                "to": (W0 + timedelta(days=13)).isoformat()}  # fmt: skip
    assert report["previousPeriod"] == {"from": (W0 - timedelta(days=14)).isoformat(),
                                        "to": (W0 - timedelta(days=1)).isoformat()}  # fmt: skip
    assert report["students"] == 6
    assert (report["present"], report["possible"]) == (MA_PRESENT, 6 * 14)
    assert report["rate"] == round(MA_PRESENT / 84, 4)
    assert report["previousRate"] == 0.5
    assert report["change"] == round(round(MA_PRESENT / 84, 4) - 0.5, 4)
    week1, week2 = report["weeks"]
    assert (week1["weekStart"], week1["present"], week1["possible"]) == (W0.isoformat(), 35, 42)
    assert (week2["present"], week2["possible"]) == (24, 42)
    # Two weeks: the slope is the second week's rate less the first's.
    assert report["trend"] == pytest.approx(24 / 42 - 35 / 42, abs=1e-4)
    [row] = report["rows"]
    assert row["nodeId"] == world.ids["ma"] and row["key"] == f"mission:{pk(world.ids['ma'])}"
    assert (row["present"], row["possible"], row["withheld"]) == (MA_PRESENT, 84, False)
    assert report["missionAverages"][0]["rate"] == report["rate"]
    assert report["anomalies"] == []


async def test_attendance_by_batch_weekday_week_and_student(world: World) -> None:
    # The batch: MA and MB (whose days start after the range: its student adds no days).
    [batch] = (await attendance(world, "manager", "BATCH"))["rows"]
    assert (batch["label"], batch["students"]) == ("Batch One", 7)
    assert (batch["present"], batch["possible"]) == (MA_PRESENT, 84)
    ma = {"missionId": world.ids["ma"]}
    days = (await attendance(world, "manager", "WEEKDAY", f=ma))["rows"]
    assert [d["label"] for d in days][:2] == ["Monday", "Tuesday"]
    monday, sunday = days[0], days[6]
    assert (monday["present"], monday["possible"]) == (2 + 1 + 0 + 2 + 2 + 2, 12)
    assert (sunday["present"], sunday["possible"]) == (2 + 1 + 0 + 2 + 1 + 2, 12)
    assert monday["previousRate"] == 0.5  # the previous period's first week only
    weeks = (await attendance(world, "manager", "WEEK", f=ma))["rows"]
    assert [(w["label"], w["present"]) for w in weeks] == [
        (W0.isoformat(), 35), ((W0 + timedelta(days=7)).isoformat(), 24)]  # fmt: skip
    students = (await attendance(world, "manager", "STUDENT"))["rows"]
    assert [r["label"] for r in students] == [
        "S3 Person", "S2 Person", "S5 Person", "S1 Person", "S4 Person", "S6 Person",
        "STUDENT Person"]  # fmt: skip
    s5 = students[2]
    assert (s5["email"], s5["present"], s5["possible"]) == ("s5@example.org", 10, 14)
    assert s5["nodeId"] == world.ids["s5"] and s5["previousRate"] == 0.5
    assert students[-1]["rate"] is None  # MB has no day in the range yet


async def test_a_planted_bad_week_is_an_anomaly(api: Api) -> None:
    w = await make_world(api, students=5)
    students = [f"s{i}" for i in range(1, 6)]
    await w.enrol("ma", *students)
    first = W0 - timedelta(days=14)
    bad = set(span(W0, 7))
    slack = W0 + timedelta(days=10)  # one student misses one day of the last week
    await w.plant("ma", {
        s: [d for d in span(first, 28) if (d not in bad or s == "s1") and
            not (s == "s2" and d == slack)]
        for s in students
    })  # fmt: skip
    report = await attendance(w, "manager")
    rates = [1.0, 1.0, 7 / 35, 34 / 35]
    norm = statistics.median(rates)
    spread = statistics.median(abs(r - norm) for r in rates) * 1.4826
    threshold = norm - max(2 * spread, 0.10)
    [anomaly] = report["anomalies"]
    assert anomaly["weekStart"] == W0.isoformat()
    assert anomaly["missionId"] == w.ids["ma"]
    assert anomaly["rate"] == round(7 / 35, 4)
    assert anomaly["norm"] == pytest.approx(norm, abs=1e-4)
    assert anomaly["threshold"] == pytest.approx(threshold, abs=1e-4)
    assert report["trend"] == pytest.approx(34 / 35 - 7 / 35, abs=1e-4)


async def test_bad_ranges_are_refused(world: World) -> None:
    upside_down = {"from": "2026-03-10", "to": "2026-03-01", "g": "MISSION"}
    got = await refused(world, "manager", ATTENDANCE, upside_down)
    assert (got["code"], got["field"]) == ("BAD_USER_INPUT", ["to"])
    assert "after `from`" in got["message"] and got["data"] == {"attendanceReport": None}
    too_long = {"from": "2020-01-01", "to": "2025-12-31", "g": "MISSION"}
    got = await refused(world, "manager", ATTENDANCE, too_long)
    assert (got["code"], got["field"]) == ("BAD_USER_INPUT", ["to"])
    assert "five years" in got["message"]
    fine = {"from": "2021-01-01", "to": "2025-12-31", "g": "MISSION"}
    assert "errors" not in await world.gql("manager", ATTENDANCE, fine)


async def test_a_mentors_report_never_includes_a_non_mentee(world: World) -> None:
    mine = await attendance(world, "m1", "STUDENT")
    assert [r["label"] for r in mine["rows"]] == ["S2 Person", "S1 Person"]
    assert (mine["students"], mine["present"], mine["possible"]) == (2, 21, 28)
    # The four other students of MA would show through the mission's whole rate.
    [whole] = mine["missionAverages"]
    assert whole["withheld"] and whole["rate"] is None
    assert world.ids["s3"] not in str(mine) and "s3@" not in str(mine)
    # M2 mentors S6 in MA (five others: the whole rate is shown) and the student in MB.
    theirs = await attendance(world, "m2", "STUDENT")
    assert [r["label"] for r in theirs["rows"]] == ["S6 Person", "STUDENT Person"]
    whole_ma = next(m for m in theirs["missionAverages"] if m["missionId"] == world.ids["ma"])
    assert not whole_ma["withheld"] and whole_ma["rate"] == round(MA_PRESENT / 84, 4)
    work = await submissions(world, "m1", "STUDENT")
    assert {r["label"] for r in work["rows"]} <= {"S1 Person", "S2 Person"}


async def test_a_filter_outside_ones_reach_is_an_error(world: World) -> None:
    mb = {"f": {"missionId": world.ids["mb"]}, "g": "MISSION"}
    got = await refused(world, "m1", ATTENDANCE, mb)
    assert (got["code"], got["field"]) == ("NOT_FOUND", ["filter", "missionId"])
    # An id that names nothing answers alike; so does an id of another kind.
    nothing = {"f": {"missionId": "TWlzc2lvbjo5OTk5"}, "g": "MISSION"}
    assert (await refused(world, "m1", ATTENDANCE, nothing))["message"] == got["message"]
    user = {"f": {"missionId": world.ids["s1"]}, "g": "MISSION"}
    assert (await refused(world, "manager", ATTENDANCE, user))["code"] == "NOT_FOUND"
    # Reports a role may not read at all.
    assert (await refused(world, "s1", ATTENDANCE, {"g": "MISSION"}))["code"] == "FORBIDDEN"
    for who, query in [("m1", MENTORS), ("m1", ENGAGEMENT), ("s1", ALUMNI), ("m1", ALUMNI)]:
        assert (await refused(world, who, query, {}))["code"] == "FORBIDDEN", (who, query)


SUBMISSIONS = """query($from: Date, $to: Date, $f: ReportFilter, $g: SubmissionsReportGroup!) {
  submissionsReport(from: $from, to: $to, filter: $f, groupBy: $g) {
    period { from to } assignments expected onTime late missing pending onTimeRate
    submissionRate previousOnTimeRate previousSubmissionRate change
    grades { count mean standardDeviation median p10 p25 p75 p90 withheld }
    rows(first: 100) { key label nodeId email students expected onTime late missing pending
      onTimeRate withheld grades { count mean median standardDeviation p10 p25 p75 p90
      withheld } }
    missionAverages { missionId onTimeRate submissionRate meanScore withheld }
    notes
  } }"""
CREATE_ASSIGNMENT = """mutation($i: AssignmentCreateInput!) { assignmentCreate(input: $i) {
  assignment { id } userErrors { field code message } } }"""
RECORD = """mutation($i: SubmissionBulkRecordInput!) { submissionBulkRecord(input: $i) {
  recorded late userErrors { field code message } } }"""
GRADE = """mutation($i: SubmissionGradeInput!) { submissionGrade(input: $i) {
  submission { id } userErrors { field code message } } }"""
HANDED_IN = """query($a: ID!) { node(id: $a) { ... on Assignment {
  submissions(first: 50) { edges { node { id enrollment { id } } } } } } }"""


def moment(day: date, hour: int = 12) -> str:
    return datetime.combine(day, time(hour), UTC).isoformat()


async def assignment(w: World, title: str, due: date, max_points: int) -> str:
    made = await ok(w.api, w.tokens["manager"], CREATE_ASSIGNMENT, {"i": {
        "missionId": w.ids["ma"], "title": title, "dueAt": moment(due),
        "opensAt": moment(due - timedelta(days=7)), "maxPoints": max_points,
    }}, "assignmentCreate")  # fmt: skip
    return str(made["assignment"]["id"])


async def hand_in(w: World, assignment_id: str, day: date, *students: str) -> None:
    emails = "\n".join(f"{s}@example.org" for s in students)
    await ok(w.api, w.tokens["manager"], RECORD, {"i": {
        "assignmentId": assignment_id, "emails": emails, "submittedAt": moment(day, 10)}},
        "submissionBulkRecord")  # fmt: skip


async def grade(w: World, assignment_id: str, marks: dict[str, int]) -> None:
    body = await w.gql("manager", HANDED_IN, {"a": assignment_id})
    by_enrollment = {e["node"]["enrollment"]["id"]: e["node"]["id"]
                     for e in body["data"]["node"]["submissions"]["edges"]}  # fmt: skip
    for student, mark in marks.items():
        submission = by_enrollment[w.enrolled[(student, "ma")]]
        await ok(w.api, w.tokens["manager"], GRADE, {"i": {"submissionId": submission,
                 "mark": mark}}, "submissionGrade")  # fmt: skip


async def with_work(w: World) -> tuple[str, str]:
    """A1 (due W0+2, out of 20): S1-S4 on time, S5 late, S6 missing. A2 (due W0+9, out of
    10): S1, S2 on time, S3 late. A3 (the previous period): everyone on time."""
    a3 = await assignment(w, "A3", W0 - timedelta(days=5), 10)
    await hand_in(w, a3, W0 - timedelta(days=6), "s1", "s2", "s3", "s4", "s5", "s6")
    a1 = await assignment(w, "A1", W0 + timedelta(days=2), 20)
    await hand_in(w, a1, W0 + timedelta(days=1), "s1", "s2", "s3", "s4")
    await hand_in(w, a1, W0 + timedelta(days=4), "s5")
    a2 = await assignment(w, "A2", W0 + timedelta(days=9), 10)
    await hand_in(w, a2, W0 + timedelta(days=8), "s1", "s2")
    await hand_in(w, a2, W0 + timedelta(days=11), "s3")
    await grade(w, a1, {"s1": 20, "s2": 15, "s3": 10, "s4": 5, "s5": 12})
    await grade(w, a2, {"s1": 10, "s2": 7, "s3": 4})
    return a1, a2


async def submissions(w: World, who: str, group: str = "ASSIGNMENT", **given: Any) -> Any:
    variables = {"from": W0.isoformat(), "to": (W0 + timedelta(days=13)).isoformat(),
                 "g": group, **given}  # fmt: skip
    body = await w.gql(who, SUBMISSIONS, variables)
    assert "errors" not in body, body
    return body["data"]["submissionsReport"]


def expected_spread(scores: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(scores, n=100, method="inclusive")
    return {"count": len(scores), "mean": statistics.mean(scores),
            "median": statistics.median(scores), "standardDeviation": statistics.stdev(scores),
            "p10": cuts[9], "p25": cuts[24], "p75": cuts[74], "p90": cuts[89]}  # fmt: skip


def same_spread(found: dict[str, Any], scores: list[float]) -> None:
    for name, value in expected_spread(scores).items():
        assert found[name] == pytest.approx(value, abs=1e-3), name


async def test_submissions_on_time_late_missing_and_grades(world: World) -> None:
    a1, a2 = await with_work(world)
    report = await submissions(world, "manager", f={"missionId": world.ids["ma"]})
    assert report["assignments"] == 2
    assert (report["expected"], report["onTime"], report["late"], report["missing"],
            report["pending"]) == (12, 6, 2, 4, 0)  # fmt: skip
    assert (report["onTimeRate"], report["submissionRate"]) == (0.5, round(8 / 12, 4))
    assert (report["previousOnTimeRate"], report["change"]) == (1.0, -0.5)
    first, second = report["rows"]
    assert (first["nodeId"], first["onTime"], first["late"], first["missing"]) == (a1, 4, 1, 1)
    assert (second["nodeId"], second["onTime"], second["late"], second["missing"]) == (a2, 2, 1, 3)
    # Scores as a percent of each assignment's maximum, against Python's statistics.
    a1_scores, a2_scores = [100.0, 75.0, 50.0, 25.0, 60.0], [100.0, 70.0, 40.0]
    same_spread(report["grades"], a1_scores + a2_scores)
    same_spread(first["grades"], a1_scores)
    same_spread(second["grades"], a2_scores)
    by_student = await submissions(world, "manager", "STUDENT", f={"missionId": world.ids["ma"]})
    assert [(r["label"], r["missing"], r["late"]) for r in by_student["rows"]] == [
        ("S6 Person", 2, 0), ("S5 Person", 1, 1), ("S4 Person", 1, 0), ("S3 Person", 0, 1),
        ("S1 Person", 0, 0), ("S2 Person", 0, 0)]  # fmt: skip
    same_spread(by_student["rows"][3]["grades"], [50.0, 40.0])
    # M1's mentees: S1 and S2 only; the mission beside them is withheld (four others).
    mine = await submissions(world, "m1", "STUDENT")
    assert [r["label"] for r in mine["rows"]] == ["S1 Person", "S2 Person"]
    assert (mine["expected"], mine["onTime"]) == (4, 4)
    same_spread(mine["grades"], [100.0, 75.0, 100.0, 70.0])
    assert [m["withheld"] for m in mine["missionAverages"]] == [True]


NOTICES = """query($f: ReportFilter, $g: NoticesReportGroup!) {
  noticesReport(filter: $f, groupBy: $g) {
    notices targeted acknowledged rate previousRate medianHours
    rows(first: 100) { key label nodeId postedTo notices targeted acknowledged rate
      medianHours withheld }
    missionAverages { missionId targeted rate withheld }
  } }"""
POST = """mutation($i: NoticePostInput!) { noticePost(input: $i) { notice { id }
  userErrors { field code message } } }"""
ACK = """mutation($i: NoticeAcknowledgeInput!) { noticeAcknowledge(input: $i) {
  userErrors { field code message } } }"""


async def test_notice_acknowledgement_rates(world: World) -> None:
    w = world
    to_mission = await ok(
        w.api,
        w.tokens["manager"],
        POST,
        {"i": {"missionId": w.ids["ma"], "title": "Week plan", "body": "Read it."}},
        "noticePost",
    )
    to_batch = await ok(
        w.api,
        w.tokens["manager"],
        POST,
        {"i": {"batchId": w.ids["b1"], "title": "Holidays", "body": "Closed Friday."}},
        "noticePost",
    )
    mission_notice, batch_notice = to_mission["notice"]["id"], to_batch["notice"]["id"]
    for who, notice in [("s1", mission_notice), ("s2", mission_notice), ("s3", mission_notice),
                        ("s1", batch_notice), ("student", batch_notice)]:  # fmt: skip
        await ok(w.api, w.tokens[who], ACK, {"i": {"noticeId": notice}}, "noticeAcknowledge")
    body = await w.gql("manager", NOTICES, {"g": "NOTICE"})
    report = body["data"]["noticesReport"]
    assert (report["notices"], report["targeted"], report["acknowledged"]) == (2, 13, 5)
    assert report["rate"] == round(5 / 13, 4) and report["previousRate"] is None
    assert report["medianHours"] is not None and 0 <= report["medianHours"] < 1
    rows = {r["nodeId"]: r for r in report["rows"]}
    assert (rows[mission_notice]["targeted"], rows[mission_notice]["acknowledged"]) == (6, 3)
    assert (rows[batch_notice]["targeted"], rows[batch_notice]["acknowledged"]) == (7, 2)
    assert rows[batch_notice]["postedTo"] == "Batch One"
    by_mission = (await w.gql("manager", NOTICES, {"g": "MISSION"}))["data"]["noticesReport"]
    ma, mb = by_mission["rows"]
    assert (ma["notices"], ma["targeted"], ma["acknowledged"]) == (2, 12, 4)
    assert (mb["notices"], mb["targeted"], mb["acknowledged"]) == (1, 1, 1)
    mine = (await w.gql("m1", NOTICES, {"g": "NOTICE"}))["data"]["noticesReport"]
    assert (mine["targeted"], mine["acknowledged"]) == (4, 3)  # S1 and S2, both notices
    assert [m["withheld"] for m in mine["missionAverages"]] == [True]


MENTORS = """query($f: ReportFilter) { mentorsReport(from: "FROM", to: "TO", filter: $f) {
  rows(first: 100) { mentor mentorId mission mentees attendance missionAttendance
    attendanceDifference points missionPoints pointsDifference completion withheld }
  totalRows notes } }""".replace("FROM", W0.isoformat()).replace(
    "TO", (W0 + timedelta(days=13)).isoformat()
)
ENGAGEMENT = """query { engagementReport { registrations activeUsers messages
  previousRegistrations series { start registrations activeUsers messages }
  retention { month joined active withheld } notes } }"""
ALUMNI = """query { alumniReport { period { from to } figures { area name value previousValue }
  notes } }"""


async def test_mentor_effectiveness_against_the_mission(world: World) -> None:
    body = await world.gql("manager", MENTORS, {"f": {"missionId": world.ids["ma"]}})
    m1, m2 = body["data"]["mentorsReport"]["rows"]
    whole = round(MA_PRESENT / 6 / 14, 4)
    assert (m1["mentor"], m1["mentees"]) == ("M1 Person", 2)
    assert (m1["attendance"], m1["missionAttendance"]) == (0.75, whole)
    assert m1["attendanceDifference"] == round(0.75 - whole, 4)
    # One point in the mission: S6's day recorded through the API.
    assert (m1["points"], m1["missionPoints"], m1["pointsDifference"]) == (0.0, 0.17, -0.17)
    assert (m2["mentor"], m2["mentees"], m2["attendance"]) == ("M2 Person", 1, 1.0)
    assert m1["completion"] is None  # nothing was due
    # Someone who reads figures but not students: mentors of under five are not broken down.
    await figures_reader(world)
    body = await world.gql("reader", MENTORS, {"f": {"missionId": world.ids["ma"]}})
    m1, m2 = body["data"]["mentorsReport"]["rows"]
    assert m1["withheld"] and m1["attendance"] is None
    # Nor is the mission's whole figure beside them: with the other rows it would give the
    # withheld mentor's away (complementary suppression).
    assert m1["missionAttendance"] is None and m2["missionAttendance"] is None


ROLE = """mutation($i: RoleCreateInput!) { roleCreate(input: $i) { role { id }
  userErrors { field code message } } }"""
GIVE = """mutation($i: RoleAssignInput!) { roleAssign(input: $i) {
  userErrors { field code message } } }"""


async def figures_reader(w: World) -> None:
    """`reader`: an alumnus given `analytics:read` everywhere by a custom role, who may read
    the figures but not see the students one by one."""
    await w.person("reader", ["ALUMNUS"])
    role = await ok(
        w.api,
        w.tokens["admin"],
        ROLE,
        {"i": {"name": "Figures", "permissions": ["ANALYTICS_READ"]}},
        "roleCreate",
    )
    await ok(
        w.api,
        w.tokens["admin"],
        GIVE,
        {"i": {"userId": w.ids["reader"], "roleId": role["role"]["id"]}},
        "roleAssign",
    )
    w.tokens["reader"] = await w.api.sign_in("reader@example.org")


async def test_small_groups_are_not_broken_down(world: World) -> None:
    await figures_reader(world)
    # MB has one student: its row is withheld for the reader, shown to a manager.
    reader = await attendance(world, "reader", f={"missionId": world.ids["mb"]})
    [row] = reader["rows"]
    assert row["withheld"] and row["rate"] is None and row["present"] is None
    assert reader["rate"] is None
    manager = await attendance(world, "manager", f={"missionId": world.ids["mb"]})
    assert not manager["rows"][0]["withheld"] and manager["rows"][0]["possible"] == 0
    # Six students in MA: shown, but never one by one.
    shown = await attendance(world, "reader", f={"missionId": world.ids["ma"]})
    assert shown["rows"][0]["present"] == MA_PRESENT
    student_rows = {"g": "STUDENT", "from": W0.isoformat()}
    assert (await refused(world, "reader", ATTENDANCE, student_rows))["code"] == "FORBIDDEN"
    # A grade distribution of three scores (A2) is not broken down for the reader.
    await with_work(world)
    work = await submissions(world, "reader", f={"missionId": world.ids["ma"]})
    a1, a2 = work["rows"]
    assert not a1["grades"]["withheld"] and a1["grades"]["median"] == 60.0
    assert a2["grades"]["withheld"] and a2["grades"]["median"] is None
    assert a2["grades"]["count"] == 3
    assert not (await submissions(world, "manager", f={"missionId": world.ids["ma"]}))[
        "rows"][1]["grades"]["withheld"]  # fmt: skip


async def test_platform_engagement_and_retention(world: World) -> None:
    w = world
    send = """mutation($i: MessageSendInput!) { messageSend(input: $i) {
      userErrors { field code message } } }"""
    await ok(w.api, w.tokens["m1"], send, {"i": {"recipientId": w.ids["s1"], "body": "Hello"}},
             "messageSend")  # fmt: skip
    people = len(w.tokens)  # everyone made today, each signed in once
    body = await w.gql("manager", ENGAGEMENT)
    report = body["data"]["engagementReport"]
    assert (report["registrations"], report["activeUsers"], report["messages"]) == (
        people, people, 1)  # fmt: skip
    assert report["previousRegistrations"] == 0
    this_week = (TODAY - timedelta(days=TODAY.weekday())).isoformat()
    current = next(p for p in report["series"] if p["start"] == this_week)
    assert (current["registrations"], current["activeUsers"], current["messages"]) == (
        people, people, 1)  # fmt: skip
    [cohort] = [c for c in report["retention"] if c["joined"]]
    assert cohort["month"] == TODAY.replace(day=1).isoformat()
    assert cohort["joined"] == people and cohort["active"][0] == 1.0
    sre = await w.api.create_user("sre@example.org", ["SRE"])
    body = await w.api.gql(ENGAGEMENT, token=sre[1])
    assert body["data"]["engagementReport"]["registrations"] == people + 1


async def test_alumni_figures(world: World) -> None:
    body = await world.gql("manager", ALUMNI)
    figures = body["data"]["alumniReport"]["figures"]
    assert {f["area"] for f in figures} == {"jobs", "mentorship"}  # no event in the range
    named = {f["name"]: f for f in figures}
    assert named["applications"]["value"] == 0 and named["applications"]["previousValue"] == 0
    assert named["active"]["previousValue"] is None  # as it stands today


REGISTRY_CASES = [
    ("attendance", {"group_by": "week"}),
    ("attendance", {"group_by": "student"}),
    ("attendance", {"group_by": "weekday"}),
    ("attendance", {"group_by": "batch"}),
    ("submissions", {"group_by": "assignment"}),
    ("submissions", {"group_by": "student"}),
    ("mentors", {}),
    ("notices", {"group_by": "mission"}),
    ("notices", {"group_by": "batch"}),
    ("engagement", {"group_by": "month", "mission_id": None, "batch_id": None}),
    ("alumni", {}),
]


async def test_the_registry_builds_every_report_as_a_table(world: World) -> None:
    from alumnet.domain.analytics import reports
    from alumnet.domain.analytics.common import DateRange
    from alumnet.domain.errors import DomainError
    from alumnet.domain.identity.auth import viewer_of

    await with_work(world)
    runtime = world.api.app.state.runtime
    async with runtime.database.connect() as conn:
        manager = await viewer_of(conn, pk(world.ids["manager"]), None, required=frozenset())
    assert manager is not None
    period = DateRange(W0, W0 + timedelta(days=13))
    assert set(reports.REPORTS) == {r for r, _ in REGISTRY_CASES}
    assert reports.REPORTS["attendance"] == "Attendance"
    for report, filters in REGISTRY_CASES:
        table = await reports.build_table(runtime, manager, report, period, filters)
        names = [c.name for c in table.columns]
        assert table.rows, report
        assert all(len(row) == len(names) for row in table.rows), report
        assert table.charts and all({c.x, *c.series} <= set(names) for c in table.charts)
        assert table.title.startswith(reports.REPORTS[report])
    for report, filters, field_name in [
        ("attendance", {"group_by": "assignment"}, "groupBy"),
        ("attendance", {"mission": 1}, "mission"),
        ("attendance", {"mission_id": "3"}, "missionId"),
        ("engagement", {"mission_id": 3}, "mission_id"),
        ("nothing", {}, "report"),
    ]:
        with pytest.raises(DomainError) as refusal:
            reports.check_filters(report, filters)
        assert refusal.value.problems[0].field[-1] == field_name  # type: ignore[index]


EXPORT = """mutation($i: ExportCreateInput!) { exportCreate(input: $i) { job { id }
  userErrors { field code message } } }"""
JOB_FILE = "query($j: ID!) { node(id: $j) { ... on Job { status file { name downloadUrl } } } }"


async def queued(w: World, who: str, given: dict[str, Any]) -> str:
    made = await ok(w.api, w.tokens[who], EXPORT, {"i": given}, "exportCreate")
    return str(made["job"]["id"])


async def downloaded(w: World, who: str, job_id: str) -> bytes:
    from urllib.parse import urlparse

    body = await w.gql(who, JOB_FILE, {"j": job_id})
    job = body["data"]["node"]
    assert job["status"] == "SUCCEEDED", job
    url = urlparse(job["file"]["downloadUrl"])
    response = await w.api.client.get(f"{url.path}?{url.query}")
    assert response.status_code == 200
    return response.content


async def test_an_export_of_a_report_has_the_querys_rows(world: World) -> None:
    import csv
    import io
    import json

    from openpyxl import load_workbook

    report = {"from": W0.isoformat(), "to": (W0 + timedelta(days=13)).isoformat(),
              "filter": {"missionId": world.ids["ma"]}, "groupBy": "STUDENT"}  # fmt: skip
    jobs = [
        ("m2", await queued(world, "m2", {"kind": "ATTENDANCE_REPORT", "format": "CSV",
                                          "report": report})),
        ("manager", await queued(world, "manager", {"kind": "ATTENDANCE_REPORT",
                                                    "format": "JSONL", "report": report})),
        ("manager", await queued(world, "manager", {
            "kind": "ATTENDANCE_REPORT", "format": "XLSX",
            "report": {**report, "groupBy": "WEEK"}})),
        ("manager", await queued(world, "manager", {
            "kind": "ENGAGEMENT_REPORT", "format": "CSV", "report": {"groupBy": "MONTH"}})),
    ]  # fmt: skip
    await world.api.run_jobs()
    text, jsonl, xlsx, platform = [await downloaded(world, who, job) for who, job in jobs]
    assert platform.decode().splitlines()[0].startswith("start,registrations,active_users")
    # A mentor's file holds their mentees' rows, as their query does.
    query = await attendance(world, "m2", "STUDENT", f={"missionId": world.ids["ma"]})
    lines = list(csv.DictReader(io.StringIO(text.decode())))
    assert [(r["student"], r["email"], int(r["present"]), int(r["possible"])) for r in lines] == [
        (q["label"], q["email"], q["present"], q["possible"]) for q in query["rows"]]  # fmt: skip
    assert len(lines) == 1
    rows = [json.loads(line) for line in jsonl.splitlines()]
    everyone = await attendance(world, "manager", "STUDENT", f={"missionId": world.ids["ma"]})
    assert [(r["email"], r["rate"]) for r in rows] == [
        (q["email"], q["rate"]) for q in everyone["rows"]]  # fmt: skip
    book = load_workbook(io.BytesIO(xlsx))
    assert any(sheet._charts for sheet in book.worksheets)  # a native line chart
    # The export refuses what the query refuses, and changes nothing.
    outside = {"kind": "ATTENDANCE_REPORT", "format": "CSV",
               "report": {**report, "filter": {"missionId": world.ids["mb"]}}}  # fmt: skip
    body = await world.gql("m1", EXPORT, {"i": outside})
    [error] = body["data"]["exportCreate"]["userErrors"]
    assert error["code"] == "NOT_FOUND" and body["data"]["exportCreate"]["job"] is None
    body = await world.gql("s1", EXPORT, {"i": {"kind": "MENTORS_REPORT", "format": "CSV"}})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


STATEMENTS = [
    (ATTENDANCE, {"g": "STUDENT"}),
    (ATTENDANCE, {"g": "WEEKDAY"}),
    (SUBMISSIONS, {"g": "STUDENT"}),
    (NOTICES, {"g": "MISSION"}),
    (MENTORS, {}),
]


async def test_statement_counts_do_not_grow_with_the_students(api: Api) -> None:
    w = await make_world(api, students=9)
    few, many = [f"s{i}" for i in range(1, 4)], [f"s{i}" for i in range(4, 10)]

    async def counts() -> list[int]:
        found = []
        for query, variables in STATEMENTS:
            n, body = await api.sql_count(query, {"from": W0.isoformat(), **variables},
                                          token=w.tokens["manager"])  # fmt: skip
            assert "errors" not in body, body
            found.append(n)
        return found

    await w.enrol("ma", *few)
    await w.mentor("m1", "ma", *few)
    await w.plant("ma", {s: span(W0, 5) for s in few})
    before = await counts()
    await w.enrol("ma", *many)
    await w.mentor("m2", "ma", *many)
    await w.plant("ma", {s: span(W0, 5) for s in many})
    assert await counts() == before


async def test_a_role_scoped_to_a_batch_reads_that_batch_only(world: World) -> None:
    """`analytics:read` held within one batch (a custom role's grant): its missions only, a
    mission elsewhere NOT_FOUND, small groups not broken down (it does not see students)."""
    from alumnet.domain.analytics import reports
    from alumnet.domain.analytics.common import DateRange
    from alumnet.domain.analytics.reports.scope import check
    from alumnet.domain.errors import DomainError
    from alumnet.domain.identity.permissions import Grant, Permission, Viewer

    made = await ok(world.api, world.tokens["admin"], BATCH, {"i": {
        "name": "Batch Two", "code": "B2", "startsOn": (W0 - timedelta(weeks=10)).isoformat(),
        "endsOn": (TODAY + timedelta(days=60)).isoformat()}}, "batchCreate")  # fmt: skip
    world.ids["b2"] = made["batch"]["id"]
    await world.mission("mc", "b2", W0 - timedelta(weeks=6), TODAY + timedelta(days=30))
    grant = Grant(
        assignment_id=1,
        role_id=1,
        role_name="Batch two figures",
        permissions=frozenset({Permission.ANALYTICS_READ}),
        batch_id=pk(world.ids["b2"]),
    )
    viewer = Viewer(user_id=pk(world.ids["student"]), grants=(grant,))
    runtime = world.api.app.state.runtime
    period = DateRange(W0, W0 + timedelta(days=13))

    async def read(filters: dict[str, Any]) -> Any:
        checked = check("attendance", filters)
        return await reports.read(runtime, runtime.database, viewer, "attendance", period, checked)

    everything = await read({})
    assert [r.object_id for r in everything.rows] == [pk(world.ids["mc"])]
    with pytest.raises(DomainError) as refusal:
        await read({"mission_id": pk(world.ids["ma"])})
    assert refusal.value.problems[0].code == "NOT_FOUND"
    with pytest.raises(DomainError):
        await read({"batch_id": pk(world.ids["b1"])})
    with pytest.raises(DomainError) as refusal:
        await read({"group_by": "student"})
    assert refusal.value.problems[0].code == "FORBIDDEN"


# -- what a figures-only reader can never work out, and days that are not over --------------


async def test_totals_leave_out_the_missions_withheld_from_a_figures_reader(world: World) -> None:
    """MB (one student) is withheld from the reader: no total, week, weekday or batch figure
    includes it, so a total less the rows shown never gives MB's figures; the same for
    work and notices, where small groups are judged on distinct students."""
    w = world
    await figures_reader(w)
    await w.plant("mb", {"student": [TODAY - timedelta(days=2)]})
    batch = {"batchId": w.ids["b1"]}
    since = W0.isoformat()
    report = await attendance(w, "reader", f=batch, **{"from": since, "to": TODAY.isoformat()})
    ma, mb = report["rows"]
    assert mb["withheld"] and not ma["withheld"]
    assert (report["present"], report["possible"]) == (ma["present"], ma["possible"])
    assert sum(wk["present"] for wk in report["weeks"]) == ma["present"]
    assert any("left out" in n for n in report["notes"])
    for group in ("BATCH", "WEEKDAY"):
        rows = (await attendance(w, "reader", group, f=batch, **{"from": since}))["rows"]
        assert sum(r["present"] or 0 for r in rows) == ma["present"], group
    # A manager sees MB, and its day counts.
    manager = await attendance(w, "manager", f=batch, **{"from": since, "to": TODAY.isoformat()})
    assert manager["present"] == ma["present"] + 1
    # Work: MB's hand-in is in no total for the reader.
    await with_work(w)
    made = await ok(
        w.api,
        w.tokens["manager"],
        CREATE_ASSIGNMENT,
        {
            "i": {
                "missionId": w.ids["mb"],
                "title": "B1",
                "dueAt": moment(TODAY - timedelta(days=1)),
                "opensAt": moment(TODAY - timedelta(days=8)),
                "maxPoints": 10,
            }
        },
        "assignmentCreate",
    )
    await ok(
        w.api,
        w.tokens["manager"],
        RECORD,
        {
            "i": {
                "assignmentId": made["assignment"]["id"],
                "emails": "student@example.org",
                "submittedAt": moment(TODAY - timedelta(days=2), 10),
            }
        },
        "submissionBulkRecord",
    )
    work = await submissions(w, "reader", "MISSION", f=batch, to=TODAY.isoformat())
    ma_work, mb_work = work["rows"]
    assert mb_work["withheld"]
    assert (work["expected"], work["onTime"], work["late"]) == (
        ma_work["expected"], ma_work["onTime"], ma_work["late"])  # fmt: skip
    assert work["grades"]["count"] == ma_work["grades"]["count"]
    # Notices: five to MB reach one student five times: still one student, withheld.
    for i in range(5):
        await ok(
            w.api,
            w.tokens["manager"],
            POST,
            {"i": {"missionId": w.ids["mb"], "title": f"N{i}", "body": "Read it."}},
            "noticePost",
        )
    await ok(
        w.api,
        w.tokens["manager"],
        POST,
        {"i": {"batchId": w.ids["b1"], "title": "All", "body": "Read it."}},
        "noticePost",
    )
    notices = (await w.gql("reader", NOTICES, {"g": "MISSION"}))["data"]["noticesReport"]
    ma_n, mb_n = notices["rows"]
    assert mb_n["withheld"] and mb_n["targeted"] is None
    assert (notices["targeted"], notices["acknowledged"]) == (
        ma_n["targeted"],
        ma_n["acknowledged"],
    )
    by_notice = (await w.gql("reader", NOTICES, {"g": "NOTICE"}))["data"]["noticesReport"]
    [to_batch] = [r for r in by_notice["rows"] if r["label"] == "All"]
    assert to_batch["targeted"] == 6  # MA's six: MB's student left out
    everyone = (await w.gql("manager", NOTICES, {"g": "MISSION"}))["data"]["noticesReport"]
    assert not everyone["rows"][1]["withheld"] and everyone["targeted"] == ma_n["targeted"] + 6


async def test_possible_days_end_yesterday_in_the_missions_time_zone(api: Api) -> None:
    """Ten students present every day up to yesterday (in the mission's zone, twelve hours
    behind UTC): today, not over, is no possible day, and no week is an anomaly."""
    from zoneinfo import ZoneInfo

    from alumnet.persistence.models import EngagementRules

    w = await make_world(api, students=10)
    students = [f"s{i}" for i in range(1, 11)]
    await w.enrol("ma", *students)
    zone = "Etc/GMT+12"
    async with api.app.state.runtime.database.connect() as conn:
        await conn.execute(insert(EngagementRules).values(mission_id=pk(w.ids["ma"]),
                                                          time_zone=zone))  # fmt: skip
        await conn.commit()
    yesterday = datetime.now(ZoneInfo(zone)).date() - timedelta(days=1)
    first = TODAY - timedelta(days=34)
    days = span(first, (yesterday - first).days + 1)
    await w.plant("ma", dict.fromkeys(students, days))
    since = TODAY - timedelta(days=20)
    report = await attendance(w, "manager", **{"from": since.isoformat(), "to": TODAY.isoformat()})
    assert report["possible"] == 10 * ((yesterday - since).days + 1)
    assert report["rate"] == 1.0
    assert report["anomalies"] == []


async def test_work_handed_in_ahead_counts_once_it_is_due(world: World) -> None:
    """Everyone hands in A4 (due in three days) early: it is pending, with no rate, and
    neither lifts the rates nor hides S6's missing work."""
    w = world
    await with_work(w)
    before = await submissions(w, "manager", f={"missionId": w.ids["ma"]},
                               to=TODAY.isoformat())  # fmt: skip
    a4 = await assignment(w, "A4", TODAY + timedelta(days=3), 10)
    await hand_in(w, a4, TODAY - timedelta(days=1), *(f"s{i}" for i in range(1, 7)))
    until = (TODAY + timedelta(days=5)).isoformat()
    report = await submissions(w, "manager", f={"missionId": w.ids["ma"]}, to=until)
    assert (report["onTimeRate"], report["submissionRate"]) == (
        before["onTimeRate"], before["submissionRate"])  # fmt: skip
    assert (report["onTime"], report["missing"], report["pending"]) == (
        before["onTime"], before["missing"], 6)  # fmt: skip
    [row] = [r for r in report["rows"] if r["nodeId"] == a4]
    assert (row["onTimeRate"], row["pending"], row["onTime"]) == (None, 6, 0)
    students = await submissions(w, "manager", "STUDENT", f={"missionId": w.ids["ma"]}, to=until)
    s6 = next(r for r in students["rows"] if r["label"] == "S6 Person")
    assert (s6["missing"], s6["onTime"], s6["pending"], s6["onTimeRate"]) == (2, 0, 1, 0.0)


def test_retention_cohorts_are_whole_months() -> None:
    from alumnet.domain.analytics.common import DateRange
    from alumnet.domain.analytics.reports.engagement import months_around

    assert months_around(DateRange(date(2026, 3, 15), date(2026, 5, 2))) == DateRange(
        date(2026, 3, 1), date(2026, 5, 31))  # fmt: skip
    assert months_around(DateRange(date(2024, 2, 1), date(2024, 2, 29))) == DateRange(
        date(2024, 2, 1), date(2024, 2, 29))  # fmt: skip


async def test_moving_from_by_a_day_does_not_change_retention(world: World) -> None:
    """Five people joined on the first of last month: a range from its second day still
    counts them in that month's cohort (whole months), so nobody's activity can be told
    apart by moving `from`."""
    from sqlalchemy import update

    from alumnet.persistence.models import User

    first = (TODAY.replace(day=1) - timedelta(days=1)).replace(day=1)
    joined = datetime.combine(first, time.min, UTC)
    async with world.api.app.state.runtime.database.connect() as conn:
        await conn.execute(
            update(User)
            .where(User.id.in_([pk(world.ids[f"s{i}"]) for i in range(1, 6)]))
            .values(created_at=joined)
        )
        await conn.commit()
    query = """query($from: Date) { engagementReport(from: $from, interval: MONTH) {
      retention { month joined active withheld } } }"""
    found = []
    for since in (first, first + timedelta(days=1)):
        body = await world.gql("manager", query, {"from": since.isoformat()})
        assert "errors" not in body, body
        found.append(body["data"]["engagementReport"]["retention"])
    assert found[0] == found[1]
    assert found[0][0]["month"] == first.isoformat() and found[0][0]["joined"] == 5


async def test_rows_per_student_are_refused_to_a_figures_reader_everywhere(world: World) -> None:
    """An export asks what the query asks: a reader who may not see students gets no
    rows per student, and no job."""
    await figures_reader(world)
    for kind in ("ATTENDANCE_REPORT", "SUBMISSIONS_REPORT"):
        body = await world.gql(
            "reader",
            EXPORT,
            {"i": {"kind": kind, "format": "CSV", "report": {"groupBy": "STUDENT"}}},
        )
        payload = body["data"]["exportCreate"]
        assert payload["job"] is None
        [error] = payload["userErrors"]
        assert error["field"][-1] == "groupBy" and "one by one" in error["message"]
    await queued(world, "reader", {"kind": "ATTENDANCE_REPORT", "format": "CSV",
                                   "report": {"groupBy": "WEEK"}})  # fmt: skip


def test_programme_reports_do_not_depend_on_users() -> None:
    """Names are read after the cache: a sign-in (it writes ``users``) drops no report
    but platform engagement's, which counts registrations."""
    from alumnet.domain.analytics.reports import DEPENDS_ON

    assert [r for r, tables in DEPENDS_ON.items() if "users" in tables] == ["engagement"]
