"""Giving: receipts. A confirmed gift's receipt (its number, when it was sent, a link to its
PDF) for its donor and giving staff; sending it again; a donor's yearly summary for tax
purposes."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry import relay

from alumnet.domain.data import files
from alumnet.domain.giving import receipts
from alumnet.domain.identity.permissions import Permission
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.giving.types import Money
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import global_pk
from alumnet.schema.permissions import requires

ev = strawberry.enum_value


@strawberry.enum(description="Where a gift's receipt stands.")
class ReceiptStatus(Enum):
    QUEUED = ev("queued", description="Numbered; its PDF is being made and sent.")
    ISSUED = ev("issued", description="Its PDF is made, but no e-mail could reach the donor (yet).")
    SENT = ev("sent", description="E-mailed to the donor (see `sentAt`).")


@strawberry.type(
    description="A confirmed gift's receipt: seen by the donor (their own gifts) and by giving "
    "staff only. Imported gifts, pending and declined gifts and refunds have none."
)
class Receipt:
    number: str = strawberry.field(
        description="The receipt number, YYYY-NNNNNN: the year the gift was confirmed and a "
        "number within it that runs on without gaps and is never reused."
    )
    issued_at: datetime | None = strawberry.field(
        description="When the gift was confirmed and the number given (UTC)."
    )
    sent_at: datetime | None = strawberry.field(
        description="When the receipt was last e-mailed to the donor (UTC); null until it is."
    )
    status: ReceiptStatus = strawberry.field(description="Where it stands.")
    _receipt: strawberry.Private[Any]

    @classmethod
    def of(cls, receipt: receipts.Receipt) -> Receipt:
        status = ReceiptStatus.QUEUED
        if receipt.sent_at is not None:
            status = ReceiptStatus.SENT
        elif receipt.file_id is not None:
            status = ReceiptStatus.ISSUED
        return cls(
            number=receipt.number, issued_at=receipt.issued_at, sent_at=receipt.sent_at,
            status=status, _receipt=receipt,
        )  # fmt: skip

    @strawberry.field(
        description="A link to the receipt's PDF, valid for 15 minutes (for you only); null "
        "while it is being made."
    )
    def download_url(self, info: Info) -> str | None:
        settings = info.context.runtime.settings
        return receipts.receipt_link(settings, info.context.viewer, self._receipt)


@strawberry.type(
    description="A donor's summary of a calendar year's giving, for tax purposes: their "
    "confirmed gifts dated in the year, each less its refunds."
)
class YearlyReceipt:
    year: int = strawberry.field(description="The calendar year (by the gifts' dates).")
    donor_name: str = strawberry.field(description="The donor's name, as printed.")
    gift_count: int = strawberry.field(description="How many gifts the year has.")
    totals: list[Money] = strawberry.field(
        description="The year's total in each currency given in (gifts less refunds), by "
        "currency code; empty when nothing was given."
    )
    download_url: str = strawberry.field(
        description="A link to the summary's PDF (made now), valid for 15 minutes, for you "
        "only; the file itself is kept a day."
    )


@strawberry.enum(description="Why a receipt mutation failed.")
class ReceiptErrorCode(Enum):
    NOT_FOUND = ev(
        "NOT_FOUND", description="No such gift with a receipt, or donor (that you may see)."
    )
    CONFLICT = ev("CONFLICT", description="A concurrent change won; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a receipt mutation's input.")
class ReceiptError(UserError):
    code: ReceiptErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="The receipt, or why there is none.")
class GiftReceiptPayload:
    receipt: Receipt | None = strawberry.field(description="The receipt.")
    user_errors: list[ReceiptError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The yearly summary, or why there is none.")
class GivingYearlyReceiptPayload:
    receipt: YearlyReceipt | None = strawberry.field(description="The summary.")
    user_errors: list[ReceiptError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Sending a gift's receipt again.")
class GiftReceiptResendInput:
    gift_id: relay.GlobalID = strawberry.field(description="The confirmed `Gift`.")


@strawberry.input(description="Which donor's summary of which year.")
class GivingYearlyReceiptCreateInput:
    year: int = strawberry.field(description="The calendar year (1900 to this year).")
    donor_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="The `Donor` (giving staff); omit for your own giving.",
    )


@strawberry.type
class ReceiptQuery:
    @strawberry.field(
        extensions=requires(),
        description="A gift's receipt: for the donor (their own gift) and giving staff; null "
        "for anyone else, and for a gift without one.",
    )
    async def gift_receipt(
        self,
        info: Info,
        gift_id: Annotated[relay.GlobalID, strawberry.argument(description="The `Gift`.")],
    ) -> Receipt | None:
        pk = global_pk(gift_id, "Gift")
        if pk is None:
            return None
        async with info.context.reads.connect() as conn:
            found = await receipts.receipt_of(conn, info.context.viewer, pk)
        return Receipt.of(found) if found is not None else None


@strawberry.type
class ReceiptMutation:
    @strawberry.mutation(
        extensions=requires(Permission.GIVING),
        description="Send a gift's receipt to its donor again (giving staff): a fresh PDF, "
        "with any refunds since, e-mailed by a job once.",
    )
    async def gift_receipt_resend(
        self, info: Info, input: Annotated[GiftReceiptResendInput, arg("The gift.")]
    ) -> GiftReceiptPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info, lambda uow: receipts.resend(uow, viewer, pk_of(input.gift_id, "Gift", "giftId"))
        )
        return GiftReceiptPayload(
            receipt=Receipt.of(found) if found is not None else None,
            user_errors=user_errors(ReceiptError, ReceiptErrorCode, problems),
        )

    @strawberry.mutation(
        extensions=requires(),
        description="Make a donor's summary of a year's giving, for tax purposes, as a PDF "
        "(kept a day): your own, or any donor's for giving staff. Another person's donor is "
        "NOT_FOUND.",
    )
    async def giving_yearly_receipt_create(
        self,
        info: Info,
        input: Annotated[GivingYearlyReceiptCreateInput, arg("The year and the donor.")],
    ) -> GivingYearlyReceiptPayload:
        viewer = info.context.viewer
        settings = info.context.runtime.settings
        donor_id = None
        if input.donor_id is not None:  # an id that names no donor: NOT_FOUND
            donor_id = global_pk(input.donor_id, "Donor") or -1
        found, problems = await run_in_transaction(
            info, lambda uow: receipts.yearly(uow, viewer, settings, input.year, donor_id)
        )
        made = None
        if found is not None and viewer.user_id is not None:
            made = YearlyReceipt(
                year=found.summary.year, donor_name=found.summary.donor_name,
                gift_count=found.summary.gift_count,
                totals=[Money.of(m, c) for c, m in sorted(found.summary.totals.items())],
                download_url=files.download_url(settings, viewer.user_id, found.file_id),
            )  # fmt: skip
        return GivingYearlyReceiptPayload(
            receipt=made, user_errors=user_errors(ReceiptError, ReceiptErrorCode, problems)
        )
