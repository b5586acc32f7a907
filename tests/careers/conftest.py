"""A careers board: a moderator, alumni who post and refer, students who look for work."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.cohorts.conftest import Programme
from tests.conftest import Api
from tests.engagement.conftest import call, ok

PROFILE = """mutation($i: ProfileUpdateInput!) { profileUpdate(input: $i) {
  userErrors { field code message } } }"""
CREATE = """mutation($i: JobPostingCreateInput!) { jobPostingCreate(input: $i) {
  jobPosting { id title status company { id name } skills salaryFrom salaryTo currency
    descriptionHtml closesOn audience }
  userErrors { field code message } } }"""
MODERATE = """mutation($i: JobPostingModerateInput!) { jobPostingModerate(input: $i) {
  jobPosting { id status moderationNote } userErrors { field code message } } }"""
APPLY = """mutation($i: JobApplicationCreateInput!) { jobApplicationCreate(input: $i) {
  application { id status cvLink cvDownloadUrl referral { id note referrerName } }
  userErrors { field code message } } }"""
MOVE = """mutation($i: JobApplicationMoveInput!) { jobApplicationMove(input: $i) {
  application { id status history { fromStatus toStatus note byApplicant } }
  userErrors { field code message } } }"""
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


class Board(Programme):
    """The people of the board (no cohorts), with the engagement tests' call helpers."""

    async def call(self, who: str, query: str, variables: dict[str, Any], key: str) -> Any:
        return await call(self, who, query, variables, key)

    async def ok(self, who: str, query: str, variables: dict[str, Any], key: str) -> Any:
        return await ok(self, who, query, variables, key)

    async def post(self, who: str, **given: Any) -> Any:
        fields = {"title": "Backend engineer", "company": "Kente Systems",
                  "description": "Build **APIs**.", "kind": "FULL_TIME", "remote": "HYBRID",
                  "audience": "BOTH", **given}  # fmt: skip
        return (await self.ok(who, CREATE, {"i": fields}, "jobPostingCreate"))["jobPosting"]

    async def live(self, **given: Any) -> Any:
        """A posting by the staff poster: live at once."""
        return await self.post("manager", **given)

    async def apply(self, who: str, posting: str, cv: tuple[str, bytes] | None = None,
                    **given: Any) -> Any:  # fmt: skip
        variables = {"i": {"jobPostingId": posting, "cv": None, **given}}
        if cv is None:
            return await self.gql(who, APPLY, variables)
        response = await self.api.client.post(
            "/graphql",
            data={"operations": json.dumps({"query": APPLY, "variables": variables}),
                  "map": json.dumps({"0": ["variables.i.cv"]})},
            files={"0": (cv[0], cv[1], "application/octet-stream")},
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
        )  # fmt: skip
        return response.json()


def errors(body: Any, key: str) -> list[str]:
    assert "errors" not in body, body
    return [e["code"] for e in body["data"][key]["userErrors"]]


@pytest.fixture
async def board(api: Api) -> Board:
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    for who, role in [
        ("admin", "ADMIN"), ("manager", "MANAGER"), ("a1", "ALUMNUS"), ("a2", "ALUMNUS"),
        ("s1", "STUDENT"), ("s2", "STUDENT"), ("m1", "MENTOR"),
    ]:  # fmt: skip
        ids[who], tokens[who] = await api.create_user(
            f"{who}@example.org", [role], name=f"{who.upper()} Person"
        )
    b = Board(api=api, tokens=tokens, ids=ids)
    # The skills vocabulary comes from profiles.
    for who, fields in [
        ("s1", {"country": "GH", "city": "Accra",
                "skills": [{"name": "Python"}, {"name": "SQL"}, {"name": "Data analysis"}]}),
        ("a1", {"company": "Kente Systems", "skills": [{"name": "Go"}, {"name": "Kubernetes"}]}),
        ("a2", {"company": "kente systems ", "privacy": {"work": "ONLY_ME"}}),
    ]:  # fmt: skip
        await b.ok(who, PROFILE, {"i": fields}, "profileUpdate")
    return b
