"""Mentors of a whole mission: they see its roster and mentor every student enrolled in
it, now or later, without an assignment per student."""

from __future__ import annotations

from tests.cohorts.conftest import ENROLL, Programme
from tests.engagement.conftest import call, codes, ok
from tests.engagement.test_points import AWARD

ADD = """mutation($m: ID!, $t: ID!) { missionMentorAdd(input: {missionId: $m, mentorId: $t}) {
  mission { code } changed userErrors { field code } } }"""
REMOVE = """mutation($m: ID!, $t: ID!) {
  missionMentorRemove(input: {missionId: $m, mentorId: $t}) {
  mission { code } changed userErrors { field code } } }"""
ROSTER = """query($m: ID!) { node(id: $m) { ... on Mission { code
  enrollments(first: 50) { totalCount edges { node { student { email } } } }
  mentors { mentor { email } menteeCount wholeMission } } } }"""
NODE = "query($id: ID!) { node(id: $id) { id } }"
MENTEES = """query($m: ID) { viewer { mentees(missionId: $m) { totalCount } } }"""
MENTORS = """query($e: ID!) { node(id: $e) { ... on Enrollment { mentors { email } } } }"""
SEND = """mutation($u: ID!) { messageSend(input: {recipientId: $u, body: "Hi"}) {
  userErrors { code } } }"""


async def test_a_mentor_of_the_whole_mission(programme: Programme) -> None:
    p = programme
    # m1 mentors s1 in B1-A only: B1-B (s1, mentored there by m2) is hidden from them.
    assert (await p.gql("m1", NODE, {"id": p.ids["mb"]}))["data"]["node"] is None
    assert codes(await call(p, "m1", SEND, {"u": p.ids["s2"]}, "messageSend")) == ["NOT_REACHABLE"]
    added = await ok(p, "manager", ADD, {"m": p.ids["mb"], "t": p.ids["m1"]}, "missionMentorAdd")
    assert added["mission"]["code"] == "B1-B" and added["changed"] is True
    again = await ok(p, "manager", ADD, {"m": p.ids["mb"], "t": p.ids["m1"]}, "missionMentorAdd")
    assert again["changed"] is False  # safe to retry
    # Now m1 sees the whole roster of B1-B, and a student enrolled later too.
    await ok(p, "admin", ENROLL, {"m": p.ids["mb"], "s": p.ids["s2"]}, "enrollmentCreate")
    roster = (await p.gql("m1", ROSTER, {"m": p.ids["mb"]}))["data"]["node"]
    assert sorted(e["node"]["student"]["email"] for e in roster["enrollments"]["edges"]) == [
        "s1@example.org", "s2@example.org"]  # fmt: skip
    assert {"mentor": {"email": "m1@example.org"}, "menteeCount": 2,
            "wholeMission": True} in roster["mentors"]  # fmt: skip
    staff = (await p.gql("manager", ROSTER, {"m": p.ids["mb"]}))["data"]["node"]["mentors"]
    assert {m["mentor"]["email"]: (m["menteeCount"], m["wholeMission"]) for m in staff} == {
        "m1@example.org": (2, True), "m2@example.org": (1, False)}  # fmt: skip
    mentees = await p.gql("m1", MENTEES, {"m": p.ids["mb"]})
    assert mentees["data"]["viewer"]["mentees"]["totalCount"] == 2
    everywhere = await p.gql("m1", MENTEES, {"m": None})
    assert everywhere["data"]["viewer"]["mentees"]["totalCount"] == 3  # s1 in B1-A too
    # The student sees their mission's mentor; the mentor may act for them.
    enrolment = p.ids["e_s1_mb"]
    mentors = (await p.gql("s1", MENTORS, {"e": enrolment}))["data"]["node"]["mentors"]
    assert sorted(m["email"] for m in mentors) == ["m1@example.org", "m2@example.org"]
    # A mentor both ways (m2 mentors s1 here, and now the whole mission) is listed once.
    await ok(p, "manager", ADD, {"m": p.ids["mb"], "t": p.ids["m2"]}, "missionMentorAdd")
    mentors = (await p.gql("s1", MENTORS, {"e": enrolment}))["data"]["node"]["mentors"]
    assert sorted(m["email"] for m in mentors) == ["m1@example.org", "m2@example.org"]
    await ok(p, "manager", REMOVE, {"m": p.ids["mb"], "t": p.ids["m2"]}, "missionMentorRemove")
    assert (await call(p, "m1", SEND, {"u": p.ids["s2"]}, "messageSend"))["userErrors"] == []
    award = {"enrollmentId": enrolment, "points": 2, "category": "Participation",
             "reason": "Helped a classmate."}  # fmt: skip
    assert (await ok(p, "m1", AWARD, {"i": award}, "pointsAward"))["points"] == 2
    # B1-C of the other batch stays hidden.
    assert (await p.gql("m1", NODE, {"id": p.ids["e_s3_mc"]}))["data"]["node"] is None
    # Removed: the mission is gone from their view again; B1-A stays.
    removed = await ok(p, "manager", REMOVE, {"m": p.ids["mb"], "t": p.ids["m1"]},
                       "missionMentorRemove")  # fmt: skip
    assert removed["changed"] is True
    assert (await p.gql("m1", NODE, {"id": p.ids["mb"]}))["data"]["node"] is None
    assert (await p.gql("m1", NODE, {"id": p.ids["e_s1_ma"]}))["data"]["node"] is not None
    refused = await call(p, "m1", AWARD, {"i": award}, "pointsAward")
    assert codes(refused) == ["NOT_FOUND"]


async def test_who_may_make_mission_mentors_and_bad_input(programme: Programme) -> None:
    p = programme
    for who in ("m1", "s1", "alumnus"):
        denied = await p.gql(who, ADD, {"m": p.ids["mb"], "t": p.ids["m1"]})
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
    for mission, mentor, code in (
        (p.ids["mb"], p.ids["s3"], "NOT_A_MENTOR"),
        (p.ids["mb"], p.ids["ma"], "NOT_FOUND"),  # a mission's id where a user's goes
        (p.ids["s1"], p.ids["m1"], "NOT_FOUND"),
    ):
        refused = await call(p, "manager", ADD, {"m": mission, "t": mentor}, "missionMentorAdd")
        assert codes(refused) == [code], (mission, mentor)
    not_one = await call(p, "manager", REMOVE, {"m": p.ids["mb"], "t": p.ids["m1"]},
                         "missionMentorRemove")  # fmt: skip
    assert codes(not_one) == ["NOT_ASSIGNED"] and not_one["changed"] is False
    # A student of the mission cannot mentor it, even with the MENTOR role.
    both, _ = await p.api.create_user("both@example.org", ["STUDENT", "MENTOR"], name="Both")
    await ok(p, "admin", ENROLL, {"m": p.ids["mb"], "s": both}, "enrollmentCreate")
    self_mentor = await call(p, "manager", ADD, {"m": p.ids["mb"], "t": both},
                             "missionMentorAdd")  # fmt: skip
    assert codes(self_mentor) == ["SELF_MENTORING"]
    # ... nor, the other way round, does a mentor of the mission become its student.
    await ok(p, "manager", ADD, {"m": p.ids["ma"], "t": both}, "missionMentorAdd")
    refused = await call(p, "admin", ENROLL, {"m": p.ids["ma"], "s": both}, "enrollmentCreate")
    assert codes(refused) == ["MISSION_MENTOR"]
    many = """mutation($m: ID!, $s: [ID!]!) { enrollmentBulkCreate(input: {missionId: $m,
      studentIds: $s}) { added userErrors { code } } }"""
    bulk = await call(p, "admin", many, {"m": p.ids["ma"], "s": [both, p.ids["s3"]]},
                      "enrollmentBulkCreate")  # fmt: skip
    assert bulk["added"] == 1 and codes(bulk) == ["MISSION_MENTOR"]
    staff = (await p.gql("manager", ROSTER, {"m": p.ids["ma"]}))["data"]["node"]["mentors"]
    assert {"mentor": {"email": "both@example.org"}, "menteeCount": 3,
            "wholeMission": True} in staff  # s1, s2, s3: never themselves  # fmt: skip
