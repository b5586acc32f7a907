"""Tickets: who opens, who reads, replies and status, closing, SLA figures."""

from __future__ import annotations

from typing import Any

from tests.communication.conftest import Programme
from tests.engagement.conftest import call, codes, ok

OPEN = """mutation($i: TicketOpenInput!) { ticketOpen(input: $i) {
  ticket { id status queue subject } userErrors { field code message } } }"""
REPLY = """mutation($t: ID!, $b: String!) { ticketReply(input: {ticketId: $t, body: $b}) {
  ticket { status firstReplySeconds messages { totalCount edges { node { body byStudent } } } }
  userErrors { code } } }"""
CLOSE = """mutation($t: ID!) { ticketClose(input: {ticketId: $t}) {
  ticket { status closedAt } userErrors { code } } }"""
LIST = """{ tickets(first: 100) { totalCount edges { node { subject status queue
  student { name } mentor { name } messages(first: 10) { edges { node { body author { name } } } }
} } } }"""
SLA = """query($q: TicketQueue) { ticketSla(queue: $q) { opened replied awaitingFirstReply openNow
  medianFirstReplySeconds p90FirstReplySeconds averageFirstReplySeconds oldestAwaitingSince } }"""


async def open_ticket(p: Programme, who: str, **given: Any) -> Any:
    fields = {"queue": "MENTOR", "subject": "Week 3", "body": "I am stuck on task 2."}
    return await call(p, who, OPEN, {"i": {**fields, **given}}, "ticketOpen")


async def subjects(p: Programme, who: str) -> list[str]:
    body = await p.gql(who, LIST)
    assert "errors" not in body, body
    return sorted(e["node"]["subject"] for e in body["data"]["tickets"]["edges"])


async def test_who_opens_tickets_and_to_whom(programme: Programme) -> None:
    p = programme
    made = await open_ticket(p, "s1", mentorId=p.ids["m1"])
    assert made["userErrors"] == [] and made["ticket"]["status"] == "OPEN"
    assert codes(await open_ticket(p, "s3", mentorId=p.ids["m1"])) == ["NOT_FOUND"]  # not hers
    assert codes(await open_ticket(p, "s1")) == ["REQUIRED"]  # which mentor?
    assert codes(await open_ticket(p, "s1", queue="SRE", mentorId=p.ids["m1"])) == ["INVALID"]
    assert codes(await open_ticket(p, "alumnus", queue="SRE")) == ["NOT_A_STUDENT"]
    assert codes(await open_ticket(p, "s1", queue="SRE", subject="x" * 201)) == ["TOO_LONG"]
    assert codes(await open_ticket(p, "s1", queue="SRE", body="x" * 10_001)) == ["TOO_LONG"]
    assert codes(await open_ticket(p, "s1", queue="SRE", body=" ")) == ["REQUIRED"]
    assert (await p.gql("s1", "{ tickets { totalCount } }"))["data"]["tickets"]["totalCount"] == 1
    # The mentor is told in the app (and by e-mail, the default for tickets).
    unread = await p.gql("m1", "{ notifications { edges { node { kind title subjectId } } } }")
    [note] = unread["data"]["notifications"]["edges"]
    assert note["node"]["kind"] == "TICKET" and note["node"]["subjectId"] == made["ticket"]["id"]


async def test_nobody_else_reads_a_ticket(programme: Programme) -> None:
    p = programme
    to_mentor = (await open_ticket(p, "s1", mentorId=p.ids["m1"], subject="To M1"))["ticket"]
    to_team = (await open_ticket(p, "s2", queue="SRE", subject="To SREs"))["ticket"]
    seen = {who: await subjects(p, who) for who in p.tokens}
    assert seen == {
        "admin": ["To SREs"], "manager": ["To SREs"], "sre": ["To SREs"], "m1": ["To M1"],
        "m2": [], "s1": ["To M1"], "s2": ["To SREs"], "s3": [], "alumnus": [],
    }  # fmt: skip
    node = "query($n: ID!) { node(id: $n) { id } }"
    assert (await p.gql("m2", node, {"n": to_mentor["id"]}))["data"]["node"] is None
    assert (await p.gql("sre", node, {"n": to_mentor["id"]}))["data"]["node"] is None
    assert (await p.gql("m1", node, {"n": to_team["id"]}))["data"]["node"] is None
    assert (await p.gql("s1", node, {"n": to_team["id"]}))["data"]["node"] is None
    for who in ("m2", "sre", "s2"):
        reply = await call(p, who, REPLY, {"t": to_mentor["id"], "b": "Hi"}, "ticketReply")
        assert codes(reply) == ["NOT_FOUND"], who
    for who in ("m1", "s1"):
        reply = await call(p, who, REPLY, {"t": to_team["id"], "b": "Hi"}, "ticketReply")
        assert codes(reply) == ["NOT_FOUND"], who
        assert codes(await call(p, who, CLOSE, {"t": to_team["id"]}, "ticketClose")) == [
            "NOT_FOUND"
        ]


async def test_replies_status_and_sla(programme: Programme) -> None:
    p = programme
    ticket = (await open_ticket(p, "s1", queue="SRE"))["ticket"]["id"]
    other = (await open_ticket(p, "s2", queue="SRE", subject="Waiting"))["ticket"]["id"]
    answered = await ok(p, "sre", REPLY, {"t": ticket, "b": "Try this."}, "ticketReply")
    assert answered["ticket"]["status"] == "ANSWERED"
    assert answered["ticket"]["firstReplySeconds"] >= 0
    back = await ok(p, "s1", REPLY, {"t": ticket, "b": "Still stuck."}, "ticketReply")
    assert back["ticket"]["status"] == "OPEN"
    assert [e["node"]["byStudent"] for e in back["ticket"]["messages"]["edges"]] == [
        True,
        False,
        True,
    ]
    notes = await p.gql("s1", "{ notifications { edges { node { kind title } } } }")
    assert notes["data"]["notifications"]["edges"][0]["node"] == {
        "kind": "TICKET",
        "title": "Reply: Week 3",
    }
    closed = await ok(p, "manager", CLOSE, {"t": ticket}, "ticketClose")
    assert closed["ticket"]["status"] == "CLOSED"
    late = await call(p, "s1", REPLY, {"t": ticket, "b": "One more"}, "ticketReply")
    assert codes(late) == ["CLOSED"]
    sla = (await p.gql("manager", SLA, {"q": "SRE"}))["data"]["ticketSla"]
    assert (sla["opened"], sla["replied"], sla["awaitingFirstReply"], sla["openNow"]) == (
        2,
        1,
        1,
        1,
    )
    assert sla["medianFirstReplySeconds"] is not None and sla["oldestAwaitingSince"] is not None
    # A mentor's figures cover their own tickets only.
    await open_ticket(p, "s1", mentorId=p.ids["m1"])
    mine = (await p.gql("m1", SLA, {"q": None}))["data"]["ticketSla"]
    assert (mine["opened"], mine["replied"], mine["awaitingFirstReply"]) == (1, 0, 1)
    assert mine["medianFirstReplySeconds"] is None
    assert other


async def test_ticket_list_statements_do_not_grow(programme: Programme) -> None:
    p = programme
    await open_ticket(p, "s1", queue="SRE", subject="First")
    few, body = await p.api.sql_count(LIST, token=p.tokens["sre"])
    assert body["data"]["tickets"]["totalCount"] == 1
    for i in range(6):
        made = await open_ticket(p, "s2" if i % 2 else "s1", queue="SRE", subject=f"T{i}")
        await ok(p, "sre", REPLY, {"t": made["ticket"]["id"], "b": "Answer"}, "ticketReply")
    many, body = await p.api.sql_count(LIST, token=p.tokens["sre"])
    assert body["data"]["tickets"]["totalCount"] == 7
    assert many == few


async def test_sre_tickets_reach_the_team_and_retries_open_once(programme: Programme) -> None:
    p = programme
    first = await open_ticket(p, "s1", queue="SRE", clientId="t-1")
    again = await open_ticket(p, "s1", queue="SRE", clientId="t-1")
    assert first["ticket"]["id"] == again["ticket"]["id"]
    notes = await p.gql("sre", "{ notifications { totalCount edges { node { kind } } } }")
    assert notes["data"]["notifications"]["totalCount"] == 1  # told once, not twice
