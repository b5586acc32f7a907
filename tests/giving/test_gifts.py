"""Gifts through GraphQL: recorded once per key, reported and confirmed or declined,
refunded within their amount, read only by giving staff and the donor."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from alumnet.persistence.models import (
    CampaignDonor,
    CampaignFundTotal,
    DonorYear,
    Gift,
    Notification,
)
from tests.giving.conftest import Giving, codes, gid

RECORD = """
mutation($i: GiftRecordInput!) { giftRecord(input: $i) {
  created gift { id kind status receiptNumber amount { amount currency } }
  userErrors { code field message } } }
"""
REPORT = """
mutation($i: GiftReportInput!) { giftReport(input: $i) {
  created gift { id status } userErrors { code field message } } }
"""
CONFIRM = """
mutation($id: ID!) { giftConfirm(input: {id: $id}) {
  gift { id status receiptNumber confirmedAt } userErrors { code field } } }
"""
DECLINE = """
mutation($id: ID!, $r: String!) { giftDecline(input: {id: $id, reason: $r}) {
  gift { id status declineReason } userErrors { code field } } }
"""
REFUND = """
mutation($i: GiftRefundInput!) { giftRefund(input: $i) {
  created gift { id kind status amount { amount } refundOf { id } }
  userErrors { code field message } } }
"""
NODE = """
query($id: ID!) { node(id: $id) { ... on Gift { id anonymous amount { amount }
  reference softCredit { id } donor { id } } } }
"""
LIST = """
query($f: GiftFilter) { gifts(first: 50, filter: $f) { totalCount edges { node {
  id kind status date amount { amount currency } receiptNumber tribute { kind name }
  fund { id name } campaign { id name } donor { id } softCredit { id } refundOf { id }
  refunds { id amount { amount } } refundedAmount { amount } } } } }
"""


def given(g: Giving, amount: str = "25.50", **more: Any) -> dict[str, Any]:
    sent: dict[str, Any] = {
        "userId": g.ids["alumnus"], "amount": amount, "currency": "USD",
        "date": "2026-03-01", "fundId": gid("Fund", g.pks["fund"]),
        "campaignId": gid("Campaign", g.pks["campaign"]), "paymentMethod": "CARD",
    }  # fmt: skip
    sent.update(more)
    return sent


async def record(g: Giving, amount: str = "25.50", **more: Any) -> dict[str, Any]:
    payload = await g.ok("advancement", RECORD, {"i": given(g, amount, **more)}, "giftRecord")
    return payload["gift"]  # type: ignore[no-any-return]


async def counts(g: Giving) -> tuple[int, int, int, int]:
    """Gifts, their amounts together, the campaign's raised total, donor-year rows."""
    async with g.runtime.transaction() as uow:
        s = uow.session
        gifts = int((await s.execute(select(func.count()).select_from(Gift))).scalar_one())
        summed = await s.execute(select(func.coalesce(func.sum(Gift.amount_minor), 0)))
        raised = await s.execute(select(func.coalesce(func.sum(CampaignFundTotal.raised_minor), 0)))
        years = await s.execute(select(func.count()).select_from(DonorYear))
        return gifts, int(summed.scalar_one()), int(raised.scalar_one()), int(years.scalar_one())


async def test_bad_input_is_a_user_error_and_writes_nothing(giving: Giving) -> None:
    g = giving
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    for changes, code in [
        ({"amount": "0"}, "INVALID_AMOUNT"), ({"amount": "-5"}, "INVALID_AMOUNT"),
        ({"amount": "1.005"}, "INVALID_AMOUNT"), ({"amount": "NaN"}, "INVALID_AMOUNT"),
        ({"currency": "ZZZ", "campaignId": None}, "UNKNOWN_CURRENCY"),
        ({"currency": "EUR"}, "WRONG_CURRENCY"), ({"date": tomorrow}, "FUTURE_DATE"),
        ({"fundId": gid("Fund", 999)}, "NOT_FOUND"), ({"userId": gid("User", 999)}, "NOT_FOUND"),
        ({"userId": None, "donorName": "X", "donorEmail": "not-an-address"}, "INVALID"),
        ({"tribute": {"kind": "MEMORY", "name": " "}}, "REQUIRED"),
    ]:  # fmt: skip
        body = await g.gql("advancement", RECORD, {"i": given(g, **changes)})
        assert "errors" not in body, body
        payload = body["data"]["giftRecord"]
        assert code in codes(payload), (changes, payload)
        assert payload["gift"] is None and payload["created"] is False
    body = await g.gql(
        "alumnus", REPORT,
        {"i": {k: v for k, v in given(g, "-1").items() if k != "userId"}},
    )  # fmt: skip
    assert codes(body["data"]["giftReport"]) == ["INVALID_AMOUNT"]
    assert await counts(g) == (0, 0, 0, 0)
    gift = await record(g, "10")
    before = await counts(g)
    for amount in ("10.01", "0", "-1", "1.001"):
        body = await g.gql("advancement", REFUND, {"i": {"giftId": gift["id"], "amount": amount}})
        payload = body["data"]["giftRefund"]
        assert codes(payload) in (["REFUND_TOO_LARGE"], ["INVALID_AMOUNT"]), payload
    body = await g.gql("advancement", REFUND, {"i": {"giftId": gift["id"], "date": tomorrow}})
    assert codes(body["data"]["giftRefund"]) == ["FUTURE_DATE"]
    assert await counts(g) == before


async def test_a_key_sent_ten_times_at_once_records_one_gift(giving: Giving) -> None:
    g = giving
    sent = given(g, userId=None, donorName="Outside Friend", donorEmail="friend@example.org",
                 idempotencyKey="pay_77")  # fmt: skip
    bodies = await asyncio.gather(*(g.gql("advancement", RECORD, {"i": sent}) for _ in range(10)))
    payloads = [b["data"]["giftRecord"] for b in bodies]
    assert all(p["userErrors"] == [] for p in payloads), payloads
    assert len({p["gift"]["id"] for p in payloads}) == 1
    assert [p["created"] for p in payloads].count(True) == 1
    assert {p["gift"]["receiptNumber"] for p in payloads} == {f"{date.today().year}-000001"}
    assert await counts(g) == (1, 2550, 2550, 1)
    async with g.runtime.transaction() as uow:
        total = (await uow.session.execute(select(CampaignFundTotal))).scalar_one()
        assert total.gift_count == 1
        assert len((await uow.session.execute(select(CampaignDonor))).all()) == 1
    for other in ({"amount": "25.51"}, {"donorEmail": "other@example.org"},
                  {"date": "2026-03-02"}, {"fundId": gid("Fund", g.pks["fund2"])}):  # fmt: skip
        body = await g.gql("advancement", RECORD, {"i": {**sent, **other}})
        assert codes(body["data"]["giftRecord"]) == ["IDEMPOTENCY_CONFLICT"], other
    assert await counts(g) == (1, 2550, 2550, 1)


async def test_a_report_is_confirmed_or_declined_by_staff(giving: Giving) -> None:
    g = giving
    report = {k: v for k, v in given(g, "40").items() if k != "userId"}
    payload = await g.ok("alumnus", REPORT, {"i": {**report, "idempotencyKey": "r1"}},
                         "giftReport")  # fmt: skip
    assert payload["created"] is True and payload["gift"]["status"] == "PENDING"
    again = await g.ok("alumnus", REPORT, {"i": {**report, "idempotencyKey": "r1"}},
                       "giftReport")  # fmt: skip
    assert again["created"] is False and again["gift"]["id"] == payload["gift"]["id"]
    gift_id = payload["gift"]["id"]
    assert await counts(g) == (1, 4000, 0, 0)  # pending: not counted
    async with g.runtime.transaction() as uow:
        told = (await uow.session.execute(
            select(Notification.user_id).where(Notification.subject_type == "Gift")
        )).scalars().all()  # fmt: skip
    assert set(told) == {g.pks["admin"], g.pks["advancement"]}
    body = await g.gql("student", REPORT, {"i": report})
    assert codes(body["data"]["giftReport"]) == ["NOT_ALLOWED"]
    waiting = await g.gql("advancement", "{ giftsToConfirm { edges { node { id } } } }")
    assert [e["node"]["id"] for e in waiting["data"]["giftsToConfirm"]["edges"]] == [gift_id]
    for who in ("alumnus", "alumnus2", "manager", "student"):
        body = await g.gql(who, CONFIRM, {"id": gift_id})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
    done = await g.ok("advancement", CONFIRM, {"id": gift_id}, "giftConfirm")
    assert done["gift"]["status"] == "CONFIRMED" and done["gift"]["receiptNumber"]
    body = await g.gql("admin", CONFIRM, {"id": gift_id})
    assert codes(body["data"]["giftConfirm"]) == ["NOT_PENDING"]
    assert await counts(g) == (1, 4000, 4000, 1)
    async with g.runtime.transaction() as uow:
        thanked = (await uow.session.execute(
            select(Notification.title).where(Notification.user_id == g.pks["alumnus"])
        )).scalars().all()  # fmt: skip
    assert thanked == ["Your gift was confirmed"]
    second = await g.ok("alumnus", REPORT, {"i": report}, "giftReport")
    declined = await g.ok("advancement", DECLINE, {"id": second["gift"]["id"], "r": "Not found"},
                          "giftDecline")  # fmt: skip
    assert declined["gift"]["status"] == "DECLINED"
    assert declined["gift"]["declineReason"] == "Not found"
    assert await counts(g) == (2, 8000, 4000, 1)
    mine = await g.gql("alumnus", "{ myGifts { edges { node { id status } } } }")
    assert {e["node"]["status"] for e in mine["data"]["myGifts"]["edges"]} == {
        "CONFIRMED", "DECLINED",
    }  # fmt: skip
    others = await g.gql("alumnus2", "{ myGifts { totalCount } }")
    assert others["data"]["myGifts"]["totalCount"] == 0


async def test_refunds_are_linked_and_never_exceed_the_gift(giving: Giving) -> None:
    g = giving
    gift = await record(g, "100")
    first = await g.ok(
        "advancement",
        REFUND,
        {"i": {"giftId": gift["id"], "amount": "60", "idempotencyKey": "rf1"}},
        "giftRefund",
    )
    refund = first["gift"]
    assert (refund["kind"], refund["amount"]["amount"]) == ("REFUND", "60.00")
    assert refund["refundOf"]["id"] == gift["id"]
    again = await g.ok(
        "advancement",
        REFUND,
        {"i": {"giftId": gift["id"], "amount": "60", "idempotencyKey": "rf1"}},
        "giftRefund",
    )
    assert again["created"] is False and again["gift"]["id"] == refund["id"]
    body = await g.gql(
        "advancement", REFUND, {"i": {"giftId": gift["id"], "amount": "5", "idempotencyKey": "rf1"}}
    )
    assert codes(body["data"]["giftRefund"]) == ["IDEMPOTENCY_CONFLICT"]
    body = await g.gql("advancement", REFUND, {"i": {"giftId": refund["id"]}})
    assert codes(body["data"]["giftRefund"]) == ["NOT_REFUNDABLE"]
    # 40 left: two refunds of 30 at once, one refused.
    bodies = await asyncio.gather(*(
        g.gql("advancement", REFUND, {"i": {"giftId": gift["id"], "amount": "30"}})
        for _ in range(2)
    ))  # fmt: skip
    outcomes = sorted(str(codes(b["data"]["giftRefund"])) for b in bodies)
    assert outcomes == ["['REFUND_TOO_LARGE']", "[]"], bodies
    rest = await g.ok("advancement", REFUND, {"i": {"giftId": gift["id"]}}, "giftRefund")
    assert rest["gift"]["amount"]["amount"] == "10.00"
    body = await g.gql("advancement", REFUND, {"i": {"giftId": gift["id"]}})
    assert codes(body["data"]["giftRefund"]) == ["REFUND_TOO_LARGE"]
    for who in ("alumnus", "student", "manager"):
        body = await g.gql(who, REFUND, {"i": {"giftId": gift["id"]}})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
    listed = await g.gql("advancement", LIST, {"f": {"kind": "GIFT"}})
    [edge] = listed["data"]["gifts"]["edges"]
    assert edge["node"]["refundedAmount"]["amount"] == "100.00"
    assert [r["amount"]["amount"] for r in edge["node"]["refunds"]] == ["60.00", "30.00", "10.00"]
    gifts, summed, raised, _ = await counts(g)
    assert (gifts, summed, raised) == (4, 0, 0)
    async with g.runtime.transaction() as uow:
        year = (await uow.session.execute(select(DonorYear))).scalar_one()
        assert (year.year, year.total_minor, year.gift_count) == (2026, 0, 1)


async def test_only_giving_staff_and_the_donor_read_a_gift(giving: Giving) -> None:
    g = giving
    gift = await record(g, "75", anonymous=True, reference="CHQ-1",
                        softCreditUserId=g.ids["alumnus2"])  # fmt: skip
    for who in ("alumnus2", "manager", "student"):
        body = await g.gql(who, NODE, {"id": gift["id"]})
        assert body["data"]["node"] is None, who
    assert (await g.gql(None, NODE, {"id": gift["id"]}))["data"]["node"] is None  # type: ignore[arg-type]
    for who in ("alumnus", "advancement", "admin"):
        body = await g.gql(who, NODE, {"id": gift["id"]})
        assert body["data"]["node"]["reference"] == "CHQ-1", who
        assert body["data"]["node"]["donor"] is not None, who
    for who in ("alumnus", "alumnus2", "student", "manager"):
        body = await g.gql(who, RECORD, {"i": given(g)})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
        body = await g.gql(who, LIST, {})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
    assert await counts(g) == (1, 7500, 7500, 1)


async def test_the_gifts_list_reads_in_a_constant_number_of_statements(giving: Giving) -> None:
    g = giving

    async def grow(n: int) -> None:
        for i in range(n):
            gift = await record(g, f"{10 + i}", tribute={"kind": "HONOUR", "name": "A. Teacher"},
                                softCreditUserId=g.ids["alumnus2"])  # fmt: skip
            await g.ok("advancement", REFUND, {"i": {"giftId": gift["id"], "amount": "1"}},
                       "giftRefund")  # fmt: skip

    await grow(2)
    few, small = await g.api.sql_count(LIST, {}, token=g.tokens["advancement"])
    await grow(6)
    many, large = await g.api.sql_count(LIST, {}, token=g.tokens["advancement"])
    assert "errors" not in large, large
    assert large["data"]["gifts"]["totalCount"] == 16
    assert small["data"]["gifts"]["totalCount"] == 4
    assert many == few, (few, many)
    node = large["data"]["gifts"]["edges"][0]["node"]
    assert node["fund"]["name"] == "Scholarships" and node["campaign"]["name"] == "Library appeal"
