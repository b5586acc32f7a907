"""The admissions figures, computed in SQL (one statement each, nothing per row in Python):

- the funnel: how many inquiries reached each stage of the pipeline (``furthest``, the rank
  of the furthest stage reached, so that it is one scan of ``inquiries``), how many stand
  in it now, the conversion from each stage to the next, the lost, and enrolled ÷ all;
- conversion grouped by source, counsellor, programme or month of the inquiry: inquiries,
  open, enrolled, lost, the conversion rate and the average days from inquiry to enrolment;
- time in each stage, from the stage changes: the time from entering a stage to the next
  change, the current stage's counted up to now; average and median days per stage.

Every figure is over the inquiries a filter keeps: created from ``since`` to ``until``
(days in UTC, both included), of a source, a (current) counsellor, a programme. Only
holders of ``admissions`` read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Double, case, cast, func, literal, select

from alumnet.domain.analytics import stats
from alumnet.domain.errors import DomainError
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.persistence.models import Inquiry, InquiryStageChange, Programme, User
from alumnet.persistence.models.base import UTCDateTime

# The pipeline in order; ``furthest`` is the rank (1 new … 5 enrolled).
PIPELINE = ("new", "contacted", "counselled", "applied", "enrolled")
RANK = {stage: i + 1 for i, stage in enumerate(PIPELINE)}
ENDS = ("enrolled", "lost")
# The stages an inquiry spends time in on its way (enrolled and lost are where it ends).
WAYPOINTS = PIPELINE[:-1]
SOURCES = {
    "web_form": "Web form",
    "walk_in": "Walk-in",
    "referral": "Referral",
    "campaign": "Campaign",
}
GROUPS = ("source", "counsellor", "programme", "month")
# Rows of a grouped report at most (counsellors, programmes; months: 83 years of them).
ROWS_MAX = 1000


@dataclass(frozen=True)
class ReportFilter:
    """Which inquiries count. ``counsellor_id`` and ``programme_id`` are primary keys (-1:
    an id that names nothing, so that nothing matches)."""

    since: date | None = None
    until: date | None = None
    source: str | None = None
    counsellor_id: int | None = None
    programme_id: int | None = None


def _conditions(given: ReportFilter) -> list[ColumnElement[bool]]:
    if given.since is not None and given.until is not None and given.until < given.since:
        raise DomainError.of("INVALID", "`to` is on or after `from`.", ("filter", "to"))
    if given.source is not None and given.source not in SOURCES:
        raise DomainError.of("INVALID", "Unknown source.", ("filter", "source"))
    found: list[ColumnElement[bool]] = []
    i = Inquiry
    if given.since is not None:
        found.append(i.created_at >= datetime.combine(given.since, time(), UTC))
    if given.until is not None:
        found.append(i.created_at < datetime.combine(given.until + timedelta(days=1), time(), UTC))
    if given.source is not None:
        found.append(i.source == given.source)
    if given.counsellor_id is not None:
        found.append(i.counsellor_id == given.counsellor_id)
    if given.programme_id is not None:
        found.append(i.programme_id == given.programme_id)
    return found


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _days(later: Any, earlier: Any, dialect: str) -> Any:
    return cast(stats.hours_between(later, earlier, dialect), Double) / 24.0


def _now() -> Any:
    return literal(datetime.now(UTC), UTCDateTime())


# -- the funnel -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelStage:
    """A pipeline stage: how many inquiries reached it (or went further), how many stand in
    it now, and ``reached`` ÷ the previous stage's ``reached`` (None for the first, or
    when the previous had none)."""

    stage: str
    reached: int
    current: int
    conversion: float | None


@dataclass(frozen=True)
class Funnel:
    inquiries: int
    stages: list[FunnelStage]
    lost: int
    # enrolled (reached) ÷ inquiries
    conversion: float | None


async def funnel(conn: Any, viewer: Viewer, given: ReportFilter) -> Funnel:
    """The funnel over the inquiries ``given`` keeps: one statement, one scan."""
    viewer.require(Permission.ADMISSIONS)
    i = Inquiry
    query = select(
        func.count(),
        *(func.count().filter(i.furthest >= rank) for rank in range(2, len(PIPELINE) + 1)),
        *(func.count().filter(i.stage == stage) for stage in (*PIPELINE, "lost")),
    ).where(*_conditions(given))
    row = (await conn.execute(query)).one()
    total = int(row[0])
    reached = [total, *(int(v) for v in row[1 : len(PIPELINE)])]
    current = [int(v) for v in row[len(PIPELINE) :]]
    stages = [
        FunnelStage(stage, reached[k], current[k],
                    _rate(reached[k], reached[k - 1]) if k else None)
        for k, stage in enumerate(PIPELINE)
    ]  # fmt: skip
    return Funnel(inquiries=total, stages=stages, lost=current[-1],
                  conversion=_rate(reached[-1], total))  # fmt: skip


# -- conversion by group ----------------------------------------------------------------------


@dataclass(frozen=True)
class ConversionRow:
    """A group of inquiries: ``key`` the source, the counsellor's or programme's id (None:
    none), or the month's first day; ``label`` what to show for it."""

    key: str | int | date | None
    label: str
    inquiries: int
    open: int
    enrolled: int
    lost: int
    average_days_to_enrol: float | None

    @property
    def conversion_rate(self) -> float | None:
        return _rate(self.enrolled, self.inquiries)


def _month_label(day: date) -> str:
    return day.strftime("%B %Y")


async def conversion(
    conn: Any, viewer: Viewer, group: str, given: ReportFilter
) -> list[ConversionRow]:
    """Inquiries grouped by ``group`` (one of ``GROUPS``), with how many are open, enrolled
    (reached enrolment) and lost, and the average days from inquiry to enrolment (its first
    move to enrolled): one statement. Sources, counsellors and programmes by inquiries, most
    first (then by label); months oldest first; at most ``ROWS_MAX`` rows."""
    viewer.require(Permission.ADMISSIONS)
    if group not in GROUPS:
        raise DomainError.of("INVALID", "Unknown grouping.", "groupBy")
    conditions = _conditions(given)
    dialect = conn.dialect.name
    i, s = Inquiry, InquiryStageChange
    enrolled_at = (
        select(s.inquiry_id, func.min(s.changed_at).label("at"))
        .where(s.to_stage == "enrolled")
        .group_by(s.inquiry_id)
        .subquery("enrolled_at")
    )
    key: Any
    label: Any
    joins: list[tuple[Any, Any]] = []
    if group == "source":
        key = label = i.source
    elif group == "counsellor":
        key, label = i.counsellor_id, func.min(User.name)
        joins.append((User, User.id == i.counsellor_id))
    elif group == "programme":
        key, label = i.programme_id, func.min(Programme.name)
        joins.append((Programme, Programme.id == i.programme_id))
    else:
        key = stats.month_of(i.created_at, dialect)
        label = key
    inquiries = func.count()
    days = func.avg(case((enrolled_at.c.at.is_not(None),
                          _days(enrolled_at.c.at, i.created_at, dialect))))  # fmt: skip
    query = select(
        key.label("key"), label.label("label"), inquiries.label("inquiries"),
        func.count().filter(i.stage.not_in(ENDS)).label("open"),
        func.count().filter(i.furthest >= RANK["enrolled"]).label("enrolled"),
        func.count().filter(i.stage == "lost").label("lost"),
        days.label("days"),
    ).select_from(i).outerjoin(enrolled_at, enrolled_at.c.inquiry_id == i.id)  # fmt: skip
    for table, on in joins:
        query = query.outerjoin(table, on)
    # Sorted and cut outside the grouping: with the LIMIT on it, PostgreSQL would sort every
    # inquiry to group them (it cannot tell how few groups there are) instead of hashing.
    groups = query.where(*conditions).group_by(key).subquery("groups")
    ordered = select(groups)
    if group == "month":
        ordered = ordered.order_by(groups.c.key)
    else:
        ordered = ordered.order_by(groups.c.inquiries.desc(), groups.c.label, groups.c.key)
    rows = (await conn.execute(ordered.limit(ROWS_MAX))).all()
    found = []
    for r in rows:
        row_key: str | int | date | None
        if group == "month":
            row_key = stats.as_date(r.key)
            text = _month_label(row_key)
        elif group == "source":
            row_key, text = r.key, SOURCES.get(r.key, r.key)
        else:
            row_key = int(r.key) if r.key is not None else None
            none = "Unassigned" if group == "counsellor" else "No programme"
            text = r.label if r.key is not None and r.label is not None else none
        found.append(
            ConversionRow(
                key=row_key, label=str(text), inquiries=int(r.inquiries), open=int(r.open),
                enrolled=int(r.enrolled), lost=int(r.lost),
                average_days_to_enrol=round(float(r.days), 2) if r.days is not None else None,
            )
        )  # fmt: skip
    return found


# -- time in each stage ----------------------------------------------------------------------


@dataclass(frozen=True)
class StageTime:
    """A stage inquiries pass through: how many spent time in it, and the average and
    median days each spent there (all its visits added up, if it came back)."""

    stage: str
    inquiries: int
    average_days: float | None
    median_days: float | None


async def stage_times(conn: Any, viewer: Viewer, given: ReportFilter) -> list[StageTime]:
    """Per stage of the way (new, contacted, counselled, applied): from the stage changes,
    the time from entering the stage to the inquiry's next change, the current stage's up to
    now; summed per inquiry and stage, then averaged and the median taken (percentile_cont
    on PostgreSQL, the same interpolation by window functions on SQLite): one statement."""
    viewer.require(Permission.ADMISSIONS)
    conditions = _conditions(given)
    dialect = conn.dialect.name
    s, i = InquiryStageChange, Inquiry
    left_at = func.lead(s.changed_at).over(partition_by=s.inquiry_id, order_by=(s.changed_at, s.id))
    visits = (
        select(s.inquiry_id, s.to_stage.label("stage"), s.changed_at.label("entered"),
               left_at.label("left"))
        .join(i, i.id == s.inquiry_id)
        .where(*conditions)
        .subquery("visits")
    )  # fmt: skip
    spent = _days(func.coalesce(visits.c.left, _now()), visits.c.entered, dialect)
    per_inquiry = (
        select(visits.c.stage.label("key"), func.sum(spent).label("value"))
        .where(visits.c.stage.in_(WAYPOINTS))
        .group_by(visits.c.inquiry_id, visits.c.stage)
    )
    found = await stats.distributions(conn, per_inquiry)
    times = []
    for stage in WAYPOINTS:
        d = found.get(stage)
        times.append(
            StageTime(stage, d.count, _round(d.mean), _round(d.median))
            if d is not None
            else StageTime(stage, 0, None, None)
        )
    return times


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None
