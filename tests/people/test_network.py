"""Follows, profile views, likely duplicates and merging, own data: export and erasure."""

from __future__ import annotations

import json
from urllib.parse import urlparse

from strawberry.relay import from_base64, to_base64

from tests.cohorts.conftest import ENROLL
from tests.engagement.conftest import SUBMIT, call, codes, ok
from tests.people.conftest import DEGREE, Programme, profile

FOLLOW = """mutation($u: ID!) { userFollow(input: {userId: $u}) { following
  profile { followerCount followedByMe } userErrors { code } } }"""
UNFOLLOW = """mutation($u: ID!) { userUnfollow(input: {userId: $u}) { following
  userErrors { code } } }"""
VIEWED = """mutation($u: ID!) { profileViewRecord(input: {userId: $u}) { counted
  userErrors { code } } }"""
MINE = """query($n: ID!) { node(id: $n) { ... on Profile { followerCount followingCount
  followers { totalCount edges { node { name } } }
  views { last30Days total viewers { name } } } } }"""


def pid(p: Programme, who: str) -> str:
    return to_base64("Profile", from_base64(p.ids[who])[1])


async def test_follows_and_views(people: Programme) -> None:
    p = people
    for who in ("alumnus", "s1", "s2"):
        await profile(p, who, headline=f"I am {who}")
    followed = await ok(p, "s1", FOLLOW, {"u": p.ids["alumnus"]}, "userFollow")
    assert followed["profile"] == {"followerCount": 1, "followedByMe": True}
    await ok(p, "s1", FOLLOW, {"u": p.ids["alumnus"]}, "userFollow")  # idempotent
    await ok(p, "s2", FOLLOW, {"u": p.ids["alumnus"]}, "userFollow")
    assert codes(await call(p, "s1", FOLLOW, {"u": p.ids["s1"]}, "userFollow")) == ["NOT_FOUND"]
    mine = (await p.gql("alumnus", MINE, {"n": pid(p, "alumnus")}))["data"]["node"]
    assert mine["followerCount"] == 2 and mine["followers"]["totalCount"] == 2
    await ok(p, "s2", UNFOLLOW, {"u": p.ids["alumnus"]}, "userUnfollow")
    for who in ("s1", "s1", "s2", "alumnus"):  # a repeat today and one's own do not count
        await ok(p, who, VIEWED, {"u": p.ids["alumnus"]}, "profileViewRecord")
    mine = (await p.gql("alumnus", MINE, {"n": pid(p, "alumnus")}))["data"]["node"]
    assert mine["followerCount"] == 1
    assert mine["views"] == {"last30Days": 2, "total": 2, "viewers": None}  # not chosen
    await profile(p, "alumnus", showViewers=True)
    mine = (await p.gql("alumnus", MINE, {"n": pid(p, "alumnus")}))["data"]["node"]
    assert sorted(v["name"] for v in mine["views"]["viewers"]) == ["S1 Person", "S2 Person"]
    theirs = (await p.gql("s1", MINE, {"n": pid(p, "alumnus")}))["data"]["node"]
    assert theirs["views"] is None  # views are the owner's alone


async def test_duplicates_found_and_merged(people: Programme) -> None:
    p = people
    twin, twin_token = await p.api.create_user("S.1+old@Example.org", ["STUDENT"],
                                               name="Person S1")  # fmt: skip
    p.tokens["twin"], p.ids["twin"] = twin_token, twin
    await profile(p, "twin", headline="Old account", city="Kumasi")
    await profile(p, "s1", headline="Current")
    await ok(p, "admin", ENROLL, {"m": p.ids["mc"], "s": twin}, "enrollmentCreate")
    await ok(p, "admin", ENROLL, {"m": p.ids["ma"], "s": twin}, "enrollmentCreate")  # s1 too
    submitted = await call(p, "s1", SUBMIT, {"i": {"missionId": p.ids["ma"]}}, "attendanceSubmit")
    assert submitted["userErrors"] == []  # s1's own check-in (recorded by s1)
    await ok(p, "twin", FOLLOW, {"u": p.ids["s1"]}, "userFollow")  # follows its twin
    await ok(p, "twin", FOLLOW, {"u": p.ids["alumnus"]}, "userFollow")
    find = "mutation { duplicatesFind { job { id } userErrors { code } } }"
    started = await p.gql("admin", find)
    assert started["data"]["duplicatesFind"]["job"]["id"]
    assert (await p.gql("sre", "mutation { duplicatesFind { job { id } } }"))["errors"]
    await p.api.run_jobs()
    listed = await p.gql(
        "admin",
        """{ duplicateCandidates { edges { node { id reasons
      people { email } } } } }""",
    )
    [pair] = listed["data"]["duplicateCandidates"]["edges"]
    assert pair["node"]["reasons"] == ["same e-mail address"]
    assert {u["email"] for u in pair["node"]["people"]} == {"s1@example.org",
                                                           "S.1+old@Example.org"}  # fmt: skip
    merge = """mutation($k: ID!, $m: ID!) { userMerge(input: {keepId: $k, mergeId: $m}) {
      user { email } userErrors { code } } }"""
    refused = await p.gql("sre", merge, {"k": p.ids["s1"], "m": twin})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert codes(await call(p, "admin", merge, {"k": twin, "m": twin}, "userMerge")) == ["INVALID"]
    merged = await ok(p, "admin", merge, {"k": p.ids["s1"], "m": twin}, "userMerge")
    # s1 had ma and mb; the twin brought mc (its ma was a duplicate and was dropped).
    assert merged["user"]["email"] == "s1@example.org"
    mine = await p.gql("s1", "{ viewer { enrollments { totalCount } } }")
    assert mine["data"]["viewer"]["enrollments"]["totalCount"] == 3
    node = """query($n: ID!) { node(id: $n) { ... on Profile { headline city followerCount
      followingCount } } }"""
    kept = (await p.gql("admin", node, {"n": pid(p, "s1")}))["data"]["node"]
    assert kept == {"headline": "Current", "city": "Kumasi", "followerCount": 0,
                    "followingCount": 1}  # fmt: skip
    assert (await p.gql("admin", node, {"n": pid(p, "twin")}))["data"]["node"] is None
    kept_days = """query($e: ID!) { node(id: $e) { ... on Enrollment { attendance {
      totalCount } } } }"""
    days = await p.gql("admin", kept_days, {"e": p.ids["e_s1_ma"]})
    assert days["data"]["node"]["attendance"]["totalCount"] == 1  # not lost in the merge
    signed_out = await p.api.gql("{ viewer { id } }", token=p.tokens["twin"])
    assert signed_out.get("errors") or signed_out["data"]["viewer"] is None
    audit = await p.gql(
        "admin", '{ auditEvents(filter: {actions: ["user.merge"]}) { edges { node { details } } } }'
    )
    details = audit["data"]["auditEvents"]["edges"][0]["node"]["details"]
    assert details["dropped"]["enrollments"] == 1 and details["moved"]["enrollments"] == 1
    again = await p.gql("admin", "{ duplicateCandidates { totalCount } }")
    assert again["data"]["duplicateCandidates"]["totalCount"] == 0


async def test_own_data_export_and_erasure(people: Programme) -> None:
    p = people
    await profile(p, "s1", headline="Mine", skills=[{"name": "Python"}])
    block = "mutation($u: ID!) { userBlock(input: {userId: $u}) { blocked } }"
    await p.gql("m1", block, {"u": p.ids["s1"]})
    send = """mutation($u: ID!) { messageSend(input: {recipientId: $u, body: "Hi"}) {
      userErrors { code } } }"""
    await p.gql("s1", send, {"u": p.ids["m2"]})  # m2 is told "New message from S1 Person"
    await ok(p, "s1", DEGREE, {"i": {"programmeId": p.ids["cs"], "graduationYear": 2027}},
             "degreeAdd")  # fmt: skip
    started = await p.gql("s1", "mutation { personalDataExportRequest { job { id } } }")
    assert started["data"]["personalDataExportRequest"]["job"]["id"]
    await p.api.run_jobs()
    exports = await p.gql("s1", "{ personalDataExports { id downloadUrl } }")
    [export] = exports["data"]["personalDataExports"]
    url = urlparse(export["downloadUrl"])
    downloaded = await p.api.client.get(f"{url.path}?{url.query}")
    assert downloaded.status_code == 200
    data = json.loads(downloaded.text)
    assert data["tables"]["users"][0]["email"] == "s1@example.org"
    assert "password_hash" not in data["tables"]["users"][0]
    assert data["tables"]["profiles"][0]["headline"] == "Mine"
    assert {"enrollments", "degrees", "user_skills", "user_roles"} <= set(data["tables"])
    assert "blocks" not in data["tables"]  # m1 blocked s1: not s1's to know
    assert (await p.gql("s2", "{ personalDataExports { id } }"))["data"][
        "personalDataExports"
    ] == []
    forged = await p.api.client.get(f"{url.path}?token=x{url.query[6:]}")
    assert forged.status_code == 404

    erase = """mutation($p: String) { personalDataErase(input: {password: $p}) {
      erased userErrors { code } } }"""
    wrong = await call(p, "s1", erase, {"p": "not my password"}, "personalDataErase")
    assert codes(wrong) == ["WRONG_PASSWORD"]
    done = await ok(p, "s1", erase, {"p": "correct horse battery"}, "personalDataErase")
    assert done["erased"] is True
    assert (await p.api.gql("{ viewer { id } }", token=p.tokens["s1"])).get("errors")
    roster = """query($m: ID!) { node(id: $m) { ... on Mission {
      enrollments { totalCount edges { node { student { name email } } } } } } }"""
    students = (await p.gql("admin", roster, {"m": p.ids["ma"]}))["data"]["node"]["enrollments"]
    assert students["totalCount"] == 2  # the enrolment stays, anonymised
    names = {e["node"]["student"]["name"] for e in students["edges"] if e["node"]["student"]}
    assert "S1 Person" not in names
    told = await p.gql("m2", "{ notifications { edges { node { title } } } }")
    titles = [e["node"]["title"] for e in told["data"]["notifications"]["edges"]]
    assert titles and not any("S1 Person" in t for t in titles)
