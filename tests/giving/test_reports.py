"""Giving reports against figures worked out by hand: totals by year, month, fund and
campaign (refunds counted where their gift is), alumni participation by graduation year,
LYBUNT and SYBUNT, retention and top donors; who may read them; constant statement counts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

import pytest
from sqlalchemy import update

from alumnet.domain.giving import gifts
from alumnet.domain.giving.donors import DonorRef
from alumnet.domain.identity.permissions import Role, Viewer
from alumnet.persistence.models import User
from alumnet.persistence.uow import Origin
from tests.giving.conftest import Giving, codes, gid, pk_of

Y = datetime.now(UTC).year


@dataclass
class World:
    g: Giving
    donors: dict[str, int]  # who -> donor pk
    gifts: dict[str, int]  # label -> gift pk


async def gift(
    g: Giving, ref: DonorRef, amount: str, day: date, *, currency: str = "USD",
    fund: str = "fund", campaign: bool = False, anonymous: bool = False,
) -> tuple[int, int]:  # fmt: skip
    """Record a confirmed gift as giving staff; its id and its donor's."""
    staff = Viewer(user_id=g.pks["advancement"], roles=frozenset({Role.ADVANCEMENT}))
    fields = gifts.GiftFields(
        amount=Decimal(amount), currency=currency, gift_date=day, fund_id=g.pks[fund],
        campaign_id=g.pks["campaign"] if campaign else None, payment_method="card",
        anonymous=anonymous,
    )  # fmt: skip
    async with g.runtime.transaction() as uow:
        made, _ = await gifts.record(uow, staff, ref, fields, source="staff")
        return int(made.id), int(made.donor_id)


async def build(g: Giving) -> World:
    """Alumni of 2010 (alumnus, alumnus2) and 2015 (a3, a4, a5), a6 without a graduation
    year, and an outside donor, giving over four years:

    - alumnus: Y-3 100, Y-2 50, Y-1 200, Y 30 (fund2)
    - alumnus2: Y-1 80
    - a3: Y-3 40
    - a4: Y-2 25; Y-1 60, refunded in full today
    - a6: Y-1 10
    - outside: Y-1 EUR 70; Y 500 to the campaign, anonymously
    """
    for who in ("a3", "a4", "a5", "a6"):
        g.ids[who], g.tokens[who] = await g.api.create_user(
            f"{who}@example.org", ["ALUMNUS"], name=f"{who.upper()} Person"
        )
        g.pks[who] = pk_of(g.ids[who])
    async with g.runtime.transaction(origin=Origin(via="cli")) as uow:
        for who, year in (("alumnus", 2010), ("alumnus2", 2010), ("a3", 2015), ("a4", 2015),
                          ("a5", 2015)):  # fmt: skip
            await uow.session.execute(
                update(User).where(User.id == g.pks[who]).values(record_graduation_year=year)
            )
    donors: dict[str, int] = {}
    made: dict[str, int] = {}

    async def give(who: str, label: str, amount: str, day: date, **more: Any) -> None:
        ref = (
            DonorRef(name="Olive Outside", email="olive@example.net")
            if who == "outside"
            else DonorRef(user_id=g.pks[who])
        )
        made[label], donors[who] = await gift(g, ref, amount, day, **more)

    march = [date(Y - k, 3, 10) for k in range(4)]  # march[k]: March of Y-k
    await give("alumnus", "al3", "100", march[3])
    await give("alumnus", "al2", "50", march[2])
    await give("alumnus", "al1", "200", march[1])
    await give("alumnus", "al0", "30", date(Y, 1, 1), fund="fund2")
    await give("alumnus2", "b1", "80", march[1])
    await give("a3", "c3", "40", march[3])
    await give("a4", "d2", "25", march[2])
    await give("a4", "d1", "60", march[1])
    await give("a6", "f1", "10", march[1])
    await give("outside", "o1", "70", march[1], currency="EUR")
    await give("outside", "o0", "500", date(Y, 1, 1), campaign=True, anonymous=True)
    staff = Viewer(user_id=g.pks["advancement"], roles=frozenset({Role.ADVANCEMENT}))
    async with g.runtime.transaction() as uow:
        await gifts.refund(uow, staff, made["d1"])
    return World(g, donors, made)


@pytest.fixture
async def world(giving: Giving) -> World:
    return await build(giving)


TOTALS = """query($g: GivingTotalsGroup!, $f: Date, $t: Date, $c: String) {
  givingTotals(groupBy: $g, from: $f, to: $t, currency: $c) { from to currency groupBy
    rows { key label raised { amount currency } gifts donors }
    total { key label raised { amount currency } gifts donors } } }"""
PARTICIPATION = """query($y: Int) { givingParticipation(year: $y) { year
  rows { graduationYear alumni donors rate } overall { graduationYear alumni donors rate } } }"""
RETENTION = """query($y: Int) { givingRetention(year: $y) { year previousDonors donors retained
  lapsed new recaptured rate } }"""
LAPSED = """query($y: Int, $n: Int, $a: String) {
  lybunt(year: $y, first: $n, after: $a) { totalCount pageInfo { hasNextPage endCursor }
    edges { node { id name email user { id } lastGiving { year total { amount currency } }
      summary { lifetime { amount currency } consecutiveYears } } } }
  sybunt(year: $y, first: $n) { totalCount edges { node { id name
    lastGiving { year total { amount currency } } } } } }"""
TOP = """query($y: Int, $n: Int!, $c: String) { topDonors(year: $y, first: $n, currency: $c) {
  rank donor { id name email } total { amount currency } gifts gaveAnonymously } }"""


def rows_of(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    data = body["data"]["givingTotals"]
    return [
        (r["key"], r["label"], r["raised"]["amount"], r["gifts"], r["donors"]) for r in data["rows"]
    ]


async def test_totals_by_year_month_fund_and_campaign(world: World) -> None:
    g = world.g
    body = await g.gql("advancement", TOTALS, {"g": "YEAR"})
    assert "errors" not in body, body
    assert rows_of(body) == [
        (str(Y - 3), str(Y - 3), "140.00", 2, 2),
        (str(Y - 2), str(Y - 2), "75.00", 2, 2),
        # The refund of a4's gift, made this year, counts in its gift's year.
        (str(Y - 1), str(Y - 1), "290.00", 4, 4),
        (str(Y), str(Y), "530.00", 2, 2),
    ]
    total = body["data"]["givingTotals"]["total"]
    assert (total["raised"], total["gifts"], total["donors"]) == (
        {"amount": "1035.00", "currency": "USD"}, 10, 6)  # fmt: skip
    body = await g.gql("admin", TOTALS, {"g": "MONTH", "f": f"{Y - 1}-01-01", "t": f"{Y}-12-31"})
    assert rows_of(body) == [
        (f"{Y - 1}-03", f"{Y - 1}-03", "290.00", 4, 4),
        (f"{Y}-01", f"{Y}-01", "530.00", 2, 2),
    ]
    body = await g.gql("advancement", TOTALS, {"g": "FUND"})
    assert rows_of(body) == [
        (gid("Fund", g.pks["fund"]), "Scholarships", "1005.00", 9, 6),
        (gid("Fund", g.pks["fund2"]), "New library", "30.00", 1, 1),
    ]
    body = await g.gql("advancement", TOTALS, {"g": "CAMPAIGN", "f": f"{Y - 1}-01-01"})
    assert (
        rows_of(body)
        == [
            (None, "No campaign", "320.00", 5, 4),
            (gid("Campaign", g.pks["campaign"]), "Library appeal", "500.00", 1, 1),
        ][::-1]
    )
    body = await g.gql("advancement", TOTALS, {"g": "YEAR", "c": "EUR"})
    assert rows_of(body) == [(str(Y - 1), str(Y - 1), "70.00", 1, 1)]
    for bad in ({"g": "YEAR", "c": "ZZZ"}, {"g": "YEAR", "f": "2020-02-01", "t": "2020-01-01"},
                {"g": "MONTH", "f": "1990-01-01"}):  # fmt: skip
        body = await g.gql("advancement", TOTALS, bad)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", bad


async def test_participation_and_retention(world: World) -> None:
    g = world.g
    body = await g.gql("advancement", PARTICIPATION, {"y": Y - 1})
    assert "errors" not in body, body
    data = body["data"]["givingParticipation"]
    assert data["rows"] == [
        {"graduationYear": 2010, "alumni": 2, "donors": 2, "rate": "1.0000"},
        # a4 gave and was refunded in full: no longer a donor of that year.
        {"graduationYear": 2015, "alumni": 3, "donors": 0, "rate": "0.0000"},
        {"graduationYear": None, "alumni": 1, "donors": 1, "rate": "1.0000"},
    ]
    assert data["overall"] == {"graduationYear": None, "alumni": 6, "donors": 3,
                               "rate": "0.5000"}  # fmt: skip
    body = await g.gql("admin", PARTICIPATION, {})
    data = body["data"]["givingParticipation"]
    assert data["year"] == Y
    assert data["rows"][0] == {"graduationYear": 2010, "alumni": 2, "donors": 1, "rate": "0.5000"}
    assert data["overall"]["donors"] == 1
    body = await g.gql("advancement", RETENTION, {"y": Y})
    assert body["data"]["givingRetention"] == {
        "year": Y, "previousDonors": 4, "donors": 2, "retained": 2, "lapsed": 2, "new": 0,
        "recaptured": 0, "rate": "0.5000",
    }  # fmt: skip
    body = await g.gql("advancement", RETENTION, {"y": Y - 1})
    assert body["data"]["givingRetention"] == {
        "year": Y - 1, "previousDonors": 2, "donors": 4, "retained": 1, "lapsed": 1, "new": 3,
        "recaptured": 0, "rate": "0.5000",
    }  # fmt: skip
    body = await g.gql("advancement", RETENTION, {"y": 1800})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_lybunt_sybunt_and_top_donors(world: World) -> None:
    g = world.g
    body = await g.gql("advancement", LAPSED, {"y": Y, "n": 50})
    assert "errors" not in body, body
    lybunt = body["data"]["lybunt"]
    assert lybunt["totalCount"] == 2
    found = [(e["node"]["name"], e["node"]["lastGiving"]) for e in lybunt["edges"]]
    assert found == [
        ("A6 Person", {"year": Y - 1, "total": [{"amount": "10.00", "currency": "USD"}]}),
        ("Alumnus2 Person", {"year": Y - 1, "total": [{"amount": "80.00", "currency": "USD"}]}),
    ]
    assert lybunt["edges"][1]["node"]["email"] == "alumnus2@example.org"
    assert lybunt["edges"][1]["node"]["user"] == {"id": g.ids["alumnus2"]}
    sybunt = body["data"]["sybunt"]
    found = [(e["node"]["name"], e["node"]["lastGiving"]) for e in sybunt["edges"]]
    assert found == [
        ("A3 Person", {"year": Y - 3, "total": [{"amount": "40.00", "currency": "USD"}]}),
        ("A4 Person", {"year": Y - 2, "total": [{"amount": "25.00", "currency": "USD"}]}),
    ]
    # Paging on: the second page of one.
    first = await g.gql("advancement", LAPSED, {"y": Y, "n": 1})
    cursor = first["data"]["lybunt"]["pageInfo"]["endCursor"]
    assert first["data"]["lybunt"]["pageInfo"]["hasNextPage"] is True
    second = await g.gql("advancement", LAPSED, {"y": Y, "n": 1, "a": cursor})
    assert [e["node"]["name"] for e in second["data"]["lybunt"]["edges"]] == ["Alumnus2 Person"]
    # Last year's LYBUNT: gave two years ago, not last year (a4's refund takes nothing away
    # from the year before).
    body = await g.gql("advancement", LAPSED, {"y": Y - 1, "n": 50})
    assert [e["node"]["name"] for e in body["data"]["lybunt"]["edges"]] == ["A4 Person"]
    body = await g.gql("advancement", TOP, {"n": 3})
    assert "errors" not in body, body
    top = [(t["rank"], t["donor"]["name"], t["total"]["amount"], t["gifts"], t["gaveAnonymously"])
           for t in body["data"]["topDonors"]]  # fmt: skip
    assert top == [
        (1, "Olive Outside", "500.00", 1, True),
        (2, "Alumnus Person", "380.00", 4, False),
        (3, "Alumnus2 Person", "80.00", 1, False),
    ]
    body = await g.gql("advancement", TOP, {"n": 2, "y": Y - 1, "c": "EUR"})
    assert [t["total"] for t in body["data"]["topDonors"]] == [
        {"amount": "70.00", "currency": "EUR"}
    ]
    body = await g.gql("advancement", TOP, {"n": 101})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


EXPORT = """mutation($i: ExportCreateInput!) { exportCreate(input: $i) { job { id }
  userErrors { code } } }"""


async def exported(g: Giving, who: str, **given: Any) -> bytes:
    await g.ok(who, EXPORT, {"i": given}, "exportCreate")
    await g.api.run_jobs()
    body = await g.gql(who, "{ exports(first: 1) { edges { node { downloadUrl } } } }")
    url = urlparse(body["data"]["exports"]["edges"][0]["node"]["downloadUrl"])
    response = await g.api.client.get(f"{url.path}?{url.query}")
    assert response.status_code == 200
    return response.content


async def test_lists_export_for_giving_staff_only(world: World) -> None:
    g = world.g
    lines = (await exported(g, "advancement", kind="SYBUNT", format="CSV", year=Y)).decode()
    assert lines.splitlines() == [
        "name,email,graduation_year,last_gift_year,currency,last_year_total",
        f"A3 Person,a3@example.org,2015,{Y - 3},USD,40.00",
        f"A4 Person,a4@example.org,2015,{Y - 2},USD,25.00",
    ]
    rows = (await exported(g, "admin", kind="LYBUNT", format="JSONL", year=Y)).splitlines()
    assert json.loads(rows[1]) == {
        "name": "Alumnus2 Person", "email": "alumnus2@example.org", "graduation_year": 2010,
        "last_gift_year": Y - 1, "currency": "USD", "last_year_total": "80.00",
    }  # fmt: skip
    lines = (await exported(g, "advancement", kind="GIVING_PARTICIPATION", format="CSV",
                            year=Y - 1)).decode()  # fmt: skip
    assert lines.splitlines() == [
        "year,graduation_year,alumni,donors", f"{Y - 1},2010,2,2", f"{Y - 1},2015,3,0",
        f"{Y - 1},,1,1",
    ]  # fmt: skip
    for who in ("manager", "alumnus"):
        body = await g.gql(who, EXPORT, {"i": {"kind": "LYBUNT", "format": "CSV"}})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
    body = await g.gql("advancement", EXPORT, {"i": {"kind": "LYBUNT", "format": "CSV",
                                                     "year": 1800}})  # fmt: skip
    assert codes(body["data"]["exportCreate"]) == ["INVALID"]


async def test_wrong_roles_get_nothing(world: World) -> None:
    g = world.g
    asks = [
        (TOTALS, {"g": "YEAR"}), (PARTICIPATION, {"y": Y}), (RETENTION, {"y": Y}),
        (LAPSED, {"y": Y, "n": 5}), (TOP, {"n": 5}),
    ]  # fmt: skip
    for who in ("alumnus", "manager", "student", None):
        for query, variables in asks:
            body = await g.api.gql(query, variables, token=g.tokens.get(who) if who else None)
            assert body.get("data") is None or not any(body["data"].values()), (who, body)
            code = body["errors"][0]["extensions"]["code"]
            assert code == ("UNAUTHENTICATED" if who is None else "FORBIDDEN"), (who, query)


async def test_lapsed_lists_take_the_same_statements_whatever_their_size(world: World) -> None:
    g = world.g
    api = g.api
    token = g.tokens["advancement"]
    small, body = await api.sql_count(LAPSED, {"y": Y, "n": 1}, token)
    assert len(body["data"]["lybunt"]["edges"]) == 1
    large, body = await api.sql_count(LAPSED, {"y": Y, "n": 50}, token)
    assert len(body["data"]["lybunt"]["edges"]) == 2
    assert len(body["data"]["sybunt"]["edges"]) == 2
    assert small == large
