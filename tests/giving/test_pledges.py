"""Pledges: made through GraphQL with their instalments, paid in order by confirmed gifts,
swept daily (due, reminded once, missed, lapsed with staff told, open-ended extended),
cancelled; bad input refused with nothing written; seen only by giving staff and the donor."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select

from alumnet.domain.errors import DomainError
from alumnet.domain.giving import gifts, pledges, recount
from alumnet.domain.giving.donors import DonorRef
from alumnet.domain.identity.permissions import Role, Viewer
from alumnet.persistence.models import (
    CampaignFundTotal,
    Gift,
    Notification,
    Pledge,
    PledgeInstalment,
)
from tests.giving.conftest import Giving, codes, gid, pk_of

FIELDS = """id status frequency instalmentCount startsOn donorName fundName
  instalmentAmount { amount currency } amountPledged { amount } amountPaid { amount } nextDue
  instalments(first: 20) { totalCount edges { node { id seq dueOn status amount { amount }
    giftId } } }"""
CREATE = f"""mutation($input: PledgeCreateInput!) {{ pledgeCreate(input: $input) {{
  pledge {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
CANCEL = f"""mutation($id: ID!) {{ pledgeCancel(input: {{id: $id}}) {{
  pledge {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
NODE = f"""query($id: ID!) {{ node(id: $id) {{ ... on Pledge {{ {FIELDS} }} }} }}"""


def today() -> date:
    return pledges.today()


def staff(g: Giving) -> Viewer:
    return Viewer(user_id=g.pks["advancement"], roles=frozenset({Role.ADVANCEMENT}))


def pledge_input(g: Giving, **more: Any) -> dict[str, Any]:
    given: dict[str, Any] = {
        "userId": g.ids["alumnus"], "fundId": gid("Fund", g.pks["fund"]),
        "campaignId": gid("Campaign", g.pks["campaign"]), "currency": "USD",
        "instalmentAmount": "50.00", "frequency": "MONTHLY", "instalments": 3,
        "startsOn": today().isoformat(),
    }  # fmt: skip
    given.update(more)
    return {key: value for key, value in given.items() if value is not ...}


async def make(g: Giving, who: str = "advancement", **more: Any) -> dict[str, Any]:
    payload = await g.ok(who, CREATE, {"input": pledge_input(g, **more)}, "pledgeCreate")
    return payload["pledge"]  # type: ignore[no-any-return]


async def pledged(g: Giving) -> tuple[int, int]:
    """The campaign's (pledged, raised) for the first fund, in cents."""
    async with g.runtime.transaction() as uow:
        found = await uow.session.get(CampaignFundTotal, (g.pks["campaign"], g.pks["fund"]))
        return (found.pledged_minor, found.raised_minor) if found is not None else (0, 0)


async def give(
    g: Giving,
    amount: str = "50.00",
    who: str = "alumnus",
    *,
    on: date | None = None,
    source: str = "staff",
    **more: Any,
) -> int:
    """A gift recorded (confirmed) by giving staff through the domain."""
    fields = gifts.GiftFields(
        amount=Decimal(amount), currency="USD", gift_date=on or today(), fund_id=g.pks["fund"],
        campaign_id=g.pks["campaign"], payment_method="card", **more,
    )  # fmt: skip
    async with g.runtime.transaction() as uow:
        gift, _ = await gifts.record(uow, staff(g), DonorRef(user_id=g.pks[who]), fields,
                                     source=source)  # fmt: skip
        return int(gift.id)


async def balanced(g: Giving) -> None:
    """The kept totals (the pledged one included) add up to a recount."""
    async with g.runtime.transaction() as uow:
        assert await recount.differences(uow) == []


async def statuses(g: Giving, pledge_id: str) -> list[str]:
    async with g.runtime.transaction() as uow:
        found = await uow.session.execute(
            select(PledgeInstalment.status)
            .where(PledgeInstalment.pledge_id == pk_of(pledge_id))
            .order_by(PledgeInstalment.seq)
        )
        return list(found.scalars())


async def test_a_pledge_is_paid_by_gifts_in_order_and_completes(giving: Giving) -> None:
    g = giving
    start = date(today().year, today().month, 1) - relativedelta(months=1)
    start = start.replace(day=31) if start.month in (1, 3, 5, 7, 8, 10, 12) else start
    made = await make(g, startsOn=start.isoformat(), idempotencyKey="pledge-1")
    assert made["status"] == "ACTIVE" and made["instalmentCount"] == 3
    assert made["amountPledged"] == {"amount": "150.00"}
    assert made["instalments"]["totalCount"] == 3
    dues = [e["node"]["dueOn"] for e in made["instalments"]["edges"]]
    assert dues == [(start + relativedelta(months=i)).isoformat() for i in range(3)]
    assert await pledged(g) == (15000, 0)
    again = await make(g, startsOn=start.isoformat(), idempotencyKey="pledge-1")
    assert again["id"] == made["id"]
    assert await pledged(g) == (15000, 0)
    # Too small a gift pays nothing; the others pay the oldest instalment first.
    await give(g, "10.00")
    assert await pledged(g) == (15000, 1000)
    first = await give(g, "50.00")
    assert (await statuses(g, made["id"]))[0] == "paid"
    assert await pledged(g) == (10000, 6000)
    seen = (await g.gql("alumnus", NODE, {"id": made["id"]}))["data"]["node"]
    assert seen["amountPaid"] == {"amount": "50.00"}
    assert seen["nextDue"] == dues[1]
    assert seen["instalments"]["edges"][0]["node"]["giftId"] == gid("Gift", first)
    async with g.runtime.transaction() as uow:
        paid = await uow.session.get(Gift, first)
        assert paid is not None and paid.pledge_id == pk_of(made["id"])
    await give(g, "60.00")
    await give(g, "50.00")
    assert await statuses(g, made["id"]) == ["paid", "paid", "paid"]
    assert await pledged(g) == (0, 17000)
    done = (await g.gql("advancement", NODE, {"id": made["id"]}))["data"]["node"]
    assert done["status"] == "COMPLETED" and done["nextDue"] is None
    assert done["amountPaid"] == {"amount": "150.00"}
    # A later gift pays nothing more.
    await give(g, "50.00")
    assert await pledged(g) == (0, 22000)
    await balanced(g)


async def test_bad_input_is_refused_and_writes_nothing(giving: Giving) -> None:
    g = giving
    cases: list[tuple[dict[str, Any], str]] = [
        ({"instalmentAmount": "0"}, "INVALID_AMOUNT"),
        ({"instalmentAmount": "-5"}, "INVALID_AMOUNT"),
        ({"instalmentAmount": "1.005"}, "INVALID_AMOUNT"),
        ({"currency": "ZZZ"}, "UNKNOWN_CURRENCY"),
        ({"currency": "EUR"}, "WRONG_CURRENCY"),
        ({"instalments": 0}, "INVALID"),
        ({"instalments": 601}, "INVALID"),
        ({"startsOn": (today() + timedelta(days=400)).isoformat()}, "OUT_OF_RANGE"),
        ({"startsOn": (today() - timedelta(days=400)).isoformat()}, "OUT_OF_RANGE"),
        ({"fundId": gid("Fund", 999_999)}, "NOT_FOUND"),
        ({"campaignId": gid("Campaign", 999_999)}, "NOT_FOUND"),
        ({"userId": ...}, "INVALID"),
        ({"donorName": "Someone", "donorEmail": "not-an-address", "userId": ...}, "INVALID"),
        ({"idempotencyKey": "x" * 201}, "INVALID"),
    ]
    for change, code in cases:
        body = await g.gql("advancement", CREATE, {"input": pledge_input(g, **change)})
        assert "errors" not in body, body
        payload = body["data"]["pledgeCreate"]
        assert payload["pledge"] is None and code in codes(payload), (change, payload)
    # Alumni pledge for themselves only; students and managers not at all.
    refused = await g.gql("alumnus", CREATE, {"input": pledge_input(g, userId=g.ids["alumnus2"])})
    assert codes(refused["data"]["pledgeCreate"]) == ["NOT_ALLOWED"]
    for who in ("student", "manager"):
        body = await g.gql(who, CREATE, {"input": pledge_input(g, userId=...)})
        assert codes(body["data"]["pledgeCreate"]) == ["NOT_ALLOWED"], who
    async with g.runtime.transaction() as uow:
        s = uow.session
        assert (await s.execute(select(func.count()).select_from(Pledge))).scalar_one() == 0
        count = select(func.count()).select_from(PledgeInstalment)
        assert (await s.execute(count)).scalar_one() == 0
    assert await pledged(g) == (0, 0)
    # The same key for something else is a conflict.
    await make(g, idempotencyKey="k")
    clash = await g.gql("advancement", CREATE,
                        {"input": pledge_input(g, idempotencyKey="k", instalments=4)})  # fmt: skip
    assert codes(clash["data"]["pledgeCreate"]) == ["IDEMPOTENCY_CONFLICT"]
    # An alumnus's own pledge; a gift naming another's pledge is refused whole.
    mine = await make(g, "alumnus", userId=...)
    other = await make(g, "alumnus2", userId=...)
    assert mine["donorName"] == "Alumnus Person"
    with pytest.raises(DomainError) as caught:
        await give(g, "50.00", pledge_id=pk_of(other["id"]))
    assert [p.code for p in caught.value.problems] == ["NOT_FOUND"]
    assert await pledged(g) == (45000, 0)
    await balanced(g)


async def test_strangers_see_and_cancel_nothing_and_the_donor_cancels(giving: Giving) -> None:
    g = giving
    made = await make(g, "alumnus", userId=...)
    assert (await g.gql("alumnus2", NODE, {"id": made["id"]}))["data"]["node"] is None
    assert (await g.gql("manager", NODE, {"id": made["id"]}))["data"]["node"] is None
    instalment = made["instalments"]["edges"][0]["node"]["id"]
    query = "query($id: ID!) { node(id: $id) { id } }"
    assert (await g.gql("alumnus2", query, {"id": instalment}))["data"]["node"] is None
    assert (await g.gql("alumnus", query, {"id": instalment}))["data"]["node"] is not None
    listed = "{ myPledges(first: 10) { totalCount } }"
    assert (await g.gql("alumnus2", listed))["data"]["myPledges"]["totalCount"] == 0
    assert (await g.gql("alumnus", listed))["data"]["myPledges"]["totalCount"] == 1
    staff_list = "{ pledges(first: 10) { totalCount } lapsedPledges(first: 5) { totalCount } }"
    refused = await g.gql("alumnus", staff_list)
    assert refused["data"] == {"pledges": None, "lapsedPledges": None} and refused["errors"]
    assert (await g.gql("advancement", staff_list))["data"]["pledges"]["totalCount"] == 1
    for who in ("alumnus2", "manager"):
        body = await g.gql(who, CANCEL, {"id": made["id"]})
        assert codes(body["data"]["pledgeCancel"]) == ["NOT_FOUND"], who
    assert await pledged(g) == (15000, 0)
    cancelled = await g.ok("alumnus", CANCEL, {"id": made["id"]}, "pledgeCancel")
    assert cancelled["pledge"]["status"] == "CANCELLED"
    assert await statuses(g, made["id"]) == ["cancelled"] * 3
    assert await pledged(g) == (0, 0)
    again = await g.gql("alumnus", CANCEL, {"id": made["id"]})
    assert codes(again["data"]["pledgeCancel"]) == ["WRONG_STATUS"]
    # Giving staff cancel anyone's; a gift then pays nothing.
    other = await make(g)
    await g.ok("admin", CANCEL, {"id": other["id"]}, "pledgeCancel")
    await give(g)
    assert await pledged(g) == (0, 5000)
    await balanced(g)


async def test_the_sweep_marks_due_reminds_once_misses_and_lapses(giving: Giving) -> None:
    g = giving
    start = today() + timedelta(days=5)
    made = await make(g, startsOn=start.isoformat())
    assert await pledged(g) == (15000, 0)
    early = await pledges.sweep(g.runtime, start - timedelta(days=8))
    assert early["reminded"] == 0  # eight days ahead: not yet
    ran = await pledges.sweep(g.runtime, start - timedelta(days=3))
    assert ran["reminded"] == 1 and ran["due"] == 0
    assert (await pledges.sweep(g.runtime, start - timedelta(days=3)))["reminded"] == 0
    ran = await pledges.sweep(g.runtime, start)
    assert ran["due"] == 1
    assert await statuses(g, made["id"]) == ["due", "scheduled", "scheduled"]
    late = start + relativedelta(months=1) + timedelta(days=31)
    ran = await pledges.sweep(g.runtime, late)
    assert (ran["missed"], ran["lapsed"]) == (2, 1), ran
    assert await statuses(g, made["id"]) == ["missed", "missed", "due"]
    assert await pledged(g) == (0, 0)
    again = await pledges.sweep(g.runtime, late)
    assert all(v == 0 for v in again.values()), again
    async with g.runtime.transaction() as uow:
        told = await uow.session.execute(
            select(Notification.user_id, Notification.title).where(
                Notification.kind == "giving", Notification.subject_type == "Pledge"
            )
        )
        rows = told.all()
    lapsed = {u for u, t in rows if t == "A pledge lapsed"}
    assert lapsed == {g.pks["admin"], g.pks["advancement"]}
    assert [u for u, t in rows if t.startswith("Your pledge")] == [g.pks["alumnus"]]
    listed = await g.gql("advancement", "{ lapsedPledges(first: 5) { edges { node { id } } } }")
    assert [e["node"]["id"] for e in listed["data"]["lapsedPledges"]["edges"]] == [made["id"]]
    # A gift dated before its start (today) pays none of it (paid again: the next test).
    await give(g)
    assert await statuses(g, made["id"]) == ["missed", "missed", "due"]
    node = (await g.gql("alumnus", NODE, {"id": made["id"]}))["data"]["node"]
    assert node["status"] == "LAPSED"
    assert await pledged(g) == (0, 5000)
    await balanced(g)


async def lapse_notices(g: Giving) -> int:
    async with g.runtime.transaction() as uow:
        found = await uow.session.execute(
            select(func.count()).where(Notification.title == "A pledge lapsed",
                                       Notification.user_id == g.pks["advancement"])
        )  # fmt: skip
        return int(found.scalar_one())


async def test_a_pledge_paid_again_counts_only_what_it_misses_after(giving: Giving) -> None:
    g = giving
    now = today()
    start = now - relativedelta(months=3) - timedelta(days=15)
    made = await make(g, startsOn=start.isoformat(), instalments=6)
    ran = await pledges.sweep(g.runtime, now)
    assert (ran["missed"], ran["lapsed"]) == (3, 1), ran
    assert await lapse_notices(g) == 1 and await pledged(g) == (0, 0)
    await give(g)  # pays the first missed one: active again, its 3 unpaid ones promised
    assert await statuses(g, made["id"]) == ["paid", "missed", "missed", "due", "scheduled",
                                             "scheduled"]  # fmt: skip
    assert await pledged(g) == (15000, 5000)
    await balanced(g)
    # The two it had missed before that gift do not lapse it again, nor tell staff again.
    assert (await pledges.sweep(g.runtime, now))["lapsed"] == 0
    node = (await g.gql("advancement", NODE, {"id": made["id"]}))["data"]["node"]
    assert node["status"] == "ACTIVE" and await lapse_notices(g) == 1
    # Nor does the one due (before the gift) and missed since; one due after it is counted.
    later = now + relativedelta(months=1) + timedelta(days=20)
    ran = await pledges.sweep(g.runtime, later)
    assert (ran["missed"], ran["lapsed"]) == (2, 0), ran
    assert await pledged(g) == (5000, 5000)
    await balanced(g)
    # A second one due after the gift and missed: it lapses (and staff are told) again.
    ran = await pledges.sweep(g.runtime, later + relativedelta(months=1))
    assert (ran["missed"], ran["lapsed"]) == (1, 1), ran
    assert await lapse_notices(g) == 2 and await pledged(g) == (0, 5000)
    await balanced(g)


async def test_gifts_before_the_start_and_imported_ones_pay_nothing(giving: Giving) -> None:
    g = giving
    start = today() - timedelta(days=10)
    made = await make(g, startsOn=start.isoformat())
    assert await pledged(g) == (15000, 0)
    early = start - timedelta(days=1)
    await give(g, on=early)
    await give(g, on=early, pledge_id=pk_of(made["id"]))  # naming it: skipped, no error
    await give(g, source="import")
    assert await statuses(g, made["id"]) == ["due", "scheduled", "scheduled"]
    assert await pledged(g) == (15000, 15000)
    await balanced(g)
    await give(g, on=start)  # on its first day: pays
    assert await statuses(g, made["id"]) == ["paid", "scheduled", "scheduled"]
    assert await pledged(g) == (10000, 20000)
    await balanced(g)


async def test_an_open_ended_pledge_is_extended_a_year_ahead(giving: Giving) -> None:
    g = giving
    made = await make(g, instalments=None, frequency="QUARTERLY")
    assert made["amountPledged"] is None and made["instalmentCount"] is None
    assert made["instalments"]["totalCount"] == 5  # today and 3, 6, 9, 12 months on
    assert await pledged(g) == (25000, 0)
    later = today() + relativedelta(months=3)
    ran = await pledges.sweep(g.runtime, later)
    assert ran["extended"] == 1
    assert (await pledges.sweep(g.runtime, later))["extended"] == 0
    # One more instalment promised; the first, unpaid for three months, missed (not lapsed).
    assert await pledged(g) == (25000, 0)
    node = (await g.gql("advancement", NODE, {"id": made["id"]}))["data"]["node"]
    assert node["status"] == "ACTIVE" and node["instalments"]["totalCount"] == 6
    await balanced(g)


async def test_the_pledges_list_takes_constant_statements(giving: Giving) -> None:
    g = giving
    query = f"{{ pledges(first: 50) {{ totalCount edges {{ node {{ {FIELDS} }} }} }} }}"
    for _ in range(2):
        await make(g)
    few, small = await g.api.sql_count(query, token=g.tokens["advancement"])
    for who in ("alumnus", "alumnus2", "alumnus", "admin"):
        await make(g, userId=g.ids[who], instalments=5)
    many, large = await g.api.sql_count(query, token=g.tokens["advancement"])
    assert "errors" not in large, large
    assert large["data"]["pledges"]["totalCount"] == 6
    assert small["data"]["pledges"]["totalCount"] == 2
    assert many == few, f"{few} statements for 2 pledges, {many} for 6"
