"""The attendance report: days present over days possible, by mission, batch, student,
weekday or week, with this period against the previous one, the trend of the weekly rate
and the weeks well below a mission's norm.

A student's possible days are the mission's days within the period, up to yesterday in
the mission's time zone (today is not over); a group's are its students' (students
counted: active or completed enrolments; small groups are judged on distinct people). The counts
are SQL aggregates (three statements, four grouped by student), the calendar of each
mission is worked out here from its dates.

A week is *anomalous* when a mission's weekly rate is below the mission's norm by more
than two robust deviations and by at least ten points: the norm is the median of its
weekly rates over this period and the previous one (weeks of at least three of its days,
four such weeks at least), the robust deviation 1.4826 times their median absolute
deviation (see docs/REPORTS.md).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, true

from alumnet.domain.analytics import stats
from alumnet.domain.analytics.common import Chart, Column, DateRange, Table
from alumnet.domain.analytics.reports.scope import (
    Filters,
    MissionInfo,
    Reach,
    comparable,
    distinct,
    missions_of,
    people_of,
    whole,
)
from alumnet.persistence.mentoring import mentors_enrollment
from alumnet.persistence.models import AttendanceDay, Enrollment

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# A week is compared with the norm only when the mission had this many days in it.
ANOMALY_MIN_DAYS = 3
ANOMALY_MIN_WEEKS = 4
ANOMALY_DEVIATIONS = 2.0
ANOMALY_MIN_DROP = 0.10


@dataclass
class WeekRate:
    week_start: date
    days: int  # days of the week inside the period
    present: int
    possible: int
    rate: float | None


@dataclass
class AttendanceRow:
    """One group: a mission, a batch, a student, a weekday or a week."""

    key: str
    label: str
    object_id: int | None  # the mission, batch or student (user) it is about
    email: str | None
    batch: str | None
    students: int
    present: int | None
    possible: int | None
    rate: float | None
    previous_rate: float | None
    change: float | None
    withheld: bool = False


@dataclass
class Anomaly:
    mission_id: int
    mission: str
    week_start: date
    present: int
    possible: int
    rate: float
    norm: float
    threshold: float


@dataclass
class MissionAverage:
    """The whole mission's rate (every counted student), beside a mentor's mentees'."""

    mission_id: int
    mission: str
    students: int
    rate: float | None
    previous_rate: float | None
    withheld: bool = False


@dataclass
class AttendanceReport:
    since: date
    until: date
    previous_since: date
    previous_until: date
    group_by: str
    students: int
    present: int
    possible: int
    rate: float | None
    previous_rate: float | None
    change: float | None
    slope: float | None  # change of the weekly rate per week (least squares)
    weeks: list[WeekRate] = field(default_factory=list)
    rows: list[AttendanceRow] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    missions: list[MissionAverage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _change(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else round(now - before, 4)


def _dates(span: tuple[date, date] | None) -> list[date]:
    if span is None:
        return []
    first, last = span
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


class _Calendar:
    """The days each mission counts in a period (through yesterday in its time zone), and
    the presents counted on them."""

    def __init__(self, missions: list[MissionInfo], period: DateRange, now: datetime) -> None:
        self.days = {m.id: _dates(m.days(period, now)) for m in missions}
        self.sets = {m: set(days) for m, days in self.days.items()}

    def possible(self, mission_id: int, enrolled: int, where: Any = None) -> int:
        days = self.days[mission_id]
        return enrolled * (len(days) if where is None else sum(1 for d in days if where(d)))


async def attendance_report(
    conn: Any, reach: Reach, period: DateRange, filters: Filters, now: datetime
) -> AttendanceReport:
    group = filters.group_by
    previous = period.previous()
    missions = await missions_of(conn, reach, filters)
    reach.require_people(group, (m.id for m in missions))
    report = AttendanceReport(
        since=period.since, until=period.until, previous_since=previous.since,
        previous_until=previous.until, group_by=group, students=0, present=0, possible=0,
        rate=None, previous_rate=None, change=None, slope=None,
    )  # fmt: skip
    if not missions:
        report.notes.append("No mission within your reach matches the filter.")
        return report
    ids = [m.id for m in missions]
    mine = mentors_enrollment(reach.mentor_id) if reach.mentor_id is not None else true()
    # Students counted per mission (people): the viewer's (a mentor's mentees) and everyone.
    people, people_all = await people_of(conn, reach, ids)
    enrolled = {i: len(people.get(i, ())) for i in ids}
    everyone = {i: len(people_all.get(i, ())) for i in ids}
    # The missions whose figures the viewer may see: every total adds up these only.
    shown = reach.published(people, ids)
    # Presents per mission and day, both periods: the viewer's and everyone's.
    counts: dict[tuple[int, date], int] = {}
    counts_all: dict[tuple[int, date], int] = {}
    for mission_id, day, n_mine, n_all in (
        await conn.execute(
            select(
                AttendanceDay.mission_id, AttendanceDay.day, func.count().filter(mine),
                func.count(),
            )
            .join(Enrollment, Enrollment.id == AttendanceDay.enrollment_id)
            .where(
                whole(ids), AttendanceDay.mission_id.in_(ids), AttendanceDay.status == "present",
                AttendanceDay.day >= previous.since, AttendanceDay.day <= period.until,
            )
            .group_by(AttendanceDay.mission_id, AttendanceDay.day)
        )
    ).all():  # fmt: skip
        key = (int(mission_id), stats.as_date(day))
        counts[key] = int(n_mine)
        counts_all[key] = int(n_all)
    now_, before = _Calendar(missions, period, now), _Calendar(missions, previous, now)

    def present(cal: _Calendar, mission_id: int, where: Any = None, of: Any = None) -> int:
        source = counts if of is None else of
        days = cal.days[mission_id]
        return sum(source.get((mission_id, d), 0) for d in days if where is None or where(d))

    # Totals and the comparison with the previous period (the missions shown only).
    report.students = distinct(people, shown)
    report.present = sum(present(now_, i) for i in shown)
    report.possible = sum(now_.possible(i, enrolled[i]) for i in shown)
    earlier = sum(present(before, i) for i in shown)
    earlier_possible = sum(before.possible(i, enrolled[i]) for i in shown)
    report.rate = stats.ratio(report.present, report.possible)
    report.previous_rate = stats.ratio(earlier, earlier_possible)
    report.change = _change(report.rate, report.previous_rate)
    # Weeks of the period, and the trend of their rate.
    weeks: dict[date, WeekRate] = {}
    day = period.since
    while day <= period.until:
        start = day - timedelta(days=day.weekday())
        week = weeks.setdefault(start, WeekRate(start, 0, 0, 0, None))
        week.days += 1
        for i in shown:
            if day in now_.sets[i]:
                week.present += counts.get((i, day), 0)
                week.possible += enrolled[i]
        day += timedelta(days=1)
    for week in weeks.values():
        week.rate = stats.ratio(week.present, week.possible)
    report.weeks = sorted(weeks.values(), key=lambda w: w.week_start)
    if len(shown) < len(ids):
        report.notes.append(
            "Missions of fewer than five students are left out of every total, week, weekday "
            "and batch figure for you (they would identify them)."
        )
    hidden = reach.withholds(report.students, shown)
    if hidden:
        report.notes.append(
            "Fewer than five students: figures are not broken down (they would identify them)."
        )
        report.weeks = [WeekRate(w.week_start, w.days, 0, 0, None) for w in report.weeks]
        report.present = report.possible = 0
        report.rate = report.previous_rate = report.change = None
    first_week = report.weeks[0].week_start if report.weeks else period.since
    points = [((w.week_start - first_week).days / 7, w.rate) for w in report.weeks
              if w.rate is not None]  # fmt: skip
    report.slope = _round(stats.slope(points))
    report.anomalies = (
        []
        if hidden
        else _anomalies(
            [m for m in missions if m.id in shown], enrolled, counts, period, previous, now, reach
        )
    )
    # The whole missions' rates, beside a mentor's mentees' (when the others are enough).
    for m in missions:
        students = everyone[m.id]
        withheld = not comparable(reach, enrolled[m.id], students) or reach.withholds(
            students, [m.id]
        )
        report.missions.append(MissionAverage(
            mission_id=m.id, mission=m.title, students=students,
            rate=None if withheld else stats.ratio(present(now_, m.id, of=counts_all),
                                                   now_.possible(m.id, students)),
            previous_rate=None if withheld else stats.ratio(
                present(before, m.id, of=counts_all), before.possible(m.id, students)),
            withheld=withheld,
        ))  # fmt: skip
    if any(a.withheld for a in report.missions):
        report.notes.append(
            "A mission's whole rate is withheld where the students besides yours are fewer "
            "than five."
        )
    rows: list[AttendanceRow] = []
    if group == "mission":
        for m in missions:
            n = enrolled[m.id]
            rows.append(_row(reach, f"mission:{m.id}", m.title, m.id, None, m.batch_name, n,
                             [m.id], (present(now_, m.id), now_.possible(m.id, n)),
                             (present(before, m.id), before.possible(m.id, n))))  # fmt: skip
    elif group == "batch":
        batches: dict[int, list[MissionInfo]] = defaultdict(list)
        for m in missions:
            batches[m.batch_id].append(m)
        for batch_id, within in sorted(batches.items(), key=lambda b: (b[1][0].batch_name, b[0])):
            mids = [m.id for m in within if m.id in shown]
            rows.append(_row(
                reach, f"batch:{batch_id}", within[0].batch_name, batch_id, None, None,
                distinct(people, mids), [m.id for m in within],
                (sum(present(now_, i) for i in mids),
                 sum(now_.possible(i, enrolled[i]) for i in mids)),
                (sum(present(before, i) for i in mids),
                 sum(before.possible(i, enrolled[i]) for i in mids)),
                withheld=not mids and any(people.get(m.id) for m in within),
            ))  # fmt: skip
    elif group == "weekday":
        for number, name in enumerate(WEEKDAYS):

            def on(d: date, number: int = number) -> bool:
                return d.weekday() == number

            rows.append(_row(
                reach, f"weekday:{number + 1}", name, None, None, None, report.students, shown,
                (sum(present(now_, i, on) for i in shown),
                 sum(now_.possible(i, enrolled[i], on) for i in shown)),
                (sum(present(before, i, on) for i in shown),
                 sum(before.possible(i, enrolled[i], on) for i in shown)),
            ))  # fmt: skip
    elif group == "week":
        for w in report.weeks:
            rows.append(AttendanceRow(
                key=f"week:{w.week_start.isoformat()}", label=w.week_start.isoformat(),
                object_id=None, email=None, batch=None, students=report.students,
                present=None if hidden else w.present,
                possible=None if hidden else w.possible,
                rate=None if hidden else w.rate, previous_rate=None, change=None,
                withheld=hidden,
            ))  # fmt: skip
    else:
        rows = await _students(conn, reach, missions, counts_period=(period, previous),
                               calendars=(now_, before))  # fmt: skip
    report.rows = rows
    return report


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _row(
    reach: Reach,
    key: str,
    label: str,
    object_id: int | None,
    email: str | None,
    batch: str | None,
    students: int,
    missions: list[int],
    now: tuple[int, int],
    before: tuple[int, int],
    withheld: bool = False,
) -> AttendanceRow:
    if withheld or reach.withholds(students, missions):
        return AttendanceRow(key, label, object_id, email, batch, students, None, None, None,
                             None, None, withheld=True)  # fmt: skip
    rate, earlier = stats.ratio(*now), stats.ratio(*before)
    return AttendanceRow(key, label, object_id, email, batch, students, now[0], now[1], rate,
                         earlier, _change(rate, earlier))  # fmt: skip


async def _students(
    conn: Any,
    reach: Reach,
    missions: list[MissionInfo],
    counts_period: tuple[DateRange, DateRange],
    calendars: tuple[_Calendar, _Calendar],
) -> list[AttendanceRow]:
    """One row per student (over the missions of the report), lowest rate first; one
    statement (their enrolments, with days present in each period counted first per
    enrolment over these missions' rows only). Rows carry the student's id: their name and
    e-mail are read after the cache (``reports.read``), which sorts them again."""
    period, previous = counts_period
    now, before = calendars
    ids = [m.id for m in missions]
    mine = mentors_enrollment(reach.mentor_id) if reach.mentor_id is not None else true()
    a = AttendanceDay
    presents = (
        select(
            a.enrollment_id,
            func.count().filter(a.day >= period.since).label("now"),
            func.count().filter(a.day < period.since).label("before"),
        )
        .where(a.mission_id.in_(ids), a.status == "present", a.day >= previous.since,
               a.day <= period.until)
        .group_by(a.enrollment_id)
        .subquery("presents")
    )  # fmt: skip
    query = (
        select(
            Enrollment.student_id, Enrollment.mission_id,
            func.coalesce(presents.c.now, 0), func.coalesce(presents.c.before, 0),
        )
        .outerjoin(presents, presents.c.enrollment_id == Enrollment.id)
        .where(whole(ids), mine)
    )  # fmt: skip
    students: dict[int, list[int]] = {}
    for student_id, mission_id, n_now, n_before in (await conn.execute(query)).all():
        line = students.setdefault(int(student_id), [0, 0, 0, 0])
        line[0] += int(n_now)
        line[1] += len(now.days[int(mission_id)])
        line[2] += int(n_before)
        line[3] += len(before.days[int(mission_id)])
    rows = []
    for student_id, (n_now, possible, n_before, possible_before) in students.items():
        rate, earlier = stats.ratio(n_now, possible), stats.ratio(n_before, possible_before)
        rows.append(AttendanceRow(
            key=f"student:{student_id}", label="", object_id=student_id, email=None,
            batch=None, students=1, present=n_now, possible=possible, rate=rate,
            previous_rate=earlier, change=_change(rate, earlier),
        ))  # fmt: skip
    sort_students(rows)
    return rows


def sort_students(rows: list[AttendanceRow]) -> None:
    """Student rows, lowest rate first (then by name)."""
    rows.sort(key=lambda r: (r.rate is None, r.rate or 0.0, r.label, r.object_id or 0))


def _anomalies(
    missions: list[MissionInfo],
    enrolled: dict[int, int],
    counts: dict[tuple[int, date], int],
    period: DateRange,
    previous: DateRange,
    now: datetime,
    reach: Reach,
) -> list[Anomaly]:
    """Weeks of the period well below their mission's norm (module docstring). A week not
    over yet in the mission's time zone is neither tested nor part of the norm."""
    found = []
    history = DateRange(previous.since, period.until)
    for m in missions:
        n = enrolled.get(m.id, 0)
        if not n or reach.withholds(n, [m.id]):
            continue
        today = m.yesterday(now) + timedelta(days=1)
        running = today - timedelta(days=today.weekday())  # the week not over yet
        weeks: dict[date, list[int]] = {}
        for d in _dates(m.days(history, now)):
            start = d - timedelta(days=d.weekday())
            if start >= running:
                continue
            week = weeks.setdefault(start, [0, 0])
            week[0] += counts.get((m.id, d), 0)
            week[1] += 1
        rated = {
            start: (present, days, present / (n * days))
            for start, (present, days) in weeks.items()
            if days >= ANOMALY_MIN_DAYS
        }
        if len(rated) < ANOMALY_MIN_WEEKS:
            continue
        norm = stats.robust_norm([r for _, _, r in rated.values()])
        assert norm is not None
        middle, spread = norm
        threshold = middle - max(ANOMALY_DEVIATIONS * spread, ANOMALY_MIN_DROP)
        for start, (present, days, rate) in sorted(rated.items()):
            within = start + timedelta(days=6) >= period.since
            if within and rate < threshold:
                found.append(Anomaly(
                    mission_id=m.id, mission=m.title, week_start=start, present=present,
                    possible=n * days, rate=round(rate, 4), norm=round(middle, 4),
                    threshold=round(threshold, 4),
                ))  # fmt: skip
    return found


def table(report: AttendanceReport) -> Table:
    """The report as a table: its rows, a chart (the weekly rate as a line when grouped by
    week, else each group's rate as bars), and notes (range, trend, anomalies)."""
    group = report.group_by
    lead: list[Column] = {
        "student": [Column("student", "Student"), Column("email", "E-mail")],
        "mission": [Column("mission", "Mission"), Column("batch", "Batch")],
        "batch": [Column("batch", "Batch")],
        "weekday": [Column("weekday", "Weekday")],
        "week": [Column("week", "Week of", "date")],
    }[group]
    columns = [
        *lead,
        Column("students", "Students", "integer"),
        Column("present", "Days present", "integer"),
        Column("possible", "Days possible", "integer"),
        Column("rate", "Attendance", "percent"),
        Column("previous_rate", "Previous period", "percent"),
        Column("change", "Change", "percent"),
    ]
    rows = []
    for r in report.rows:
        head: tuple[Any, ...]
        if group == "student":
            head = (r.label, r.email)
        elif group == "mission":
            head = (r.label, r.batch)
        elif group == "week":
            head = (date.fromisoformat(r.label),)
        else:
            head = (r.label,)
        rows.append((*head, r.students, r.present, r.possible, r.rate, r.previous_rate,
                     r.change))  # fmt: skip
    x = lead[0].name
    chart = (
        Chart("line", "Weekly attendance rate", x, ("rate",))
        if group == "week"
        else Chart("bar", f"Attendance by {group}", x, ("rate", "previous_rate"))
    )
    notes = [
        f"Attendance from {report.since} to {report.until}, compared with {report.previous_since}"
        f" to {report.previous_until}.",
        f"Overall: {_percent(report.rate)} (previous period {_percent(report.previous_rate)}).",
    ]
    if report.slope is not None:
        notes.append(f"Trend: {report.slope * 100:+.1f} points a week (least squares).")
    for a in report.anomalies:
        notes.append(
            f"Week of {a.week_start} in {a.mission}: {_percent(a.rate)}, below the mission's "
            f"norm of {_percent(a.norm)} (threshold {_percent(a.threshold)})."
        )
    notes.extend(report.notes)
    return Table(title="Attendance", columns=columns, rows=rows, charts=[chart], notes=notes)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"
