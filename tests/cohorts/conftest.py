"""A small programme, built through the API: two batches, three missions, two mentors,
three students, plus one user of every staff role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import Api

BATCH = """mutation($i: BatchCreateInput!) {
  batchCreate(input: $i) { batch { id code } userErrors { field code message } }
}"""
MISSION = """mutation($i: MissionCreateInput!) {
  missionCreate(input: $i) { mission { id code } userErrors { field code message } }
}"""
ENROLL = """mutation($m: ID!, $s: ID!) {
  enrollmentCreate(input: {missionId: $m, studentId: $s}) {
    enrollment { id } created userErrors { field code message }
  }
}"""
ASSIGN = """mutation($m: ID!, $s: ID!, $t: ID!) {
  mentorAssign(input: {missionId: $m, studentId: $s, mentorId: $t}) {
    assignment { id } created userErrors { field code message }
  }
}"""


@dataclass
class Programme:
    api: Api
    tokens: dict[str, str]
    ids: dict[str, str]

    async def gql(self, who: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        return await self.api.gql(query, variables, token=self.tokens.get(who))


async def ok(api: Api, token: str, query: str, variables: dict[str, Any], key: str) -> Any:
    body = await api.gql(query, variables, token=token)
    assert "errors" not in body, body
    payload = body["data"][key]
    assert payload["userErrors"] == [], payload
    return payload


@pytest.fixture
async def programme(api: Api) -> Programme:
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    for who, role in [
        ("admin", "ADMIN"),
        ("manager", "MANAGER"),
        ("sre", "SRE"),
        ("m1", "MENTOR"),
        ("m2", "MENTOR"),
        ("s1", "STUDENT"),
        ("s2", "STUDENT"),
        ("s3", "STUDENT"),
        ("alumnus", "ALUMNUS"),
    ]:
        ids[who], tokens[who] = await api.create_user(
            f"{who}@example.org", [role], name=f"{who.upper()} Person"
        )
    admin = tokens["admin"]
    for key, code, start, end in [
        ("b1", "B1", "2026-01-01", "2026-12-31"),
        ("b2", "B2", "2027-01-01", "2027-12-31"),
    ]:
        payload = await ok(
            api,
            admin,
            BATCH,
            {"i": {"name": f"Batch {code}", "code": code, "startsOn": start, "endsOn": end}},
            "batchCreate",
        )
        ids[key] = payload["batch"]["id"]
    for key, batch, code in [("ma", "b1", "B1-A"), ("mb", "b1", "B1-B"), ("mc", "b2", "B2-C")]:
        payload = await ok(
            api,
            admin,
            MISSION,
            {"i": {"batchId": ids[batch], "title": code, "code": code, "status": "ACTIVE"}},
            "missionCreate",
        )
        ids[key] = payload["mission"]["id"]
    for student, mission in [("s1", "ma"), ("s1", "mb"), ("s2", "ma"), ("s3", "mc")]:
        payload = await ok(
            api, admin, ENROLL, {"m": ids[mission], "s": ids[student]}, "enrollmentCreate"
        )
        ids[f"e_{student}_{mission}"] = payload["enrollment"]["id"]
    for mentor, student, mission in [("m1", "s1", "ma"), ("m2", "s1", "mb"), ("m2", "s2", "ma")]:
        payload = await ok(
            api,
            admin,
            ASSIGN,
            {"m": ids[mission], "s": ids[student], "t": ids[mentor]},
            "mentorAssign",
        )
        ids[f"a_{mentor}_{student}_{mission}"] = payload["assignment"]["id"]
    return Programme(api=api, tokens=tokens, ids=ids)
