"""Pledges: a donor's promise to give an amount every month, quarter or year, a number of
times or until cancelled, and its instalments.

Instalments are rows: all of them for a pledge with a number of instalments; for an
open-ended one, those due within the next ``AHEAD`` (12 months), which the daily sweep
extends. Due dates run from ``starts_on`` by calendar months (a pledge started on the 31st
falls due at each month's end), each computed from the start so that none drifts.

An instalment is scheduled, then due (its date has come), then paid (a confirmed gift of
the donor, to the pledge's fund and in its currency, matched to it in the gift's
transaction: ``match_gift``) or missed (unpaid ``GRACE_DAYS`` after its date); the unpaid
ones of a cancelled pledge are cancelled. A pledge with ``LAPSE_AFTER`` missed instalments
(one, for a yearly pledge) lapses, and giving staff are told; a gift paid to a lapsed
pledge makes it active again, and from then on only instalments due after that gift count
towards lapsing again (``lapsed_at`` keeps the last lapse). Gifts dated before a pledge's
start, and imported gifts, pay no instalment. A pledge with a number of instalments
completes when all are paid.

A campaign's pledged total (``totals.change_pledged``) is what its active pledges still
promise: the scheduled and due instalments materialised so far (for an open-ended pledge,
those of the next 12 months). It rises when a pledge is made or extended, falls when an
instalment is paid or missed, when a pledge lapses or is cancelled, and rises again by its
scheduled and due instalments when a lapsed pledge is paid again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import aliased

from alumnet.domain import money
from alumnet.domain.communication.notifications import Item, notify_each
from alumnet.domain.errors import DomainError, Problems
from alumnet.domain.giving import donors as donor_rules
from alumnet.domain.giving import gifts as gift_rules
from alumnet.domain.giving import totals
from alumnet.domain.giving.donors import DonorRef
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Role, Viewer
from alumnet.domain.identity.users import holders_of
from alumnet.domain.runtime import Runtime
from alumnet.persistence.db import upsert
from alumnet.persistence.models import (
    Campaign,
    CampaignFund,
    Donor,
    Fund,
    Gift,
    Pledge,
    PledgeInstalment,
)
from alumnet.persistence.uow import UnitOfWork

SWEEP_JOB = "giving.pledges_sweep"
KIND = "giving"
STEPS = {
    "monthly": relativedelta(months=1),
    "quarterly": relativedelta(months=3),
    "yearly": relativedelta(years=1),
}
STATUSES = ("active", "completed", "lapsed", "cancelled")
INSTALMENT_STATUSES = ("scheduled", "due", "paid", "missed", "cancelled")
# Unpaid, and still counted in the campaign's pledged total (while the pledge is active).
PROMISED = ("scheduled", "due")
UNPAID = ("scheduled", "due", "missed")
OPEN = ("active", "lapsed")
INSTALMENTS_MAX = 600
# An open-ended pledge has its instalments of this far ahead as rows.
AHEAD = relativedelta(months=12)
# A pledge may start at most this long ago or ahead.
START_WINDOW = relativedelta(years=1)
REMIND_DAYS = 7
GRACE_DAYS = 30
LAPSE_AFTER = 2
KEY_MAX = 200
# Pledges an alumnus may have open (active or lapsed) at once, made by themselves.
OWN_OPEN_MAX = 20
# Rows a sweep step changes per transaction.
BATCH = 500


@dataclass(frozen=True)
class PledgeFields:
    """A pledge as given. Ids are primary keys (-1 for an id that names nothing)."""

    fund_id: int
    currency: str
    instalment_amount: Decimal
    frequency: str
    instalments: int | None
    starts_on: date
    campaign_id: int | None = None
    anonymous: bool = False
    idempotency_key: str | None = None


def today() -> date:
    return datetime.now(UTC).date()


def due_on(starts_on: date, frequency: str, seq: int) -> date:
    """The due date of instalment ``seq`` (from 1): from the start, never from the one
    before, so that a pledge started on the 31st falls due at each month's end."""
    return starts_on + STEPS[frequency] * (seq - 1)


def horizon(on: date) -> date:
    """The last due date an open-ended pledge has as a row on day ``on``."""
    return on + AHEAD


def readable(viewer: Viewer) -> Any:
    """SQL: the pledges the viewer may see: all for giving staff, else their own."""
    if viewer.can(Permission.GIVING):
        return None
    me = viewer.user_id if viewer.user_id is not None else -1
    return Pledge.donor_id.in_(select(Donor.id).where(Donor.user_id == me))


def _schedule(pledge: Pledge, first_seq: int, until: date | None, on: date) -> list[dict[str, Any]]:
    """The instalment rows from ``first_seq``: to the last one, or (open-ended) while due
    on or before ``until``; those already due are due."""
    rows: list[dict[str, Any]] = []
    seq = first_seq
    while True:
        if pledge.instalments is not None and seq > pledge.instalments:
            break
        day = due_on(pledge.starts_on, pledge.frequency, seq)
        if until is not None and day > until:
            break
        rows.append({
            "pledge_id": pledge.id, "seq": seq, "due_on": day,
            "amount_minor": pledge.instalment_minor,
            "status": "due" if day <= on else "scheduled",
        })  # fmt: skip
        seq += 1
    return rows


async def _insert(uow: UnitOfWork, rows: list[dict[str, Any]]) -> int:
    """Insert instalment rows; their sum."""
    if not rows:
        return 0
    await uow.session.execute(insert(PledgeInstalment), rows)
    return sum(int(r["amount_minor"]) for r in rows)


def _donor_of(viewer: Viewer, donor: DonorRef | None) -> DonorRef:
    """Who the pledge is for: anyone for giving staff; an alumnus only themselves."""
    if viewer.can(Permission.GIVING):
        if donor is None:
            raise DomainError.of("INVALID", "Name the donor: a user, a donor, or an outside "
                                 "donor's name and e-mail.", "donor")  # fmt: skip
        return donor
    me = viewer.require_user()
    if Role.ALUMNUS not in viewer.roles:
        raise DomainError.of("NOT_ALLOWED", "Alumni make their own pledges.", None)
    if donor is not None and donor != DonorRef(user_id=me):
        raise DomainError.of("NOT_ALLOWED", "You may pledge for yourself only.", "donor")
    return DonorRef(user_id=me)


async def _checked(
    uow: UnitOfWork, problems: Problems, given: PledgeFields, on: date
) -> tuple[str, int | None]:
    currency = gift_rules.check_currency(problems, given.currency)
    minor = gift_rules.check_amount(problems, given.instalment_amount, currency,
                                    "instalmentAmount")  # fmt: skip
    if given.frequency not in STEPS:
        problems.add("INVALID", "A pledge is monthly, quarterly or yearly.", "frequency")
    if given.instalments is not None and not 1 <= given.instalments <= INSTALMENTS_MAX:
        problems.add("INVALID", f"A pledge has 1 to {INSTALMENTS_MAX} instalments (or none "
                     "given: until cancelled).", "instalments")  # fmt: skip
    if given.starts_on < on - START_WINDOW:
        problems.add("OUT_OF_RANGE", "A pledge starts at most a year ago.", "startsOn")
    elif given.starts_on > on + START_WINDOW:
        problems.add("OUT_OF_RANGE", "A pledge starts at most a year ahead.", "startsOn")
    fund = await uow.session.get(Fund, given.fund_id)
    if fund is None or not fund.active:
        problems.add("NOT_FOUND", "No such open fund.", "fundId")
    if given.campaign_id is not None:
        campaign = await uow.session.get(Campaign, given.campaign_id)
        if campaign is None or campaign.status == "draft":
            problems.add("NOT_FOUND", "No such campaign.", "campaignId")
        elif campaign.status != "active":
            problems.add("CAMPAIGN_CLOSED", "This campaign takes no more pledges.", "campaignId")
        else:
            if campaign.currency != currency and money.known(currency):
                problems.add("WRONG_CURRENCY",
                             f"Pledges to this campaign are in {campaign.currency}.",
                             "currency")  # fmt: skip
            listed = set(
                (
                    await uow.session.execute(
                        select(CampaignFund.fund_id).where(CampaignFund.campaign_id == campaign.id)
                    )
                ).scalars()
            )
            if listed and given.fund_id not in listed:
                problems.add("WRONG_FUND", "This campaign does not raise for that fund.",
                             "fundId")  # fmt: skip
    key = given.idempotency_key
    if key is not None and not 0 < len(key) <= KEY_MAX:
        problems.add("INVALID", f"An idempotency key has 1 to {KEY_MAX} characters.",
                     "idempotencyKey")  # fmt: skip
    return currency, minor


def _same(pledge: Pledge, donor_id: int, given: PledgeFields, currency: str, minor: int) -> bool:
    return (
        pledge.donor_id == donor_id
        and pledge.fund_id == given.fund_id
        and pledge.campaign_id == given.campaign_id
        and pledge.currency == currency
        and pledge.instalment_minor == minor
        and pledge.frequency == given.frequency
        and pledge.instalments == given.instalments
        and pledge.starts_on == given.starts_on
    )


async def _by_key(uow: UnitOfWork, key: str | None) -> Pledge | None:
    if key is None:
        return None
    found = await uow.session.execute(select(Pledge).where(Pledge.idempotency_key == key))
    return found.scalar_one_or_none()


async def create(
    uow: UnitOfWork,
    viewer: Viewer,
    donor: DonorRef | None,
    given: PledgeFields,
    *,
    on: date | None = None,
) -> tuple[Pledge, bool]:
    """Make a pledge and its instalments; returns it and whether it is new (False: its
    idempotency key had made it already, and nothing was written). Giving staff pledge for
    any donor; an alumnus for themselves (``donor`` None or themselves)."""
    day = on or today()
    ref = _donor_of(viewer, donor)
    own = not viewer.can(Permission.GIVING)
    problems = Problems()
    currency, minor = await _checked(uow, problems, given, day)
    problems.raise_if_any()
    assert minor is not None
    me = viewer.require_user()
    key = given.idempotency_key
    if key is not None and own:
        key = f"self:{me}:{key}"
    who = await donor_rules.resolve(uow, ref)
    found = await _by_key(uow, key)
    if found is None and own:
        count = await uow.session.execute(
            select(func.count()).where(Pledge.donor_id == who.id, Pledge.status.in_(OPEN))
        )
        if int(count.scalar_one()) >= OWN_OPEN_MAX:
            raise DomainError.of("TOO_MANY", f"You have {OWN_OPEN_MAX} open pledges already.",
                                 None)  # fmt: skip
    if found is None:
        statement = upsert(uow.session, Pledge).values(
            donor_id=who.id, fund_id=given.fund_id, campaign_id=given.campaign_id,
            currency=currency, instalment_minor=minor, frequency=given.frequency,
            instalments=given.instalments, starts_on=given.starts_on, status="active",
            anonymous=given.anonymous, idempotency_key=key, recorded_by_id=me,
            created_at=datetime.now(UTC),
        )  # fmt: skip
        if key is not None:
            statement = statement.on_conflict_do_nothing(index_elements=["idempotency_key"])
        inserted = (await uow.session.execute(statement.returning(Pledge.id))).first()
        if inserted is not None:
            pledge = await uow.session.get(Pledge, inserted[0])
            assert pledge is not None
            until = None if pledge.instalments is not None else horizon(day)
            promised = await _insert(uow, _schedule(pledge, 1, until, day))
            await totals.change_pledged(uow, pledge.campaign_id, pledge.fund_id, promised)
            audit.record(uow, "pledge.create", object_type="Pledge", object_ids=[pledge.id],
                         details=_details(pledge))  # fmt: skip
            return pledge, True
        found = await _by_key(uow, key)  # another request made it meanwhile
        assert found is not None
    if not _same(found, who.id, given, currency, minor):
        raise DomainError.of("IDEMPOTENCY_CONFLICT",
                             "That idempotency key made a different pledge.",
                             "idempotencyKey")  # fmt: skip
    return found, False


def _details(pledge: Pledge) -> dict[str, Any]:
    amount = money.major_units(pledge.instalment_minor, pledge.currency)
    return {
        "donor": pledge.donor_id, "fund": pledge.fund_id, "campaign": pledge.campaign_id,
        "amount": str(amount), "currency": pledge.currency, "frequency": pledge.frequency,
        "instalments": pledge.instalments, "starts_on": pledge.starts_on.isoformat(),
        "status": pledge.status,
    }  # fmt: skip


async def _promised(uow: UnitOfWork, pledge_id: int) -> int:
    """What a pledge's scheduled and due instalments add up to."""
    found = await uow.session.execute(
        select(func.coalesce(func.sum(PledgeInstalment.amount_minor), 0)).where(
            PledgeInstalment.pledge_id == pledge_id, PledgeInstalment.status.in_(PROMISED)
        )
    )
    return int(found.scalar_one())


async def _locked(uow: UnitOfWork, pledge_id: int) -> Pledge | None:
    found = await uow.session.execute(
        select(Pledge).where(Pledge.id == pledge_id).with_for_update()
    )
    return found.scalar_one_or_none()


async def cancel(uow: UnitOfWork, viewer: Viewer, pledge_id: int) -> Pledge:
    """Giving staff, or the donor themselves, cancel an active or lapsed pledge: its unpaid
    instalments are cancelled and the campaign's pledged total falls by what it still
    promised."""
    me = viewer.require_user()
    pledge = await _locked(uow, pledge_id)
    if pledge is None:
        raise DomainError.of("NOT_FOUND", "No such pledge.", "id")
    if not viewer.can(Permission.GIVING):
        donor = await uow.session.get(Donor, pledge.donor_id)
        if donor is None or donor.user_id != me:
            raise DomainError.of("NOT_FOUND", "No such pledge.", "id")
    if pledge.status not in OPEN:
        raise DomainError.of("WRONG_STATUS", f"This pledge is {pledge.status}.", "id")
    promised = await _promised(uow, pledge.id) if pledge.status == "active" else 0
    await uow.session.execute(
        update(PledgeInstalment)
        .where(PledgeInstalment.pledge_id == pledge.id, PledgeInstalment.status.in_(UNPAID))
        .values(status="cancelled")
    )
    pledge.status, pledge.cancelled_at = "cancelled", datetime.now(UTC)
    await totals.change_pledged(uow, pledge.campaign_id, pledge.fund_id, -promised)
    audit.record(uow, "pledge.cancel", object_type="Pledge", object_ids=[pledge.id],
                 details=_details(pledge))  # fmt: skip
    return pledge


async def match_gift(uow: UnitOfWork, gift: Gift) -> None:
    """A gift just confirmed pays the oldest unpaid instalment (scheduled, due or missed) it
    covers, of an active or lapsed pledge of its donor, to its fund, in its currency (of
    the pledge ``gift.pledge_id`` names, if it names one: then it must be the donor's, or
    NOT_FOUND and nothing is written) that started on or before the gift's date. Imported
    gifts pay none. The instalment is paid with the gift, the gift linked to the pledge; a
    lapsed pledge becomes active again; a pledge whose every instalment is paid is
    completed. The pledge's row is locked first, so that two gifts
    at once pay two instalments and see each other's."""
    if gift.kind != "gift" or gift.status != "confirmed" or gift.source == "import":
        return
    if gift.pledge_id is not None:
        named = await uow.session.get(Pledge, gift.pledge_id)
        if named is None or named.donor_id != gift.donor_id:
            raise DomainError.of("NOT_FOUND", "No such pledge of this donor.", "pledgeId")
    wanted = (
        PledgeInstalment.status.in_(UNPAID),
        PledgeInstalment.amount_minor <= gift.amount_minor,
    )
    for _ in range(3):  # another gift may take the instalment first: look again
        candidates = (
            select(Pledge.id)
            .join(PledgeInstalment, PledgeInstalment.pledge_id == Pledge.id)
            .where(Pledge.donor_id == gift.donor_id, Pledge.fund_id == gift.fund_id,
                   Pledge.currency == gift.currency, Pledge.status.in_(OPEN),
                   Pledge.starts_on <= gift.gift_date, *wanted)
            .order_by(PledgeInstalment.due_on, PledgeInstalment.id)
            .limit(1)
        )  # fmt: skip
        if gift.pledge_id is not None:
            candidates = candidates.where(Pledge.id == gift.pledge_id)
        pledge_id = (await uow.session.execute(candidates)).scalar_one_or_none()
        if pledge_id is None:
            return
        pledge = await _locked(uow, pledge_id)
        if pledge is None or pledge.status not in OPEN:
            continue
        found = await uow.session.execute(
            select(PledgeInstalment)
            .where(PledgeInstalment.pledge_id == pledge.id, *wanted)
            .order_by(PledgeInstalment.due_on, PledgeInstalment.id)
            .limit(1)
            .with_for_update()
        )
        instalment = found.scalar_one_or_none()
        if instalment is None:
            continue
        await _pay(uow, pledge, instalment, gift)
        return


async def _pay(uow: UnitOfWork, pledge: Pledge, instalment: PledgeInstalment, gift: Gift) -> None:
    was = instalment.status
    instalment.status, instalment.gift_id = "paid", gift.id
    gift.pledge_id = pledge.id
    await uow.session.flush()
    change = 0
    if pledge.status == "lapsed":
        # Counted again: what it still promises (this instalment is paid now). ``lapsed_at``
        # stays: the sweep counts only instalments missed since this payment (``_lapse``).
        pledge.status = "active"
        change = await _promised(uow, pledge.id)
    elif was in PROMISED:
        change = -instalment.amount_minor
    if pledge.instalments is not None:
        left = await uow.session.execute(
            select(func.count()).where(
                PledgeInstalment.pledge_id == pledge.id, PledgeInstalment.status != "paid"
            )
        )
        if int(left.scalar_one()) == 0:
            pledge.status = "completed"
    await totals.change_pledged(uow, pledge.campaign_id, pledge.fund_id, change)
    audit.record(uow, "pledge.instalment_paid", object_type="Pledge",
                 object_ids=[pledge.id, instalment.id],
                 details={"gift": gift.id, "seq": instalment.seq,
                          "status": pledge.status})  # fmt: skip


# The sweep -------------------------------------------------------------------------------


def _by_total(rows: Iterable[Any]) -> dict[tuple[int | None, int], int]:
    """(campaign, fund) → amount, from rows of (campaign_id, fund_id, amount)."""
    summed: dict[tuple[int | None, int], int] = defaultdict(int)
    for campaign_id, fund_id, amount in rows:
        summed[(campaign_id, fund_id)] += int(amount)
    return summed


async def _change_all(
    uow: UnitOfWork, summed: dict[tuple[int | None, int], int], sign: int
) -> None:
    for (campaign_id, fund_id), amount in summed.items():
        await totals.change_pledged(uow, campaign_id, fund_id, sign * amount)


async def _extend(rt: Runtime, on: date) -> int:
    """Open-ended active pledges get their instalments of the next 12 months as rows."""
    until, made, after = horizon(on), 0, 0
    while True:
        async with rt.transaction() as uow:
            last = (
                select(func.max(PledgeInstalment.seq))
                .where(PledgeInstalment.pledge_id == Pledge.id)
                .scalar_subquery()
            )
            last_due = (
                select(func.max(PledgeInstalment.due_on))
                .where(PledgeInstalment.pledge_id == Pledge.id)
                .scalar_subquery()
            )
            found = (
                await uow.session.execute(
                    select(Pledge, last)
                    .where(Pledge.status == "active", Pledge.instalments.is_(None),
                           Pledge.id > after,
                           or_(last_due.is_(None), last_due < until))
                    .order_by(Pledge.id)
                    .limit(BATCH)
                )
            ).all()  # fmt: skip
            summed: dict[tuple[int | None, int], int] = defaultdict(int)
            for pledge, seq in found:
                rows = _schedule(pledge, int(seq or 0) + 1, until, on)
                summed[(pledge.campaign_id, pledge.fund_id)] += await _insert(uow, rows)
                made += len(rows)
            await _change_all(uow, summed, 1)
        if len(found) < BATCH:
            return made
        after = found[-1][0].id


async def _mark_due(rt: Runtime, on: date) -> int:
    done = 0
    while True:
        async with rt.transaction() as uow:
            ids = (
                await uow.session.execute(
                    select(PledgeInstalment.id)
                    .where(PledgeInstalment.status == "scheduled", PledgeInstalment.due_on <= on)
                    .order_by(PledgeInstalment.id)
                    .limit(BATCH)
                )
            ).scalars().all()  # fmt: skip
            if ids:
                await uow.session.execute(
                    update(PledgeInstalment)
                    .where(PledgeInstalment.id.in_(ids), PledgeInstalment.status == "scheduled")
                    .values(status="due")
                )
        done += len(ids)
        if len(ids) < BATCH:
            return done


async def _remind(rt: Runtime, on: date) -> int:
    """Donors with an account, once per instalment, within ``REMIND_DAYS`` of its date."""
    reminded, now = 0, datetime.now(UTC)
    while True:
        async with rt.transaction() as uow:
            found = (
                await uow.session.execute(
                    select(PledgeInstalment.id, PledgeInstalment.pledge_id,
                           PledgeInstalment.due_on, PledgeInstalment.amount_minor,
                           Pledge.currency, Donor.user_id, Fund.name)
                    .join(Pledge, Pledge.id == PledgeInstalment.pledge_id)
                    .join(Donor, Donor.id == Pledge.donor_id)
                    .join(Fund, Fund.id == Pledge.fund_id)
                    .where(PledgeInstalment.status == "scheduled",
                           PledgeInstalment.reminded_at.is_(None),
                           PledgeInstalment.due_on > on,
                           PledgeInstalment.due_on <= on + timedelta(days=REMIND_DAYS),
                           Pledge.status == "active", Donor.user_id.is_not(None))
                    .order_by(PledgeInstalment.id)
                    .limit(BATCH)
                )
            ).all()  # fmt: skip
            if found:
                await uow.session.execute(
                    update(PledgeInstalment)
                    .where(PledgeInstalment.id.in_([r[0] for r in found]))
                    .values(reminded_at=now)
                )
                items = [
                    Item(int(user_id or 0), f"Your pledge's instalment is due on {due.isoformat()}",
                         f"{money.major_units(amount, currency)} {currency} to {fund}.",
                         "Pledge", int(pledge_id))
                    for _, pledge_id, due, amount, currency, user_id, fund in found
                ]  # fmt: skip
                reminded += await notify_each(uow, KIND, items)
        if len(found) < BATCH:
            return reminded


async def _miss(rt: Runtime, on: date) -> int:
    """Instalments unpaid ``GRACE_DAYS`` after their date are missed; an active pledge's
    leave its campaign's pledged total."""
    cutoff, done = on - timedelta(days=GRACE_DAYS), 0
    while True:
        async with rt.transaction() as uow:
            found = (
                await uow.session.execute(
                    select(PledgeInstalment.id, Pledge.status, Pledge.campaign_id,
                           Pledge.fund_id, PledgeInstalment.amount_minor)
                    .join(Pledge, Pledge.id == PledgeInstalment.pledge_id)
                    .where(PledgeInstalment.status == "due", PledgeInstalment.due_on <= cutoff)
                    .order_by(PledgeInstalment.id)
                    .limit(BATCH)
                    .with_for_update(of=PledgeInstalment, skip_locked=True)
                )
            ).all()  # fmt: skip
            if found:
                await uow.session.execute(
                    update(PledgeInstalment)
                    .where(PledgeInstalment.id.in_([r[0] for r in found]))
                    .values(status="missed")
                )
                counted = [(c, f, a) for _, status, c, f, a in found if status == "active"]
                await _change_all(uow, _by_total(counted), -1)
        done += len(found)
        if len(found) < BATCH:
            return done


async def _lapse(rt: Runtime) -> int:
    """Active pledges with ``LAPSE_AFTER`` missed instalments (one, if yearly) lapse: what
    they still promise leaves the pledged total, and giving staff are told. A pledge that
    lapsed before and was paid again counts only the instalments due after that payment
    (the first confirmed after ``lapsed_at``), not those it had missed already."""
    paid = aliased(PledgeInstalment)
    reactivated = (
        select(func.min(Gift.confirmed_at))
        .join(paid, paid.gift_id == Gift.id)
        .where(paid.pledge_id == Pledge.id, Gift.confirmed_at >= Pledge.lapsed_at)
        .scalar_subquery()
    )
    missed = (
        select(func.count())
        .where(PledgeInstalment.pledge_id == Pledge.id, PledgeInstalment.status == "missed",
               or_(Pledge.lapsed_at.is_(None), PledgeInstalment.due_on > reactivated))
        .scalar_subquery()
    )  # fmt: skip
    lapsed, now = 0, datetime.now(UTC)
    while True:
        async with rt.transaction() as uow:
            found = (
                await uow.session.execute(
                    select(Pledge)
                    .where(Pledge.status == "active",
                           or_(missed >= LAPSE_AFTER,
                               (Pledge.frequency == "yearly") & (missed >= 1)))
                    .order_by(Pledge.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).scalars().all()  # fmt: skip
            summed: dict[tuple[int | None, int], int] = defaultdict(int)
            for pledge in found:
                summed[(pledge.campaign_id, pledge.fund_id)] += await _promised(uow, pledge.id)
                pledge.status, pledge.lapsed_at = "lapsed", now
            await _change_all(uow, summed, -1)
            if found:
                staff = await holders_of(uow, Permission.GIVING, everywhere=True)
                people = [int(i) for i in (await uow.session.execute(staff)).scalars()]
                names = dict(
                    (
                        await uow.session.execute(
                            select(Donor.id, Donor.name).where(
                                Donor.id.in_({p.donor_id for p in found})
                            )
                        )
                    ).all()
                )
                await notify_each(uow, KIND, [
                    Item(person, "A pledge lapsed",
                         f"{names.get(p.donor_id, 'A donor')}'s {p.frequency} pledge of "
                         f"{money.major_units(p.instalment_minor, p.currency)} {p.currency} "
                         "has missed its instalments.", "Pledge", p.id)
                    for p in found for person in people
                ])  # fmt: skip
                audit.record(uow, "pledge.lapse", object_type="Pledge",
                             object_ids=[p.id for p in found])  # fmt: skip
        lapsed += len(found)
        if len(found) < BATCH:
            return lapsed


async def sweep(rt: Runtime, on: date | None = None) -> dict[str, int]:
    """The scheduler's daily job, for day ``on`` (today, UTC): open-ended pledges extended
    to 12 months ahead; instalments whose date has come due; donors with an account
    reminded once, ``REMIND_DAYS`` before; instalments unpaid ``GRACE_DAYS`` after their
    date missed; pledges with too many missed lapsed, giving staff told. Each step in
    batches of ``BATCH`` rows per transaction; running it again the same day does nothing
    more."""
    day = on or today()
    extended = await _extend(rt, day)
    due = await _mark_due(rt, day)
    reminded = await _remind(rt, day)
    missed = await _miss(rt, day)
    lapsed = await _lapse(rt)
    return {"extended": extended, "due": due, "reminded": reminded, "missed": missed,
            "lapsed": lapsed}  # fmt: skip
