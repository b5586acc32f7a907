"""Reports with date ranges and comparisons (docs/REPORTS.md): attendance, submissions and
grades, mentor effectiveness, notice acknowledgements, platform engagement and the alumni
figures. Each root field calls ``domain.analytics.reports.read``, the same function the
exports and scheduled reports build their tables from."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import PermissionExtension

from alumnet.domain.analytics import reports
from alumnet.domain.analytics.common import DateRange
from alumnet.domain.analytics.reports import (
    alumni,
    attendance,
    engagement,
    mentors,
    submissions,
)
from alumnet.domain.analytics.reports import notices as notice_figures
from alumnet.domain.analytics.reports.scope import Filters
from alumnet.domain.identity.permissions import Permission
from alumnet.schema.context import Info
from alumnet.schema.errors import (
    BAD_USER_INPUT,
    report_errors,
)
from alumnet.schema.nodes import global_id, global_pk
from alumnet.schema.pagination import MAX_PAGE
from alumnet.schema.permissions import IsAuthenticated, requires, requires_any

if TYPE_CHECKING:
    from alumnet.schema.cohorts.types import Mission

ev = strawberry.enum_value
COHORTS = "alumnet.schema.cohorts.types"
ROWS_DEFAULT = 100
# Lists bounded by the report (LIST_CAPS says the same).
MISSIONS_MAX = 500
ANOMALIES_MAX = 100
MISSIONS_HELP = (
    f"The missions the report covers, as you may see them (at most {MISSIONS_MAX}), by title."
)

FromArg = Annotated[
    date | None,
    strawberry.argument(
        name="from", description="The first day (UTC dates). Default: 27 days before `to`."
    ),
]
ToArg = Annotated[
    date | None,
    strawberry.argument(
        name="to",
        description="The last day, included (at most five years after `from`). Default: today.",
    ),
]


@strawberry.input(description="What a programme report covers: one mission, one batch, or "
                  "(neither) every mission you may read reports of.")  # fmt: skip
class ReportFilter:
    mission_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only this mission (one outside your reach is NOT_FOUND)."
    )
    batch_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only the missions of this batch (within your reach)."
    )


@strawberry.type(description="A range of days, both ends included (UTC dates).")
class ReportPeriod:
    start: date = strawberry.field(name="from", description="The first day.")
    end: date = strawberry.field(name="to", description="The last day.")


def period_of(since: date, until: date) -> ReportPeriod:
    return ReportPeriod(start=since, end=until)


def filters_of(given: ReportFilter | None, group_by: str | None) -> dict[str, Any]:
    """The report's filters as JSON (as scheduled reports store them); ids of another
    kind are NOT_FOUND."""
    found: dict[str, Any] = {}
    if group_by is not None:
        found["group_by"] = group_by
    if given is None:
        return found
    for key, gid, kind in (("mission_id", given.mission_id, "Mission"),
                           ("batch_id", given.batch_id, "Batch")):  # fmt: skip
        if gid is None:
            continue
        pk = global_pk(gid, kind)
        if pk is None:
            field = "missionId" if kind == "Mission" else "batchId"
            raise GraphQLError(
                f"No {kind.lower()} you may read reports of has the id {str(gid)!r}.",
                extensions={"code": "NOT_FOUND", "field": ["filter", field]},
            )
        found[key] = pk
    return found


async def read_report(
    info: Info,
    report: str,
    since: date | None,
    until: date | None,
    filters: dict[str, Any],
) -> Any:
    """The report's figures for the viewer, or the GraphQL error that says why not."""
    with report_errors():
        period = DateRange.of(since, until, today=reports.today())
        checked = reports.scope.check(report, filters)
        return await reports.read(
            info.context.runtime, info.context.reads, info.context.viewer, report, period, checked
        )


def rows_wanted(first: int) -> int:
    if not 0 <= first <= MAX_PAGE:
        raise GraphQLError(
            f"`first` must be between 0 and {MAX_PAGE}.", extensions={"code": BAD_USER_INPUT}
        )
    return first


NODE_TYPES = {"mission": "Mission", "batch": "Batch", "student": "User", "mentor": "User",
              "assignment": "Assignment", "notice": "Notice"}  # fmt: skip


def node_id(key: str, object_id: int | None) -> strawberry.ID | None:
    kind = NODE_TYPES.get(key.split(":", 1)[0])
    if kind is None or object_id is None:
        return None
    return strawberry.ID(global_id(kind, object_id))


# -- attendance ---------------------------------------------------------------------------------


@strawberry.enum(description="How an attendance report's rows are grouped.")
class AttendanceReportGroup(Enum):
    MISSION = ev("mission", description="One row per mission.")
    BATCH = ev("batch", description="One row per batch (its missions together).")
    STUDENT = ev(
        "student",
        description="One row per student (their missions in the report together), lowest "
        "rate first. Only for those who may see the students.",
    )
    WEEKDAY = ev("weekday", description="Seven rows, Monday to Sunday.")
    WEEK = ev("week", description="One row per week (Monday to Sunday) of the range.")


@strawberry.type(description="Attendance over one week (Monday to Sunday) of the range.")
class AttendanceReportWeek:
    week_start: date = strawberry.field(description="The Monday.")
    days: int = strawberry.field(description="Days of the week inside the range.")
    present: int = strawberry.field(description="Days present (0 when withheld).")
    possible: int = strawberry.field(
        description="Days possible: each student's mission days that week, through yesterday "
        "in the mission's time zone (today is not over)."
    )
    rate: float | None = strawberry.field(
        description="present ÷ possible (0 to 1); null when nothing was possible or withheld."
    )


@strawberry.type(description="One row of an attendance report: a mission, batch, student, "
                 "weekday or week.")  # fmt: skip
class AttendanceReportRow:
    key: str = strawberry.field(
        description="A stable key: `mission:<n>`, `batch:<n>`, `student:<n>`, `weekday:1` "
        "(Monday) to `weekday:7`, or `week:<YYYY-MM-DD>`."
    )
    label: str = strawberry.field(
        description="What a person reads: the mission's title, batch's name, student's name, "
        "weekday, or the week's Monday."
    )
    node_id: strawberry.ID | None = strawberry.field(
        description="The global id of the mission, batch or student (a `User`) the row is "
        "about; null for weekdays and weeks."
    )
    email: str | None = strawberry.field(description="The student's e-mail (STUDENT rows).")
    batch: str | None = strawberry.field(description="The mission's batch (MISSION rows).")
    students: int = strawberry.field(description="Students counted in the group.")
    present: int | None = strawberry.field(description="Days present; null when withheld.")
    possible: int | None = strawberry.field(description="Days possible; null when withheld.")
    rate: float | None = strawberry.field(description="present ÷ possible (0 to 1).")
    previous_rate: float | None = strawberry.field(
        description="The same over the previous period of the same length."
    )
    change: float | None = strawberry.field(
        description="rate − previousRate (in rate units: 0.05 is five points)."
    )
    withheld: bool = strawberry.field(
        description="True when the group has fewer than five students and you may not see "
        "them one by one: its figures are not broken down (they are null)."
    )

    @classmethod
    def of(cls, r: attendance.AttendanceRow) -> AttendanceReportRow:
        return cls(
            key=r.key, label=r.label, node_id=node_id(r.key, r.object_id), email=r.email,
            batch=r.batch, students=r.students, present=r.present, possible=r.possible,
            rate=r.rate, previous_rate=r.previous_rate, change=r.change, withheld=r.withheld,
        )  # fmt: skip


@strawberry.type(description="A week well below its mission's norm: its rate is under the "
                 "median of the mission's weekly rates (this period and the previous one) by "
                 "more than two robust deviations and at least ten points.")  # fmt: skip
class AttendanceAnomaly:
    mission_id: strawberry.ID = strawberry.field(description="The mission's global id.")
    mission: str = strawberry.field(description="The mission's title.")
    week_start: date = strawberry.field(description="The week's Monday.")
    present: int = strawberry.field(description="Days present that week.")
    possible: int = strawberry.field(description="Days possible that week.")
    rate: float = strawberry.field(description="present ÷ possible.")
    norm: float = strawberry.field(description="The mission's median weekly rate.")
    threshold: float = strawberry.field(description="Below this, a week is anomalous.")


@strawberry.type(description="A whole mission's rate (every student counted), to compare a "
                 "mentor's mentees with.")  # fmt: skip
class ReportMissionAverage:
    mission_id: strawberry.ID = strawberry.field(description="The mission's global id.")
    mission: str = strawberry.field(description="The mission's title.")
    students: int = strawberry.field(description="Students counted in the whole mission.")
    rate: float | None = strawberry.field(description="The whole mission's rate; null if withheld.")
    previous_rate: float | None = strawberry.field(description="The same over the previous period.")
    withheld: bool = strawberry.field(
        description="True when the students besides yours are one to four (their figures "
        "would show through), or the mission is too small for you to see broken down."
    )


@strawberry.type(
    description="Attendance over a range of days against the previous period of the same "
    "length: days present over days possible (each counted student's mission days within "
    "the range, through yesterday in the mission's time zone), grouped as asked, with the "
    "weekly trend and the weeks well below a mission's norm. A mentor's figures are their mentees'."
)
class AttendanceReport:
    period: ReportPeriod = strawberry.field(description="The range asked for.")
    previous_period: ReportPeriod = strawberry.field(
        description="The period of the same length just before, compared with."
    )
    group_by: AttendanceReportGroup = strawberry.field(description="How `rows` are grouped.")
    students: int = strawberry.field(description="Students counted.")
    present: int = strawberry.field(description="Days present in the range.")
    possible: int = strawberry.field(description="Days possible in the range.")
    rate: float | None = strawberry.field(description="present ÷ possible (0 to 1).")
    previous_rate: float | None = strawberry.field(description="The rate over the previous period.")
    change: float | None = strawberry.field(description="rate − previousRate.")
    trend: float | None = strawberry.field(
        description="The least-squares slope of the weekly rate, per week (−0.02: two points "
        "lower each week); null under two weeks."
    )
    weeks: list[AttendanceReportWeek] = strawberry.field(
        description="Each week of the range, in order (at most 263)."
    )
    anomalies: list[AttendanceAnomaly] = strawberry.field(
        description=f"Weeks well below their mission's norm, by mission and week (at most "
        f"{ANOMALIES_MAX})."
    )
    mission_averages: list[ReportMissionAverage] = strawberry.field(
        description=f"Each mission's whole rate, for comparison (at most {MISSIONS_MAX}, by title)."
    )
    notes: list[str] = strawberry.field(
        description="Sentences a reader needs: the ranges, what was withheld and why."
    )
    total_rows: int = strawberry.field(description="How many rows there are in all.")
    _rows: strawberry.Private[list[attendance.AttendanceRow]]
    _mission_ids: strawberry.Private[list[int]]

    @strawberry.field(description=MISSIONS_HELP)
    async def missions(self, info: Info) -> list[Annotated[Mission, strawberry.lazy(COHORTS)]]:
        return await mission_nodes(info, self._mission_ids)

    @strawberry.field(description="The rows, grouped as `groupBy` says.")
    def rows(
        self,
        first: Annotated[
            int, strawberry.argument(description=f"How many (at most {MAX_PAGE}).")
        ] = ROWS_DEFAULT,
    ) -> list[AttendanceReportRow]:
        return [AttendanceReportRow.of(r) for r in self._rows[: rows_wanted(first)]]

    @classmethod
    def of(cls, r: attendance.AttendanceReport) -> AttendanceReport:
        return cls(
            period=period_of(r.since, r.until),
            previous_period=period_of(r.previous_since, r.previous_until),
            group_by=AttendanceReportGroup(r.group_by), students=r.students, present=r.present,
            possible=r.possible, rate=r.rate, previous_rate=r.previous_rate, change=r.change,
            trend=r.slope,
            weeks=[AttendanceReportWeek(week_start=w.week_start, days=w.days, present=w.present,
                                        possible=w.possible, rate=w.rate) for w in r.weeks],
            anomalies=[
                AttendanceAnomaly(
                    mission_id=strawberry.ID(global_id("Mission", a.mission_id)),
                    mission=a.mission, week_start=a.week_start, present=a.present,
                    possible=a.possible, rate=a.rate, norm=a.norm, threshold=a.threshold,
                )
                for a in r.anomalies[:ANOMALIES_MAX]
            ],
            mission_averages=[mission_average(m) for m in r.missions[:MISSIONS_MAX]],
            notes=r.notes, total_rows=len(r.rows), _rows=r.rows,
            _mission_ids=[m.mission_id for m in r.missions],
        )  # fmt: skip


async def mission_nodes(info: Info, ids: list[int]) -> list[Mission]:
    from alumnet.schema.cohorts.types import Mission

    found = await Mission.resolve_nodes(info=info, node_ids=[str(i) for i in ids[:MISSIONS_MAX]])
    return [m for m in found if m is not None]


def mission_average(m: Any) -> ReportMissionAverage:
    return ReportMissionAverage(
        mission_id=strawberry.ID(global_id("Mission", m.mission_id)), mission=m.mission,
        students=m.students, rate=m.rate, previous_rate=m.previous_rate, withheld=m.withheld,
    )  # fmt: skip


# -- submissions --------------------------------------------------------------------------------


@strawberry.enum(description="How a submissions report's rows are grouped.")
class SubmissionsReportGroup(Enum):
    ASSIGNMENT = ev("assignment", description="One row per assignment due in the range.")
    MISSION = ev("mission", description="One row per mission.")
    STUDENT = ev(
        "student",
        description="One row per student, most missing first. Only for those who may see "
        "the students.",
    )


@strawberry.type(
    description="Scores of graded work, as a percent of each assignment's maximum (0 to "
    "100): computed in SQL. Percentiles interpolate linearly between the two nearest "
    "scores; the standard deviation is the sample's (n − 1)."
)
class GradeDistribution:
    count: int = strawberry.field(description="Graded submissions.")
    mean: float | None = strawberry.field(description="The mean score.")
    standard_deviation: float | None = strawberry.field(
        description="The sample standard deviation; null under two scores."
    )
    median: float | None = strawberry.field(description="The 50th percentile.")
    p10: float | None = strawberry.field(description="The 10th percentile.")
    p25: float | None = strawberry.field(description="The 25th percentile.")
    p75: float | None = strawberry.field(description="The 75th percentile.")
    p90: float | None = strawberry.field(description="The 90th percentile.")
    withheld: bool = strawberry.field(
        description="True when one to four scores would be broken down for someone who may "
        "not see the students: only `count` is given."
    )

    @classmethod
    def of(cls, g: submissions.Grades) -> GradeDistribution:
        return cls(
            count=g.count, mean=g.mean, standard_deviation=g.standard_deviation,
            median=g.median, p10=g.p10, p25=g.p25, p75=g.p75, p90=g.p90, withheld=g.withheld,
        )  # fmt: skip


@strawberry.type(description="One row of a submissions report: an assignment, mission or "
                 "student.")  # fmt: skip
class SubmissionsReportRow:
    key: str = strawberry.field(description="`assignment:<n>`, `mission:<n>` or `student:<n>`.")
    label: str = strawberry.field(description="The assignment, mission or student's name.")
    node_id: strawberry.ID | None = strawberry.field(
        description="The global id of the assignment, mission or student (`User`)."
    )
    email: str | None = strawberry.field(description="The student's e-mail (STUDENT rows).")
    mission: str | None = strawberry.field(description="The mission (ASSIGNMENT rows).")
    due_at: datetime | None = strawberry.field(description="When it was due (ASSIGNMENT rows).")
    students: int = strawberry.field(description="Students counted.")
    expected: int | None = strawberry.field(
        description="Hand-ins owed: students × assignments due in the range."
    )
    on_time: int | None = strawberry.field(description="Handed in on time (work already due).")
    late: int | None = strawberry.field(description="Handed in late (work already due).")
    missing: int | None = strawberry.field(description="Due already and not handed in.")
    pending: int | None = strawberry.field(
        description="Owed, not yet due (handed in ahead or not: it counts once due)."
    )
    on_time_rate: float | None = strawberry.field(
        description="On time ÷ owed and due (0 to 1); null when nothing is due yet."
    )
    grades: GradeDistribution = strawberry.field(description="The scores' distribution.")
    withheld: bool = strawberry.field(
        description="True when the group is under five students you may not see one by one "
        "(its figures are null)."
    )

    @classmethod
    def of(cls, r: submissions.WorkRow) -> SubmissionsReportRow:
        return cls(
            key=r.key, label=r.label, node_id=node_id(r.key, r.object_id), email=r.email,
            mission=r.mission, due_at=r.due_at, students=r.students, expected=r.expected,
            on_time=r.on_time, late=r.late, missing=r.missing, pending=r.pending,
            on_time_rate=r.on_time_rate, grades=GradeDistribution.of(r.grades),
            withheld=r.withheld,
        )  # fmt: skip


@strawberry.type(description="A whole mission's work (every student counted), to compare a "
                 "mentor's mentees with.")  # fmt: skip
class ReportMissionWork:
    mission_id: strawberry.ID = strawberry.field(description="The mission's global id.")
    mission: str = strawberry.field(description="The mission's title.")
    students: int = strawberry.field(description="Students counted in the whole mission.")
    on_time_rate: float | None = strawberry.field(description="On time ÷ due; null if withheld.")
    submission_rate: float | None = strawberry.field(
        description="Handed in ÷ due; null if withheld."
    )
    mean_score: float | None = strawberry.field(description="The mean score; null if withheld.")
    withheld: bool = strawberry.field(
        description="True when the students besides yours are one to four, or the mission is "
        "too small for you to see broken down."
    )


@strawberry.type(
    description="The assignments due in a range: handed in on time, late or missing, and the "
    "grade distribution, against the previous period. A mentor's figures are their mentees'."
)
class SubmissionsReport:
    period: ReportPeriod = strawberry.field(description="The range asked for.")
    previous_period: ReportPeriod = strawberry.field(description="The period compared with.")
    group_by: SubmissionsReportGroup = strawberry.field(description="How `rows` are grouped.")
    assignments: int = strawberry.field(description="Assignments due in the range.")
    expected: int = strawberry.field(description="Hand-ins owed.")
    on_time: int = strawberry.field(description="Handed in on time (work already due).")
    late: int = strawberry.field(description="Handed in late (work already due).")
    missing: int = strawberry.field(description="Due and not handed in.")
    pending: int = strawberry.field(
        description="Owed, not yet due (handed in ahead or not: it counts once due)."
    )
    on_time_rate: float | None = strawberry.field(description="On time ÷ owed and due.")
    submission_rate: float | None = strawberry.field(description="Handed in ÷ owed and due.")
    previous_on_time_rate: float | None = strawberry.field(
        description="The on-time rate over the previous period."
    )
    previous_submission_rate: float | None = strawberry.field(
        description="The submission rate over the previous period."
    )
    change: float | None = strawberry.field(description="onTimeRate − previousOnTimeRate.")
    grades: GradeDistribution = strawberry.field(description="All the range's scores.")
    mission_averages: list[ReportMissionWork] = strawberry.field(
        description=f"Each mission's whole figures, for comparison (at most {MISSIONS_MAX})."
    )
    notes: list[str] = strawberry.field(description="What a reader needs to know.")
    total_rows: int = strawberry.field(description="How many rows there are in all.")
    _rows: strawberry.Private[list[submissions.WorkRow]]
    _mission_ids: strawberry.Private[list[int]]

    @strawberry.field(description=MISSIONS_HELP)
    async def missions(self, info: Info) -> list[Annotated[Mission, strawberry.lazy(COHORTS)]]:
        return await mission_nodes(info, self._mission_ids)

    @strawberry.field(description="The rows, grouped as `groupBy` says.")
    def rows(
        self,
        first: Annotated[
            int, strawberry.argument(description=f"How many (at most {MAX_PAGE}).")
        ] = ROWS_DEFAULT,
    ) -> list[SubmissionsReportRow]:
        return [SubmissionsReportRow.of(r) for r in self._rows[: rows_wanted(first)]]

    @classmethod
    def of(cls, r: submissions.SubmissionsReport) -> SubmissionsReport:
        return cls(
            period=period_of(r.since, r.until),
            previous_period=period_of(r.previous_since, r.previous_until),
            group_by=SubmissionsReportGroup(r.group_by), assignments=r.assignments,
            expected=r.expected, on_time=r.on_time, late=r.late, missing=r.missing,
            pending=r.pending, on_time_rate=r.on_time_rate, submission_rate=r.submission_rate,
            previous_on_time_rate=r.previous_on_time_rate,
            previous_submission_rate=r.previous_submission_rate, change=r.change,
            grades=GradeDistribution.of(r.grades), _mission_ids=[m.mission_id for m in r.missions],
            mission_averages=[
                ReportMissionWork(
                    mission_id=strawberry.ID(global_id("Mission", m.mission_id)),
                    mission=m.mission, students=m.students, on_time_rate=m.on_time_rate,
                    submission_rate=m.submission_rate, mean_score=m.mean_score,
                    withheld=m.withheld,
                )
                for m in r.missions[:MISSIONS_MAX]
            ],
            notes=r.notes, total_rows=len(r.rows), _rows=r.rows,
        )  # fmt: skip


# -- mentors ----------------------------------------------------------------------------------


@strawberry.type(description="A mentor in a mission: their mentees against the whole mission.")
class MentorsReportRow:
    mentor_id: strawberry.ID = strawberry.field(description="The mentor's global id (a `User`).")
    mentor: str = strawberry.field(description="The mentor's name.")
    mission_id: strawberry.ID = strawberry.field(description="The mission's global id.")
    mission: str = strawberry.field(description="The mission's title.")
    mentees: int = strawberry.field(description="Their mentees counted in the mission.")
    attendance: float | None = strawberry.field(
        description="Their mentees' attendance over the range (0 to 1)."
    )
    mission_attendance: float | None = strawberry.field(
        description="The whole mission's attendance."
    )
    attendance_difference: float | None = strawberry.field(
        description="attendance − missionAttendance."
    )
    points: float | None = strawberry.field(description="Their mentees' average points (totals).")
    mission_points: float | None = strawberry.field(
        description="The whole mission's average points."
    )
    points_difference: float | None = strawberry.field(description="points − missionPoints.")
    completion: float | None = strawberry.field(
        description="Their mentees' share of the range's assignments due so far handed in."
    )
    mission_completion: float | None = strawberry.field(
        description="The whole mission's completion."
    )
    completion_difference: float | None = strawberry.field(
        description="completion − missionCompletion."
    )
    withheld: bool = strawberry.field(
        description="True when the mentor has one to four mentees and you may not see them one "
        "by one: their mentees' figures are null."
    )


@strawberry.type(
    description="Mentor effectiveness over a range: per mentor and mission, their mentees' "
    "attendance, points and completion against the mission's average."
)
class MentorsReport:
    period: ReportPeriod = strawberry.field(description="The range asked for.")
    notes: list[str] = strawberry.field(description="What a reader needs to know.")
    total_rows: int = strawberry.field(description="How many rows there are in all.")
    _rows: strawberry.Private[list[mentors.MentorRow]]

    @strawberry.field(description="Mentors by mission, then name.")
    def rows(
        self,
        first: Annotated[
            int, strawberry.argument(description=f"How many (at most {MAX_PAGE}).")
        ] = ROWS_DEFAULT,
    ) -> list[MentorsReportRow]:
        return [
            MentorsReportRow(
                mentor_id=strawberry.ID(global_id("User", r.mentor_id)), mentor=r.mentor,
                mission_id=strawberry.ID(global_id("Mission", r.mission_id)),
                mission=r.mission, mentees=r.mentees, attendance=r.attendance,
                mission_attendance=r.mission_attendance,
                attendance_difference=r.attendance_difference, points=r.points,
                mission_points=r.mission_points, points_difference=r.points_difference,
                completion=r.completion, mission_completion=r.mission_completion,
                completion_difference=r.completion_difference, withheld=r.withheld,
            )
            for r in self._rows[: rows_wanted(first)]
        ]  # fmt: skip


# -- notices ----------------------------------------------------------------------------------


@strawberry.enum(description="How a notices report's rows are grouped.")
class NoticesReportGroup(Enum):
    NOTICE = ev("notice", description="One row per notice posted in the range.")
    MISSION = ev("mission", description="One row per mission (its share of every notice).")
    BATCH = ev("batch", description="One row per batch.")


@strawberry.type(description="One row of a notices report: a notice, mission or batch.")
class NoticesReportRow:
    key: str = strawberry.field(description="`notice:<n>`, `mission:<n>` or `batch:<n>`.")
    label: str = strawberry.field(description="The notice's title, or the mission or batch.")
    node_id: strawberry.ID | None = strawberry.field(
        description="The global id of the notice, mission or batch."
    )
    posted_at: datetime | None = strawberry.field(description="When (NOTICE rows; UTC).")
    posted_to: str | None = strawberry.field(
        description="The mission or batch it was posted to (NOTICE rows)."
    )
    notices: int = strawberry.field(description="Notices counted.")
    targeted: int | None = strawberry.field(
        description="Students it reached (its audience within the report's missions)."
    )
    acknowledged: int | None = strawberry.field(description="Of them, acknowledged.")
    rate: float | None = strawberry.field(description="acknowledged ÷ targeted (0 to 1).")
    median_hours: float | None = strawberry.field(
        description="Median hours from posting to acknowledgement."
    )
    withheld: bool = strawberry.field(
        description="True when under five students you may not see one by one: null figures."
    )


@strawberry.type(description="A whole mission's acknowledgement rate, to compare a mentor's "
                 "mentees with.")  # fmt: skip
class ReportMissionAcknowledgement:
    mission_id: strawberry.ID = strawberry.field(description="The mission's global id.")
    mission: str = strawberry.field(description="The mission's title.")
    targeted: int = strawberry.field(description="Students reached in the whole mission.")
    rate: float | None = strawberry.field(description="Acknowledged ÷ targeted; null if withheld.")
    withheld: bool = strawberry.field(
        description="True when the students besides yours are one to four."
    )


@strawberry.type(
    description="Notices posted in a range (withdrawn ones aside) and how they were "
    "acknowledged, against the previous period. A mentor's figures are their mentees'."
)
class NoticesReport:
    period: ReportPeriod = strawberry.field(description="The range asked for.")
    previous_period: ReportPeriod = strawberry.field(description="The period compared with.")
    group_by: NoticesReportGroup = strawberry.field(description="How `rows` are grouped.")
    notices: int = strawberry.field(description="Notices posted in the range.")
    targeted: int = strawberry.field(description="Students reached, summed over notices.")
    acknowledged: int = strawberry.field(description="Acknowledgements among them.")
    rate: float | None = strawberry.field(description="acknowledged ÷ targeted.")
    previous_rate: float | None = strawberry.field(description="The same, previous period.")
    change: float | None = strawberry.field(description="rate − previousRate.")
    median_hours: float | None = strawberry.field(
        description="Median hours from posting to acknowledgement."
    )
    mission_averages: list[ReportMissionAcknowledgement] = strawberry.field(
        description=f"Each mission's whole rate, for comparison (at most {MISSIONS_MAX})."
    )
    notes: list[str] = strawberry.field(description="What a reader needs to know.")
    total_rows: int = strawberry.field(description="How many rows there are in all.")
    _rows: strawberry.Private[list[notice_figures.NoticeRow]]
    _mission_ids: strawberry.Private[list[int]]

    @strawberry.field(description=MISSIONS_HELP)
    async def missions(self, info: Info) -> list[Annotated[Mission, strawberry.lazy(COHORTS)]]:
        return await mission_nodes(info, self._mission_ids)

    @strawberry.field(description="The rows, grouped as `groupBy` says.")
    def rows(
        self,
        first: Annotated[
            int, strawberry.argument(description=f"How many (at most {MAX_PAGE}).")
        ] = ROWS_DEFAULT,
    ) -> list[NoticesReportRow]:
        return [
            NoticesReportRow(
                key=r.key, label=r.label, node_id=node_id(r.key, r.object_id),
                posted_at=r.posted_at, posted_to=r.scope, notices=r.notices,
                targeted=r.targeted, acknowledged=r.acknowledged, rate=r.rate,
                median_hours=r.median_hours, withheld=r.withheld,
            )
            for r in self._rows[: rows_wanted(first)]
        ]  # fmt: skip

    @classmethod
    def of(cls, r: notice_figures.NoticesReport) -> NoticesReport:
        return cls(
            period=period_of(r.since, r.until),
            previous_period=period_of(r.previous_since, r.previous_until),
            group_by=NoticesReportGroup(r.group_by), notices=r.notices, targeted=r.targeted,
            acknowledged=r.acknowledged, rate=r.rate, previous_rate=r.previous_rate,
            change=r.change, median_hours=r.median_hours,
            _mission_ids=[m.mission_id for m in r.missions],
            mission_averages=[
                ReportMissionAcknowledgement(
                    mission_id=strawberry.ID(global_id("Mission", m.mission_id)),
                    mission=m.mission, targeted=m.targeted, rate=m.rate, withheld=m.withheld,
                )
                for m in r.missions[:MISSIONS_MAX]
            ],
            notes=r.notes, total_rows=len(r.rows), _rows=r.rows,
        )  # fmt: skip


# -- engagement -------------------------------------------------------------------------------


@strawberry.enum(description="The buckets of a platform engagement report (UTC).")
class EngagementReportInterval(Enum):
    WEEK = ev("week", description="Weeks, Monday to Sunday.")
    MONTH = ev("month", description="Calendar months.")


@strawberry.type(description="Platform engagement in one week or month.")
class EngagementReportPoint:
    start: date = strawberry.field(description="The week's Monday, or the month's first day.")
    registrations: int = strawberry.field(description="Accounts created.")
    active_users: int = strawberry.field(
        description="People active (see `EngagementReport`), each counted once."
    )
    messages: int = strawberry.field(description="Direct messages sent.")


@strawberry.type(description="The people who joined in one month, and how many came back.")
class RetentionCohort:
    month: date = strawberry.field(description="The month of joining (its first day).")
    joined: int = strawberry.field(description="Accounts created that month.")
    active: list[float | None] = strawberry.field(
        description="The share of them active in their month of joining (first) and each "
        "month after, up to 12 and the range's last month; null when withheld."
    )
    withheld: bool = strawberry.field(
        description="True when under five joined and you may not see users one by one."
    )


@strawberry.type(
    description="Registrations, active users and messages per week or month, against the "
    "previous period, and retention by month of joining. Active: signed in, kept a session "
    "going, sent a message, submitted attendance or work, or acknowledged a notice."
)
class EngagementReport:
    period: ReportPeriod = strawberry.field(description="The range asked for.")
    previous_period: ReportPeriod = strawberry.field(description="The period compared with.")
    interval: EngagementReportInterval = strawberry.field(description="The buckets.")
    registrations: int = strawberry.field(description="Accounts created in the range.")
    active_users: int = strawberry.field(description="People active in the range.")
    messages: int = strawberry.field(description="Messages sent in the range.")
    previous_registrations: int = strawberry.field(description="The same, previous period.")
    previous_active_users: int = strawberry.field(description="The same, previous period.")
    previous_messages: int = strawberry.field(description="The same, previous period.")
    series: list[EngagementReportPoint] = strawberry.field(
        description="Each week or month of the range, in order (at most 263 weeks)."
    )
    retention: list[RetentionCohort] = strawberry.field(
        description="One cohort per month of the range that someone joined in (at most 61)."
    )
    notes: list[str] = strawberry.field(description="What a reader needs to know.")

    @classmethod
    def of(cls, r: engagement.EngagementReport) -> EngagementReport:
        return cls(
            period=period_of(r.since, r.until),
            previous_period=period_of(r.previous_since, r.previous_until),
            interval=EngagementReportInterval(r.group_by), registrations=r.registrations,
            active_users=r.active_users, messages=r.messages,
            previous_registrations=r.previous_registrations,
            previous_active_users=r.previous_active_users,
            previous_messages=r.previous_messages,
            series=[EngagementReportPoint(start=p.start, registrations=p.registrations,
                                          active_users=p.active_users, messages=p.messages)
                    for p in r.series],
            retention=[RetentionCohort(month=c.month, joined=c.joined, active=c.active,
                                       withheld=c.withheld) for c in r.retention],
            notes=r.notes,
        )  # fmt: skip


# -- alumni -----------------------------------------------------------------------------------


@strawberry.type(description="One figure of another context, this period against the previous.")
class AlumniFigure:
    area: str = strawberry.field(description="`events`, `jobs` or `mentorship`.")
    name: str = strawberry.field(
        description="A stable key (`meetup.show_rate`, `applications`, `active` …)."
    )
    label: str = strawberry.field(description="What a person reads.")
    kind: str = strawberry.field(description="`integer`, `decimal` or `percent` (0 to 1).")
    value: float | None = strawberry.field(description="This period (or today).")
    previous_value: float | None = strawberry.field(
        description="The previous period; null for figures as they stand today."
    )
    change: float | None = strawberry.field(description="value − previousValue.")


@strawberry.type(description="The alumni figures of other contexts (events, jobs, mentorship; "
                 "giving once it exists) for a range, against the previous period.")  # fmt: skip
class AlumniReport:
    period: ReportPeriod = strawberry.field(description="The range asked for.")
    previous_period: ReportPeriod = strawberry.field(description="The period compared with.")
    figures: list[AlumniFigure] = strawberry.field(
        description="Events by kind, then jobs and mentorship (at most 100)."
    )
    notes: list[str] = strawberry.field(description="What a reader needs to know.")

    @classmethod
    def of(cls, r: alumni.AlumniReport) -> AlumniReport:
        return cls(
            period=period_of(r.since, r.until),
            previous_period=period_of(r.previous_since, r.previous_until),
            figures=[AlumniFigure(area=f.area, name=f.name, label=f.label, kind=f.kind,
                                  value=f.value, previous_value=f.previous_value,
                                  change=f.change) for f in r.figures[:100]],
            notes=r.notes,
        )  # fmt: skip


FilterArg = Annotated[
    ReportFilter | None,
    strawberry.argument(description="One mission or batch (default: all within your reach)."),
]

SIGNED_IN: list[FieldExtension] = [PermissionExtension(permissions=[IsAuthenticated()],
                                                        use_directives=False)]  # fmt: skip


@strawberry.type
class ReportsQuery:
    @strawberry.field(
        description="Attendance over a range (`analytics:read`, within your reach; a mentor: "
        "their mentees in the missions they mentor), against the previous period, with the "
        "weekly trend and anomalous weeks.",
        extensions=SIGNED_IN,
    )
    async def attendance_report(
        self,
        info: Info,
        since: FromArg = None,
        until: ToArg = None,
        filter: FilterArg = None,
        group_by: Annotated[
            AttendanceReportGroup, strawberry.argument(description="How rows are grouped.")
        ] = AttendanceReportGroup.MISSION,
    ) -> AttendanceReport:
        found = await read_report(info, "attendance", since, until,
                                  filters_of(filter, str(group_by.value)))  # fmt: skip
        return AttendanceReport.of(found)

    @strawberry.field(
        description="Work due in a range: on time, late and missing, and the grade "
        "distribution (`analytics:read`, within your reach; a mentor: their mentees), "
        "against the previous period.",
        extensions=SIGNED_IN,
    )
    async def submissions_report(
        self,
        info: Info,
        since: FromArg = None,
        until: ToArg = None,
        filter: FilterArg = None,
        group_by: Annotated[
            SubmissionsReportGroup, strawberry.argument(description="How rows are grouped.")
        ] = SubmissionsReportGroup.ASSIGNMENT,
    ) -> SubmissionsReport:
        found = await read_report(info, "submissions", since, until,
                                  filters_of(filter, str(group_by.value)))  # fmt: skip
        return SubmissionsReport.of(found)

    @strawberry.field(
        description="Mentor effectiveness over a range: each mentor's mentees' attendance, "
        "points and completion against their mission's average (`analytics:read`, within "
        "your reach).",
        extensions=requires(Permission.ANALYTICS_READ, scoped=True),
    )
    async def mentors_report(
        self, info: Info, since: FromArg = None, until: ToArg = None, filter: FilterArg = None
    ) -> MentorsReport:
        found = await read_report(info, "mentors", since, until, filters_of(filter, None))
        return MentorsReport(period=period_of(found.since, found.until), notes=found.notes,
                             total_rows=len(found.rows), _rows=found.rows)  # fmt: skip

    @strawberry.field(
        description="Notices posted in a range and their acknowledgement (`analytics:read`, "
        "within your reach; a mentor: their mentees), against the previous period.",
        extensions=SIGNED_IN,
    )
    async def notices_report(
        self,
        info: Info,
        since: FromArg = None,
        until: ToArg = None,
        filter: FilterArg = None,
        group_by: Annotated[
            NoticesReportGroup, strawberry.argument(description="How rows are grouped.")
        ] = NoticesReportGroup.NOTICE,
    ) -> NoticesReport:
        found = await read_report(info, "notices", since, until,
                                  filters_of(filter, str(group_by.value)))  # fmt: skip
        return NoticesReport.of(found)

    @strawberry.field(
        description="Platform engagement over a range: registrations, active users and "
        "messages per week or month, and retention by month of joining (`analytics:read` or "
        "`users:read`, everywhere).",
        extensions=requires_any(Permission.ANALYTICS_READ, Permission.USERS_READ),
    )
    async def engagement_report(
        self,
        info: Info,
        since: FromArg = None,
        until: ToArg = None,
        interval: Annotated[
            EngagementReportInterval, strawberry.argument(description="Weeks or months.")
        ] = EngagementReportInterval.WEEK,
    ) -> EngagementReport:
        found = await read_report(info, "engagement", since, until,
                                  {"group_by": str(interval.value)})  # fmt: skip
        return EngagementReport.of(found)

    @strawberry.field(
        description="The alumni figures of other contexts over a range (events by kind, jobs, "
        "mentorship), against the previous period (`analytics:read`, everywhere).",
        extensions=requires(Permission.ANALYTICS_READ),
    )
    async def alumni_report(
        self, info: Info, since: FromArg = None, until: ToArg = None
    ) -> AlumniReport:
        found = await read_report(info, "alumni", since, until, {})
        return AlumniReport.of(found)


__all__ = ["Filters", "ReportsQuery"]
