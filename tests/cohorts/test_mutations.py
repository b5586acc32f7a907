"""Building and keeping the structure: validation, idempotency, permissions, audit."""

from __future__ import annotations

import re

import pytest
from strawberry.relay import from_base64, to_base64

from tests.cohorts.conftest import ASSIGN, BATCH, ENROLL, MISSION, Programme

BULK = """mutation($i: EnrollmentBulkCreateInput!) {
  enrollmentBulkCreate(input: $i) { added alreadyPresent userErrors { field code message } }
}"""
REASSIGN = """mutation($i: MentorReassignInput!) {
  mentorReassign(input: $i) { moved userErrors { field code } }
}"""
UNASSIGN = """mutation($m: ID!, $s: ID!, $t: ID!) {
  mentorUnassign(input: {missionId: $m, studentId: $s, mentorId: $t}) {
    unassigned userErrors { code }
  }
}"""


async def test_batch_validation_and_archive(programme: Programme) -> None:
    bad = await programme.gql(
        "manager",
        BATCH,
        {"i": {"name": "", "code": "no spaces!", "startsOn": "2026-05-01", "endsOn": "2026-04-01"}},
    )
    errors = {(e["field"][-1], e["code"]) for e in bad["data"]["batchCreate"]["userErrors"]}
    assert errors == {
        ("name", "REQUIRED"),
        ("code", "INVALID_CODE"),
        ("endsOn", "DATES_OUT_OF_ORDER"),
    }
    taken = await programme.gql(
        "manager",
        BATCH,
        {"i": {"name": "Again", "code": "b1", "startsOn": "2026-01-01", "endsOn": "2026-02-01"}},
    )
    assert taken["data"]["batchCreate"]["userErrors"][0]["code"] == "CODE_TAKEN"

    archived = await programme.gql(
        "manager",
        "mutation($id: ID!) { batchArchive(input: {id: $id}) { batch { status "
        "archivedAt } userErrors { code } } }",
        {"id": programme.ids["b2"]},
    )
    assert archived["data"]["batchArchive"]["batch"]["status"] == "ARCHIVED"
    default = await programme.gql("manager", "{ batches { edges { node { code } } } }")
    assert [e["node"]["code"] for e in default["data"]["batches"]["edges"]] == ["B1"]
    listed = await programme.gql(
        "manager", "{ batches(filter: {status: [ARCHIVED]}) { edges { node { code } } } }"
    )
    assert [e["node"]["code"] for e in listed["data"]["batches"]["edges"]] == ["B2"]
    node = await programme.gql(
        "manager",
        "query($id: ID!) { node(id: $id) { ... on Batch { code status } } }",
        {"id": programme.ids["b2"]},
    )
    assert node["data"]["node"] == {"code": "B2", "status": "ARCHIVED"}
    audit = await programme.gql(
        "admin",
        "query($id: ID!) { auditEvents(filter: {objectId: $id}) { edges { node "
        "{ action actor { email } } } } }",
        {"id": programme.ids["b2"]},
    )
    actions = [e["node"]["action"] for e in audit["data"]["auditEvents"]["edges"]]
    assert actions == ["batch.archive", "batch.create"]


async def test_missions_stay_inside_their_batch(programme: Programme) -> None:
    body = await programme.gql(
        "manager",
        MISSION,
        {
            "i": {
                "batchId": programme.ids["b1"],
                "title": "Late",
                "code": "B1-LATE",
                "startsOn": "2026-06-01",
                "endsOn": "2027-03-01",
            }
        },
    )
    assert body["data"]["missionCreate"]["userErrors"][0]["code"] == "OUTSIDE_BATCH_DATES"
    update = await programme.gql(
        "manager",
        "mutation($id: ID!) { missionUpdate(input: {id: $id, status: COMPLETED, "
        'title: "Renamed"}) { mission { title status } userErrors { code } } }',
        {"id": programme.ids["ma"]},
    )
    assert update["data"]["missionUpdate"]["mission"] == {"title": "Renamed", "status": "COMPLETED"}


@pytest.mark.parametrize("who", ["sre", "m1", "s1", "alumnus"])
async def test_only_admins_and_managers_build_the_structure(programme: Programme, who: str) -> None:
    body = await programme.gql(
        who,
        BATCH,
        {"i": {"name": "X", "code": "X1", "startsOn": "2026-01-01", "endsOn": "2026-02-01"}},
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("who", ["m1", "s1", "alumnus"])
async def test_mentors_and_students_cannot_enrol_or_assign(programme: Programme, who: str) -> None:
    ids = programme.ids
    body = await programme.gql(who, ENROLL, {"m": ids["mb"], "s": ids["s2"]})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await programme.gql(who, ASSIGN, {"m": ids["ma"], "s": ids["s2"], "t": ids["m1"]})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_enrolment_is_idempotent_and_checks_roles(programme: Programme) -> None:
    ids = programme.ids
    again = await programme.gql("sre", ENROLL, {"m": ids["ma"], "s": ids["s1"]})
    payload = again["data"]["enrollmentCreate"]
    assert payload["created"] is False
    assert payload["enrollment"]["id"] == ids["e_s1_ma"]
    mentor = await programme.gql("sre", ENROLL, {"m": ids["ma"], "s": ids["m1"]})
    assert mentor["data"]["enrollmentCreate"]["userErrors"][0]["code"] == "NOT_A_STUDENT"
    wrong_type = await programme.gql("sre", ENROLL, {"m": ids["b1"], "s": ids["s2"]})
    assert wrong_type["data"]["enrollmentCreate"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_bulk_enrolment_by_email(programme: Programme) -> None:
    api = programme.api
    for i in range(20):
        await api.create_user(f"bulk{i}@example.org", ["STUDENT"])
    emails = [f"BULK{i}@example.org" for i in range(20)] + ["ghost@example.org", "m1@example.org"]
    first = await programme.gql(
        "sre",
        BULK,
        {
            "i": {
                "missionId": programme.ids["mb"],
                "emails": emails,
                "studentIds": [programme.ids["s1"]],
            }
        },
    )
    payload = first["data"]["enrollmentBulkCreate"]
    assert (payload["added"], payload["alreadyPresent"]) == (20, 1)
    problems = {(tuple(e["field"]), e["code"]) for e in payload["userErrors"]}
    assert problems == {
        (("input", "emails", "20"), "UNKNOWN_EMAIL"),
        (("input", "emails", "21"), "NOT_A_STUDENT"),
    }
    again = await programme.gql(
        "sre", BULK, {"i": {"missionId": programme.ids["mb"], "emails": emails[:20]}}
    )
    assert again["data"]["enrollmentBulkCreate"] == {
        "added": 0,
        "alreadyPresent": 20,
        "userErrors": [],
    }
    strict = await programme.gql(
        "sre",
        BULK,
        {
            "i": {
                "missionId": programme.ids["mc"],
                "emails": ["bulk0@example.org", "ghost@example.org"],
                "allOrNothing": True,
            }
        },
    )
    assert strict["data"]["enrollmentBulkCreate"]["added"] == 0
    roster = await programme.gql(
        "sre",
        "query($id: ID!) { node(id: $id) { ... on Mission { enrollments { totalCount } } } }",
        {"id": programme.ids["mc"]},
    )
    assert roster["data"]["node"]["enrollments"]["totalCount"] == 1
    too_many = await programme.gql(
        "sre",
        BULK,
        {
            "i": {
                "missionId": programme.ids["mc"],
                "emails": [f"x{i}@example.org" for i in range(5001)],
            }
        },
    )
    assert too_many["data"]["enrollmentBulkCreate"]["userErrors"][0]["code"] == "TOO_MANY"


def raw_numbers(message: str) -> list[str]:
    """Stand-alone integers in a message: an internal key would be one (a global id or an
    address has its digits among letters)."""
    return re.findall(r"(?<![\w@.])\d+(?![\w@.])", message)


async def test_bulk_enrolment_points_at_each_entry_as_sent(programme: Programme) -> None:
    ids = programme.ids
    ghost = to_base64("User", 987654)  # a well-formed user id that names nobody
    student_ids = [ids["s2"], ghost, ids["m1"], ids["b1"], ids["s3"]]
    emails = ["s3@example.org", "nobody@example.org", "M1@example.org"]
    sent = {"missionId": ids["mb"], "studentIds": student_ids, "emails": emails}
    body = await programme.gql("sre", BULK, {"i": sent})
    payload = body["data"]["enrollmentBulkCreate"]
    assert (payload["added"], payload["alreadyPresent"]) == (2, 0)  # s2 and s3, s3 once
    found = [(e["field"], e["code"], e["message"]) for e in payload["userErrors"]]
    assert found == [
        (["input", "studentIds", "1"], "NOT_FOUND", f"No user has the id {ghost}."),
        (["input", "studentIds", "2"], "NOT_A_STUDENT",
         f"The user {ids['m1']} is not an active student."),
        (["input", "studentIds", "3"], "NOT_FOUND", f"No user has the id {ids['b1']}."),
        (["input", "emails", "1"], "UNKNOWN_EMAIL", "No user has the address nobody@example.org."),
        (["input", "emails", "2"], "NOT_A_STUDENT", "M1@example.org is not an active student."),
    ]  # fmt: skip
    m1_key = from_base64(ids["m1"])[1]
    for _, _, message in found:
        assert raw_numbers(message) == [] and m1_key not in message.split()
    # All or nothing: the same problems at the same entries, and nobody enrolled.
    strict = {"missionId": ids["mc"], "studentIds": [ids["s1"], ghost], "allOrNothing": True}
    refused = (await programme.gql("sre", BULK, {"i": strict}))["data"]["enrollmentBulkCreate"]
    assert refused["added"] == 0
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "studentIds", "1"], "NOT_FOUND")
    ]
    # One student, by an id that names nobody: NOT_FOUND, not NOT_A_STUDENT.
    one = await programme.gql("sre", ENROLL, {"m": ids["mc"], "s": ghost})
    assert one["data"]["enrollmentCreate"]["userErrors"] == [
        {"field": ["input", "studentId"], "code": "NOT_FOUND", "message": "No such user."}
    ]


async def test_assignment_rules(programme: Programme) -> None:
    ids = programme.ids
    not_mentor = await programme.gql(
        "sre", ASSIGN, {"m": ids["ma"], "s": ids["s1"], "t": ids["s2"]}
    )
    assert not_mentor["data"]["mentorAssign"]["userErrors"][0]["code"] == "NOT_A_MENTOR"
    not_enrolled = await programme.gql(
        "sre", ASSIGN, {"m": ids["mc"], "s": ids["s1"], "t": ids["m1"]}
    )
    assert not_enrolled["data"]["mentorAssign"]["userErrors"][0]["code"] == "NOT_ENROLLED"
    again = await programme.gql("sre", ASSIGN, {"m": ids["ma"], "s": ids["s1"], "t": ids["m1"]})
    assert again["data"]["mentorAssign"]["created"] is False
    gone = await programme.gql("sre", UNASSIGN, {"m": ids["ma"], "s": ids["s1"], "t": ids["m1"]})
    assert gone["data"]["mentorUnassign"] == {"unassigned": True, "userErrors": []}
    twice = await programme.gql("sre", UNASSIGN, {"m": ids["ma"], "s": ids["s1"], "t": ids["m1"]})
    assert twice["data"]["mentorUnassign"]["userErrors"] == [{"code": "NOT_ASSIGNED"}]


async def test_reassignment_moves_all_or_nothing(programme: Programme) -> None:
    ids = programme.ids
    refused = await programme.gql(
        "sre",
        REASSIGN,
        {
            "i": {
                "missionId": ids["ma"],
                "fromMentorId": ids["m2"],
                "toMentorId": ids["m1"],
                "studentIds": [ids["s2"], ids["s1"]],
            }
        },
    )
    assert refused["data"]["mentorReassign"]["moved"] == 0
    assert refused["data"]["mentorReassign"]["userErrors"] == [
        {"field": ["input", "studentIds", "1"], "code": "NOT_ASSIGNED"}
    ]
    ghost = to_base64("User", 987654)
    unknown = await programme.gql(
        "sre",
        REASSIGN,
        {
            "i": {
                "missionId": ids["ma"],
                "fromMentorId": ids["m2"],
                "toMentorId": ids["m1"],
                "studentIds": [ids["s2"], ghost, ids["ma"]],
            }
        },
    )
    assert unknown["data"]["mentorReassign"] == {
        "moved": 0,
        "userErrors": [
            {"field": ["input", "studentIds", "1"], "code": "NOT_FOUND"},
            {"field": ["input", "studentIds", "2"], "code": "NOT_FOUND"},
        ],
    }
    loads = (
        "query($id: ID!) { node(id: $id) { ... on Mission { mentors { mentor { email } "
        "menteeCount } } } }"
    )
    before = await programme.gql("sre", loads, {"id": ids["ma"]})
    assert [
        (m["mentor"]["email"], m["menteeCount"]) for m in before["data"]["node"]["mentors"]
    ] == [("m1@example.org", 1), ("m2@example.org", 1)]
    moved = await programme.gql(
        "sre",
        REASSIGN,
        {"i": {"missionId": ids["ma"], "fromMentorId": ids["m2"], "toMentorId": ids["m1"]}},
    )
    assert moved["data"]["mentorReassign"] == {"moved": 1, "userErrors": []}
    after = await programme.gql("sre", loads, {"id": ids["ma"]})
    assert [(m["mentor"]["email"], m["menteeCount"]) for m in after["data"]["node"]["mentors"]] == [
        ("m1@example.org", 2)
    ]


async def test_concurrent_identical_requests_record_once(programme: Programme) -> None:
    import asyncio

    ids = programme.ids
    api = programme.api
    await api.create_user("late@example.org", ["STUDENT"])
    late = (
        await programme.gql(
            "admin", '{ users(filter: {search: "late@"}) { edges { node { id } } } }'
        )
    )["data"]["users"]["edges"][0]["node"]["id"]
    enrolments = await asyncio.gather(
        *[programme.gql("sre", ENROLL, {"m": ids["mc"], "s": late}) for _ in range(8)]
    )
    created = [b["data"]["enrollmentCreate"]["created"] for b in enrolments]
    assert created.count(True) == 1
    assert {b["data"]["enrollmentCreate"]["enrollment"]["id"] for b in enrolments} != set()
    assignments = await asyncio.gather(
        *[
            programme.gql("sre", ASSIGN, {"m": ids["mc"], "s": late, "t": ids["m1"]})
            for _ in range(8)
        ]
    )
    assert [b["data"]["mentorAssign"]["created"] for b in assignments].count(True) == 1
    assert all(b["data"]["mentorAssign"]["userErrors"] == [] for b in assignments)
    loads = await programme.gql(
        "sre",
        "query($id: ID!) { node(id: $id) { ... on Mission { "
        "enrollments { totalCount } mentors { menteeCount } } } }",
        {"id": ids["mc"]},
    )
    assert loads["data"]["node"]["enrollments"]["totalCount"] == 2
    assert loads["data"]["node"]["mentors"] == [{"menteeCount": 1}]
