"""missionRosterChanged, against a real server process (Redis pub/sub or in-process)."""

from __future__ import annotations

import asyncio
import json

from tests.cohorts.conftest import ASSIGN, ENROLL, Programme
from tests.conftest import post_to, subscribe, token_at

SUBSCRIBE = """subscription($id: ID!) { missionRosterChanged(missionId: $id) {
  missionId kind studentIds } }"""


async def test_dashboards_hear_roster_changes(programme: Programme, server: str) -> None:
    ids = programme.ids
    tokens = {who: await token_at(server, f"{who}@example.org") for who in ("admin", "sre", "m1")}
    staff = await subscribe(server, tokens["sre"], SUBSCRIBE, {"id": ids["ma"]})
    mentor = await subscribe(server, tokens["m1"], SUBSCRIBE, {"id": ids["ma"]})

    enrolled = await post_to(server, ENROLL, {"m": ids["ma"], "s": ids["s3"]}, tokens["admin"])
    assert enrolled["data"]["enrollmentCreate"]["created"] is True
    event = json.loads(await asyncio.wait_for(staff.recv(), 10))
    assert event["payload"]["data"]["missionRosterChanged"] == {
        "missionId": ids["ma"],
        "kind": "ENROLLED",
        "studentIds": [ids["s3"]],
    }

    # Not the mentor's mentee: the mentor hears nothing of it ...
    await post_to(server, ASSIGN, {"m": ids["ma"], "s": ids["s3"], "t": ids["m2"]}, tokens["admin"])
    staff_event = json.loads(await asyncio.wait_for(staff.recv(), 10))
    assert staff_event["payload"]["data"]["missionRosterChanged"]["kind"] == "MENTOR_ASSIGNED"
    # ... until the student becomes theirs.
    await post_to(server, ASSIGN, {"m": ids["ma"], "s": ids["s3"], "t": ids["m1"]}, tokens["admin"])
    mentor_event = json.loads(await asyncio.wait_for(mentor.recv(), 10))
    assert mentor_event["payload"]["data"]["missionRosterChanged"] == {
        "missionId": ids["ma"],
        "kind": "MENTOR_ASSIGNED",
        "studentIds": [ids["s3"]],
    }
    await asyncio.wait_for(staff.recv(), 10)  # staff heard that assignment too
    # A mentor of the whole mission concerns everyone watching it.
    whole = """mutation($m: ID!, $t: ID!) { missionMentorAdd(input: {missionId: $m,
      mentorId: $t}) { changed } }"""
    await post_to(server, whole, {"m": ids["ma"], "t": ids["m2"]}, tokens["admin"])
    for ws in (staff, mentor):
        heard = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert heard["payload"]["data"]["missionRosterChanged"] == {
            "missionId": ids["ma"], "kind": "MENTOR_ASSIGNED", "studentIds": []}  # fmt: skip
    await staff.close()
    await mentor.close()


async def test_outsiders_cannot_watch_a_mission(programme: Programme, server: str) -> None:
    token = await token_at(server, "alumnus@example.org")
    ws = await subscribe(server, token, SUBSCRIBE, {"id": programme.ids["ma"]})
    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert message["type"] == "complete"
    await ws.close()


async def test_a_suspended_subscriber_hears_nothing_more(programme: Programme, server: str) -> None:
    ids = programme.ids
    tokens = {who: await token_at(server, f"{who}@example.org") for who in ("admin", "sre")}
    staff = await subscribe(server, tokens["sre"], SUBSCRIBE, {"id": ids["ma"]})
    suspended = await post_to(
        server,
        "mutation($id: ID!) { userSuspend(input: {id: $id}) { userErrors { code } } }",
        {"id": ids["sre"]},
        tokens["admin"],
    )
    assert suspended["data"]["userSuspend"]["userErrors"] == []
    await post_to(server, ENROLL, {"m": ids["ma"], "s": ids["s3"]}, tokens["admin"])
    message = json.loads(await asyncio.wait_for(staff.recv(), 10))
    assert message["type"] == "complete"
    await staff.close()
