"""Shared by the giving tests: people of each role that giving concerns, a fund and an active
campaign (made in the database, as giving staff would through the API), and helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from strawberry.relay import from_base64, to_base64

from alumnet.persistence.models import Campaign, CampaignFund, Fund
from alumnet.persistence.uow import Origin
from tests.conftest import Api

PEOPLE = [
    ("admin", "ADMIN"),
    ("advancement", "ADVANCEMENT"),
    ("manager", "MANAGER"),
    ("alumnus", "ALUMNUS"),
    ("alumnus2", "ALUMNUS"),
    ("student", "STUDENT"),
]


@dataclass
class Giving:
    api: Api
    tokens: dict[str, str]
    ids: dict[str, str]
    pks: dict[str, int] = field(default_factory=dict)

    async def gql(self, who: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        return await self.api.gql(query, variables, token=self.tokens.get(who))

    async def ok(self, who: str, query: str, variables: dict[str, Any], key: str) -> Any:
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


async def add_fund(g: Giving, code: str, name: str) -> int:
    async with g.runtime.transaction(origin=Origin(via="cli")) as uow:
        fund = Fund(code=code, name=name, description="")
        uow.session.add(fund)
        await uow.session.flush()
        return int(fund.id)


async def add_campaign(
    g: Giving, name: str, funds: list[int], *, currency: str = "USD", goal_minor: int = 10_000_00,
    status: str = "active", starts_on: date = date(2026, 1, 1),
) -> int:  # fmt: skip
    async with g.runtime.transaction(origin=Origin(via="cli")) as uow:
        campaign = Campaign(
            name=name, description="", currency=currency, goal_minor=goal_minor,
            starts_on=starts_on, ends_on=None, status=status,
        )  # fmt: skip
        uow.session.add(campaign)
        await uow.session.flush()
        for position, fund_id in enumerate(funds):
            uow.session.add(CampaignFund(campaign_id=campaign.id, fund_id=fund_id,
                                         position=position))  # fmt: skip
        return int(campaign.id)


@pytest.fixture
async def giving(api: Api) -> Giving:
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    for who, role in PEOPLE:
        ids[who], tokens[who] = await api.create_user(
            f"{who}@example.org", [role], name=f"{who.title()} Person"
        )
    g = Giving(api=api, tokens=tokens, ids=ids)
    for who in ids:
        g.pks[who] = pk_of(ids[who])
    g.pks["fund"] = await add_fund(g, "SCHOL", "Scholarships")
    g.pks["fund2"] = await add_fund(g, "BUILD", "New library")
    g.pks["campaign"] = await add_campaign(g, "Library appeal", [g.pks["fund"], g.pks["fund2"]])
    return g
