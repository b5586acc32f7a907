"""Notifications: preferences per kind and channel, e-mails with templates and unsubscribe
links, read state, daily digests, bulk fan-out, a slow mail server, live delivery."""

from __future__ import annotations

import asyncio
import email
import json
import re
from email import policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlparse

from strawberry.relay import to_base64

from tests.cohorts.conftest import ENROLL
from tests.communication.conftest import Programme
from tests.communication.test_notices import POST
from tests.conftest import post_to, subscribe, token_at
from tests.engagement.conftest import call, codes, ok

PREFS = """mutation($p: [NotificationPreferenceInput!]!) {
  notificationPreferencesUpdate(input: {preferences: $p}) {
    preferences { kind inApp email digest isDefault } userErrors { field code message } } }"""
MARK = """mutation($i: NotificationMarkReadInput!) { notificationMarkRead(input: $i) {
  unreadCount userErrors { field code } } }"""
LIST = """{ notificationUnreadCount notifications(first: 50) { totalCount edges { node {
  id kind title read subjectId } } } }"""
ANNOUNCE = """mutation($i: AnnouncementPostInput!) { announcementPost(input: $i) {
  announcement { id } userErrors { code } } }"""


def letters(p: Programme, address: str) -> list[EmailMessage]:
    return [
        email.message_from_string(raw, policy=policy.default)  # type: ignore[misc]
        for raw in p.api.mailbox.to(address)
    ]


async def notice(p: Programme, **given: Any) -> Any:
    fields = {"missionId": p.ids["ma"], "title": "Week 2", "body": "Read **chapter 2**."}
    return await ok(p, "sre", POST, {"i": {**fields, **given}}, "noticePost")


async def test_preferences_choose_the_channels(programme: Programme) -> None:
    p = programme
    defaults = (await p.gql("s1", "{ notificationPreferences { kind inApp email digest } }"))[
        "data"
    ]["notificationPreferences"]
    assert {"kind": "NOTICE", "inApp": True, "email": True, "digest": False} in defaults
    changed = await ok(
        p, "s1", PREFS,
        {"p": [{"kind": "NOTICE", "inApp": True, "email": False, "digest": True}]},
        "notificationPreferencesUpdate",
    )  # fmt: skip
    mine = {x["kind"]: x for x in changed["preferences"]}
    assert mine["NOTICE"] == {"kind": "NOTICE", "inApp": True, "email": False, "digest": True,
                              "isDefault": False}  # fmt: skip
    assert mine["MESSAGE"]["isDefault"] is True
    twice = [{"kind": "NOTICE", "inApp": True, "email": True, "digest": True}] * 2
    refused = await call(p, "s1", PREFS, {"p": twice}, "notificationPreferencesUpdate")
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "preferences", "1", "kind"], "INVALID")
    ]
    await notice(p)
    await p.api.run_jobs()
    assert letters(p, "s1@example.org") == []  # s1 turned notice e-mails off
    [letter] = letters(p, "s2@example.org")
    assert letter["Subject"] == "Week 2"
    text = letter.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = letter.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "Read **chapter 2**." in text and "<strong>chapter 2</strong>" in html
    assert "/unsubscribe?token=" in text and "/unsubscribe?token=" in html
    assert letter["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    for who in ("s1", "s2"):
        found = (await p.gql(who, LIST))["data"]
        assert found["notificationUnreadCount"] == 1, who
        assert found["notifications"]["edges"][0]["node"]["kind"] == "NOTICE"


async def test_unsubscribe_links_turn_one_kind_off(programme: Programme) -> None:
    p = programme
    await notice(p)
    await p.api.run_jobs()
    [letter] = letters(p, "s2@example.org")
    url = letter["List-Unsubscribe"].strip("<>")
    parsed = urlparse(url)
    link = f"{parsed.path}?{parsed.query}"
    page = await p.api.client.get(link)
    assert page.status_code == 200 and "<form" in page.text  # asks; changes nothing yet
    assert (await p.api.client.head(link)).status_code == 200  # a link checker's HEAD too
    prefs = "{ notificationPreferences { kind email isDefault } }"
    before = (await p.gql("s2", prefs))["data"]["notificationPreferences"]
    assert all(x["isDefault"] for x in before)
    done = await p.api.client.post(link, content=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200 and "Done" in done.text
    after = {x["kind"]: x for x in (await p.gql("s2", prefs))["data"]["notificationPreferences"]}
    assert after["NOTICE"]["email"] is False and after["NOTICE_REMINDER"]["email"] is True
    forged = link[:-3] + ("abc" if not link.endswith("abc") else "xyz")
    assert (await p.api.client.get(forged)).status_code == 400
    assert (await p.api.client.post("/unsubscribe", content=b"token=nonsense")).status_code == 400
    await notice(p, title="Week 3")
    await p.api.run_jobs()
    assert [m["Subject"] for m in letters(p, "s2@example.org")] == ["Week 2"]


async def test_read_state_is_yours_alone(programme: Programme) -> None:
    p = programme
    await notice(p, title="One")
    await notice(p, title="Two")
    mine = (await p.gql("s1", LIST))["data"]
    assert mine["notificationUnreadCount"] == 2
    first = mine["notifications"]["edges"][0]["node"]["id"]
    theirs = (await p.gql("s2", LIST))["data"]["notifications"]["edges"][0]["node"]["id"]
    node = "query($n: ID!) { node(id: $n) { id } }"
    assert (await p.gql("s2", node, {"n": first}))["data"]["node"] is None
    assert (await p.gql("admin", node, {"n": first}))["data"]["node"] is None
    # Someone else's notification is as if it did not exist: NOT_FOUND at its entry, and
    # nothing is marked (neither theirs nor the reader's own named beside it).
    refused = await call(p, "s1", MARK, {"i": {"ids": [first, theirs]}}, "notificationMarkRead")
    assert refused["userErrors"] == [{"field": ["input", "ids", "1"], "code": "NOT_FOUND"}]
    assert (await p.gql("s2", LIST))["data"]["notificationUnreadCount"] == 2
    assert (await p.gql("s1", LIST))["data"]["notificationUnreadCount"] == 2
    left = await ok(p, "s1", MARK, {"i": {"ids": [first]}}, "notificationMarkRead")
    assert left["unreadCount"] == 1
    assert codes(await call(p, "s1", MARK, {"i": {}}, "notificationMarkRead")) == ["REQUIRED"]
    left = await ok(p, "s1", MARK, {"i": {"all": True}}, "notificationMarkRead")
    assert left["unreadCount"] == 0
    unread = "{ notifications(unreadOnly: true) { totalCount } }"
    assert (await p.gql("s1", unread))["data"]["notifications"]["totalCount"] == 0


async def test_daily_digest_gathers_what_waits(programme: Programme) -> None:
    from alumnet.domain.communication.notifications import DIGEST_JOB
    from alumnet.workers.schedule import SCHEDULE, record

    p = programme
    assert any(name == DIGEST_JOB for name, _, _ in SCHEDULE)
    runtime = p.api.app.state.runtime
    for title in ("Open day", "Library hours"):
        made = await call(p, "manager", ANNOUNCE, {"i": {"title": title, "body": "x"}},
                          "announcementPost")  # fmt: skip
        assert made["userErrors"] == []
    await p.api.run_jobs()
    assert letters(p, "alumnus@example.org") == []  # announcements wait for the digest
    # What the scheduler does each morning: record the job; a worker runs it.
    first = await record(runtime, DIGEST_JOB, {})
    await p.api.run_jobs()
    [digest] = letters(p, "alumnus@example.org")
    text = digest.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Open day" in text and "Library hours" in text and "Stop daily digests" in text
    second = await record(runtime, DIGEST_JOB, {})
    await p.api.run_jobs()
    results = """query($a: ID!, $b: ID!) { a: node(id: $a) { ... on Job { status result } }
      b: node(id: $b) { ... on Job { status result } } }"""
    ids = {"a": to_base64("Job", first), "b": to_base64("Job", second)}
    jobs = (await p.gql("admin", results, ids))["data"]
    assert jobs["a"] == {"status": "SUCCEEDED", "result": {"users": len(p.tokens),
                                                          "emails": len(p.tokens)}}  # fmt: skip
    assert jobs["b"]["result"] == {"users": 0, "emails": 0}  # nothing twice


async def test_notifying_many_costs_the_same_statements_as_few(programme: Programme) -> None:
    p = programme
    post = """mutation($m: ID!) { noticePost(input: {missionId: $m, title: "T", body: "B"}) {
      notice { id } userErrors { code } } }"""
    few, body = await p.api.sql_count(post, {"m": p.ids["ma"]}, p.tokens["sre"])
    assert body["data"]["noticePost"]["userErrors"] == []
    for i in range(12):
        sid, _ = await p.api.create_user(f"many{i}@example.org", ["STUDENT"], name=f"Many {i}")
        await ok(p, "admin", ENROLL, {"m": p.ids["ma"], "s": sid}, "enrollmentCreate")
    many, body = await p.api.sql_count(post, {"m": p.ids["ma"]}, p.tokens["sre"])
    assert body["data"]["noticePost"]["userErrors"] == []
    assert many == few
    await p.api.run_jobs()
    assert len(letters(p, "many11@example.org")) == 1


async def test_a_slow_mail_server_does_not_slow_the_api(programme: Programme) -> None:
    p = programme
    p.api.mailbox.open.clear()  # the mail server accepts nothing until told
    try:
        posted = await asyncio.wait_for(notice(p), 10)
        assert posted["notice"]["id"]
        assert p.api.mailbox.messages == []  # answered while the e-mails still wait
        ping = await asyncio.wait_for(p.gql("s1", "{ notificationUnreadCount }"), 10)
        assert ping["data"]["notificationUnreadCount"] == 1
    finally:
        p.api.mailbox.open.set()
    await p.api.run_jobs()
    assert len(letters(p, "s1@example.org")) == 1


async def _raise(p: Programme, server: str, who: str, query: str, variables: Any) -> None:
    """In this process (heard by the server through Redis), or, on the embedded default,
    through the server itself (one process)."""
    if p.api.settings.redis_url:
        body = await p.gql(who, query, variables)
    else:
        body = await post_to(server, query, variables, await token_at(server, f"{who}@example.org"))

    assert "errors" not in body, body


async def test_notifications_and_messages_arrive_live_across_processes(
    programme: Programme, server: str
) -> None:
    p = programme
    first = await call(
        p, "m1", "mutation($u: ID!) { messageSend(input: {recipientId: $u, body: \"Hi\"}) "
        "{ message { conversation { id } } userErrors { code } } }", {"u": p.ids["s1"]},
        "messageSend",
    )  # fmt: skip
    conversation = first["message"]["conversation"]["id"]
    s1 = await token_at(server, "s1@example.org")
    notes = await subscribe(server, s1, "subscription { notificationReceived { kind title } }")
    talk = await subscribe(
        server,
        s1,
        "subscription($c: ID!) { messageReceived(conversationId: $c) { body mine } }",
        {"c": conversation},
    )
    nosy = await subscribe(
        server,
        await token_at(server, "s2@example.org"),
        "subscription($c: ID!) { messageReceived(conversationId: $c) { body } }",
        {"c": conversation},
    )
    assert json.loads(await asyncio.wait_for(nosy.recv(), 10))["type"] == "complete"
    send = """mutation($c: ID!) { messageSend(input: {conversationId: $c, body: "See you at 10"})
      { userErrors { code } } }"""
    await _raise(p, server, "m1", send, {"c": conversation})
    event = json.loads(await asyncio.wait_for(talk.recv(), 10))
    assert event["payload"]["data"]["messageReceived"] == {"body": "See you at 10", "mine": False}
    event = json.loads(await asyncio.wait_for(notes.recv(), 10))
    assert event["payload"]["data"]["notificationReceived"]["kind"] == "MESSAGE"
    assert re.match(
        r"New message from M1", event["payload"]["data"]["notificationReceived"]["title"]
    )
    for ws in (notes, talk, nosy):
        await ws.close()


async def test_a_line_break_in_a_title_does_not_break_the_e_mail(programme: Programme) -> None:
    p = programme
    await notice(p, title="Line one\nBcc: someone@example.org")
    await p.api.run_jobs()
    [letter] = letters(p, "s1@example.org")
    assert letter["Subject"] == "Line one Bcc: someone@example.org"
    assert letter["Bcc"] is None
