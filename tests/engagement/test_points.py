"""Points: the ledger explains every total; recalculation equals incremental awards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from strawberry.relay import to_base64

from alumnet.persistence.models import Enrollment, PointEntry
from tests.cohorts.conftest import ENROLL
from tests.engagement.conftest import RULES, SUBMIT, Programme, call, codes, ok, points_of
from tests.engagement.test_submissions import SUBMIT as HAND_IN
from tests.engagement.test_submissions import assignment
from tests.integrity.test_integrity import DECIDE

MEETING = """mutation($i: MeetingCreateInput!) { meetingCreate(input: $i) {
  meeting { id topic mentor { name } } userErrors { field code message } } }"""
ATTEND = """mutation($i: MeetingAttendanceSubmitInput!) { meetingAttendanceSubmit(input: $i) {
  meeting { id } created userErrors { field code message } } }"""
RECORD = """mutation($i: MeetingAttendanceRecordInput!) { meetingAttendanceRecord(input: $i) {
  changed userErrors { field code message } } }"""
RECALCULATE = """mutation($m: ID!) { pointsRecalculate(input: {missionId: $m}) {
  job { id status } userErrors { code } } }"""


async def ledger_matches_totals(p: Programme) -> dict[int, int]:
    async with p.api.app.state.runtime.database.connect() as conn:
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
    assert all(totals[e] == ledger.get(e, 0) for e in totals), (totals, ledger)
    return {int(k): int(v) for k, v in totals.items()}


async def activity(p: Programme) -> None:
    """Attendance, a meeting and submissions for s1 and s2 in mission ma."""
    today = datetime.now(UTC).date()
    for who in ("s1", "s2"):
        await ok(p, who, SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
    meeting = await ok(
        p,
        "m1",
        MEETING,
        {"i": {"missionId": p.ids["ma"], "heldOn": today.isoformat(), "topic": "Week 1"}},
        "meetingCreate",
    )
    assert meeting["meeting"]["mentor"]["name"] == "M1 Person"
    meeting_id = meeting["meeting"]["id"]
    await ok(p, "s1", ATTEND, {"i": {"meetingId": meeting_id}}, "meetingAttendanceSubmit")
    # m1 does not mentor s2; m2 does.
    refused = await call(
        p,
        "m1",
        RECORD,
        {"i": {"meetingId": meeting_id, "studentIds": [p.ids["s2"]]}},
        "meetingAttendanceRecord",
    )
    assert codes(refused) == ["NOT_FOUND"] or codes(refused) == ["NOT_YOUR_MENTEE"]
    recorded = await ok(
        p,
        "m2",
        RECORD,
        {"i": {"meetingId": meeting_id, "studentIds": [p.ids["s2"]]}},
        "meetingAttendanceRecord",
    )
    assert recorded["changed"] == 1
    on_time = await assignment(p)
    late = await assignment(
        p,
        opensAt=(datetime.now(UTC) - timedelta(days=2)).isoformat(),
        dueAt=(datetime.now(UTC) - timedelta(days=1)).isoformat(),
    )
    for who in ("s1", "s2"):
        await ok(p, who, HAND_IN, {"i": {"assignmentId": on_time}}, "submissionCreate")
    await ok(p, "s1", HAND_IN, {"i": {"assignmentId": late}}, "submissionCreate")


async def test_recalculation_equals_incremental_awards(programme: Programme) -> None:
    p = programme
    await activity(p)
    before = await ledger_matches_totals(p)
    s1 = await points_of(p, "s1", p.ids["e_s1_ma"])
    assert s1["points"] == 1 + 2 + 10 + 5
    # Nothing changed: recalculation adds nothing and totals stay.
    job = await ok(p, "sre", RECALCULATE, {"m": p.ids["ma"]}, "pointsRecalculate")
    assert job["job"]["status"] in ("PENDING", "RUNNING", "SUCCEEDED")
    await p.api.run_jobs()
    assert await ledger_matches_totals(p) == before
    async with p.api.app.state.runtime.database.connect() as conn:
        adjustments = (
            await conn.execute(select(func.count()).where(PointEntry.reason == "recalculation"))
        ).scalar_one()
    assert adjustments == 0
    # New rules: the job recomputes; totals equal awarding afresh under the new rules.
    changed = await ok(
        p,
        "manager",
        RULES,
        {
            "i": {
                "missionId": p.ids["ma"],
                "attendancePoints": 3,
                "meetingPoints": 4,
                "lateSubmissionPercent": 20,
            }
        },
        "engagementRulesUpdate",
    )
    assert changed["recalculation"] is not None
    await p.api.run_jobs()
    after = await ledger_matches_totals(p)
    s1 = await points_of(p, "s1", p.ids["e_s1_ma"])
    assert s1["points"] == 3 + 4 + 10 + 2
    assert "RECALCULATION" in [e["reason"] for e in s1["pointEntries"]]
    assert (await points_of(p, "s2", p.ids["e_s2_ma"]))["points"] == 3 + 4 + 10
    # And once more: stable.
    await ok(p, "sre", RECALCULATE, {"m": p.ids["ma"]}, "pointsRecalculate")
    await p.api.run_jobs()
    assert await ledger_matches_totals(p) == after
    status = await p.gql(
        "sre",
        "query($id: ID!) { node(id: $id) { ... on Job { status progress } } }",
        {"id": job["job"]["id"]},
    )
    assert status["data"]["node"] == {"status": "SUCCEEDED", "progress": 1.0}
    denied = await p.gql("m1", RECALCULATE, {"m": p.ids["ma"]})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_meeting_absence_takes_points_back(programme: Programme) -> None:
    p = programme
    await activity(p)
    meetings = await p.gql(
        "m2",
        """query($m: ID!) { node(id: $m) { ... on Mission { meetings { edges { node { id
      attendees { totalCount edges { node { id } } } } } } } } }""",
        {"m": p.ids["ma"]},
    )
    meeting = meetings["data"]["node"]["meetings"]["edges"][0]["node"]
    assert len(meeting["attendees"]["edges"]) == 1  # m2 sees only their mentee s2
    assert meeting["attendees"]["totalCount"] == 1
    await ok(
        p,
        "m2",
        RECORD,
        {"i": {"meetingId": meeting["id"], "studentIds": [p.ids["s2"]], "present": False}},
        "meetingAttendanceRecord",
    )
    assert (await points_of(p, "s2", p.ids["e_s2_ma"]))["points"] == 1 + 10
    await ledger_matches_totals(p)


async def test_meeting_attendance_problems_point_at_each_student(programme: Programme) -> None:
    p = programme
    today = datetime.now(UTC).date().isoformat()
    made = await ok(p, "m2", MEETING, {"i": {"missionId": p.ids["ma"], "heldOn": today,
                                            "topic": "Week 1"}}, "meetingCreate")  # fmt: skip
    meeting = made["meeting"]["id"]
    ghost = to_base64("User", 987654)  # a well-formed user id that names nobody

    async def record(who: str, students: list[str]) -> list[tuple[list[str], str, str]]:
        given = {"i": {"meetingId": meeting, "studentIds": students}}
        payload = await call(p, who, RECORD, given, "meetingAttendanceRecord")
        assert payload["changed"] == 0  # on any problem nothing changes
        return [(e["field"], e["code"], e["message"]) for e in payload["userErrors"]]

    assert await record("sre", [p.ids["s2"], ghost, p.ids["ma"], p.ids["s3"]]) == [
        (["input", "studentIds", "1"], "NOT_FOUND", f"No user has the id {ghost}."),
        (["input", "studentIds", "2"], "NOT_FOUND", f"No user has the id {p.ids['ma']}."),
        (["input", "studentIds", "3"], "NOT_ENROLLED",
         f"The user {p.ids['s3']} is not a student of this mission."),
    ]  # fmt: skip
    # A mentor learns nothing of users who are not their mentees: an id that is not a
    # user's is NOT_FOUND, any other user NOT_YOUR_MENTEE.
    assert [(f, c) for f, c, _ in await record("m2", [ghost, p.ids["ma"], p.ids["s1"]])] == [
        (["input", "studentIds", "0"], "NOT_YOUR_MENTEE"),
        (["input", "studentIds", "1"], "NOT_FOUND"),
        (["input", "studentIds", "2"], "NOT_YOUR_MENTEE"),
    ]


async def test_leaderboard_points_and_rates(programme: Programme) -> None:
    p = programme
    await activity(p)
    query = """query($m: ID!) { node(id: $m) { ... on Mission {
      leaderboard { rank points enrollment { student { name } } }
      attendanceByDay(from: "%s") { day present enrolled rate }
      attendanceByWeek(from: "%s") { present possible } } } }"""
    today = datetime.now(UTC).date().isoformat()
    body = await p.gql("sre", query % (today, today), {"m": p.ids["ma"]})
    assert "errors" not in body, body
    board = body["data"]["node"]["leaderboard"]
    assert [(e["rank"], e["points"], e["enrollment"]["student"]["name"]) for e in board] == [
        (1, 18, "S1 Person"),
        (2, 13, "S2 Person"),
    ]
    assert body["data"]["node"]["attendanceByDay"][-1] == {
        "day": today,
        "present": 2,
        "enrolled": 2,
        "rate": 1.0,
    }
    student = await p.gql("s2", query % (today, today), {"m": p.ids["ma"]})
    node = student["data"]["node"]
    assert [e["rank"] for e in node["leaderboard"]] == [2]  # only their own entry
    assert node["attendanceByDay"] is None
    points = (
        """query($u: ID!, $m: ID!) { node(id: $u) { ... on User { points(missionId: $m) } } }"""
    )
    assert (await p.gql("m1", points, {"u": p.ids["s1"], "m": p.ids["ma"]}))["data"]["node"][
        "points"
    ] == 18
    progress = (await points_of(p, "s1", p.ids["e_s1_ma"]))["progress"]
    assert (
        progress["rank"] == 1
        and progress["daysPresent"] == 1
        and progress["attendanceRate"] is not None
    )
    batch = await p.gql(
        "manager",
        """query($b: ID!) { node(id: $b) { ... on Batch {
      attendanceByWeek { present } } } }""",
        {"b": p.ids["b1"]},
    )
    assert sum(w["present"] for w in batch["data"]["node"]["attendanceByWeek"]) == 2


async def test_a_roster_with_standing_costs_the_same_statements_for_more_students(
    programme: Programme,
) -> None:
    p = programme
    await activity(p)
    query = """query($m: ID!) { node(id: $m) { ... on Mission { enrollments { edges { node {
      points progress { points rank daysPresent }
      pointEntries(first: 5) { totalCount edges { node { points } } }
      submissions { late } attendance(first: 3) { totalCount }
      integrityFlags { kind } decisions { kind } accessHistory { toStatus }
      callLogs(first: 5) { totalCount edges { node { outcome } } } } } } } } }"""
    few, body = await p.api.sql_count(query, {"m": p.ids["ma"]}, p.tokens["sre"])
    assert "errors" not in body, body
    for i in range(4):
        sid, _ = await p.api.create_user(f"more{i}@example.org", ["STUDENT"], name=f"More {i}")
        await ok(p, "admin", ENROLL, {"m": p.ids["ma"], "s": sid}, "enrollmentCreate")
    many, body = await p.api.sql_count(query, {"m": p.ids["ma"]}, p.tokens["sre"])
    assert len(body["data"]["node"]["enrollments"]["edges"]) == 6
    assert many == few


AWARD = """mutation($i: PointsAwardInput!) { pointsAward(input: $i) {
  points userErrors { field code } } }"""


async def test_points_awarded_and_deducted_by_hand(programme: Programme) -> None:
    p = programme
    given = {"enrollmentId": p.ids["e_s1_ma"], "points": 5, "category": "Participation",
             "reason": "Led the stand-up."}  # fmt: skip
    for who, change, code in (
        ("m2", {}, "NOT_FOUND"),  # mentors s1 in another mission only
        ("s1", {}, "NOT_FOUND"),
        ("m1", {"category": "Bravery"}, "UNKNOWN_CATEGORY"),
        ("m1", {"points": 0}, "OUT_OF_RANGE"),
        ("m1", {"points": 1001}, "OUT_OF_RANGE"),
        ("m1", {"reason": " "}, "REQUIRED"),
    ):
        refused = await call(p, who, AWARD, {"i": {**given, **change}}, "pointsAward")
        assert codes(refused) == [code], (who, change)
    assert (await points_of(p, "s1", p.ids["e_s1_ma"]))["points"] == 0
    assert (await ok(p, "m1", AWARD, {"i": given}, "pointsAward"))["points"] == 5
    docked = {**given, "points": -2, "category": "conduct", "reason": "Late twice."}
    assert (await ok(p, "sre", AWARD, {"i": docked}, "pointsAward"))["points"] == 3
    standing = await p.gql(
        "s1",
        """query($e: ID!) { node(id: $e) { ... on Enrollment {
      points pointEntries { edges { node { points reason category note } } } } } }""",
        {"e": p.ids["e_s1_ma"]},
    )
    entries = [e["node"] for e in standing["data"]["node"]["pointEntries"]["edges"]]
    assert entries[:2] == [
        {"points": -2, "reason": "DEDUCTION", "category": "conduct", "note": "Late twice."},
        {"points": 5, "reason": "AWARD", "category": "participation",
         "note": "Led the stand-up."},
    ]  # fmt: skip
    told = await p.gql("s1", "{ notifications { edges { node { kind title } } } }")
    assert {"kind": "POINTS", "title": "+5 points: participation"} in [
        e["node"] for e in told["data"]["notifications"]["edges"]
    ]
    # Each mission names its own categories.
    await ok(p, "admin", RULES, {"i": {"missionId": p.ids["ma"],
                                       "rewardCategories": ["Team spirit"]}},
             "engagementRulesUpdate")  # fmt: skip
    spirit = {**given, "category": "team SPIRIT"}
    assert (await ok(p, "m1", AWARD, {"i": spirit}, "pointsAward"))["points"] == 8
    old = await call(p, "m1", AWARD, {"i": given}, "pointsAward")
    assert codes(old) == ["UNKNOWN_CATEGORY"]
    # Recalculation leaves what was given by hand alone.
    await ok(p, "manager", """mutation($m: ID!) { pointsRecalculate(input: {missionId: $m}) {
      job { id } userErrors { code } } }""", {"m": p.ids["ma"]}, "pointsRecalculate")  # fmt: skip
    await p.api.run_jobs()
    assert (await points_of(p, "s1", p.ids["e_s1_ma"]))["points"] == 8
    # A banned student gains nothing, but may lose points.
    ban = {"enrollmentId": p.ids["e_s1_ma"], "kind": "BAN", "reason": "Copied."}
    await ok(p, "manager", DECIDE, {"i": ban}, "integrityDecide")
    refused = await call(p, "m1", AWARD, {"i": spirit}, "pointsAward")
    assert codes(refused) == ["ACCESS_RESTRICTED"]
    await ok(p, "m1", AWARD, {"i": {**spirit, "points": -1}}, "pointsAward")


async def test_the_ledger_pages_and_sorts_by_points(programme: Programme) -> None:
    p = programme
    await activity(p)
    award = {"enrollmentId": p.ids["e_s1_ma"], "points": 5, "category": "Participation",
             "reason": "Led the stand-up."}  # fmt: skip
    await ok(p, "m1", AWARD, {"i": award}, "pointsAward")
    ledger = """query($e: ID!, $o: PointEntryOrder, $n: Int, $a: String) { node(id: $e) {
      ... on Enrollment { pointEntries(orderBy: $o, first: $n, after: $a) { totalCount
        pageInfo { hasNextPage endCursor } edges { node { points reason } } } } } }"""

    async def page(**given: Any) -> Any:
        body = await p.gql("s1", ledger, {"e": p.ids["e_s1_ma"], "n": 100, **given})
        assert "errors" not in body, body
        return body["data"]["node"]["pointEntries"]

    def entries(found: Any) -> list[Any]:
        return [e["node"] for e in found["edges"]]

    latest = await page()
    assert latest["totalCount"] >= 2 and entries(latest)[0] == {"points": 5, "reason": "AWARD"}
    oldest = await page(o={"field": "CREATED_AT", "direction": "ASC"})
    assert entries(oldest) == entries(latest)[::-1]
    most = entries(await page(o={"field": "POINTS"}))
    assert [e["points"] for e in most] == sorted((e["points"] for e in most), reverse=True)
    seen, after = [], None
    while True:
        one = await page(n=1, a=after)
        assert one["totalCount"] == latest["totalCount"]
        seen += entries(one)
        if not one["pageInfo"]["hasNextPage"]:
            break
        after = one["pageInfo"]["endCursor"]
    assert seen == entries(latest)
