"""The role dashboards (`dashboard`): each section with data built through the API,
checked against figures worked out by hand; who gets which section; what a mentor's
figures leave out; bad ranges; statements flat in the number of missions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from strawberry.relay import to_base64

from tests.cohorts.conftest import ASSIGN, BATCH, ENROLL, MISSION, Programme
from tests.conftest import Api
from tests.engagement.conftest import ok
from tests.engagement.test_submissions import CREATE as ASSIGNMENT
from tests.engagement.test_submissions import SUBMIT as HAND_IN
from tests.events.conftest import CREATE as EVENT
from tests.events.conftest import PUBLISH, REGISTER
from tests.integrity.test_integrity import APPEAL, DECIDE
from tests.integrity.test_outreach import GENERATE, LOG, REFRESH

CORRECT = """mutation($i: AttendanceCorrectInput!) { attendanceCorrect(input: $i) {
  created userErrors { field code message } } }"""
POST = """mutation($i: NoticePostInput!) { noticePost(input: $i) {
  notice { id } userErrors { field code message } } }"""
ACK = """mutation($i: NoticeAcknowledgeInput!) { noticeAcknowledge(input: $i) {
  created userErrors { field code message } } }"""
OPEN = """mutation($i: TicketOpenInput!) { ticketOpen(input: $i) {
  ticket { id } userErrors { field code message } } }"""
REPLY = """mutation($t: ID!, $b: String!) { ticketReply(input: {ticketId: $t, body: $b}) {
  ticket { status } userErrors { field code message } } }"""
JOB_POSTING = """mutation($i: JobPostingCreateInput!) { jobPostingCreate(input: $i) {
  jobPosting { id status } userErrors { field code message } } }"""

SECTIONS = "{ dashboard { sections } }"
ADMIN = """query($from: Date, $to: Date) { dashboard { admin(from: $from, to: $to) {
  range { from to days }
  usersByRole { label count } usersByStatus { label count }
  activityByDay { date activeUsers signIns } activityByWeek { date activeUsers signIns }
  jobsFailed { total byName { label count } recent { id name status } }
  imports { byStatus { label count } recent { id } }
  storage { files bytes byKind { kind files bytes } } } } }"""
MANAGER = """query($from: Date, $to: Date, $m: ID, $b: ID, $first: Int! = 20,
    $interval: DashboardInterval! = DAY) {
  dashboard { manager(from: $from, to: $to, missionId: $m, batchId: $b, first: $first,
      interval: $interval, loadOver: 1) {
    range { from to days } interval missionCount
    missions { code title status students banned delisted unmentored attendanceRate
      attendanceTrend { label date value } assignmentsDue submissionsHandedIn
      submissionsLate submissionRate
      points { count mean lowest p25 median p75 highest }
      atRisk openAppeals notices acknowledgementRate mentors studentsPerMentor withheld
      mission { id code } }
    batches { code name missions students attendanceRate submissionRate
      acknowledgementRate atRisk banned openAppeals batch { id } }
    attendanceTrend { label date value } atRiskByMission { label value }
    acknowledgementByMission { label value } mentorLoad { label value }
    loadOver mentorsOverLoad } } }"""
MENTOR = """{ dashboard { mentor(first: 10) {
  menteeCount
  mentees { studentName missionCode status
    standing { points rank attendanceRate daysPresent daysElapsed missingWork }
    streak { presentDays absentDays lastPresentOn } enrollment { id } }
  missions { code mentees students mission { id }
    menteesAverage { students points attendanceRate }
    missionAverage { students points attendanceRate } }
  missingWorkCount missingWork { title studentName missionCode assignment { id }
    enrollment { id } }
  unansweredTicketCount oldestUnansweredAt unansweredTickets { id subject } } } }"""
SRE = """query($from: Date, $to: Date) { dashboard { sre(from: $from, to: $to, first: 3) {
  range { days } atRiskCount
  atRisk { attendancePercent missedSubmissions score enrollment { id } }
  atRiskByMission { label value }
  calls { total yours byOutcome { outcome count yours } byDay { date value } }
  followUps { overdue dueToday yoursOverdue yoursDueToday yours { id dueOn } }
  tickets { slaHours opened replied awaitingFirstReply openNow withinSla outsideSla
    withinSlaRate medianFirstReplySeconds openByAge { label count } } } } }"""
STUDENT = """{ dashboard { student {
  missions { code title status students enrollment { id }
    standing { points rank attendanceRate daysPresent daysElapsed missingWork }
    streak { presentDays absentDays lastPresentOn } }
  dueWork { title dueAt revision overdue assignment { id } } } } }"""
ALUMNUS = """{ dashboard { alumnus {
  events { upcomingConfirmed upcomingWaitlisted attended missed upcoming { id title } }
  jobs { postings { label count } applicationsReceived { label count }
    applications { label count } }
  mentorship { asMentor { requests pending accepted active completed sessions rating }
    asMentee { active completed pending sessions } upcomingSessions } } } }"""

TODAY = datetime.now(UTC).date()


def day(delta: int) -> str:
    return (TODAY + timedelta(days=delta)).isoformat()


def moment(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def data(p: Programme, who: str, query: str, **variables: Any) -> Any:
    body = await p.gql(who, query, variables)
    assert "errors" not in body, body
    return body["data"]["dashboard"]


PEOPLE = [
    ("admin", ["ADMIN"]),
    ("manager", ["MANAGER"]),
    ("sre", ["SRE"]),
    ("m1", ["MENTOR"]),
    ("m2", ["MENTOR"]),
    ("alumnus", ["ALUMNUS"]),
    ("both", ["MENTOR", "ALUMNUS"]),
    *((f"s{i}", ["STUDENT"]) for i in range(1, 11)),
]
# Days present (relative to today) in mission A, recorded by the manager; s4 is marked
# present two days ago and then absent (the row stays, absent).
PRESENT = {
    "s1": [-2, -1, 0],
    "s2": [-5],
    "s3": [-6, -5, -4, -3, -2, -1, 0],
    "s4": [],
    "s5": [-10],
    "s6": [0],
    "s7": [-3],
}


@pytest.fixture
async def world(api: Api) -> Programme:
    """Batch B1 (today ± 60 days) with missions A (s1 to s7; m1 mentors s1 and s2) and B (s1,
    s8, s9, s10; m1 mentors s1, m2 mentors s8; s10 banned and appealing), both running
    from 13 days ago; attendance in A; an assignment due an hour ago in A, handed in late
    by s1 and s3; a notice to A (acknowledged by s1, s2, s3) and one to the batch
    (acknowledged by s1 and s8); the at-risk list of A; three calls; tickets."""
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    for who, roles in PEOPLE:
        ids[who], tokens[who] = await api.create_user(
            f"{who}@example.org", roles, name=f"{who.upper()} Person"
        )
    p = Programme(api=api, tokens=tokens, ids=ids)
    batch = {"name": "Batch 1", "code": "B1", "startsOn": day(-60), "endsOn": day(60)}
    ids["b1"] = (await ok(p, "admin", BATCH, {"i": batch}, "batchCreate"))["batch"]["id"]
    for key, code in (("ma", "B1-A"), ("mb", "B1-B")):
        mission = {
            "batchId": ids["b1"],
            "title": f"Mission {code}",
            "code": code,
            "status": "ACTIVE",
            "startsOn": day(-13),
            "endsOn": day(30),
        }
        ids[key] = (await ok(p, "admin", MISSION, {"i": mission}, "missionCreate"))["mission"]["id"]
    placed = [(f"s{i}", "ma") for i in range(1, 8)] + [(s, "mb") for s in ("s1", "s8", "s9", "s10")]
    for student, mission in placed:
        enrolled = await ok(
            p, "admin", ENROLL, {"m": ids[mission], "s": ids[student]}, "enrollmentCreate"
        )
        ids[f"e_{student}_{mission}"] = enrolled["enrollment"]["id"]
    for mentor, student, mission in (
        ("m1", "s1", "ma"),
        ("m1", "s2", "ma"),
        ("m1", "s1", "mb"),
        ("m2", "s8", "mb"),
    ):
        await ok(
            p,
            "admin",
            ASSIGN,
            {"m": ids[mission], "s": ids[student], "t": ids[mentor]},
            "mentorAssign",
        )
    for student, days in PRESENT.items():
        for delta in days:
            await correct(p, ids[f"e_{student}_ma"], delta, True)
    await correct(p, ids["e_s4_ma"], -2, True)
    await correct(p, ids["e_s4_ma"], -2, False)
    work = {
        "missionId": ids["ma"],
        "title": "Essay",
        "opensAt": moment(days=-5),
        "dueAt": moment(hours=-1),
        "maxPoints": 10,
    }
    ids["essay"] = (await ok(p, "manager", ASSIGNMENT, {"i": work}, "assignmentCreate"))[
        "assignment"
    ]["id"]
    for student in ("s1", "s3"):
        await ok(p, student, HAND_IN, {"i": {"assignmentId": ids["essay"]}}, "submissionCreate")
    upcoming = {**work, "title": "Report", "opensAt": moment(days=-1), "dueAt": moment(days=2)}
    ids["report"] = (await ok(p, "manager", ASSIGNMENT, {"i": upcoming}, "assignmentCreate"))[
        "assignment"
    ]["id"]
    notice = {"missionId": ids["ma"], "title": "Read me", "body": "Please."}
    ids["notice_a"] = (await ok(p, "manager", POST, {"i": notice}, "noticePost"))["notice"]["id"]
    notice = {"batchId": ids["b1"], "title": "All of B1", "body": "Please."}
    ids["notice_b"] = (await ok(p, "manager", POST, {"i": notice}, "noticePost"))["notice"]["id"]
    for student, notice_key in (
        ("s1", "notice_a"),
        ("s2", "notice_a"),
        ("s3", "notice_a"),
        ("s1", "notice_b"),
        ("s8", "notice_b"),
    ):
        await ok(p, student, ACK, {"i": {"noticeId": ids[notice_key]}}, "noticeAcknowledge")
    ban = {
        "enrollmentId": ids["e_s10_mb"],
        "kind": "BAN",
        "reason": "Copied work.",
        "banEndsOn": day(20),
    }
    decision = (await ok(p, "manager", DECIDE, {"i": ban}, "integrityDecide"))["decision"]
    await ok(
        p,
        "s10",
        APPEAL,
        {"i": {"decisionId": decision["id"], "statement": "I did not."}},
        "appealSubmit",
    )
    await ok(p, "sre", REFRESH, {"m": ids["ma"]}, "atRiskRefresh")
    await api.run_jobs()
    listed = await ok(
        p, "sre", GENERATE, {"i": {"missionId": ids["ma"], "limit": 10}}, "callListGenerate"
    )
    ids["call_list"] = listed["callList"]["id"]
    for student, outcome, follow in (
        ("s4", "NO_ANSWER", None),
        ("s3", "PICKED_UP", None),
        ("s2", "RESCHEDULE", day(0)),
    ):
        call = {
            "callListId": ids["call_list"],
            "studentId": ids[student],
            "outcome": outcome,
            "followUpOn": follow,
        }
        await ok(p, "sre", LOG, {"i": call}, "callLogRecord")
    for student, queue, mentor in (
        ("s1", "MENTOR", "m1"),
        ("s2", "MENTOR", "m1"),
        ("s3", "SRE", None),
        ("s4", "SRE", None),
    ):
        ticket = {
            "queue": queue,
            "mentorId": ids[mentor] if mentor else None,
            "subject": f"Help {student}",
            "body": "A question.",
        }
        ids[f"t_{student}"] = (await ok(p, student, OPEN, {"i": ticket}, "ticketOpen"))["ticket"][
            "id"
        ]
    await ok(p, "m1", REPLY, {"t": ids["t_s2"], "b": "An answer."}, "ticketReply")
    await ok(p, "sre", REPLY, {"t": ids["t_s3"], "b": "An answer."}, "ticketReply")
    return p


async def correct(p: Programme, enrollment: str, delta: int, present: bool) -> None:
    given = {
        "enrollmentId": enrollment,
        "day": day(delta),
        "present": present,
        "reason": "Recorded by hand.",
    }
    await ok(p, "manager", CORRECT, {"i": given}, "attendanceCorrect")


async def test_each_role_gets_its_own_sections(world: Programme) -> None:
    p = world
    expected = {
        "admin": ["ADMIN"],
        "manager": ["MANAGER"],
        "sre": ["SRE"],
        "m1": ["MENTOR"],
        "alumnus": ["ALUMNUS"],
        "both": ["MENTOR", "ALUMNUS"],
        "s1": ["STUDENT"],
    }
    everything = """{ dashboard { sections admin { range { days } } manager { missionCount }
      mentor { menteeCount } sre { atRiskCount } student { dueWork { title } }
      alumnus { events { attended } } } }"""
    for who, sections in expected.items():
        got = await data(p, who, everything)
        assert got["sections"] == sections, who
        for section in ("admin", "manager", "mentor", "sre", "student", "alumnus"):
            present = got[section] is not None
            assert present == (section.upper() in sections), (who, section)
    anonymous = await p.api.gql(SECTIONS)
    assert anonymous["data"]["dashboard"] is None
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def present_on(delta: int, students: list[str]) -> int:
    return sum(1 for s in students if delta in PRESENT[s])


MISSION_A = [f"s{i}" for i in range(1, 8)]


async def test_manager_and_admin_sections(world: Programme) -> None:
    p = world
    week = {"from": day(-6), "to": day(0)}
    manager = (await data(p, "manager", MANAGER, **week))["manager"]
    assert manager["range"] == {"from": day(-6), "to": day(0), "days": 7}
    assert manager["missionCount"] == 2
    a, b = manager["missions"]
    assert (a["code"], a["mission"]["id"], b["code"]) == ("B1-A", p.ids["ma"], "B1-B")
    # Attendance in A over the week's days through yesterday (today is not over, the
    # mission keeps UTC): 2 + 1 + 6 + 0 + 0 (s5's day is before it) + 0 + 1 days present,
    # of 7 students x 6 days (s4's corrected day does not count).
    assert sum(present_on(d, MISSION_A) for d in range(-6, 0)) == 10
    assert a["attendanceRate"] == round(10 / 42, 4)
    assert [t["value"] for t in a["attendanceTrend"]] == [
        round(present_on(d, MISSION_A) / 7, 4) for d in range(-6, 0)
    ]
    assert a["attendanceTrend"][0] == {"label": day(-6), "date": day(-6), "value": round(1 / 7, 4)}
    # One assignment due (an hour ago), handed in late by s1 and s3, of 7 students.
    assert (a["assignmentsDue"], a["submissionsHandedIn"], a["submissionsLate"]) == (1, 2, 2)
    assert a["submissionRate"] == round(2 / 7, 4)
    # Points: a point a day present, and 5 for late work (half of 10): s1 3+5, s2 1, s3
    # 7+5, s4 0, s5 1, s6 1, s7 1 → 0 1 1 1 1 8 12.
    assert a["points"] == {
        "count": 7,
        "mean": round(24 / 7, 2),
        "lowest": 0,
        "p25": 1,
        "median": 1,
        "p75": 8,
        "highest": 12,
    }
    assert (a["students"], a["banned"], a["delisted"], a["unmentored"]) == (7, 0, 0, 5)
    assert (a["atRisk"], a["openAppeals"], a["mentors"], a["studentsPerMentor"]) == (7, 0, 1, 7)
    # Notices to A and to its batch: 3 + 1 acknowledgements by A's students, of 2 x 7.
    assert (a["notices"], a["acknowledgementRate"]) == (2, round(4 / 14, 4))
    assert a["withheld"] is False
    # B: s1, s8, s9 active; s10 banned and appealing; the batch notice acknowledged by 2 of 3.
    assert (b["students"], b["banned"], b["openAppeals"], b["unmentored"]) == (3, 1, 1, 1)
    assert (b["attendanceRate"], b["submissionRate"], b["notices"]) == (0.0, None, 1)
    assert b["acknowledgementRate"] == round(2 / 3, 4)
    assert b["points"]["count"] == 3 and b["mentors"] == 2
    [batch] = manager["batches"]
    assert (batch["code"], batch["batch"]["id"], batch["missions"]) == ("B1", p.ids["b1"], 2)
    assert batch["students"] == 10 and batch["attendanceRate"] == round(10 / (42 + 18), 4)
    assert batch["acknowledgementRate"] == round(6 / 17, 4)
    assert (batch["atRisk"], batch["banned"], batch["openAppeals"]) == (7, 1, 1)
    assert [t["value"] for t in manager["attendanceTrend"]] == [
        round(present_on(d, MISSION_A) / 10, 4) for d in range(-6, 0)
    ]
    assert manager["attendanceTrend"][-1]["date"] == day(-1)
    assert manager["atRiskByMission"] == [
        {"label": "B1-A", "value": 7},
        {"label": "B1-B", "value": 0},
    ]
    assert manager["acknowledgementByMission"] == [
        {"label": "B1-A", "value": round(4 / 14, 4)},
        {"label": "B1-B", "value": round(2 / 3, 4)},
    ]
    # m1 mentors s1 and s2 in A and s1 in B; m2 mentors s8 in B.
    assert manager["mentorLoad"] == [
        {"label": "M1 Person", "value": 3},
        {"label": "M2 Person", "value": 1},
    ]
    assert (manager["loadOver"], manager["mentorsOverLoad"]) == (1, 1)

    weekly = await data(p, "manager", MANAGER, interval="WEEK", m=p.ids["ma"], **week)
    [only] = weekly["manager"]["missions"]
    by_week: dict[str, list[int]] = {}
    for d in range(-6, 0):
        monday = TODAY + timedelta(days=d) - timedelta(days=(TODAY + timedelta(days=d)).weekday())
        by_week.setdefault(monday.isoformat(), [0, 0])
        by_week[monday.isoformat()][0] += present_on(d, MISSION_A)
        by_week[monday.isoformat()][1] += 7
    assert {t["date"]: t["value"] for t in only["attendanceTrend"]} == {
        k: round(n / possible, 4) for k, (n, possible) in by_week.items()
    }
    assert weekly["manager"]["missionCount"] == 1

    admin = (await data(p, "admin", ADMIN, **week))["admin"]
    roles = {r["label"]: r["count"] for r in admin["usersByRole"]}
    assert roles == {"ADMIN": 1, "MANAGER": 1, "SRE": 1, "MENTOR": 3, "ALUMNUS": 2, "STUDENT": 10}
    assert admin["usersByStatus"] == [{"label": "active", "count": len(PEOPLE)}]
    # Everyone signed in once today (create_user), and nobody before.
    assert [a["signIns"] for a in admin["activityByDay"]] == [0] * 6 + [len(PEOPLE)]
    assert admin["activityByDay"][-1] == {
        "date": day(0),
        "activeUsers": len(PEOPLE),
        "signIns": len(PEOPLE),
    }
    assert sum(a["signIns"] for a in admin["activityByWeek"]) == len(PEOPLE)
    assert admin["jobsFailed"] == {"total": 0, "byName": [], "recent": []}
    assert admin["storage"] == {"files": 0, "bytes": 0, "byKind": []}
    # Nobody but an ADMIN, and a MANAGER (or analytics:read), gets those sections.
    for who in ("sre", "m1", "s1", "alumnus"):
        got = await data(
            p, who, "{ dashboard { admin { range { days } } manager { missionCount } } }"
        )
        assert got == {"admin": None, "manager": None}, who


async def test_a_failed_job_and_stored_files_reach_the_admin(api: Api) -> None:
    from alumnet.persistence.models import Job, StoredFile

    _, token = await api.create_user("admin@example.org", ["ADMIN"])
    now = datetime.now(UTC)
    async with api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            insert(Job),
            [
                {
                    "name": "email.send",
                    "status": "failed",
                    "args": {},
                    "created_at": now,
                    "finished_at": now,
                    "last_error": "SMTP down",
                },
                {"name": "email.send", "status": "succeeded", "args": {}, "created_at": now},
            ],
        )
        await uow.session.execute(
            insert(StoredFile),
            [
                {
                    "name": "a.csv",
                    "content_type": "text/csv",
                    "size": 3_000_000_000,
                    "created_at": now,
                    "expires_at": now + timedelta(days=2),
                },
                {
                    "name": "b.bin",
                    "content_type": "application/octet-stream",
                    "size": 10,
                    "created_at": now,
                },
            ],
        )
        failed = (await uow.session.execute(select(Job.id).where(Job.status == "failed"))).scalar()
    body = await api.gql(ADMIN, token=token)
    admin = body["data"]["dashboard"]["admin"]
    assert admin["jobsFailed"]["total"] == 1
    assert admin["jobsFailed"]["byName"] == [{"label": "email.send", "count": 1}]
    assert [j["status"] for j in admin["jobsFailed"]["recent"]] == ["FAILED"]
    assert admin["jobsFailed"]["recent"][0]["id"] == to_base64("Job", failed)
    assert admin["storage"] == {
        "files": 2,
        "bytes": 3_000_000_010,
        "byKind": [
            {"kind": "export", "files": 1, "bytes": 3_000_000_000},
            {"kind": "other", "files": 1, "bytes": 10},
        ],
    }


async def test_mentor_and_student_sections(world: Programme) -> None:
    p = world
    body = await p.gql("m1", MENTOR)
    assert "errors" not in body, body
    mentor = body["data"]["dashboard"]["mentor"]
    # Only m1's mentees, by name anywhere in the answer.
    named = {f"S{i} Person" for i in range(1, 11)} - {"S1 Person", "S2 Person"}
    assert not [n for n in named if n in str(body)]
    assert mentor["menteeCount"] == 3
    lines = [(m["studentName"], m["missionCode"]) for m in mentor["mentees"]]
    assert lines == [("S1 Person", "B1-A"), ("S2 Person", "B1-A"), ("S1 Person", "B1-B")]
    s1, s2, s1b = mentor["mentees"]
    assert s1["enrollment"]["id"] == p.ids["e_s1_ma"]
    # 14 days of the mission so far; s1 has 8 points (second to s3's 12), s2 1 point (tied
    # third with s5, s6 and s7).
    assert s1["standing"] == {
        "points": 8,
        "rank": 2,
        "attendanceRate": round(3 / 14, 4),
        "daysPresent": 3,
        "daysElapsed": 14,
        "missingWork": 0,
    }
    assert s2["standing"]["rank"] == 3 and s2["standing"]["missingWork"] == 1
    assert s1["streak"] == {"presentDays": 3, "absentDays": 0, "lastPresentOn": day(0)}
    # s2 came five days ago only: absent the four whole days since (today is not over).
    assert s2["streak"] == {"presentDays": 0, "absentDays": 4, "lastPresentOn": day(-5)}
    assert s1b["streak"]["lastPresentOn"] is None
    a, b = mentor["missions"]
    assert (a["code"], a["mentees"], a["students"], a["mission"]["id"]) == (
        "B1-A",
        2,
        7,
        p.ids["ma"],
    )
    # Days present through yesterday (s5's too; today is not over): 2 + 1 + 6 + 1 + 0 + 1,
    # over 7 students x 13 days.
    assert a["menteesAverage"] == {"students": 2, "points": 4.5, "attendanceRate": round(3 / 26, 4)}
    assert a["missionAverage"] == {
        "students": 7,
        "points": round(24 / 7, 4),
        "attendanceRate": round(11 / 91, 4),
    }
    # B: besides m1's mentee s1, only s8 and s9: too few to average without them.
    assert (b["code"], b["mentees"], b["students"], b["missionAverage"]) == ("B1-B", 1, 3, None)
    # The essay is missing for s2, s4, s5, s6 and s7: m1 sees s2's only.
    assert mentor["missingWorkCount"] == 1
    assert mentor["missingWork"] == [
        {
            "title": "Essay",
            "studentName": "S2 Person",
            "missionCode": "B1-A",
            "assignment": {"id": p.ids["essay"]},
            "enrollment": {"id": p.ids["e_s2_ma"]},
        }
    ]
    # s1's ticket waits; s2's was answered.
    assert mentor["unansweredTicketCount"] == 1
    assert mentor["unansweredTickets"] == [{"id": p.ids["t_s1"], "subject": "Help s1"}]
    assert mentor["oldestUnansweredAt"] is not None

    student = (await data(p, "s2", STUDENT))["student"]
    [mission] = student["missions"]
    assert (mission["code"], mission["students"], mission["status"]) == ("B1-A", 7, "ACTIVE")
    assert mission["enrollment"]["id"] == p.ids["e_s2_ma"]
    assert mission["standing"]["points"] == 1 and mission["standing"]["missingWork"] == 1
    assert mission["streak"] == {"presentDays": 0, "absentDays": 4, "lastPresentOn": day(-5)}
    # Due: the essay (late work accepted) and the report, soonest deadline first.
    assert [(w["title"], w["overdue"], w["revision"]) for w in student["dueWork"]] == [
        ("Essay", True, False),
        ("Report", False, False),
    ]
    assert student["dueWork"][1]["assignment"]["id"] == p.ids["report"]
    s1_student = (await data(p, "s1", STUDENT))["student"]
    assert [m["code"] for m in s1_student["missions"]] == ["B1-A", "B1-B"]
    assert [w["title"] for w in s1_student["dueWork"]] == ["Report"]  # the essay is handed in
    assert s1_student["missions"][0]["standing"] == s1["standing"]


async def test_sre_and_alumnus_sections(world: Programme) -> None:
    p = world
    sre = (await data(p, "sre", SRE, **{"from": day(-6), "to": day(0)}))["sre"]
    assert sre["atRiskCount"] == 7
    scores = [r["score"] for r in sre["atRisk"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert sre["atRiskByMission"] == [{"label": "B1-A", "value": 7}]
    calls = sre["calls"]
    assert (calls["total"], calls["yours"]) == (3, 3)
    assert sorted((o["outcome"], o["count"]) for o in calls["byOutcome"]) == [
        ("NO_ANSWER", 1),
        ("PICKED_UP", 1),
        ("RESCHEDULE", 1),
    ]
    assert [c["value"] for c in calls["byDay"]] == [0] * 6 + [3]
    follow = sre["followUps"]
    assert (follow["overdue"], follow["dueToday"], follow["yoursDueToday"]) == (0, 1, 1)
    assert [f["dueOn"] for f in follow["yours"]] == [day(0)]
    tickets = sre["tickets"]
    # s3's ticket answered at once (within 24 hours), s4's waiting, inside its SLA still.
    assert (tickets["opened"], tickets["replied"], tickets["awaitingFirstReply"]) == (2, 1, 1)
    assert (tickets["withinSla"], tickets["outsideSla"], tickets["withinSlaRate"]) == (1, 0, 1.0)
    assert tickets["openByAge"][0] == {"label": "under 1 day", "count": 1}
    assert sum(a["count"] for a in tickets["openByAge"]) == 1

    start = datetime.now(UTC) + timedelta(days=7)
    event = {
        "title": "Reunion",
        "kind": "REUNION",
        "mode": "IN_PERSON",
        "startsAt": start.isoformat(),
        "endsAt": (start + timedelta(hours=3)).isoformat(),
        "timeZone": "UTC",
        "venue": "Great Hall",
        "city": "Accra",
    }
    made = (await ok(p, "manager", EVENT, {"i": event}, "eventCreate"))["event"]
    await ok(p, "manager", PUBLISH, {"i": {"id": made["id"]}}, "eventPublish")
    await ok(p, "alumnus", REGISTER, {"i": {"eventId": made["id"]}}, "eventRegister")
    posting = {
        "title": "Backend engineer",
        "company": "Kente Systems",
        "description": "APIs.",
        "kind": "FULL_TIME",
        "remote": "HYBRID",
        "audience": "BOTH",
    }
    await ok(p, "alumnus", JOB_POSTING, {"i": posting}, "jobPostingCreate")
    alumnus = (await data(p, "alumnus", ALUMNUS))["alumnus"]
    assert alumnus["events"] == {
        "upcomingConfirmed": 1,
        "upcomingWaitlisted": 0,
        "attended": 0,
        "missed": 0,
        "upcoming": [{"id": made["id"], "title": "Reunion"}],
    }
    assert alumnus["jobs"] == {
        "postings": [{"label": "pending", "count": 1}],
        "applicationsReceived": [],
        "applications": [],
    }
    assert alumnus["mentorship"]["asMentor"]["requests"] == 0
    assert alumnus["mentorship"]["upcomingSessions"] == 0


async def test_a_custom_role_narrows_the_manager_section(world: Programme) -> None:
    """`analytics:read` held within mission B only (a custom role) gives the manager
    section for B alone; without `cohorts:read` there, B's figures of three students are
    withheld."""
    from tests.identity.test_custom_roles import ASSIGN as ROLE_ASSIGN
    from tests.identity.test_custom_roles import ROLE as ROLE_CREATE

    p = world
    made = await ok(p, "admin", ROLE_CREATE,
                    {"i": {"name": "Analyst", "permissions": ["ANALYTICS_READ"]}},
                    "roleCreate")  # fmt: skip
    await ok(p, "admin", ROLE_ASSIGN,
             {"i": {"userId": p.ids["alumnus"], "roleId": made["role"]["id"],
                    "scope": {"missionId": p.ids["mb"]}}},
             "roleAssign")  # fmt: skip
    got = await data(p, "alumnus", MANAGER, **{"from": day(-6), "to": day(0)})
    assert got["manager"]["missionCount"] == 1
    [b] = got["manager"]["missions"]
    assert (b["code"], b["students"], b["banned"], b["openAppeals"]) == ("B1-B", 3, 1, 1)
    assert b["withheld"] is True
    assert (b["attendanceRate"], b["submissionRate"], b["points"]) == (None, None, None)
    assert b["acknowledgementRate"] is None
    assert {t["value"] for t in b["attendanceTrend"]} == {None}
    # Nor its raw counts (handed in ÷ (due x students) would give the rate back), its
    # batch's line or the trend of all missions.
    assert (b["submissionsHandedIn"], b["submissionsLate"], b["atRisk"]) == (None, None, None)
    assert got["manager"]["batches"] == []
    assert {t["value"] for t in got["manager"]["attendanceTrend"]} == {None}
    assert got["manager"]["atRiskByMission"] == [{"label": "B1-B", "value": None}]
    assert b["mission"] is None  # not a node the alumnus may see
    sections = await data(p, "alumnus", SECTIONS)
    assert sections["sections"] == ["MANAGER", "ALUMNUS"]
    # Mission A is outside the role's reach: a clear error, and nothing of it.
    refused = await p.gql("alumnus", MANAGER, {"m": p.ids["ma"]})
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "within your reach" in refused["errors"][0]["message"]
    assert refused["data"]["dashboard"]["manager"] is None


async def test_bad_arguments_are_clear_errors(world: Programme) -> None:
    p = world
    for who, query, variables, words in (
        ("manager", MANAGER, {"from": day(0), "to": day(-1)}, "`to` must be on or after"),
        ("admin", ADMIN, {"from": day(-2000), "to": day(0)}, "at most five years"),
        ("sre", SRE, {"from": day(1), "to": day(0)}, "`to` must be on or after"),
        ("manager", MANAGER, {"first": 101}, "`first` must be between 0 and 100"),
        ("manager", MANAGER, {"m": p.ids["b1"]}, "No such mission"),
        ("m1", "{ dashboard { mentor(first: -1) { menteeCount } } }", {}, "`first`"),
        ("sre", "{ dashboard { sre(slaHours: 0) { atRiskCount } } }", {}, "`slaHours`"),
        ("admin", "{ dashboard { admin(first: 201) { range { days } } } }", {}, "`first`"),
    ):
        body = await p.gql(who, query, variables)
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (query, body)
        assert words in error["message"], error
        assert body["data"]["dashboard"] is not None  # the rest of the dashboard stands


async def test_manager_statements_do_not_grow_with_missions(api: Api) -> None:
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    _, manager = await api.create_user("manager@example.org", ["MANAGER"])
    students = [await api.create_user(f"st{i}@example.org", ["STUDENT"]) for i in range(3)]
    mentor, _ = await api.create_user("mentor@example.org", ["MENTOR"])
    p = Programme(api=api, tokens={"admin": admin, "manager": manager}, ids={})
    batch = {"name": "Batch 1", "code": "B1", "startsOn": day(-60), "endsOn": day(60)}
    batch_id = (await ok(p, "admin", BATCH, {"i": batch}, "batchCreate"))["batch"]["id"]

    async def missions(numbers: range) -> None:
        for n in numbers:
            given = {
                "batchId": batch_id,
                "title": f"M{n}",
                "code": f"B1-M{n:02d}",
                "status": "ACTIVE",
                "startsOn": day(-13),
                "endsOn": day(30),
            }
            mission = (await ok(p, "admin", MISSION, {"i": given}, "missionCreate"))["mission"]
            for student, _ in students:
                enrolled = await ok(
                    p, "admin", ENROLL, {"m": mission["id"], "s": student}, "enrollmentCreate"
                )
                await correct(p, enrolled["enrollment"]["id"], -1, True)
            await ok(
                p,
                "admin",
                ASSIGN,
                {"m": mission["id"], "s": students[0][0], "t": mentor},
                "mentorAssign",
            )
            work = {
                "missionId": mission["id"],
                "title": "Essay",
                "opensAt": moment(days=-5),
                "dueAt": moment(hours=-1),
                "maxPoints": 10,
            }
            await ok(p, "manager", ASSIGNMENT, {"i": work}, "assignmentCreate")
            notice = {"missionId": mission["id"], "title": "Read me", "body": "Please."}
            await ok(p, "manager", POST, {"i": notice}, "noticePost")

    await missions(range(2))
    two, body = await api.sql_count(MANAGER, {"from": day(-6), "to": day(0)}, token=manager)
    assert "errors" not in body and len(body["data"]["dashboard"]["manager"]["missions"]) == 2
    await missions(range(2, 20))
    twenty, body = await api.sql_count(MANAGER, {"from": day(-6), "to": day(0)}, token=manager)
    assert "errors" not in body and len(body["data"]["dashboard"]["manager"]["missions"]) == 20
    # Three students present yesterday, of 3 x 6 days (through yesterday).
    assert body["data"]["dashboard"]["manager"]["missions"][19]["attendanceRate"] == round(
        3 / 18, 4
    )
    assert twenty <= two, (two, twenty)


def test_the_documented_queries_are_valid() -> None:
    """docs/DASHBOARDS.md's queries are what a frontend copies: each must validate."""
    import re
    from pathlib import Path

    from graphql import parse, validate

    from alumnet.config import load_settings
    from alumnet.schema import build_schema

    schema = build_schema(load_settings({"ALUMNET_ENV": "test"}))._schema
    text = (Path(__file__).parents[2] / "docs" / "DASHBOARDS.md").read_text()
    queries = re.findall(r"```graphql\n(.*?)```", text, flags=re.S)
    assert len(queries) == 7
    for query in queries:
        assert validate(schema, parse(query)) == [], query


async def analyst(p: Programme, scope: dict[str, str] | None = None) -> None:
    """The alumnus gets a custom role holding `analytics:read` only (everywhere, or within
    ``scope``): the manager section, without seeing students one by one."""
    from tests.identity.test_custom_roles import ASSIGN as ROLE_ASSIGN
    from tests.identity.test_custom_roles import ROLE as ROLE_CREATE

    made = await ok(p, "admin", ROLE_CREATE,
                    {"i": {"name": "Analyst", "permissions": ["ANALYTICS_READ"]}},
                    "roleCreate")  # fmt: skip
    await ok(p, "admin", ROLE_ASSIGN,
             {"i": {"userId": p.ids["alumnus"], "roleId": made["role"]["id"], "scope": scope}},
             "roleAssign")  # fmt: skip


async def test_a_withheld_mission_reaches_no_sum(world: Programme) -> None:
    """`analytics:read` everywhere without `cohorts:read`: B (three students) is withheld,
    and its batch's line and the trend of all missions are A's alone; A's points (seven
    students) show neither end nor quartiles, until A has ten students."""
    p = world
    await analyst(p)
    week = {"from": day(-6), "to": day(0)}
    manager = (await data(p, "alumnus", MANAGER, **week))["manager"]
    a, b = manager["missions"]
    assert (a["withheld"], b["withheld"]) == (False, True)
    assert a["attendanceRate"] == round(10 / 42, 4)
    [batch] = manager["batches"]
    assert (batch["missions"], batch["students"], batch["banned"], batch["openAppeals"]) == (
        1,
        7,
        0,
        0,
    )
    assert (batch["attendanceRate"], batch["acknowledgementRate"], batch["atRisk"]) == (
        a["attendanceRate"],
        a["acknowledgementRate"],
        7,
    )
    assert [t["value"] for t in manager["attendanceTrend"]] == [
        t["value"] for t in a["attendanceTrend"]
    ]
    assert manager["atRiskByMission"] == [
        {"label": "B1-A", "value": 7},
        {"label": "B1-B", "value": None},
    ]
    every = ("count", "mean", "lowest", "p25", "median", "p75", "highest")
    assert a["points"] == dict(zip(every, (7, round(24 / 7, 2), None, None, None, None, None)))
    # The MANAGER (who sees students) keeps everything.
    mine = (await data(p, "manager", MANAGER, **week))["manager"]
    assert mine["missions"][0]["points"]["highest"] == 12
    assert mine["batches"][0]["students"] == 10
    # Ten students in A: quartiles, still no ends.
    for student in ("s8", "s9", "s10"):
        await ok(p, "admin", ENROLL, {"m": p.ids["ma"], "s": p.ids[student]}, "enrollmentCreate")
    points = (await data(p, "alumnus", MANAGER, **week))["manager"]["missions"][0]["points"]
    # 0 0 0 0 1 1 1 1 8 12: ranks 3, 5 and 8.
    assert points == dict(zip(every, (10, 2.4, None, 0, 1, 1, None)))


async def test_completed_students_count_as_in_the_reports(world: Programme) -> None:
    """A completed enrolment is counted (as the reports count it): in the manager's
    figures, and among the "five others" a mentor's mission average needs."""
    from sqlalchemy import update
    from strawberry.relay import from_base64

    from alumnet.persistence.models import Enrollment

    p = world
    enrollment = int(from_base64(p.ids["e_s5_ma"])[1])
    async with p.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(Enrollment).where(Enrollment.id == enrollment).values(status="completed")
        )
    manager = (await data(p, "manager", MANAGER, **{"from": day(-6), "to": day(0)}))["manager"]
    a = manager["missions"][0]
    assert (a["students"], a["points"]["count"], a["attendanceRate"]) == (7, 7, round(10 / 42, 4))
    mentor = (await data(p, "m1", MENTOR))["mentor"]
    a = mentor["missions"][0]
    # s1 and s2 are m1's; s3 to s7 are five others (s5 completed among them).
    assert (a["code"], a["mentees"], a["students"]) == ("B1-A", 2, 7)
    assert a["missionAverage"] == {
        "students": 7,
        "points": round(24 / 7, 4),
        "attendanceRate": round(11 / 91, 4),
    }


async def test_counts_do_not_depend_on_first(world: Programme) -> None:
    p = world
    got = await data(
        p,
        "m1",
        """{ dashboard { mentor(first: 0) { menteeCount mentees {
      status } missingWorkCount missingWork { title } unansweredTicketCount
      oldestUnansweredAt unansweredTickets { id } } } }""",
    )
    mentor = got["mentor"]
    assert (mentor["menteeCount"], mentor["missingWorkCount"]) == (3, 1)
    assert (mentor["mentees"], mentor["missingWork"], mentor["unansweredTickets"]) == ([], [], [])
    assert mentor["unansweredTicketCount"] == 1 and mentor["oldestUnansweredAt"] is not None
    manager = (await data(p, "manager", MANAGER, first=0))["manager"]
    assert (manager["missionCount"], manager["missions"]) == (2, [])
    one = (await data(p, "manager", MANAGER, first=0, m=p.ids["mb"]))["manager"]
    assert one["missionCount"] == 1
    sre = await data(p, "sre", "{ dashboard { sre(first: 0) { atRiskCount atRisk { score } } } }")
    assert (sre["sre"]["atRiskCount"], sre["sre"]["atRisk"]) == (7, [])


async def test_attendance_ends_yesterday_in_the_missions_time_zone(world: Programme) -> None:
    """Mission A keeps a time zone whose date is not UTC's now: its days possible end on
    its own yesterday, for the manager and for a mentor's averages."""
    from zoneinfo import ZoneInfo

    from tests.engagement.conftest import RULES

    p = world
    zone = "Etc/GMT-14" if datetime.now(UTC).hour >= 12 else "Etc/GMT+12"
    await ok(p, "manager", RULES, {"i": {"missionId": p.ids["ma"], "timeZone": zone}},
             "engagementRulesUpdate")  # fmt: skip
    last = (datetime.now(ZoneInfo(zone)).date() - timedelta(days=1) - TODAY).days
    assert last in (0, -2)
    manager = (await data(p, "manager", MANAGER, **{"from": day(-6), "to": day(0)}))["manager"]
    a = manager["missions"][0]
    days = range(-6, last + 1)
    assert a["attendanceRate"] == round(
        sum(present_on(d, MISSION_A) for d in days) / (7 * len(days)), 4
    )
    assert [t["date"] for t in a["attendanceTrend"]] == [day(d) for d in days]
    mentor = (await data(p, "m1", MENTOR))["mentor"]
    so_far = range(-13, last + 1)
    present = sum(present_on(d, MISSION_A) for d in so_far)
    assert mentor["missions"][0]["missionAverage"]["attendanceRate"] == round(
        present / (7 * len(so_far)), 4
    )


async def test_sections_are_kept_through_sign_ins(world: Programme) -> None:
    """Names are looked up after the cache: a sign-in (which writes `users`) does not make
    the manager's or the mentor's figures stale; storage is kept apart from activity."""
    from alumnet.domain.analytics import dashboards

    assert "users" not in dashboards.MANAGER_TABLES + dashboards.MENTOR_TABLES
    assert "sessions" not in dashboards.STORAGE_TABLES
    p = world
    for attempt in range(3):
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        first, _ = await p.api.sql_count(MENTOR, token=p.tokens["m1"])
        await p.api.create_user(f"new{attempt}@example.org", ["ALUMNUS"])
        again, body = await p.api.sql_count(MENTOR, token=p.tokens["m1"])
        if datetime.now(UTC).replace(second=0, microsecond=0) == minute:
            break
    # The figures came from the cache (six statements fewer), the names fresh.
    assert again <= first - 5, (first, again)
    assert body["data"]["dashboard"]["mentor"]["mentees"][0]["studentName"] == "S1 Person"


async def test_admin_reads_activity_once(api: Api) -> None:
    """Active people per day and per week come from one pass over the traces: the admin
    section takes eight statements (seven, and storage)."""
    _, token = await api.create_user("admin@example.org", ["ADMIN"])
    baseline, _ = await api.sql_count(SECTIONS, token=token)
    n, body = await api.sql_count(ADMIN, token=token)
    assert "errors" not in body
    assert n - baseline == 8, (baseline, n)
