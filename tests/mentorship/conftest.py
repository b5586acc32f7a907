"""Mentorship: alumni who mentor, students and alumni who ask, staff who tune it."""

from __future__ import annotations

from typing import Any

import pytest
from tests.cohorts.conftest import Programme, programme  # noqa: F401  (the fixture)
from tests.conftest import Api
from tests.engagement.conftest import call, ok

OFFER = """mutation($i: MentorOfferSetInput!) { mentorOfferSet(input: $i) {
  offer { id headline topics offers industries languages timeZone capacity hasRoom paused
    activeMentees preferredMentee availability { weekday start end } }
  userErrors { field code message } } }"""
ASK = """mutation($i: MentorshipRequestCreateInput!) { mentorshipRequestCreate(input: $i) {
  request { id status goals expiresAt } userErrors { field code message } } }"""
ANSWER = """mutation($i: MentorshipRequestAnswerInput!) { mentorshipRequestAnswer(input: $i) {
  request { id status reason } mentorship { id status } userErrors { field code message } } }"""
END = """mutation($i: MentorshipEndInput!) { mentorshipEnd(input: $i) {
  mentorship { id status endReason endedByMentor } userErrors { field code message } } }"""
SKILLS = """mutation($i: ProfileUpdateInput!) { profileUpdate(input: $i) {
  userErrors { field code message } } }"""


class Mentoring(Programme):
    async def call(self, who: str, query: str, variables: dict[str, Any], key: str) -> Any:
        return await call(self, who, query, variables, key)

    async def ok(self, who: str, query: str, variables: dict[str, Any], key: str) -> Any:
        return await ok(self, who, query, variables, key)

    async def offer(self, who: str, **given: Any) -> Any:
        fields = {"headline": "Backend careers", "topics": ["Python", "SQL"],
                  "offers": ["CAREER_ADVICE", "CV_REVIEW"], "industries": ["Fintech"],
                  "languages": ["en"], "timeZone": "Africa/Accra", "capacity": 2,
                  "preferredMentee": "BOTH",
                  "availability": [{"weekday": 1, "start": "18:00", "end": "20:00"}],
                  **given}  # fmt: skip
        return (await self.ok(who, OFFER, {"i": fields}, "mentorOfferSet"))["offer"]

    async def ask(self, who: str, mentor: str, **given: Any) -> Any:
        fields = {"mentorId": mentor, "goals": "Get a backend job in Python.", **given}
        return await self.call(who, ASK, {"i": fields}, "mentorshipRequestCreate")


def codes(payload: Any) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


@pytest.fixture
async def mentoring(api: Api) -> Mentoring:
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    for who, role in [
        ("admin", "ADMIN"), ("manager", "MANAGER"), ("a1", "ALUMNUS"), ("a2", "ALUMNUS"),
        ("a3", "ALUMNUS"), ("s1", "STUDENT"), ("s2", "STUDENT"), ("s3", "STUDENT"),
        ("m1", "MENTOR"),
    ]:  # fmt: skip
        ids[who], tokens[who] = await api.create_user(
            f"{who}@example.org", [role], name=f"{who.upper()} Person"
        )
    m = Mentoring(api=api, tokens=tokens, ids=ids)
    # The skills vocabulary comes from profiles; s1 wants Python work in Accra.
    for who, fields in [
        ("s1", {"country": "GH", "city": "Accra",
                "skills": [{"name": "Python"}, {"name": "SQL"}, {"name": "Data analysis"}]}),
        ("a1", {"country": "GH", "city": "Accra", "skills": [{"name": "Go"}]}),
        ("a2", {"country": "KE", "city": "Nairobi"}),
    ]:  # fmt: skip
        await m.ok(who, SKILLS, {"i": fields}, "profileUpdate")
    return m
