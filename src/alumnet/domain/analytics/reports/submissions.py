"""The submissions report: the assignments due in a range, handed in on time, late or
missing, per assignment, mission or student, against the previous period; and the grade
distribution (scores as a percent of each assignment's maximum: count, mean, sample
standard deviation, median, percentiles 10 to 90), computed in SQL (``stats``).

Each counted student (active or completed enrolment) owes each assignment of their
mission due in the range. Work not handed in is *missing* once the assignment is due;
what is owed of an assignment not yet due is *pending*, and hand-ins count (on time, late,
rates) only once their assignment is due, so work handed in ahead neither inflates the
rates nor hides work missing elsewhere. A few statements whatever the number of students.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Double, and_, case, cast, func, literal, select, true

from alumnet.domain.analytics import stats
from alumnet.domain.analytics.common import Chart, Column, DateRange, Table, small
from alumnet.domain.analytics.reports.scope import (
    Filters,
    MissionInfo,
    Reach,
    comparable,
    distinct,
    missions_of,
    moments,
    people_of,
    whole,
)
from alumnet.persistence.mentoring import mentors_enrollment
from alumnet.persistence.models import Assignment, Enrollment, Submission


@dataclass
class Grades:
    """A distribution of scores (percent of the maximum); null figures when withheld."""

    count: int = 0
    mean: float | None = None
    standard_deviation: float | None = None
    median: float | None = None
    p10: float | None = None
    p25: float | None = None
    p75: float | None = None
    p90: float | None = None
    withheld: bool = False


def _grades(found: stats.Distribution | None, withheld: bool) -> Grades:
    if found is None:
        return Grades()
    if withheld:
        return Grades(count=found.count, withheld=True)
    return Grades(
        count=found.count, mean=found.mean, standard_deviation=found.standard_deviation,
        median=found.median, p10=found.p10, p25=found.p25, p75=found.p75, p90=found.p90,
    )  # fmt: skip


@dataclass
class WorkRow:
    """One assignment, mission or student."""

    key: str
    label: str
    object_id: int | None
    email: str | None
    mission: str | None
    due_at: datetime | None
    students: int
    expected: int | None  # hand-ins owed (students times assignments)
    on_time: int | None
    late: int | None
    missing: int | None
    pending: int | None  # owed, not yet due
    on_time_rate: float | None  # on time ÷ due
    grades: Grades = field(default_factory=Grades)
    withheld: bool = False


@dataclass
class MissionWork:
    """The whole mission's rates (every counted student), beside a mentor's mentees'."""

    mission_id: int
    mission: str
    students: int
    on_time_rate: float | None
    submission_rate: float | None
    mean_score: float | None
    withheld: bool = False


@dataclass
class SubmissionsReport:
    since: date
    until: date
    previous_since: date
    previous_until: date
    group_by: str
    assignments: int
    expected: int
    on_time: int
    late: int
    missing: int
    pending: int
    on_time_rate: float | None
    submission_rate: float | None  # handed in ÷ due
    previous_on_time_rate: float | None
    previous_submission_rate: float | None
    change: float | None  # of the on-time rate
    grades: Grades = field(default_factory=Grades)
    rows: list[WorkRow] = field(default_factory=list)
    missions: list[MissionWork] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def score() -> Any:
    """A graded submission's mark as a percent of its assignment's maximum."""
    return case(
        (Assignment.max_points > 0, cast(Submission.mark, Double) * 100.0 / Assignment.max_points)
    )


@dataclass
class _Due:
    id: int
    mission_id: int
    title: str
    due_at: datetime
    current: bool  # in the period asked (else the previous one)


async def submissions_report(
    conn: Any, reach: Reach, period: DateRange, filters: Filters, now: datetime
) -> SubmissionsReport:
    group = filters.group_by
    previous = period.previous()
    missions = await missions_of(conn, reach, filters)
    reach.require_people(group, (m.id for m in missions))
    report = SubmissionsReport(
        since=period.since, until=period.until, previous_since=previous.since,
        previous_until=previous.until, group_by=group, assignments=0, expected=0, on_time=0,
        late=0, missing=0, pending=0, on_time_rate=None, submission_rate=None,
        previous_on_time_rate=None, previous_submission_rate=None, change=None,
    )  # fmt: skip
    if not missions:
        report.notes.append("No mission within your reach matches the filter.")
        return report
    ids = [m.id for m in missions]
    by_id = {m.id: m for m in missions}
    start, end = moments(period)
    earlier_start, _ = moments(previous)
    due = [
        _Due(int(i), int(m), str(t), _utc(d), _utc(d) >= start)
        for i, m, t, d in (
            await conn.execute(
                select(Assignment.id, Assignment.mission_id, Assignment.title, Assignment.due_at)
                .where(Assignment.mission_id.in_(ids), Assignment.due_at >= earlier_start,
                       Assignment.due_at < end)
                .order_by(Assignment.due_at, Assignment.id)
            )
        ).all()
    ]  # fmt: skip
    mine = mentors_enrollment(reach.mentor_id) if reach.mentor_id is not None else true()
    people, people_all = await people_of(conn, reach, ids)
    enrolled = {i: len(people.get(i, ())) for i in ids}
    everyone = {i: len(people_all.get(i, ())) for i in ids}
    # The missions whose figures the viewer may see: the totals add up these only.
    shown = reach.published(people, ids)
    current = [a for a in due if a.current]
    report.assignments = len(current)
    # Hand-ins per assignment: on time and late, the viewer's and everyone's.
    handed: dict[int, tuple[int, int, int, int]] = {}
    if due:
        for assignment_id, on_mine, late_mine, on_all, late_all in (
            await conn.execute(
                select(
                    Submission.assignment_id,
                    func.count().filter(and_(mine, Submission.late.is_(False))),
                    func.count().filter(and_(mine, Submission.late.is_(True))),
                    func.count().filter(Submission.late.is_(False)),
                    func.count().filter(Submission.late.is_(True)),
                )
                .join(Enrollment, Enrollment.id == Submission.enrollment_id)
                .where(whole(ids), Submission.assignment_id.in_([a.id for a in due]))
                .group_by(Submission.assignment_id)
            )
        ).all():
            handed[int(assignment_id)] = (int(on_mine), int(late_mine), int(on_all),
                                          int(late_all))  # fmt: skip

    def figures(assignments: list[_Due], students: dict[int, int], everyone_: bool) -> list[int]:
        """expected, on time, late, missing, pending over these assignments: on time,
        late and missing count the assignments already due; pending is what is owed of
        those not yet due (work handed in ahead counts once they are due)."""
        out = [0, 0, 0, 0, 0]
        for a in assignments:
            n = students.get(a.mission_id, 0)
            out[0] += n
            if a.due_at > now:
                out[4] += n
                continue
            got = handed.get(a.id, (0, 0, 0, 0))
            on, late = (got[2], got[3]) if everyone_ else (got[0], got[1])
            out[1] += on
            out[2] += late
            out[3] += max(0, n - on - late)
        return out

    def rates(f: list[int]) -> tuple[float | None, float | None]:
        owed = f[0] - f[4]
        return stats.ratio(f[1], owed), stats.ratio(f[1] + f[2], owed)

    totals = figures([a for a in current if a.mission_id in shown], enrolled, False)
    (report.expected, report.on_time, report.late, report.missing, report.pending) = totals
    report.on_time_rate, report.submission_rate = rates(totals)
    before = figures([a for a in due if not a.current and a.mission_id in shown], enrolled,
                     False)  # fmt: skip
    report.previous_on_time_rate, report.previous_submission_rate = rates(before)
    report.change = (
        None if report.on_time_rate is None or report.previous_on_time_rate is None
        else round(report.on_time_rate - report.previous_on_time_rate, 4)
    )  # fmt: skip
    # Grades: overall, per row, and each whole mission (three statements).
    graded = (
        select(literal(0).label("key"), score().label("value"))
        .select_from(Submission)
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .join(Enrollment, Enrollment.id == Submission.enrollment_id)
        .where(whole(ids), Submission.assignment_id.in_([a.id for a in current] or [-1]),
               Submission.mark.is_not(None))
    )  # fmt: skip
    hidden_all = reach.withholds(distinct(people, shown), shown)
    overall = (
        await stats.distributions(conn, graded.where(mine, Submission.mission_id.in_(shown)))
    ).get(0)
    report.grades = _grades(overall, hidden_all or _few(reach, overall, shown))
    if len(shown) < len(ids):
        report.notes.append(
            "Missions of fewer than five students are left out of the totals and the overall "
            "grades for you (they would identify them)."
        )
    key = {"assignment": Submission.assignment_id, "mission": Submission.mission_id,
           "student": Submission.student_id}[group]  # fmt: skip
    per_row = await stats.distributions(
        conn, graded.with_only_columns(key.label("key"), score().label("value")).where(mine)
    )
    per_mission = await stats.distributions(
        conn, graded.with_only_columns(Submission.mission_id.label("key"), score().label("value"))
    )
    if hidden_all:
        report.notes.append(
            "Fewer than five students: figures are not broken down (they would identify them)."
        )
        report.expected = report.on_time = report.late = report.missing = report.pending = 0
        report.on_time_rate = report.submission_rate = report.change = None
        report.previous_on_time_rate = report.previous_submission_rate = None
    for m in missions:
        students = everyone.get(m.id, 0)
        withheld = not comparable(reach, enrolled.get(m.id, 0), students) or reach.withholds(
            students, [m.id]
        )
        whole_figures = figures([a for a in current if a.mission_id == m.id], everyone, True)
        on_rate, in_rate = rates(whole_figures)
        spread = per_mission.get(m.id)
        report.missions.append(MissionWork(
            mission_id=m.id, mission=m.title, students=students,
            on_time_rate=None if withheld else on_rate,
            submission_rate=None if withheld else in_rate,
            mean_score=None if withheld or spread is None else spread.mean, withheld=withheld,
        ))  # fmt: skip
    if any(m.withheld for m in report.missions):
        report.notes.append(
            "A mission's whole figures are withheld where the students besides yours are "
            "fewer than five."
        )
    if group == "assignment":
        for a in current:
            n = enrolled.get(a.mission_id, 0)
            f = figures([a], enrolled, False)
            report.rows.append(_row(reach, f"assignment:{a.id}", a.title, a.id, None,
                                    by_id[a.mission_id].title, a.due_at, n, [a.mission_id], f,
                                    per_row.get(a.id)))  # fmt: skip
    elif group == "mission":
        for m in missions:
            f = figures([a for a in current if a.mission_id == m.id], enrolled, False)
            report.rows.append(_row(reach, f"mission:{m.id}", m.title, m.id, None, m.title,
                                    None, enrolled.get(m.id, 0), [m.id], f,
                                    per_row.get(m.id)))  # fmt: skip
    else:
        report.rows = await _students(conn, reach, missions, current, now, per_row)
    return report


def _utc(moment: datetime) -> datetime:
    """A time read back without its zone (SQLite through a plain select) is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _few(reach: Reach, found: stats.Distribution | None, missions: list[int]) -> bool:
    """A distribution of one to four marks, for a viewer who may not see the students."""
    return found is not None and small(found.count) and not reach.sees_people(missions)


def _row(
    reach: Reach,
    key: str,
    label: str,
    object_id: int,
    email: str | None,
    mission: str | None,
    due_at: datetime | None,
    students: int,
    missions: list[int],
    f: list[int],
    spread: stats.Distribution | None,
) -> WorkRow:
    if reach.withholds(students, missions):
        return WorkRow(key, label, object_id, email, mission, due_at, students, None, None,
                       None, None, None, None, Grades(withheld=True), withheld=True)  # fmt: skip
    owed = f[0] - f[4]
    return WorkRow(
        key, label, object_id, email, mission, due_at, students, f[0], f[1], f[2], f[3], f[4],
        stats.ratio(f[1], owed), _grades(spread, _few(reach, spread, missions)),
    )  # fmt: skip


async def _students(
    conn: Any,
    reach: Reach,
    missions: list[MissionInfo],
    current: list[_Due],
    now: datetime,
    per_row: dict[Any, stats.Distribution],
) -> list[WorkRow]:
    """One row per student: their hand-ins of the range's assignments already due in their
    missions (one statement; work handed in ahead of a due date is not counted yet), most
    missing first. Rows carry the student's id: names are read after the cache."""
    ids = [m.id for m in missions]
    mine = mentors_enrollment(reach.mentor_id) if reach.mentor_id is not None else true()
    owed: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # mission -> [due, not yet]
    for a in current:
        owed[a.mission_id][0 if a.due_at <= now else 1] += 1
    wanted = [a.id for a in current if a.due_at <= now] or [-1]
    s = Submission
    query = (
        select(
            Enrollment.student_id, Enrollment.mission_id,
            func.count(s.id).filter(s.late.is_(False)), func.count(s.id).filter(s.late.is_(True)),
        )
        .outerjoin(s, and_(s.enrollment_id == Enrollment.id, s.assignment_id.in_(wanted)))
        .where(whole(ids), mine)
        .group_by(Enrollment.id, Enrollment.student_id, Enrollment.mission_id)
    )  # fmt: skip
    found: dict[int, list[int]] = {}
    for student_id, mission_id, on, late in (await conn.execute(query)).all():
        due_n, later = owed.get(int(mission_id), [0, 0])
        line = found.setdefault(int(student_id), [0, 0, 0, 0, 0])
        line[0] += due_n + later
        line[1] += int(on)
        line[2] += int(late)
        line[3] += max(0, due_n - int(on) - int(late))
        line[4] += later
    rows = [
        WorkRow(
            key=f"student:{sid}", label="", object_id=sid, email=None, mission=None,
            due_at=None, students=1, expected=expected, on_time=on, late=late, missing=missing,
            pending=pending, on_time_rate=stats.ratio(on, expected - pending),
            grades=_grades(per_row.get(sid), False),
        )
        for sid, (expected, on, late, missing, pending) in found.items()
    ]  # fmt: skip
    sort_students(rows)
    return rows


def sort_students(rows: list[WorkRow]) -> None:
    """Student rows, most missing first, then most late, then by name."""
    rows.sort(key=lambda r: (-(r.missing or 0), -(r.late or 0), r.label, r.object_id or 0))


def table(report: SubmissionsReport) -> Table:
    group = report.group_by
    lead: list[Column] = {
        "assignment": [Column("assignment", "Assignment"), Column("mission", "Mission"),
                       Column("due_at", "Due (UTC)", "date")],
        "mission": [Column("mission", "Mission")],
        "student": [Column("student", "Student"), Column("email", "E-mail")],
    }[group]  # fmt: skip
    columns = [
        *lead,
        Column("expected", "Owed", "integer"),
        Column("on_time", "On time", "integer"),
        Column("late", "Late", "integer"),
        Column("missing", "Missing", "integer"),
        Column("pending", "Not yet due", "integer"),
        Column("on_time_rate", "On time (of due)", "percent"),
        Column("graded", "Graded", "integer"),
        Column("mean", "Mean score %", "decimal"),
        Column("standard_deviation", "Std. deviation", "decimal"),
        Column("median", "Median %", "decimal"),
        Column("p10", "P10 %", "decimal"),
        Column("p25", "P25 %", "decimal"),
        Column("p75", "P75 %", "decimal"),
        Column("p90", "P90 %", "decimal"),
    ]
    rows = []
    for r in report.rows:
        head: tuple[Any, ...]
        if group == "assignment":
            head = (r.label, r.mission, r.due_at.date() if r.due_at else None)
        elif group == "student":
            head = (r.label, r.email)
        else:
            head = (r.label,)
        g = r.grades
        rows.append((*head, r.expected, r.on_time, r.late, r.missing, r.pending, r.on_time_rate,
                     g.count, g.mean, g.standard_deviation, g.median, g.p10, g.p25, g.p75,
                     g.p90))  # fmt: skip
    g = report.grades
    notes = [
        f"Assignments due from {report.since} to {report.until}, compared with "
        f"{report.previous_since} to {report.previous_until}.",
        f"On time: {_percent(report.on_time_rate)} of the work due (previous period "
        f"{_percent(report.previous_on_time_rate)}); handed in: "
        f"{_percent(report.submission_rate)}.",
        f"Grades (percent of the maximum): {g.count} graded, mean {g.mean}, median {g.median}, "
        f"standard deviation {g.standard_deviation}, P10 {g.p10}, P90 {g.p90}.",
        *report.notes,
    ]
    return Table(
        title="Submissions", columns=columns, rows=rows,
        charts=[Chart("bar", "On time, late and missing", lead[0].name,
                      ("on_time", "late", "missing"))],
        notes=notes,
    )  # fmt: skip


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"
