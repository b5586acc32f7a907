"""Gifts: recorded exactly once, confirmed, declined and refunded.

Giving staff (``giving``) record gifts confirmed; an alumnus reports their own (``pending``)
and giving staff confirm or decline it; the payment provider's webhook and imports record
them through ``record`` too. An ``idempotency_key`` (the payment reference, an import row's
key, a script's key) makes the same gift recorded once however often it is sent: the
insert is ``ON CONFLICT DO NOTHING`` on the key, and a second sending gets the first gift
back (or IDEMPOTENCY_CONFLICT if it says something else under the same key).

A gift counts when it is confirmed: in the same transaction it gets the next receipt number
of the year it is confirmed in (receipt_counters, raised by one under the row's lock, so
numbers run on without gaps and are never reused), is added to the running totals
(``totals``), is matched to a due pledge instalment, and its receipt is queued. Imported
gifts were receipted by the system they came from: they get no receipt number here.

A refund is a gift row of its own (kind ``refund``, a negative amount, ``refund_of_id``),
never an edit of the gift; the refunds of a gift never add up to more than it. A recorded
gift is never edited: a wrong one is refunded (or, when it came from an import, rolled back
with the import).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select, update

from alumnet.domain import money
from alumnet.domain.communication.notifications import Event as Notice
from alumnet.domain.communication.notifications import notify
from alumnet.domain.errors import DomainError, Problems, check_label, check_text
from alumnet.domain.giving import donors as donor_rules
from alumnet.domain.giving import totals
from alumnet.domain.giving.donors import DonorRef
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Role, Viewer
from alumnet.domain.identity.users import holders_of
from alumnet.domain.ops import webhooks
from alumnet.persistence.db import insert_or_ignore, upsert
from alumnet.persistence.models import (
    Campaign,
    CampaignFund,
    Donor,
    Fund,
    Gift,
    ReceiptCounter,
    User,
)
from alumnet.persistence.uow import UnitOfWork

METHODS = ("cash", "cheque", "card", "bank_transfer", "online", "other")
SOURCES = ("staff", "self", "provider", "import")
TRIBUTES = ("honour", "memory")
KEY_MAX = 200
REFERENCE_MAX = 200
NOTE_MAX = 2_000
REASON_MAX = 500
EARLIEST = date(1900, 1, 1)
# A self-reported gift waits for staff; one person may have this many waiting at once.
WAITING_MAX = 20


@dataclass(frozen=True)
class GiftFields:
    """A gift as given. Ids are primary keys (-1 for an id that names nothing)."""

    amount: Decimal
    currency: str
    gift_date: date
    fund_id: int
    campaign_id: int | None = None
    payment_method: str = "other"
    reference: str | None = None
    idempotency_key: str | None = None
    anonymous: bool = False
    tribute_kind: str | None = None
    tribute_name: str | None = None
    soft_credit_user_id: int | None = None
    note: str | None = None
    pledge_id: int | None = None


def readable(viewer: Viewer) -> ColumnElement[bool] | None:
    """Which gifts ``viewer`` reads: every one with ``giving`` (None: no condition); else
    their own donor's (anonymous ones included); nothing for a caller who is not signed in."""
    if viewer.can(Permission.GIVING):
        return None
    mine = select(Donor.id).where(Donor.user_id == (viewer.user_id or -1))
    return Gift.donor_id.in_(mine.scalar_subquery())


def today() -> date:
    return datetime.now(UTC).date()


def receipt_number(gift: Gift) -> str | None:
    """A gift's receipt number as printed: the year and the number within it."""
    if gift.receipt_year is None or gift.receipt_seq is None:
        return None
    return f"{gift.receipt_year}-{gift.receipt_seq:06d}"


def check_amount(
    problems: Problems, amount: Decimal, currency: str, field: str = "amount"
) -> int | None:
    """The amount in minor units if it is more than zero and exact in the currency; each
    problem added (the currency's is the caller's)."""
    places = money.digits(currency)
    if places is None:
        return None
    minor = money.minor_units(amount, currency)
    if minor is None:
        problems.add(
            "INVALID_AMOUNT", f"An amount in {currency} has at most {places} decimal places "
            "(and at most 15 digits before the point).", field,
        )  # fmt: skip
        return None
    if minor <= 0:
        problems.add("INVALID_AMOUNT", "The amount must be more than zero.", field)
        return None
    return minor


def check_currency(problems: Problems, currency: str, field: str = "currency") -> str:
    code = (currency or "").strip().upper()
    if not money.known(code):
        problems.add("UNKNOWN_CURRENCY", "Give an ISO 4217 currency code (USD, EUR, GHS).", field)
    return code


def check_date(problems: Problems, day: date, field: str = "date") -> None:
    if day > today():
        problems.add("FUTURE_DATE", "A gift cannot be dated in the future.", field)
    elif day < EARLIEST:
        problems.add("INVALID", f"A gift is dated on or after {EARLIEST}.", field)


async def checked(uow: UnitOfWork, problems: Problems, given: GiftFields) -> dict[str, Any]:
    """The gift's columns, checked; every problem added, none raised."""
    currency = check_currency(problems, given.currency)
    minor = check_amount(problems, given.amount, currency)
    check_date(problems, given.gift_date)
    if given.payment_method not in METHODS:
        problems.add("INVALID", "Unknown payment method.", "paymentMethod")
    fund = await uow.session.get(Fund, given.fund_id)
    if fund is None or not fund.active:
        problems.add("NOT_FOUND", "No such open fund.", "fundId")
    if given.campaign_id is not None:
        campaign = await uow.session.get(Campaign, given.campaign_id)
        if campaign is None or campaign.status == "draft":
            problems.add("NOT_FOUND", "No such campaign.", "campaignId")
        else:
            if campaign.currency != currency and money.known(currency):
                problems.add(
                    "WRONG_CURRENCY", f"Gifts to this campaign are in {campaign.currency}.",
                    "currency",
                )  # fmt: skip
            funds = (
                await uow.session.execute(
                    select(CampaignFund.fund_id).where(CampaignFund.campaign_id == campaign.id)
                )
            ).scalars()
            listed = set(funds)
            if listed and given.fund_id not in listed:
                problems.add("WRONG_FUND", "This campaign does not raise for that fund.",
                             "fundId")  # fmt: skip
    tribute_name = None
    if given.tribute_kind is not None or given.tribute_name is not None:
        if given.tribute_kind not in TRIBUTES:
            problems.add("INVALID", "A tribute is in honour or in memory of someone.",
                         "tributeKind")  # fmt: skip
        tribute_name = check_label(
            problems, given.tribute_name or "", field="tributeName", max_length=200,
            min_length=1, label="The name honoured",
        )  # fmt: skip
    credited = given.soft_credit_user_id
    if credited is not None and await uow.session.get(User, credited) is None:
        problems.add("NOT_FOUND", "No such person to credit.", "softCreditUserId")
    reference = check_text(
        problems, given.reference, field="reference", max_length=REFERENCE_MAX,
        label="The reference",
    )  # fmt: skip
    note = check_text(problems, given.note, field="note", max_length=NOTE_MAX, label="The note")
    key = given.idempotency_key
    if key is not None and not 0 < len(key) <= KEY_MAX:
        problems.add("INVALID", f"An idempotency key has 1 to {KEY_MAX} characters.",
                     "idempotencyKey")  # fmt: skip
    return {
        "amount_minor": minor, "currency": currency, "gift_date": given.gift_date,
        "fund_id": given.fund_id, "campaign_id": given.campaign_id,
        "payment_method": given.payment_method, "reference": reference or None,
        "idempotency_key": key, "anonymous": given.anonymous,
        "tribute_kind": given.tribute_kind if tribute_name else None,
        "tribute_name": tribute_name or None, "soft_credit_user_id": given.soft_credit_user_id,
        "note": note or None, "pledge_id": given.pledge_id,
    }  # fmt: skip


def _same(gift: Gift, donor: Donor | None, ref: DonorRef, values: dict[str, Any]) -> bool:
    """Whether a gift already recorded under a key is the one sent again: the same donor,
    amount, currency, date, fund and campaign (and a gift, not a refund)."""
    return (
        gift.kind == "gift"
        and donor is not None
        and donor_rules.names(ref, donor)
        and gift.amount_minor == values["amount_minor"]
        and gift.currency == values["currency"]
        and gift.gift_date == values["gift_date"]
        and gift.fund_id == values["fund_id"]
        and gift.campaign_id == values["campaign_id"]
    )


async def record(
    uow: UnitOfWork,
    viewer: Viewer | None,
    donor: DonorRef,
    given: GiftFields,
    *,
    source: str,
    status: str = "confirmed",
    import_id: int | None = None,
) -> tuple[Gift, bool]:
    """Record a gift; returns it and whether it is new (False: its idempotency key had
    recorded it already, and nothing was written). ``viewer`` is None for the payment
    provider's webhook, which has verified the request itself; anyone else needs ``giving``
    (``report_own`` is the alumni's way)."""
    assert source in SOURCES
    assert status in ("confirmed", "pending")
    if viewer is not None and source != "self":
        viewer.require(Permission.GIVING)
    problems = Problems()
    values = await checked(uow, problems, given)
    problems.raise_if_any()
    found = await _by_key(uow, given.idempotency_key)
    if found is not None:
        return await _again(uow, found, donor, values), False
    who = await donor_rules.resolve(uow, donor)
    if viewer is not None and source == "staff" and who.user_id == viewer.user_id:
        # Four eyes: one's own gift is reported (giftReport) and confirmed by another.
        raise DomainError.of(
            "NOT_ALLOWED", "Report your own gift; another member of staff confirms it.",
            "donor",
        )  # fmt: skip
    now = datetime.now(UTC)
    row = {
        **values, "kind": "gift", "status": status, "donor_id": who.id, "source": source,
        "import_id": import_id, "created_at": now,
        "recorded_by_id": viewer.user_id if viewer is not None else None,
    }  # fmt: skip
    statement = upsert(uow.session, Gift).values(**row)
    if given.idempotency_key is not None:
        statement = statement.on_conflict_do_nothing(index_elements=["idempotency_key"])
    inserted = (await uow.session.execute(statement.returning(Gift.id))).first()
    if inserted is None:  # another request recorded it meanwhile
        again = await _by_key(uow, given.idempotency_key)
        assert again is not None
        return await _again(uow, again, donor, values), False
    gift = await uow.session.get(Gift, inserted[0])
    assert gift is not None
    if status == "confirmed":
        await confirmed(uow, gift, receipt=source != "import")
    audit.record(
        uow, f"gift.{'report' if status == 'pending' else 'record'}", object_type="Gift",
        object_ids=[gift.id], details=_details(gift),
        actor_id=viewer.user_id if viewer is not None else None,
    )  # fmt: skip
    return gift, True


async def _again(uow: UnitOfWork, gift: Gift, ref: DonorRef, values: dict[str, Any]) -> Gift:
    """The gift a key recorded before, if it is the one sent again; IDEMPOTENCY_CONFLICT if
    the key recorded something else."""
    donor = await uow.session.get(Donor, gift.donor_id)
    if not _same(gift, donor, ref, values):
        raise DomainError.of(
            "IDEMPOTENCY_CONFLICT", "That idempotency key recorded a different gift.",
            "idempotencyKey",
        )  # fmt: skip
    return gift


async def _by_key(uow: UnitOfWork, key: str | None) -> Gift | None:
    if key is None:
        return None
    found = await uow.session.execute(select(Gift).where(Gift.idempotency_key == key))
    return found.scalar_one_or_none()


def _details(gift: Gift) -> dict[str, Any]:
    amount = money.major_units(gift.amount_minor, gift.currency)
    return {
        "donor": gift.donor_id, "amount": str(amount), "currency": gift.currency,
        "date": gift.gift_date.isoformat(), "fund": gift.fund_id, "campaign": gift.campaign_id,
        "kind": gift.kind, "status": gift.status, "source": gift.source,
    }  # fmt: skip


async def next_receipt(uow: UnitOfWork, year: int) -> int:
    """The next receipt number of ``year``: the counter raised by one under its row's lock,
    in the caller's transaction (rolled back with it, so no number is lost or reused)."""
    await insert_or_ignore(uow.session, ReceiptCounter, {"year": year, "last_seq": 0}, ["year"])
    raised = await uow.session.execute(
        update(ReceiptCounter)
        .where(ReceiptCounter.year == year)
        .values(last_seq=ReceiptCounter.last_seq + 1)
        .returning(ReceiptCounter.last_seq)
    )
    return int(raised.scalar_one())


async def confirmed(uow: UnitOfWork, gift: Gift, *, receipt: bool = True) -> None:
    """What follows a gift's confirmation, in its transaction: its receipt number (unless
    ``receipt`` is False: an imported gift), the totals, its pledge instalment, its
    receipt's job, its ``gift.confirmed`` webhook event (not an imported gift's)."""
    now = datetime.now(UTC)
    gift.status, gift.confirmed_at = "confirmed", now
    if receipt and gift.kind == "gift":
        gift.receipt_year = now.year
        gift.receipt_seq = await next_receipt(uow, now.year)
    await uow.session.flush()
    await totals.apply(uow, gift, 1)
    from alumnet.domain.giving import pledges, receipts  # they read gifts' rules

    await pledges.match_gift(uow, gift)
    if receipt and gift.kind == "gift":
        await receipts.queue(uow, gift)
    if gift.kind == "gift" and gift.source != "import":  # an import's are told by its event
        await webhooks.emit(uow, webhooks.EventType.GIFT_CONFIRMED, {
            "id": webhooks.gid("Gift", gift.id), "donorId": webhooks.gid("Donor", gift.donor_id),
            "amount": str(money.major_units(gift.amount_minor, gift.currency)),
            "currency": gift.currency, "date": gift.gift_date.isoformat(),
            "fundId": webhooks.gid("Fund", gift.fund_id),
            "campaignId": webhooks.gid("Campaign", gift.campaign_id) if gift.campaign_id else None,
            "source": gift.source, "anonymous": gift.anonymous,
        })  # fmt: skip


async def report_own(uow: UnitOfWork, viewer: Viewer, given: GiftFields) -> tuple[Gift, bool]:
    """An alumnus reports a gift they made (``pending``); giving staff are told, and one of
    them confirms or declines it. With an idempotency key, reporting again returns the
    first report (and False: nothing new)."""
    me = viewer.require_user()
    if Role.ALUMNUS not in viewer.roles:
        raise DomainError.of("NOT_ALLOWED", "Alumni report their own gifts.", None)
    mine = await uow.session.execute(
        select(func.count())
        .select_from(Gift)
        .join(Donor, Donor.id == Gift.donor_id)
        .where(Donor.user_id == me, Gift.status == "pending")
    )
    if int(mine.scalar_one()) >= WAITING_MAX:
        raise DomainError.of(
            "TOO_MANY", f"You have {WAITING_MAX} gifts waiting for confirmation already.", None
        )
    key = f"self:{me}:{given.idempotency_key}" if given.idempotency_key else None
    fields = GiftFields(**{**given.__dict__, "idempotency_key": key, "soft_credit_user_id": None})
    gift, new = await record(
        uow, viewer, DonorRef(user_id=me), fields, source="self", status="pending"
    )
    if new:
        staff = await holders_of(uow, Permission.GIVING, everywhere=True)
        amount = money.major_units(gift.amount_minor, gift.currency)
        await notify(
            uow, staff,
            Notice(kind="giving", title="A gift to confirm",
                   body=f"{amount} {gift.currency} on {gift.gift_date.isoformat()}.",
                   subject_type="Gift", subject_id=gift.id),
        )  # fmt: skip
    return gift, new


async def locked(uow: UnitOfWork, gift_id: int) -> Gift:
    """The gift, locked for the change that follows; NOT_FOUND if there is none."""
    found = await uow.session.execute(select(Gift).where(Gift.id == gift_id).with_for_update())
    gift = found.scalar_one_or_none()
    if gift is None:
        raise DomainError.of("NOT_FOUND", "No such gift.", "id")
    return gift


async def _tell_donor(uow: UnitOfWork, gift: Gift, title: str, body: str) -> None:
    donor = await uow.session.get(Donor, gift.donor_id)
    if donor is not None and donor.user_id is not None:
        await notify(
            uow, [donor.user_id],
            Notice(kind="giving", title=title, body=body[:1000], subject_type="Gift",
                   subject_id=gift.id),
        )  # fmt: skip


async def confirm(uow: UnitOfWork, viewer: Viewer, gift_id: int) -> Gift:
    """Giving staff confirm a self-reported gift: it counts from now, and is receipted."""
    me = viewer.require(Permission.GIVING)
    gift = await locked(uow, gift_id)
    if gift.status != "pending":
        raise DomainError.of("NOT_PENDING", "This gift is not waiting for confirmation.", "id")
    donor = await uow.session.get(Donor, gift.donor_id)
    if donor is not None and donor.user_id == me:
        raise DomainError.of("NOT_ALLOWED", "Another member of staff confirms your own gift.",
                             "id")  # fmt: skip
    gift.decided_by_id = me
    await confirmed(uow, gift)
    amount = money.major_units(gift.amount_minor, gift.currency)
    await _tell_donor(uow, gift, "Your gift was confirmed",
                      f"Thank you: {amount} {gift.currency} is recorded.")  # fmt: skip
    audit.record(uow, "gift.confirm", object_type="Gift", object_ids=[gift.id],
                 details=_details(gift))  # fmt: skip
    return gift


async def decline(uow: UnitOfWork, viewer: Viewer, gift_id: int, reason: str) -> Gift:
    """Giving staff decline a self-reported gift (not found in the accounts), with a reason
    the donor reads."""
    me = viewer.require(Permission.GIVING)
    gift = await locked(uow, gift_id)
    if gift.status != "pending":
        raise DomainError.of("NOT_PENDING", "This gift is not waiting for confirmation.", "id")
    problems = Problems()
    said = check_text(problems, reason, field="reason", max_length=REASON_MAX, label="The reason")
    if not said:
        problems.add("REQUIRED", "Say why the gift is declined.", "reason")
    problems.raise_if_any()
    gift.status, gift.decided_by_id, gift.decline_reason = "declined", me, said
    await _tell_donor(uow, gift, "Your reported gift was not confirmed", said or "")
    audit.record(uow, "gift.decline", object_type="Gift", object_ids=[gift.id],
                 details={**_details(gift), "reason": said})  # fmt: skip
    return gift


async def refund(
    uow: UnitOfWork,
    viewer: Viewer | None,
    gift_id: int,
    *,
    amount: Decimal | None = None,
    refund_date: date | None = None,
    reason: str | None = None,
    idempotency_key: str | None = None,
    source: str = "staff",
) -> tuple[Gift, bool]:
    """Refund a confirmed gift, whole (``amount`` None: what is left of it) or in part: a
    refund entry linked to it, counted against the gift's year. The refunds of a gift never
    add up to more than it (REFUND_TOO_LARGE). Returns the refund and whether it is new
    (False: its idempotency key had recorded it already)."""
    if viewer is not None:
        viewer.require(Permission.GIVING)
    # The gift's lock first: a refund sent twice at once is then seen by the second.
    gift = await locked(uow, gift_id)
    if viewer is not None and viewer.user_id is not None:
        donor = await uow.session.get(Donor, gift.donor_id)
        if donor is not None and donor.user_id == viewer.user_id:
            raise DomainError.of(
                "NOT_ALLOWED", "Another member of staff refunds your own gift.", "id"
            )
    earlier = await _by_key(uow, idempotency_key)
    if earlier is not None:
        sent = money.minor_units(amount, gift.currency) if amount is not None else None
        if earlier.refund_of_id != gift_id or (sent is not None and sent != -earlier.amount_minor):
            raise DomainError.of("IDEMPOTENCY_CONFLICT",
                                 "That idempotency key recorded a different refund.",
                                 "idempotencyKey")  # fmt: skip
        return earlier, False
    if gift.kind != "gift" or gift.status != "confirmed":
        raise DomainError.of("NOT_REFUNDABLE", "Only a confirmed gift can be refunded.", "id")
    problems = Problems()
    day = refund_date or today()
    check_date(problems, day, "date")
    if day < gift.gift_date:
        problems.add("INVALID", "A refund is dated on or after its gift.", "date")
    said = check_text(problems, reason, field="reason", max_length=REASON_MAX, label="The reason")
    refunded = await uow.session.execute(
        select(func.coalesce(func.sum(Gift.amount_minor), 0)).where(
            Gift.refund_of_id == gift.id, Gift.status == "confirmed"
        )
    )
    left = gift.amount_minor + int(refunded.scalar_one())  # refunds are negative
    if amount is None:
        minor: int | None = left
        if left <= 0:
            problems.add("REFUND_TOO_LARGE", "This gift has been refunded in full.", "amount")
    else:
        minor = check_amount(problems, amount, gift.currency)
        if minor is not None and minor > left:
            left_amount = money.major_units(left, gift.currency)
            problems.add("REFUND_TOO_LARGE",
                         f"At most {left_amount} {gift.currency} of this gift is left to refund.",
                         "amount")  # fmt: skip
    if idempotency_key is not None and not 0 < len(idempotency_key) <= KEY_MAX:
        problems.add("INVALID", f"An idempotency key has 1 to {KEY_MAX} characters.",
                     "idempotencyKey")  # fmt: skip
    problems.raise_if_any()
    assert minor is not None
    now = datetime.now(UTC)
    entry = Gift(
        kind="refund", status="confirmed", donor_id=gift.donor_id, amount_minor=-minor,
        currency=gift.currency, gift_date=day, fund_id=gift.fund_id,
        campaign_id=gift.campaign_id, payment_method=gift.payment_method,
        reference=gift.reference, idempotency_key=idempotency_key, anonymous=gift.anonymous,
        note=said or None, source=source, refund_of_id=gift.id, created_at=now,
        confirmed_at=now, recorded_by_id=viewer.user_id if viewer is not None else None,
    )  # fmt: skip
    uow.session.add(entry)
    await uow.session.flush()
    await totals.apply(uow, entry, 1, year=gift.gift_date.year)
    audit.record(
        uow, "gift.refund", object_type="Gift", object_ids=[gift.id, entry.id],
        details={**_details(entry), "reason": said},
        actor_id=viewer.user_id if viewer is not None else None,
    )  # fmt: skip
    return entry, True
