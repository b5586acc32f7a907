"""Notice acknowledgements: the notices posted in a range (withdrawn ones aside) to the
report's missions or their batches, acknowledged over targeted, per notice, mission or
batch, with the median hours to acknowledge; against the previous period.

Targeted is a notice's audience as notices compute it (students taking part, in its
mission or its batch's missions), within the report's missions (a mentor's: their
mentees). A student reached in two missions of a batch counts once per notice, and once
in each mission's row.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, func, literal, select, true, union_all

from alumnet.domain.analytics import stats
from alumnet.domain.analytics.common import Chart, Column, DateRange, Table
from alumnet.domain.analytics.reports.scope import (
    COUNTED,
    Filters,
    Reach,
    comparable,
    distinct,
    missions_of,
    moments,
)
from alumnet.domain.cohorts.access import taking_part
from alumnet.persistence.mentoring import mentors_enrollment
from alumnet.persistence.models import Enrollment, Mission, Notice, NoticeAck


@dataclass
class NoticeRow:
    key: str
    label: str
    object_id: int
    posted_at: datetime | None  # notice rows
    scope: str | None  # what a notice was posted to (mission or batch), for notice rows
    notices: int
    targeted: int | None
    acknowledged: int | None
    rate: float | None
    median_hours: float | None
    withheld: bool = False


@dataclass
class MissionAcknowledgement:
    mission_id: int
    mission: str
    targeted: int
    rate: float | None
    withheld: bool = False


@dataclass
class NoticesReport:
    since: date
    until: date
    previous_since: date
    previous_until: date
    group_by: str
    notices: int
    targeted: int
    acknowledged: int
    rate: float | None
    previous_rate: float | None
    change: float | None
    median_hours: float | None
    rows: list[NoticeRow] = field(default_factory=list)
    missions: list[MissionAcknowledgement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _audience(ids: list[int], since: datetime, until: datetime) -> Any:
    """(notice_id, mission_id, student_id, mine) of the notices posted in [since, until) to
    these missions or their batches, within these missions."""
    counted = and_(Enrollment.mission_id.in_(ids), Enrollment.status.in_(COUNTED), taking_part())
    posted = and_(Notice.withdrawn_at.is_(None), Notice.created_at >= since,
                  Notice.created_at < until)  # fmt: skip
    to_mission = (
        select(Notice.id.label("notice_id"), Enrollment.mission_id, Enrollment.student_id,
               Enrollment.id.label("enrollment_id"), Notice.created_at.label("posted_at"))
        .join(Enrollment, Enrollment.mission_id == Notice.mission_id)
        .where(posted, counted)
    )  # fmt: skip
    to_batch = (
        select(
            Notice.id,
            Enrollment.mission_id,
            Enrollment.student_id,
            Enrollment.id,
            Notice.created_at,
        )
        .join(Mission, Mission.batch_id == Notice.batch_id)
        .join(Enrollment, Enrollment.mission_id == Mission.id)
        .where(posted, counted)
    )
    return union_all(to_mission, to_batch).subquery("audience")


async def notices_report(
    conn: Any, reach: Reach, period: DateRange, filters: Filters, now: datetime
) -> NoticesReport:
    group = filters.group_by
    previous = period.previous()
    report = NoticesReport(
        since=period.since, until=period.until, previous_since=previous.since,
        previous_until=previous.until, group_by=group, notices=0, targeted=0, acknowledged=0,
        rate=None, previous_rate=None, change=None, median_hours=None,
    )  # fmt: skip
    missions = await missions_of(conn, reach, filters)
    if not missions:
        report.notes.append("No mission within your reach matches the filter.")
        return report
    ids = [m.id for m in missions]
    by_id = {m.id: m for m in missions}
    start, end = moments(period)
    earlier, _ = moments(previous)
    dialect = conn.dialect.name
    mine_of = (
        select(Enrollment.id).where(mentors_enrollment(reach.mentor_id))
        if reach.mentor_id is not None else None
    )  # fmt: skip
    # The students (people) this period's notices reached in each mission, as the viewer
    # counts them: small groups are judged on these, and the missions of fewer than five
    # are left out of every figure for a viewer who may not see the students.
    reached = _audience(ids, start, end)
    people_sets: dict[int, set[int]] = defaultdict(set)
    for mission_id, student_id in (
        await conn.execute(
            select(reached.c.mission_id, reached.c.student_id)
            .distinct()
            .where(reached.c.enrollment_id.in_(mine_of) if mine_of is not None else true())
        )
    ).all():
        people_sets[int(mission_id)].add(int(student_id))
    people = {m: frozenset(v) for m, v in people_sets.items()}
    shown = reach.published(people, ids)
    audience = _audience(shown, earlier, end)
    mine = audience.c.enrollment_id.in_(mine_of) if mine_of is not None else true()
    ack = NoticeAck
    joined = (
        select(audience, ack.acknowledged_at, Notice.created_at, Notice.title, Notice.mission_id
               .label("to_mission"), Notice.batch_id.label("to_batch"))
        .select_from(audience)
        .join(Notice, Notice.id == audience.c.notice_id)
        .outerjoin(ack, and_(ack.notice_id == audience.c.notice_id,
                             ack.user_id == audience.c.student_id))
    )  # fmt: skip
    # Per notice and mission: targeted and acknowledged, the viewer's and everyone's.
    rows = (
        await conn.execute(
            select(
                audience.c.notice_id, audience.c.mission_id,
                func.count(func.distinct(audience.c.student_id)).filter(mine),
                func.count(func.distinct(ack.user_id)).filter(mine),
                func.count(func.distinct(audience.c.student_id)),
                func.count(func.distinct(ack.user_id)),
            )
            .select_from(audience)
            .outerjoin(ack, and_(ack.notice_id == audience.c.notice_id,
                                 ack.user_id == audience.c.student_id))
            .group_by(audience.c.notice_id, audience.c.mission_id)
        )
    ).all()  # fmt: skip
    per: dict[tuple[int, int], tuple[int, int, int, int]] = {
        (int(n), int(m)): (int(a), int(b), int(c), int(d)) for n, m, a, b, c, d in rows
    }
    # Per notice (a student counted once across missions), with its title and time.
    notices = {
        int(n): (str(title), posted, to_mission, to_batch, int(t), int(a))
        for n, title, posted, to_mission, to_batch, t, a in (
            await conn.execute(
                select(
                    Notice.id, Notice.title, Notice.created_at, Notice.mission_id,
                    Notice.batch_id,
                    func.count(func.distinct(audience.c.student_id)).filter(mine),
                    func.count(func.distinct(ack.user_id)).filter(mine),
                )
                .select_from(audience)
                .join(Notice, Notice.id == audience.c.notice_id)
                .outerjoin(ack, and_(ack.notice_id == audience.c.notice_id,
                                     ack.user_id == audience.c.student_id))
                .group_by(Notice.id, Notice.title, Notice.created_at, Notice.mission_id,
                          Notice.batch_id)
            )
        ).all()
    }  # fmt: skip
    posted_at = {n: _aware(v[1]) for n, v in notices.items()}
    current = {n for n, at in posted_at.items() if at >= start}
    # Hours to acknowledge: overall and per row (two statements).
    hours = stats.hours_between(ack.acknowledged_at, Notice.created_at, dialect)
    acked = joined.where(mine, ack.acknowledged_at.is_not(None),
                         Notice.created_at >= start)  # fmt: skip
    overall = (
        await stats.distributions(conn, acked.with_only_columns(
            literal(0).label("key"), hours.label("value")))
    ).get(0)  # fmt: skip
    key = {"notice": audience.c.notice_id, "mission": audience.c.mission_id,
           "batch": Mission.batch_id}[group]  # fmt: skip
    source = acked.with_only_columns(key.label("key"), hours.label("value"))
    if group == "batch":
        source = source.join(Mission, Mission.id == audience.c.mission_id)
    per_row = await stats.distributions(conn, source)
    report.notices = len(current)
    if len(shown) < len(ids):
        report.notes.append(
            "Missions where this period's notices reached fewer than five students are left "
            "out of every figure for you (they would identify them)."
        )
    report.targeted = sum(notices[n][4] for n in current)
    report.acknowledged = sum(notices[n][5] for n in current)
    report.rate = stats.ratio(report.acknowledged, report.targeted)
    before = [n for n in notices if n not in current]
    report.previous_rate = stats.ratio(sum(notices[n][5] for n in before),
                                       sum(notices[n][4] for n in before))  # fmt: skip
    report.change = (
        None if report.rate is None or report.previous_rate is None
        else round(report.rate - report.previous_rate, 4)
    )  # fmt: skip
    report.median_hours = None if overall is None else _hours(overall.median)
    if reach.withholds(distinct(people, shown), shown):
        report.notes.append(
            "Fewer than five students: figures are not broken down (they would identify them)."
        )
        report.targeted = report.acknowledged = 0
        report.rate = report.previous_rate = report.change = report.median_hours = None
    # Whole missions (a mentor's comparison).
    for m in missions:
        shares = [v for (n, mm), v in per.items() if mm == m.id and n in current]
        all_n = sum(v[2] for v in shares)
        all_a = sum(v[3] for v in shares)
        # The students a notice reached there (the largest audience), the viewer's and all.
        mine_most = max((v[0] for v in shares), default=0)
        all_most = max((v[2] for v in shares), default=0)
        withheld = (
            m.id not in shown or not comparable(reach, mine_most, all_most)
            or reach.withholds(all_most, [m.id])
        )  # fmt: skip
        report.missions.append(MissionAcknowledgement(
            mission_id=m.id, mission=m.title, targeted=all_n,
            rate=None if withheld else stats.ratio(all_a, all_n), withheld=withheld,
        ))  # fmt: skip
    if group == "notice":
        notice_missions: dict[int, list[int]] = defaultdict(list)
        for n, mm in per:
            notice_missions[n].append(mm)
        for n in sorted(current, key=lambda n: (posted_at[n], n)):
            title, _, to_mission, to_batch, targeted, acknowledged = notices[n]
            scope = (by_id[to_mission].title if to_mission in by_id
                     else _batch_name(missions, to_batch))  # fmt: skip
            report.rows.append(_row(reach, f"notice:{n}", title, n, posted_at[n], scope, 1,
                                    targeted, targeted, acknowledged, notice_missions[n],
                                    per_row.get(n)))  # fmt: skip
    elif group == "mission":
        for m in missions:
            targeted = sum(v[0] for (n, mm), v in per.items() if mm == m.id and n in current)
            done = sum(v[1] for (n, mm), v in per.items() if mm == m.id and n in current)
            count = len({n for (n, mm) in per if mm == m.id and n in current})
            report.rows.append(_row(reach, f"mission:{m.id}", m.title, m.id, None, None, count,
                                    len(people.get(m.id, ())), targeted, done, [m.id],
                                    per_row.get(m.id)))  # fmt: skip
    else:
        batches: dict[int, list[int]] = defaultdict(list)
        for m in missions:
            batches[m.batch_id].append(m.id)
        ordered = sorted(batches.items(), key=lambda b: (by_id[b[1][0]].batch_name, b[0]))
        for batch_id, every in ordered:
            within = [i for i in every if i in shown]
            targeted = sum(v[0] for (n, mm), v in per.items() if mm in within and n in current)
            done = sum(v[1] for (n, mm), v in per.items() if mm in within and n in current)
            count = len({n for (n, mm) in per if mm in within and n in current})
            students = distinct(people, within if within else every)
            report.rows.append(_row(reach, f"batch:{batch_id}", by_id[every[0]].batch_name,
                                    batch_id, None, None, count, students, targeted, done,
                                    every, per_row.get(batch_id),
                                    withheld=not within and students > 0))  # fmt: skip
    if any(r.withheld for r in report.rows) or any(m.withheld for m in report.missions):
        report.notes.append(
            "Groups of fewer than five students are not broken down for you (they would "
            "identify them)."
        )
    return report


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _batch_name(missions: list[Any], batch_id: int | None) -> str | None:
    return next((m.batch_name for m in missions if m.batch_id == batch_id), None)


def _row(
    reach: Reach,
    key: str,
    label: str,
    object_id: int,
    posted_at: datetime | None,
    scope: str | None,
    notices: int,
    students: int,
    targeted: int,
    acknowledged: int,
    missions: list[int],
    spread: stats.Distribution | None,
    withheld: bool = False,
) -> NoticeRow:
    """A row; withheld when the distinct students it covers are fewer than five (for a
    viewer who may not see them)."""
    if withheld or reach.withholds(students, missions):
        return NoticeRow(key, label, object_id, posted_at, scope, notices, None, None, None,
                         None, withheld=True)  # fmt: skip
    return NoticeRow(
        key, label, object_id, posted_at, scope, notices, targeted, acknowledged,
        stats.ratio(acknowledged, targeted), None if spread is None else _hours(spread.median),
    )  # fmt: skip


def table(report: NoticesReport) -> Table:
    group = report.group_by
    lead: list[Column] = {
        "notice": [Column("notice", "Notice"), Column("posted_at", "Posted (UTC)", "date"),
                   Column("to", "Posted to")],
        "mission": [Column("mission", "Mission"), Column("notices", "Notices", "integer")],
        "batch": [Column("batch", "Batch"), Column("notices", "Notices", "integer")],
    }[group]  # fmt: skip
    columns = [
        *lead,
        Column("targeted", "Targeted", "integer"),
        Column("acknowledged", "Acknowledged", "integer"),
        Column("rate", "Acknowledged (share)", "percent"),
        Column("median_hours", "Median hours to acknowledge", "decimal"),
    ]
    rows = []
    for r in report.rows:
        head: tuple[Any, ...] = (
            (r.label, r.posted_at.date() if r.posted_at else None, r.scope)
            if group == "notice" else (r.label, r.notices)
        )  # fmt: skip
        rows.append((*head, r.targeted, r.acknowledged, r.rate, r.median_hours))
    notes = [
        f"Notices posted from {report.since} to {report.until}: {report.notices}; "
        f"acknowledged {report.acknowledged} of {report.targeted} "
        f"({'n/a' if report.rate is None else f'{report.rate * 100:.1f}%'}; previous period "
        f"{'n/a' if report.previous_rate is None else f'{report.previous_rate * 100:.1f}%'}).",
        *report.notes,
    ]
    return Table(
        title="Notice acknowledgements", columns=columns, rows=rows,
        charts=[Chart("bar", "Acknowledgement rate", lead[0].name, ("rate",))], notes=notes,
    )  # fmt: skip
