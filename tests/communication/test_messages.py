"""Direct messages: who may reach whom, read receipts, the inbox, blocking, privacy."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.communication.conftest import Programme
from tests.engagement.conftest import call, codes, ok

SEND = """mutation($i: MessageSendInput!) { messageSend(input: $i) {
  message { id body mine read conversation { id } } created userErrors { field code message } } }"""
START = """mutation($u: ID!) { conversationStart(input: {userId: $u}) {
  conversation { id } userErrors { code } } }"""
READ = """mutation($c: ID!) { conversationMarkRead(input: {conversationId: $c}) {
  conversation { unreadCount } userErrors { code } } }"""
BLOCK = """mutation($u: ID!) { userBlock(input: {userId: $u}) { blocked userErrors { code } } }"""
UNBLOCK = (
    """mutation($u: ID!) { userUnblock(input: {userId: $u}) { blocked userErrors { code } } }"""
)
INBOX = """{ unreadMessageCount conversations(first: 50) { totalCount edges { node {
  id unreadCount otherParticipant { name } lastMessage { body sender { name } }
  messages(first: 5) { edges { node { body mine read } } } } } } }"""


async def send(p: Programme, who: str, to: str, body: str = "Hello", **given: Any) -> Any:
    fields: dict[str, Any] = {"body": body, **given}
    if "conversationId" not in fields:
        fields["recipientId"] = p.ids[to]
    return await call(p, who, SEND, {"i": fields}, "messageSend")


async def test_who_may_reach_whom(programme: Programme) -> None:
    p = programme
    alumna, _ = await p.api.create_user("alumna@example.org", ["ALUMNUS"], name="Alumna")
    p.ids["alumna"] = alumna
    assert (await send(p, "s1", "m1"))["userErrors"] == []  # mentee to mentor
    assert (await send(p, "m2", "s2"))["userErrors"] == []  # mentor to mentee
    assert (await send(p, "alumnus", "alumna"))["userErrors"] == []  # alumni to alumni
    assert (await send(p, "sre", "s3"))["userErrors"] == []  # staff to anyone
    assert (await send(p, "s3", "manager"))["userErrors"] == []  # anyone to staff
    assert codes(await send(p, "s1", "s2")) == ["NOT_REACHABLE"]  # students to students
    assert codes(await send(p, "s3", "m1")) == ["NOT_REACHABLE"]  # not their mentor
    assert codes(await send(p, "alumnus", "s1")) == ["NOT_REACHABLE"]
    assert codes(await send(p, "s1", "s1")) == ["NOT_REACHABLE"]
    assert codes(await call(p, "s1", START, {"u": p.ids["s2"]}, "conversationStart")) == [
        "NOT_REACHABLE"
    ]
    # Starting twice finds the same conversation.
    first = await ok(p, "s1", START, {"u": p.ids["m1"]}, "conversationStart")
    again = await ok(p, "m1", START, {"u": p.ids["s1"]}, "conversationStart")
    assert first["conversation"]["id"] == again["conversation"]["id"]


async def test_inbox_unread_counts_and_read_receipts(programme: Programme) -> None:
    p = programme
    sent = await send(p, "s1", "m1", "Can we meet?")
    conversation = sent["message"]["conversation"]["id"]
    assert sent["message"]["mine"] is True and sent["message"]["read"] is False
    await send(p, "s1", "m1", "Tomorrow at ten?", conversationId=conversation)
    inbox = (await p.gql("m1", INBOX))["data"]
    assert inbox["unreadMessageCount"] == 2
    [edge] = inbox["conversations"]["edges"]
    node = edge["node"]
    assert node["unreadCount"] == 2 and node["otherParticipant"] == {"name": "S1 Person"}
    assert node["lastMessage"] == {"body": "Tomorrow at ten?", "sender": {"name": "S1 Person"}}
    assert [m["node"]["body"] for m in node["messages"]["edges"]] == [
        "Tomorrow at ten?",
        "Can we meet?",
    ]
    marked = await ok(p, "m1", READ, {"c": conversation}, "conversationMarkRead")
    assert marked["conversation"]["unreadCount"] == 0
    mine = (await p.gql("s1", INBOX))["data"]["conversations"]["edges"][0]["node"]
    assert [m["node"]["read"] for m in mine["messages"]["edges"]] == [True, True]  # receipts
    assert mine["otherParticipant"] == {"name": "M1 Person"}
    await send(p, "m1", "s1", "Yes.", conversationId=conversation)
    assert (await p.gql("s1", "{ unreadMessageCount }"))["data"]["unreadMessageCount"] == 1
    # The newest conversation comes first in the inbox.
    await send(p, "s1", "m2", "Question")
    order = (await p.gql("s1", INBOX))["data"]["conversations"]["edges"]
    assert [e["node"]["otherParticipant"]["name"] for e in order] == ["M2 Person", "M1 Person"]


async def test_nobody_reads_another_persons_messages(programme: Programme) -> None:
    p = programme
    sent = await send(p, "s1", "m1", "Private")
    conversation = sent["message"]["conversation"]["id"]
    message = sent["message"]["id"]
    node = "query($n: ID!) { node(id: $n) { id } }"
    for who in ("s2", "m2", "manager", "admin"):
        assert (await p.gql(who, node, {"n": conversation}))["data"]["node"] is None, who
        assert (await p.gql(who, node, {"n": message}))["data"]["node"] is None, who
        inbox = (await p.gql(who, INBOX))["data"]["conversations"]["edges"]
        assert inbox == [], who
        intrude = await send(p, who, "s1", "Hi", conversationId=conversation)
        assert codes(intrude) == ["NOT_FOUND"], who
        assert codes(await call(p, who, READ, {"c": conversation}, "conversationMarkRead")) == [
            "NOT_FOUND"
        ]
    assert (await p.api.gql(node, {"n": message}))["data"]["node"] is None


async def test_a_blocked_user_cannot_write(programme: Programme) -> None:
    p = programme
    await send(p, "s1", "m1", "Hello")
    assert (await ok(p, "s1", BLOCK, {"u": p.ids["m1"]}, "userBlock"))["blocked"] is True
    await ok(p, "s1", BLOCK, {"u": p.ids["m1"]}, "userBlock")  # idempotent
    assert codes(await send(p, "m1", "s1", "Are you there?")) == ["BLOCKED"]
    assert codes(await send(p, "s1", "m1", "One more thing")) == ["BLOCKED"]
    blocked = (
        await p.gql("s1", "{ blockedUsers { totalCount edges { node { userId user { name } } } } }")
    )["data"]["blockedUsers"]
    assert blocked["totalCount"] == 1
    assert [e["node"] for e in blocked["edges"]] == [
        {"userId": p.ids["m1"], "user": {"name": "M1 Person"}}
    ]
    assert (await ok(p, "s1", UNBLOCK, {"u": p.ids["m1"]}, "userUnblock"))["blocked"] is False
    assert (await send(p, "m1", "s1", "Welcome back"))["userErrors"] == []


async def test_bad_input_and_retries(programme: Programme) -> None:
    p = programme
    assert codes(await send(p, "s1", "m1", "x" * 5001)) == ["TOO_LONG"]
    assert codes(await send(p, "s1", "m1", "   ")) == ["REQUIRED"]
    assert codes(await send(p, "s1", "m1", "bad\x07bell")) == ["INVALID"]
    first = await send(p, "s1", "m1", "Once", clientId="k-1")
    again = await send(p, "s1", "m1", "Once", clientId="k-1")
    assert first["created"] is True and again["created"] is False
    assert first["message"]["id"] == again["message"]["id"]
    assert (await p.gql("m1", "{ unreadMessageCount }"))["data"]["unreadMessageCount"] == 1
    # Windows line ends are fine.
    assert (await send(p, "s1", "m1", "line one\r\nline two"))["message"]["body"] == (
        "line one\nline two"
    )


async def test_inbox_statements_do_not_grow_with_conversations(programme: Programme) -> None:
    p = programme
    await send(p, "sre", "alumnus", "First")
    few, body = await p.api.sql_count(INBOX, token=p.tokens["sre"])
    assert len(body["data"]["conversations"]["edges"]) == 1
    for who in ("s1", "s2", "s3", "m1", "m2", "manager"):
        await send(p, "sre", who, f"Hello {who}")
        await send(p, who, "sre", "Hello back")
    many, body = await p.api.sql_count(INBOX, token=p.tokens["sre"])
    assert len(body["data"]["conversations"]["edges"]) == 7
    assert many == few


async def test_writing_to_someone_reveals_nothing_about_them(programme: Programme) -> None:
    p = programme
    stranger, _ = await p.api.create_user("stranger@example.org", ["ALUMNUS"], name="Stranger")
    started = await ok(p, "alumnus", START, {"u": stranger}, "conversationStart")
    node = "query($n: ID!) { node(id: $n) { id } }"
    assert (await p.gql("alumnus", node, {"n": stranger}))["data"]["node"] is None
    # An empty conversation is in nobody's inbox.
    inbox = "{ conversations { edges { node { id } } } }"
    stranger_token = await p.api.sign_in("stranger@example.org")
    empty = await p.api.gql(inbox, token=stranger_token)
    assert empty["data"]["conversations"]["edges"] == []
    await send(p, "alumnus", "", "Hello", conversationId=started["conversation"]["id"])
    talk = (await p.api.gql(INBOX, token=stranger_token))["data"]["conversations"]["edges"]
    assert talk[0]["node"]["otherParticipant"] == {"name": "ALUMNUS Person"}
    # A user id that does not exist and one that may not be reached look the same.
    from strawberry.relay import to_base64

    missing = await call(p, "s1", START, {"u": to_base64("User", 999_999)}, "conversationStart")
    unreachable = await call(p, "s1", START, {"u": p.ids["s2"]}, "conversationStart")
    assert codes(missing) == codes(unreachable) == ["NOT_REACHABLE"]


async def test_the_same_client_id_twice_at_once_sends_once(programme: Programme) -> None:
    p = programme
    both = await asyncio.gather(
        *(send(p, "s1", "m1", "Once only", clientId="same-key") for _ in range(2))
    )
    assert all(b["userErrors"] == [] for b in both)
    assert sorted(b["created"] for b in both) == [False, True]
    assert both[0]["message"]["id"] == both[1]["message"]["id"]


async def test_students_write_to_alumni_who_offer_it(programme: Programme) -> None:
    p = programme
    assert codes(await send(p, "s1", "alumnus")) == ["NOT_REACHABLE"]
    offer = """mutation($o: Boolean!) { profileUpdate(input: {openToStudents: $o}) {
      userErrors { code } } }"""
    await ok(p, "alumnus", offer, {"o": True}, "profileUpdate")
    shown = await p.gql("s1", '{ directory(query: "alumnus") { edges { node { name '
                        "openToStudents } } } }")  # fmt: skip
    assert [e["node"] for e in shown["data"]["directory"]["edges"]] == [
        {"name": "ALUMNUS Person", "openToStudents": True}
    ]
    sent = await send(p, "s1", "alumnus", "Could we talk about internships?")
    assert sent["userErrors"] == []
    conversation = sent["message"]["conversation"]["id"]
    reply = await send(p, "alumnus", "s1", "Gladly.", conversationId=conversation)
    assert reply["userErrors"] == []
    await ok(p, "alumnus", offer, {"o": False}, "profileUpdate")
    assert codes(await send(p, "s1", "alumnus", "One more thing")) == ["NOT_REACHABLE"]


async def test_blocked_users_are_a_connection_latest_first(programme: Programme) -> None:
    p = programme
    for who in ("m1", "m2", "s2"):
        await ok(p, "s1", BLOCK, {"u": p.ids[who]}, "userBlock")
    page = """query($o: BlockedUserOrder, $n: Int, $a: String) {
      blockedUsers(orderBy: $o, first: $n, after: $a) { totalCount
        pageInfo { hasNextPage endCursor } edges { node { userId } } } }"""

    async def blocked(**given: Any) -> Any:
        body = await p.gql("s1", page, {"n": 10, **given})
        assert "errors" not in body, body
        return body["data"]["blockedUsers"]

    def people(found: Any) -> list[str]:
        return [e["node"]["userId"] for e in found["edges"]]

    latest = [p.ids["s2"], p.ids["m2"], p.ids["m1"]]
    assert people(await blocked()) == latest
    assert people(await blocked(o={"field": "BLOCKED_AT", "direction": "ASC"})) == latest[::-1]
    first = await blocked(n=2)
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    rest = await blocked(n=2, a=first["pageInfo"]["endCursor"])
    assert people(first) + people(rest) == latest and not rest["pageInfo"]["hasNextPage"]
    assert (await p.gql("m1", page, {"n": 10}))["data"]["blockedUsers"]["totalCount"] == 0
