"""Reminders and alerts from the scheduler: an assignment opened, work due within 24
hours, attendance missing for days, a student entering the at-risk list, follow-ups due;
each sent once, set-based."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, update
from strawberry.relay import from_base64

from alumnet.domain.communication import reminders as scheduled
from alumnet.domain.communication.reminders import REMINDERS_JOB
from alumnet.observability import RequestStats, current_stats
from alumnet.persistence.models import AttendanceDay, Enrollment
from alumnet.workers.schedule import SCHEDULE, record
from tests.cohorts.conftest import ENROLL
from tests.communication.test_notifications import letters
from tests.engagement.conftest import RULES, Programme, call, codes, ok
from tests.engagement.test_grading import GRADE, HAND_IN
from tests.engagement.test_submissions import assignment, at
from tests.integrity.test_outreach import LOG, REFRESH

KINDS = """query($k: [NotificationKind!]) { notifications(first: 50, kinds: $k) {
  edges { node { kind title body subjectId } } } }"""
RULE = """mutation($i: RiskRulesUpdateInput!) { riskRulesUpdate(input: $i) {
  attendanceAlertDays userErrors { field code } } }"""


async def told(p: Programme, who: str, kind: str) -> list[dict[str, Any]]:
    body = await p.gql(who, KINDS, {"k": [kind]})
    assert "errors" not in body, body
    return [e["node"] for e in body["data"]["notifications"]["edges"]]


async def reminders(p: Programme, now: datetime | None = None) -> tuple[dict[str, int], int]:
    """One run of the scheduled job (as ``send_reminders``: each kind in its own
    transaction), and the SQL statements the kinds took (not the commits, nor the e-mail
    jobs the commits start, which run beside it)."""
    runtime = p.api.app.state.runtime
    now = now or datetime.now(UTC)
    stats = RequestStats()
    told = {}
    for name, run in scheduled.KINDS:
        async with runtime.transaction() as uow:
            token = current_stats.set(stats)
            try:
                told[name] = await run(uow, now)
            finally:
                current_stats.reset(token)
    return told, stats.sql_statements


def pk(gid: str) -> int:
    return int(from_base64(gid)[1])


async def backdate_enrolments(p: Programme, days: int, mission: str | None = None) -> None:
    statement = update(Enrollment).values(created_at=datetime.now(UTC) - timedelta(days=days))
    if mission is not None:
        statement = statement.where(Enrollment.mission_id == pk(p.ids[mission]))
    async with p.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(statement)


async def test_assignments_and_deadlines_are_told_once(programme: Programme) -> None:
    p = programme
    assert any(name == REMINDERS_JOB for name, _, _ in SCHEDULE)
    soon = await assignment(p, title="Essay", opensAt=at(hours=-1), dueAt=at(hours=12))
    await assignment(p, title="Later", opensAt=at(hours=-1), dueAt=at(days=5))
    await assignment(p, title="Not yet", opensAt=at(days=1), dueAt=at(days=6))
    await assignment(p, title="Long gone", opensAt=at(days=-30), dueAt=at(days=2))
    await ok(p, "s2", HAND_IN, {"i": {"assignmentId": soon, "content": "done"}},
             "submissionCreate")  # fmt: skip
    first, _ = await reminders(p)
    assert first["assignments"] == 2 and first["deadlines"] == 1, first
    announced = await told(p, "s1", "ASSIGNMENT")
    assert sorted(n["title"] for n in announced) == [
        "New assignment in B1-A: Essay", "New assignment in B1-A: Later"]  # fmt: skip
    assert "(UTC)" in announced[0]["body"]
    [due] = await told(p, "s1", "DEADLINE")
    assert due["title"] == "Due within 24 hours: Essay" and due["subjectId"] == soon
    assert await told(p, "s2", "DEADLINE") == []  # handed in
    assert await told(p, "s3", "ASSIGNMENT") == []  # another mission
    # The job as the scheduler runs it: nothing twice.
    await record(p.api.app.state.runtime, REMINDERS_JOB, {})
    await p.api.run_jobs()
    again, _ = await reminders(p)
    assert again == {"assignments": 0, "deadlines": 0, "attendance": 0, "followUps": 0}
    assert len(await told(p, "s1", "ASSIGNMENT")) == 2
    assert [m["Subject"] for m in letters(p, "s1@example.org")] == [
        "Due within 24 hours: Essay"]  # deadlines by e-mail too; new work by digest  # fmt: skip
    # Returned for revision with a deadline tomorrow: one reminder for that version.
    made = await ok(p, "s1", HAND_IN, {"i": {"assignmentId": soon, "content": "x"}},
                    "submissionCreate")  # fmt: skip
    await ok(p, "m1", GRADE, {"i": {"submissionId": made["submission"]["id"],
             "returnForRevision": True, "feedback": "More.", "revisionDueAt": at(hours=20)}},
             "submissionGrade")  # fmt: skip
    third, _ = await reminders(p)
    assert third["deadlines"] == 1
    titles = [n["title"] for n in await told(p, "s1", "DEADLINE")]
    assert titles[0] == "Revision due within 24 hours: Essay"
    assert (await reminders(p))[0]["deadlines"] == 0


async def test_a_restricted_student_gets_no_reminders(
    programme: Programme,
) -> None:
    p = programme
    async with p.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(update(Enrollment).values(status="banned"))
    await assignment(p, opensAt=at(hours=-1), dueAt=at(hours=3))
    result, _ = await reminders(p)
    assert result["assignments"] == 0 and result["deadlines"] == 0


async def test_reminding_many_costs_the_same_statements_as_few(programme: Programme) -> None:
    p = programme
    await assignment(p, opensAt=at(hours=-1), dueAt=at(hours=12))
    await backdate_enrolments(p, 10, "ma")
    _, few = await reminders(p)
    for i in range(12):
        sid, _ = await p.api.create_user(f"many{i}@example.org", ["STUDENT"], name=f"Many {i}")
        await ok(p, "admin", ENROLL, {"m": p.ids["ma"], "s": sid}, "enrollmentCreate")
    await backdate_enrolments(p, 10, "ma")
    await assignment(p, title="Second", opensAt=at(hours=-1), dueAt=at(hours=12))
    result, many = await reminders(p)
    # People told: the newcomers of both assignments, and s1 and s2 of the second.
    assert result["assignments"] == 14 and result["deadlines"] == 14
    assert result["attendance"] == 12  # the newcomers; the others were told already
    assert many == few, (few, many)


async def test_attendance_missing_days_in_a_row(programme: Programme) -> None:
    p = programme
    first, _ = await reminders(p)
    assert first["attendance"] == 0  # enrolled today: no gap yet
    await backdate_enrolments(p, 30)
    bad = await call(p, "manager", RULE, {"i": {"missionId": p.ids["ma"],
                     "attendanceAlertDays": 61}}, "riskRulesUpdate")  # fmt: skip
    assert codes(bad) == ["OUT_OF_RANGE"]
    off = await ok(p, "manager", RULE, {"i": {"missionId": p.ids["mb"],
                   "attendanceAlertDays": 0}}, "riskRulesUpdate")  # fmt: skip
    assert off["attendanceAlertDays"] == 0
    assert (await p.gql("m1", RULE, {"i": {"missionId": p.ids["ma"]}}))["errors"]
    # s2 attended yesterday; s1 never did. Mission mb (s1) has the alert turned off.
    # B1-A keeps its days in Dhaka (its own rules row), B1-B in UTC (the defaults).
    zone = {"i": {"missionId": p.ids["ma"], "timeZone": "Asia/Dhaka"}}
    await ok(p, "manager", RULES, zone, "engagementRulesUpdate")
    today = datetime.now(ZoneInfo("Asia/Dhaka")).date()
    await attended(p, "e_s2_ma", "s2", today - timedelta(days=1))
    result, _ = await reminders(p)
    assert result["attendance"] == 1
    [alert] = await told(p, "s1", "ATTENDANCE")
    assert alert["title"] == "No attendance for 3 days in B1-A"
    assert await told(p, "s2", "ATTENDANCE") == []
    assert (await reminders(p))[0]["attendance"] == 0  # the same gap: once
    # Four days on, s2's gap is three days long: told; s1's gap is the same gap.
    later = datetime.now(UTC) + timedelta(days=4)
    assert (await reminders(p, later))[0]["attendance"] == 1
    assert len(await told(p, "s2", "ATTENDANCE")) == 1
    assert len(await told(p, "s1", "ATTENDANCE")) == 1


async def attended(p: Programme, enrollment: str, student: str, day: date) -> None:
    async with p.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            insert(AttendanceDay).values(
                enrollment_id=pk(p.ids[enrollment]),
                mission_id=pk(p.ids["ma"]),
                student_id=pk(p.ids[student]),
                day=day, kind="check_in", status="present",
            )
        )  # fmt: skip


async def test_entering_the_at_risk_list_is_told_to_mentors_and_callers(
    programme: Programme,
) -> None:
    p = programme
    past = at(days=-2)
    for _ in range(2):
        await assignment(p, opensAt=at(days=-5), dueAt=past)
    await ok(p, "sre", REFRESH, {"m": p.ids["ma"]}, "atRiskRefresh")
    await p.api.run_jobs()
    [alert] = await told(p, "m1", "AT_RISK")
    assert alert["title"] == "S1 Person is at risk in B1-A"
    assert "2 assignments due and not handed in." in alert["body"]
    assert [n["title"] for n in await told(p, "m2", "AT_RISK")] == ["S2 Person is at risk in B1-A"]
    assert await told(p, "s1", "AT_RISK") == []
    # An SRE calling the mission's students hears of the next one to enter.
    generate = """mutation($m: ID!) { callListGenerate(input: {missionId: $m}) {
      callList { id } userErrors { code } } }"""
    made = await ok(p, "sre", generate, {"m": p.ids["ma"]}, "callListGenerate")
    await ok(p, "sre", REFRESH, {"m": p.ids["ma"]}, "atRiskRefresh")
    await p.api.run_jobs()
    assert len(await told(p, "m1", "AT_RISK")) == 1  # still on the list: not again
    assert await told(p, "sre", "AT_RISK") == []
    # A newcomer who missed the work enters: the SRE calling the mission hears of it ...
    await ok(p, "admin", ENROLL, {"m": p.ids["ma"], "s": p.ids["s3"]}, "enrollmentCreate")
    await ok(p, "sre", REFRESH, {"m": p.ids["ma"]}, "atRiskRefresh")
    await p.api.run_jobs()
    assert [n["title"] for n in await told(p, "sre", "AT_RISK")] == [
        "S3 Person is at risk in B1-A"]  # fmt: skip
    # Follow-ups due today reach the SRE once a day.
    today = datetime.now(UTC).date().isoformat()
    await ok(p, "sre", LOG, {"i": {"callListId": made["callList"]["id"],
             "studentId": p.ids["s1"], "outcome": "RESCHEDULE", "followUpOn": today}},
             "callLogRecord")  # fmt: skip
    result, _ = await reminders(p)
    assert result["followUps"] == 1
    [follow] = await told(p, "sre", "FOLLOW_UP")
    assert follow["title"] == "1 follow-up due today"
    assert (await reminders(p))[0]["followUps"] == 0
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert (await reminders(p, tomorrow))[0]["followUps"] == 1
    newest = (await told(p, "sre", "FOLLOW_UP"))[0]
    assert newest["title"] == "1 follow-up due today, 1 of them overdue"
    # The SRE hears no more once they no longer do outreach.
    roles = """mutation($u: ID!) { userRolesSet(input: {id: $u, roles: [ALUMNUS]}) {
      userErrors { code } } }"""
    await ok(p, "admin", roles, {"u": p.ids["sre"]}, "userRolesSet")
    late, _ = await p.api.create_user("late@example.org", ["STUDENT"], name="Late Comer")
    await ok(p, "admin", ENROLL, {"m": p.ids["ma"], "s": late}, "enrollmentCreate")
    await ok(p, "manager", REFRESH, {"m": p.ids["ma"]}, "atRiskRefresh")
    await p.api.run_jobs()
    assert len(await told(p, "sre", "AT_RISK")) == 1
    after = datetime.now(UTC) + timedelta(days=2)
    assert (await reminders(p, after))[0]["followUps"] == 0


async def test_new_kinds_join_the_preferences(programme: Programme) -> None:
    p = programme
    prefs = (await p.gql("s1", "{ notificationPreferences { kind email digest } }"))["data"]
    kinds = {x["kind"]: x for x in prefs["notificationPreferences"]}
    for kind in ("ASSIGNMENT", "DEADLINE", "ATTENDANCE", "AT_RISK", "FOLLOW_UP"):
        assert kind in kinds, kind
    assert kinds["DEADLINE"]["email"] is True and kinds["ASSIGNMENT"]["digest"] is True


async def test_a_starting_scheduler_catches_up(
    programme: Programme, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server down at the quarter hour (or a demo just loaded) sends what is due when
    its scheduler starts; the marks keep it from sending anything twice."""
    from sqlalchemy import func, select

    from alumnet.persistence.models import Job
    from alumnet.workers import schedule

    p = programme
    assert (REMINDERS_JOB, {}) in schedule.AT_START
    runtime = p.api.app.state.runtime
    await assignment(p, title="Essay", opensAt=at(hours=-1), dueAt=at(hours=12))
    await schedule.catch_up(runtime)
    async with runtime.database.connect() as conn:
        recorded = select(func.count()).where(Job.name == REMINDERS_JOB)
        assert (await conn.execute(recorded)).scalar_one() == 1
    await p.api.run_jobs()
    assert [n["title"] for n in await told(p, "s1", "DEADLINE")] == ["Due within 24 hours: Essay"]

    # The embedded scheduler catches up before anything else.
    class Started(Exception):
        pass

    async def started(runtime: object) -> None:
        raise Started

    monkeypatch.setattr(schedule, "catch_up", started)
    with pytest.raises(Started):
        await schedule.run_in_process(runtime)
