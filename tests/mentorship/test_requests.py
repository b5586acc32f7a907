"""Offers, requests and mentorships: who may offer and ask, capacity that two acceptances
at once cannot pass, declines with reasons, expiry, ending, and bad input."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from strawberry.relay import from_base64
from tests.mentorship.conftest import ANSWER, END, OFFER, Mentoring, codes

from alumnet.persistence.models import MentorOffer, MentorshipRequest, Notification

MENTORS = """query($q: String, $f: MentorFilter) { mentors(query: $q, filter: $f, first: 20) {
  totalCount edges { node { id headline topics hasRoom profile { id } } } } }"""
MINE = """query($side: MentorshipSide) { viewer {
  mentorshipRequests(side: $side, first: 20) { edges { node { status goals mentee { id } } } }
  mentorships(side: $side, first: 20) { edges { node { status } } } } }"""


async def count(p: Mentoring, model: Any) -> int:
    async with p.api.app.state.runtime.transaction() as uow:
        return int((await uow.session.execute(select(func.count()).select_from(model))).scalar())


async def test_offers_are_checked_and_found(mentoring: Mentoring) -> None:
    p = mentoring
    bad = [
        ({"capacity": 0}, "OUT_OF_RANGE", "capacity"),
        ({"timeZone": "Nowhere/Land"}, "INVALID_TIME_ZONE", "timeZone"),
        ({"timeZone": "America"}, "INVALID_TIME_ZONE", "timeZone"),  # a folder of zones
        ({"topics": ["Underwater basket weaving"]}, "UNKNOWN_SKILL", "topics"),
        ({"languages": ["english"]}, "INVALID", "languages"),
        ({"availability": [{"weekday": 7, "start": "10:00", "end": "11:00"}]}, "INVALID",
         "availability"),
        ({"availability": [{"weekday": 1, "start": "11:00", "end": "10:00"}]}, "INVALID",
         "availability"),
        ({"industries": [f"i{n}" for n in range(11)]}, "TOO_MANY", "industries"),
    ]  # fmt: skip
    base = {"timeZone": "Africa/Accra", "capacity": 2, "preferredMentee": "BOTH"}
    for given, code, field in bad:
        payload = await p.call("a1", OFFER, {"i": {**base, **given}}, "mentorOfferSet")
        assert code in codes(payload), (given, payload)
        assert any(field in (e["field"] or []) for e in payload["userErrors"]), payload
    assert await count(p, MentorOffer) == 0
    first = await p.call("a1", OFFER, {"i": {"headline": "Hi"}}, "mentorOfferSet")
    assert codes(first) == ["REQUIRED", "REQUIRED", "REQUIRED"]
    denied = await p.gql("s1", OFFER, {"i": base})  # students do not mentor
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    offer = await p.offer("a1")
    assert offer["topics"] == ["Python", "SQL"] and offer["hasRoom"] is True
    assert offer["activeMentees"] == 0
    await p.offer("a2", headline="Product and design", topics=["Data analysis"],
                  offers=["MOCK_INTERVIEWS"], industries=["Design"], languages=["sw"])  # fmt: skip
    await p.offer("m1", headline="Paused mentor", paused=True)

    async def found(who: str, **variables: Any) -> list[str]:
        body = await p.gql(who, MENTORS, variables)
        assert "errors" not in body, body
        return [e["node"]["headline"] for e in body["data"]["mentors"]["edges"]]

    assert sorted(await found("s1")) == ["Backend careers", "Product and design"]
    assert await found("s1", q="product") == ["Product and design"]
    assert await found("s1", f={"topics": ["python"]}) == ["Backend careers"]
    assert await found("s1", f={"offers": ["MOCK_INTERVIEWS"]}) == ["Product and design"]
    assert await found("s1", f={"industry": "fintech"}) == ["Backend careers"]
    assert await found("s1", f={"language": "SW"}) == ["Product and design"]
    assert await found("s1", q="%_") == []
    others = await p.gql("s1", "query($id: ID!) { node(id: $id) { id } }", {"id": p.ids["m1"]})
    assert others["data"]["node"] is None  # a paused offer is not shown
    anonymous = await p.api.gql(MENTORS, {})
    assert anonymous["data"]["mentors"]["totalCount"] == 0


async def test_asking_answering_and_capacity(mentoring: Mentoring) -> None:
    p = mentoring
    offer = await p.offer("a1", capacity=1, preferredMentee="STUDENTS")
    assert codes(await p.ask("a1", offer["id"])) == ["SELF"]
    assert codes(await p.ask("a2", offer["id"])) == ["NOT_FOR_YOU"]  # an alumnus
    assert codes(await p.ask("s1", offer["id"], goals=" ")) == ["REQUIRED"]
    assert codes(await p.ask("s1", p.ids["a3"])) == ["NOT_FOUND"]  # no offer
    denied = await p.ask("manager", offer["id"])
    assert codes(denied) == ["NOT_ALLOWED"]
    first = await p.ask("s1", offer["id"])
    assert first["request"]["status"] == "PENDING"
    assert codes(await p.ask("s1", offer["id"])) == ["DUPLICATE"]
    second = await p.ask("s2", offer["id"])
    third = await p.ask("s3", offer["id"])
    # Only the mentor answers; a decline needs a reason.
    stranger = await p.call("a2", ANSWER, {"i": {"id": first["request"]["id"], "accept": True}},
                            "mentorshipRequestAnswer")  # fmt: skip
    assert codes(stranger) == ["NOT_FOUND"]
    no_reason = await p.call("a1", ANSWER, {"i": {"id": third["request"]["id"],
                             "accept": False}}, "mentorshipRequestAnswer")  # fmt: skip
    assert codes(no_reason) == ["REQUIRED"]
    # Two acceptances at once for one place: one mentorship, the other FULL.
    answers = await asyncio.gather(*(
        p.call("a1", ANSWER, {"i": {"id": r["request"]["id"], "accept": True}},
               "mentorshipRequestAnswer")
        for r in (first, second)
    ))  # fmt: skip
    assert sorted(c for a in answers for c in codes(a)) == ["FULL"]
    accepted = next(a for a in answers if not a["userErrors"])
    assert accepted["mentorship"]["status"] == "ACTIVE"
    mine = await p.gql("a1", "query { viewer { mentorOffer { activeMentees hasRoom } } }")
    assert mine["data"]["viewer"]["mentorOffer"] == {"activeMentees": 1, "hasRoom": False}
    full = await p.ask("a3", offer["id"])
    assert codes(full) == ["FULL"]
    no = {"id": third["request"]["id"], "accept": False, "reason": "I am full this term."}
    declined = await p.ok("a1", ANSWER, {"i": no}, "mentorshipRequestAnswer")
    assert declined["request"] == {"id": third["request"]["id"], "status": "DECLINED",
                                   "reason": "I am full this term."}  # fmt: skip
    again = await p.call("a1", ANSWER, {"i": {"id": third["request"]["id"], "accept": True}},
                         "mentorshipRequestAnswer")  # fmt: skip
    assert codes(again) == ["NOT_PENDING"]
    # Each side sees their own.
    asked = await p.gql("s1", MINE, {"side": "AS_MENTEE"})
    assert "errors" not in asked, asked
    own = asked["data"]["viewer"]["mentorshipRequests"]["edges"]
    assert len(own) == 1
    incoming = await p.gql("a1", MINE, {"side": "AS_MENTOR"})
    assert len(incoming["data"]["viewer"]["mentorshipRequests"]["edges"]) == 3
    peek = await p.gql("s2", "query($id: ID!) { node(id: $id) { id } }",
                       {"id": first["request"]["id"]})  # fmt: skip
    assert peek["data"]["node"] is None
    # Ending: early needs a reason; the mentor has room again.
    mentorship = accepted["mentorship"]["id"]
    mentee = "s1" if accepted is answers[0] else "s2"
    early = await p.call(mentee, END, {"i": {"id": mentorship, "completed": False}},
                         "mentorshipEnd")  # fmt: skip
    assert codes(early) == ["REQUIRED"]
    outsider = await p.call("s3", END, {"i": {"id": mentorship, "completed": True}},
                            "mentorshipEnd")  # fmt: skip
    assert codes(outsider) == ["NOT_FOUND"]
    done = await p.ok("a1", END, {"i": {"id": mentorship, "completed": True}}, "mentorshipEnd")
    assert done["mentorship"]["status"] == "COMPLETED" and done["mentorship"]["endedByMentor"]
    room = await p.gql("a1", "query { viewer { mentorOffer { activeMentees hasRoom } } }")
    assert room["data"]["viewer"]["mentorOffer"] == {"activeMentees": 0, "hasRoom": True}
    twice = await p.call("a1", END, {"i": {"id": mentorship, "completed": True}},
                         "mentorshipEnd")  # fmt: skip
    assert codes(twice) == ["NOT_ACTIVE"]


async def test_unanswered_requests_expire_and_their_mentees_are_told(
    mentoring: Mentoring,
) -> None:
    p = mentoring
    offer = await p.offer("a1")
    request = (await p.ask("s1", offer["id"]))["request"]
    pk = int(from_base64(request["id"])[1])
    async with p.api.app.state.runtime.transaction() as uow:
        await uow.session.execute(
            update(MentorshipRequest).where(MentorshipRequest.id == pk).values(
                expires_at=datetime.now(UTC) - timedelta(minutes=1)
            )
        )  # fmt: skip
    late = await p.call("a1", ANSWER, {"i": {"id": request["id"], "accept": True}},
                        "mentorshipRequestAnswer")  # fmt: skip
    assert codes(late) == ["NOT_PENDING"]
    from alumnet.domain.mentorship.requests import expire

    assert await expire(p.api.app.state.runtime) == {"expired": 1}
    assert await expire(p.api.app.state.runtime) == {"expired": 0}
    async with p.api.app.state.runtime.transaction() as uow:
        told = (
            await uow.session.execute(
                select(func.count()).where(Notification.title == "A mentorship request expired")
            )
        ).scalar()
    assert told == 1
    # Expired, it no longer blocks asking again.
    assert codes(await p.ask("s1", offer["id"])) == []
    from alumnet.workers.schedule import SCHEDULE

    assert any(name == "mentorship.expire_requests" for name, _, _ in SCHEDULE)


async def test_paused_mentors_and_people_who_leave(mentoring: Mentoring) -> None:
    p = mentoring
    offer = await p.offer("a1", capacity=2)
    await p.offer("a2", paused=True)
    assert codes(await p.ask("s1", p.ids["a2"])) == ["NOT_FOUND"]  # a paused offer is hidden
    first = (await p.ask("s1", offer["id"]))["request"]["id"]
    await p.ok("a1", ANSWER, {"i": {"id": first, "accept": True}}, "mentorshipRequestAnswer")
    pending = (await p.ask("s2", offer["id"]))["request"]["id"]
    deleted = """mutation($u: ID!) { userDelete(input: {userId: $u, reason: "Asked to."}) {
      userErrors { code } } }"""
    await p.ok("admin", deleted, {"u": p.ids["s1"]}, "userDelete")
    room = await p.gql("a1", "query { viewer { mentorOffer { activeMentees } } }")
    assert room["data"]["viewer"]["mentorOffer"] == {"activeMentees": 0}
    await p.ok("admin", deleted, {"u": p.ids["a1"]}, "userDelete")
    asked = await p.gql("s2", "query($id: ID!) { node(id: $id) { ... on MentorshipRequest {"
                        " status } } }", {"id": pending})  # fmt: skip
    assert asked["data"]["node"] == {"status": "WITHDRAWN"}
    assert await count(p, MentorOffer) == 1  # a1's offer went; a2's stays
