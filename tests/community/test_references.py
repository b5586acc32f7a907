"""Reference requests: who may ask whom, the writer's answer, the draft, the e-mail to the
recipient (once), the text kept from the requester until shared, cancelling, reminders
and expiry once, and the lists."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email import message_from_string
from email.policy import default
from typing import Any

import pytest
from sqlalchemy import func, select, update
from strawberry.relay import to_base64

from alumnet.domain.community import references
from alumnet.persistence.models import (
    AuditEvent,
    Notification,
    OutboundEmail,
    ReferenceRequest,
    User,
)
from tests.careers.conftest import Board, board  # noqa: F401  (the fixture)

FIELDS = """id status purpose deadline recipientName recipientEmail declineReason shared
  text writtenAt viewerIsWriter requesterName writerName requester { id name }
  writer { id name } jobPosting { id title } createdAt respondedAt sentAt"""
CREATE = f"""mutation($i: ReferenceRequestCreateInput!) {{ referenceRequestCreate(input: $i) {{
  request {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
RESPOND = f"""mutation($i: ReferenceRequestRespondInput!) {{ referenceRequestRespond(input: $i) {{
  request {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
WRITE = f"""mutation($i: ReferenceWriteInput!) {{ referenceWrite(input: $i) {{
  request {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
SEND = f"""mutation($i: ReferenceSendInput!) {{ referenceSend(input: $i) {{
  request {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
SHARE = f"""mutation($i: ReferenceShareInput!) {{ referenceShare(input: $i) {{
  request {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
CANCEL = f"""mutation($i: ReferenceRequestCancelInput!) {{ referenceRequestCancel(input: $i) {{
  request {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
NODE = f"""query($id: ID!) {{ node(id: $id) {{ ... on ReferenceRequest {{ {FIELDS} }} }} }}"""
NODES = f"""query($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on ReferenceRequest {{ {FIELDS} }}
  }} }}"""
MINE = f"""query($side: ReferenceRequestSide, $status: [ReferenceRequestStatus!]) {{
  referenceRequests(side: $side, status: $status, first: 50) {{ totalCount
    edges {{ node {{ {FIELDS} }} }} }} }}"""
PENDING = f"""query($after: String) {{ pendingReferences(first: 2, after: $after) {{ totalCount
  pageInfo {{ hasNextPage }} edges {{ cursor node {{ {FIELDS} }} }} }} }}"""
NOTIFICATIONS = """{ notifications(first: 100) { edges { node { kind title body subjectId } } } }"""
SECRET = "Ama is the most careful engineer I have taught: SECRET-PRAISE-7731."


def day(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


def codes(payload: Any) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def ask(b: Board, who: str, writer: str, **given: Any) -> Any:
    fields = {"writerId": b.ids[writer], "purpose": "MSc application at Legon.",
              "deadline": day(10), "recipientName": "Admissions office",
              "recipientEmail": "admissions@university.example", **given}  # fmt: skip
    return await b.call(who, CREATE, {"i": fields}, "referenceRequestCreate")


async def accepted(b: Board, who: str = "s1", writer: str = "a1", **given: Any) -> str:
    made = await ask(b, who, writer, **given)
    assert made["userErrors"] == [], made
    rid = made["request"]["id"]
    await b.ok(writer, RESPOND, {"i": {"id": rid, "accept": True}}, "referenceRequestRespond")
    return str(rid)


async def rows(b: Board, model: Any, *where: Any) -> int:
    async with b.api.app.state.runtime.transaction() as uow:
        query = select(func.count()).select_from(model).where(*where)
        return int((await uow.session.execute(query)).scalar())


async def everything_seen_by(b: Board, who: str, rid: str) -> str:
    """Every way the viewer may reach the request: node, nodes, both lists, notifications."""
    seen = [
        await b.gql(who, NODE, {"id": rid}),
        await b.gql(who, NODES, {"ids": [rid]}),
        await b.gql(who, MINE, {"side": "ASKED_BY_ME"}),
        await b.gql(who, MINE, {"side": "ASKED_OF_ME"}),
        await b.gql(who, PENDING, {}),
        await b.gql(who, NOTIFICATIONS),
    ]
    for body in seen:
        assert "errors" not in body, body
    return str(seen)


async def test_a_reference_goes_to_its_recipient_and_stays_private_until_shared(
    board: Board,  # noqa: F811
) -> None:
    b = board
    made = await ask(b, "s1", "a1")
    assert made["userErrors"] == [], made
    request = made["request"]
    rid = request["id"]
    assert request["status"] == "PENDING" and request["writerName"] == "A1 Person"
    assert request["requesterName"] == "S1 Person" and request["viewerIsWriter"] is False
    told = await b.gql("a1", NOTIFICATIONS)
    assert [n["node"]["title"] for n in told["data"]["notifications"]["edges"]] == [
        "S1 Person asks you for a reference"
    ]
    await b.ok("a1", RESPOND, {"i": {"id": rid, "accept": True}}, "referenceRequestRespond")
    # Drafts, saved as often as the writer likes; the requester never sees them.
    for text in ("A first draft.", SECRET):
        saved = await b.ok("a1", WRITE, {"i": {"id": rid, "text": text}}, "referenceWrite")
        assert saved["request"]["text"] == text and saved["request"]["writtenAt"]
    assert SECRET not in await everything_seen_by(b, "s1", rid)
    assert SECRET in await everything_seen_by(b, "a1", rid)
    # Not staff either, nor a stranger: the request itself is not there for them.
    for who in ("admin", "manager", "s2", "a2"):
        assert (await b.gql(who, NODE, {"id": rid}))["data"]["node"] is None, who
        assert SECRET not in await everything_seen_by(b, who, rid)
    sent = await b.ok("a1", SEND, {"i": {"id": rid}}, "referenceSend")
    assert sent["request"]["status"] == "SENT" and sent["request"]["shared"] is False
    await b.api.run_jobs()
    to_recipient = b.api.mailbox.to("admissions@university.example")
    assert len(to_recipient) == 1
    assert "SECRET-PRAISE-7731" in to_recipient[0]
    assert "A reference for S1 Person from A1 Person" in to_recipient[0]
    # Sending again sends nothing.
    again = await b.ok("a1", SEND, {"i": {"id": rid, "share": True}}, "referenceSend")
    assert again["request"]["shared"] is False
    await b.api.run_jobs()
    assert len(b.api.mailbox.to("admissions@university.example")) == 1
    # Not in the requester's mail, notifications, lists; not in the audit log.
    assert all("SECRET-PRAISE" not in m for m in b.api.mailbox.to("s1@example.org"))
    seen = await everything_seen_by(b, "s1", rid)
    assert SECRET not in seen and "A1 Person sent your reference" in seen
    assert await rows(b, AuditEvent, AuditEvent.details.is_not(None)) > 0
    async with b.api.app.state.runtime.transaction() as uow:
        audit = (await uow.session.execute(select(AuditEvent.details))).scalars().all()
    assert "SECRET-PRAISE" not in str(audit)
    # Shared: now the requester reads it, through the node and the list.
    shared = await b.ok("a1", SHARE, {"i": {"id": rid, "share": True}}, "referenceShare")
    assert shared["request"]["shared"] is True
    assert (await b.gql("s1", NODE, {"id": rid}))["data"]["node"]["text"] == SECRET
    mine = await b.gql("s1", MINE, {"side": "ASKED_BY_ME", "status": ["SENT"]})
    assert mine["data"]["referenceRequests"]["edges"][0]["node"]["text"] == SECRET
    assert (await b.gql("s1", NODE, {"id": rid}))["data"]["node"]["writtenAt"] is None
    # …and no longer once unshared; only the writer shares.
    denied = await b.call("s1", SHARE, {"i": {"id": rid, "share": True}}, "referenceShare")
    assert codes(denied) == ["NOT_FOUND"]
    await b.ok("a1", SHARE, {"i": {"id": rid, "share": False}}, "referenceShare")
    assert (await b.gql("s1", NODE, {"id": rid}))["data"]["node"]["text"] is None


async def test_a_reference_for_a_job_posting_goes_to_its_poster(
    board: Board,  # noqa: F811
) -> None:
    b = board
    posting = await b.live(title="Data analyst")
    hidden = await b.live(title="Alumni only", audience="ALUMNI")
    no_address = {"recipientEmail": None, "recipientName": None}
    unseen = await ask(b, "s1", "a1", jobPostingId=hidden["id"], **no_address)
    assert codes(unseen) == ["NOT_FOUND"] and unseen["userErrors"][0]["field"] == [
        "input",
        "jobPostingId",
    ]
    nothing = await ask(b, "s1", "a1", **no_address)
    assert codes(nothing) == ["NO_RECIPIENT"]
    rid = await accepted(b, jobPostingId=posting["id"], **no_address)
    node = (await b.gql("s1", NODE, {"id": rid}))["data"]["node"]
    assert node["jobPosting"] == {"id": posting["id"], "title": "Data analyst"}
    text = SECRET + "\n<script>alert(1)</script>"
    await b.ok("a1", WRITE, {"i": {"id": rid, "text": text}}, "referenceWrite")
    await b.ok("a1", SEND, {"i": {"id": rid, "share": True}}, "referenceSend")
    await b.api.run_jobs()
    [mail] = b.api.mailbox.to("manager@example.org")
    parts = {
        p.get_content_type(): p.get_content()
        for p in message_from_string(mail, policy=default).walk()
        if not p.is_multipart()
    }
    assert "SECRET-PRAISE-7731" in parts["text/plain"] and "Data analyst" in parts["text/plain"]
    assert "&lt;script&gt;" in parts["text/html"] and "<script>" not in parts["text/html"]
    assert (await b.gql("s1", NODE, {"id": rid}))["data"]["node"]["text"] == text


async def test_wrong_people_and_bad_input_change_nothing(board: Board) -> None:  # noqa: F811
    b = board
    assert codes(await ask(b, "m1", "a1")) == ["NOT_ALLOWED"]  # a mentor does not ask
    assert codes(await ask(b, "manager", "a1")) == ["NOT_ALLOWED"]
    assert codes(await ask(b, "s1", "s2")) == ["NOT_A_WRITER"]  # a student does not write
    assert codes(await ask(b, "s1", "manager")) == ["NOT_A_WRITER"]
    assert codes(await ask(b, "a1", "a1")) == ["SELF"]
    nobody = to_base64("User", 999_999)
    assert codes(await ask(b, "s1", "a1", writerId=nobody)) == ["NOT_FOUND"]
    assert codes(await ask(b, "s1", "a1", deadline=day(0))) == ["DATE_IN_PAST"]
    assert codes(await ask(b, "s1", "a1", deadline=day(-3))) == ["DATE_IN_PAST"]
    assert codes(await ask(b, "s1", "a1", deadline=day(400))) == ["OUT_OF_RANGE"]
    assert codes(await ask(b, "s1", "a1", recipientEmail="not an address")) == ["INVALID_EMAIL"]
    assert codes(await ask(b, "s1", "a1", recipientEmail="S1@example.org")) == ["OWN_ADDRESS"]
    injected = "x@example.org\r\nBcc: y@example.org"
    assert codes(await ask(b, "s1", "a1", recipientEmail=injected)) == ["INVALID_EMAIL"]
    assert codes(await ask(b, "s1", "a1", recipientEmail="  ")) == ["NO_RECIPIENT"]
    assert codes(await ask(b, "s1", "a1", purpose=" ")) == ["REQUIRED"]
    assert codes(await ask(b, "s1", "a1", purpose="x" * 2001)) == ["TOO_LONG"]
    assert codes(await ask(b, "s1", "a1", recipientName="A\u202eB")) == ["INVALID"]
    assert codes(await ask(b, "s1", "a1", clientId="k" * 65)) == ["INVALID"]
    # A suspended writer is not there; nor one who blocked the requester.
    async with b.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(User).where(User.email == "a2@example.org").values(status="suspended")
        )
    assert codes(await ask(b, "s1", "a2")) == ["NOT_FOUND"]
    blocked = await b.gql("m1", "mutation($u: ID!) { userBlock(input: {userId: $u}) "
                          "{ userErrors { code } } }", {"u": b.ids["s2"]})  # fmt: skip
    assert "errors" not in blocked, blocked
    assert codes(await ask(b, "s2", "m1")) == ["NOT_FOUND"]
    anonymous = await b.api.gql(CREATE, {"i": {"writerId": b.ids["a1"], "purpose": "x",
                                               "deadline": day(5)}})  # fmt: skip
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await rows(b, ReferenceRequest) == 0
    assert await rows(b, Notification) == 0
    # On a real request: only the writer answers, writes and sends; only in its state.
    rid = (await ask(b, "s1", "m1"))["request"]["id"]
    for who in ("s1", "s2", "a1", "admin"):
        stranger = await b.call(who, RESPOND, {"i": {"id": rid, "accept": True}},
                                "referenceRequestRespond")  # fmt: skip
        assert codes(stranger) == ["NOT_FOUND"], who
    early = await b.call("m1", WRITE, {"i": {"id": rid, "text": "x"}}, "referenceWrite")
    assert codes(early) == ["WRONG_STATUS"]
    await b.ok("m1", RESPOND, {"i": {"id": rid, "accept": True}}, "referenceRequestRespond")
    twice = await b.call("m1", RESPOND, {"i": {"id": rid, "accept": False}},
                         "referenceRequestRespond")  # fmt: skip
    assert codes(twice) == ["WRONG_STATUS"]
    for who in ("s1", "admin"):
        written = await b.call(who, WRITE, {"i": {"id": rid, "text": "I am great."}},
                               "referenceWrite")  # fmt: skip
        assert codes(written) == ["NOT_FOUND"], who
        assert codes(await b.call(who, SEND, {"i": {"id": rid}}, "referenceSend")) == ["NOT_FOUND"]
    assert codes(await b.call("m1", SEND, {"i": {"id": rid}}, "referenceSend")) == ["NO_TEXT"]
    long = await b.call("m1", WRITE, {"i": {"id": rid, "text": "x" * 20_001}}, "referenceWrite")
    assert codes(long) == ["TOO_LONG"]
    unshared = await b.call("m1", SHARE, {"i": {"id": rid, "share": True}}, "referenceShare")
    assert codes(unshared) == ["WRONG_STATUS"]
    wrong_type = await b.call("m1", SEND, {"i": {"id": b.ids["s1"]}}, "referenceSend")
    assert codes(wrong_type) == ["NOT_FOUND"]
    assert await rows(b, OutboundEmail, OutboundEmail.template == "reference") == 0


async def test_declining_cancelling_and_asking_again_with_a_client_id(
    board: Board,  # noqa: F811
) -> None:
    b = board
    first = await ask(b, "s1", "a1", clientId="ref-1")
    again = await ask(b, "s1", "a1", clientId="ref-1", purpose="Something else")
    assert again["request"]["id"] == first["request"]["id"]
    assert again["request"]["purpose"] == "MSc application at Legon."
    assert await rows(b, ReferenceRequest) == 1
    assert await rows(b, Notification, Notification.kind == "reference") == 1
    # Another person's key is theirs alone.
    other = await ask(b, "s2", "a1", clientId="ref-1")
    assert other["request"]["id"] != first["request"]["id"]
    no = {"id": first["request"]["id"], "accept": False, "reason": "I do not know you well."}
    declined = await b.ok("a1", RESPOND, {"i": no}, "referenceRequestRespond")
    assert declined["request"]["status"] == "DECLINED"
    assert declined["request"]["declineReason"] == "I do not know you well."
    told = str(await b.gql("s1", NOTIFICATIONS))
    assert "A1 Person declined your reference request" in told and "know you well" in told
    late = await b.call("s1", CANCEL, {"i": {"id": first["request"]["id"]}},
                        "referenceRequestCancel")  # fmt: skip
    assert codes(late) == ["WRONG_STATUS"]
    # Cancelling an accepted request: the writer is told, the draft forgotten.
    rid = await accepted(b, "s2", "m1")
    await b.ok("m1", WRITE, {"i": {"id": rid, "text": SECRET}}, "referenceWrite")
    assert codes(await b.call("m1", CANCEL, {"i": {"id": rid}}, "referenceRequestCancel")) == [
        "NOT_FOUND"
    ]
    gone = await b.ok("s2", CANCEL, {"i": {"id": rid}}, "referenceRequestCancel")
    assert gone["request"]["status"] == "CANCELLED"
    assert "S2 Person cancelled a reference request" in str(await b.gql("m1", NOTIFICATIONS))
    assert (await b.gql("m1", NODE, {"id": rid}))["data"]["node"]["text"] is None
    assert codes(await b.call("m1", SEND, {"i": {"id": rid}}, "referenceSend")) == ["WRONG_STATUS"]


async def test_open_requests_are_limited(
    board: Board,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    b = board
    for _ in range(references.OPEN_PER_WRITER_MAX):
        assert (await ask(b, "s1", "a1"))["userErrors"] == []
    over = await ask(b, "s1", "a1")
    assert codes(over) == ["TOO_MANY"] and over["userErrors"][0]["field"] == ["input", "writerId"]
    monkeypatch.setattr(references, "OPEN_MAX", 4)
    assert (await ask(b, "s1", "m1"))["userErrors"] == []
    assert codes(await ask(b, "s1", "a2")) == ["TOO_MANY"]
    assert (await ask(b, "s2", "a2"))["userErrors"] == []  # another person's count
    assert await rows(b, ReferenceRequest) == 5


async def test_writers_are_reminded_once_and_late_requests_expire(
    board: Board,  # noqa: F811
) -> None:
    from alumnet.workers.schedule import AT_START, SCHEDULE, record

    assert any(name == references.SWEEP_JOB for name, _, _ in SCHEDULE)
    assert (references.SWEEP_JOB, {}) in AT_START

    b = board
    soon = (await ask(b, "s1", "a1", deadline=day(2)))["request"]["id"]
    later = (await ask(b, "s1", "m1", deadline=day(20)))["request"]["id"]
    late = await accepted(b, "s2", "a1", deadline=day(5))
    await b.ok("a1", WRITE, {"i": {"id": late, "text": SECRET}}, "referenceWrite")
    declined = (await ask(b, "s2", "m1", deadline=day(1)))["request"]["id"]
    await b.ok("m1", RESPOND, {"i": {"id": declined, "accept": False}}, "referenceRequestRespond")
    # The accepted one's deadline passes without sending (as if days went by).
    async with b.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(ReferenceRequest)
            .where(ReferenceRequest.text.is_not(None))
            .values(deadline=datetime.now(UTC).date() - timedelta(days=1))
        )
    runtime = b.api.app.state.runtime
    await record(runtime, references.SWEEP_JOB, {})
    await b.api.run_jobs()
    reminders = await rows(b, Notification, Notification.title.like("A reference is due on%"))
    assert reminders == 1
    assert await references.sweep(runtime) == {"expired": 0, "reminded": 0}
    states = {
        rid: (await b.gql("s1" if rid != late else "s2", NODE, {"id": rid}))["data"]["node"]
        for rid in (soon, later, late)
    }
    assert [states[r]["status"] for r in (soon, later, late)] == ["PENDING", "PENDING", "EXPIRED"]
    told = str(await b.gql("s2", NOTIFICATIONS))
    assert "A reference request expired" in told and "SECRET" not in told
    assert (await b.gql("a1", NODE, {"id": late}))["data"]["node"]["text"] is None
    expired = await b.call("a1", SEND, {"i": {"id": late}}, "referenceSend")
    assert codes(expired) == ["WRONG_STATUS"]
    mine = str(await b.gql("a1", NOTIFICATIONS))
    assert f"A reference is due on {day(2)}" in mine


async def test_the_pending_list_soonest_first_in_constant_statements(
    board: Board,  # noqa: F811
) -> None:
    b = board
    posting = await b.live(title="Data analyst")

    async def grow(n: int, start: int) -> None:
        for i in range(start, start + n):
            who, writer = ("s1", "a1") if i % 2 else ("s2", "a1")
            made = await ask(b, who, writer, deadline=day(30 - i), jobPostingId=posting["id"],
                             clientId=f"grow-{i}")  # fmt: skip
            assert made["userErrors"] == [], made

    await grow(2, 0)
    query = f"""{{ pendingReferences(first: 50) {{ totalCount edges {{ node {{ {FIELDS} }} }} }}
      referenceRequests(side: ASKED_OF_ME, first: 50) {{ totalCount
        edges {{ node {{ {FIELDS} }} }} }} }}"""
    few, small = await b.api.sql_count(query, token=b.tokens["a1"])
    async with b.api.app.state.runtime.transaction() as uow:  # room for more to one writer
        await uow.session.execute(update(ReferenceRequest).values(status="accepted"))
    monkey = references.OPEN_PER_WRITER_MAX
    references.OPEN_PER_WRITER_MAX = 100
    try:
        await grow(4, 2)
    finally:
        references.OPEN_PER_WRITER_MAX = monkey
    many, large = await b.api.sql_count(query, token=b.tokens["a1"])
    assert "errors" not in large, large
    assert large["data"]["pendingReferences"]["totalCount"] == 6
    assert small["data"]["pendingReferences"]["totalCount"] == 2
    assert many == few, f"{few} statements for 2 requests, {many} for 6"
    # Soonest deadline first, page by page; declined or sent ones leave it.
    deadlines, after = [], None
    while True:
        page = (await b.gql("a1", PENDING, {"after": after}))["data"]["pendingReferences"]
        deadlines += [e["node"]["deadline"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["edges"][-1]["cursor"]
    assert deadlines == sorted(deadlines) and len(deadlines) == 6
    first = (await b.gql("a1", PENDING, {}))["data"]["pendingReferences"]["edges"][0]["node"]
    if first["status"] == "PENDING":
        yes = {"i": {"id": first["id"], "accept": True}}
        await b.ok("a1", RESPOND, yes, "referenceRequestRespond")
    await b.ok("a1", WRITE, {"i": {"id": first["id"], "text": "Good."}}, "referenceWrite")
    await b.ok("a1", SEND, {"i": {"id": first["id"]}}, "referenceSend")
    left = (await b.gql("a1", PENDING, {}))["data"]["pendingReferences"]
    assert left["totalCount"] == 5
    # Nobody else's: the requesters see none pending, and nobody's list names them.
    assert (await b.gql("s1", PENDING, {}))["data"]["pendingReferences"]["totalCount"] == 0
    assert (await b.gql("admin", PENDING, {}))["data"]["pendingReferences"]["totalCount"] == 0
    anonymous = await b.api.gql(query)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_sending_twice_at_once_sends_once(board: Board) -> None:  # noqa: F811
    b = board
    rid = await accepted(b)
    await b.ok("a1", WRITE, {"i": {"id": rid, "text": SECRET}}, "referenceWrite")
    both = await asyncio.gather(
        *(b.call("a1", SEND, {"i": {"id": rid}}, "referenceSend") for _ in range(2))
    )
    assert all(codes(p) in ([], ["CONFLICT"]) for p in both), both
    await b.api.run_jobs()
    assert len(b.api.mailbox.to("admissions@university.example")) == 1
    assert await rows(b, OutboundEmail, OutboundEmail.template == "reference") == 1


async def test_a_person_who_leaves_takes_their_requests_along(board: Board) -> None:  # noqa: F811
    b = board
    mine = await accepted(b, "s1", "a1")
    await b.ok("a1", WRITE, {"i": {"id": mine, "text": SECRET}}, "referenceWrite")
    other = await accepted(b, "s2", "a1", purpose="A job at Kente Systems.")
    await b.ok("a1", WRITE, {"i": {"id": other, "text": SECRET}}, "referenceWrite")
    runtime = b.api.app.state.runtime
    async with runtime.transaction() as uow:
        s1 = await uow.session.execute(select(User.id).where(User.email == "s1@example.org"))
        await references.release_person(uow, int(s1.scalar_one()))
    assert (await b.gql("a1", NODE, {"id": mine}))["data"]["node"] is None
    assert "MSc application" not in str(await b.gql("a1", NOTIFICATIONS))
    async with runtime.transaction() as uow:
        a1 = await uow.session.execute(select(User.id).where(User.email == "a1@example.org"))
        await references.release_person(uow, int(a1.scalar_one()))
    left = (await b.gql("s2", NODE, {"id": other}))["data"]["node"]
    assert left["status"] == "CANCELLED" and left["text"] is None
    assert await rows(b, ReferenceRequest, ReferenceRequest.text.is_not(None)) == 0


async def test_the_demo_has_requests_in_every_state(board: Board) -> None:  # noqa: F811
    b = board
    async with b.api.app.state.runtime.transaction() as uow:
        added = await references.seed_demo(uow, "example.org", count=30)
    assert added == 30
    async with b.api.app.state.runtime.transaction() as uow:
        assert await references.seed_demo(uow, "example.org") == 0
        found = await uow.session.execute(select(ReferenceRequest.status).distinct())
        assert set(found.scalars()) == set(references.STATUSES)
    pending = (await b.gql("a1", PENDING, {}))["data"]["pendingReferences"]
    assert pending["totalCount"] > 0
