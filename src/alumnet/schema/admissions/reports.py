"""Admissions: the conversion figures (by source, counsellor, programme and month), time in
each stage, and the funnel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from enum import Enum
from typing import Annotated, TypeVar

import strawberry
from strawberry import relay

from alumnet.domain.admissions import reports
from alumnet.domain.identity.permissions import Permission
from alumnet.schema.admissions.inquiries import InquirySource, InquiryStage
from alumnet.schema.context import Info
from alumnet.schema.errors import report_errors
from alumnet.schema.nodes import global_id, optional_pk
from alumnet.schema.permissions import requires

ev = strawberry.enum_value
T = TypeVar("T")


async def _checked(run: Callable[[], Awaitable[T]]) -> T:
    with report_errors():
        return await run()


@strawberry.enum(description="How an admissions conversion report's rows are grouped.")
class AdmissionsConversionGroup(Enum):
    SOURCE = ev("source", description="One row per source of the inquiries.")
    COUNSELLOR = ev(
        "counsellor", description="One row per (current) counsellor, and one for unassigned."
    )
    PROGRAMME = ev("programme", description="One row per programme asked about, and one for none.")
    MONTH = ev("month", description="One row per calendar month (UTC) the inquiries came in.")


@strawberry.input(description="Which inquiries an admissions report counts.")
class AdmissionsReportFilter:
    since: date | None = strawberry.field(
        default=None, name="from", description="Those created on or after this day (UTC)."
    )
    until: date | None = strawberry.field(
        default=None, name="to", description="Those created on or before this day (UTC)."
    )
    source: InquirySource | None = strawberry.field(
        default=None, description="Only those from this source."
    )
    counsellor_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only those this `User` counsels now."
    )
    programme_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only those about this `Programme`."
    )


def _filter(given: AdmissionsReportFilter | None) -> reports.ReportFilter:
    if given is None:
        return reports.ReportFilter()
    return reports.ReportFilter(
        since=given.since, until=given.until,
        source=str(given.source.value) if given.source is not None else None,
        counsellor_id=optional_pk(given.counsellor_id, "User"),
        programme_id=optional_pk(given.programme_id, "Programme"),
    )  # fmt: skip


FILTER_ARG = "Which inquiries count (all by default)."


@strawberry.type(description="One stage of the funnel.")
class AdmissionsFunnelStage:
    stage: InquiryStage = strawberry.field(description="The stage.")
    reached: int = strawberry.field(
        description="Inquiries that reached it or a later stage (those lost count up to the "
        "furthest stage they reached)."
    )
    current: int = strawberry.field(description="Inquiries in this stage now.")
    conversion: float | None = strawberry.field(
        description="reached ÷ the previous stage's reached, a fraction with four decimals "
        "(0.25 is 25 %); null for NEW, or when the previous stage has none."
    )


@strawberry.type(description="The admissions funnel over the inquiries a filter keeps.")
class AdmissionsFunnel:
    inquiries: int = strawberry.field(description="Inquiries counted.")
    stages: list[AdmissionsFunnelStage] = strawberry.field(
        description="NEW, CONTACTED, COUNSELLED, APPLIED, ENROLLED, in order."
    )
    lost: int = strawberry.field(description="Inquiries lost (now).")
    conversion: float | None = strawberry.field(
        description="Inquiries that reached enrolment ÷ all, four decimals; null if none."
    )


@strawberry.type(description="A group of inquiries and how they converted.")
class AdmissionsConversionRow:
    key: str | None = strawberry.field(
        description="The group: the source (`web_form`), the counsellor's `User` or the "
        "`Programme` global id (null: none), or the month (`2026-03`)."
    )
    label: str = strawberry.field(
        description="What to show: the source's name, the counsellor's or programme's name "
        "(`Unassigned`, `No programme`), or the month (`March 2026`)."
    )
    month: date | None = strawberry.field(
        description="The month's first day, when grouped by MONTH; else null."
    )
    inquiries: int = strawberry.field(description="Inquiries in the group.")
    open: int = strawberry.field(description="Of them, neither enrolled nor lost now.")
    enrolled: int = strawberry.field(description="Of them, those that reached enrolment.")
    lost: int = strawberry.field(description="Of them, those lost.")
    conversion_rate: float | None = strawberry.field(
        description="enrolled ÷ inquiries, a fraction with four decimals; null if none."
    )
    average_days_to_enrol: float | None = strawberry.field(
        description="Average days (two decimals) from the inquiry to its enrolment, over "
        "those enrolled; null if none is."
    )


@strawberry.type(description="Admissions conversion, grouped.")
class AdmissionsConversion:
    group_by: AdmissionsConversionGroup = strawberry.field(description="How rows are grouped.")
    rows: list[AdmissionsConversionRow] = strawberry.field(
        description="One per group with any inquiry (at most 1,000): sources, counsellors "
        "and programmes by inquiries, most first; months oldest first."
    )


@strawberry.type(description="How long inquiries spend in one stage of the pipeline.")
class AdmissionsStageTime:
    stage: InquiryStage = strawberry.field(description="The stage.")
    inquiries: int = strawberry.field(description="Inquiries that spent time in it.")
    average_days: float | None = strawberry.field(
        description="The average days an inquiry spent in it (two decimals); null if none."
    )
    median_days: float | None = strawberry.field(
        description="The median days an inquiry spent in it (two decimals); null if none."
    )


def _key(group: str, row: reports.ConversionRow) -> str | None:
    if row.key is None:
        return None
    if group == "counsellor":
        return global_id("User", int(row.key))  # type: ignore[arg-type]
    if group == "programme":
        return global_id("Programme", int(row.key))  # type: ignore[arg-type]
    if isinstance(row.key, date):
        return row.key.strftime("%Y-%m")
    return str(row.key)


@strawberry.type
class AdmissionsReportQuery:
    @strawberry.field(
        description="The admissions funnel: per stage, the inquiries that reached it and "
        "those in it now, the conversion from the stage before, the lost, and the overall "
        "conversion (`admissions`).",
        extensions=requires(Permission.ADMISSIONS),
    )
    async def admissions_funnel(
        self,
        info: Info,
        filter: Annotated[
            AdmissionsReportFilter | None, strawberry.argument(description=FILTER_ARG)
        ] = None,
    ) -> AdmissionsFunnel:
        viewer, given = info.context.viewer, _filter(filter)

        async def run() -> reports.Funnel:
            async with info.context.reads.connect() as conn:
                return await reports.funnel(conn, viewer, given)

        found = await _checked(run)
        return AdmissionsFunnel(
            inquiries=found.inquiries,
            stages=[
                AdmissionsFunnelStage(
                    stage=InquiryStage(s.stage),
                    reached=s.reached,
                    current=s.current,
                    conversion=s.conversion,
                )
                for s in found.stages
            ],
            lost=found.lost,
            conversion=found.conversion,
        )

    @strawberry.field(
        description="Admissions conversion grouped by source, counsellor, programme or month "
        "of inquiry: inquiries, open, enrolled, lost, the conversion rate and the average "
        "days to enrol (`admissions`).",
        extensions=requires(Permission.ADMISSIONS),
    )
    async def admissions_conversion(
        self,
        info: Info,
        group_by: Annotated[
            AdmissionsConversionGroup, strawberry.argument(description="How rows are grouped.")
        ],
        filter: Annotated[
            AdmissionsReportFilter | None, strawberry.argument(description=FILTER_ARG)
        ] = None,
    ) -> AdmissionsConversion:
        viewer, given, group = info.context.viewer, _filter(filter), str(group_by.value)

        async def run() -> list[reports.ConversionRow]:
            async with info.context.reads.connect() as conn:
                return await reports.conversion(conn, viewer, group, given)

        found = await _checked(run)
        return AdmissionsConversion(
            group_by=group_by,
            rows=[
                AdmissionsConversionRow(
                    key=_key(group, r), label=r.label,
                    month=r.key if isinstance(r.key, date) else None,
                    inquiries=r.inquiries, open=r.open, enrolled=r.enrolled, lost=r.lost,
                    conversion_rate=r.conversion_rate,
                    average_days_to_enrol=r.average_days_to_enrol,
                )
                for r in found
            ],
        )  # fmt: skip

    @strawberry.field(
        description="Time in each stage on the way (NEW, CONTACTED, COUNSELLED, APPLIED), "
        "from the inquiries' stage changes: the time from entering a stage to the next "
        "change, added up per inquiry if it came back to the stage; an inquiry's current "
        "stage counts up to now, so open inquiries make these figures grow as time "
        "passes (`admissions`).",
        extensions=requires(Permission.ADMISSIONS),
    )
    async def admissions_stage_times(
        self,
        info: Info,
        filter: Annotated[
            AdmissionsReportFilter | None, strawberry.argument(description=FILTER_ARG)
        ] = None,
    ) -> list[AdmissionsStageTime]:
        viewer, given = info.context.viewer, _filter(filter)

        async def run() -> list[reports.StageTime]:
            async with info.context.reads.connect() as conn:
                return await reports.stage_times(conn, viewer, given)

        found = await _checked(run)
        return [
            AdmissionsStageTime(stage=InquiryStage(t.stage), inquiries=t.inquiries,
                                average_days=t.average_days, median_days=t.median_days)
            for t in found
        ]  # fmt: skip


# The node types this module adds to the schema (schema/__init__.py NODE_TYPES).
TYPES: list[type] = []
