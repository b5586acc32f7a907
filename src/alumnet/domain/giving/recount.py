"""The running totals recounted from the gifts and pledges themselves, in SQL: what loads
gifts in bulk (the demo, the benchmark) calls once at the end instead of counting each gift,
and what checks that the totals kept gift by gift still add up (``differences``; the
``alumnet giving recount`` command reports them and, with ``--fix``, writes the recount).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, case, cast, delete, extract, func, insert, select, update

from alumnet.domain.giving.pledges import PROMISED
from alumnet.persistence.models import (
    Campaign,
    CampaignDonor,
    CampaignFundTotal,
    DonorYear,
    Gift,
    Pledge,
    PledgeInstalment,
)
from alumnet.persistence.uow import UnitOfWork

# Per table, its key (the primary key) and its counts.
Totals = dict[str, dict[Any, Any]]


def _counted() -> Any:
    """Confirmed gifts and refunds, each with the year it counts in (a refund: its gift's)."""
    original = Gift.__table__.alias("original")
    year = func.coalesce(original.c.gift_date, Gift.gift_date)
    return (
        select(
            Gift.donor_id,
            Gift.campaign_id,
            Gift.fund_id,
            Gift.currency,
            Gift.amount_minor,
            case((Gift.kind == "gift", 1), else_=0).label("one"),
            _year(year).label("year"),
        )
        .outerjoin(original, original.c.id == Gift.refund_of_id)
        .where(Gift.status == "confirmed")
        .subquery()
    )


def _year(day: Any) -> Any:
    return cast(extract("year", day), Integer)


async def _want(uow: UnitOfWork) -> Totals:
    counted = _counted()
    session = uow.session
    fund_rows = await session.execute(
        select(counted.c.campaign_id, counted.c.fund_id, func.sum(counted.c.amount_minor),
               func.sum(counted.c.one))
        .where(counted.c.campaign_id.is_not(None))
        .group_by(counted.c.campaign_id, counted.c.fund_id)
    )  # fmt: skip
    pledged_rows = await session.execute(
        select(Pledge.campaign_id, Pledge.fund_id, func.sum(PledgeInstalment.amount_minor))
        .join(PledgeInstalment, PledgeInstalment.pledge_id == Pledge.id)
        .where(Pledge.campaign_id.is_not(None), Pledge.status == "active",
               PledgeInstalment.status.in_(PROMISED))
        .group_by(Pledge.campaign_id, Pledge.fund_id)
    )  # fmt: skip
    funds: dict[tuple[Any, ...], tuple[int, ...]] = {}
    for campaign_id, fund_id, raised, gifts in fund_rows:
        funds[(campaign_id, fund_id)] = (int(raised or 0), int(gifts or 0), 0)
    for campaign_id, fund_id, pledged in pledged_rows:
        raised, gifts, _ = funds.get((campaign_id, fund_id), (0, 0, 0))
        funds[(campaign_id, fund_id)] = (raised, gifts, int(pledged or 0))
    donor_rows = await session.execute(
        select(counted.c.campaign_id, counted.c.donor_id, func.sum(counted.c.one))
        .where(counted.c.campaign_id.is_not(None))
        .group_by(counted.c.campaign_id, counted.c.donor_id)
        .having(func.sum(counted.c.one) > 0)
    )
    donors = {(c, d): (int(n),) for c, d, n in donor_rows}
    year_rows = await session.execute(
        select(counted.c.donor_id, counted.c.year, counted.c.currency,
               func.sum(counted.c.amount_minor), func.sum(counted.c.one))
        .group_by(counted.c.donor_id, counted.c.year, counted.c.currency)
    )  # fmt: skip
    years = {(d, int(y), c): (int(t or 0), int(n or 0)) for d, y, c, t, n in year_rows}
    return {"funds": funds, "donors": donors, "years": years}


async def _have(uow: UnitOfWork) -> Totals:
    session = uow.session
    t, cd, dy = CampaignFundTotal, CampaignDonor, DonorYear
    funds = {
        (r.campaign_id, r.fund_id): (int(r.raised_minor), int(r.gift_count), int(r.pledged_minor))
        for r in (await session.execute(select(t))).scalars()
    }
    donors = {
        (r.campaign_id, r.donor_id): (int(r.gift_count),)
        for r in (await session.execute(select(cd))).scalars()
    }
    years = {
        (r.donor_id, r.year, r.currency): (int(r.total_minor), int(r.gift_count))
        for r in (await session.execute(select(dy))).scalars()
    }
    return {"funds": funds, "donors": donors, "years": years}


def _zero(values: tuple[int, ...]) -> bool:
    return not any(values)


async def differences(uow: UnitOfWork) -> list[str]:
    """Where the kept totals differ from a recount (empty: they add up). Rows of zeros
    count as absent."""
    want, have = await _want(uow), await _have(uow)
    found: list[str] = []
    for table in ("funds", "donors", "years"):
        keys = set(want[table]) | set(have[table])
        for key in sorted(keys, key=str):
            a = want[table].get(key)
            b = have[table].get(key)
            if (a is None or _zero(a)) and (b is None or _zero(b)):
                continue
            if a != b:
                found.append(f"{table} {key}: kept {b}, recounted {a}")
    campaign_donors = await uow.session.execute(select(Campaign.id, Campaign.donor_count))
    counts: dict[Any, int] = {}
    for campaign_id, _ in want["donors"]:
        counts[campaign_id] = counts.get(campaign_id, 0) + 1
    for campaign_id, kept in campaign_donors:
        if int(kept) != counts.get(campaign_id, 0):
            found.append(f"campaign {campaign_id} donors: kept {kept}, "
                         f"recounted {counts.get(campaign_id, 0)}")  # fmt: skip
    return found


async def rewrite(uow: UnitOfWork) -> None:
    """Replace every running total by its recount, in the caller's transaction (which
    should be the only one writing gifts meanwhile)."""
    want = await _want(uow)
    session = uow.session
    await session.execute(delete(CampaignFundTotal))
    await session.execute(delete(CampaignDonor))
    await session.execute(delete(DonorYear))
    rows: list[dict[str, Any]] = [
        {"campaign_id": c, "fund_id": f, "raised_minor": r, "gift_count": n, "pledged_minor": p}
        for (c, f), (r, n, p) in want["funds"].items()
    ]
    if rows:
        await session.execute(insert(CampaignFundTotal), rows)
    donor_rows = [
        {"campaign_id": c, "donor_id": d, "gift_count": n}
        for (c, d), (n,) in want["donors"].items()
    ]
    for start in range(0, len(donor_rows), 5000):
        await session.execute(insert(CampaignDonor), donor_rows[start : start + 5000])
    year_rows = [
        {"donor_id": d, "year": y, "currency": c, "total_minor": t, "gift_count": n}
        for (d, y, c), (t, n) in want["years"].items()
    ]
    for start in range(0, len(year_rows), 5000):
        await session.execute(insert(DonorYear), year_rows[start : start + 5000])
    per_campaign = (
        select(func.count())
        .select_from(CampaignDonor)
        .where(CampaignDonor.campaign_id == Campaign.id)
        .scalar_subquery()
    )
    await session.execute(update(Campaign).values(donor_count=per_campaign))
