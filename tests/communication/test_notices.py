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
STATUS = """query($n: ID!) { node(id: $n) { ... on Notice { title myAcknowledgement { reaction }
  acknowledgements { audience acknowledged pending
    acknowledgedBy { reaction student { name } } notAcknowledged { name } } } } }"""


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
        body = await p.gql(who, "{ notices { title } }")
        reads[who] = [n["title"] for n in body["data"]["notices"]]
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
    assert status["acknowledgements"]["acknowledgedBy"] == [
        {"reaction": "THANKS", "student": {"name": "S1 Person"}}
    ]
    assert status["acknowledgements"]["notAcknowledged"] == [{"name": "S2 Person"}]
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
    assert (await p.gql("s2", "{ notices { title } }"))["data"]["notices"] == []
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
    assert (await p.gql("s1", "{ notices { title } }"))["data"]["notices"] == []
    assert (await p.gql("s1", STATUS, {"n": notice}))["data"]["node"] is None
    assert codes(await call(p, "s1", ACK, {"i": {"noticeId": notice}}, "noticeAcknowledge")) == [
        "NOT_FOUND"
    ]
    for who in ("m1", "manager"):
        kept = await p.gql(who, "{ notices { title withdrawnAt } }")
        assert [n["title"] for n in kept["data"]["notices"]] == ["Week 2 (moved)"], who
    again = await call(p, "m1", UPDATE, {"i": {"id": notice, "title": "x"}}, "noticeUpdate")
    assert codes(again) == ["WITHDRAWN"]
    reminded = await call(p, "sre", REMIND, {"i": {"noticeId": notice}}, "noticeRemind")
    assert codes(reminded) == ["WITHDRAWN"]
