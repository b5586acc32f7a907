"""At-risk students, call lists, call logs, follow-ups and the SRE dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from alumnet.persistence.models import Enrollment
from tests.engagement.conftest import call, codes, ok
from tests.engagement.test_submissions import assignment
from tests.integrity.conftest import Programme
from tests.integrity.test_integrity import DECIDE, ENROLLMENT

REFRESH = """mutation($m: ID) { atRiskRefresh(input: {missionId: $m}) {
  job { id } userErrors { code } } }"""
AT_RISK = """query($m: ID!) { node(id: $m) { ... on Mission { atRisk {
  attendancePercent missedSubmissions reasons enrollment { student { name } } } } } }"""
GENERATE = """mutation($i: CallListGenerateInput!) { callListGenerate(input: $i) {
  callList { id entries { priority reasons script phone called student { id name } } }
  students userErrors { field code message } } }"""
LOG = """mutation($i: CallLogRecordInput!) { callLogRecord(input: $i) {
  recorded followUp { id dueOn status } userErrors { field code message } } }"""
CALLS = """query($e: ID!) { node(id: $e) { ... on Enrollment { callLogs { edges { node {
  outcome notes studentResponse caller { name } } } } } } }"""


async def at_risk_programme(p: Programme) -> None:
    """s1 and s2 in mission ma: no attendance, two assignments missed."""
    past = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    for _ in range(2):
        await assignment(p, opensAt=(datetime.now(UTC) - timedelta(days=5)).isoformat(), dueAt=past)
    await ok(
        p,
        "admin",
        """mutation($i: UserUpdateInput!) { userUpdate(input: $i) {
      userErrors { field code message } } }""",
        {"i": {"id": p.ids["s1"], "phone": "+880 1711-000001"}},
        "userUpdate",
    )
    job = await ok(p, "sre", REFRESH, {"m": p.ids["ma"]}, "atRiskRefresh")
    assert job["job"]["id"]
    await p.api.run_jobs()


async def test_at_risk_students_and_who_sees_them(programme: Programme) -> None:
    p = programme
    await at_risk_programme(p)
    body = await p.gql("sre", AT_RISK, {"m": p.ids["ma"]})
    risky = body["data"]["node"]["atRisk"]
    assert sorted(r["enrollment"]["student"]["name"] for r in risky) == ["S1 Person", "S2 Person"]
    assert risky[0]["attendancePercent"] == 0 and risky[0]["missedSubmissions"] == 2
    assert any("Attendance 0%" in reason for reason in risky[0]["reasons"])
    assert any("2 assignments due" in reason for reason in risky[0]["reasons"])
    for who in ("m1", "s1"):
        node = (await p.gql(who, AT_RISK, {"m": p.ids["ma"]}))["data"]["node"]
        assert node["atRisk"] is None, who
    denied = await p.gql("m1", REFRESH, {"m": p.ids["ma"]})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    phone = """query($u: ID!) { node(id: $u) { ... on User { phone } } }"""
    assert (await p.gql("sre", phone, {"u": p.ids["s1"]}))["data"]["node"][
        "phone"
    ] == "+880 1711-000001"
    assert (await p.gql("m1", phone, {"u": p.ids["s1"]}))["data"]["node"]["phone"] is None


async def test_call_lists_logs_follow_ups_and_the_dashboard(programme: Programme) -> None:
    p = programme
    await at_risk_programme(p)
    generated = await ok(p, "sre", GENERATE, {"i": {"missionId": p.ids["ma"]}}, "callListGenerate")
    assert generated["students"] == 2
    entries = generated["callList"]["entries"]
    assert [e["priority"] for e in entries] == [1, 2]
    s1 = next(e for e in entries if e["student"]["name"] == "S1 Person")
    assert s1["phone"] == "+880 1711-000001" and s1["script"].startswith("Hello S1")
    bad = await call(
        p,
        "sre",
        GENERATE,
        {"i": {"missionId": p.ids["ma"], "assignedToId": p.ids["m1"], "limit": 0}},
        "callListGenerate",
    )
    assert sorted(codes(bad)) == ["NOT_AN_SRE", "OUT_OF_RANGE"]
    denied = await p.gql("m1", GENERATE, {"i": {"missionId": p.ids["ma"]}})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    list_id = generated["callList"]["id"]
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    not_listed = await call(
        p,
        "sre",
        LOG,
        {"i": {"callListId": list_id, "studentId": p.ids["s3"], "outcome": "NO_ANSWER"}},
        "callLogRecord",
    )
    assert codes(not_listed) == ["NOT_ON_LIST"]
    no_day = await call(
        p,
        "sre",
        LOG,
        {"i": {"callListId": list_id, "studentId": p.ids["s1"], "outcome": "RESCHEDULE"}},
        "callLogRecord",
    )
    assert codes(no_day) == ["REQUIRED"]
    rescheduled = await ok(
        p,
        "sre",
        LOG,
        {
            "i": {
                "callListId": list_id,
                "studentId": p.ids["s1"],
                "outcome": "RESCHEDULE",
                "notes": "Sounded unwell.",
                "followUpOn": tomorrow,
            }
        },
        "callLogRecord",
    )
    assert rescheduled["followUp"]["dueOn"] == tomorrow
    await ok(
        p,
        "sre",
        LOG,
        {
            "i": {
                "callListId": list_id,
                "studentId": p.ids["s2"],
                "outcome": "PICKED_UP",
                "studentResponse": "Will submit by Friday.",
            }
        },
        "callLogRecord",
    )
    # Call history: outreach staff and the student's mentors; never the student.
    calls = (await p.gql("m1", CALLS, {"e": p.ids["e_s1_ma"]}))["data"]["node"]["callLogs"]
    assert calls["edges"][0]["node"]["notes"] == "Sounded unwell."
    assert (await p.gql("s1", CALLS, {"e": p.ids["e_s1_ma"]}))["data"]["node"]["callLogs"] is None
    assert (await p.gql("m1", CALLS, {"e": p.ids["e_s2_ma"]}))["data"][
        "node"
    ] is None  # not m1's mentee
    follow_ups = await p.gql(
        "sre",
        "{ followUps(when: UPCOMING) { totalCount edges { node { id dueOn overdue "
        "student { name } } } } }",
    )
    assert follow_ups["data"]["followUps"]["totalCount"] == 1
    [follow_up] = [e["node"] for e in follow_ups["data"]["followUps"]["edges"]]
    assert follow_up["student"]["name"] == "S1 Person" and follow_up["overdue"] is False
    dashboard = await p.gql(
        "sre",
        """query($m: ID!) { outreachDashboard(missionId: $m) {
      atRiskByMission { count mission { code } } callsToday outcomeMix { outcome count }
      overdueFollowUps notReached } }""",
        {"m": p.ids["ma"]},
    )
    figures = dashboard["data"]["outreachDashboard"]
    assert figures["atRiskByMission"] == [{"count": 2, "mission": {"code": "B1-A"}}]
    assert figures["callsToday"] == 2 and figures["overdueFollowUps"] == 0
    assert sorted((o["outcome"], o["count"]) for o in figures["outcomeMix"]) == [
        ("PICKED_UP", 1),
        ("RESCHEDULE", 1),
    ]
    assert figures["notReached"] == 1  # s2 picked up; s1 not yet
    close = """mutation($i: FollowUpCloseInput!) { followUpClose(input: $i) {
      followUp { status } userErrors { code } } }"""
    closed = await ok(
        p,
        "sre",
        close,
        {"i": {"id": follow_up["id"], "done": True, "note": "Called back."}},
        "followUpClose",
    )
    assert closed["followUp"]["status"] == "DONE"
    again = await call(
        p, "sre", close, {"i": {"id": follow_up["id"], "done": False}}, "followUpClose"
    )
    assert codes(again) == ["ALREADY_CLOSED"]
    assert (await p.gql("s1", "{ followUps { totalCount } }"))["errors"][0]["extensions"][
        "code"
    ] == "FORBIDDEN"


async def test_the_nightly_job_ends_bans_whose_last_day_has_passed(programme: Programme) -> None:
    p = programme
    ends = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    await ok(
        p,
        "manager",
        DECIDE,
        {
            "i": {
                "enrollmentId": p.ids["e_s1_ma"],
                "kind": "BAN",
                "reason": "Late work.",
                "banEndsOn": ends,
            }
        },
        "integrityDecide",
    )
    async with p.api.app.state.runtime.database.connect() as conn:
        await conn.execute(
            update(Enrollment)
            .where(Enrollment.status == "banned")
            .values(banned_until=datetime.now(UTC).date() - timedelta(days=1))
        )
        await conn.commit()
    await ok(p, "sre", REFRESH, {"m": None}, "atRiskRefresh")
    await p.api.run_jobs()
    node = (await p.gql("manager", ENROLLMENT, {"e": p.ids["e_s1_ma"]}))["data"]["node"]
    assert node["status"] == "ACTIVE"
    latest = node["accessHistory"][0]
    assert (latest["toStatus"], latest["reason"], latest["changedBy"]) == (
        "active",
        "The ban ended.",
        None,
    )


CALL_LISTS = """query($o: CallListOrder, $n: Int, $a: String, $mine: Boolean! = true) {
  callLists(orderBy: $o, first: $n, after: $a, mine: $mine) { totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { title assignedTo { name } entries { priority student { name } } } } } }"""
FOLLOW_UPS = """query($o: FollowUpOrder, $n: Int, $a: String) {
  followUps(orderBy: $o, first: $n, after: $a) { totalCount pageInfo { hasNextPage endCursor }
    edges { node { dueOn note student { name } assignedTo { name } } } } }"""


async def _titles(p: Programme, query: str, variables: dict[str, object], key: str) -> Any:
    body = await p.gql("sre", query, variables)
    assert "errors" not in body, body
    return body["data"][key]


async def test_call_lists_are_a_sorted_connection(programme: Programme) -> None:
    p = programme
    await at_risk_programme(p)
    for title in ("Charlie", "Alpha", "Bravo"):
        await ok(p, "sre", GENERATE, {"i": {"missionId": p.ids["ma"], "title": title}},
                 "callListGenerate")  # fmt: skip

    async def titles(order: dict[str, str] | None) -> list[str]:
        page = await _titles(p, CALL_LISTS, {"o": order, "n": 10}, "callLists")
        assert page["totalCount"] == 3
        return [e["node"]["title"] for e in page["edges"]]

    assert await titles(None) == ["Bravo", "Alpha", "Charlie"]  # newest first
    assert await titles({"field": "CREATED_AT", "direction": "ASC"}) == [
        "Charlie", "Alpha", "Bravo"
    ]  # fmt: skip
    assert await titles({"field": "TITLE"}) == ["Alpha", "Bravo", "Charlie"]
    assert await titles({"field": "TITLE", "direction": "DESC"}) == ["Charlie", "Bravo", "Alpha"]
    # Two at a time, with the count of the whole list on each page.
    order = {"field": "TITLE"}
    first = await _titles(p, CALL_LISTS, {"o": order, "n": 2}, "callLists")
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    after = first["pageInfo"]["endCursor"]
    rest = await _titles(p, CALL_LISTS, {"o": order, "n": 2, "a": after}, "callLists")
    assert [e["node"]["title"] for e in first["edges"] + rest["edges"]] == [
        "Alpha", "Bravo", "Charlie"
    ]  # fmt: skip
    assert rest["totalCount"] == 3 and not rest["pageInfo"]["hasNextPage"]
    # Someone else's lists only when asked for.
    theirs = await p.gql("manager", CALL_LISTS, {"n": 10})
    assert theirs["data"]["callLists"]["totalCount"] == 0
    everyone = await p.gql("manager", CALL_LISTS, {"n": 10, "mine": False})
    assert everyone["data"]["callLists"]["totalCount"] == 3
    denied = await p.gql("m1", CALL_LISTS, {"n": 10})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_call_lists_take_the_same_statements_for_any_number(programme: Programme) -> None:
    p = programme
    await at_risk_programme(p)
    generate = {"i": {"missionId": p.ids["ma"]}}
    await ok(p, "sre", GENERATE, generate, "callListGenerate")
    few, _ = await p.api.sql_count(CALL_LISTS, {"n": 50}, p.tokens["sre"])
    for _ in range(4):
        await ok(p, "sre", GENERATE, generate, "callListGenerate")
    many, large = await p.api.sql_count(CALL_LISTS, {"n": 50}, p.tokens["sre"])
    assert large["data"]["callLists"]["totalCount"] == 5
    assert many == few, (few, many)


async def test_follow_ups_are_a_sorted_connection(programme: Programme) -> None:
    p = programme
    await at_risk_programme(p)
    generated = await ok(p, "sre", GENERATE, {"i": {"missionId": p.ids["ma"]}}, "callListGenerate")
    today = datetime.now(UTC).date()
    for student, days in (("s1", 3), ("s2", 1), ("s1", 2)):
        due = (today + timedelta(days=days)).isoformat()
        await ok(p, "sre", LOG, {"i": {"callListId": generated["callList"]["id"],
                 "studentId": p.ids[student], "outcome": "RESCHEDULE", "notes": f"in {days}",
                 "followUpOn": due}}, "callLogRecord")  # fmt: skip

    async def notes(order: dict[str, str] | None, n: int = 10, a: str | None = None) -> Any:
        return await _titles(p, FOLLOW_UPS, {"o": order, "n": n, "a": a}, "followUps")

    def said(page: Any) -> list[str]:
        return [e["node"]["note"] for e in page["edges"]]

    everything = await notes(None)
    assert everything["totalCount"] == 3
    assert said(everything) == ["in 1", "in 2", "in 3"]  # soonest first
    assert everything["edges"][0]["node"]["student"]["name"] == "S2 Person"
    assert said(await notes({"field": "DUE_ON", "direction": "DESC"})) == ["in 3", "in 2", "in 1"]
    assert said(await notes({"field": "CREATED_AT"})) == ["in 2", "in 1", "in 3"]  # newest first
    first = await notes({"field": "DUE_ON"}, 2)
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    rest = await notes({"field": "DUE_ON"}, 2, first["pageInfo"]["endCursor"])
    assert said(first) + said(rest) == ["in 1", "in 2", "in 3"]
    assert not rest["pageInfo"]["hasNextPage"]


async def test_call_logs_are_a_sorted_connection(programme: Programme) -> None:
    p = programme
    await at_risk_programme(p)
    generated = await ok(p, "sre", GENERATE, {"i": {"missionId": p.ids["ma"]}}, "callListGenerate")
    for outcome, note in (("NO_ANSWER", "one"), ("BUSY", "two"), ("PICKED_UP", "three")):
        await ok(p, "sre", LOG, {"i": {"callListId": generated["callList"]["id"],
                 "studentId": p.ids["s1"], "outcome": outcome, "notes": note}},
                 "callLogRecord")  # fmt: skip
    calls = """query($e: ID!, $o: CallLogOrder, $n: Int, $a: String) { node(id: $e) {
      ... on Enrollment { callLogs(orderBy: $o, first: $n, after: $a) { totalCount
        pageInfo { hasNextPage endCursor } edges { node { notes } } } } } }"""

    async def page(who: str = "sre", **given: Any) -> Any:
        body = await p.gql(who, calls, {"e": p.ids["e_s1_ma"], **given})
        assert "errors" not in body, body
        return body["data"]["node"]["callLogs"]

    async def notes(**given: Any) -> list[str]:
        found = await page(**given)
        assert found["totalCount"] == 3
        return [e["node"]["notes"] for e in found["edges"]]

    assert await notes() == ["three", "two", "one"]  # latest first
    assert await notes(o={"field": "CALLED_AT", "direction": "ASC"}) == ["one", "two", "three"]
    assert await notes(o={"field": "OUTCOME"}) == ["two", "one", "three"]  # BUSY, NO_ANSWER…
    assert await notes(o={"field": "OUTCOME", "direction": "DESC"}) == ["three", "one", "two"]
    first = await page(n=2)
    assert [e["node"]["notes"] for e in first["edges"]] == ["three", "two"]
    rest = await page(n=2, a=first["pageInfo"]["endCursor"])
    assert [e["node"]["notes"] for e in rest["edges"]] == ["one"]
    assert rest["totalCount"] == 3 and not rest["pageInfo"]["hasNextPage"]
    # The student's mentor reads them; the student never.
    assert (await page("m1"))["totalCount"] == 3
    assert await page("s1") is None
