"""Assignments and submissions: on time, late, refused; bulk recording from a paste."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.engagement.conftest import Programme, call, codes, ok, points_of

CREATE = """mutation($i: AssignmentCreateInput!) { assignmentCreate(input: $i) {
  assignment { id maxPoints latePolicy } userErrors { field code message } } }"""
SUBMIT = """mutation($i: SubmissionCreateInput!) { submissionCreate(input: $i) {
  submission { id late recordedInBulk } created userErrors { field code message } } }"""
BULK = """mutation($i: SubmissionBulkRecordInput!) { submissionBulkRecord(input: $i) {
  recorded alreadyRecorded late lines { line text outcome } userErrors { field code message } } }"""


def at(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def assignment(p: Programme, **fields: Any) -> str:
    given = {"missionId": p.ids["ma"], "title": "Essay", "dueAt": at(days=1), "maxPoints": 10}
    payload = await ok(p, "sre", CREATE, {"i": {**given, **fields}}, "assignmentCreate")
    return str(payload["assignment"]["id"])


async def test_on_time_late_and_refused(programme: Programme) -> None:
    p = programme
    on_time = await assignment(p)
    first = await ok(
        p,
        "s1",
        SUBMIT,
        {"i": {"assignmentId": on_time, "content": "https://x"}},
        "submissionCreate",
    )
    assert first["created"] is True and first["submission"]["late"] is False
    again = await ok(p, "s1", SUBMIT, {"i": {"assignmentId": on_time}}, "submissionCreate")
    assert again["created"] is False
    late = await assignment(p, opensAt=at(days=-3), dueAt=at(days=-1))
    payload = await ok(p, "s1", SUBMIT, {"i": {"assignmentId": late}}, "submissionCreate")
    assert payload["submission"]["late"] is True
    standing = await points_of(p, "s1", p.ids["e_s1_ma"])
    assert standing["points"] == 10 + 5  # 100% and 50% of 10
    assert standing["progress"]["submissionsOnTime"] == 1
    assert standing["progress"]["submissionsLate"] == 1
    closed = await assignment(p, opensAt=at(days=-3), dueAt=at(days=-2), latePolicy="NO_LATE")
    cutoff = await assignment(p, opensAt=at(days=-3), dueAt=at(days=-2), lateCutoffAt=at(days=-1))
    not_open = await assignment(p, opensAt=at(days=1), dueAt=at(days=2))
    for who, target, code in (
        ("s1", closed, "CLOSED"),
        ("s1", cutoff, "CLOSED"),
        ("s1", not_open, "NOT_OPEN"),
        ("s3", on_time, "NOT_ENROLLED"),
    ):
        payload = await call(p, who, SUBMIT, {"i": {"assignmentId": target}}, "submissionCreate")
        assert codes(payload) == [code], (target, payload)
    # Missing: due assignments without a submission.
    assert (await points_of(p, "s2", p.ids["e_s2_ma"]))["progress"]["submissionsMissing"] == 3
    bad = await call(
        p,
        "sre",
        CREATE,
        {
            "i": {
                "missionId": p.ids["ma"],
                "title": "X",
                "dueAt": at(days=1),
                "opensAt": at(days=2),
                "maxPoints": -1,
            }
        },
        "assignmentCreate",
    )
    assert sorted(codes(bad)) == ["DATES_OUT_OF_ORDER", "OUT_OF_RANGE"]
    denied = await p.gql(
        "m1", CREATE, {"i": {"missionId": p.ids["ma"], "title": "X", "dueAt": at(days=1)}}
    )
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_bulk_record_from_a_messy_paste_is_idempotent(programme: Programme) -> None:
    p = programme
    target = await assignment(p)
    paste = """S1@Example.org
    not an address at all
    s2@example.org, s1@example.org
    "S3 Person" <s3@example.org>
    nobody@example.org

    """
    payload = await ok(
        p, "sre", BULK, {"i": {"assignmentId": target, "emails": paste}}, "submissionBulkRecord"
    )
    outcomes = [(x["line"], x["outcome"]) for x in payload["lines"]]
    assert outcomes == [
        (1, "RECORDED"),
        (2, "NOT_AN_ADDRESS"),
        (3, "RECORDED"),
        (3, "DUPLICATE"),
        (4, "NOT_ENROLLED"),  # s3 is in another mission
        (5, "UNKNOWN_EMAIL"),
    ]
    assert payload["recorded"] == 2 and payload["late"] is False
    again = await ok(
        p, "sre", BULK, {"i": {"assignmentId": target, "emails": paste}}, "submissionBulkRecord"
    )
    assert again["recorded"] == 0 and again["alreadyRecorded"] == 2
    assert (await points_of(p, "s1", p.ids["e_s1_ma"]))["points"] == 10
    query = """query($a: ID!) { node(id: $a) { ... on Assignment { submissions {
      totalCount edges { node { recordedInBulk } } } } } }"""
    seen = {}
    for who in ("sre", "m1", "s2"):
        body = await p.gql(who, query, {"a": target})
        seen[who] = body["data"]["node"]["submissions"]["totalCount"]
    assert seen == {"sre": 2, "m1": 1, "s2": 1}
    junk = await call(
        p,
        "sre",
        BULK,
        {"i": {"assignmentId": target, "emails": "hello\nworld"}},
        "submissionBulkRecord",
    )
    assert codes(junk) == ["REQUIRED"]
    future = await call(
        p,
        "sre",
        BULK,
        {"i": {"assignmentId": target, "emails": "s2@example.org", "submittedAt": at(days=1)}},
        "submissionBulkRecord",
    )
    assert codes(future) == ["FUTURE_TIME"]
    denied = await p.gql("s1", BULK, {"i": {"assignmentId": target, "emails": "s1@example.org"}})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
