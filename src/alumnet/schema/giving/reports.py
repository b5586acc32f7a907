"""Giving: the reports of an advancement office (giving staff only): totals by campaign, fund,
month or year; alumni participation by graduation year; LYBUNT and SYBUNT lists; retention;
top donors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry import relay

from alumnet.domain.giving import reports
from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.models import Donor as DonorModel
from alumnet.schema.context import Info
from alumnet.schema.errors import report_errors
from alumnet.schema.giving.donors import Donor, DonorConnection, base_currency
from alumnet.schema.giving.types import Money
from alumnet.schema.nodes import global_id
from alumnet.schema.pagination import KeysetQuery, SortKey
from alumnet.schema.permissions import requires

ev = strawberry.enum_value
T = TypeVar("T")


async def _checked(run: Callable[[], Awaitable[T]]) -> T:
    with report_errors():
        return await run()


def _currency(info: Info, currency: str | None) -> str:
    return currency if currency is not None else base_currency(info)


@strawberry.enum(description="How a giving totals report's rows are grouped.")
class GivingTotalsGroup(Enum):
    CAMPAIGN = ev("campaign", description="One row per campaign (and one for gifts to none).")
    FUND = ev("fund", description="One row per fund.")
    MONTH = ev("month", description="One row per calendar month of the gifts' days.")
    YEAR = ev("year", description="One row per calendar year of the gifts' days.")


@strawberry.type(description="What a group of gifts raised.")
class GivingTotalsRow:
    key: str | None = strawberry.field(
        description="The group: the campaign's or fund's global id (null: gifts to no "
        "campaign), the year (`2026`) or the month (`2026-03`); null for the total."
    )
    label: str = strawberry.field(description="The campaign's or fund's name, or the period.")
    raised: Money = strawberry.field(description="Gifts less their refunds.")
    gifts: int = strawberry.field(description="How many gifts (refunds not counted).")
    donors: int = strawberry.field(description="How many different donors gave.")


@strawberry.type(description="Confirmed giving in one currency over a range of gift days.")
class GivingTotals:
    since: date | None = strawberry.field(name="from", description="The first day (if any).")
    until: date | None = strawberry.field(name="to", description="The last day (if any).")
    currency: str = strawberry.field(description="The currency counted (ISO 4217).")
    group_by: GivingTotalsGroup = strawberry.field(description="How rows are grouped.")
    rows: list[GivingTotalsRow] = strawberry.field(
        description="One per group with any gift: campaigns and funds by amount raised, "
        "periods oldest first."
    )
    total: GivingTotalsRow = strawberry.field(description="The whole range.")


def _totals_row(row: reports.TotalRow, group: str, currency: str) -> GivingTotalsRow:
    key: str | None
    if row.key is None:
        key = None
    elif group == "campaign":
        key = global_id("Campaign", int(row.key))
    elif group == "fund":
        key = global_id("Fund", int(row.key))
    else:
        key = str(row.key)
    return GivingTotalsRow(key=key, label=row.label, raised=Money.of(row.raised_minor, currency),
                           gifts=row.gifts, donors=row.donors)  # fmt: skip


@strawberry.type(description="Alumni of a graduation year, and how many of them gave.")
class ParticipationRow:
    graduation_year: int | None = strawberry.field(
        description="The graduation year on record; null for alumni without one (and for the "
        "overall row)."
    )
    alumni: int = strawberry.field(description="Alumni (accounts with the ALUMNUS role).")
    donors: int = strawberry.field(
        description="Of them, those who gave in the year (a positive total in any currency)."
    )
    rate: Decimal | None = strawberry.field(
        description="donors ÷ alumni as a fraction with four decimals (0.1234 is 12.34 %); "
        "null without alumni."
    )


@strawberry.type(description="Alumni participation in giving in one calendar year.")
class GivingParticipation:
    year: int = strawberry.field(description="The calendar year of the gifts.")
    rows: list[ParticipationRow] = strawberry.field(
        description="One per graduation year on record, oldest first; alumni without one last."
    )
    overall: ParticipationRow = strawberry.field(description="Every alumnus.")


def _participation(row: reports.ParticipationRow) -> ParticipationRow:
    return ParticipationRow(graduation_year=row.graduation_year, alumni=row.alumni,
                            donors=row.donors, rate=row.rate)  # fmt: skip


@strawberry.type(description="Last year's donors, and whether they gave again this year.")
class GivingRetention:
    year: int = strawberry.field(description="This year (calendar); last year is the one before.")
    previous_donors: int = strawberry.field(description="Donors who gave last year.")
    donors: int = strawberry.field(description="Donors who gave this year.")
    retained: int = strawberry.field(description="Last year's donors who gave this year too.")
    lapsed: int = strawberry.field(description="Last year's donors who did not give this year.")
    new: int = strawberry.field(description="This year's donors who never gave before.")
    recaptured: int = strawberry.field(
        description="This year's donors who gave some earlier year, but not last year."
    )
    rate: Decimal | None = strawberry.field(
        description="retained ÷ previousDonors, a fraction with four decimals; null if none."
    )


@strawberry.type(description="A donor among the top donors.")
class TopDonor:
    rank: int = strawberry.field(description="1 for the largest total.")
    donor: Donor = strawberry.field(description="The donor (named: giving staff only read this).")
    total: Money = strawberry.field(description="Their giving in the currency and year(s).")
    gifts: int = strawberry.field(description="How many gifts (refunds not counted).")
    gave_anonymously: bool = strawberry.field(
        description="Some of those gifts were given anonymously: keep their name out of "
        "anything published."
    )


def _lapsed(info: Info, kind: str, year: int | None) -> KeysetQuery[Donor]:
    chosen = year if year is not None else reports.this_year()
    with report_errors():
        query = reports.lapsed(info.context.viewer, kind, chosen)
    sort = [SortKey(DonorModel.name), SortKey(DonorModel.id)]
    return KeysetQuery(
        query, sort, lambda row: Donor.from_row(row, before=chosen), info.context.reads
    )


YEAR_ARG = "The calendar year (default: this year, UTC)."


@strawberry.type
class GivingReportQuery:
    @strawberry.field(
        description="Confirmed gifts in one currency whose day is in a range (from and to, "
        "both included; unbounded by default; by MONTH at most ten years), less their "
        "refunds (a refund counts where its gift does), grouped by campaign, fund, month or "
        "year, with the total (`giving`).",
        extensions=requires(Permission.GIVING),
    )
    async def giving_totals(
        self,
        info: Info,
        group_by: Annotated[
            GivingTotalsGroup, strawberry.argument(description="How rows are grouped.")
        ],
        since: Annotated[
            date | None, strawberry.argument(name="from", description="The first day.")
        ] = None,
        until: Annotated[
            date | None, strawberry.argument(name="to", description="The last day.")
        ] = None,
        currency: Annotated[
            str | None,
            strawberry.argument(description="ISO 4217 (default: the reporting currency)."),
        ] = None,
    ) -> GivingTotals:
        group, code = str(group_by.value), _currency(info, currency).strip().upper()
        viewer = info.context.viewer

        async def run() -> Any:
            async with info.context.reads.connect() as conn:
                return await reports.totals(conn, viewer, group, code, since, until)

        rows, total = await _checked(run)
        return GivingTotals(
            since=since, until=until, currency=code, group_by=group_by,
            rows=[_totals_row(r, group, code) for r in rows],
            total=_totals_row(total, group, code),
        )  # fmt: skip

    @strawberry.field(
        description="Alumni participation rate by graduation year on record: alumni who gave "
        "in the year (a positive total in any currency, as donors with their account) ÷ "
        "alumni of that graduation year (`giving`).",
        extensions=requires(Permission.GIVING),
    )
    async def giving_participation(
        self,
        info: Info,
        year: Annotated[int | None, strawberry.argument(description=YEAR_ARG)] = None,
    ) -> GivingParticipation:
        chosen = year if year is not None else reports.this_year()
        viewer = info.context.viewer

        async def run() -> Any:
            async with info.context.reads.connect() as conn:
                return await reports.participation(conn, viewer, chosen)

        rows, overall = await _checked(run)
        return GivingParticipation(
            year=chosen, rows=[_participation(r) for r in rows], overall=_participation(overall)
        )

    @relay.connection(
        DonorConnection,
        description="LYBUNT: donors who gave last year but not (yet) this year, by name; "
        "`lastGiving` says what they gave (`giving`).",
        max_results=1000,
        extensions=requires(Permission.GIVING),
    )
    def lybunt(
        self,
        info: Info,
        year: Annotated[int | None, strawberry.argument(description=YEAR_ARG)] = None,
    ) -> Iterable[Donor]:
        return _lapsed(info, "lybunt", year)

    @relay.connection(
        DonorConnection,
        description="SYBUNT: donors who gave some year before last year, but neither last "
        "year nor this year, by name; `lastGiving` says when and what (`giving`).",
        max_results=1000,
        extensions=requires(Permission.GIVING),
    )
    def sybunt(
        self,
        info: Info,
        year: Annotated[int | None, strawberry.argument(description=YEAR_ARG)] = None,
    ) -> Iterable[Donor]:
        return _lapsed(info, "sybunt", year)

    @strawberry.field(
        description="Donor retention: last year's donors who gave again in the year, ÷ last "
        "year's donors; with the new, recaptured and lapsed donors (`giving`).",
        extensions=requires(Permission.GIVING),
    )
    async def giving_retention(
        self,
        info: Info,
        year: Annotated[int | None, strawberry.argument(description=YEAR_ARG)] = None,
    ) -> GivingRetention:
        chosen = year if year is not None else reports.this_year()
        viewer = info.context.viewer

        async def run() -> reports.Retention:
            async with info.context.reads.connect() as conn:
                return await reports.retention(conn, viewer, chosen)

        found = await _checked(run)
        return GivingRetention(
            year=found.year, previous_donors=found.previous_donors, donors=found.donors,
            retained=found.retained, lapsed=found.lapsed, new=found.new,
            recaptured=found.recaptured, rate=found.rate,
        )  # fmt: skip

    @strawberry.field(
        description="The donors who gave most in one currency, in a year or in all years, "
        "largest first (`giving`). Anonymous gifts count; the donor is named (only giving "
        "staff read this), and `gaveAnonymously` says so.",
        extensions=requires(Permission.GIVING),
    )
    async def top_donors(
        self,
        info: Info,
        year: Annotated[
            int | None, strawberry.argument(description="The calendar year (default: all).")
        ] = None,
        first: Annotated[int, strawberry.argument(description="How many (at most 100).")] = 10,
        currency: Annotated[
            str | None,
            strawberry.argument(description="ISO 4217 (default: the reporting currency)."),
        ] = None,
    ) -> list[TopDonor]:
        code = _currency(info, currency)
        viewer = info.context.viewer

        async def run() -> list[reports.TopDonor]:
            async with info.context.reads.connect() as conn:
                return await reports.top_donors(conn, viewer, year, code, first)

        found = await _checked(run)
        donors = await Donor.resolve_nodes(info=info, node_ids=[str(t.donor_id) for t in found])
        return [
            TopDonor(rank=i + 1, donor=d, total=Money.of(t.total_minor, code.strip().upper()),
                     gifts=t.gifts, gave_anonymously=t.anonymous)
            for i, (t, d) in enumerate(zip(found, donors, strict=True)) if d is not None
        ]  # fmt: skip


@strawberry.type
class GivingReportMutation:
    pass
