"""Receipts: numbers that run on within a year and are never reused, a real PDF e-mailed
once to its donor, read by the donor and giving staff only, sent again on request; the
yearly summary for tax purposes, exact, made on demand and e-mailed each January once."""

from __future__ import annotations

import contextlib
import email
import uuid
import zlib
from datetime import UTC, date, datetime
from decimal import Decimal
from email import policy
from typing import Any
from urllib.parse import urlparse

import pytest
from sqlalchemy import select

from alumnet.domain.errors import DomainError
from alumnet.domain.giving import gifts, receipts
from alumnet.domain.giving.donors import DonorRef
from alumnet.domain.identity.permissions import Role, Viewer
from alumnet.persistence.models import Donor, Gift
from tests.giving.conftest import Giving, codes, gid

YEAR = datetime.now(UTC).year
RECEIPT = """query($g: ID!) { giftReceipt(giftId: $g) {
  number issuedAt sentAt status downloadUrl } }"""
RESEND = """mutation($i: GiftReceiptResendInput!) { giftReceiptResend(input: $i) {
  receipt { number status } userErrors { code field message } } }"""
YEARLY = """mutation($i: GivingYearlyReceiptCreateInput!) { givingYearlyReceiptCreate(input: $i) {
  receipt { year donorName giftCount totals { amount currency } downloadUrl }
  userErrors { code field message } } }"""


def staff(g: Giving) -> Viewer:
    return Viewer(user_id=g.pks["advancement"], roles=frozenset({Role.ADVANCEMENT}))


def fields(g: Giving, amount: str = "25.50", **more: Any) -> gifts.GiftFields:
    given: dict[str, Any] = {
        "amount": Decimal(amount), "currency": "USD", "gift_date": date(YEAR, 1, 2),
        "fund_id": g.pks["fund"], "campaign_id": g.pks["campaign"], "payment_method": "card",
    }  # fmt: skip
    given.update(more)
    return gifts.GiftFields(**given)


async def give(
    g: Giving, donor: DonorRef, amount: str = "25.50", *, source: str = "staff", **more: Any
) -> Gift:
    async with g.runtime.transaction() as uow:
        gift, _ = await gifts.record(uow, staff(g), donor, fields(g, amount, **more), source=source)
        return gift


def pdf_text(data: bytes) -> bytes:
    """The PDF's bytes with each compressed stream inflated."""
    out, rest = [data], data
    while (start := rest.find(b"stream")) != -1:
        body = rest[start + 6 :].lstrip(b"\r\n")
        end = body.find(b"endstream")
        with contextlib.suppress(zlib.error):
            out.append(zlib.decompress(body[:end]))
        rest = body[end:]
    return b"\n".join(out)


async def download(g: Giving, url: str) -> Any:
    link = urlparse(url)
    return await g.api.client.get(f"{link.path}?{link.query}")


def letters(g: Giving, address: str) -> list[Any]:
    return [
        email.message_from_string(raw, policy=policy.default) for raw in g.api.mailbox.to(address)
    ]


async def test_numbers_run_on_in_the_year_and_are_never_reused(giving: Giving) -> None:
    g = giving
    outside = DonorRef(name="Numbered Friend", email=f"n-{uuid.uuid4().hex[:8]}@example.org")
    made = [await give(g, outside, "10") for _ in range(3)]
    assert [gifts.receipt_number(m) for m in made] == [f"{YEAR}-00000{i}" for i in (1, 2, 3)]
    # A transaction that numbered a gift and then failed gives its number back.
    with pytest.raises(RuntimeError):
        async with g.runtime.transaction() as uow:
            gift, _ = await gifts.record(uow, staff(g), outside, fields(g, "5"), source="staff")
            assert gift.receipt_seq == 4
            raise RuntimeError("refused after numbering")
    # So does one refused for its input (nothing is numbered before the checks pass).
    with pytest.raises(DomainError):
        async with g.runtime.transaction() as uow:
            await gifts.record(uow, staff(g), outside, fields(g, "-5"), source="staff")
    fourth = await give(g, outside, "7")
    assert gifts.receipt_number(fourth) == f"{YEAR}-000004"
    # An imported gift gets none, and no receipt job; a self-reported one its number when
    # confirmed.
    imported = await give(g, outside, "9", source="import")
    assert imported.receipt_seq is None
    async with g.runtime.transaction() as uow:
        alumnus = Viewer(user_id=g.pks["alumnus"], roles=frozenset({Role.ALUMNUS}))
        sent = await gifts.report_own(uow, alumnus, fields(g, "3"))
        reported = sent[0] if isinstance(sent, tuple) else sent
        assert reported.receipt_seq is None
    async with g.runtime.transaction() as uow:
        confirmed = await gifts.confirm(uow, staff(g), reported.id)
        assert gifts.receipt_number(confirmed) == f"{YEAR}-000005"
    await g.api.run_jobs()
    body = await g.gql("advancement", RECEIPT, {"g": gid("Gift", imported.id)})
    assert body["data"]["giftReceipt"] is None
    async with g.runtime.transaction() as uow:
        row = await uow.session.get(Gift, imported.id)
        assert row is not None and row.receipt_file_id is None and row.receipt_sent_at is None
        seqs = (await uow.session.execute(select(Gift.receipt_seq).order_by(Gift.id))).scalars()
        numbered = [s for s in seqs if s is not None]
        assert sorted(numbered) == [1, 2, 3, 4, 5] and len(set(numbered)) == 5


async def test_the_receipt_is_a_pdf_emailed_once_and_only_its_donor_reads_it(
    giving: Giving,
) -> None:
    g = giving
    before = len(g.api.mailbox.to("alumnus@example.org"))
    gift = await give(
        g, DonorRef(user_id=g.pks["alumnus"]), "1234.56", anonymous=True,
        tribute_kind="memory", tribute_name="Ada Lovelace", reference="CHQ-77",
    )  # fmt: skip
    number = gifts.receipt_number(gift)
    assert number is not None
    queued = await g.gql("alumnus", RECEIPT, {"g": gid("Gift", gift.id)})
    assert queued["data"]["giftReceipt"]["status"] == "QUEUED"
    assert queued["data"]["giftReceipt"]["downloadUrl"] is None
    await g.api.run_jobs()
    # Once: the job run again (a retry, a duplicate) sends nothing more.
    assert await receipts.send(g.runtime, gift.id) == {"sent": 0}
    await g.api.run_jobs()
    mine = letters(g, "alumnus@example.org")[before:]
    assert len(mine) == 1
    [attachment] = list(mine[0].iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    data = attachment.get_content()
    assert data.startswith(b"%PDF") and f"/Title (Receipt {number})".encode() in data
    assert number in mine[0]["Subject"]
    # What it says, uncompressed: every part of the receipt, the donor by name although
    # the gift is anonymous.
    async with g.runtime.database.session() as session:
        row = await session.get(Gift, gift.id)
        assert row is not None and row.receipt_sent_at is not None
        text = await receipts._receipt_text(session, g.runtime.settings, row)
    assert text is not None
    plain = receipts.render_receipt(text, compress=False, unicode=False)
    for part in (number, "1234.56 USD", "Alumnus Person", "alumnus@example.org", "Scholarships",
                 "Library appeal", "In memory of Ada Lovelace", "No goods or services",
                 f"{YEAR}-01-02"):  # fmt: skip
        assert part.encode() in plain, part
    # The donor and giving staff read it and download it; nobody else learns of it.
    own = (await g.gql("alumnus", RECEIPT, {"g": gid("Gift", gift.id)}))["data"]["giftReceipt"]
    assert own["number"] == number and own["status"] == "SENT" and own["sentAt"]
    got = await download(g, own["downloadUrl"])
    assert got.status_code == 200 and got.content == data
    seen = (await g.gql("advancement", RECEIPT, {"g": gid("Gift", gift.id)}))["data"]
    got = await download(g, seen["giftReceipt"]["downloadUrl"])
    assert got.status_code == 200 and got.content.startswith(b"%PDF")
    for who in ("alumnus2", "manager", "student"):
        body = await g.gql(who, RECEIPT, {"g": gid("Gift", gift.id)})
        assert body["data"]["giftReceipt"] is None, who
    anonymous = await g.gql("nobody", RECEIPT, {"g": gid("Gift", gift.id)})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert anonymous["data"]["giftReceipt"] is None
    # A link made for the donor opens nothing for another person's token (it is signed).
    assert (await download(g, own["downloadUrl"] + "x")).status_code == 404
    # Sent again by giving staff, once; others may not.
    denied = await g.gql("alumnus", RESEND, {"i": {"giftId": gid("Gift", gift.id)}})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    missing = await g.gql("advancement", RESEND, {"i": {"giftId": gid("Gift", 10**9)}})
    assert codes(missing["data"]["giftReceiptResend"]) == ["NOT_FOUND"]
    async with g.runtime.transaction() as uow:
        await gifts.refund(uow, staff(g), gift.id, amount=Decimal("234.56"))
    await g.ok("advancement", RESEND, {"i": {"giftId": gid("Gift", gift.id)}},
               "giftReceiptResend")  # fmt: skip
    await g.api.run_jobs()
    await g.api.run_jobs()
    again = letters(g, "alumnus@example.org")[before:]
    assert len(again) == 2
    [fresh] = list(again[1].iter_attachments())
    assert fresh.get_content().startswith(b"%PDF")


async def test_an_outside_donor_is_emailed_at_their_address(giving: Giving) -> None:
    g = giving
    address = f"friend-{uuid.uuid4().hex[:8]}@example.org"
    gift = await give(g, DonorRef(name="Outside Friend", email=address), "50")
    await g.api.run_jobs()
    await receipts.send(g.runtime, gift.id)
    await g.api.run_jobs()
    [letter] = letters(g, address)
    [attachment] = list(letter.iter_attachments())
    assert attachment.get_content().startswith(b"%PDF")
    assert "unsubscribe" not in letter.get_body(preferencelist=("plain",)).get_content().lower()
    # Staff read its receipt; no user of the system does.
    body = await g.gql("advancement", RECEIPT, {"g": gid("Gift", gift.id)})
    assert body["data"]["giftReceipt"]["status"] == "SENT"
    assert (await g.gql("alumnus", RECEIPT, {"g": gid("Gift", gift.id)}))["data"][
        "giftReceipt"
    ] is None


async def test_the_yearly_summary_sums_exactly_and_is_emailed_once(giving: Giving) -> None:
    g = giving
    last = YEAR - 1
    me = DonorRef(user_id=g.pks["alumnus"])
    one = await give(g, me, "100.10", gift_date=date(last, 3, 1))
    await give(g, me, "0.20", gift_date=date(last, 12, 31))
    await give(g, me, "5000", gift_date=date(last, 6, 1), campaign_id=None, currency="JPY")
    await give(g, me, "999", gift_date=date(last - 1, 12, 31))  # another year
    await give(g, DonorRef(user_id=g.pks["alumnus2"]), "1", gift_date=date(last, 5, 5))
    async with g.runtime.transaction() as uow:
        await gifts.refund(uow, staff(g), one.id, amount=Decimal("0.05"))
    await g.api.run_jobs()
    body = await g.ok("alumnus", YEARLY, {"i": {"year": last}}, "givingYearlyReceiptCreate")
    made = body["receipt"]
    assert made["year"] == last and made["donorName"] == "Alumnus Person"
    assert made["giftCount"] == 3
    assert made["totals"] == [
        {"amount": "5000", "currency": "JPY"},
        {"amount": "100.25", "currency": "USD"},
    ]
    got = await download(g, made["downloadUrl"])
    assert got.status_code == 200 and got.content.startswith(b"%PDF")
    assert f"/Title (Giving summary {last}: Alumnus Person)".encode() in got.content
    # Giving staff ask for any donor's; another person for nobody's.
    async with g.runtime.database.session() as session:
        donor_id = (
            await session.execute(select(Donor.id).where(Donor.user_id == g.pks["alumnus"]))
        ).scalar_one()
    theirs = {"i": {"year": last, "donorId": gid("Donor", donor_id)}}
    seen = await g.ok("advancement", YEARLY, theirs, "givingYearlyReceiptCreate")
    assert seen["receipt"]["totals"] == made["totals"]
    for who in ("alumnus2", "manager"):
        refused = (await g.gql(who, YEARLY, theirs))["data"]["givingYearlyReceiptCreate"]
        assert refused["receipt"] is None and codes(refused) == ["NOT_FOUND"], who
    bad = await g.gql("alumnus", YEARLY, {"i": {"year": YEAR + 1}})
    assert codes(bad["data"]["givingYearlyReceiptCreate"]) == ["INVALID"]
    # January's job: each donor with an account once, however often it runs.
    before = len(g.api.mailbox.to("alumnus@example.org"))
    assert (await receipts.send_yearly(g.runtime, last))["sent"] == 2
    assert (await receipts.send_yearly(g.runtime, last))["sent"] == 0
    await g.api.run_jobs()
    summaries = [m for m in letters(g, "alumnus@example.org")[before:] if str(last) in m["Subject"]]
    assert len(summaries) == 1
    [attachment] = list(summaries[0].iter_attachments())
    assert attachment.get_content().startswith(b"%PDF")
