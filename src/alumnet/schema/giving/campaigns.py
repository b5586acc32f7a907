"""Giving: funds and campaigns, their progress, and `campaignProgress`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Self

import strawberry
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.giving import campaigns as rules
from alumnet.domain.giving import totals
from alumnet.persistence.loaders.common import by_id, grouped
from alumnet.persistence.models import Campaign as CampaignModel
from alumnet.persistence.models import CampaignFund, CampaignFundTotal
from alumnet.persistence.models import Fund as FundModel
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.giving.types import Money
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import global_pk, int_ids, readable_rows
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey, reads_loader
from alumnet.schema.permissions import requires

ev = strawberry.enum_value
PAGE_MAX = 1000


# Funds -----------------------------------------------------------------------------------


@strawberry.type(
    description="A fund gifts are given to: a scholarship, a building, the annual fund. "
    "Signed-in people see funds in use; giving staff see all."
)
class Fund(relay.Node):
    id: relay.NodeID[int]
    code: str = strawberry.field(
        description="Its unique code in capitals (e.g. SCHOL): how imports and the payment "
        "provider name it. It never changes."
    )
    name: str = strawberry.field(description="Its name, for people.")
    description: str = strawberry.field(description="More about it (plain text; may be empty).")
    active: bool = strawberry.field(
        description="In use: false once taken out of use (no new gifts or campaigns)."
    )
    created_at: datetime = strawberry.field(description="When it was created (UTC).")

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, code=row.code, name=row.name, description=row.description,
            active=row.active, created_at=row.created_at,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        condition = rules.fund_readable(info.context.viewer)
        found = await readable_rows(info, FundModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]


@strawberry.type(description="Funds, a page at a time.")
class FundConnection(CountedConnection[Fund]):
    pass


# Campaigns -------------------------------------------------------------------------------


@strawberry.enum(description="Where a campaign stands.")
class CampaignStatus(Enum):
    DRAFT = ev("draft", description="Being prepared: seen by giving staff only; takes no gifts.")
    ACTIVE = ev("active", description="Open: shown to everyone signed in; takes gifts.")
    CLOSED = ev("closed", description="Over: still shown, with its figures.")


@strawberry.type(description="What a campaign raised for one of its funds.")
class FundProgress:
    fund: Fund = strawberry.field(description="The fund.")
    raised: Money = strawberry.field(
        description="Confirmed gifts less their refunds, in the campaign's currency."
    )
    pledged: Money = strawberry.field(
        description="What its active pledges still promise (unpaid instalments)."
    )
    gifts: int = strawberry.field(description="How many confirmed gifts (refunds not counted).")


@strawberry.type(
    description="How far a campaign has come, from the running totals kept with each gift."
)
class CampaignProgress:
    campaign_id: relay.GlobalID = strawberry.field(description="The campaign (its `Campaign` id).")
    goal: Money = strawberry.field(description="The campaign's goal.")
    raised: Money = strawberry.field(
        description="Confirmed gifts less their refunds (pending and declined gifts do not "
        "count), in the campaign's currency."
    )
    pledged: Money = strawberry.field(
        description="What the campaign's active pledges still promise (unpaid instalments)."
    )
    donors: int = strawberry.field(description="How many donors gave to it (confirmed gifts).")
    gifts: int = strawberry.field(description="How many confirmed gifts (refunds not counted).")
    percent_of_goal: float | None = strawberry.field(
        description="`raised` as a percentage of `goal`, to two decimal places (a ratio, "
        "not money, hence a Float): 0 and up, above 100 once the goal is passed; null "
        "if the goal is zero."
    )
    by_fund: list[FundProgress] = strawberry.field(
        description="The same, per fund: the campaign's funds in their order."
    )


async def _funds_of(reads: Any, ids: Sequence[int]) -> list[list[Any]]:
    query = (
        select(CampaignFund.campaign_id, *FundModel.__table__.c)
        .join(FundModel, FundModel.id == CampaignFund.fund_id)
        .where(CampaignFund.campaign_id.in_(list(ids)))
        .order_by(CampaignFund.campaign_id, CampaignFund.position)
    )
    return await grouped(reads, query, "campaign_id", ids)


async def _totals_of(reads: Any, ids: Sequence[int]) -> list[list[Any]]:
    query = select(CampaignFundTotal.__table__).where(CampaignFundTotal.campaign_id.in_(list(ids)))
    return await grouped(reads, query, "campaign_id", ids)


async def _funds_by_id(reads: Any, ids: Sequence[int]) -> list[Any]:
    return await by_id(reads, list(FundModel.__table__.c), FundModel.id, ids)


def _percent(raised: int, goal: int) -> float | None:
    if goal <= 0:
        return None
    return float((Decimal(raised) * 100 / Decimal(goal)).quantize(Decimal("0.01")))


@strawberry.type(
    description="A fundraising campaign: a goal in one currency, raised for one or more "
    "funds. Drafts are seen by giving staff only."
)
class Campaign(relay.Node):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="Its name.")
    description: str = strawberry.field(description="What it is for (plain text; may be empty).")
    currency: str = strawberry.field(
        description="The currency of its goal and of every gift to it (ISO 4217)."
    )
    goal: Money = strawberry.field(description="What it aims to raise.")
    starts_on: date = strawberry.field(description="The day it starts.")
    ends_on: date | None = strawberry.field(description="The day it ends; null: open-ended.")
    status: CampaignStatus = strawberry.field(description="Where it stands.")
    cover_image_url: str | None = strawberry.field(description="Its cover image (https).")
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, name=row.name, description=row.description, currency=row.currency,
            goal=Money.of(row.goal_minor, row.currency), starts_on=row.starts_on,
            ends_on=row.ends_on, status=CampaignStatus(row.status),
            cover_image_url=row.cover_image_url, created_at=row.created_at,
            updated_at=row.updated_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        condition = rules.campaign_readable(info.context.viewer)
        found = await readable_rows(info, CampaignModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(
        description="The funds it raises for, in order (those since taken out of use too)."
    )
    async def funds(self, info: Info) -> list[Fund]:
        rows = await reads_loader(info, ("giving", "campaign_funds"), _funds_of).load(self.id)
        return [Fund.from_row(r) for r in rows]

    @strawberry.field(
        description="Raised, pledged, donors and gifts so far, in all and per fund (live: "
        "the `campaignProgress` subscription)."
    )
    async def progress(self, info: Info) -> CampaignProgress:
        return await _progress_of(info, self._row)


async def _progress_of(info: Info, row: Any) -> CampaignProgress:
    """A campaign's progress: two statements for every campaign of the answer (its funds,
    shared with `Campaign.funds`, and its totals), a third only for a fund since taken off
    its list."""
    funds = reads_loader(info, ("giving", "campaign_funds"), _funds_of).load(row.id)
    sums = reads_loader(info, ("giving", "campaign_totals"), _totals_of).load(row.id)
    listed, rows = await funds, await sums
    currency = row.currency
    by_fund = {r.fund_id: r for r in rows}
    order = [Fund.from_row(f) for f in listed]
    known = {f.id for f in order}
    stray = [r.fund_id for r in rows if r.fund_id not in known]
    if stray:  # given to a fund since taken off the list: still counted, shown last
        loader = reads_loader(info, ("giving", "fund_by_id"), _funds_by_id)
        order += [Fund.from_row(f) for f in await loader.load_many(stray) if f is not None]
    raised = sum(r.raised_minor for r in rows)
    return CampaignProgress(
        campaign_id=relay.GlobalID("Campaign", str(row.id)),
        goal=Money.of(row.goal_minor, currency), raised=Money.of(raised, currency),
        pledged=Money.of(sum(r.pledged_minor for r in rows), currency),
        donors=row.donor_count, gifts=sum(r.gift_count for r in rows),
        percent_of_goal=_percent(raised, row.goal_minor),
        by_fund=[_fund_progress(f, by_fund.get(f.id), currency) for f in order],
    )  # fmt: skip


def _fund_progress(fund: Fund, row: Any, currency: str) -> FundProgress:
    return FundProgress(
        fund=fund, raised=Money.of(row.raised_minor if row else 0, currency),
        pledged=Money.of(row.pledged_minor if row else 0, currency),
        gifts=row.gift_count if row else 0,
    )  # fmt: skip


@strawberry.type(description="Campaigns, a page at a time.")
class CampaignConnection(CountedConnection[Campaign]):
    pass


@strawberry.input(description="Which campaigns to list.")
class CampaignFilter:
    status: list[CampaignStatus] | None = strawberry.field(
        default=None,
        description="Only these statuses (all you may see by default; drafts are giving "
        "staff's only).",
    )


# Mutations -------------------------------------------------------------------------------


@strawberry.enum(description="Why a fund mutation failed.")
class FundErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such fund.")
    REQUIRED = ev("REQUIRED", description="A required value is missing or empty.")
    TOO_LONG = ev("TOO_LONG", description="A value is longer than allowed.")
    INVALID_CODE = ev(
        "INVALID_CODE", description="The code is not 1 to 64 letters, digits, '-' or '_'."
    )
    CODE_TAKEN = ev("CODE_TAKEN", description="Another fund has this code.")
    CONFLICT = ev("CONFLICT", description="Changed by someone else at the same time: try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a fund mutation's input: nothing was changed.")
class FundError(UserError):
    code: FundErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.enum(description="Why a campaign mutation failed.")
class CampaignErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such campaign.")
    REQUIRED = ev("REQUIRED", description="A required value is missing or empty.")
    TOO_LONG = ev("TOO_LONG", description="A value is longer than allowed.")
    UNKNOWN_CURRENCY = ev(
        "UNKNOWN_CURRENCY", description="Not an ISO 4217 currency one can pay in."
    )
    INVALID_GOAL = ev(
        "INVALID_GOAL",
        description="The goal is not more than zero, or has more decimal places than the "
        "currency (USD 2, JPY 0).",
    )
    INVALID_DATES = ev(
        "INVALID_DATES", description="It ends before it starts, or a day is out of range."
    )
    INVALID_FUNDS = ev("INVALID_FUNDS", description="Not 1 to 20 funds, or a fund listed twice.")
    FUND_NOT_FOUND = ev("FUND_NOT_FOUND", description="A fund named is not a fund in use.")
    FUND_IN_USE = ev(
        "FUND_IN_USE",
        description="A fund taken off the list has gifts, pledges or payments in this campaign.",
    )
    INVALID_URL = ev("INVALID_URL", description="The cover image is not an https:// address.")
    CURRENCY_LOCKED = ev(
        "CURRENCY_LOCKED",
        description="Gifts, pledges or payments name the campaign: its currency is fixed.",
    )
    INVALID_STATUS = ev(
        "INVALID_STATUS",
        description="Not a move a campaign can make: draft → active → closed, and active → "
        "draft only while no gift, pledge or payment names it; a new campaign is a draft or "
        "active.",
    )
    CONFLICT = ev("CONFLICT", description="Changed by someone else at the same time: try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a campaign mutation's input: nothing was changed.")
class CampaignError(UserError):
    code: CampaignErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A new fund.")
class FundCreateInput:
    code: str = strawberry.field(
        description="Its unique code: 1 to 64 letters, digits, '-' or '_' (kept in capitals)."
    )
    name: str = strawberry.field(description="Its name (at most 200 characters).")
    description: str | None = strawberry.field(
        default=None, description="More about it (plain text, at most 10,000 characters)."
    )


@strawberry.input(description="Changes to a fund; omitted fields stay as they are.")
class FundUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The fund.")
    name: str | None = strawberry.field(default=None, description="New name.")
    description: str | None = strawberry.field(
        default=None, description="New description; an empty one clears it."
    )
    active: bool | None = strawberry.field(
        default=None,
        description="False takes it out of use (no new gifts or campaigns; campaigns that "
        "list it keep it); true puts it back.",
    )


@strawberry.type(description="The fund, or why there is none.")
class FundPayload:
    fund: Fund | None = strawberry.field(description="The fund as it is now.")
    user_errors: list[FundError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A new campaign.")
class CampaignCreateInput:
    name: str = strawberry.field(description="Its name (at most 200 characters).")
    description: str | None = strawberry.field(
        default=None, description="What it is for (plain text, at most 10,000 characters)."
    )
    currency: str = strawberry.field(
        description="The currency of its goal and its gifts (ISO 4217, e.g. USD)."
    )
    goal: Decimal = strawberry.field(
        description="What it aims to raise, in major units: more than zero, with at most "
        "the currency's decimal places (USD 2, JPY 0)."
    )
    starts_on: date = strawberry.field(description="The day it starts.")
    ends_on: date | None = strawberry.field(
        default=None, description="The day it ends (on or after `startsOn`); omit: open-ended."
    )
    fund_ids: list[relay.GlobalID] = strawberry.field(
        description="The funds it raises for, 1 to 20 funds in use, in the order shown."
    )
    cover_image_url: str | None = strawberry.field(
        default=None, description="Its cover image: an https:// address (at most 500 characters)."
    )
    status: CampaignStatus = strawberry.field(
        default=CampaignStatus.DRAFT,
        description="DRAFT (the default: giving staff only) or ACTIVE (open at once).",
    )


@strawberry.input(description="Changes to a campaign; omitted fields stay as they are.")
class CampaignUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The campaign.")
    name: str | None = strawberry.field(default=None, description="New name.")
    description: str | None = strawberry.field(
        default=None, description="New description; an empty one clears it."
    )
    currency: str | None = strawberry.field(
        default=None,
        description="New currency; refused (CURRENCY_LOCKED) once a gift, pledge or payment "
        "names the campaign. Without a new `goal`, the goal's figure is kept in the new "
        "currency.",
    )
    goal: Decimal | None = strawberry.field(default=None, description="New goal.")
    starts_on: date | None = strawberry.field(default=None, description="New first day.")
    ends_on: date | None = strawberry.field(default=None, description="New last day.")
    clear_ends_on: bool = strawberry.field(
        default=False, description="True makes it open-ended (no last day)."
    )
    fund_ids: list[relay.GlobalID] | None = strawberry.field(
        default=None,
        description="The whole new list of funds, in order (1 to 20; a fund added must be in "
        "use; one with gifts, pledges or payments in this campaign cannot leave it).",
    )
    cover_image_url: str | None = strawberry.field(
        default=None, description="New cover image (https://); an empty string removes it."
    )
    status: CampaignStatus | None = strawberry.field(
        default=None,
        description="Move it: DRAFT → ACTIVE (opens it), ACTIVE → CLOSED (ends it, for "
        "good), ACTIVE → DRAFT (only while no gift, pledge or payment names it).",
    )


@strawberry.type(description="The campaign, or why there is none.")
class CampaignPayload:
    campaign: Campaign | None = strawberry.field(description="The campaign as it is now.")
    user_errors: list[CampaignError] = strawberry.field(description="Empty on success.")


def _fund_pks(gids: list[relay.GlobalID] | None) -> list[int] | None:
    if gids is None:
        return None
    return [global_pk(g, "Fund") or -1 for g in gids[: rules.FUNDS_MAX + 1]]


def _fund_payload(found: Any, problems: list[Any]) -> FundPayload:
    return FundPayload(
        fund=Fund.from_row(found) if found is not None else None,
        user_errors=user_errors(FundError, FundErrorCode, problems),
    )


def _campaign_payload(found: Any, problems: list[Any]) -> CampaignPayload:
    return CampaignPayload(
        campaign=Campaign.from_row(found) if found is not None else None,
        user_errors=user_errors(CampaignError, CampaignErrorCode, problems),
    )


def _status(value: CampaignStatus | None) -> str | None:
    return str(value.value) if value is not None else None


@strawberry.type
class CampaignQuery:
    @relay.connection(
        FundConnection,
        description="Funds by name. Signed in: the funds in use; giving staff may ask for "
        "those taken out of use too.",
        max_results=PAGE_MAX,
        extensions=requires(),
    )
    def funds(
        self,
        info: Info,
        include_inactive: Annotated[
            bool,
            strawberry.argument(
                description="Also funds taken out of use (giving staff only; ignored for "
                "anyone else)."
            ),
        ] = False,
    ) -> Iterable[Fund]:
        query = select(FundModel.__table__)
        condition = rules.fund_readable(info.context.viewer)
        if condition is not None or not include_inactive:
            query = query.where(FundModel.active.is_(True))
        sort = [SortKey(FundModel.name), SortKey(FundModel.id)]
        return KeysetQuery(query, sort, Fund.from_row, info.context.reads)

    @relay.connection(
        CampaignConnection,
        description="Campaigns, newest first. Signed in: active and closed ones; giving "
        "staff see drafts too.",
        max_results=PAGE_MAX,
        extensions=requires(),
    )
    def campaigns(
        self,
        info: Info,
        filter: Annotated[
            CampaignFilter | None, strawberry.argument(description="Which campaigns.")
        ] = None,
    ) -> Iterable[Campaign]:
        c = CampaignModel
        query = select(c.__table__)
        condition = rules.campaign_readable(info.context.viewer)
        if condition is not None:
            query = query.where(condition)
        if filter is not None and filter.status:
            query = query.where(c.status.in_(sorted({str(s.value) for s in filter.status})))
        sort = [SortKey(c.created_at, descending=True), SortKey(c.id, descending=True)]
        return KeysetQuery(query, sort, Campaign.from_row, info.context.reads)


@strawberry.type
class CampaignMutation:
    @strawberry.mutation(description="Create a fund (giving staff, audited).")
    async def fund_create(
        self, info: Info, input: Annotated[FundCreateInput, arg("The fund.")]
    ) -> FundPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: rules.create_fund(
                uow, viewer, code=input.code, name=input.name, description=input.description
            ),
        )
        return _fund_payload(found, problems)

    @strawberry.mutation(
        description="Change a fund's name or description, or take it out of use or back "
        "(giving staff, audited). Its code never changes."
    )
    async def fund_update(
        self, info: Info, input: Annotated[FundUpdateInput, arg("The changes.")]
    ) -> FundPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: rules.update_fund(
                uow, viewer, pk_of(input.id, "Fund", "id"), name=input.name,
                description=input.description, active=input.active,
            ),
        )  # fmt: skip
        return _fund_payload(found, problems)

    @strawberry.mutation(
        description="Create a campaign (giving staff, audited): a draft, seen by giving "
        "staff only, unless `status` is ACTIVE."
    )
    async def campaign_create(
        self, info: Info, input: Annotated[CampaignCreateInput, arg("The campaign.")]
    ) -> CampaignPayload:
        viewer = info.context.viewer
        given = rules.CampaignFields(
            name=input.name, description=input.description, currency=input.currency,
            goal=input.goal, starts_on=input.starts_on, ends_on=input.ends_on,
            fund_ids=_fund_pks(input.fund_ids), cover_image_url=input.cover_image_url,
            status=_status(input.status),
        )  # fmt: skip
        found, problems = await run_in_transaction(
            info, lambda uow: rules.create_campaign(uow, viewer, given)
        )
        return _campaign_payload(found, problems)

    @strawberry.mutation(
        description="Change a campaign, or move its status (giving staff, audited): DRAFT → "
        "ACTIVE → CLOSED, and ACTIVE → DRAFT while no gift, pledge or payment names it. "
        "Subscribers of `campaignProgress` hear of the change."
    )
    async def campaign_update(
        self, info: Info, input: Annotated[CampaignUpdateInput, arg("The changes.")]
    ) -> CampaignPayload:
        viewer = info.context.viewer
        cover = input.cover_image_url
        given = rules.CampaignFields(
            name=input.name, description=input.description, currency=input.currency,
            goal=input.goal, starts_on=input.starts_on, ends_on=input.ends_on,
            clear_ends_on=input.clear_ends_on, fund_ids=_fund_pks(input.fund_ids),
            cover_image_url=cover or None,
            clear_cover_image_url=cover is not None and not cover.strip(),
            status=_status(input.status),
        )  # fmt: skip
        found, problems = await run_in_transaction(
            info,
            lambda uow: rules.update_campaign(
                uow, viewer, pk_of(input.id, "Campaign", "id"), given
            ),
        )
        return _campaign_payload(found, problems)


@strawberry.type
class CampaignSubscription:
    @strawberry.subscription(
        description="A campaign's progress now, then again after each change to it (a gift "
        "confirmed or refunded, a pledge, a new goal). Ends at once if you may not read the "
        "campaign (or are not signed in), and when it stops being one you may read."
    )
    async def campaign_progress(
        self,
        info: Info,
        campaign_id: Annotated[
            relay.GlobalID, strawberry.argument(description="The campaign to follow.")
        ],
    ) -> AsyncGenerator[CampaignProgress, None]:
        pk = global_pk(campaign_id, "Campaign")
        if info.context.viewer.user_id is None or pk is None:
            return
        channel = totals.campaign_channel(pk)
        async with info.context.runtime.bus.subscription(channel) as events:
            # Subscribed before the first read: no change after it is missed.
            [found] = await Campaign.resolve_nodes(info=info, node_ids=[str(pk)])
            if found is None:
                return
            yield await _progress_of(info, found._row)
            async for _ in events:
                if not await info.context.still_signed_in():
                    return
                info.context.reset_loaders()
                [found] = await Campaign.resolve_nodes(info=info, node_ids=[str(pk)])
                if found is None:
                    return
                yield await _progress_of(info, found._row)
