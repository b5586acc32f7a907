"""Daily attendance: once per day, in the mission's time zone, with clear refusals."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from alumnet.persistence.models import AttendanceDay, Enrollment, PointEntry
from tests.engagement.conftest import (
    CORRECT,
    RULES,
    SUBMIT,
    Programme,
    call,
    codes,
    ok,
    points_of,
)


async def test_a_student_submits_today_once(programme: Programme) -> None:
    p = programme
    first = await ok(p, "s1", SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
    assert first["created"] is True
    assert first["attendance"]["day"] == datetime.now(UTC).date().isoformat()
    assert first["attendance"]["kind"] == "CHECK_IN"
    again = await ok(p, "s1", SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
    assert again["created"] is False
    assert again["attendance"]["id"] == first["attendance"]["id"]
    standing = await points_of(p, "s1", p.ids["e_s1_ma"])
    assert standing["points"] == 1
    assert standing["progress"]["daysPresent"] == 1
    assert [e["reason"] for e in standing["pointEntries"]] == ["ATTENDANCE"]


async def test_today_follows_the_missions_time_zone(programme: Programme) -> None:
    p = programme
    # UTC+14: "today" there is usually tomorrow in UTC.
    await ok(
        p,
        "manager",
        RULES,
        {"i": {"missionId": p.ids["ma"], "timeZone": "Pacific/Kiritimati"}},
        "engagementRulesUpdate",
    )
    local = datetime.now(ZoneInfo("Pacific/Kiritimati")).date()
    done = await ok(p, "s1", SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
    assert done["attendance"]["day"] == local.isoformat()
    future = await call(
        p,
        "s1",
        SUBMIT,
        {"i": {"missionId": p.ids["ma"], "day": (local + timedelta(days=1)).isoformat()}},
        "attendanceSubmit",
    )
    assert codes(future) == ["FUTURE_DAY"]
    bad = await call(
        p,
        "manager",
        RULES,
        {"i": {"missionId": p.ids["ma"], "timeZone": "Mars/Olympus"}},
        "engagementRulesUpdate",
    )
    assert codes(bad) == ["INVALID_TIME_ZONE"]


async def test_refusals_are_clear_and_change_nothing(programme: Programme) -> None:
    p = programme
    today = datetime.now(UTC).date()
    cases = [
        (
            "s1",
            {"missionId": p.ids["ma"], "day": (today - timedelta(days=3)).isoformat()},
            "WINDOW_CLOSED",
        ),
        (
            "s1",
            {"missionId": p.ids["ma"], "day": (today + timedelta(days=1)).isoformat()},
            "FUTURE_DAY",
        ),
        ("s3", {"missionId": p.ids["ma"]}, "NOT_ENROLLED"),  # another mission's student
        ("m1", {"missionId": p.ids["ma"]}, "NOT_ENROLLED"),  # a mentor
        ("s1", {"missionId": "TWlzc2lvbjo5OTk5OTk="}, "NOT_ENROLLED"),
    ]
    for who, given, code in cases:
        payload = await call(p, who, SUBMIT, {"i": given}, "attendanceSubmit")
        assert codes(payload) == [code], (who, given, payload)
        assert payload["attendance"] is None
    # Yesterday is accepted only within the grace period (none by default).
    await ok(
        p,
        "manager",
        RULES,
        {"i": {"missionId": p.ids["ma"], "graceMinutes": 1440}},
        "engagementRulesUpdate",
    )
    yesterday = await ok(
        p,
        "s1",
        SUBMIT,
        {"i": {"missionId": p.ids["ma"], "day": (today - timedelta(days=1)).isoformat()}},
        "attendanceSubmit",
    )
    assert yesterday["created"] is True
    # A dropped student may not submit; a draft mission takes no attendance by default.
    await ok(
        p,
        "admin",
        """mutation($i: EnrollmentUpdateInput!) { enrollmentUpdate(input: $i) {
      enrollment { id } userErrors { field code message } } }""",
        {"i": {"id": p.ids["e_s2_ma"], "status": "DROPPED"}},
        "enrollmentUpdate",
    )
    assert codes(
        await call(p, "s2", SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
    ) == ["NOT_ACTIVE"]
    await ok(
        p,
        "admin",
        """mutation($i: MissionUpdateInput!) { missionUpdate(input: $i) {
      mission { id } userErrors { field code message } } }""",
        {"i": {"id": p.ids["mb"], "status": "DRAFT"}},
        "missionUpdate",
    )
    assert codes(
        await call(p, "s1", SUBMIT, {"i": {"missionId": p.ids["mb"]}}, "attendanceSubmit")
    ) == ["NOT_TAKING_ATTENDANCE"]


async def test_a_report_mission_asks_for_the_report(programme: Programme) -> None:
    p = programme
    await ok(
        p,
        "manager",
        RULES,
        {"i": {"missionId": p.ids["ma"], "attendanceWhenActive": "REPORT"}},
        "engagementRulesUpdate",
    )
    missing = await call(p, "s1", SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
    assert codes(missing) == ["REPORT_REQUIRED"]
    done = await ok(
        p,
        "s1",
        SUBMIT,
        {"i": {"missionId": p.ids["ma"], "report": "Read chapter 3."}},
        "attendanceSubmit",
    )
    assert done["attendance"]["kind"] == "REPORT"


async def test_concurrent_duplicates_record_one_row_and_totals_match_the_ledger(
    programme: Programme,
) -> None:
    p = programme
    payloads = await asyncio.gather(
        *[
            call(p, "s1", SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
            for _ in range(20)
        ],
        *[
            call(p, "s2", SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
            for _ in range(20)
        ],
    )
    assert all(x["userErrors"] == [] for x in payloads), payloads
    assert sum(x["created"] for x in payloads) == 2
    database = p.api.app.state.runtime.database
    async with database.connect() as conn:
        rows = (await conn.execute(select(func.count()).select_from(AttendanceDay))).scalar_one()
        ledger = dict(
            (
                await conn.execute(
                    select(PointEntry.enrollment_id, func.sum(PointEntry.points)).group_by(
                        PointEntry.enrollment_id
                    )
                )
            ).all()
        )
        totals = dict((await conn.execute(select(Enrollment.id, Enrollment.points))).all())
    assert rows == 2
    assert sorted(ledger.values()) == [1, 1]
    assert all(totals[e] == ledger.get(e, 0) for e in totals)


async def test_mentors_and_staff_correct_attendance_audited(programme: Programme) -> None:
    p = programme
    today = datetime.now(UTC).date().isoformat()
    await ok(p, "s1", SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
    # m2 mentors s2 in ma, not s1: the enrolment does not exist for them.
    refused = await call(
        p,
        "m2",
        CORRECT,
        {
            "i": {
                "enrollmentId": p.ids["e_s1_ma"],
                "day": today,
                "present": False,
                "reason": "Left early",
            }
        },
        "attendanceCorrect",
    )
    assert codes(refused) == ["NOT_FOUND"]
    refused = await call(
        p,
        "s1",
        CORRECT,
        {"i": {"enrollmentId": p.ids["e_s1_ma"], "day": today, "present": False, "reason": "x"}},
        "attendanceCorrect",
    )
    assert codes(refused) == ["NOT_FOUND"]
    no_reason = await call(
        p,
        "m1",
        CORRECT,
        {"i": {"enrollmentId": p.ids["e_s1_ma"], "day": today, "present": False, "reason": " "}},
        "attendanceCorrect",
    )
    assert codes(no_reason) == ["REQUIRED"]
    absent = await ok(
        p,
        "m1",
        CORRECT,
        {
            "i": {
                "enrollmentId": p.ids["e_s1_ma"],
                "day": today,
                "present": False,
                "reason": "Was not in class",
            }
        },
        "attendanceCorrect",
    )
    assert absent["attendance"]["status"] == "ABSENT"
    standing = await points_of(p, "s1", p.ids["e_s1_ma"])
    assert standing["points"] == 0
    assert [e["reason"] for e in standing["pointEntries"]] == ["CORRECTION", "ATTENDANCE"]
    # The SRE records a day the student forgot.
    earlier = (datetime.now(UTC).date() - timedelta(days=5)).isoformat()
    added = await ok(
        p,
        "sre",
        CORRECT,
        {
            "i": {
                "enrollmentId": p.ids["e_s1_ma"],
                "day": earlier,
                "present": True,
                "reason": "Phoned in",
            }
        },
        "attendanceCorrect",
    )
    assert added["created"] is True
    assert (await points_of(p, "s1", p.ids["e_s1_ma"]))["points"] == 1
    audit = await p.gql(
        "admin",
        '{ auditEvents(first: 10, filter: {actions: ["attendance.correct"]}) { totalCount } }',
    )
    assert audit["data"]["auditEvents"]["totalCount"] == 2, audit


async def test_who_reads_attendance(programme: Programme) -> None:
    p = programme
    await ok(p, "s1", SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
    await ok(p, "s2", SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
    query = """query($m: ID!, $d: Date!) { node(id: $m) { ... on Mission {
      attendance(filter: {day: $d}) {
      totalCount edges { node { id enrollment { student { name } } } } } } } }"""
    today = datetime.now(UTC).date().isoformat()
    seen = {}
    for who in ("sre", "manager", "m1", "m2", "s1", "s3"):
        body = await p.gql(who, query, {"m": p.ids["ma"], "d": today})
        assert "errors" not in body, body
        node = body["data"]["node"]
        seen[who] = None if node is None else node["attendance"]["totalCount"]
    # Staff see both; m1 mentors s1 there, m2 mentors s2; s1 sees their own; s3 not the mission.
    assert seen == {"sre": 2, "manager": 2, "m1": 1, "m2": 1, "s1": 1, "s3": None}
    record = (await p.gql("s1", query, {"m": p.ids["ma"], "d": today}))["data"]["node"][
        "attendance"
    ]["edges"][0]["node"]["id"]
    for who, visible in (("s1", True), ("m1", True), ("s2", False), ("m2", False), ("sre", True)):
        body = await p.gql(who, "query($id: ID!) { node(id: $id) { id } }", {"id": record})
        assert (body["data"]["node"] is not None) == visible, who
