"""The core of giving, through its domain functions: a gift recorded once per key, counted
in the totals once, receipted with numbers that run on, refunded within its amount."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from alumnet.domain.errors import DomainError
from alumnet.domain.giving import gifts, recount
from alumnet.domain.giving.donors import DonorRef
from alumnet.domain.identity.permissions import Role, Viewer
from alumnet.persistence.models import Campaign, CampaignFundTotal, DonorYear, Gift
from tests.giving.conftest import Giving


def staff(g: Giving) -> Viewer:
    roles = frozenset({Role.ADVANCEMENT})
    return Viewer(user_id=g.pks["advancement"], roles=roles)


def fields(g: Giving, amount: str = "25.50", **more: object) -> gifts.GiftFields:
    given: dict[str, object] = {
        "amount": Decimal(amount), "currency": "USD", "gift_date": date(2026, 3, 1),
        "fund_id": g.pks["fund"], "campaign_id": g.pks["campaign"], "payment_method": "card",
    }  # fmt: skip
    given.update(more)
    return gifts.GiftFields(**given)  # type: ignore[arg-type]


async def test_a_key_records_one_gift_and_the_totals_once(giving: Giving) -> None:
    g = giving
    donor = DonorRef(name="Outside Friend", email="Friend@Example.org")

    async def send() -> int:
        async with g.runtime.transaction() as uow:
            gift, _ = await gifts.record(
                uow, staff(g), donor, fields(g, idempotency_key="pay_1"), source="staff"
            )
            return int(gift.id)

    made = await asyncio.gather(*(send() for _ in range(6)))
    assert len(set(made)) == 1
    async with g.runtime.transaction() as uow:
        s = uow.session
        rows = (await s.execute(select(Gift))).scalars().all()
        assert len(rows) == 1
        assert rows[0].receipt_year is not None
        assert rows[0].receipt_seq == 1
        total = (await s.execute(select(CampaignFundTotal))).scalar_one()
        assert (total.raised_minor, total.gift_count) == (2550, 1)
        campaign = await s.get(Campaign, g.pks["campaign"])
        assert campaign is not None
        assert campaign.donor_count == 1
        year = (await s.execute(select(DonorYear))).scalar_one()
        assert (year.year, year.total_minor, year.gift_count) == (2026, 2550, 1)


async def test_bad_amounts_and_refunds_are_refused(giving: Giving) -> None:
    g = giving
    donor = DonorRef(user_id=g.pks["alumnus"])
    for amount, currency, code in [
        ("0", "USD", "INVALID_AMOUNT"), ("-1", "USD", "INVALID_AMOUNT"),
        ("1.005", "USD", "INVALID_AMOUNT"), ("10.5", "JPY", "INVALID_AMOUNT"),
        ("10", "ZZZ", "UNKNOWN_CURRENCY"), ("10", "EUR", "WRONG_CURRENCY"),
    ]:  # fmt: skip
        with pytest.raises(DomainError) as caught:
            async with g.runtime.transaction() as uow:
                await gifts.record(uow, staff(g), donor, fields(g, amount, currency=currency),
                                   source="staff")  # fmt: skip
        assert code in [p.code for p in caught.value.problems], (amount, currency)
    with pytest.raises(DomainError):
        async with g.runtime.transaction() as uow:
            await gifts.record(uow, staff(g), donor, fields(g, gift_date=date(2099, 1, 1)),
                               source="staff")  # fmt: skip
    async with g.runtime.transaction() as uow:
        gift, _ = await gifts.record(uow, staff(g), donor, fields(g, "100"), source="staff")
        gift_id = gift.id
    async with g.runtime.transaction() as uow:
        await gifts.refund(uow, staff(g), gift_id, amount=Decimal("60"))
    with pytest.raises(DomainError) as caught:
        async with g.runtime.transaction() as uow:
            await gifts.refund(uow, staff(g), gift_id, amount=Decimal("40.01"))
    assert caught.value.problems[0].code == "REFUND_TOO_LARGE"
    async with g.runtime.transaction() as uow:
        await gifts.refund(uow, staff(g), gift_id)
        s = uow.session
        total = (await s.execute(select(CampaignFundTotal))).scalar_one()
        assert (total.raised_minor, total.gift_count) == (0, 1)
        count = len((await s.execute(select(Gift))).scalars().all())
        assert count == 3


async def test_staff_neither_record_nor_refund_their_own_gift(giving: Giving) -> None:
    """Four eyes: giving staff report their own gift (another confirms it), never record or
    refund it themselves."""
    g = giving
    with pytest.raises(DomainError) as caught:
        async with g.runtime.transaction() as uow:
            await gifts.record(uow, staff(g), DonorRef(user_id=g.pks["advancement"]), fields(g),
                               source="staff")  # fmt: skip
    assert caught.value.problems[0].code == "NOT_ALLOWED"
    async with g.runtime.transaction() as uow:
        assert (await uow.session.execute(select(Gift))).first() is None
    admin = Viewer(user_id=g.pks["admin"], roles=frozenset({Role.ADMIN}))
    async with g.runtime.transaction() as uow:
        gift, _ = await gifts.record(uow, admin, DonorRef(user_id=g.pks["advancement"]),
                                     fields(g), source="staff")  # fmt: skip
        gift_id = gift.id
    with pytest.raises(DomainError) as caught:
        async with g.runtime.transaction() as uow:
            await gifts.refund(uow, staff(g), gift_id)
    assert caught.value.problems[0].code == "NOT_ALLOWED"
    async with g.runtime.transaction() as uow:
        await gifts.refund(uow, admin, gift_id)
        assert await recount.differences(uow) == []
