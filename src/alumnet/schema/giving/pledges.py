"""Giving: pledges and their instalments; making and cancelling a pledge; the lists of
pledges for giving staff (all, lapsed) and for a donor (their own)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Self

import strawberry
from sqlalchemy import case, func, select
from strawberry import relay

from alumnet.domain.giving import pledges
from alumnet.domain.giving.donors import DonorRef
from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.models import Donor as DonorModel
from alumnet.persistence.models import Fund as FundModel
from alumnet.persistence.models import Pledge as PledgeModel
from alumnet.persistence.models import PledgeInstalment as InstalmentModel
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.giving.types import Money
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import int_ids, optional_gid, optional_pk, readable_rows
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey, reads_loader
from alumnet.schema.permissions import requires

ev = strawberry.enum_value
TYPE = "Pledge"
INSTALMENT = "PledgeInstalment"


@strawberry.enum(description="How often a pledge's instalment falls due.")
class PledgeFrequency(Enum):
    MONTHLY = ev("monthly", description="Every calendar month from its start.")
    QUARTERLY = ev("quarterly", description="Every three calendar months from its start.")
    YEARLY = ev("yearly", description="Every year from its start.")


@strawberry.enum(description="Where a pledge stands.")
class PledgeStatus(Enum):
    ACTIVE = ev("active", description="Instalments are expected.")
    COMPLETED = ev("completed", description="Every instalment is paid.")
    LAPSED = ev(
        "lapsed",
        description="Two instalments (one, if yearly) were missed; a payment makes it active.",
    )
    CANCELLED = ev("cancelled", description="Cancelled by the donor or giving staff.")


@strawberry.enum(description="Where a pledge's instalment stands.")
class PledgeInstalmentStatus(Enum):
    SCHEDULED = ev("scheduled", description="Its date has not come yet.")
    DUE = ev("due", description="Its date has come; not paid yet.")
    PAID = ev("paid", description="Paid by a gift (`gift`).")
    MISSED = ev("missed", description="Unpaid 30 days after its date (a gift still pays it).")
    CANCELLED = ev("cancelled", description="Its pledge was cancelled before it was paid.")


async def _figures(reads: Any, ids: Sequence[int]) -> list[Any]:
    """Per pledge: what its paid instalments add up to, and the first unpaid one's date."""
    i = InstalmentModel
    query = (
        select(
            i.pledge_id,
            func.coalesce(func.sum(case((i.status == "paid", i.amount_minor), else_=0)), 0).label(
                "paid"
            ),
            func.min(case((i.status.in_(pledges.UNPAID), i.due_on), else_=None)).label("next"),
        )
        .where(i.pledge_id.in_(list(ids)))
        .group_by(i.pledge_id)
    )
    async with reads.connect() as conn:
        found = {int(r.pledge_id): r for r in (await conn.execute(query)).all()}
    return [found.get(p) for p in ids]


async def _names(reads: Any, ids: Sequence[int]) -> list[str | None]:
    async with reads.connect() as conn:
        rows = await conn.execute(
            select(DonorModel.id, DonorModel.name).where(DonorModel.id.in_(list(ids)))
        )
        found = {int(i): str(n) for i, n in rows.all()}
    return [found.get(i) for i in ids]


async def _fund_names(reads: Any, ids: Sequence[int]) -> list[str | None]:
    async with reads.connect() as conn:
        rows = await conn.execute(
            select(FundModel.id, FundModel.name).where(FundModel.id.in_(list(ids)))
        )
        found = {int(i): str(n) for i, n in rows.all()}
    return [found.get(i) for i in ids]


@strawberry.type(
    description="One instalment of a pledge: seen by giving staff and by the pledge's donor."
)
class PledgeInstalment(relay.Node):
    id: relay.NodeID[int]
    seq: int = strawberry.field(description="Its place in the pledge's schedule, from 1.")
    due_on: date = strawberry.field(description="The day it falls due.")
    amount: Money = strawberry.field(description="The amount it asks for.")
    status: PledgeInstalmentStatus = strawberry.field(description="Where it stands.")
    reminded_at: datetime | None = strawberry.field(
        description="When the donor was reminded of it (UTC), a week before its date."
    )
    gift_id: relay.GlobalID | None = strawberry.field(
        description="The `Gift` that paid it; null while unpaid."
    )
    pledge_id: relay.GlobalID = strawberry.field(description="Its `Pledge`.")

    @classmethod
    def from_row(cls, row: Any, currency: str) -> Self:
        return cls(
            id=row.id, seq=row.seq, due_on=row.due_on, amount=Money.of(row.amount_minor, currency),
            status=PledgeInstalmentStatus(row.status), reminded_at=row.reminded_at,
            gift_id=optional_gid("Gift", row.gift_id),
            pledge_id=relay.GlobalID(TYPE, str(row.pledge_id)),
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        viewer = info.context.viewer
        wanted = [i for i in ids if i]
        if not wanted or not viewer.is_authenticated:
            return [None for _ in ids]
        query = (
            select(*InstalmentModel.__table__.c, PledgeModel.currency)
            .join(PledgeModel, PledgeModel.id == InstalmentModel.pledge_id)
            .where(InstalmentModel.id.in_(wanted))
        )
        where = pledges.readable(viewer)
        if where is not None:
            query = query.where(where)
        async with info.context.reads.connect() as conn:
            found = {row.id: row for row in (await conn.execute(query)).all()}
        return [cls.from_row(found[i], found[i].currency) if i in found else None for i in ids]


@strawberry.type(description="A pledge's instalments, a page at a time.")
class PledgeInstalmentConnection(CountedConnection[PledgeInstalment]):
    pass


@strawberry.type(
    description="A donor's promise to give an amount every month, quarter or year, a number "
    "of times or until cancelled. Seen by giving staff and by the donor themselves only."
)
class Pledge(relay.Node):
    id: relay.NodeID[int]
    status: PledgeStatus = strawberry.field(description="Where it stands.")
    frequency: PledgeFrequency = strawberry.field(description="How often it falls due.")
    instalment_amount: Money = strawberry.field(description="What each instalment asks for.")
    instalment_count: int | None = strawberry.field(
        description="How many instalments it has; null: open-ended (until cancelled)."
    )
    starts_on: date = strawberry.field(description="The first instalment's date.")
    anonymous: bool = strawberry.field(
        description="Whether its gifts are shown as anonymous to everyone but giving staff."
    )
    created_at: datetime = strawberry.field(description="When it was made (UTC).")
    lapsed_at: datetime | None = strawberry.field(description="When it lapsed (UTC).")
    cancelled_at: datetime | None = strawberry.field(description="When it was cancelled (UTC).")
    fund_id: relay.GlobalID = strawberry.field(description="The `Fund` it gives to.")
    campaign_id: relay.GlobalID | None = strawberry.field(
        description="The `Campaign` whose pledged total it counts in, if any."
    )
    donor_id: relay.GlobalID = strawberry.field(description="The `Donor` who pledged.")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, status=PledgeStatus(row.status), frequency=PledgeFrequency(row.frequency),
            instalment_amount=Money.of(row.instalment_minor, row.currency),
            instalment_count=row.instalments, starts_on=row.starts_on,
            anonymous=bool(row.anonymous), created_at=row.created_at, lapsed_at=row.lapsed_at,
            cancelled_at=row.cancelled_at, fund_id=relay.GlobalID("Fund", str(row.fund_id)),
            campaign_id=optional_gid("Campaign", row.campaign_id),
            donor_id=relay.GlobalID("Donor", str(row.donor_id)), _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        found = await readable_rows(
            info, PledgeModel.__table__, ids, pledges.readable(info.context.viewer)
        )
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(
        description="What it promises in all (instalment times count); null when open-ended."
    )
    def amount_pledged(self) -> Money | None:
        if self._row.instalments is None:
            return None
        return Money.of(self._row.instalment_minor * self._row.instalments, self._row.currency)

    @strawberry.field(description="What its paid instalments add up to.")
    async def amount_paid(self, info: Info) -> Money:
        found = await reads_loader(info, ("pledges", "figures"), _figures).load(self.id)
        return Money.of(int(found.paid) if found is not None else 0, self._row.currency)

    @strawberry.field(
        description="The date of its first unpaid (scheduled, due or missed) instalment; null "
        "when none is unpaid."
    )
    async def next_due(self, info: Info) -> date | None:
        found = await reads_loader(info, ("pledges", "figures"), _figures).load(self.id)
        if found is None or found.next is None:
            return None
        nxt = found.next
        return nxt if isinstance(nxt, date) else date.fromisoformat(str(nxt))

    @strawberry.field(description="The donor's name (as recorded).")
    async def donor_name(self, info: Info) -> str | None:
        loader = reads_loader(info, ("pledges", "donors"), _names)
        return await loader.load(self._row.donor_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The fund's name.")
    async def fund_name(self, info: Info) -> str | None:
        loader = reads_loader(info, ("pledges", "funds"), _fund_names)
        return await loader.load(self._row.fund_id)  # type: ignore[no-any-return]

    @relay.connection(
        PledgeInstalmentConnection,
        description="Its instalments in the order they fall due (an open-ended pledge's for "
        "the next 12 months; more are added as time goes on).",
        max_results=pledges.INSTALMENTS_MAX,
    )
    def instalments(self, info: Info) -> Iterable[PledgeInstalment]:
        query = select(*InstalmentModel.__table__.c, PledgeModel.currency).join(
            PledgeModel, PledgeModel.id == InstalmentModel.pledge_id
        )
        return KeysetQuery(
            query,
            [SortKey(InstalmentModel.seq)],
            lambda row: PledgeInstalment.from_row(row, row.currency),
            info.context.reads,
            partition=(InstalmentModel.pledge_id, self.id),
            batch_key="Pledge.instalments",
        )


@strawberry.type(description="Pledges, a page at a time.")
class PledgeConnection(CountedConnection[Pledge]):
    pass


@strawberry.enum(description="Why a pledge mutation failed.")
class PledgeErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such pledge, person, donor, fund or campaign.")
    NOT_ALLOWED = ev(
        "NOT_ALLOWED", description="Alumni pledge for themselves; staff need `giving`."
    )
    INVALID_AMOUNT = ev(
        "INVALID_AMOUNT",
        description="The amount is zero or less, or has more decimals than its currency.",
    )
    UNKNOWN_CURRENCY = ev("UNKNOWN_CURRENCY", description="Not an ISO 4217 currency code.")
    WRONG_CURRENCY = ev("WRONG_CURRENCY", description="The campaign is in another currency.")
    WRONG_FUND = ev("WRONG_FUND", description="The campaign does not raise for that fund.")
    CAMPAIGN_CLOSED = ev("CAMPAIGN_CLOSED", description="The campaign takes no more pledges.")
    OUT_OF_RANGE = ev(
        "OUT_OF_RANGE", description="The start is more than a year ago or a year ahead."
    )
    WRONG_STATUS = ev("WRONG_STATUS", description="Not possible in the pledge's state now.")
    IDEMPOTENCY_CONFLICT = ev(
        "IDEMPOTENCY_CONFLICT", description="That idempotency key made a different pledge."
    )
    TOO_MANY = ev("TOO_MANY", description="You have too many open pledges.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    CONFLICT = ev("CONFLICT", description="A concurrent change won; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a pledge mutation's input.")
class PledgeError(UserError):
    code: PledgeErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="The pledge, or why there is none.")
class PledgePayload:
    pledge: Pledge | None = strawberry.field(description="The pledge.")
    user_errors: list[PledgeError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A new pledge.")
class PledgeCreateInput:
    user_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="Giving staff: the `User` who pledges. Give this, `donorId`, or an "
        "outside donor's name and e-mail. Alumni pledging for themselves give none.",
    )
    donor_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Giving staff: the `Donor` who pledges."
    )
    donor_name: str | None = strawberry.field(
        default=None, description="Giving staff: an outside donor's name (at most 200)."
    )
    donor_email: str | None = strawberry.field(
        default=None,
        description="Giving staff: an outside donor's e-mail (found, or made with the name).",
    )
    fund_id: relay.GlobalID = strawberry.field(description="The `Fund` it gives to.")
    campaign_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="The active `Campaign` it counts in (its currency and funds must fit).",
    )
    currency: str = strawberry.field(description="ISO 4217 code (e.g. USD).")
    instalment_amount: Decimal = strawberry.field(
        description="Each instalment, in major units, more than zero, exact in the currency."
    )
    frequency: PledgeFrequency = strawberry.field(description="How often it falls due.")
    instalments: int | None = strawberry.field(
        default=None, description="How many instalments (1 to 600); null: until cancelled."
    )
    starts_on: date = strawberry.field(
        description="The first instalment's date: at most a year ago or a year ahead. Dates "
        "run by calendar months: a pledge started on the 31st falls due at each month's end."
    )
    anonymous: bool = strawberry.field(
        default=False, description="Show its gifts as anonymous to all but giving staff."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Your key (at most 200 characters): sending again with it returns the "
        "first pledge and writes nothing.",
    )


@strawberry.input(description="Cancelling a pledge.")
class PledgeCancelInput:
    id: relay.GlobalID = strawberry.field(description="The active or lapsed pledge.")


@strawberry.input(description="Which pledges to list.")
class PledgeFilter:
    status: PledgeStatus | None = strawberry.field(default=None, description="Only this state.")
    campaign_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only those counting in this `Campaign`."
    )
    donor_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only this `Donor`'s."
    )


def _payload(found: Any, problems: Any) -> PledgePayload:
    return PledgePayload(
        pledge=Pledge.from_row(found) if found is not None else None,
        user_errors=user_errors(PledgeError, PledgeErrorCode, problems),
    )


def _newest(query: Any, info: Info) -> KeysetQuery[Pledge]:
    sort = [SortKey(PledgeModel.id, descending=True)]
    return KeysetQuery(query, sort, Pledge.from_row, info.context.reads)


@strawberry.type
class PledgeQuery:
    @relay.connection(
        PledgeConnection,
        description="Every pledge, newest first (giving staff).",
        max_results=1000,
        extensions=requires(Permission.GIVING),
    )
    def pledges(
        self,
        info: Info,
        filter: Annotated[
            PledgeFilter | None, strawberry.argument(description="Which pledges.")
        ] = None,
    ) -> Iterable[Pledge]:
        query = select(PledgeModel.__table__)
        if filter is not None:
            if filter.status is not None:
                query = query.where(PledgeModel.status == filter.status.value)
            if filter.campaign_id is not None:
                query = query.where(PledgeModel.campaign_id == optional_pk(filter.campaign_id,
                                                                      "Campaign"))  # fmt: skip
            if filter.donor_id is not None:
                query = query.where(PledgeModel.donor_id == optional_pk(filter.donor_id, "Donor"))
        return _newest(query, info)

    @relay.connection(
        PledgeConnection,
        description="Lapsed pledges, most recently lapsed first (giving staff): those to "
        "follow up.",
        max_results=1000,
        extensions=requires(Permission.GIVING),
    )
    def lapsed_pledges(self, info: Info) -> Iterable[Pledge]:
        query = select(PledgeModel.__table__).where(PledgeModel.status == "lapsed")
        sort = [SortKey(PledgeModel.lapsed_at, descending=True),
                SortKey(PledgeModel.id, descending=True)]  # fmt: skip
        return KeysetQuery(query, sort, Pledge.from_row, info.context.reads)

    @relay.connection(
        PledgeConnection,
        description="Your own pledges, newest first.",
        max_results=1000,
        extensions=requires(),
    )
    def my_pledges(self, info: Info) -> Iterable[Pledge]:
        me = info.context.viewer.user_id or -1
        mine = select(DonorModel.id).where(DonorModel.user_id == me)
        return _newest(select(PledgeModel.__table__).where(PledgeModel.donor_id.in_(mine)), info)


@strawberry.type
class PledgeMutation:
    @strawberry.mutation(
        extensions=requires(),
        description="Make a pledge and its schedule of instalments: giving staff for any "
        "donor, an alumnus for themselves. Its campaign's pledged total rises by its unpaid "
        "instalments (an open-ended pledge's of the next 12 months). Gifts of the donor to "
        "its fund, in its currency, pay its instalments in order as they are confirmed.",
    )
    async def pledge_create(
        self, info: Info, input: Annotated[PledgeCreateInput, arg("The pledge.")]
    ) -> PledgePayload:
        viewer = info.context.viewer
        named = [input.user_id, input.donor_id, input.donor_name, input.donor_email]
        donor = None
        if any(n is not None for n in named):
            donor = DonorRef(
                user_id=optional_pk(input.user_id, "User"),
                donor_id=optional_pk(input.donor_id, "Donor"),
                name=input.donor_name, email=input.donor_email,
            )  # fmt: skip
        fields = pledges.PledgeFields(
            fund_id=optional_pk(input.fund_id, "Fund") or -1,
            campaign_id=optional_pk(input.campaign_id, "Campaign"), currency=input.currency,
            instalment_amount=input.instalment_amount, frequency=str(input.frequency.value),
            instalments=input.instalments, starts_on=input.starts_on,
            anonymous=input.anonymous, idempotency_key=input.idempotency_key,
        )  # fmt: skip

        async def change(uow: Any) -> Any:
            pledge, _ = await pledges.create(uow, viewer, donor, fields)
            return pledge

        found, problems = await run_in_transaction(info, change)
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(),
        description="Cancel an active or lapsed pledge (giving staff, or its donor): its "
        "unpaid instalments are cancelled and leave the campaign's pledged total.",
    )
    async def pledge_cancel(
        self, info: Info, input: Annotated[PledgeCancelInput, arg("The pledge.")]
    ) -> PledgePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info, lambda uow: pledges.cancel(uow, viewer, pk_of(input.id, TYPE, "id"))
        )
        return _payload(found, problems)
