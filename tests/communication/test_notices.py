"""Notices: who posts, who reads, acknowledgements, reminders, and the live feed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.cohorts.conftest import ENROLL
from tests.communication.conftest import Programme
from tests.conftest import post_to, subscribe, token_at
from tests.engagement.conftest import call, codes, ok
from tests.integrity.test_integrity import DECIDE

POST = """mutation($i: NoticePostInput!) { noticePost(input: $i) {
  notice { id title bodyHtml priority } userErrors { field code message } } }"""
ACK = """mutation($i: NoticeAcknowledgeInput!) { noticeAcknowledge(input: $i) {
  created userErrors { code } } }"""
REMIND = """mutation($i: NoticeRemindInput!) { noticeRemind(input: $i) {
  reminded userErrors { code } } }"""
NOTICES = "{ notices { edges { node { title } } } }"
STATUS = """query($n: ID!) { node(id: $n) { ... on Notice { title myAcknowledgement { reaction }
  acknowledgements { audience acknowledged pending
    acknowledgedBy { totalCount edges { node { reaction student { name } } } }
    notAcknowledged { totalCount edges { node { name } } } } } } }"""


async def post(p: Programme, who: str, **given: Any) -> Any:
    fields = {"missionId": p.ids["ma"], "title": "Week 2", "body": "Read **chapter 2**."}
    return await call(p, who, POST, {"i": {**fields, **given}}, "noticePost")


async def test_who_posts_and_what_markdown_becomes(programme: Programme) -> None:
    p = programme
    hostile = "<script>alert(1)</script> [x](javascript:alert(1)) **ok**"
    posted = await post(p, "m1", body=hostile, priority="HIGH")  # m1 mentors in ma
    assert posted["userErrors"] == []
    html = posted["notice"]["bodyHtml"]
    assert "<script" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html and "<strong>ok</strong>" in html
    assert codes(await post(p, "m1", missionId=p.ids["mc"])) == ["NOT_FOUND"]  # not m1's
    assert codes(await post(p, "s1")) == ["NOT_FOUND"]
    batch = await p.gql("m1", POST, {"i": {"batchId": p.ids["b1"], "title": "x", "body": "y"}})
    assert batch["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    await ok(
        p, "sre", POST, {"i": {"batchId": p.ids["b1"], "title": "All", "body": "Hi"}}, "noticePost"
    )
    assert codes(await post(p, "sre", body="x" * 20_001)) == ["TOO_LONG"]
    assert codes(await post(p, "sre", ackDeadline="2020-01-01T00:00:00Z")) == ["DATE_IN_PAST"]


async def test_who_reads_acknowledges_and_is_reminded(programme: Programme) -> None:
    p = programme
    notice = (await post(p, "sre"))["notice"]["id"]
    reads = {}
    for who in ("s1", "s2", "s3", "m1", "m2", "manager"):
        body = await p.gql(who, "{ notices { totalCount edges { node { title } } } }")
        reads[who] = [e["node"]["title"] for e in body["data"]["notices"]["edges"]]
        assert body["data"]["notices"]["totalCount"] == len(reads[who])
    assert reads == {"s1": ["Week 2"], "s2": ["Week 2"], "s3": [], "m1": ["Week 2"],
                     "m2": ["Week 2"], "manager": ["Week 2"]}  # fmt: skip
    assert codes(await call(p, "s3", ACK, {"i": {"noticeId": notice}}, "noticeAcknowledge")) == [
        "NOT_FOUND"
    ]
    first = await ok(
        p, "s1", ACK, {"i": {"noticeId": notice, "reaction": "THANKS"}}, "noticeAcknowledge"
    )
    again = await ok(p, "s1", ACK, {"i": {"noticeId": notice}}, "noticeAcknowledge")
    assert first["created"] is True and again["created"] is False
    status = (await p.gql("sre", STATUS, {"n": notice}))["data"]["node"]
    assert status["acknowledgements"]["audience"] == 2
    assert (status["acknowledgements"]["acknowledged"], status["acknowledgements"]["pending"]) == (
        1,
        1,
    )
    assert status["acknowledgements"]["acknowledgedBy"] == {
        "totalCount": 1,
        "edges": [{"node": {"reaction": "THANKS", "student": {"name": "S1 Person"}}}],
    }
    assert status["acknowledgements"]["notAcknowledged"] == {
        "totalCount": 1,
        "edges": [{"node": {"name": "S2 Person"}}],
    }
    mine = (await p.gql("s1", STATUS, {"n": notice}))["data"]["node"]
    assert mine["myAcknowledgement"] == {"reaction": "THANKS"} and mine["acknowledgements"] is None
    reminded = await ok(p, "sre", REMIND, {"i": {"noticeId": notice}}, "noticeRemind")
    assert reminded["reminded"] == 1
    await p.api.run_jobs()
    assert any("Week 2" in m for m in p.api.mailbox.to("s2@example.org"))
    assert not any("Reminder" in m for m in p.api.mailbox.to("s1@example.org"))
    # A delisted student loses the mission's notices.
    await ok(
        p,
        "manager",
        DECIDE,
        {"i": {"enrollmentId": p.ids["e_s2_ma"], "kind": "DELIST", "reason": "x"}},
        "integrityDecide",
    )
    assert (await p.gql("s2", NOTICES))["data"]["notices"]["edges"] == []
    assert (await p.gql("s2", STATUS, {"n": notice}))["data"]["node"] is None


async def test_reminding_many_costs_the_same_statements_as_reminding_few(
    programme: Programme,
) -> None:
    p = programme
    notice = (await post(p, "sre"))["notice"]["id"]
    remind = "mutation($n: ID!) { noticeRemind(input: {noticeId: $n}) { reminded } }"
    few, body = await p.api.sql_count(remind, {"n": notice}, p.tokens["sre"])
    assert body["data"]["noticeRemind"]["reminded"] == 2
    for i in range(12):
        sid, _ = await p.api.create_user(f"extra{i}@example.org", ["STUDENT"], name=f"Extra {i}")
        await ok(p, "admin", ENROLL, {"m": p.ids["ma"], "s": sid}, "enrollmentCreate")
    many, body = await p.api.sql_count(remind, {"n": notice}, p.tokens["sre"])
    assert body["data"]["noticeRemind"]["reminded"] == 14
    assert many == few


SUBSCRIBE = """subscription($n: ID!) {
  noticeAcknowledged(noticeId: $n) { student { name } } }"""


async def test_staff_see_acknowledgements_live_across_processes(
    programme: Programme, server: str
) -> None:
    p = programme
    notice = (await post(p, "sre"))["notice"]["id"]
    token = await token_at(server, "sre@example.org")
    ws = await subscribe(server, token, SUBSCRIBE, {"n": notice})
    if p.api.settings.redis_url:
        # Raised in this test's process, heard by the server process: Redis pub/sub.
        await ok(p, "s1", ACK, {"i": {"noticeId": notice}}, "noticeAcknowledge")
    else:
        # One process on the embedded default: acknowledge through the server itself.
        await post_to(
            server, ACK, {"i": {"noticeId": notice}}, await token_at(server, "s1@example.org")
        )
    event = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert event["payload"]["data"]["noticeAcknowledged"] == {"student": {"name": "S1 Person"}}
    await ws.close()


UPDATE = """mutation($i: NoticeUpdateInput!) { noticeUpdate(input: $i) {
  notice { title bodyHtml editedAt withdrawnAt } userErrors { field code } } }"""
WITHDRAW = """mutation($i: NoticeWithdrawInput!) { noticeWithdraw(input: $i) {
  notice { withdrawnAt } userErrors { code } } }"""


async def test_a_notice_is_corrected_or_withdrawn_by_its_author_and_staff(
    programme: Programme,
) -> None:
    p = programme
    notice = (await post(p, "m1"))["notice"]["id"]
    await ok(p, "s1", ACK, {"i": {"noticeId": notice}}, "noticeAcknowledge")
    for who in ("m2", "s1"):  # another mentor of the mission, a student
        refused = await call(p, who, UPDATE, {"i": {"id": notice, "title": "x"}}, "noticeUpdate")
        assert codes(refused) == ["NOT_FOUND"], who
    bad = await call(p, "m1", UPDATE, {"i": {"id": notice, "title": ""}}, "noticeUpdate")
    assert codes(bad) == ["REQUIRED"]
    # A small correction: marked edited, acknowledgements stay.
    fixed = await ok(p, "m1", UPDATE, {"i": {"id": notice, "body": "Read **chapter 3**."}},
                     "noticeUpdate")  # fmt: skip
    assert fixed["notice"]["editedAt"] and "chapter 3" in fixed["notice"]["bodyHtml"]
    seen = (await p.gql("s1", STATUS, {"n": notice}))["data"]["node"]
    assert seen["myAcknowledgement"] == {"reaction": None}
    # A significant one: everyone is asked again, and told.
    await ok(p, "sre", UPDATE, {"i": {"id": notice, "title": "Week 2 (moved)",
                                      "significant": True}}, "noticeUpdate")  # fmt: skip
    seen = (await p.gql("s1", STATUS, {"n": notice}))["data"]["node"]
    assert seen["myAcknowledgement"] is None and seen["title"] == "Week 2 (moved)"
    told = await p.gql("s2", "{ notifications { edges { node { title } } } }")
    titles = [e["node"]["title"] for e in told["data"]["notifications"]["edges"]]
    assert "Updated: Week 2 (moved)" in titles
    # Withdrawn: gone for the audience, kept for its author and staff.
    assert codes(await call(p, "s1", WITHDRAW, {"i": {"id": notice}}, "noticeWithdraw")) == [
        "NOT_FOUND"
    ]
    await ok(p, "m1", WITHDRAW, {"i": {"id": notice}}, "noticeWithdraw")
    assert (await p.gql("s1", NOTICES))["data"]["notices"]["edges"] == []
    assert (await p.gql("s1", STATUS, {"n": notice}))["data"]["node"] is None
    assert codes(await call(p, "s1", ACK, {"i": {"noticeId": notice}}, "noticeAcknowledge")) == [
        "NOT_FOUND"
    ]
    for who in ("m1", "manager"):
        kept = await p.gql(who, "{ notices { edges { node { title withdrawnAt } } } }")
        titles = [e["node"]["title"] for e in kept["data"]["notices"]["edges"]]
        assert titles == ["Week 2 (moved)"], who
    again = await call(p, "m1", UPDATE, {"i": {"id": notice, "title": "x"}}, "noticeUpdate")
    assert codes(again) == ["WITHDRAWN"]
    reminded = await call(p, "sre", REMIND, {"i": {"noticeId": notice}}, "noticeRemind")
    assert codes(reminded) == ["WITHDRAWN"]


NESTED = """query($o: NoticeOrder, $n: Int) { batches { edges { node { code
  notices(orderBy: $o, first: $n) { totalCount edges { node { title } } }
  missions { edges { node { code notices(orderBy: $o, first: $n) { totalCount
    pageInfo { hasNextPage endCursor } edges { node { title author { name } } } } } } } } } } }"""


def _by_parent(body: Any) -> dict[str, list[str]]:
    assert "errors" not in body, body
    found = {}
    for batch in body["data"]["batches"]["edges"]:
        node = batch["node"]
        found[node["code"]] = [e["node"]["title"] for e in node["notices"]["edges"]]
        for mission in node["missions"]["edges"]:
            notices = mission["node"]["notices"]
            found[mission["node"]["code"]] = [e["node"]["title"] for e in notices["edges"]]
            assert notices["totalCount"] >= len(found[mission["node"]["code"]])
    return found


async def test_notices_of_every_batch_and_mission_in_the_same_statements(
    programme: Programme,
) -> None:
    p = programme
    await post(p, "sre", title="Bravo")
    await post(p, "sre", missionId=p.ids["mc"], title="Other")
    few, _ = await p.api.sql_count(NESTED, {"n": 10}, p.tokens["sre"])
    for title in ("Alpha", "Charlie"):
        await post(p, "sre", title=title)
        await post(p, "sre", missionId=None, batchId=p.ids["b1"], title=f"All {title}")
        await post(p, "sre", missionId=p.ids["mb"], title=f"B {title}")
    many, body = await p.api.sql_count(NESTED, {"n": 10}, p.tokens["sre"])
    assert many == few, (few, many)
    found = _by_parent(body)
    assert found["B1-A"] == ["Charlie", "Alpha", "Bravo"]  # newest first
    assert found["B1"] == ["All Charlie", "All Alpha"] and found["B2-C"] == ["Other"]
    by_title = _by_parent(await p.gql("sre", NESTED, {"o": {"field": "TITLE"}, "n": 2}))
    assert by_title["B1-A"] == ["Alpha", "Bravo"] and by_title["B1-B"] == ["B Alpha", "B Charlie"]
    # The next page of one mission's notices, by its cursor.
    page = """query($m: ID!, $a: String) { node(id: $m) { ... on Mission {
      notices(first: 2, after: $a, orderBy: {field: TITLE, direction: DESC}) { totalCount
        pageInfo { hasNextPage endCursor } edges { node { title } } } } } }"""
    first = (await p.gql("s1", page, {"m": p.ids["ma"]}))["data"]["node"]["notices"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    after = {"m": p.ids["ma"], "a": first["pageInfo"]["endCursor"]}
    rest = (await p.gql("s1", page, after))["data"]["node"]["notices"]
    titles = [e["node"]["title"] for e in first["edges"] + rest["edges"]]
    assert titles == ["Charlie", "Bravo", "Alpha"] and not rest["pageInfo"]["hasNextPage"]
    # A student reads only their own missions' notices: none of B2-C's.
    theirs = await p.gql("s1", "{ notices(first: 50) { totalCount edges { node { title } } } }")
    assert theirs["data"]["notices"]["totalCount"] == 7


ACKED = """query($n: ID!, $o: NoticeAcknowledgementOrder, $k: Int, $a: String) { node(id: $n) {
  ... on Notice { acknowledgements { acknowledgedBy(orderBy: $o, first: $k, after: $a) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { student { name } } } } } } } }"""
PENDING = """query($n: ID!, $o: NoticePendingOrder, $k: Int, $a: String) { node(id: $n) {
  ... on Notice { acknowledgements { notAcknowledged(orderBy: $o, first: $k, after: $a) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } } } } }"""


async def _names(p: Programme, who: str, query: str, key: str, **given: Any) -> Any:
    body = await p.gql(who, query, given)
    assert "errors" not in body, body
    found = body["data"]["node"]["acknowledgements"][key]
    edges = found["edges"]
    names = [(e["node"].get("student") or e["node"])["name"] for e in edges]
    return found["totalCount"], names, found["pageInfo"]


async def test_acknowledgements_are_sorted_connections(programme: Programme) -> None:
    p = programme
    for name in ("Carol", "Alice", "Bob", "Dave"):
        sid, _ = await p.api.create_user(f"{name.lower()}@example.org", ["STUDENT"], name=name)
        await ok(p, "admin", ENROLL, {"m": p.ids["ma"], "s": sid}, "enrollmentCreate")
    notice = (await post(p, "m1"))["notice"]["id"]
    for who in ("s2", "s1"):
        await ok(p, who, ACK, {"i": {"noticeId": notice}}, "noticeAcknowledge")

    async def acked(**given: Any) -> tuple[int, list[str]]:
        total, names, _ = await _names(p, "sre", ACKED, "acknowledgedBy", n=notice, **given)
        return total, names

    assert await acked() == (2, ["S1 Person", "S2 Person"])  # latest first
    earliest = {"field": "ACKNOWLEDGED_AT", "direction": "ASC"}
    assert await acked(o=earliest) == (2, ["S2 Person", "S1 Person"])
    total, first, page = await _names(p, "sre", ACKED, "acknowledgedBy", n=notice, k=1)
    assert (total, first) == (2, ["S1 Person"]) and page["hasNextPage"]
    _, rest, page = await _names(p, "sre", ACKED, "acknowledgedBy", n=notice, k=1,
                                 a=page["endCursor"])  # fmt: skip
    assert rest == ["S2 Person"] and not page["hasNextPage"]

    async def pending(who: str = "sre", **given: Any) -> tuple[int, list[str]]:
        total, names, _ = await _names(p, who, PENDING, "notAcknowledged", n=notice, **given)
        return total, names

    assert await pending() == (4, ["Alice", "Bob", "Carol", "Dave"])  # by name
    assert await pending(o={"field": "NAME", "direction": "DESC"}) == (
        4, ["Dave", "Carol", "Bob", "Alice"],
    )  # fmt: skip
    seen, after = [], None
    while True:
        total, names, page = await _names(p, "sre", PENDING, "notAcknowledged", n=notice, k=3,
                                          a=after)  # fmt: skip
        assert total == 4
        seen += names
        if not page["hasNextPage"]:
            break
        after = page["endCursor"]
    assert seen == ["Alice", "Bob", "Carol", "Dave"]
    # The author, a mentor, sees only the students they may see (their mentee, s1).
    again = (await post(p, "m1", title="Again"))["notice"]["id"]
    total, names, _ = await _names(p, "m1", PENDING, "notAcknowledged", n=again)
    assert (total, names) == (1, ["S1 Person"])
    total, names, _ = await _names(p, "sre", PENDING, "notAcknowledged", n=again)
    assert total == 6 and names[:2] == ["Alice", "Bob"]
    # Students see no acknowledgements at all.
    body = await p.gql("s1", PENDING, {"n": notice})
    assert body["data"]["node"]["acknowledgements"] is None


EVERY_ACK = """{ notices(first: 50) { edges { node { title acknowledgements {
  audience acknowledged pending
  acknowledgedBy(first: 5) { totalCount edges { node { reaction student { name } } } }
  notAcknowledged(first: 5) { totalCount edges { node { name } } } } } } } }"""


async def test_acknowledgements_of_every_notice_in_the_same_statements(
    programme: Programme,
) -> None:
    p = programme
    first = (await post(p, "sre", title="First"))["notice"]["id"]
    await ok(p, "s1", ACK, {"i": {"noticeId": first}}, "noticeAcknowledge")
    few, _ = await p.api.sql_count(EVERY_ACK, token=p.tokens["sre"])
    for title in ("Second", "Third"):
        notice = (await post(p, "sre", title=title))["notice"]["id"]
        await ok(p, "s2", ACK, {"i": {"noticeId": notice, "reaction": "DONE"}},
                 "noticeAcknowledge")  # fmt: skip
    batch = await ok(p, "sre", POST, {"i": {"batchId": p.ids["b1"], "title": "All",
                     "body": "Hi"}}, "noticePost")  # fmt: skip
    await ok(p, "s1", ACK, {"i": {"noticeId": batch["notice"]["id"]}}, "noticeAcknowledge")
    many, body = await p.api.sql_count(EVERY_ACK, token=p.tokens["sre"])
    assert "errors" not in body, body
    assert many == few, (few, many)
    found = {e["node"]["title"]: e["node"]["acknowledgements"]
             for e in body["data"]["notices"]["edges"]}  # fmt: skip
    third = found["Third"]
    assert (third["audience"], third["acknowledged"], third["pending"]) == (2, 1, 1)
    assert third["acknowledgedBy"]["edges"] == [
        {"node": {"reaction": "DONE", "student": {"name": "S2 Person"}}}
    ]
    assert third["notAcknowledged"]["edges"] == [{"node": {"name": "S1 Person"}}]
    # s1 is in two missions of the batch and counts once.
    whole = found["All"]
    assert (whole["audience"], whole["acknowledged"], whole["pending"]) == (2, 1, 1)
    assert whole["notAcknowledged"]["totalCount"] == 1
