"""Flags, decisions, appeals and access: who may do what, and what a ban takes away."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from alumnet.persistence.models import IntegrityDecision
from tests.engagement.conftest import SUBMIT, call, codes, ok, points_of
from tests.integrity.conftest import Programme

FLAG = """mutation($i: IntegrityFlagRaiseInput!) { integrityFlagRaise(input: $i) {
  flag { id kind evidence } userErrors { field code message } } }"""
DECIDE = """mutation($i: IntegrityDecideInput!) { integrityDecide(input: $i) {
  decision { id kind status penaltyPoints banEndsOn } userErrors { field code message } } }"""
APPEAL = """mutation($i: AppealSubmitInput!) { appealSubmit(input: $i) {
  appeal { id status } userErrors { field code message } } }"""
REVIEW = """mutation($i: AppealReviewInput!) { appealReview(input: $i) {
  appeal { id status reviewReason } userErrors { field code message } } }"""
ENROLLMENT = """query($e: ID!) { node(id: $e) { ... on Enrollment { status points
  integrityFlags { kind evidence raisedBy { name } }
  decisions { kind status appeal { status } }
  accessHistory { fromStatus toStatus reason changedBy { name } } } } }"""


async def test_who_may_flag_and_who_sees_the_evidence(programme: Programme) -> None:
    p = programme
    flag = {"enrollmentId": p.ids["e_s1_ma"], "kind": "PLAGIARISM", "evidence": "Copied essay."}
    await ok(p, "m1", FLAG, {"i": flag}, "integrityFlagRaise")  # m1 mentors s1 in ma
    for who in ("m2", "s1", "s2"):  # m2 mentors s1 only in mb
        refused = await call(p, who, FLAG, {"i": flag}, "integrityFlagRaise")
        assert codes(refused) == ["NOT_FOUND"], who
    await ok(p, "sre", FLAG, {"i": {**flag, "kind": "CHEATING"}}, "integrityFlagRaise")
    bad = await call(p, "sre", FLAG, {"i": {**flag, "evidence": " "}}, "integrityFlagRaise")
    assert codes(bad) == ["REQUIRED"]
    staff = (await p.gql("manager", ENROLLMENT, {"e": p.ids["e_s1_ma"]}))["data"]["node"]
    assert [f["evidence"] for f in staff["integrityFlags"]] == ["Copied essay.", "Copied essay."]
    mentor = (await p.gql("m1", ENROLLMENT, {"e": p.ids["e_s1_ma"]}))["data"]["node"]
    assert len(mentor["integrityFlags"]) == 2 and mentor["integrityFlags"][0]["evidence"]
    student = (await p.gql("s1", ENROLLMENT, {"e": p.ids["e_s1_ma"]}))["data"]["node"]
    assert [(f["kind"], f["evidence"], f["raisedBy"]) for f in student["integrityFlags"]] == [
        ("CHEATING", None, None),
        ("PLAGIARISM", None, None),
    ]
    assert (await p.gql("m2", ENROLLMENT, {"e": p.ids["e_s1_ma"]}))["data"]["node"] is None


async def test_a_ban_restricts_access_and_an_accepted_appeal_restores_it(
    programme: Programme,
) -> None:
    p = programme
    await ok(p, "s1", SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
    ends = (datetime.now(UTC).date() + timedelta(days=10)).isoformat()
    ban = {
        "enrollmentId": p.ids["e_s1_ma"],
        "kind": "BAN",
        "reason": "Plagiarism in week 3.",
        "banEndsOn": ends,
        "penaltyPoints": 5,
    }
    denied = await p.gql("sre", DECIDE, {"i": ban})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    decision = (await ok(p, "manager", DECIDE, {"i": ban}, "integrityDecide"))["decision"]
    assert decision["kind"] == "BAN" and decision["banEndsOn"] == ends
    # Restricted everywhere it matters, in the domain.
    refused = await call(p, "s1", SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
    assert codes(refused) == ["ACCESS_RESTRICTED"]
    corrected = await call(
        p,
        "sre",
        """mutation($i: AttendanceCorrectInput!) { attendanceCorrect(input: $i) {
      userErrors { code } } }""",
        {
            "i": {
                "enrollmentId": p.ids["e_s1_ma"],
                "day": (datetime.now(UTC).date() - timedelta(days=1)).isoformat(),
                "present": True,
                "reason": "x",
            }
        },
        "attendanceCorrect",
    )
    assert codes(corrected) == ["ACCESS_RESTRICTED"]
    status = await call(
        p,
        "admin",
        """mutation($i: EnrollmentUpdateInput!) { enrollmentUpdate(input: $i) {
      userErrors { code } } }""",
        {"i": {"id": p.ids["e_s1_ma"], "status": "ACTIVE"}},
        "enrollmentUpdate",
    )
    assert codes(status) == ["RESTRICTED"]
    # s1 still works in their other mission.
    await ok(p, "s1", SUBMIT, {"i": {"missionId": p.ids["mb"]}}, "attendanceSubmit")
    node = (await p.gql("s1", ENROLLMENT, {"e": p.ids["e_s1_ma"]}))["data"]["node"]
    assert node["status"] == "BANNED" and node["points"] == 1 - 5
    assert [(c["fromStatus"], c["toStatus"]) for c in node["accessHistory"]] == [
        ("active", "banned")
    ]
    assert node["accessHistory"][0]["changedBy"] is None  # the student may not see the manager
    staff = (await p.gql("admin", ENROLLMENT, {"e": p.ids["e_s1_ma"]}))["data"]["node"]
    assert staff["accessHistory"][0]["changedBy"]["name"] == "MANAGER Person"
    await p.api.run_jobs()
    assert any("Plagiarism in week 3." in m for m in p.api.mailbox.to("s1@example.org"))
    # Appeals: the student, once; only managers review.
    assert codes(
        await call(
            p,
            "s2",
            APPEAL,
            {"i": {"decisionId": decision["id"], "statement": "Not mine."}},
            "appealSubmit",
        )
    ) == ["NOT_FOUND"]
    appeal = (
        await ok(
            p,
            "s1",
            APPEAL,
            {"i": {"decisionId": decision["id"], "statement": "I cited it."}},
            "appealSubmit",
        )
    )["appeal"]
    twice = await call(
        p,
        "s1",
        APPEAL,
        {"i": {"decisionId": decision["id"], "statement": "Again."}},
        "appealSubmit",
    )
    assert codes(twice) == ["ALREADY_APPEALED"]
    denied = await p.gql(
        "sre", REVIEW, {"i": {"appealId": appeal["id"], "accept": True, "reason": "x"}}
    )
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    reviewed = await ok(
        p,
        "manager",
        REVIEW,
        {"i": {"appealId": appeal["id"], "accept": True, "reason": "The citation was there."}},
        "appealReview",
    )
    assert reviewed["appeal"]["status"] == "ACCEPTED"
    again = await call(
        p,
        "manager",
        REVIEW,
        {"i": {"appealId": appeal["id"], "accept": False, "reason": "x"}},
        "appealReview",
    )
    assert codes(again) == ["ALREADY_REVIEWED"]
    node = (await p.gql("s1", ENROLLMENT, {"e": p.ids["e_s1_ma"]}))["data"]["node"]
    assert node["status"] == "ACTIVE" and node["points"] == 1
    assert node["decisions"] == [
        {"kind": "BAN", "status": "REVERSED", "appeal": {"status": "ACCEPTED"}}
    ]
    assert [c["toStatus"] for c in node["accessHistory"]] == ["active", "banned"]
    standing = await points_of(p, "s1", p.ids["e_s1_ma"])
    assert [e["reason"] for e in standing["pointEntries"]] == ["PENALTY", "PENALTY", "ATTENDANCE"]
    await p.api.run_jobs()
    assert any("accepted" in m for m in p.api.mailbox.to("s1@example.org"))


async def test_delisting_deadlines_and_bad_decisions(programme: Programme) -> None:
    p = programme
    delist = {"enrollmentId": p.ids["e_s2_ma"], "kind": "DELIST", "reason": "Repeated cheating."}
    decision = (await ok(p, "manager", DECIDE, {"i": delist}, "integrityDecide"))["decision"]
    again = await call(p, "manager", DECIDE, {"i": delist}, "integrityDecide")
    assert codes(again) == ["ALREADY_DELISTED"]
    refused = await call(p, "s2", SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
    assert codes(refused) == ["ACCESS_RESTRICTED"]
    bad = await call(
        p,
        "manager",
        DECIDE,
        {
            "i": {
                "enrollmentId": p.ids["e_s1_ma"],
                "kind": "WARN",
                "reason": "x",
                "banEndsOn": "2020-01-01",
                "penaltyPoints": -1,
            }
        },
        "integrityDecide",
    )
    assert sorted(codes(bad)) == ["INVALID", "OUT_OF_RANGE"]
    past = await call(
        p,
        "manager",
        DECIDE,
        {
            "i": {
                "enrollmentId": p.ids["e_s1_ma"],
                "kind": "BAN",
                "reason": "x",
                "banEndsOn": "2020-01-01",
            }
        },
        "integrityDecide",
    )
    assert codes(past) == ["DATE_IN_PAST"]
    # The appeal window closes.
    async with p.api.app.state.runtime.database.connect() as conn:
        await conn.execute(
            update(IntegrityDecision).values(appeal_until=datetime.now(UTC) - timedelta(minutes=1))
        )
        await conn.commit()
    late = await call(
        p,
        "s2",
        APPEAL,
        {"i": {"decisionId": decision["id"], "statement": "Please."}},
        "appealSubmit",
    )
    assert codes(late) == ["DEADLINE_PASSED"]


async def test_an_accepted_appeal_does_not_undo_a_later_decision(programme: Programme) -> None:
    p = programme
    ends = (datetime.now(UTC).date() + timedelta(days=10)).isoformat()
    target = {"enrollmentId": p.ids["e_s1_ma"], "reason": "Copied work."}
    ban = (
        await ok(
            p,
            "manager",
            DECIDE,
            {"i": {**target, "kind": "BAN", "banEndsOn": ends}},
            "integrityDecide",
        )
    )["decision"]
    await ok(p, "manager", DECIDE, {"i": {**target, "kind": "DELIST"}}, "integrityDecide")
    appeal = (
        await ok(
            p,
            "s1",
            APPEAL,
            {"i": {"decisionId": ban["id"], "statement": "The ban was unfair."}},
            "appealSubmit",
        )
    )["appeal"]
    await ok(
        p,
        "manager",
        REVIEW,
        {"i": {"appealId": appeal["id"], "accept": True, "reason": "Ban lifted."}},
        "appealReview",
    )
    node = (await p.gql("manager", ENROLLMENT, {"e": p.ids["e_s1_ma"]}))["data"]["node"]
    assert node["status"] == "DELISTED"
    assert [d["status"] for d in node["decisions"]] == ["IN_FORCE", "REVERSED"]


QUEUES = """query($m: ID) {
  appeals(filter: {missionId: $m}) { totalCount edges { node { statement status
    decision { kind reason enrollment { student { email } } } } } }
  integrityFlags(filter: {missionId: $m}) { totalCount edges { node { kind evidence
    enrollment { student { email } } raisedBy { email } } } }
}"""


async def test_appeals_and_open_flags_wait_in_a_queue_for_those_who_decide(
    programme: Programme,
) -> None:
    p = programme
    flag = {"enrollmentId": p.ids["e_s1_ma"], "kind": "PLAGIARISM", "evidence": "Copied."}
    raised = await ok(p, "m1", FLAG, {"i": flag}, "integrityFlagRaise")
    other = {"enrollmentId": p.ids["e_s3_mc"], "kind": "CHEATING", "evidence": "Notes."}
    await ok(p, "sre", FLAG, {"i": other}, "integrityFlagRaise")
    warn = {"enrollmentId": p.ids["e_s1_ma"], "kind": "WARN", "reason": "Cite sources.",
            "flagId": raised["flag"]["id"]}  # fmt: skip
    decision = (await ok(p, "manager", DECIDE, {"i": warn}, "integrityDecide"))["decision"]
    statement = {"decisionId": decision["id"], "statement": "I cited them."}
    await ok(p, "s1", APPEAL, {"i": statement}, "appealSubmit")
    body = await p.gql("manager", QUEUES, {"m": None})
    assert [e["node"] for e in body["data"]["appeals"]["edges"]] == [
        {"statement": "I cited them.", "status": "PENDING",
         "decision": {"kind": "WARN", "reason": "Cite sources.",
                      "enrollment": {"student": {"email": "s1@example.org"}}}}
    ]  # fmt: skip
    # The flag decided is out of the queue; the other one waits.
    assert [e["node"]["kind"] for e in body["data"]["integrityFlags"]["edges"]] == ["CHEATING"]
    in_ma = await p.gql("manager", QUEUES, {"m": p.ids["ma"]})
    assert in_ma["data"]["integrityFlags"]["totalCount"] == 0
    assert in_ma["data"]["appeals"]["totalCount"] == 1
    for who in ("sre", "m1", "s1", None):
        refused = await p.gql(who, QUEUES, {"m": None}) if who else await p.api.gql(QUEUES)
        assert refused["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "UNAUTHENTICATED")
    # Those who decide were told of each flag and of the appeal.
    told = await p.gql("manager", "{ notifications { edges { node { kind title } } } }")
    titles = [e["node"]["title"] for e in told["data"]["notifications"]["edges"]
              if e["node"]["kind"] == "REVIEW"]  # fmt: skip
    assert len(titles) == 3 and any(t.startswith("An appeal to review: S1") for t in titles)
    sre = await p.gql("sre", "{ notifications { edges { node { kind } } } }")
    assert "REVIEW" not in [e["node"]["kind"] for e in sre["data"]["notifications"]["edges"]]


async def test_the_queues_cost_the_same_statements_for_more_cases(programme: Programme) -> None:
    p = programme
    counts = []
    for enrollment, student in (("e_s1_ma", "s1"), ("e_s2_ma", "s2"), ("e_s1_mb", "s1")):
        flag = {"enrollmentId": p.ids[enrollment], "kind": "OTHER", "evidence": "Seen."}
        await ok(p, "sre", FLAG, {"i": flag}, "integrityFlagRaise")
        warn = {"enrollmentId": p.ids[enrollment], "kind": "WARN", "reason": "Careful."}
        decision = (await ok(p, "manager", DECIDE, {"i": warn}, "integrityDecide"))["decision"]
        statement = {"decisionId": decision["id"], "statement": "Fair."}
        await ok(p, student, APPEAL, {"i": statement}, "appealSubmit")
        count, body = await p.api.sql_count(QUEUES, {"m": None}, p.tokens["manager"])
        assert "errors" not in body, body
        counts.append(count)
    assert counts[0] == counts[-1], counts
