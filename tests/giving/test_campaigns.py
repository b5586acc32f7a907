"""Funds and campaigns: made and changed by giving staff only, bad input refused with nothing
written, drafts hidden from everyone else, progress read from the running totals (in a
constant number of statements for a page of campaigns) and live through `campaignProgress`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from alumnet.domain.giving import gifts
from alumnet.domain.giving.donors import DonorRef
from alumnet.domain.identity.permissions import Role, Viewer
from alumnet.persistence.models import AuditEvent, Campaign, CampaignFund, Fund
from tests.giving.conftest import Giving, add_campaign, add_fund, codes, gid, pk_of

FUND_CREATE = """mutation($i: FundCreateInput!) { fundCreate(input: $i) {
  fund { id code name description active } userErrors { field code message } } }"""
FUND_UPDATE = """mutation($i: FundUpdateInput!) { fundUpdate(input: $i) {
  fund { id name active } userErrors { field code message } } }"""
FUNDS = """query($all: Boolean!) { funds(first: 50, includeInactive: $all) {
  totalCount edges { node { id code active } } } }"""
CREATE = """mutation($i: CampaignCreateInput!) { campaignCreate(input: $i) {
  campaign { id name currency status goal { amount currency } startsOn endsOn coverImageUrl
    funds { id code } }
  userErrors { field code message } } }"""
UPDATE = """mutation($i: CampaignUpdateInput!) { campaignUpdate(input: $i) {
  campaign { id name currency status goal { amount currency } endsOn funds { code } }
  userErrors { field code message } } }"""
CAMPAIGNS = """query($s: [CampaignStatus!]) { campaigns(first: 50, filter: {status: $s}) {
  totalCount edges { node { id name status } } } }"""
NODE = """query($id: ID!) { node(id: $id) { id ... on Campaign { name status } } }"""
PROGRESS = """fragment P on CampaignProgress { goal { amount currency } raised { amount }
  pledged { amount } donors gifts percentOfGoal
  byFund { fund { code } raised { amount currency } pledged { amount } gifts } }"""
PAGE = (
    """query { campaigns(first: 50) { edges { node { id name goal { amount }
  funds { id code name } progress { ...P } } } } }"""
    + PROGRESS
)
LIVE = "subscription($c: ID!) { campaignProgress(campaignId: $c) { campaignId ...P } }" + PROGRESS


def staff(g: Giving) -> Viewer:
    return Viewer(user_id=g.pks["advancement"], roles=frozenset({Role.ADVANCEMENT}))


async def give(
    g: Giving, who: str, amount: str, fund: str = "fund", campaign: str = "campaign"
) -> int:
    given = gifts.GiftFields(
        amount=Decimal(amount), currency="USD", gift_date=date(2026, 3, 1),
        fund_id=g.pks[fund], campaign_id=g.pks[campaign], payment_method="card",
    )  # fmt: skip
    async with g.runtime.transaction() as uow:
        gift, _ = await gifts.record(uow, staff(g), DonorRef(user_id=g.pks[who]), given,
                                     source="staff")  # fmt: skip
        return int(gift.id)


async def counts(g: Giving) -> tuple[int, int, int, int]:
    """Campaigns, their fund rows, funds and audit events: what a refused change leaves."""
    async with g.runtime.transaction() as uow:
        s = uow.session
        return (
            int((await s.execute(select(func.count()).select_from(Campaign))).scalar_one()),
            int((await s.execute(select(func.count()).select_from(CampaignFund))).scalar_one()),
            int((await s.execute(select(func.count()).select_from(Fund))).scalar_one()),
            int((await s.execute(select(func.count()).select_from(AuditEvent))).scalar_one()),
        )


def new_campaign(g: Giving, **more: Any) -> dict[str, Any]:
    given = {
        "name": "Scholarship drive", "description": "For next year's students.",
        "currency": "usd", "goal": "50000.00", "startsOn": "2026-09-01",
        "endsOn": "2026-12-31", "fundIds": [gid("Fund", g.pks["fund"])],
        "coverImageUrl": "https://cdn.example.org/cover.jpg",
    }  # fmt: skip
    given.update(more)
    return given


def refused(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    return str(body["errors"][0]["extensions"]["code"])


async def test_funds_are_made_and_changed_by_giving_staff_only(giving: Giving) -> None:
    g = giving
    given = {"code": "annual-2026", "name": " Annual  fund "}
    made = await g.ok("advancement", FUND_CREATE, {"i": given}, "fundCreate")
    fund = made["fund"]
    assert (fund["code"], fund["name"], fund["active"]) == ("ANNUAL-2026", "Annual fund", True)
    before = await counts(g)
    for given, code in [
        ({"code": "Annual-2026", "name": "Again"}, "CODE_TAKEN"),
        ({"code": "no spaces", "name": "Bad"}, "INVALID_CODE"),
        ({"code": "OK", "name": "  "}, "REQUIRED"),
    ]:  # fmt: skip
        body = await g.gql("admin", FUND_CREATE, {"i": given})
        assert codes(body["data"]["fundCreate"]) == [code], body
    for who in ("manager", "alumnus", "student"):
        body = await g.gql(who, FUND_CREATE, {"i": {"code": "X1", "name": "X"}})
        assert refused(body) == "FORBIDDEN"
        body = await g.gql(who, FUND_UPDATE, {"i": {"id": fund["id"], "active": False}})
        assert refused(body) == "FORBIDDEN"
    assert await counts(g) == before
    # Taken out of use: gone for everyone but giving staff (who may ask for it).
    done = await g.ok("admin", FUND_UPDATE, {"i": {"id": fund["id"], "active": False}},
                      "fundUpdate")  # fmt: skip
    assert done["fund"]["active"] is False
    seen = await g.gql("alumnus", FUNDS, {"all": True})
    assert fund["id"] not in [e["node"]["id"] for e in seen["data"]["funds"]["edges"]]
    assert seen["data"]["funds"]["totalCount"] == 2
    assert (await g.gql("alumnus", NODE.replace("Campaign", "Fund").replace("status", "active"),
                        {"id": fund["id"]}))["data"]["node"] is None  # fmt: skip
    every = await g.gql("advancement", FUNDS, {"all": True})
    assert fund["id"] in [e["node"]["id"] for e in every["data"]["funds"]["edges"]]
    active = await g.gql("advancement", FUNDS, {"all": False})
    assert active["data"]["funds"]["totalCount"] == 2
    # …and a campaign cannot take it.
    body = await g.gql("admin", CREATE, {"i": new_campaign(g, fundIds=[fund["id"]])})
    assert codes(body["data"]["campaignCreate"]) == ["FUND_NOT_FOUND"]


async def test_bad_campaigns_are_refused_and_write_nothing(giving: Giving) -> None:
    g = giving
    before = await counts(g)
    bad: list[tuple[dict[str, Any], str, list[str]]] = [
        ({"currency": "ZZZ"}, "UNKNOWN_CURRENCY", ["input", "currency"]),
        ({"goal": "100.005"}, "INVALID_GOAL", ["input", "goal"]),
        ({"goal": "0"}, "INVALID_GOAL", ["input", "goal"]),
        ({"goal": "-5"}, "INVALID_GOAL", ["input", "goal"]),
        ({"currency": "JPY", "goal": "1000.5"}, "INVALID_GOAL", ["input", "goal"]),
        ({"endsOn": "2026-08-31"}, "INVALID_DATES", ["input", "endsOn"]),
        ({"fundIds": [gid("Fund", 999_999)]}, "FUND_NOT_FOUND", ["input", "fundIds", "0"]),
        ({"fundIds": [gid("Campaign", g.pks["campaign"])]}, "FUND_NOT_FOUND",
         ["input", "fundIds", "0"]),
        ({"fundIds": []}, "INVALID_FUNDS", ["input", "fundIds"]),
        ({"fundIds": [gid("Fund", g.pks["fund"])] * 2}, "INVALID_FUNDS", ["input", "fundIds"]),
        ({"fundIds": [gid("Fund", i) for i in range(1, 500)]}, "INVALID_FUNDS",
         ["input", "fundIds"]),
        ({"coverImageUrl": "http://cdn.example.org/c.jpg"}, "INVALID_URL",
         ["input", "coverImageUrl"]),
        ({"coverImageUrl": "javascript:alert(1)"}, "INVALID_URL", ["input", "coverImageUrl"]),
        ({"name": ""}, "REQUIRED", ["input", "name"]),
        ({"status": "CLOSED"}, "INVALID_STATUS", ["input", "status"]),
    ]  # fmt: skip
    for change, code, field in bad:
        body = await g.gql("advancement", CREATE, {"i": new_campaign(g, **change)})
        payload = body["data"]["campaignCreate"]
        assert payload["campaign"] is None, body
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, field)], change
    # Every problem at once.
    body = await g.gql("advancement", CREATE, {"i": new_campaign(
        g, currency="ZZZ", endsOn="2020-01-01", coverImageUrl="ftp://x")})  # fmt: skip
    assert sorted(codes(body["data"]["campaignCreate"])) == [
        "INVALID_DATES", "INVALID_URL", "UNKNOWN_CURRENCY"]  # fmt: skip
    for who in ("manager", "alumnus", "student"):
        assert refused(await g.gql(who, CREATE, {"i": new_campaign(g)})) == "FORBIDDEN"
        update = {"id": gid("Campaign", g.pks["campaign"]), "name": "Mine now"}
        assert refused(await g.gql(who, UPDATE, {"i": update})) == "FORBIDDEN"
    assert refused(await g.api.gql(CREATE, {"i": new_campaign(g)})) == "UNAUTHENTICATED"
    assert await counts(g) == before
    # Bad changes write nothing either.
    target = gid("Campaign", g.pks["campaign"])
    for change, code in [
        ({"goal": "1.001"}, "INVALID_GOAL"), ({"endsOn": "2025-12-31"}, "INVALID_DATES"),
        ({"currency": "XXX"}, "UNKNOWN_CURRENCY"), ({"coverImageUrl": "http://x.org/a"},
                                                    "INVALID_URL"),
        ({"fundIds": [gid("Fund", 999_999)]}, "FUND_NOT_FOUND"),
        ({"status": "DRAFT", "name": "x" * 201}, "TOO_LONG"),
    ]:  # fmt: skip
        body = await g.gql("advancement", UPDATE, {"i": {"id": target, **change}})
        assert code in codes(body["data"]["campaignUpdate"]), (change, body)
    body = await g.gql("admin", UPDATE, {"i": {"id": gid("Campaign", 999_999), "name": "x"}})
    assert codes(body["data"]["campaignUpdate"]) == ["NOT_FOUND"]
    assert await counts(g) == before


async def test_a_campaign_is_made_moved_and_hidden_while_a_draft(giving: Giving) -> None:
    g = giving
    two = [gid("Fund", g.pks["fund2"]), gid("Fund", g.pks["fund"])]
    made = await g.ok("advancement", CREATE, {"i": new_campaign(g, fundIds=two)}, "campaignCreate")
    campaign = made["campaign"]
    assert campaign["status"] == "DRAFT"
    assert campaign["goal"] == {"amount": "50000.00", "currency": "USD"}
    assert campaign["currency"] == "USD"
    assert [f["code"] for f in campaign["funds"]] == ["BUILD", "SCHOL"]
    cid = campaign["id"]

    async def listed(who: str) -> list[str]:
        body = await g.gql(who, CAMPAIGNS, {"s": None})
        return [e["node"]["id"] for e in body["data"]["campaigns"]["edges"]]

    for who in ("alumnus", "student", "manager"):
        assert cid not in await listed(who)
        assert (await g.gql(who, NODE, {"id": cid}))["data"]["node"] is None
        drafts = await g.gql(who, CAMPAIGNS, {"s": ["DRAFT"]})
        assert drafts["data"]["campaigns"]["totalCount"] == 0
    assert (await listed("advancement"))[0] == cid  # newest first
    assert (await g.gql("admin", NODE, {"id": cid}))["data"]["node"]["status"] == "DRAFT"
    # The subscription ends at once for someone who may not read it.
    async with live(g, "alumnus", cid) as (first, _):
        assert await asyncio.wait_for(first, 10) is None
    opened = await g.ok("advancement", UPDATE, {"i": {"id": cid, "status": "ACTIVE"}},
                        "campaignUpdate")  # fmt: skip
    assert opened["campaign"]["status"] == "ACTIVE"
    assert cid in await listed("student")
    assert (await g.gql("alumnus", NODE, {"id": cid}))["data"]["node"]["name"] == (
        "Scholarship drive")  # fmt: skip
    # Back to draft while nothing names it; then a gift fixes its currency and its status.
    await g.ok("advancement", UPDATE, {"i": {"id": cid, "status": "DRAFT"}}, "campaignUpdate")
    await g.ok("advancement", UPDATE, {"i": {"id": cid, "status": "ACTIVE", "currency": "EUR",
                                             "clearEndsOn": True}}, "campaignUpdate")  # fmt: skip
    await g.ok("advancement", UPDATE, {"i": {"id": cid, "currency": "USD"}}, "campaignUpdate")
    g.pks["new"] = pk_of(cid)
    await give(g, "alumnus", "10", fund="fund2", campaign="new")
    before = await counts(g)
    for change, code in [
        ({"status": "DRAFT"}, "INVALID_STATUS"), ({"currency": "EUR"}, "CURRENCY_LOCKED"),
        ({"fundIds": [gid("Fund", g.pks["fund"])]}, "FUND_IN_USE"),
    ]:  # fmt: skip
        body = await g.gql("advancement", UPDATE, {"i": {"id": cid, **change}})
        assert codes(body["data"]["campaignUpdate"]) == [code], body
    assert await counts(g) == before
    # The goal may change, a fund may join; closed is for good.
    changed = await g.ok("advancement", UPDATE, {"i": {
        "id": cid, "goal": "60000", "fundIds": [gid("Fund", g.pks["fund2"])],
        "name": "Scholarships 2026"}}, "campaignUpdate")  # fmt: skip
    assert changed["campaign"]["goal"]["amount"] == "60000.00"
    assert changed["campaign"]["endsOn"] is None
    closed = await g.ok("advancement", UPDATE, {"i": {"id": cid, "status": "CLOSED"}},
                        "campaignUpdate")  # fmt: skip
    assert closed["campaign"]["status"] == "CLOSED"
    body = await g.gql("advancement", UPDATE, {"i": {"id": cid, "status": "ACTIVE"}})
    assert codes(body["data"]["campaignUpdate"]) == ["INVALID_STATUS"]
    assert cid in await listed("alumnus")
    async with g.runtime.transaction() as uow:
        found = await uow.session.execute(
            select(AuditEvent.action).where(AuditEvent.object_type == "Campaign")
            .order_by(AuditEvent.id)
        )  # fmt: skip
        assert list(found.scalars()) == [
            "campaign.create", "campaign.status", "campaign.status", "campaign.update",
            "campaign.update", "campaign.update", "campaign.status",
        ]  # fmt: skip


async def test_progress_counts_confirmed_gifts_less_refunds(giving: Giving) -> None:
    g = giving
    cid = gid("Campaign", g.pks["campaign"])
    query = "query($id: ID!) { node(id: $id) { ... on Campaign { progress { ...P } } } }" + (
        PROGRESS
    )
    empty = (await g.gql("student", query, {"id": cid}))["data"]["node"]["progress"]
    assert empty["raised"] == {"amount": "0.00"} and empty["percentOfGoal"] == 0.0
    assert [f["fund"]["code"] for f in empty["byFund"]] == ["SCHOL", "BUILD"]
    first = await give(g, "alumnus", "250.50")
    await give(g, "alumnus", "100", fund="fund2")
    await give(g, "alumnus2", "49.50")
    async with g.runtime.transaction() as uow:
        await gifts.refund(uow, staff(g), first, amount=Decimal("50.50"))
    seen = (await g.gql("student", query, {"id": cid}))["data"]["node"]["progress"]
    assert seen["goal"] == {"amount": "10000.00", "currency": "USD"}
    assert seen["raised"] == {"amount": "349.50"}
    assert (seen["donors"], seen["gifts"], seen["percentOfGoal"]) == (2, 3, 3.5)
    assert seen["byFund"] == [
        {"fund": {"code": "SCHOL"}, "raised": {"amount": "249.50", "currency": "USD"},
         "pledged": {"amount": "0.00"}, "gifts": 2},
        {"fund": {"code": "BUILD"}, "raised": {"amount": "100.00", "currency": "USD"},
         "pledged": {"amount": "0.00"}, "gifts": 1},
    ]  # fmt: skip


@asynccontextmanager
async def live(g: Giving, who: str, campaign: str) -> AsyncIterator[tuple[Any, Any]]:
    """`campaignProgress` run in-process with ``who``'s context, as the WebSocket runs it:
    its first answer as a task (None if it ended at once), and the stream."""
    from alumnet.domain.identity.auth import authenticate
    from alumnet.schema import build_schema
    from alumnet.schema.context import Context

    runtime = g.runtime
    token = g.tokens[who]
    found = await authenticate(runtime, runtime.database, token)
    context = Context(runtime=runtime, viewer=found.viewer, bearer=token)
    schema = getattr(g.api.app.state, "schema", None) or build_schema(g.api.settings)
    stream = await schema.subscribe(LIVE, variable_values={"c": campaign}, context_value=context)

    async def following() -> Any:
        try:
            event = await stream.__anext__()
        except StopAsyncIteration:
            return None
        assert not event.errors, event.errors
        return event.data["campaignProgress"]

    first = asyncio.ensure_future(following())
    try:
        yield first, following
    finally:
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        await stream.aclose()


async def test_progress_is_live_after_a_gift(giving: Giving) -> None:
    g = giving
    cid = gid("Campaign", g.pks["campaign"])
    async with live(g, "alumnus2", cid) as (first, following):
        now = await asyncio.wait_for(first, 10)
        assert now["campaignId"] == cid
        assert (now["raised"]["amount"], now["gifts"]) == ("0.00", 0)
        # The first answer is sent once subscribed: the gift that follows is heard.
        later = asyncio.ensure_future(following())
        await give(g, "alumnus", "75.25", fund="fund2")
        heard = await asyncio.wait_for(later, 10)
        assert (heard["raised"]["amount"], heard["gifts"], heard["donors"]) == ("75.25", 1, 1)
        assert heard["byFund"][1]["raised"]["amount"] == "75.25"
        # A change of goal is heard too.
        later = asyncio.ensure_future(following())
        await g.ok("advancement", UPDATE, {"i": {"id": cid, "goal": "150.50"}},
                   "campaignUpdate")  # fmt: skip
        heard = await asyncio.wait_for(later, 10)
        assert heard["percentOfGoal"] == 50.0
    async with live(g, "alumnus", gid("Campaign", 999_999)) as (first, _):
        assert await asyncio.wait_for(first, 10) is None


async def test_a_page_of_campaigns_takes_the_same_statements_however_long(
    giving: Giving,
) -> None:
    g = giving
    funds = [g.pks["fund"], g.pks["fund2"]]
    g.pks["other"] = await add_campaign(g, "Second", funds[::-1])
    await give(g, "alumnus", "20")
    await give(g, "alumnus2", "30", fund="fund2", campaign="other")
    few, small = await g.api.sql_count(PAGE, token=g.tokens["alumnus"])
    assert "errors" not in small, small
    for i in range(8):
        extra = await add_fund(g, f"F{i}", f"Fund {i}")
        await add_campaign(g, f"More {i}", [extra, *funds])
    await add_campaign(g, "Hidden draft", funds, status="draft")
    many, large = await g.api.sql_count(PAGE, token=g.tokens["alumnus"])
    assert "errors" not in large, large
    edges = large["data"]["campaigns"]["edges"]
    assert len(edges) == 10
    assert "Hidden draft" not in [e["node"]["name"] for e in edges]
    assert many == few, f"{few} statements for 2 campaigns, {many} for 10"
    # Sign-in, the page (with its count), the funds and the totals of the whole page.
    assert few <= 5, few
