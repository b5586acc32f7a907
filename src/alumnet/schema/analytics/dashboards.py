"""Role dashboards: `dashboard`, one query for every role's home page. Each section is
null unless the viewer holds its role; the figures come from
``domain/analytics/dashboards.py`` (grouped SQL, the heavy sections through the analytics
cache) and follow the visibility of the lists they summarise."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay

from alumnet.domain.analytics import dashboards
from alumnet.domain.analytics.cache import cached
from alumnet.domain.analytics.common import DateRange
from alumnet.domain.errors import DomainError
from alumnet.domain.identity.permissions import Permission, Reach, Role
from alumnet.schema.cohorts.types import EnrollmentStatus, MissionStatus
from alumnet.schema.context import Info
from alumnet.schema.errors import bad_input
from alumnet.schema.integrity.types import CallOutcome
from alumnet.schema.nodes import enrollment_object, global_pk
from alumnet.schema.outreach.types import AtRiskStudent
from alumnet.schema.permissions import requires

if TYPE_CHECKING:
    from alumnet.schema.cohorts.types import Batch, Enrollment, Mission
    from alumnet.schema.communication.tickets import Ticket
    from alumnet.schema.data.types import Import
    from alumnet.schema.engagement.types import Assignment
    from alumnet.schema.events.types import Event
    from alumnet.schema.ops.types import Job
    from alumnet.schema.outreach.types import FollowUp

ev = strawberry.enum_value
COHORTS = "alumnet.schema.cohorts.types"
TICKETS = "alumnet.schema.communication.tickets"
DATA = "alumnet.schema.data.types"
ENGAGEMENT = "alumnet.schema.engagement.types"
EVENTS = "alumnet.schema.events.types"
OPS = "alumnet.schema.ops.types"
OUTREACH = "alumnet.schema.outreach.types"

RANGE_DESCRIPTION = (
    "Whole days (UTC), both ends included: `to` defaults to today, `from` to 27 days "
    "before `to`; upside down or over five years is refused."
)


async def _nodes(info: Info, cls: Any, ids: Iterable[int]) -> list[Any]:
    """The nodes behind these ids that the viewer may see (one batched lookup), in order."""
    wanted = [str(i) for i in ids]
    if not wanted:
        return []
    found = await cls.resolve_nodes(info=info, node_ids=wanted)
    return [n for n in found if n is not None]


async def _names(info: Info, ids: Iterable[int]) -> list[str]:
    """People's names, looked up after the cache (one batched lookup per request): cached
    figures keep ids only, so that a sign-in (which writes ``users``) leaves them be."""
    rows = await info.context.loaders.user_by_id.load_many(list(ids))
    return [row.name if row is not None else "" for row in rows]


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value is not None else None


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _period(since: date | None, until: date | None, today: date) -> DateRange:
    try:
        return DateRange.of(since, until, today=today)
    except DomainError as exc:
        raise bad_input(exc.problems[0].message) from None


async def _figures(compute: Callable[[], Awaitable[Any]]) -> Any:
    """A section's figures; a DomainError (a bad argument) is the caller's error."""
    try:
        return await compute()
    except DomainError as exc:
        raise bad_input(exc.problems[0].message) from None


# What the sections keyed by the minute are kept for, at most.
MINUTE = 60.0


def _minute(now: datetime) -> datetime:
    """Now, to the minute: what the manager, mentor and SRE sections are keyed by (work
    falls due and days end as time passes, which no table change says). Such an entry is
    not asked for after its minute: it lives no longer usefully, whatever the cache's
    time to live."""
    return now.replace(second=0, microsecond=0)


# --- shared shapes ------------------------------------------------------------------------


@strawberry.enum(description="How a trend is grouped.")
class DashboardInterval(Enum):
    DAY = ev("day", description="One point per day.")
    WEEK = ev("week", description="One point per week (Monday to Sunday, cut to the range).")


@strawberry.enum(description="A section of the dashboard, one per role.")
class DashboardSection(Enum):
    ADMIN = ev("admin", description="Users, activity, jobs, imports and storage (ADMIN).")
    MANAGER = ev(
        "manager",
        description="Batches and missions with their figures (MANAGER, or a custom role "
        "with `analytics:read`, within its reach).",
    )
    MENTOR = ev("mentor", description="Your mentees, their work and your tickets (MENTOR).")
    SRE = ev("sre", description="At-risk students, calls, follow-ups and ticket SLA (SRE).")
    STUDENT = ev("student", description="Your own attendance, points, rank and work (STUDENT).")
    ALUMNUS = ev("alumnus", description="Your events, jobs and mentorship (ALUMNUS).")


@strawberry.type(description="The days a section's figures cover (UTC, both ends included).")
class DashboardRange:
    since: date = strawberry.field(name="from", description="The first day.")
    until: date = strawberry.field(name="to", description="The last day.")
    days: int = strawberry.field(description="How many days.")

    @classmethod
    def of(cls, data: dict[str, Any]) -> DashboardRange:
        return cls(
            since=date.fromisoformat(data["since"]),
            until=date.fromisoformat(data["until"]),
            days=data["days"],
        )


@strawberry.type(description="How many of something there are with one label.")
class DashboardCount:
    label: str = strawberry.field(
        description="What is counted: a role, a status, a job's name, an outcome, an age."
    )
    count: int = strawberry.field(description="How many.")


def _counts(rows: list[dict[str, Any]]) -> list[DashboardCount]:
    return [DashboardCount(label=r["label"], count=r["count"]) for r in rows]


@strawberry.type(
    description="One point of a chart: its label (a day, a mission's code, a mentor's name), "
    "the day for time series, and its value."
)
class DashboardPoint:
    label: str = strawberry.field(description="What to write on the axis.")
    date: date | None = strawberry.field(
        description="For time series: the day, or the Monday of the week; null otherwise."
    )
    value: float | None = strawberry.field(
        description="The value (a count, or a rate from 0 to 1); null when there is nothing "
        "to measure or it is withheld."
    )


def _series(points: list[dict[str, Any]], key: str = "rate") -> list[DashboardPoint]:
    return [
        DashboardPoint(label=p["date"], date=date.fromisoformat(p["date"]), value=p[key])
        for p in points
    ]


@strawberry.type(
    description="A distribution of whole numbers (points): nearest-rank quartiles over a group."
)
class DashboardDistribution:
    count: int = strawberry.field(description="How many values (students).")
    mean: float = strawberry.field(description="Their mean.")
    lowest: int | None = strawberry.field(description="The lowest.")
    p25: int | None = strawberry.field(description="The 25th percentile (nearest rank).")
    median: int | None = strawberry.field(description="The 50th percentile (nearest rank).")
    p75: int | None = strawberry.field(description="The 75th percentile (nearest rank).")
    highest: int | None = strawberry.field(description="The highest.")


@strawberry.type(
    description="A student's current runs: days present in a row (up to today, or "
    "yesterday: today is not over) and whole days absent in a row since they were last "
    "present (or since they began)."
)
class DashboardStreak:
    present_days: int = strawberry.field(description="Days present in a row; 0 if none now.")
    absent_days: int = strawberry.field(description="Whole days absent in a row; 0 if none.")
    last_present_on: date | None = strawberry.field(
        description="The last day present (the mission's dates); null if never."
    )

    @classmethod
    def of(cls, data: dict[str, Any]) -> DashboardStreak:
        return cls(
            present_days=data["present_days"],
            absent_days=data["absent_days"],
            last_present_on=_date(data["last_present_on"]),
        )


# --- admin --------------------------------------------------------------------------------


@strawberry.type(
    description="People using alumnet on one day or week: those active (a sign-in, a token "
    "refreshed, a session or access token last used, or a change they made) and the "
    "sign-ins. alumnet keeps no log of every request, so a session used on many days "
    "counts on its sign-in, its refreshes and its last day only: active users are a floor."
)
class DashboardActivity:
    date: date = strawberry.field(description="The day, or the Monday of the week (UTC).")
    active_users: int = strawberry.field(description="Distinct people active.")
    sign_ins: int = strawberry.field(description="Sign-ins (sessions begun).")


@strawberry.type(description="Background jobs that failed every attempt.")
class DashboardFailedJobs:
    total: int = strawberry.field(description="Failed jobs that ended within the range.")
    by_name: list[DashboardCount] = strawberry.field(
        description="Those, by the job's name, most first."
    )
    _recent_ids: strawberry.Private[list[int]]

    @strawberry.field(description="The latest failed jobs (any day), newest first.")
    async def recent(self, info: Info) -> list[Annotated[Job, strawberry.lazy(OPS)]]:
        from alumnet.schema.ops.types import Job

        return await _nodes(info, Job, self._recent_ids)


@strawberry.type(description="Imports of spreadsheets.")
class DashboardImports:
    by_status: list[DashboardCount] = strawberry.field(
        description="Imports begun within the range, by status."
    )
    _recent_ids: strawberry.Private[list[int]]

    @strawberry.field(description="The latest imports (any day), newest first.")
    async def recent(self, info: Info) -> list[Annotated[Import, strawberry.lazy(DATA)]]:
        from alumnet.schema.data.types import Import

        return await _nodes(info, Import, self._recent_ids)


@strawberry.type(description="Stored files of one kind.")
class DashboardStorageKind:
    kind: str = strawberry.field(
        description="What the files are: `import` (uploaded spreadsheets), `submission` "
        "(students' work, every version), `resource` (missions' documents), `certificate`, "
        "`cv`, `personal_export`, `export` (exports and bulk results, until they expire) or "
        "`other`."
    )
    files: int = strawberry.field(description="How many files.")
    bytes: float = strawberry.field(description="Their size in bytes (a Float: it may pass 2³¹).")


@strawberry.type(description="The files alumnet keeps (uploads and exports, in the database).")
class DashboardStorage:
    files: int = strawberry.field(description="How many files.")
    bytes: float = strawberry.field(description="Their size in bytes (a Float: it may pass 2³¹).")
    by_kind: list[DashboardStorageKind] = strawberry.field(description="By kind, largest first.")


@strawberry.type(description="The admin's section: users, activity, jobs, imports and storage.")
class AdminDashboard:
    range: DashboardRange = strawberry.field(description="The days covered.")
    users_by_role: list[DashboardCount] = strawberry.field(
        description="Accounts (not deleted) holding each built-in role; a person with two "
        "roles counts in both."
    )
    users_by_status: list[DashboardCount] = strawberry.field(
        description="Accounts by status (active, suspended, deleted…)."
    )
    activity_by_day: list[DashboardActivity] = strawberry.field(
        description="Active people and sign-ins per day (the range's last 100 days at most)."
    )
    activity_by_week: list[DashboardActivity] = strawberry.field(
        description="Active people (each counted once a week) and sign-ins per week (the "
        "range's last 100 weeks at most)."
    )
    jobs_failed: DashboardFailedJobs = strawberry.field(description="Failed background jobs.")
    imports: DashboardImports = strawberry.field(description="Imports.")
    storage: DashboardStorage = strawberry.field(description="Stored files by kind.")

    @classmethod
    def of(cls, data: dict[str, Any]) -> AdminDashboard:
        def activity(rows: list[dict[str, Any]]) -> list[DashboardActivity]:
            return [
                DashboardActivity(
                    date=date.fromisoformat(r["date"]),
                    active_users=r["active"],
                    sign_ins=r["sign_ins"],
                )
                for r in rows
            ]

        jobs, imports, storage = data["jobs_failed"], data["imports"], data["storage"]
        return cls(
            range=DashboardRange.of(data["range"]),
            users_by_role=_counts(data["users"]["by_role"]),
            users_by_status=_counts(data["users"]["by_status"]),
            activity_by_day=activity(data["activity_by_day"]),
            activity_by_week=activity(data["activity_by_week"]),
            jobs_failed=DashboardFailedJobs(
                total=jobs["total"],
                by_name=_counts(jobs["by_name"]),
                _recent_ids=jobs["recent_ids"],
            ),
            imports=DashboardImports(
                by_status=_counts(imports["by_status"]), _recent_ids=imports["recent_ids"]
            ),
            storage=DashboardStorage(
                files=storage["files"],
                bytes=float(storage["bytes"]),
                by_kind=[
                    DashboardStorageKind(kind=k["kind"], files=k["files"], bytes=float(k["bytes"]))
                    for k in storage["by_kind"]
                ],
            ),
        )


# --- manager ----------------------------------------------------------------------------


@strawberry.type(
    description="A mission's figures over the range. Rates are 0 to 1, null when there is "
    "nothing to measure (or withheld: see `withheld`)."
)
class DashboardMission:
    code: str = strawberry.field(description="The mission's code.")
    title: str = strawberry.field(description="The mission's title.")
    status: MissionStatus = strawberry.field(description="Active or completed.")
    starts_on: date = strawberry.field(description="Its first day.")
    ends_on: date = strawberry.field(description="Its last day.")
    students: int = strawberry.field(
        description="Students counted: active or completed enrolments, as the reports count "
        "them (every figure below is over them)."
    )
    banned: int = strawberry.field(description="Students banned now (for a time or for good).")
    delisted: int = strawberry.field(description="Students delisted.")
    unmentored: int = strawberry.field(
        description="Active students without a mentor (neither one by one nor the whole mission)."
    )
    attendance_rate: float | None = strawberry.field(
        description="Days present of the students counted ÷ (students × the mission's days "
        "within the range, through yesterday in the mission's time zone: today is not over)."
    )
    attendance_trend: list[DashboardPoint] = strawberry.field(
        description="The same per day or week (`interval`), dated by the day or Monday (the "
        "range's last 100 days or weeks at most)."
    )
    assignments_due: int = strawberry.field(
        description="Assignments due within the range (and already due)."
    )
    submissions_handed_in: int | None = strawberry.field(
        description="Work handed in for them by the students counted; null when withheld."
    )
    submissions_late: int | None = strawberry.field(
        description="Of which late; null when withheld."
    )
    submission_rate: float | None = strawberry.field(
        description="Work handed in ÷ (assignments due × students)."
    )
    points: DashboardDistribution | None = strawberry.field(
        description="Points of the students counted; null if none (or withheld). If you may "
        "not see the mission's students: no lowest or highest, and quartiles over ten "
        "students or more only."
    )
    at_risk: int | None = strawberry.field(
        description="Students on the at-risk list (last refresh); null when withheld."
    )
    open_appeals: int = strawberry.field(description="Appeals waiting for a decision.")
    notices: int = strawberry.field(
        description="Notices posted to the mission or its batch within the range (not withdrawn)."
    )
    acknowledgement_rate: float | None = strawberry.field(
        description="Acknowledgements of those notices by the students counted ÷ (notices "
        "× students)."
    )
    mentors: int = strawberry.field(description="Its mentors (one by one or whole-mission).")
    students_per_mentor: float | None = strawberry.field(
        description="Students ÷ mentors; null without mentors."
    )
    withheld: bool = strawberry.field(
        description="True when the mission's rates, points, work handed in and students at "
        "risk are withheld (and left out of its batch's line and the trend of all "
        "missions): fewer than five students, and you may not see them one by one."
    )
    _id: strawberry.Private[int]

    @strawberry.field(description="The mission (null if you may not see it as a node).")
    async def mission(self, info: Info) -> Annotated[Mission, strawberry.lazy(COHORTS)] | None:
        from alumnet.schema.cohorts.types import Mission

        found = await Mission.resolve_nodes(info=info, node_ids=[str(self._id)])
        return found[0]

    @classmethod
    def of(cls, m: dict[str, Any]) -> DashboardMission:
        p = m["points"]
        return cls(
            code=m["code"],
            title=m["title"],
            status=MissionStatus(m["status"]),
            starts_on=date.fromisoformat(m["starts_on"]),
            ends_on=date.fromisoformat(m["ends_on"]),
            students=m["students"],
            banned=m["banned"],
            delisted=m["delisted"],
            unmentored=m["unmentored"],
            attendance_rate=m["attendance_rate"],
            attendance_trend=_series(m["trend"]),
            assignments_due=m["due"],
            submissions_handed_in=m["handed_in"],
            submissions_late=m["late"],
            submission_rate=m["submission_rate"],
            points=DashboardDistribution(**p) if p is not None else None,
            at_risk=m["at_risk"],
            open_appeals=m["open_appeals"],
            notices=m["notices"],
            acknowledgement_rate=m["acknowledgement_rate"],
            mentors=m["mentors"],
            students_per_mentor=m["students_per_mentor"],
            withheld=bool(m.get("withheld")),
            _id=m["id"],
        )


@strawberry.type(
    description="A batch's figures, summed over its missions listed in the section (but "
    "those withheld)."
)
class DashboardBatch:
    code: str = strawberry.field(description="The batch's code.")
    name: str = strawberry.field(description="The batch's name.")
    missions: int = strawberry.field(description="Its missions summed (not withheld).")
    students: int = strawberry.field(
        description="Students counted in those missions (a student in two counts twice)."
    )
    attendance_rate: float | None = strawberry.field(
        description="As a mission's, over those missions together."
    )
    submission_rate: float | None = strawberry.field(
        description="As a mission's, over those missions together."
    )
    acknowledgement_rate: float | None = strawberry.field(
        description="As a mission's, over those missions together."
    )
    at_risk: int = strawberry.field(description="Students at risk.")
    banned: int = strawberry.field(description="Students banned now.")
    open_appeals: int = strawberry.field(description="Appeals waiting for a decision.")
    _id: strawberry.Private[int]

    @strawberry.field(description="The batch (null if you may not see it as a node).")
    async def batch(self, info: Info) -> Annotated[Batch, strawberry.lazy(COHORTS)] | None:
        from alumnet.schema.cohorts.types import Batch

        found = await Batch.resolve_nodes(info=info, node_ids=[str(self._id)])
        return found[0]


@strawberry.type(
    description="The manager's section: the batches and missions within reach with their "
    "figures over the range, and lists ready to chart."
)
class ManagerDashboard:
    range: DashboardRange = strawberry.field(description="The days covered.")
    interval: DashboardInterval = strawberry.field(description="How trends are grouped.")
    mission_count: int = strawberry.field(
        description="Missions that matched, before `first` cut the list."
    )
    missions: list[DashboardMission] = strawberry.field(
        description="The missions (at most `first`), by batch and code."
    )
    batches: list[DashboardBatch] = strawberry.field(
        description="Their batches, with the listed missions' figures summed."
    )
    attendance_trend: list[DashboardPoint] = strawberry.field(
        description="Attendance of all the listed missions together (but those withheld), "
        "per day or week (a rate, 0 to 1), through yesterday; it holds the range's last 100 "
        "days or weeks at most."
    )
    at_risk_by_mission: list[DashboardPoint] = strawberry.field(
        description="Students at risk per mission (label: its code), most first (withheld "
        "ones last, null)."
    )
    acknowledgement_by_mission: list[DashboardPoint] = strawberry.field(
        description="Notice acknowledgement rate per mission (label: its code)."
    )
    load_over: int = strawberry.field(description="The load `mentorsOverLoad` counts above.")
    mentors_over_load: int = strawberry.field(
        description="Mentors with more than `loadOver` students in the listed missions."
    )
    _mentor_load: strawberry.Private[list[dict[str, Any]]]

    @strawberry.field(
        description="Students counted (enrolments) per mentor over the listed missions "
        "(label: the mentor's name), most first (ties: the mentor who joined first); the "
        "first 100."
    )
    async def mentor_load(self, info: Info) -> list[DashboardPoint]:
        listed = self._mentor_load[:MENTOR_LOAD_MAX]
        names = await _names(info, (x["id"] for x in listed))
        return [
            DashboardPoint(label=name, date=None, value=x["students"])
            for name, x in zip(names, listed, strict=True)
        ]

    @classmethod
    def of(cls, data: dict[str, Any]) -> ManagerDashboard:
        missions = data["missions"]
        return cls(
            range=DashboardRange.of(data["range"]),
            interval=DashboardInterval(data["interval"]),
            mission_count=data["mission_count"],
            missions=[DashboardMission.of(m) for m in missions],
            batches=[
                DashboardBatch(
                    code=b["code"],
                    name=b["name"],
                    missions=b["missions"],
                    students=b["students"],
                    attendance_rate=b["attendance_rate"],
                    submission_rate=b["submission_rate"],
                    acknowledgement_rate=b["acknowledgement_rate"],
                    at_risk=b["at_risk"],
                    banned=b["banned"],
                    open_appeals=b["open_appeals"],
                    _id=b["id"],
                )
                for b in data["batches"]
            ],
            attendance_trend=_series(data["attendance_trend"]),
            at_risk_by_mission=[
                DashboardPoint(label=m["code"], date=None, value=m["at_risk"])
                for m in sorted(
                    missions, key=lambda m: (m["at_risk"] is None, -(m["at_risk"] or 0), m["code"])
                )
            ],
            acknowledgement_by_mission=[
                DashboardPoint(label=m["code"], date=None, value=m["acknowledgement_rate"])
                for m in missions
            ],
            load_over=data["load_over"],
            mentors_over_load=data["mentors_over"],
            _mentor_load=data["mentor_load"],
        )


MENTOR_LOAD_MAX = 100


# --- mentor ---------------------------------------------------------------------------------


@strawberry.type(
    description="A student's standing in a mission so far, as `Enrollment.progress` computes it."
)
class DashboardStanding:
    points: int = strawberry.field(description="Total points.")
    rank: int | None = strawberry.field(
        description="Rank by points among the mission's active students (ties share a "
        "rank); null when the enrolment is not active."
    )
    attendance_rate: float | None = strawberry.field(
        description="Days present ÷ the mission's days so far (0 to 1)."
    )
    days_present: int = strawberry.field(description="Days present.")
    days_elapsed: int = strawberry.field(description="The mission's days so far.")
    missing_work: int = strawberry.field(description="Assignments due and not handed in.")

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> DashboardStanding | None:
        if data is None:
            return None
        return cls(
            points=data["points"],
            rank=data["rank"],
            attendance_rate=data["attendance_rate"],
            days_present=data["days_present"],
            days_elapsed=data["days_elapsed"],
            missing_work=data["missing"],
        )


@strawberry.type(description="One of your mentees in an active mission.")
class DashboardMentee:
    mission_code: str = strawberry.field(description="The mission's code.")
    status: EnrollmentStatus = strawberry.field(description="Active, completed, or banned.")
    standing: DashboardStanding | None = strawberry.field(description="Points, rank, attendance.")
    streak: DashboardStreak = strawberry.field(description="Their current runs.")
    _enrollment_id: strawberry.Private[int]
    _student_id: strawberry.Private[int]

    @strawberry.field(description="The student's name.")
    async def student_name(self, info: Info) -> str:
        return (await _names(info, [self._student_id]))[0]

    @strawberry.field(description="The enrolment (student in mission).")
    async def enrollment(self, info: Info) -> Annotated[Enrollment, strawberry.lazy(COHORTS)]:
        return await enrollment_object(info, self._enrollment_id)  # type: ignore[no-any-return]


@strawberry.type(
    description="Averages over a group of a mission's students counted (active or completed "
    "enrolments, as the reports count them)."
)
class DashboardAverage:
    students: int = strawberry.field(description="Students in the group.")
    points: float | None = strawberry.field(description="Mean points.")
    attendance_rate: float | None = strawberry.field(
        description="Days present ÷ (students × the mission's days so far, through "
        "yesterday in the mission's time zone)."
    )

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> DashboardAverage | None:
        if data is None:
            return None
        return cls(
            students=data["students"],
            points=data["points"],
            attendance_rate=data["attendance_rate"],
        )


@strawberry.type(description="A mission you mentor in: your mentees beside the whole mission.")
class DashboardMentorMission:
    code: str = strawberry.field(description="The mission's code.")
    mentees: int = strawberry.field(description="Your mentees there (students counted).")
    students: int = strawberry.field(description="Its students counted.")
    mentees_average: DashboardAverage = strawberry.field(description="Your mentees' averages.")
    mission_average: DashboardAverage | None = strawberry.field(
        description="The whole mission's averages; null when they would include fewer than "
        "five students who are not your mentees (they would nearly be those students' own "
        "figures)."
    )
    _id: strawberry.Private[int]

    @strawberry.field(description="The mission.")
    async def mission(self, info: Info) -> Annotated[Mission, strawberry.lazy(COHORTS)] | None:
        from alumnet.schema.cohorts.types import Mission

        return (await Mission.resolve_nodes(info=info, node_ids=[str(self._id)]))[0]


@strawberry.type(description="An assignment due that a mentee has not handed in.")
class DashboardMissingWork:
    title: str = strawberry.field(description="The assignment's title.")
    due_at: datetime = strawberry.field(description="When it was due (UTC).")
    mission_code: str = strawberry.field(description="The mission's code.")
    _assignment_id: strawberry.Private[int]
    _enrollment_id: strawberry.Private[int]
    _student_id: strawberry.Private[int]

    @strawberry.field(description="The mentee's name.")
    async def student_name(self, info: Info) -> str:
        return (await _names(info, [self._student_id]))[0]

    @strawberry.field(description="The assignment.")
    async def assignment(
        self, info: Info
    ) -> Annotated[Assignment, strawberry.lazy(ENGAGEMENT)] | None:
        from alumnet.schema.engagement.types import Assignment

        return (await Assignment.resolve_nodes(info=info, node_ids=[str(self._assignment_id)]))[0]

    @strawberry.field(description="The mentee's enrolment.")
    async def enrollment(self, info: Info) -> Annotated[Enrollment, strawberry.lazy(COHORTS)]:
        return await enrollment_object(info, self._enrollment_id)  # type: ignore[no-any-return]


@strawberry.type(
    description="The mentor's section: mentees in active missions, their missing work, and "
    "the tickets waiting for you."
)
class MentorDashboard:
    mentee_count: int = strawberry.field(
        description="Your mentees (enrolments) in active missions: active, completed or "
        "banned (whatever `first`)."
    )
    mentees: list[DashboardMentee] = strawberry.field(
        description="The first `first` of them, by mission, then in the order they enrolled."
    )
    missions: list[DashboardMentorMission] = strawberry.field(
        description="The active missions you mentor in."
    )
    missing_work_count: int = strawberry.field(
        description="Assignments due and not handed in by your mentees (students counted; "
        "whatever `first`)."
    )
    missing_work: list[DashboardMissingWork] = strawberry.field(
        description="The first `first` of them, longest overdue first."
    )
    unanswered_ticket_count: int = strawberry.field(
        description="Your mentees' tickets to you waiting for your reply (whatever `first`)."
    )
    oldest_unanswered_at: datetime | None = strawberry.field(
        description="When the oldest of them was opened (UTC)."
    )
    _ticket_ids: strawberry.Private[list[int]]

    @strawberry.field(description="The first `first` of them, oldest first.")
    async def unanswered_tickets(
        self, info: Info
    ) -> list[Annotated[Ticket, strawberry.lazy(TICKETS)]]:
        from alumnet.schema.communication.tickets import Ticket

        return await _nodes(info, Ticket, self._ticket_ids)

    @classmethod
    def of(cls, data: dict[str, Any]) -> MentorDashboard:
        return cls(
            mentee_count=data["mentee_count"],
            mentees=[
                DashboardMentee(
                    mission_code=m["mission"],
                    status=EnrollmentStatus(m["status"]),
                    standing=DashboardStanding.of(m["progress"]),
                    streak=DashboardStreak.of(m["streak"]),
                    _enrollment_id=m["enrollment_id"],
                    _student_id=m["student_id"],
                )
                for m in data["mentees"]
            ],
            missions=[
                DashboardMentorMission(
                    code=m["code"],
                    mentees=m["mentees"],
                    students=m["students"],
                    mentees_average=DashboardAverage.of(m["mentees_average"]),  # type: ignore[arg-type]
                    mission_average=DashboardAverage.of(m["mission_average"]),
                    _id=m["id"],
                )
                for m in data["missions"]
            ],
            missing_work_count=data["missing_work_count"],
            missing_work=[
                DashboardMissingWork(
                    title=w["title"],
                    due_at=_moment(w["due_at"]),  # type: ignore[arg-type]
                    mission_code=w["mission"],
                    _assignment_id=w["assignment_id"],
                    _enrollment_id=w["enrollment_id"],
                    _student_id=w["student_id"],
                )
                for w in data["missing_work"]
            ],
            unanswered_ticket_count=data["unanswered_tickets"],
            oldest_unanswered_at=_moment(data["oldest_unanswered_at"]),
            _ticket_ids=data["unanswered_ticket_ids"],
        )


# --- SRE ---------------------------------------------------------------------------------


@strawberry.type(description="Calls with one outcome.")
class DashboardCallOutcome:
    outcome: CallOutcome = strawberry.field(description="How the calls went.")
    count: int = strawberry.field(description="Calls, by anyone, within your reach.")
    yours: int = strawberry.field(description="Of which yours.")


@strawberry.type(description="Calls to students over the range, within your outreach.")
class DashboardCalls:
    total: int = strawberry.field(description="Calls logged.")
    yours: int = strawberry.field(description="Of which yours.")
    by_outcome: list[DashboardCallOutcome] = strawberry.field(description="By outcome, most first.")
    by_day: list[DashboardPoint] = strawberry.field(
        description="Calls per day (the range's last 100 days at most, up to today)."
    )


@strawberry.type(description="Open follow-ups due, within your outreach.")
class DashboardFollowUps:
    overdue: int = strawberry.field(description="Past their day, anyone's.")
    due_today: int = strawberry.field(description="Due today (UTC), anyone's.")
    yours_overdue: int = strawberry.field(description="Past their day, assigned to you.")
    yours_due_today: int = strawberry.field(description="Due today, assigned to you.")
    _ids: strawberry.Private[list[int]]

    @strawberry.field(description="Yours, overdue or due today, soonest first (`first` at most).")
    async def yours(self, info: Info) -> list[Annotated[FollowUp, strawberry.lazy(OUTREACH)]]:
        from alumnet.schema.outreach.types import FollowUp

        return await _nodes(info, FollowUp, self._ids)


@strawberry.type(
    description="The SRE team's tickets: time to first reply over tickets opened within the "
    "range, against an SLA of `slaHours` (24 hours unless asked), and the open ones' ages."
)
class DashboardTicketSla:
    sla_hours: int = strawberry.field(description="The SLA: a first reply within these hours.")
    opened: int = strawberry.field(description="Tickets opened within the range.")
    replied: int = strawberry.field(description="Of them, replied to.")
    awaiting_first_reply: int = strawberry.field(description="Of them, open without a reply.")
    open_now: int = strawberry.field(description="Of them, not closed.")
    median_first_reply_seconds: int | None = strawberry.field(
        description="The median time to first reply."
    )
    p90_first_reply_seconds: int | None = strawberry.field(
        description="The 90th percentile time to first reply."
    )
    within_sla: int = strawberry.field(description="Replied to within the SLA.")
    outside_sla: int = strawberry.field(
        description="Replied to late, or still waiting past the SLA."
    )
    within_sla_rate: float | None = strawberry.field(
        description="withinSla ÷ (withinSla + outsideSla); tickets still inside their SLA "
        "without a reply are not counted yet."
    )
    oldest_awaiting_since: datetime | None = strawberry.field(
        description="When the longest-waiting unanswered one was opened (UTC)."
    )
    open_by_age: list[DashboardCount] = strawberry.field(
        description="Tickets waiting for the team now (any day), by age: under 1 day, 1-3 "
        "days, 3-7 days, over 7 days."
    )


@strawberry.type(
    description="The SRE's section: at-risk students, calls, follow-ups and the ticket SLA, "
    "within your outreach."
)
class SreDashboard:
    range: DashboardRange = strawberry.field(description="The days covered.")
    at_risk_count: int = strawberry.field(description="Students at risk (last refresh).")
    at_risk: list[AtRiskStudent] = strawberry.field(
        description="The first `first` of them, most urgent first."
    )
    at_risk_by_mission: list[DashboardPoint] = strawberry.field(
        description="Students at risk per mission (label: its code), most first."
    )
    calls: DashboardCalls = strawberry.field(description="Calls over the range.")
    follow_ups: DashboardFollowUps = strawberry.field(description="Follow-ups due.")
    tickets: DashboardTicketSla = strawberry.field(description="The ticket SLA.")

    @classmethod
    def of(cls, data: dict[str, Any]) -> SreDashboard:
        calls, follow, t = data["calls"], data["follow_ups"], data["tickets"]
        return cls(
            range=DashboardRange.of(data["range"]),
            at_risk_count=data["at_risk_count"],
            at_risk=[
                AtRiskStudent(
                    attendance_percent=r["attendance_percent"],
                    missed_submissions=r["missed_submissions"],
                    reasons=r["reasons"],
                    score=r["score"],
                    computed_at=_moment(r["computed_at"]),  # type: ignore[arg-type]
                    _enrollment_id=r["enrollment_id"],
                )
                for r in data["at_risk"]
            ],
            at_risk_by_mission=[
                DashboardPoint(label=p["label"], date=None, value=p["value"])
                for p in data["at_risk_by_mission"]
            ],
            calls=DashboardCalls(
                total=calls["total"],
                yours=calls["yours"],
                by_outcome=[
                    DashboardCallOutcome(
                        outcome=CallOutcome(o["label"]), count=o["count"], yours=o["yours"]
                    )
                    for o in calls["by_outcome"]
                ],
                by_day=_series(calls["by_day"], "value"),
            ),
            follow_ups=DashboardFollowUps(
                overdue=follow["overdue"],
                due_today=follow["due_today"],
                yours_overdue=follow["yours_overdue"],
                yours_due_today=follow["yours_due_today"],
                _ids=follow["yours_ids"],
            ),
            tickets=DashboardTicketSla(
                sla_hours=t["sla_hours"],
                opened=t["opened"],
                replied=t["replied"],
                awaiting_first_reply=t["awaiting_first_reply"],
                open_now=t["open_now"],
                median_first_reply_seconds=t["median_first_reply_seconds"],
                p90_first_reply_seconds=t["p90_first_reply_seconds"],
                within_sla=t["within_sla"],
                outside_sla=t["outside_sla"],
                within_sla_rate=t["within_sla_rate"],
                oldest_awaiting_since=_moment(t["oldest_awaiting_since"]),
                open_by_age=_counts(t["open_by_age"]),
            ),
        )


# --- student ----------------------------------------------------------------------------


@strawberry.type(description="One of your active missions.")
class DashboardStudentMission:
    code: str = strawberry.field(description="The mission's code.")
    title: str = strawberry.field(description="The mission's title.")
    status: EnrollmentStatus = strawberry.field(description="Your standing: active, or banned.")
    students: int = strawberry.field(description="Its active students (what your rank is among).")
    standing: DashboardStanding | None = strawberry.field(description="Points, rank, attendance.")
    streak: DashboardStreak = strawberry.field(description="Your current runs.")
    _enrollment_id: strawberry.Private[int]

    @strawberry.field(description="Your enrolment.")
    async def enrollment(self, info: Info) -> Annotated[Enrollment, strawberry.lazy(COHORTS)]:
        return await enrollment_object(info, self._enrollment_id)  # type: ignore[no-any-return]


@strawberry.type(description="Work you can still hand in.")
class DashboardDueWork:
    title: str = strawberry.field(description="The assignment's title.")
    due_at: datetime = strawberry.field(
        description="When it is (or was) due (UTC); a revision's own deadline for a revision."
    )
    revision: bool = strawberry.field(description="Returned to you for revision.")
    overdue: bool = strawberry.field(description="Past its deadline (late work still accepted).")
    _assignment_id: strawberry.Private[int]

    @strawberry.field(description="The assignment.")
    async def assignment(
        self, info: Info
    ) -> Annotated[Assignment, strawberry.lazy(ENGAGEMENT)] | None:
        from alumnet.schema.engagement.types import Assignment

        return (await Assignment.resolve_nodes(info=info, node_ids=[str(self._assignment_id)]))[0]


@strawberry.type(description="The student's section: your own standing and due work.")
class StudentDashboard:
    missions: list[DashboardStudentMission] = strawberry.field(
        description="Your active missions (active or banned in them), by start."
    )
    due_work: list[DashboardDueWork] = strawberry.field(
        description="Work not handed in that is still accepted, and work returned for "
        "revision, soonest deadline first (`first` at most)."
    )

    @classmethod
    def of(cls, data: dict[str, Any]) -> StudentDashboard:
        return cls(
            missions=[
                DashboardStudentMission(
                    code=m["code"],
                    title=m["title"],
                    status=EnrollmentStatus(m["status"]),
                    students=m["students"],
                    standing=DashboardStanding.of(m["progress"]),
                    streak=DashboardStreak.of(m["streak"]),
                    _enrollment_id=m["enrollment_id"],
                )
                for m in data["missions"]
            ],
            due_work=[
                DashboardDueWork(
                    title=w["title"],
                    due_at=_moment(w["due_at"]),  # type: ignore[arg-type]
                    revision=w["revision"],
                    overdue=w["overdue"],
                    _assignment_id=w["assignment_id"],
                )
                for w in data["due_work"]
            ],
        )


# --- alumnus ------------------------------------------------------------------------------


@strawberry.type(description="Your events.")
class DashboardEvents:
    upcoming_confirmed: int = strawberry.field(description="Events to come with a place.")
    upcoming_waitlisted: int = strawberry.field(description="Events to come, on the waitlist.")
    attended: int = strawberry.field(description="Events you were checked in at.")
    missed: int = strawberry.field(
        description="Events that began with a confirmed place and no check-in."
    )
    _ids: strawberry.Private[list[int]]

    @strawberry.field(description="Events to come (confirmed or waitlisted), soonest first.")
    async def upcoming(self, info: Info) -> list[Annotated[Event, strawberry.lazy(EVENTS)]]:
        from alumnet.schema.events.types import Event

        return await _nodes(info, Event, self._ids)


@strawberry.type(description="Your part in the careers board.")
class DashboardJobs:
    postings: list[DashboardCount] = strawberry.field(description="Your postings by status.")
    applications_received: list[DashboardCount] = strawberry.field(
        description="Applications to your postings by status."
    )
    applications: list[DashboardCount] = strawberry.field(
        description="Your own applications by status."
    )


@strawberry.type(description="Mentorship as a mentor (the mentorship figures for you).")
class DashboardAsMentor:
    requests: int = strawberry.field(description="Requests you received.")
    pending: int = strawberry.field(description="Of them, waiting for your answer.")
    accepted: int = strawberry.field(description="Of them, accepted.")
    active: int = strawberry.field(description="Mentorships going on.")
    completed: int = strawberry.field(description="Mentorships completed.")
    sessions: int = strawberry.field(description="Sessions held.")
    rating: float | None = strawberry.field(description="Your mentees' average rating of you.")


@strawberry.type(description="Mentorship as a mentee.")
class DashboardAsMentee:
    active: int = strawberry.field(description="Mentorships going on.")
    completed: int = strawberry.field(description="Mentorships completed.")
    pending: int = strawberry.field(description="Requests waiting for a mentor's answer.")
    sessions: int = strawberry.field(description="Sessions held.")


@strawberry.type(description="Your mentorship, both ways.")
class DashboardMentorship:
    as_mentor: DashboardAsMentor = strawberry.field(description="As a mentor.")
    as_mentee: DashboardAsMentee = strawberry.field(description="As a mentee.")
    upcoming_sessions: int = strawberry.field(description="Sessions to come, either side.")


@strawberry.type(
    description="The alumnus's section: events, jobs and mentorship. (Giving joins here "
    "once it exists.)"
)
class AlumnusDashboard:
    events: DashboardEvents = strawberry.field(description="Your events.")
    jobs: DashboardJobs = strawberry.field(description="Your postings and applications.")
    mentorship: DashboardMentorship = strawberry.field(description="Your mentorship.")

    @classmethod
    def of(cls, data: dict[str, Any]) -> AlumnusDashboard:
        e, j, m = data["events"], data["jobs"], data["mentorship"]
        return cls(
            events=DashboardEvents(
                upcoming_confirmed=e["upcoming_confirmed"],
                upcoming_waitlisted=e["upcoming_waitlisted"],
                attended=e["attended"],
                missed=e["missed"],
                _ids=e["upcoming_ids"],
            ),
            jobs=DashboardJobs(
                postings=_counts(j["postings"]),
                applications_received=_counts(j["applications_received"]),
                applications=_counts(j["applications"]),
            ),
            mentorship=DashboardMentorship(
                as_mentor=DashboardAsMentor(**m["as_mentor"]),
                as_mentee=DashboardAsMentee(**m["as_mentee"]),
                upcoming_sessions=m["upcoming_sessions"],
            ),
        )


# --- the dashboard ------------------------------------------------------------------------


def _first(name: str, default: int, maximum: int = dashboards.LIST_MAX) -> Any:
    return strawberry.argument(
        description=f"How many to list (0 to {maximum}; {default} by default).", name=name
    )


@strawberry.type(
    description="Your dashboard: one section per role you hold, each null unless you hold "
    "it (a person with two roles gets both). See docs/DASHBOARDS.md."
)
class Dashboard:
    @strawberry.field(description="The sections you have (those that are not null).")
    def sections(self, info: Info) -> list[DashboardSection]:
        viewer = info.context.viewer
        have = []
        if Role.ADMIN in viewer.roles:
            have.append(DashboardSection.ADMIN)
        if dashboards.manager_reach(viewer) is not None:
            have.append(DashboardSection.MANAGER)
        for role, section in (
            (Role.MENTOR, DashboardSection.MENTOR),
            (Role.SRE, DashboardSection.SRE),
            (Role.STUDENT, DashboardSection.STUDENT),
            (Role.ALUMNUS, DashboardSection.ALUMNUS),
        ):
            if role in viewer.roles:
                have.append(section)
        return have

    @strawberry.field(
        description="Users, activity, failed jobs, imports and storage (ADMIN; null for others)."
    )
    async def admin(
        self,
        info: Info,
        since: Annotated[
            date | None, strawberry.argument(name="from", description=RANGE_DESCRIPTION)
        ] = None,
        until: Annotated[
            date | None, strawberry.argument(name="to", description="The last day (UTC).")
        ] = None,
        first: Annotated[int, _first("first", 10)] = 10,
    ) -> AdminDashboard | None:
        if Role.ADMIN not in info.context.viewer.roles:
            return None
        now = _minute(datetime.now(UTC))
        period = _period(since, until, now.date())
        rt, reads = info.context.runtime, info.context.reads
        data = await _figures(
            lambda: cached(
                rt,
                "dashboard.admin",
                (period.since, period.until, first),
                dashboards.ADMIN_TABLES,
                lambda: dashboards.admin(reads, period=period, first=first),
            )
        )
        # Apart: stored files change seldom, sign-ins (sessions, users) all the time.
        storage = await cached(
            rt,
            "dashboard.storage",
            (),
            dashboards.STORAGE_TABLES,
            lambda: dashboards.storage(reads),
        )
        return AdminDashboard.of({**data, "storage": storage})

    @strawberry.field(
        description="The batches and missions within your reach with their figures (a "
        "MANAGER: the whole programme; a custom role with `analytics:read`: where it is "
        "held; null for others)."
    )
    async def manager(
        self,
        info: Info,
        mission_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only this mission.")
        ] = None,
        batch_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only this batch's missions.")
        ] = None,
        since: Annotated[
            date | None, strawberry.argument(name="from", description=RANGE_DESCRIPTION)
        ] = None,
        until: Annotated[
            date | None, strawberry.argument(name="to", description="The last day (UTC).")
        ] = None,
        interval: Annotated[
            DashboardInterval, strawberry.argument(description="How trends are grouped.")
        ] = DashboardInterval.WEEK,
        first: Annotated[
            int, _first("first", dashboards.MISSIONS_DEFAULT, dashboards.MISSIONS_MAX)
        ] = dashboards.MISSIONS_DEFAULT,
        load_over: Annotated[
            int,
            strawberry.argument(
                description="Count mentors with more students than this (30 by default)."
            ),
        ] = dashboards.LOAD_OVER_DEFAULT,
    ) -> ManagerDashboard | None:
        viewer = info.context.viewer
        reach = dashboards.manager_reach(viewer)
        if reach is None:
            return None
        now = _minute(datetime.now(UTC))
        period = _period(since, until, now.date())
        mission = global_pk(mission_id, "Mission") or -1 if mission_id is not None else None
        batch = global_pk(batch_id, "Batch") or -1 if batch_id is not None else None
        key = (
            reach.key(),
            mission,
            batch,
            period.since,
            period.until,
            interval.value,
            first,
            load_over,
            now,
        )
        data = await _figures(
            lambda: cached(
                info.context.runtime,
                "dashboard.manager",
                key,
                dashboards.MANAGER_TABLES,
                lambda: dashboards.manager(
                    info.context.reads,
                    reach,
                    period=period,
                    now=now,
                    mission_id=mission,
                    batch_id=batch,
                    first=first,
                    load_over=load_over,
                    interval="day" if interval == DashboardInterval.DAY else "week",
                ),
                at_most=MINUTE,
            )
        )
        if not viewer.can(Permission.COHORTS_READ):
            data = dashboards.hide_small(
                copy.deepcopy(data),
                lambda b, m: viewer.can(
                    Permission.COHORTS_READ, within=Reach(batch_id=b, mission_id=m)
                ),
            )
        return ManagerDashboard.of(data)

    @strawberry.field(
        description="Your mentees, their missing work and your tickets (MENTOR; null for others)."
    )
    async def mentor(
        self, info: Info, first: Annotated[int, _first("first", 50)] = 50
    ) -> MentorDashboard | None:
        viewer = info.context.viewer
        if Role.MENTOR not in viewer.roles or viewer.user_id is None:
            return None
        me = viewer.user_id
        now = _minute(datetime.now(UTC))
        data = await _figures(
            lambda: cached(
                info.context.runtime,
                "dashboard.mentor",
                (me, first, now),
                dashboards.MENTOR_TABLES,
                lambda: dashboards.mentor(info.context.reads, me, now=now, first=first),
                at_most=MINUTE,
            )
        )
        return MentorDashboard.of(data)

    @strawberry.field(
        description="At-risk students, calls, follow-ups and ticket SLA within your outreach "
        "(SRE; null for others)."
    )
    async def sre(
        self,
        info: Info,
        mission_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only this mission.")
        ] = None,
        batch_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only this batch's missions.")
        ] = None,
        since: Annotated[
            date | None, strawberry.argument(name="from", description=RANGE_DESCRIPTION)
        ] = None,
        until: Annotated[
            date | None, strawberry.argument(name="to", description="The last day (UTC).")
        ] = None,
        first: Annotated[int, _first("first", 20)] = 20,
        sla_hours: Annotated[
            int,
            strawberry.argument(
                description="The ticket SLA: a first reply within these hours (1 to 720; 24 "
                "by default)."
            ),
        ] = dashboards.SLA_HOURS_DEFAULT,
    ) -> SreDashboard | None:
        viewer = info.context.viewer
        reach = dashboards.sre_reach(viewer)
        if reach is None:
            return None
        now = _minute(datetime.now(UTC))
        period = _period(since, until, now.date())
        mission = global_pk(mission_id, "Mission") or -1 if mission_id is not None else None
        batch = global_pk(batch_id, "Batch") or -1 if batch_id is not None else None
        key = (
            viewer.user_id,
            reach.key(),
            mission,
            batch,
            period.since,
            period.until,
            first,
            sla_hours,
            now,
        )
        data = await _figures(
            lambda: cached(
                info.context.runtime,
                "dashboard.sre",
                key,
                dashboards.SRE_TABLES,
                lambda: dashboards.sre(
                    info.context.reads,
                    viewer,
                    reach,
                    period=period,
                    today=now.date(),
                    now=now,
                    mission_id=mission,
                    batch_id=batch,
                    first=first,
                    sla_hours=sla_hours,
                ),
                at_most=MINUTE,
            )
        )
        return SreDashboard.of(data)

    @strawberry.field(
        description="Your own attendance, points, rank and due work (STUDENT; null for others)."
    )
    async def student(
        self, info: Info, first: Annotated[int, _first("first", 20)] = 20
    ) -> StudentDashboard | None:
        viewer = info.context.viewer
        me = viewer.user_id
        if Role.STUDENT not in viewer.roles or me is None:
            return None
        now = datetime.now(UTC)
        data = await _figures(
            lambda: dashboards.student(info.context.reads, me, now=now, first=first)
        )
        return StudentDashboard.of(data)

    @strawberry.field(
        description="Your events, jobs and mentorship (ALUMNUS; null for others). Giving "
        "joins once it exists."
    )
    async def alumnus(
        self, info: Info, first: Annotated[int, _first("first", 10)] = 10
    ) -> AlumnusDashboard | None:
        viewer = info.context.viewer
        me = viewer.user_id
        if Role.ALUMNUS not in viewer.roles or me is None:
            return None
        data = await _figures(
            lambda: dashboards.alumnus(
                info.context.reads,
                me,
                now=datetime.now(UTC),
                first=first,
            )
        )
        return AlumnusDashboard.of(data)


@strawberry.type
class DashboardQuery:
    @strawberry.field(
        description="Your dashboard, one section per role you hold (signed in). See "
        "docs/DASHBOARDS.md for each section and the query a frontend sends.",
        extensions=requires(),
    )
    def dashboard(self, info: Info) -> Dashboard:
        return Dashboard()
