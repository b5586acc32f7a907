"""The demo's giving: four funds, three campaigns (the annual fund and a library appeal
running, last year's scholarship drive closed), three giving levels, five years of gifts
from about half the demo alumni and a few outside donors (some anonymous, some in honour or
memory of someone, a few refunded), a self-reported gift waiting for confirmation, and
monthly pledges part paid. Deterministic; bulk inserts; dates relative to today; the
totals recounted once at the end; no job, e-mail or notification is sent."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import insert, select

from alumnet.domain.careers.demo import ids_of_role
from alumnet.domain.giving import recount
from alumnet.persistence.models import (
    Campaign,
    CampaignFund,
    Donor,
    Fund,
    Gift,
    GivingLevel,
    Pledge,
    PledgeInstalment,
    ReceiptCounter,
    User,
)
from alumnet.persistence.uow import UnitOfWork

FUNDS = [
    ("ANNUAL", "Annual fund", "Where the need is greatest this year."),
    ("SCHOL", "Scholarships", "Fees and living costs for students who could not come otherwise."),
    ("LIBRARY", "New library", "The new library and learning commons."),
    ("HARDSHIP", "Student hardship fund", "Emergency grants for students in difficulty."),
]
LEVELS = [("Friends", 100_00), ("Patrons", 1_000_00), ("Founders' Circle", 10_000_00)]
OUTSIDE = [
    ("Grace Mensah", "grace.mensah@example.org"), ("Tunde Bakare", "tunde@example.org"),
    ("Helen Achieng", "helen.achieng@example.org"), ("The Okafor Family", "okafor@example.org"),
    ("Samuel Osei", "samuel.osei@example.org"), ("Marta Silva", "marta.silva@example.org"),
]  # fmt: skip
AMOUNTS = [25_00, 50_00, 50_00, 100_00, 100_00, 250_00, 500_00, 1_000_00, 2_500_00]
METHODS = ["card", "card", "online", "bank_transfer", "cheque", "cash"]
YEARS = 5


async def seed_giving(uow: UnitOfWork, domain: str) -> int:
    """Returns how many gifts it added (none when the funds exist already)."""
    session = uow.session
    if (await session.execute(select(Fund.id).limit(1))).first() is not None:
        return 0
    rng = random.Random(26)  # noqa: S311  (demo data, not secrets)
    now = datetime.now(UTC)
    today = now.date()
    funds: dict[str, int] = {}
    for code, name, description in FUNDS:
        row = Fund(code=code, name=name, description=description, created_at=now)
        session.add(row)
        await session.flush()
        funds[code] = int(row.id)
    campaigns = {
        "annual": await _campaign(uow, f"Annual fund {today.year}", 250_000_00,
                                  date(today.year, 1, 1), date(today.year, 12, 31), "active",
                                  [funds["ANNUAL"], funds["HARDSHIP"]], now),
        "library": await _campaign(uow, "The new library", 1_000_000_00,
                                   today - timedelta(days=400), today + timedelta(days=330),
                                   "active", [funds["LIBRARY"]], now),
        "scholarships": await _campaign(uow, f"Scholarships {today.year - 1}", 80_000_00,
                                        date(today.year - 1, 1, 1), date(today.year - 1, 12, 31),
                                        "closed", [funds["SCHOL"]], now),
    }  # fmt: skip
    await session.execute(
        insert(GivingLevel),
        [{"name": n, "currency": "USD", "min_yearly_minor": m, "created_at": now}
         for n, m in LEVELS],
    )  # fmt: skip
    alumni = await ids_of_role(uow, "ALUMNUS", 400)
    people = (
        await session.execute(select(User.id, User.name, User.email).where(User.id.in_(alumni)))
    ).all()
    donor_rows = [{"user_id": i, "name": n, "email": e, "email_key": None, "created_at": now}
                  for i, n, e in people if rng.random() < 0.5]  # fmt: skip
    donor_rows += [{"user_id": None, "name": n, "email": e, "email_key": e, "created_at": now}
                   for n, e in OUTSIDE]  # fmt: skip
    await session.execute(insert(Donor), donor_rows)
    donors = [
        (int(i), u)
        for i, u in (await session.execute(select(Donor.id, Donor.user_id).order_by(Donor.id)))
    ]
    gifts: list[dict[str, Any]] = []
    seq: dict[int, int] = {}
    for donor_id, _ in donors:
        loyal = rng.random() < 0.4
        for back in range(YEARS - 1, -1, -1):
            if not loyal and rng.random() < 0.55:
                continue
            year = today.year - back
            for _ in range(rng.choice((1, 1, 1, 2))):
                day = _day(rng, year, today)
                campaign, fund = _designation(rng, campaigns, funds, day, today)
                receipt_year = day.year
                seq[receipt_year] = seq.get(receipt_year, 0) + 1
                gifts.append({
                    "kind": "gift", "status": "confirmed", "donor_id": donor_id,
                    "amount_minor": rng.choice(AMOUNTS), "currency": "USD", "gift_date": day,
                    "fund_id": fund, "campaign_id": campaign,
                    "payment_method": rng.choice(METHODS), "reference": None,
                    "idempotency_key": f"demo:{len(gifts)}",
                    "anonymous": rng.random() < 0.1,
                    "tribute_kind": "memory" if rng.random() < 0.04 else None,
                    "source": "staff", "receipt_year": receipt_year,
                    "receipt_seq": seq[receipt_year],
                    "created_at": datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
                    "confirmed_at": datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
                })  # fmt: skip
                if gifts[-1]["tribute_kind"]:
                    gifts[-1]["tribute_name"] = "Prof. Ama Owusu"
    await session.execute(insert(Gift), gifts)
    await _refunds(uow, rng, now)
    await _pending(uow, donors, funds, campaigns, today, now)
    await _pledges(uow, donors, funds, campaigns, today, now, seq)
    await session.execute(
        insert(ReceiptCounter), [{"year": y, "last_seq": n} for y, n in sorted(seq.items())]
    )
    await recount.rewrite(uow)
    return len(gifts)


async def _campaign(
    uow: UnitOfWork, name: str, goal: int, starts: date, ends: date, status: str,
    funds: list[int], now: datetime,
) -> int:  # fmt: skip
    campaign = Campaign(
        name=name, description=f"{name}: every gift counts.", currency="USD", goal_minor=goal,
        starts_on=starts, ends_on=ends, status=status, created_at=now, updated_at=now,
    )  # fmt: skip
    uow.session.add(campaign)
    await uow.session.flush()
    for position, fund_id in enumerate(funds):
        uow.session.add(CampaignFund(campaign_id=campaign.id, fund_id=fund_id, position=position))
    return int(campaign.id)


def _day(rng: random.Random, year: int, today: date) -> date:
    last = today if year == today.year else date(year, 12, 31)
    first = date(year, 1, 1)
    return first + timedelta(days=rng.randrange((last - first).days + 1))


def _designation(
    rng: random.Random, campaigns: dict[str, int], funds: dict[str, int], day: date, today: date
) -> tuple[int | None, int]:
    if day.year == today.year and rng.random() < 0.6:
        return campaigns["annual"], funds[rng.choice(("ANNUAL", "ANNUAL", "HARDSHIP"))]
    if day >= today - timedelta(days=400) and rng.random() < 0.5:
        return campaigns["library"], funds["LIBRARY"]
    if day.year == today.year - 1 and rng.random() < 0.5:
        return campaigns["scholarships"], funds["SCHOL"]
    return None, funds[rng.choice(("ANNUAL", "SCHOL", "HARDSHIP"))]


async def _refunds(uow: UnitOfWork, rng: random.Random, now: datetime) -> None:
    """A few gifts refunded in full (a card payment disputed), as linked entries."""
    found = await uow.session.execute(
        select(Gift).where(Gift.payment_method == "card").order_by(Gift.id).limit(200)
    )
    chosen = [g for g in found.scalars() if rng.random() < 0.03]
    rows = [{
        "kind": "refund", "status": "confirmed", "donor_id": g.donor_id,
        "amount_minor": -g.amount_minor, "currency": g.currency,
        "gift_date": min(g.gift_date + timedelta(days=10), now.date()), "fund_id": g.fund_id,
        "campaign_id": g.campaign_id, "payment_method": g.payment_method,
        "source": "staff", "refund_of_id": g.id, "note": "Card payment disputed.",
        "anonymous": g.anonymous, "created_at": now, "confirmed_at": now,
    } for g in chosen]  # fmt: skip
    if rows:
        await uow.session.execute(insert(Gift), rows)


async def _pending(
    uow: UnitOfWork, donors: list[tuple[int, int | None]], funds: dict[str, int],
    campaigns: dict[str, int], today: date, now: datetime,
) -> None:  # fmt: skip
    """The demo alumnus's own gift, reported and waiting for giving staff."""
    people = [d for d, user in donors if user is not None]
    if not people:
        return
    uow.session.add(Gift(
        kind="gift", status="pending", donor_id=people[0], amount_minor=150_00, currency="USD",
        gift_date=today - timedelta(days=2), fund_id=funds["ANNUAL"],
        campaign_id=campaigns["annual"], payment_method="bank_transfer",
        reference="Standing order", source="self", created_at=now,
    ))  # fmt: skip


async def _pledges(
    uow: UnitOfWork, donors: list[tuple[int, int | None]], funds: dict[str, int],
    campaigns: dict[str, int], today: date, now: datetime, seq: dict[int, int],
) -> None:  # fmt: skip
    """Monthly pledges to the library of a year, started some months ago: the past months
    paid (their gifts added), the rest scheduled; one lapsed with two missed."""
    session = uow.session
    pledgers = [d for d, _ in donors[:12]]
    for n, donor_id in enumerate(pledgers):
        started = date(today.year, today.month, 1) - relativedelta(months=3 + n % 4)
        lapsed = n == len(pledgers) - 1
        pledge = Pledge(
            donor_id=donor_id, fund_id=funds["LIBRARY"], campaign_id=campaigns["library"],
            currency="USD", instalment_minor=50_00, frequency="monthly", instalments=12,
            starts_on=started, status="lapsed" if lapsed else "active", created_at=now,
            lapsed_at=now if lapsed else None,
        )  # fmt: skip
        session.add(pledge)
        await session.flush()
        for number in range(1, 13):
            due = started + relativedelta(months=number - 1)
            row: dict[str, Any] = {"pledge_id": pledge.id, "seq": number, "due_on": due,
                                   "amount_minor": 50_00, "status": "scheduled"}  # fmt: skip
            if due <= today - timedelta(days=30):
                row["status"] = "missed" if lapsed else "paid"
            elif due <= today:
                row["status"] = "due"
            if row["status"] == "paid":
                seq[due.year] = seq.get(due.year, 0) + 1
                gift = Gift(
                    receipt_year=due.year, receipt_seq=seq[due.year],
                    kind="gift", status="confirmed", donor_id=donor_id, amount_minor=50_00,
                    currency="USD", gift_date=due, fund_id=funds["LIBRARY"],
                    campaign_id=campaigns["library"], payment_method="card", source="staff",
                    pledge_id=pledge.id, created_at=now, confirmed_at=now,
                )  # fmt: skip
                session.add(gift)
                await session.flush()
                row["gift_id"] = gift.id
            await session.execute(insert(PledgeInstalment), [row])
