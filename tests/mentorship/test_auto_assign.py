"""Bulk matching of a mission: a dry run proposes, a run assigns, a second run finds
nobody left; capacity is kept and affinity wins where capacity allows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select
from strawberry.relay import from_base64, to_base64
from tests.events.conftest import crowd
from tests.mentorship.conftest import Programme

from alumnet.domain.identity.jwt_tokens import read_access_token
from alumnet.persistence.models import Enrollment, MentorAssignment, Skill, UserSkill

AUTO = """mutation($i: MissionMentorsAutoAssignInput!) { missionMentorsAutoAssign(input: $i) {
  job { id } userErrors { field code } } }"""
JOB = """query($id: ID!) { node(id: $id) { ... on Job { status result } } }"""


def pk(gid: str) -> int:
    return int(from_base64(gid)[1])


async def test_a_mission_is_matched_within_capacity(programme: Programme) -> None:
    p = programme
    api = p.api
    mission = pk(p.ids["mc"])  # s3 is enrolled, with no mentor
    students = await crowd(api, 20, "STUDENT", "st")
    mentors = await crowd(api, 3, "MENTOR", "mt")
    settings = api.settings
    student_ids = [read_access_token(settings, t).user_id for t in students]
    mentor_ids = [read_access_token(settings, t).user_id for t in mentors]
    now = datetime.now(UTC)
    async with api.app.state.runtime.transaction() as uow:
        await uow.session.execute(insert(Enrollment), [
            {"mission_id": mission, "student_id": s, "status": "active", "created_at": now,
             "updated_at": now} for s in student_ids
        ])  # fmt: skip
        skill = (
            await uow.session.execute(
                insert(Skill).values(name="Python", name_key="python").returning(Skill.id)
            )
        ).scalar_one()
        # The first six students and the first mentor share Python.
        await uow.session.execute(insert(UserSkill), [
            {"user_id": u, "skill_id": skill} for u in [*student_ids[:6], mentor_ids[0]]
        ])  # fmt: skip
    chosen = [to_base64("User", m) for m in mentor_ids]

    async def matched(dry_run: bool, who: str = "manager", **more: Any) -> Any:
        body = await p.gql(who, AUTO, {"i": {"missionId": p.ids["mc"], "dryRun": dry_run,
                                              "mentorIds": chosen, **more}})  # fmt: skip
        assert "errors" not in body, body
        payload = body["data"]["missionMentorsAutoAssign"]
        assert payload["userErrors"] == [], payload
        await api.run_jobs()
        job = await p.gql("manager", JOB, {"id": payload["job"]["id"]})
        node = job["data"]["node"]
        assert node["status"] == "SUCCEEDED", node
        return node["result"]

    async def assigned() -> list[tuple[int, int]]:
        async with api.app.state.runtime.transaction() as uow:
            rows = await uow.session.execute(
                select(MentorAssignment.student_id, MentorAssignment.mentor_id).where(
                    MentorAssignment.mission_id == mission
                )
            )
            return [(int(s), int(m)) for s, m in rows.all()]

    proposal = await matched(True, maxPerMentor=7)
    assert proposal["students"] == 21 and proposal["assigned"] == 21
    assert proposal["perMentor"]["max"] <= 7 and proposal["dryRun"] is True
    python_mentor = {p["studentId"]: p["mentorId"] for p in proposal["proposal"]}
    assert all(python_mentor[to_base64("User", s)] == chosen[0] for s in student_ids[:6])
    assert proposal["scores"]["max"] == 1.0  # one shared skill of three, weight 3
    assert await assigned() == []  # a dry run writes nothing
    done = await matched(False, maxPerMentor=7)
    assert done["written"] == 21
    pairs = await assigned()
    assert len(pairs) == 21
    counts: dict[int, int] = {}
    for _, m in pairs:
        counts[m] = counts.get(m, 0) + 1
    assert max(counts.values()) <= 7
    again = await matched(False)
    assert again["students"] == 0 and again["assigned"] == 0
    # Only those who assign mentors may match.
    denied = await p.gql("s1", AUTO, {"i": {"missionId": p.ids["mc"], "dryRun": True}})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    async with api.app.state.runtime.transaction() as uow:
        total = await uow.session.execute(select(func.count()).select_from(MentorAssignment))
        assert total.scalar() == 21 + 3  # the programme's three, and these


async def test_named_mentors_are_checked_one_by_one(programme: Programme) -> None:
    p = programme
    ghost = to_base64("User", 987654)  # a well-formed user id that names nobody
    named = [p.ids["m1"], ghost, p.ids["s1"], p.ids["mc"]]
    query = AUTO.replace("userErrors { field code }", "userErrors { field code message }")
    given = {"missionId": p.ids["mc"], "dryRun": True, "mentorIds": named}
    body = await p.gql("manager", query, {"i": given})
    payload = body["data"]["missionMentorsAutoAssign"]
    assert payload["job"] is None  # nothing queued
    assert [(e["field"], e["code"], e["message"]) for e in payload["userErrors"]] == [
        (["input", "mentorIds", "1"], "NOT_FOUND", f"No user has the id {ghost}."),
        (["input", "mentorIds", "2"], "NOT_A_MENTOR",
         f"The user {p.ids['s1']} is not an active mentor."),
        (["input", "mentorIds", "3"], "NOT_FOUND", f"No user has the id {p.ids['mc']}."),
    ]  # fmt: skip
