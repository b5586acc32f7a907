"""The running totals of giving, changed in the transaction that confirms, refunds or removes
a gift, so that campaign progress and the donor reports read a few rows rather than every
gift: what a campaign raised for each fund and from how many gifts (campaign_fund_totals),
which donors gave to it (campaign_donors, campaigns.donor_count), and each donor's giving
per calendar year and currency (donor_years).

Every change is one ``UPDATE … SET n = n + x`` (or an insert of the first row), never a
read followed by a write, so concurrent gifts add up exactly. Only confirmed gifts and their
refunds count. A refund counts against the year of the gift it refunds (a gift given in 2025
and refunded in 2026 leaves 2025's total smaller); it changes no gift or donor count.
"""

from __future__ import annotations

from sqlalchemy import delete, update

from alumnet.persistence.db import insert_or_ignore, upsert
from alumnet.persistence.models import (
    Campaign,
    CampaignDonor,
    CampaignFundTotal,
    DonorYear,
    Gift,
)
from alumnet.persistence.uow import UnitOfWork


def campaign_channel(campaign_id: int) -> str:
    """The channel a campaign's progress is published on after a change commits."""
    return f"giving.campaign.{campaign_id}"


async def apply(uow: UnitOfWork, gift: Gift, sign: int, *, year: int | None = None) -> None:
    """Count a confirmed gift or refund in the totals (``sign`` 1), or take it out again
    (``sign`` -1: a gift removed by an import's rollback). ``year`` is the calendar year the
    amount counts in: a refund passes its gift's year; a gift's own date by default."""
    assert sign in (1, -1)
    amount = gift.amount_minor * sign
    counted = sign if gift.kind == "gift" else 0
    session = uow.session
    if gift.campaign_id is not None:
        totals = upsert(session, CampaignFundTotal).values(
            campaign_id=gift.campaign_id, fund_id=gift.fund_id, raised_minor=amount,
            gift_count=max(counted, 0), pledged_minor=0,
        )  # fmt: skip
        t = CampaignFundTotal
        await session.execute(
            totals.on_conflict_do_update(
                index_elements=["campaign_id", "fund_id"],
                set_={
                    "raised_minor": t.raised_minor + amount,
                    "gift_count": t.gift_count + counted,
                },
            )
        )
        if counted:
            await _count_donor(uow, gift.campaign_id, gift.donor_id, counted)
        uow.publish(campaign_channel(gift.campaign_id), {"campaign": gift.campaign_id})
    given_year = year if year is not None else gift.gift_date.year
    years = upsert(session, DonorYear).values(
        donor_id=gift.donor_id, year=given_year, currency=gift.currency, total_minor=amount,
        gift_count=max(counted, 0),
    )  # fmt: skip
    await session.execute(
        years.on_conflict_do_update(
            index_elements=["donor_id", "year", "currency"],
            set_={
                "total_minor": DonorYear.total_minor + amount,
                "gift_count": DonorYear.gift_count + counted,
            },
        )
    )


async def _count_donor(uow: UnitOfWork, campaign_id: int, donor_id: int, counted: int) -> None:
    """A donor's gifts to a campaign, and the campaign's donors: one more when the donor's
    first gift there counts, one fewer when their last is taken out."""
    session = uow.session
    if counted > 0:
        values = {"campaign_id": campaign_id, "donor_id": donor_id, "gift_count": 1}
        if await insert_or_ignore(session, CampaignDonor, values, ["campaign_id", "donor_id"]):
            await session.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id)
                .values(donor_count=Campaign.donor_count + 1)
            )
            return
    mine = (CampaignDonor.campaign_id == campaign_id, CampaignDonor.donor_id == donor_id)
    await session.execute(
        update(CampaignDonor).where(*mine).values(gift_count=CampaignDonor.gift_count + counted)
    )
    if counted < 0:
        gone = await session.execute(
            delete(CampaignDonor)
            .where(*mine, CampaignDonor.gift_count <= 0)
            .returning(CampaignDonor.donor_id)
        )
        if gone.first() is not None:
            await session.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id)
                .values(donor_count=Campaign.donor_count - 1)
            )


async def change_pledged(
    uow: UnitOfWork, campaign_id: int | None, fund_id: int, amount_minor: int
) -> None:
    """What a campaign's pledges still promise for a fund, changed by ``amount_minor`` (more
    when a pledge's instalments are scheduled, less when one is paid, missed or cancelled)."""
    if campaign_id is None or amount_minor == 0:
        return
    statement = upsert(uow.session, CampaignFundTotal).values(
        campaign_id=campaign_id, fund_id=fund_id, raised_minor=0, gift_count=0,
        pledged_minor=amount_minor,
    )  # fmt: skip
    await uow.session.execute(
        statement.on_conflict_do_update(
            index_elements=["campaign_id", "fund_id"],
            set_={"pledged_minor": CampaignFundTotal.pledged_minor + amount_minor},
        )
    )
    uow.publish(campaign_channel(campaign_id), {"campaign": campaign_id})
