"""Shared by the admissions tests: counsellors and people of other roles, two programmes of
study (one open, one closed), and helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from strawberry.relay import from_base64, to_base64

from alumnet.persistence.models import Programme
from alumnet.persistence.uow import Origin
from tests.conftest import Api

PEOPLE = [
    ("admin", "ADMIN"),
    ("manager", "MANAGER"),
    ("counsellor", "ADMISSIONS"),
    ("counsellor2", "ADMISSIONS"),
    ("faculty", "FACULTY"),
    ("sre", "SRE"),
    ("student", "STUDENT"),
    ("alumnus", "ALUMNUS"),
]


@dataclass
class Admissions:
    api: Api
    tokens: dict[str, str]
    ids: dict[str, str]
    pks: dict[str, int] = field(default_factory=dict)

    async def gql(
        self, who: str | None, query: str, variables: dict[str, Any] | None = None
    ) -> Any:
        """As ``who`` (None: signed out)."""
        token = self.tokens.get(who) if who is not None else None
        return await self.api.gql(query, variables, token=token)

    async def ok(self, who: str | None, query: str, variables: dict[str, Any], key: str) -> Any:
        """A mutation's payload as ``who``; no GraphQL error and no userError."""
        body = await self.gql(who, query, variables)
        assert "errors" not in body, body
        payload = body["data"][key]
        assert payload["userErrors"] == [], payload
        return payload

    @property
    def runtime(self) -> Any:
        return self.api.app.state.runtime


def gid(type_name: str, pk: int) -> str:
    return to_base64(type_name, pk)


def pk_of(global_id: str) -> int:
    return int(from_base64(global_id)[1])


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


@pytest.fixture
async def admissions(api: Api) -> Admissions:
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    for who, role in PEOPLE:
        ids[who], tokens[who] = await api.create_user(
            f"{who}@example.org", [role], name=f"{who.title()} Person"
        )
    a = Admissions(api=api, tokens=tokens, ids=ids)
    for who in ids:
        a.pks[who] = pk_of(ids[who])
    async with a.runtime.transaction(origin=Origin(via="cli")) as uow:
        for key, code, name, last in (
            ("programme", "BSCS", "BSc Computer Science", None),
            ("closed", "DIPW", "Diploma in Web Design", 2020),
        ):
            programme = Programme(
                code=code, name=name, first_graduation_year=2010, last_graduation_year=last
            )
            uow.session.add(programme)
            await uow.session.flush()
            a.pks[key] = int(programme.id)
    return a
