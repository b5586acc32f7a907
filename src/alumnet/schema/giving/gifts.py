"""Giving: gifts and their refunds, recorded by giving staff or reported by alumni, and the
lists giving staff and donors read.

Only giving staff (``giving``) and the donor (the user behind the gift's donor) read a gift
at all: to anyone else, `node(id:)` answers null. An amount is always positive; a refund is a
gift of its own (kind REFUND) that takes its amount off the gift it refunds (`refundOf`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import func, select
from strawberry import relay

from alumnet.domain.errors import Problem
from alumnet.domain.giving import gifts
from alumnet.domain.giving.donors import DonorRef
from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.loaders.common import grouped
from alumnet.persistence.models import Donor as DonorModel
from alumnet.persistence.models import Gift as GiftModel
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.giving.types import Money
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import global_pk, int_ids, optional_pk, readable_rows, visible_user
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey, reads_loader
from alumnet.schema.permissions import requires

if TYPE_CHECKING:
    from alumnet.schema.giving.campaigns import Campaign, Fund
    from alumnet.schema.giving.donors import Donor
    from alumnet.schema.identity.types import User

ev = strawberry.enum_value
IDENTITY = "alumnet.schema.identity.types"
CAMPAIGNS = "alumnet.schema.giving.campaigns"
DONORS = "alumnet.schema.giving.donors"
# The refunds of one gift listed at most (partial refunds are a handful in practice).
REFUNDS_MAX = 100


@strawberry.enum(description="A gift, or a refund of one.")
class GiftKind(Enum):
    GIFT = ev("gift", description="Money given.")
    REFUND = ev(
        "refund",
        description="Money given back: its amount (positive) is taken off the gift it "
        "refunds (`refundOf`), in the totals of that gift's year.",
    )


@strawberry.enum(description="Where a gift stands. Only CONFIRMED gifts count in any total.")
class GiftStatus(Enum):
    PENDING = ev(
        "pending", description="Reported by the donor (an alumnus); waiting for giving staff."
    )
    CONFIRMED = ev("confirmed", description="Confirmed (or recorded by staff): it counts.")
    DECLINED = ev(
        "declined", description="Giving staff did not find it in the accounts; see the reason."
    )


@strawberry.enum(description="How a gift was paid.")
class PaymentMethod(Enum):
    CASH = ev("cash", description="In cash.")
    CHEQUE = ev("cheque", description="By cheque.")
    CARD = ev("card", description="By card, taken by staff.")
    BANK_TRANSFER = ev("bank_transfer", description="By bank transfer.")
    ONLINE = ev("online", description="Online, through the payment provider.")
    OTHER = ev("other", description="Any other way.")


@strawberry.enum(description="Who entered a gift.")
class GiftSource(Enum):
    STAFF = ev("staff", description="Giving staff recorded it.")
    SELF = ev("self", description="The donor (an alumnus) reported it.")
    PROVIDER = ev("provider", description="The payment provider's webhook recorded it.")
    IMPORT = ev("import", description="An import of historical gifts (no receipt number here).")


@strawberry.enum(description="Whom a gift honours.")
class TributeKind(Enum):
    HONOUR = ev("honour", description="In honour of a living person.")
    MEMORY = ev("memory", description="In memory of someone who died.")


@strawberry.type(description="A gift made in honour or in memory of someone.")
class Tribute:
    kind: TributeKind = strawberry.field(description="In honour or in memory.")
    name: str = strawberry.field(description="The person honoured.")


@strawberry.type(
    description="A gift, or a refund of one. Only giving staff and the donor read it; a "
    "recorded gift is never edited (a wrong one is refunded)."
)
class Gift(relay.Node):
    id: relay.NodeID[int]
    kind: GiftKind = strawberry.field(description="A gift or a refund.")
    status: GiftStatus = strawberry.field(description="Where it stands.")
    date: date = strawberry.field(
        description="The day it was given (a refund: the day the money went back)."
    )
    payment_method: PaymentMethod = strawberry.field(description="How it was paid.")
    source: GiftSource = strawberry.field(description="Who entered it.")
    reference: str | None = strawberry.field(
        description="The payment's reference (a cheque number, the provider's payment id)."
    )
    anonymous: bool = strawberry.field(
        description="Whether the donor asked not to be named: only giving staff and the "
        "donor see who gave it; reports show 'Anonymous'."
    )
    tribute: Tribute | None = strawberry.field(
        description="In honour or in memory of whom, if anyone."
    )
    receipt_number: str | None = strawberry.field(
        description='Its receipt number ("2026-000123": the year it was confirmed and a '
        "number that runs on); null while pending, for refunds and for imported gifts."
    )
    created_at: datetime = strawberry.field(description="When it was entered (UTC).")
    confirmed_at: datetime | None = strawberry.field(
        description="When it was confirmed and began to count (UTC); null unless confirmed."
    )
    decline_reason: str | None = strawberry.field(
        description="Why giving staff declined it (the donor reads it); null otherwise."
    )
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        tribute = (
            Tribute(kind=TributeKind(row.tribute_kind), name=row.tribute_name)
            if row.tribute_kind and row.tribute_name
            else None
        )
        return cls(
            id=row.id, kind=GiftKind(row.kind), status=GiftStatus(row.status),
            date=row.gift_date, payment_method=PaymentMethod(row.payment_method),
            source=GiftSource(row.source), reference=row.reference, anonymous=row.anonymous,
            tribute=tribute, receipt_number=gifts.receipt_number(row),
            created_at=row.created_at, confirmed_at=row.confirmed_at,
            decline_reason=row.decline_reason, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        condition = gifts.readable(info.context.viewer)
        found = await readable_rows(info, GiftModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(
        description="How much: always positive (a refund's amount is what went back), in "
        "the gift's currency."
    )
    def amount(self) -> Money:
        return Money.of(abs(self._row.amount_minor), self._row.currency)

    @strawberry.field(
        description="Who gave it. Only giving staff and the donor read a gift at all, so "
        "only they see the donor of an anonymous gift; null if you may not see the donor."
    )
    async def donor(self, info: Info) -> Annotated[Donor, strawberry.lazy(DONORS)] | None:
        loader = reads_loader(info, ("giving", "gift_donor"), _nodes_of(info, "Donor"))
        return await loader.load(self._row.donor_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The fund it is for (a refund: its gift's).")
    async def fund(self, info: Info) -> Annotated[Fund, strawberry.lazy(CAMPAIGNS)] | None:
        loader = reads_loader(info, ("giving", "gift_fund"), _nodes_of(info, "Fund"))
        return await loader.load(self._row.fund_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The campaign it counts for, if any and if you may see it.")
    async def campaign(self, info: Info) -> Annotated[Campaign, strawberry.lazy(CAMPAIGNS)] | None:
        if self._row.campaign_id is None:
            return None
        loader = reads_loader(info, ("giving", "gift_campaign"), _nodes_of(info, "Campaign"))
        return await loader.load(self._row.campaign_id)  # type: ignore[no-any-return]

    @strawberry.field(description="Giving staff's note on it; null for anyone else.")
    def note(self, info: Info) -> str | None:
        return self._row.note if info.context.viewer.can(Permission.GIVING) else None

    @strawberry.field(
        description="The person also credited with it (a spouse, the employee behind a "
        "company's gift), if you may see them."
    )
    async def soft_credit(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.soft_credit_user_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The gift this refund gives money back from; null for a gift.")
    async def refund_of(self, info: Info) -> Gift | None:
        if self._row.refund_of_id is None:
            return None
        loader = reads_loader(info, ("giving", "gift"), _gifts(info))
        return await loader.load(self._row.refund_of_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description=f"The refunds of this gift, oldest first (at most {REFUNDS_MAX}); empty "
        "for a refund."
    )
    async def refunds(self, info: Info) -> list[Gift]:
        if self._row.kind != "gift":
            return []
        rows = await reads_loader(info, ("giving", "refunds"), _refunds).load(self._row.id)
        return [Gift.from_row(r) for r in rows]

    @strawberry.field(
        description="How much of this gift has been refunded (zero if none; for a refund, zero)."
    )
    async def refunded_amount(self, info: Info) -> Money:
        if self._row.kind != "gift":
            return Money.of(0, self._row.currency)
        minor = await reads_loader(info, ("giving", "refunded"), _refunded).load(self._row.id)
        return Money.of(minor, self._row.currency)


def _gifts(info: Info) -> Any:
    """Gifts by id, as the viewer may read them: one statement for the whole response."""

    async def load(reads: Any, ids: Sequence[int]) -> list[Gift | None]:
        return await Gift.resolve_nodes(info=info, node_ids=[str(i) for i in ids])

    return load


def _nodes_of(info: Info, type_name: str) -> Any:
    """Funds, campaigns or donors by id, as the viewer may see them, once for the whole response."""

    async def load(reads: Any, ids: Sequence[int]) -> list[Any]:
        from alumnet.schema.giving import campaigns, donors

        node: Any = {"Fund": campaigns.Fund, "Campaign": campaigns.Campaign,
                     "Donor": donors.Donor}[type_name]  # fmt: skip
        return list(await node.resolve_nodes(info=info, node_ids=[str(i) for i in ids]))

    return load


async def _refunds(reads: Any, ids: Sequence[int]) -> list[list[Any]]:
    g = GiftModel
    rank = (
        func.row_number()
        .over(partition_by=g.refund_of_id, order_by=(g.gift_date, g.id))
        .label("rank")
    )
    inner = select(*g.__table__.c, rank).where(g.refund_of_id.in_(list(ids))).subquery()
    query = (
        select(*[inner.c[c.name] for c in g.__table__.c])
        .where(inner.c.rank <= REFUNDS_MAX)
        .order_by(inner.c.gift_date, inner.c.id)
    )
    return await grouped(reads, query, "refund_of_id", ids)


async def _refunded(reads: Any, ids: Sequence[int]) -> list[int]:
    g = GiftModel
    query = (
        select(g.refund_of_id, func.sum(g.amount_minor).label("total"))
        .where(g.refund_of_id.in_(list(ids)), g.status == "confirmed")
        .group_by(g.refund_of_id)
    )
    async with reads.connect() as conn:
        found = {row.refund_of_id: int(row.total) for row in (await conn.execute(query)).all()}
    return [-found.get(i, 0) for i in ids]


@strawberry.type(description="Gifts, a page at a time.")
class GiftConnection(CountedConnection[Gift]):
    pass


# -- mutations --------------------------------------------------------------------------------


@strawberry.enum(description="Why a gift mutation failed. Nothing was written.")
class GiftErrorCode(Enum):
    NOT_FOUND = ev(
        "NOT_FOUND",
        description="No such gift, person, donor, open fund or (non-draft) campaign.",
    )
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    INVALID_AMOUNT = ev(
        "INVALID_AMOUNT",
        description="The amount is not more than zero, or has more decimal places than the "
        "currency has (USD 2, JPY 0), or more than 15 digits before the point.",
    )
    UNKNOWN_CURRENCY = ev(
        "UNKNOWN_CURRENCY", description="Not an ISO 4217 currency one can pay in."
    )
    WRONG_CURRENCY = ev("WRONG_CURRENCY", description="The campaign raises in another currency.")
    WRONG_FUND = ev("WRONG_FUND", description="The campaign does not raise for that fund.")
    FUTURE_DATE = ev("FUTURE_DATE", description="The date is after today (UTC).")
    IDEMPOTENCY_CONFLICT = ev(
        "IDEMPOTENCY_CONFLICT",
        description="The idempotency key recorded a different gift (or refund) before.",
    )
    NOT_PENDING = ev("NOT_PENDING", description="The gift is not waiting for confirmation.")
    NOT_REFUNDABLE = ev(
        "NOT_REFUNDABLE", description="Only a confirmed gift (not a refund) can be refunded."
    )
    REFUND_TOO_LARGE = ev(
        "REFUND_TOO_LARGE",
        description="The refunds of the gift would add up to more than the gift.",
    )
    NOT_ALLOWED = ev(
        "NOT_ALLOWED",
        description="Only alumni report their own gifts; staff do not confirm their own.",
    )
    TOO_MANY = ev("TOO_MANY", description="You have 20 reported gifts waiting already.")
    CONFLICT = ev("CONFLICT", description="Someone changed it at the same time; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a gift mutation's input.")
class GiftError(UserError):
    code: GiftErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="In honour or in memory of whom.")
class TributeInput:
    kind: TributeKind = strawberry.field(description="In honour or in memory.")
    name: str = strawberry.field(description="The person honoured (at most 200 characters).")


AMOUNT = (
    "How much, in major units (dollars, not cents), exact: more than zero, with at most "
    "the currency's decimal places (trailing zeros aside)."
)
KEY = (
    "Your idempotency key (e.g. the payment reference; at most 200 characters): sending "
    "the same gift again with it returns the first one (`created` false); sending another "
    "gift with it is IDEMPOTENCY_CONFLICT."
)


@strawberry.input(
    description="A gift giving staff record (confirmed at once, receipted, counted). Name "
    "the donor once: `userId`, `donorId`, or `donorName` with `donorEmail` (an outside "
    "donor, found by e-mail or made)."
)
class GiftRecordInput:
    user_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The donor, a person with an account (`User` or `Profile`)."
    )
    donor_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The donor, an existing `Donor`."
    )
    donor_name: str | None = strawberry.field(
        default=None, description="An outside donor's name (with `donorEmail`)."
    )
    donor_email: str | None = strawberry.field(
        default=None, description="An outside donor's e-mail address (with `donorName`)."
    )
    amount: Decimal = strawberry.field(description=AMOUNT)
    currency: str = strawberry.field(description="ISO 4217 code; a campaign's own currency.")
    date: date = strawberry.field(description="The day it was given (not in the future, UTC).")
    fund_id: relay.GlobalID = strawberry.field(description="The fund it is for (an open one).")
    campaign_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The campaign it counts for (not a draft), if any."
    )
    payment_method: PaymentMethod = strawberry.field(description="How it was paid.")
    reference: str | None = strawberry.field(
        default=None, description="The payment's reference (at most 200 characters)."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=KEY)
    anonymous: bool = strawberry.field(default=False, description="The donor asks not to be named.")
    tribute: TributeInput | None = strawberry.field(
        default=None, description="In honour or in memory of someone."
    )
    soft_credit_user_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Another person also credited with it (a `User`)."
    )
    note: str | None = strawberry.field(
        default=None, description="Giving staff's note (at most 2,000 characters)."
    )


@strawberry.input(
    description="A gift you made (alumni): it waits, PENDING, until giving staff confirm or "
    "decline it."
)
class GiftReportInput:
    amount: Decimal = strawberry.field(description=AMOUNT)
    currency: str = strawberry.field(description="ISO 4217 code; a campaign's own currency.")
    date: date = strawberry.field(description="The day you gave it (not in the future, UTC).")
    fund_id: relay.GlobalID = strawberry.field(description="The fund it was for.")
    campaign_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The campaign it was for, if any."
    )
    payment_method: PaymentMethod = strawberry.field(description="How you paid.")
    reference: str | None = strawberry.field(
        default=None, description="Your payment's reference (at most 200 characters)."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Your idempotency key (at most 170 characters): reporting again with it "
        "returns the first report.",
    )
    anonymous: bool = strawberry.field(default=False, description="You ask not to be named.")
    tribute: TributeInput | None = strawberry.field(
        default=None, description="In honour or in memory of someone."
    )
    note: str | None = strawberry.field(
        default=None, description="A note for giving staff (at most 2,000 characters)."
    )


@strawberry.input(description="A reported gift to confirm.")
class GiftConfirmInput:
    id: relay.GlobalID = strawberry.field(description="The gift (PENDING).")


@strawberry.input(description="A reported gift to decline.")
class GiftDeclineInput:
    id: relay.GlobalID = strawberry.field(description="The gift (PENDING).")
    reason: str = strawberry.field(description="Why (at most 500 characters); the donor reads it.")


@strawberry.input(description="A refund of a confirmed gift, whole or in part.")
class GiftRefundInput:
    gift_id: relay.GlobalID = strawberry.field(description="The gift (CONFIRMED, kind GIFT).")
    amount: Decimal | None = strawberry.field(
        default=None,
        description="How much goes back (positive); by default all that is left of the gift.",
    )
    date: date | None = strawberry.field(
        default=None, description="The day the money went back (default today, UTC)."
    )
    reason: str | None = strawberry.field(default=None, description="Why (at most 500 characters).")
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Your idempotency key: refunding again with it returns the first refund.",
    )


@strawberry.type(description="The gift (or refund), or why there is none.")
class GiftPayload:
    gift: Gift | None = strawberry.field(
        description="The gift; for `giftRefund`, the refund (its `refundOf` is the gift)."
    )
    created: bool = strawberry.field(
        description="True when this call recorded it; false when an idempotency key "
        "returned an earlier one, when an existing gift was confirmed or declined, or on "
        "userErrors."
    )
    user_errors: list[GiftError] = strawberry.field(description="Empty on success.")


def _person(gid: relay.GlobalID | None) -> int | None:
    if gid is None:
        return None
    return global_pk(gid, "User") or global_pk(gid, "Profile") or -1


def _fields(given: GiftRecordInput | GiftReportInput) -> gifts.GiftFields:
    tribute = given.tribute
    credited = getattr(given, "soft_credit_user_id", None)
    return gifts.GiftFields(
        amount=given.amount, currency=given.currency, gift_date=given.date,
        fund_id=optional_pk(given.fund_id, "Fund") or -1,
        campaign_id=optional_pk(given.campaign_id, "Campaign"),
        payment_method=str(given.payment_method.value), reference=given.reference,
        idempotency_key=given.idempotency_key, anonymous=given.anonymous,
        tribute_kind=str(tribute.kind.value) if tribute else None,
        tribute_name=tribute.name if tribute else None,
        soft_credit_user_id=_person(credited), note=given.note,
    )  # fmt: skip


def _payload(found: Any, problems: list[Problem], *, renamed: str | None = None) -> GiftPayload:
    gift, created = found if isinstance(found, tuple) else (found, False)
    if renamed is not None:  # the domain names the gift "id"; the input calls it otherwise
        problems = [
            dataclasses.replace(p, field=(renamed,)) if p.field == ("id",) else p for p in problems
        ]
    return GiftPayload(
        gift=Gift.from_row(gift) if gift is not None else None,
        created=bool(created),
        user_errors=user_errors(GiftError, GiftErrorCode, problems),
    )


# -- queries ----------------------------------------------------------------------------------


@strawberry.input(description="Which gifts to list; every condition given must hold.")
class GiftFilter:
    campaign_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only those counting for this campaign."
    )
    fund_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only those for this fund."
    )
    donor_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only this donor's (a `Donor`)."
    )
    status: GiftStatus | None = strawberry.field(default=None, description="Only this status.")
    kind: GiftKind | None = strawberry.field(
        default=None, description="Only gifts, or only refunds."
    )
    since: date | None = strawberry.field(
        default=None, name="from", description="Only those dated on or after this day."
    )
    until: date | None = strawberry.field(
        default=None, name="to", description="Only those dated on or before this day."
    )


def _listed(info: Info, query: Any) -> KeysetQuery[Gift]:
    g = GiftModel
    sort = [SortKey(g.gift_date, descending=True), SortKey(g.id, descending=True)]
    return KeysetQuery(query, sort, Gift.from_row, info.context.reads)


@strawberry.type
class GiftQuery:
    @relay.connection(
        GiftConnection,
        description="Every gift and refund, latest date first (giving staff: `giving`).",
        max_results=1000,
        extensions=requires(Permission.GIVING),
    )
    def gifts(
        self,
        info: Info,
        filter: Annotated[
            GiftFilter | None, strawberry.argument(description="Which gifts (all by default).")
        ] = None,
    ) -> Iterable[Gift]:
        g = GiftModel
        query = select(g.__table__)
        if filter is not None:
            if filter.campaign_id is not None:
                query = query.where(g.campaign_id == (optional_pk(filter.campaign_id, "Campaign")))
            if filter.fund_id is not None:
                query = query.where(g.fund_id == optional_pk(filter.fund_id, "Fund"))
            if filter.donor_id is not None:
                query = query.where(g.donor_id == optional_pk(filter.donor_id, "Donor"))
            if filter.status is not None:
                query = query.where(g.status == str(filter.status.value))
            if filter.kind is not None:
                query = query.where(g.kind == str(filter.kind.value))
            if filter.since is not None:
                query = query.where(g.gift_date >= filter.since)
            if filter.until is not None:
                query = query.where(g.gift_date <= filter.until)
        return _listed(info, query)

    @relay.connection(
        GiftConnection,
        description="Gifts alumni reported, waiting for confirmation, oldest first (giving "
        "staff: `giving`).",
        max_results=1000,
        extensions=requires(Permission.GIVING),
    )
    def gifts_to_confirm(self, info: Info) -> Iterable[Gift]:
        g = GiftModel
        query = select(g.__table__).where(g.status == "pending")
        sort = [SortKey(g.created_at), SortKey(g.id)]
        return KeysetQuery(query, sort, Gift.from_row, info.context.reads)

    @relay.connection(
        GiftConnection,
        description="Your own gifts and refunds (anonymous ones included; pending and "
        "declined reports too), latest date first.",
        max_results=1000,
        extensions=requires(),
    )
    def my_gifts(self, info: Info) -> Iterable[Gift]:
        g = GiftModel
        me = info.context.viewer.user_id or -1
        mine = select(DonorModel.id).where(DonorModel.user_id == me).scalar_subquery()
        return _listed(info, select(g.__table__).where(g.donor_id.in_(mine)))


@strawberry.type
class GiftMutation:
    @strawberry.mutation(
        description="Record a gift (giving staff: `giving`): confirmed at once, given the "
        "next receipt number, counted in the campaign's and the donor's totals. With an "
        "idempotency key, recorded once however often it is sent.",
        extensions=requires(Permission.GIVING),
    )
    async def gift_record(
        self, info: Info, input: Annotated[GiftRecordInput, arg("The gift.")]
    ) -> GiftPayload:
        viewer = info.context.viewer
        donor = DonorRef(
            user_id=_person(input.user_id), donor_id=optional_pk(input.donor_id, "Donor"),
            name=input.donor_name, email=input.donor_email,
        )  # fmt: skip
        fields = _fields(input)
        found, problems = await run_in_transaction(
            info, lambda uow: gifts.record(uow, viewer, donor, fields, source="staff")
        )
        return _payload(found, problems)

    @strawberry.mutation(
        description="Report a gift you made (alumni): PENDING until giving staff, who are "
        "notified, confirm or decline it; you are notified of their answer.",
        extensions=requires(),
    )
    async def gift_report(
        self, info: Info, input: Annotated[GiftReportInput, arg("The gift.")]
    ) -> GiftPayload:
        viewer = info.context.viewer
        fields = _fields(input)
        found, problems = await run_in_transaction(
            info, lambda uow: gifts.report_own(uow, viewer, fields)
        )
        return _payload(found, problems)

    @strawberry.mutation(
        description="Confirm a reported gift (giving staff, not their own): it is receipted "
        "and counts from now; the donor is notified.",
        extensions=requires(Permission.GIVING),
    )
    async def gift_confirm(
        self, info: Info, input: Annotated[GiftConfirmInput, arg("The gift.")]
    ) -> GiftPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info, lambda uow: gifts.confirm(uow, viewer, pk_of(input.id, "Gift", "id"))
        )
        return _payload(found, problems)

    @strawberry.mutation(
        description="Decline a reported gift (giving staff) with a reason the donor reads; "
        "it never counts.",
        extensions=requires(Permission.GIVING),
    )
    async def gift_decline(
        self, info: Info, input: Annotated[GiftDeclineInput, arg("The gift and why.")]
    ) -> GiftPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: gifts.decline(uow, viewer, pk_of(input.id, "Gift", "id"), input.reason),
        )
        return _payload(found, problems)

    @strawberry.mutation(
        description="Refund a confirmed gift, whole or in part (giving staff): a refund "
        "entry linked to it (the gift is not edited), taken off the totals of the gift's "
        "year. The refunds of a gift never add up to more than it.",
        extensions=requires(Permission.GIVING),
    )
    async def gift_refund(
        self, info: Info, input: Annotated[GiftRefundInput, arg("The refund.")]
    ) -> GiftPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: gifts.refund(
                uow, viewer, pk_of(input.gift_id, "Gift", "id"), amount=input.amount,
                refund_date=input.date, reason=input.reason,
                idempotency_key=input.idempotency_key,
            ),
        )  # fmt: skip
        return _payload(found, problems, renamed="giftId")
