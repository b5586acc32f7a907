"""Announcements: who posts, who they reach (roles, batches, years), pinning and expiry."""

from __future__ import annotations

from typing import Any

from tests.communication.conftest import Programme
from tests.engagement.conftest import call, codes, ok

POST = """mutation($i: AnnouncementPostInput!) { announcementPost(input: $i) {
  announcement { id title pinned bodyHtml audience { everyone roles batchIds graduationYears } }
  userErrors { field code message } } }"""
UPDATE = """mutation($i: AnnouncementUpdateInput!) { announcementUpdate(input: $i) {
  announcement { id pinned expiresAt } userErrors { field code message } } }"""
FEED = """{ announcements(first: 20) { totalCount edges { node { title pinned } } } }"""
USER_UPDATE = """mutation($i: UserUpdateInput!) { userUpdate(input: $i) {
  user { graduationYear } userErrors { field code } } }"""


async def announce(p: Programme, title: str, **given: Any) -> Any:
    fields = {"title": title, "body": "Hello **all**."}
    return await ok(p, "manager", POST, {"i": {**fields, **given}}, "announcementPost")


async def feed(p: Programme, who: str) -> list[str]:
    body = await p.gql(who, FEED)
    assert "errors" not in body, body
    return [e["node"]["title"] for e in body["data"]["announcements"]["edges"]]


async def test_only_announcers_post_and_bad_input_changes_nothing(programme: Programme) -> None:
    p = programme
    for who in ("sre", "m1", "s1", "alumnus"):
        body = await p.gql(who, POST, {"i": {"title": "x", "body": "y"}})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
    assert codes(
        await call(p, "manager", POST, {"i": {"title": "", "body": "y"}}, "announcementPost")
    ) == ["REQUIRED"]
    bad = {"title": "x", "body": "y", "audience": {"graduationYears": [2020, 1800]}}
    refused = await call(p, "manager", POST, {"i": bad}, "announcementPost")
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "audience", "graduationYears", "1"], "INVALID")
    ]
    bad = {"title": "x", "body": "y", "audience": {"batchIds": [p.ids["b1"], p.ids["ma"]]}}
    refused = await call(p, "manager", POST, {"i": bad}, "announcementPost")  # ma: no batch
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "audience", "batchIds", "1"], "NOT_FOUND")
    ]
    bad = {"title": "x", "body": "y", "expiresAt": "2020-01-01T00:00:00Z"}
    assert codes(await call(p, "manager", POST, {"i": bad}, "announcementPost")) == ["DATE_IN_PAST"]
    hostile = {"title": "x", "body": "<img src=x onerror=alert(1)> [a](javascript:x)"}
    made = await ok(p, "admin", POST, {"i": hostile}, "announcementPost")
    assert "<img" not in made["announcement"]["bodyHtml"]
    assert 'href="javascript' not in made["announcement"]["bodyHtml"]
    assert await feed(p, "manager") == ["x"]


async def test_audiences_reach_the_right_people(programme: Programme) -> None:
    p = programme
    for who, year in (("s1", 2026), ("alumnus", 2019)):
        await ok(p, "admin", USER_UPDATE, {"i": {"id": p.ids[who], "graduationYear": year}},
                 "userUpdate")  # fmt: skip
    await announce(p, "Everyone")
    await announce(p, "Alumni", audience={"roles": ["ALUMNUS"]})
    await announce(p, "Batch one", audience={"batchIds": [p.ids["b1"]]})
    await announce(p, "Class of 2019", audience={"graduationYears": [2019]})
    both = {"roles": ["STUDENT"], "graduationYears": [2026]}  # roles AND years
    await announce(p, "Students of 2026", audience=both)
    assert await feed(p, "s1") == ["Students of 2026", "Batch one", "Everyone"]
    assert await feed(p, "s2") == ["Batch one", "Everyone"]  # in b1, no year
    assert await feed(p, "s3") == ["Everyone"]  # in b2
    assert await feed(p, "m1") == ["Batch one", "Everyone"]  # mentors in b1
    assert await feed(p, "alumnus") == ["Class of 2019", "Alumni", "Everyone"]
    assert len(await feed(p, "manager")) == 5
    assert (await p.api.gql(FEED))["data"]["announcements"]["edges"] == []  # anonymous

    # Notified in the app, as each prefers (announcements default to in-app + digest).
    unread = await p.gql("alumnus", "{ notificationUnreadCount }")
    assert unread["data"]["notificationUnreadCount"] == 3


async def test_pinned_first_and_expired_gone(programme: Programme) -> None:
    p = programme
    first = (await announce(p, "Old news"))["announcement"]["id"]
    await announce(p, "Pinned", pinned=True)
    await announce(p, "Latest")
    assert await feed(p, "s1") == ["Pinned", "Latest", "Old news"]
    await ok(p, "manager", UPDATE, {"i": {"id": first, "pinned": True}}, "announcementUpdate")
    assert await feed(p, "s1") == ["Pinned", "Old news", "Latest"]
    gone = {"id": first, "expiresAt": "2020-01-01T00:00:00Z"}
    await ok(p, "manager", UPDATE, {"i": gone}, "announcementUpdate")
    assert await feed(p, "s1") == ["Pinned", "Latest"]
    with_expired = "{ announcements(includeExpired: true) { edges { node { title } } } }"
    listed = (await p.gql("manager", with_expired))["data"]["announcements"]["edges"]
    assert len(listed) == 3
    listed = (await p.gql("s1", with_expired))["data"]["announcements"]["edges"]
    assert len(listed) == 2  # students never see expired ones
    # Paging through the feed with cursors keeps the pinned-first order.
    page = """query($a: String) { announcements(first: 1, after: $a) {
      edges { cursor node { title } } } }"""
    seen, after = [], None
    for _ in range(3):
        edges = (await p.gql("s1", page, {"a": after}))["data"]["announcements"]["edges"]
        if not edges:
            break
        seen.append(edges[0]["node"]["title"])
        after = edges[0]["cursor"]
    assert seen == ["Pinned", "Latest"]
    assert (await p.gql("s1", UPDATE, {"i": {"id": first, "pinned": False}}))["errors"]


async def test_students_cannot_read_announcements_not_for_them(programme: Programme) -> None:
    p = programme
    made = await announce(p, "Alumni only", audience={"roles": ["ALUMNUS"]})
    node = "query($n: ID!) { node(id: $n) { ... on Announcement { title } } }"
    assert (await p.gql("s1", node, {"n": made["announcement"]["id"]}))["data"]["node"] is None
    found = (await p.gql("alumnus", node, {"n": made["announcement"]["id"]}))["data"]["node"]
    assert found == {"title": "Alumni only"}


async def test_posting_again_with_the_same_key_posts_once(programme: Programme) -> None:
    p = programme
    first = await announce(p, "Once", clientId="a-1", audience={"roles": ["ALUMNUS", "ALUMNUS"]})
    again = await announce(p, "Once", clientId="a-1")
    assert first["announcement"]["id"] == again["announcement"]["id"]
    assert first["announcement"]["audience"]["roles"] == ["ALUMNUS"]
    unread = await p.gql("alumnus", "{ notificationUnreadCount }")
    assert unread["data"]["notificationUnreadCount"] == 1


PROFILE = """mutation($i: ProfileUpdateInput!) { profileUpdate(input: $i) {
  userErrors { field code } } }"""
DEGREE = """mutation($i: DegreeAddInput!) { degreeAdd(input: $i) {
  userErrors { field code } } }"""
PROGRAMME = """mutation($i: ProgrammeCreateInput!) { programmeCreate(input: $i) {
  programme { id } userErrors { code } } }"""
DECIDE = """mutation($i: VerificationDecideInput!) { verificationDecide(input: $i) {
  userErrors { field code } } }"""


async def test_a_year_nobody_verified_joins_no_audience(programme: Programme) -> None:
    """Saying one graduates in 2030 (a profile, an unverified degree) reaches no
    announcement to the class of 2030; a verified academic record does."""
    p = programme
    await ok(p, "s1", PROFILE, {"i": {"expectedGraduationYear": 2030}}, "profileUpdate")
    made = await ok(p, "admin", PROGRAMME, {"i": {"code": "CS", "name": "Computer science",
                    "firstGraduationYear": 2000}}, "programmeCreate")  # fmt: skip
    degree = {"programmeId": made["programme"]["id"], "graduationYear": 2030}
    await ok(p, "s2", DEGREE, {"i": degree}, "degreeAdd")
    await announce(p, "Class of 2030", audience={"graduationYears": [2030]})
    assert await feed(p, "s1") == []
    assert await feed(p, "s2") == []
    unread = await p.gql("s1", "{ notificationUnreadCount }")
    assert unread["data"]["notificationUnreadCount"] == 0
    verified = {"academicRecordOf": p.ids["s1"], "verified": True}
    await ok(p, "admin", DECIDE, {"i": verified}, "verificationDecide")
    assert await feed(p, "s1") == ["Class of 2030"]
    assert await feed(p, "s2") == []
    # Editing the verified year unverifies the record: the new year is theirs alone.
    await ok(p, "s1", PROFILE, {"i": {"expectedGraduationYear": 2031}}, "profileUpdate")
    await announce(p, "Class of 2031", audience={"graduationYears": [2031]})
    assert await feed(p, "s1") == []
