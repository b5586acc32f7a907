"""Receipts: a confirmed gift's PDF receipt, e-mailed to its donor by a job, and a donor's
yearly summary for tax purposes.

A gift gets its receipt number when it is confirmed (``gifts.confirmed``, in its
transaction); ``queue`` adds the job that makes the PDF (fpdf2), keeps it as a stored file
(``gifts.receipt_file_id``) and e-mails it: to a donor with an account as a notification
(kind ``giving``, the PDF attached), to an outside donor (or one whose account cannot be
reached) straight to their address. The job sends once: a second run finds
``receipt_sent_at`` set and does nothing; a resend by giving staff carries the time it was
asked, and sends only if nothing was sent since.

A receipt is the donor's: their user and giving staff read it; nobody else learns it
exists. Anonymous gifts are receipted to the donor by name (anonymity is about the public).

The yearly summary lists a donor's confirmed gifts dated in a calendar year, each less its
refunds, with the total per currency (what ``donor_years`` counts). It is made on demand as
an expiring file, and each January a job e-mails every donor with an account last year's,
once per donor and year (``reminders.mark_once``), a bounded batch per transaction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import String, func, literal, select
from sqlalchemy.orm import aliased

from alumnet.config import Settings
from alumnet.domain import money
from alumnet.domain.communication import emails
from alumnet.domain.communication.notifications import Item, notify_each
from alumnet.domain.communication.reminders import mark_once
from alumnet.domain.data import files
from alumnet.domain.errors import DomainError
from alumnet.domain.identity import audit
from alumnet.domain.identity.mail import EMAIL_JOB
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.runtime import Runtime
from alumnet.persistence.db import Reader
from alumnet.persistence.models import (
    Campaign,
    Donor,
    Fund,
    Gift,
    OutboundEmail,
    ReminderSent,
    StoredFile,
    User,
)
from alumnet.persistence.uow import UnitOfWork

RECEIPT_JOB = "giving.receipt_send"
YEARLY_JOB = "giving.yearly_receipts"
KIND = "giving"
YEARLY_MARK = "giving_yearly_receipt"  # reminders_sent: subject the donor, key the year
YEARLY_BATCH = 100  # donors per transaction of the January job
YEARLY_BATCHES_PER_RUN = 20  # then the job queues itself again for the rest
YEARLY_GIFTS_MAX = 2_000  # gifts listed on one summary (the totals count them all)
YEARLY_FILE_TTL = timedelta(days=1)  # a summary made on demand
EMAILED_FILE_TTL = timedelta(days=30)  # a summary e-mailed (the e-mail is sent long before)
REPLACED_FILE_TTL = timedelta(days=30)  # a receipt's earlier file, after a resend
EARLIEST_YEAR = 1900
NO_GOODS = "No goods or services were provided in exchange for this gift."
NO_GOODS_YEAR = "No goods or services were provided in exchange for these gifts."
TRIBUTE = {"honour": "In honour of", "memory": "In memory of"}
FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
)


def institution(settings: Settings) -> str:
    """The institution's name as receipts print it (ALUMNET_INSTITUTION_NAME)."""
    return settings.institution_name


def amount_text(minor: int, currency: str) -> str:
    """An exact amount as printed: "1234.50 USD" (never through a float)."""
    return f"{money.major_units(minor, currency)} {currency}"


@dataclass(frozen=True)
class ReceiptText:
    """What one gift's receipt says."""

    institution: str
    number: str
    issued_on: date
    donor_name: str
    donor_email: str | None
    gift_date: date
    amount_minor: int
    currency: str
    fund: str
    campaign: str | None
    payment_method: str
    reference: str | None
    tribute: str | None
    refunds: tuple[tuple[date, int], ...] = ()


@dataclass(frozen=True)
class YearLine:
    gift_id: int
    gift_date: date
    fund: str
    campaign: str | None
    amount_minor: int  # the gift
    refunded_minor: int  # its refunds, as a positive number
    currency: str
    receipt_number: str | None


@dataclass(frozen=True)
class YearSummary:
    """A donor's confirmed gifts dated in ``year``, less their refunds, and the totals per
    currency (currency → minor units)."""

    donor_id: int
    donor_user_id: int | None
    donor_name: str
    donor_email: str | None
    year: int
    lines: tuple[YearLine, ...]
    totals: dict[str, int] = field(default_factory=dict)
    gift_count: int = 0


@cache
def _font() -> str | None:
    return next((p for p in FONT_PATHS if Path(p).is_file()), None)


def _printable(text: str, unicode_font: bool) -> str:
    if unicode_font:
        return text
    import unicodedata

    simple = unicodedata.normalize("NFKD", text)
    return (
        "".join(c for c in simple if not unicodedata.combining(c))
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


class _Page:
    """A portrait A4 page written line by line."""

    def __init__(self, title: str, compress: bool, unicode: bool = True) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(orientation="P", format="A4")
        self.pdf.set_compression(compress)
        self.pdf.set_title(title)
        self.pdf.set_creator("alumnet")
        font = _font() if unicode else None
        self.unicode = font is not None
        self.family = "Helvetica"
        if font is not None:
            self.pdf.add_font("Body", "", font)
            self.family = "Body"
        self.pdf.add_page()

    def line(self, text: str, size: int = 11, height: float = 7, align: str = "L") -> None:
        self.pdf.set_font(self.family, "", size)
        self.pdf.multi_cell(0, height, _printable(text, self.unicode), align=align,
                            new_x="LMARGIN", new_y="NEXT")  # fmt: skip

    def gap(self, height: float = 4) -> None:
        self.pdf.ln(height)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def render_receipt(receipt: ReceiptText, *, compress: bool = True, unicode: bool = True) -> bytes:
    """One page: who received what from whom, and that nothing was given in return.
    (``compress`` and ``unicode`` off: its text can be read in the file as it is.)"""
    page = _Page(f"Receipt {receipt.number}", compress, unicode)
    page.line(receipt.institution, 18, 10)
    page.line("Official receipt for a gift", 14, 9)
    page.gap()
    page.line(f"Receipt number: {receipt.number}")
    page.line(f"Issued on: {receipt.issued_on.isoformat()}")
    page.gap()
    page.line(f"Received from: {receipt.donor_name}")
    if receipt.donor_email:
        page.line(f"E-mail: {receipt.donor_email}")
    page.gap()
    page.line(f"Date of the gift: {receipt.gift_date.isoformat()}")
    page.line(f"Amount: {amount_text(receipt.amount_minor, receipt.currency)}", 13, 8)
    page.line(f"Fund: {receipt.fund}")
    if receipt.campaign:
        page.line(f"Campaign: {receipt.campaign}")
    page.line(f"Payment method: {receipt.payment_method.replace('_', ' ')}")
    if receipt.reference:
        page.line(f"Reference: {receipt.reference}")
    if receipt.tribute:
        page.line(receipt.tribute)
    if receipt.refunds:
        page.gap()
        refunded = sum(minor for _, minor in receipt.refunds)
        for day, minor in receipt.refunds:
            page.line(f"Refunded on {day.isoformat()}: {amount_text(minor, receipt.currency)}")
        net = receipt.amount_minor - refunded
        page.line(f"Amount after refunds: {amount_text(net, receipt.currency)}", 13, 8)
    page.gap()
    page.line(NO_GOODS)
    page.gap()
    page.line(f"Thank you for your gift to {receipt.institution}.", 10, 6)
    return page.output()


def render_summary(
    summary: YearSummary, institution_name: str, issued_on: date, *, compress: bool = True
) -> bytes:
    """The year's gifts, each less its refunds, and the totals per currency."""
    page = _Page(f"Giving summary {summary.year}: {summary.donor_name}", compress)
    page.line(institution_name, 18, 10)
    page.line(f"Summary of gifts for {summary.year}", 14, 9)
    page.gap()
    page.line(f"Donor: {summary.donor_name}")
    if summary.donor_email:
        page.line(f"E-mail: {summary.donor_email}")
    page.line(f"Issued on: {issued_on.isoformat()}")
    page.gap()
    for line in summary.lines:
        net = line.amount_minor - line.refunded_minor
        text = f"{line.gift_date.isoformat()}  {amount_text(net, line.currency)}  {line.fund}"
        if line.campaign:
            text += f" ({line.campaign})"
        if line.receipt_number:
            text += f"  receipt {line.receipt_number}"
        if line.refunded_minor:
            text += f"  (gift {amount_text(line.amount_minor, line.currency)}, refunded "
            text += f"{amount_text(line.refunded_minor, line.currency)})"
        page.line(text, 9, 5)
    if summary.gift_count > len(summary.lines):
        page.line(f"... and {summary.gift_count - len(summary.lines)} more gifts.", 9, 5)
    page.gap()
    if not summary.totals:
        page.line("No gifts were recorded in this year.")
    for currency, minor in sorted(summary.totals.items()):
        page.line(f"Total {summary.year}: {amount_text(minor, currency)}", 13, 8)
    page.gap()
    page.line(NO_GOODS_YEAR)
    return page.output()


async def queue(uow: UnitOfWork, gift: Gift) -> None:
    """Queue the job that makes a confirmed gift's PDF receipt and e-mails it (after
    commit: a rolled-back confirmation sends nothing)."""
    await uow.add_job(RECEIPT_JOB, {"gift_id": gift.id})


async def _receipt_text(session: Any, settings: Settings, gift: Gift) -> ReceiptText | None:
    donor = await session.get(Donor, gift.donor_id)
    fund = await session.get(Fund, gift.fund_id)
    campaign = await session.get(Campaign, gift.campaign_id) if gift.campaign_id else None
    if donor is None or fund is None:
        return None
    name, address = donor.name, donor.email
    if donor.user_id is not None:
        user = await session.get(User, donor.user_id)
        if user is not None:
            name, address = user.name, user.email
    refunds = await session.execute(
        select(Gift.gift_date, Gift.amount_minor)
        .where(Gift.refund_of_id == gift.id, Gift.status == "confirmed")
        .order_by(Gift.gift_date, Gift.id)
    )
    tribute = None
    if gift.tribute_kind in TRIBUTE and gift.tribute_name:
        tribute = f"{TRIBUTE[gift.tribute_kind]} {gift.tribute_name}"
    return ReceiptText(
        institution=institution(settings), number=_number(gift) or "",
        issued_on=datetime.now(UTC).date(), donor_name=name, donor_email=address,
        gift_date=gift.gift_date, amount_minor=gift.amount_minor, currency=gift.currency,
        fund=fund.name, campaign=campaign.name if campaign is not None else None,
        payment_method=gift.payment_method, reference=gift.reference, tribute=tribute,
        refunds=tuple((d, -int(m)) for d, m in refunds.all()),
    )  # fmt: skip


def _number(gift: Gift) -> str | None:
    from alumnet.domain.giving.gifts import receipt_number

    return receipt_number(gift)


def _due(gift: Gift, after: datetime | None) -> bool:
    """Whether the receipt is still to send: never sent, or a resend asked at ``after``
    and nothing sent since."""
    if gift.status != "confirmed" or gift.kind != "gift" or gift.receipt_seq is None:
        return False
    if gift.receipt_sent_at is None:
        return True
    return after is not None and _aware(gift.receipt_sent_at) < after


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def send(rt: Runtime, gift_id: int, after: datetime | None = None) -> dict[str, int]:
    """The job: make the receipt's PDF, keep it and e-mail it, once. The PDF is made
    outside any write transaction; the gift's lock then decides whether it is sent (two
    runs at once send one)."""
    async with rt.database.session() as session:
        gift = await session.get(Gift, gift_id)
        if gift is None or not _due(gift, after):
            return {"sent": 0}
        text = await _receipt_text(session, rt.settings, gift)
    if text is None:
        return {"sent": 0}
    pdf = await asyncio.to_thread(render_receipt, text)
    async with rt.transaction() as uow:
        found = await uow.session.execute(select(Gift).where(Gift.id == gift_id).with_for_update())
        gift = found.scalar_one_or_none()
        if gift is None or not _due(gift, after):
            return {"sent": 0}
        donor = await uow.session.get(Donor, gift.donor_id)
        assert donor is not None
        writer = await files.new_file(
            uow.session, owner_id=donor.user_id, name=f"receipt-{text.number}.pdf",
            content_type="application/pdf", expires_in=None,
        )  # fmt: skip
        await writer.write(pdf)
        stored = await writer.close()
        if gift.receipt_file_id is not None:  # a resend: the earlier file goes in time
            old = await uow.session.get(StoredFile, gift.receipt_file_id)
            if old is not None:
                old.expires_at = datetime.now(UTC) + REPLACED_FILE_TTL
        gift.receipt_file_id = stored.id
        amount = amount_text(gift.amount_minor, gift.currency)
        title = f"Your receipt {text.number} from {text.institution}"
        body = (
            f"Thank you for your gift of {amount} on {gift.gift_date.isoformat()} to "
            f"{text.fund}. Your receipt {text.number} is attached."
        )
        delivered = await _deliver(
            uow, donor, text.donor_email, title, body, stored.id, "Gift", gift.id
        )
        if delivered:
            gift.receipt_sent_at = datetime.now(UTC)
        await uow.session.flush()
    return {"sent": int(delivered)}


async def _deliver(
    uow: UnitOfWork,
    donor: Donor,
    address: str | None,
    title: str,
    body: str,
    file_id: int,
    subject_type: str,
    subject_id: int,
) -> bool:
    """To a donor with an account, as their ``giving`` notification with the file
    attached; to anyone else (or an account that cannot be reached), an e-mail of its own
    to their address. Whether anything went."""
    if donor.user_id is not None:
        reached = await notify_each(uow, KIND, [
            Item(donor.user_id, title, body, subject_type, subject_id,
                 attachment_file_id=file_id)
        ])  # fmt: skip
        if reached:
            return True
    if not address:
        return False
    text, html = emails.render_notification(title=title, text=body, html=None)
    email = OutboundEmail(
        user_id=None, to_address=address, subject=" ".join(title.split())[:200],
        text_body=text, html_body=html, template="giving.receipt",
        attachment_file_id=file_id,
    )  # fmt: skip
    uow.session.add(email)
    await uow.session.flush()
    await uow.add_job(EMAIL_JOB, {"email_id": email.id}, queue="email")
    return True


async def _donor_of(session: Any, gift_id: int) -> tuple[Gift, Donor] | None:
    found = await session.execute(
        select(Gift, Donor).join(Donor, Donor.id == Gift.donor_id).where(Gift.id == gift_id)
    )
    row = found.first()
    return (row[0], row[1]) if row is not None else None


def may_read(viewer: Viewer, donor_user_id: int | None) -> bool:
    """Giving staff, and the donor's own user."""
    if viewer.can(Permission.GIVING):
        return True
    return viewer.user_id is not None and donor_user_id == viewer.user_id


@dataclass(frozen=True)
class Receipt:
    """A gift's receipt as its donor or giving staff see it."""

    gift_id: int
    number: str
    issued_at: datetime | None
    sent_at: datetime | None
    file_id: int | None
    donor_user_id: int | None


async def receipt_of(executor: Any, viewer: Viewer, gift_id: int) -> Receipt | None:
    """The gift's receipt (one statement, on a session or a connection); None when it has
    none or the viewer may not read it (the same answer: nothing is learnt of another
    person's gifts)."""
    found = await executor.execute(
        select(Gift.id, Gift.kind, Gift.receipt_year, Gift.receipt_seq, Gift.confirmed_at,
               Gift.receipt_sent_at, Gift.receipt_file_id, Donor.user_id)
        .join(Donor, Donor.id == Gift.donor_id)
        .where(Gift.id == gift_id)
    )  # fmt: skip
    row = found.first()
    if row is None or row.kind != "gift" or row.receipt_year is None or row.receipt_seq is None:
        return None
    if not may_read(viewer, row.user_id):
        return None
    return Receipt(
        gift_id=int(row.id), number=f"{row.receipt_year}-{row.receipt_seq:06d}",
        issued_at=row.confirmed_at, sent_at=row.receipt_sent_at, file_id=row.receipt_file_id,
        donor_user_id=row.user_id,
    )  # fmt: skip


def receipt_link(settings: Settings, viewer: Viewer, receipt: Receipt) -> str | None:
    """A short-lived link to the receipt's PDF: the donor's own file, or shared with giving
    staff (checked again when the link is used, ``may_read_file``)."""
    if receipt.file_id is None or viewer.user_id is None:
        return None
    own = receipt.donor_user_id == viewer.user_id
    return files.download_url(settings, viewer.user_id, receipt.file_id, shared=not own)


async def may_read_file(db: Reader, viewer: Viewer, file_id: int) -> bool:
    """Whether a link shared with the viewer to this file opens: it is a gift's receipt
    and the viewer is giving staff (checked each time the link is used)."""
    if not viewer.can(Permission.GIVING):
        return False
    async with db.connect() as conn:
        found = await conn.execute(select(Gift.id).where(Gift.receipt_file_id == file_id).limit(1))
        return found.first() is not None


async def resend(uow: UnitOfWork, viewer: Viewer, gift_id: int) -> Receipt:
    """Giving staff send a gift's receipt again (a fresh PDF, with any refunds since)."""
    viewer.require(Permission.GIVING)
    found = await _donor_of(uow.session, gift_id)
    if found is None or _number(found[0]) is None or found[0].kind != "gift":
        raise DomainError.of("NOT_FOUND", "No such gift with a receipt.", "giftId")
    gift = found[0]
    if gift.status != "confirmed":
        raise DomainError.of("NOT_FOUND", "No such gift with a receipt.", "giftId")
    await uow.add_job(RECEIPT_JOB, {"gift_id": gift.id, "after": datetime.now(UTC).isoformat()})
    audit.record(uow, "gift.receipt_resend", object_type="Gift", object_ids=[gift.id],
                 details={"receipt": _number(gift)})  # fmt: skip
    receipt = await receipt_of(uow.session, viewer, gift.id)
    assert receipt is not None
    return receipt


# The yearly summary.


async def summary(session: Any, donor: Donor, year: int) -> YearSummary:
    """The donor's confirmed gifts dated in ``year``, each less its confirmed refunds (a
    refund counts in its gift's year), in two statements."""
    start, end = date(year, 1, 1), date(year + 1, 1, 1)
    refund = aliased(Gift)
    refunded = (
        select(func.coalesce(func.sum(refund.amount_minor), 0))
        .where(refund.refund_of_id == Gift.id, refund.status == "confirmed")
        .scalar_subquery()
    )
    mine = (
        Gift.donor_id == donor.id, Gift.kind == "gift", Gift.status == "confirmed",
        Gift.gift_date >= start, Gift.gift_date < end,
    )  # fmt: skip
    totals_rows = await session.execute(
        select(Gift.currency, func.sum(Gift.amount_minor + refunded), func.count())
        .where(*mine)
        .group_by(Gift.currency)
    )
    totals, count = {}, 0
    for currency, total, gifts in totals_rows.all():
        totals[str(currency)] = int(total or 0)
        count += int(gifts)
    rows = await session.execute(
        select(Gift.id, Gift.gift_date, Fund.name, Campaign.name, Gift.amount_minor,
               refunded.label("refunded"), Gift.currency, Gift.receipt_year, Gift.receipt_seq)
        .join(Fund, Fund.id == Gift.fund_id)
        .outerjoin(Campaign, Campaign.id == Gift.campaign_id)
        .where(*mine)
        .order_by(Gift.gift_date, Gift.id)
        .limit(YEARLY_GIFTS_MAX)
    )  # fmt: skip
    lines = tuple(
        YearLine(
            gift_id=int(r[0]), gift_date=r[1], fund=str(r[2]), campaign=r[3],
            amount_minor=int(r[4]), refunded_minor=-int(r[5] or 0), currency=str(r[6]),
            receipt_number=f"{r[7]}-{r[8]:06d}" if r[7] is not None and r[8] is not None
            else None,
        )
        for r in rows.all()
    )  # fmt: skip
    name, address = donor.name, donor.email
    if donor.user_id is not None:
        user = await session.get(User, donor.user_id)
        if user is not None:
            name, address = user.name, user.email
    return YearSummary(
        donor_id=donor.id, donor_user_id=donor.user_id, donor_name=name, donor_email=address,
        year=year, lines=lines, totals=totals, gift_count=count,
    )  # fmt: skip


def check_year(year: int) -> None:
    if not EARLIEST_YEAR <= year <= datetime.now(UTC).year:
        raise DomainError.of("INVALID", f"Give a year from {EARLIEST_YEAR} to this year.", "year")


async def _donor_for(uow: UnitOfWork, viewer: Viewer, donor_id: int | None) -> Donor:
    """The donor whose summary is asked: the viewer's own (no id), or any for giving staff;
    another person's is NOT_FOUND, as if it did not exist."""
    me = viewer.require_user()
    if donor_id is None:
        found = await uow.session.execute(select(Donor).where(Donor.user_id == me))
        donor = found.scalar_one_or_none()
    else:
        donor = await uow.session.get(Donor, donor_id)
        if donor is not None and not may_read(viewer, donor.user_id):
            donor = None
    if donor is None:
        raise DomainError.of("NOT_FOUND", "No such donor.", "donorId")
    return donor


@dataclass(frozen=True)
class YearlyReceipt:
    summary: YearSummary
    file_id: int


async def yearly(
    uow: UnitOfWork, viewer: Viewer, settings: Settings, year: int, donor_id: int | None
) -> YearlyReceipt:
    """The donor's summary for ``year`` as a PDF made now, kept a day as the viewer's own
    file (a link to it is theirs only)."""
    check_year(year)
    donor = await _donor_for(uow, viewer, donor_id)
    made = await summary(uow.session, donor, year)
    today = datetime.now(UTC).date()
    pdf = await asyncio.to_thread(render_summary, made, institution(settings), today)
    writer = await files.new_file(
        uow.session, owner_id=viewer.user_id, name=f"giving-summary-{year}.pdf",
        content_type="application/pdf", expires_in=YEARLY_FILE_TTL,
    )  # fmt: skip
    await writer.write(pdf)
    stored = await writer.close()
    if donor.user_id != viewer.user_id:
        audit.record(uow, "giving.yearly_receipt", object_type="Donor", object_ids=[donor.id],
                     details={"year": year})  # fmt: skip
    return YearlyReceipt(summary=made, file_id=stored.id)


def _waiting(year: int) -> Any:
    """SQL: (donor id, user id, key) of donors with an account who gave in ``year`` and
    have not had its summary."""
    from alumnet.persistence.models import DonorYear

    key = str(year)
    sent = select(ReminderSent.id).where(
        ReminderSent.kind == YEARLY_MARK, ReminderSent.subject_id == Donor.id,
        ReminderSent.user_id == Donor.user_id, ReminderSent.key == key,
    )  # fmt: skip
    gave = select(DonorYear.donor_id).where(
        DonorYear.donor_id == Donor.id, DonorYear.year == year, DonorYear.gift_count > 0
    )
    return (
        select(Donor.id, Donor.user_id, literal(key, String))
        .join(User, User.id == Donor.user_id)
        .where(User.status == "active", gave.exists(), ~sent.exists())
        .order_by(Donor.id)
    )


async def send_yearly(rt: Runtime, year: int | None = None) -> dict[str, int]:
    """The January job: e-mail each donor with an account their summary of ``year`` (last
    year by default), once per donor and year, ``YEARLY_BATCH`` donors per transaction;
    after ``YEARLY_BATCHES_PER_RUN`` batches it queues itself again for the rest."""
    year = year if year is not None else datetime.now(UTC).year - 1
    name = institution(rt.settings)
    sent = 0
    for _ in range(YEARLY_BATCHES_PER_RUN):
        async with rt.database.session() as session:
            batch = (await session.execute(_waiting(year).limit(YEARLY_BATCH))).all()
            made = []
            for donor_id, _user_id, _key in batch:
                donor = await session.get(Donor, donor_id)
                assert donor is not None
                made.append(await summary(session, donor, year))
        if not batch:
            return {"sent": sent}
        today = datetime.now(UTC).date()
        pdfs = [await asyncio.to_thread(render_summary, s, name, today) for s in made]
        async with rt.transaction() as uow:
            ids = [s.donor_id for s in made]
            candidates = select(Donor.id, Donor.user_id, literal(str(year), String)).where(
                Donor.id.in_(ids), Donor.user_id.is_not(None)
            )
            marked = {d for d, _, _ in await mark_once(uow, YEARLY_MARK, candidates)}
            items = []
            for made_for, pdf in zip(made, pdfs, strict=True):
                if made_for.donor_id not in marked or made_for.donor_user_id is None:
                    continue  # another run sent it meanwhile
                stored = await _store(uow, made_for.donor_user_id, year, pdf)
                items.append(_yearly_item(made_for, name, stored.id))
            await notify_each(uow, KIND, items)
            sent += len(items)
    async with rt.transaction() as uow:
        await uow.add_job(YEARLY_JOB, {"year": year})
    return {"sent": sent, "more": 1}


async def _store(uow: UnitOfWork, owner_id: int, year: int, pdf: bytes) -> StoredFile:
    writer = await files.new_file(
        uow.session, owner_id=owner_id, name=f"giving-summary-{year}.pdf",
        content_type="application/pdf", expires_in=EMAILED_FILE_TTL,
    )  # fmt: skip
    await writer.write(pdf)
    return await writer.close()


def _yearly_item(made: YearSummary, name: str, file_id: int) -> Item:
    totals = ", ".join(amount_text(m, c) for c, m in sorted(made.totals.items()))
    assert made.donor_user_id is not None
    return Item(
        made.donor_user_id, f"Your {made.year} giving summary from {name}",
        f"Thank you for your gifts in {made.year}: {totals}. Your summary for tax purposes "
        "is attached.", "Donor", made.donor_id, attachment_file_id=file_id,
    )  # fmt: skip
