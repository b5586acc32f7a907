"""Certificates of completion: issued when a mission is completed to the students who met
its rule, e-mailed as a PDF, verified by anyone by their code, revoked by staff."""

from __future__ import annotations

import email
from datetime import UTC, date, datetime, timedelta
from email import policy
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import insert, update
from strawberry.relay import from_base64

from alumnet.domain.data import files
from alumnet.domain.engagement.rules import rules_of
from alumnet.persistence.models import AttendanceDay, Mission
from tests.engagement.conftest import Programme, call, codes, ok
from tests.engagement.test_points import AWARD

COMPLETE = """mutation($i: MissionUpdateInput!) { missionUpdate(input: $i) {
  mission { status } userErrors { field code } } }"""
RULE = """mutation($i: EngagementRulesUpdateInput!) { engagementRulesUpdate(input: $i) {
  rules { completionMinPoints completionMinAttendancePercent }
  userErrors { field code } } }"""
MINE = """query($e: ID!) { node(id: $e) { ... on Enrollment { certificate {
  id code studentName missionTitle completedOn points attendancePercent revokedAt
  file { name contentType downloadUrl } } } } }"""
VERIFY = """query($c: String!) { certificateVerify(code: $c) { name mission completedOn } }"""
ISSUE = """mutation($m: ID!) { certificateIssue(input: {missionId: $m}) {
  job { id } userErrors { field code } } }"""
REVOKE = """mutation($i: CertificateRevokeInput!) { certificateRevoke(input: $i) {
  certificate { revokedAt revokedReason } userErrors { field code } } }"""


async def certificate(p: Programme, who: str, enrollment: str) -> Any:
    body = await p.gql(who, MINE, {"e": p.ids[enrollment]})
    assert "errors" not in body, body
    node = body["data"]["node"]
    return None if node is None else node["certificate"]


async def verify(p: Programme, code: str) -> Any:
    body = await p.api.gql(VERIFY, {"c": code})  # anyone: no token
    assert "errors" not in body, body
    return body["data"]["certificateVerify"]


def pk(gid: str) -> int:
    return int(from_base64(gid)[1])


async def attended(p: Programme, enrollment: str, student: str, days: list[date]) -> None:
    async with p.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            insert(AttendanceDay),
            [{"enrollment_id": pk(p.ids[enrollment]), "mission_id": pk(p.ids["ma"]),
              "student_id": pk(p.ids[student]), "day": d, "kind": "check_in",
              "status": "present"} for d in days],
        )  # fmt: skip


async def test_certified_on_completion_e_mailed_and_verified(programme: Programme) -> None:
    p = programme
    # B1-A over ten days; the rule: 5 points and 30% of the days attended.
    start = date(2026, 11, 20)
    await ok(p, "admin", COMPLETE, {"i": {"id": p.ids["ma"], "startsOn": start.isoformat(),
             "endsOn": (start + timedelta(days=9)).isoformat()}}, "missionUpdate")  # fmt: skip
    bad = await call(p, "manager", RULE, {"i": {"missionId": p.ids["ma"],
                     "completionMinAttendancePercent": 101}}, "engagementRulesUpdate")  # fmt: skip
    assert codes(bad) == ["OUT_OF_RANGE"]
    rule = await ok(p, "manager", RULE, {"i": {"missionId": p.ids["ma"], "completionMinPoints": 5,
                    "completionMinAttendancePercent": 30}}, "engagementRulesUpdate")  # fmt: skip
    assert rule["rules"] == {"completionMinPoints": 5, "completionMinAttendancePercent": 30}
    award = {"points": 5, "category": "Participation", "reason": "Led the stand-up."}
    await ok(p, "m1", AWARD, {"i": {"enrollmentId": p.ids["e_s1_ma"], **award}}, "pointsAward")
    await ok(p, "m2", AWARD, {"i": {"enrollmentId": p.ids["e_s2_ma"], **award}}, "pointsAward")
    await attended(p, "e_s1_ma", "s1", [start + timedelta(days=i) for i in range(3)])
    await attended(p, "e_s2_ma", "s2", [start + timedelta(days=i) for i in range(2)])  # 20%
    not_yet = await call(p, "manager", ISSUE, {"m": p.ids["ma"]}, "certificateIssue")
    assert codes(not_yet) == ["NOT_COMPLETED"]
    done = await ok(p, "admin", COMPLETE, {"i": {"id": p.ids["ma"], "status": "COMPLETED"}},
                    "missionUpdate")  # fmt: skip
    assert done["mission"]["status"] == "COMPLETED"
    await p.api.run_jobs()  # completing it queued the certificates (they may run at once)
    async with p.api.app.state.runtime.transaction() as uow:
        mission = await uow.session.get(Mission, pk(p.ids["ma"]))
        assert mission is not None and mission.completed_at is not None
        # The day it was completed, in the mission's time zone.
        completed_on = (await rules_of(uow, mission.id)).today(mission.completed_at)
    mine = await certificate(p, "s1", "e_s1_ma")
    assert mine["studentName"] == "S1 Person" and mine["missionTitle"] == "B1-A"
    assert mine["points"] == 5 and mine["attendancePercent"] == 30
    assert mine["completedOn"] == completed_on.isoformat()
    assert len(mine["code"]) == 14 and mine["code"].count("-") == 2
    assert await certificate(p, "s2", "e_s2_ma") is None  # 20% < 30%
    for who in ("m1", "manager"):  # their mentor, and staff, see it too
        assert (await certificate(p, who, "e_s1_ma"))["code"] == mine["code"], who
    assert (await p.gql("m2", MINE, {"e": p.ids["e_s1_ma"]}))["data"]["node"] is None
    # The PDF: kept, downloadable, and attached to the e-mail.
    url = urlparse(mine["file"]["downloadUrl"])
    pdf = await p.api.client.get(f"{url.path}?{url.query}")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert mine["file"]["contentType"] == "application/pdf"
    [letter] = [
        email.message_from_string(raw, policy=policy.default)
        for raw in p.api.mailbox.to("s1@example.org")
    ]
    assert letter["Subject"] == "Your certificate: B1-A"
    [attachment] = list(letter.iter_attachments())  # type: ignore[attr-defined]
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == pdf.content
    # Anyone verifies it: name, mission, date; nothing else.
    verified = await verify(p, mine["code"])
    assert verified == {"name": "S1 Person", "mission": "B1-A", "completedOn": mine["completedOn"]}
    assert await verify(p, mine["code"].replace("-", "").lower()) == verified
    assert await verify(p, "0000-0000-0000") is None
    assert await verify(p, "not a code") is None
    assert await verify(p, "x" * 10_000) is None
    # Asking again certifies nobody twice; s2 with a third day now qualifies.
    await attended(p, "e_s2_ma", "s2", [start + timedelta(days=5)])
    # The date printed is the mission's completion, not the day of issue: ten days ago here.
    completed = datetime.now(UTC) - timedelta(days=10)
    async with p.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(Mission).where(Mission.id == pk(p.ids["ma"])).values(completed_at=completed)
        )
        ten_days_ago = (await rules_of(uow, pk(p.ids["ma"]))).today(completed)
    await ok(p, "admin", COMPLETE, {"i": {"id": p.ids["ma"], "description": "Typo fixed."}},
             "missionUpdate")  # an edit later does not move the date printed  # fmt: skip
    await ok(p, "manager", ISSUE, {"m": p.ids["ma"]}, "certificateIssue")
    await p.api.run_jobs()
    assert (await certificate(p, "s1", "e_s1_ma"))["code"] == mine["code"]
    assert (await certificate(p, "s2", "e_s2_ma"))["completedOn"] == ten_days_ago.isoformat()
    assert len(p.api.mailbox.to("s1@example.org")) == 1
    # Revoked: the same answer as a code that never existed.
    for who in ("m1", "s1"):
        denied = await p.gql(who, REVOKE, {"i": {"id": mine["id"], "reason": "x"}})
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
    no_reason = await call(p, "manager", REVOKE, {"i": {"id": mine["id"], "reason": " "}},
                           "certificateRevoke")  # fmt: skip
    assert codes(no_reason) == ["REQUIRED"]
    revoked = await ok(p, "manager", REVOKE, {"i": {"id": mine["id"], "reason": "Copied work."}},
                       "certificateRevoke")  # fmt: skip
    assert revoked["certificate"]["revokedReason"] == "Copied work."
    assert await verify(p, mine["code"]) is None


async def test_an_erased_student_s_certificate_goes(programme: Programme) -> None:
    p = programme
    await ok(p, "admin", COMPLETE, {"i": {"id": p.ids["ma"], "status": "COMPLETED"}},
             "missionUpdate")  # fmt: skip
    await p.api.run_jobs()
    code = (await certificate(p, "s2", "e_s2_ma"))["code"]  # the default rule: everyone
    assert await verify(p, code) is not None
    deleted = """mutation($u: ID!) { userDelete(input: {userId: $u, reason: "Asked to."}) {
      userErrors { code } } }"""
    await ok(p, "admin", deleted, {"u": p.ids["s2"]}, "userDelete")
    assert await verify(p, code) is None
    assert await certificate(p, "manager", "e_s2_ma") is None


def test_the_pdf_is_a_whole_pdf_and_prints_any_name() -> None:
    import io

    from alumnet.domain.engagement.certificates import render_pdf

    for name in ("Zoë Ødegård", "আয়েশা রহমান", "O'Brien <script>"):
        data = render_pdf(name, "Foundations", date(2026, 12, 4), "ABCD1234EFGH", "https://x")
        assert files.whole("application/pdf", io.BytesIO(data), len(data)), name
