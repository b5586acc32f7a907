"""Role dashboards: one function per section (admin, manager, mentor, SRE, student,
alumnus), each a handful of grouped SQL statements whatever the number of missions or
students, returning plain JSON values (dates and times as ISO text) so that the heavy
sections can be kept by the analytics cache (``cache.cached``).

Visibility is decided here, once per section: the manager section covers the missions a
viewer holds ``analytics:read`` for (everywhere for a MANAGER; within batches or missions
for a custom role scoped there), the SRE section the missions of their outreach, the
mentor section their mentees (a mission's average only where it hides at least five
other students), the student and alumnus sections the viewer's own rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import (
    Date,
    Integer,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from alumnet.domain.analytics.common import DateRange, small
from alumnet.domain.analytics.reports.scope import COUNTED
from alumnet.domain.analytics.stats import ratio
from alumnet.domain.communication import tickets as ticket_figures
from alumnet.domain.engagement.rules import Rules
from alumnet.domain.errors import DomainError
from alumnet.domain.identity.permissions import Permission, Role, Viewer
from alumnet.domain.mentorship import figures as mentorship_figures
from alumnet.persistence.db import Reader
from alumnet.persistence.loaders.engagement import progress_by_enrollment_id
from alumnet.persistence.mentoring import mentored_missions, mentors_enrollment
from alumnet.persistence.models import (
    Appeal,
    Assignment,
    AtRisk,
    AttendanceDay,
    AuditEvent,
    Batch,
    CallLog,
    Certificate,
    EngagementRules,
    Enrollment,
    Event,
    EventRegistration,
    FollowUp,
    Import,
    IntegrityDecision,
    Job,
    JobApplication,
    JobPosting,
    MentorAssignment,
    Mentorship,
    MentorshipRequest,
    MentorshipSession,
    Mission,
    MissionMentor,
    Notice,
    NoticeAck,
    PersonalAccessToken,
    PersonalExport,
    RefreshToken,
    Resource,
    Session,
    StoredFile,
    Submission,
    SubmissionVersion,
    Ticket,
    User,
    UserRole,
)

Interval = Literal["day", "week"]
JSONDict = dict[str, Any]

# Lists a section returns are cut to this many at most (``first`` arguments).
LIST_MAX = 200
# Lists of groups (missions, job names) are cut to this many.
GROUPS_MAX = 100
# Time series (per day or per week) hold the range's last this many points at most.
POINTS_MAX = 100
# The manager section covers at most this many missions at once.
MISSIONS_MAX = 100
MISSIONS_DEFAULT = 20
# A mentor carrying more students than this (enrolments, in the missions covered) is
# "over a load" unless the caller says otherwise.
LOAD_OVER_DEFAULT = 30
# The SRE section's ticket SLA: a first reply within this many hours, unless asked.
SLA_HOURS_DEFAULT = 24
SLA_HOURS_MAX = 720
# Open tickets by age: under a day, one to three days, three to seven, over a week.
AGE_BUCKETS = ((1, "under 1 day"), (3, "1-3 days"), (7, "3-7 days"), (None, "over 7 days"))
# Days are numbered from here to find runs of consecutive days (streaks).
EPOCH = date(2000, 1, 1)


# --- reach -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reach:
    """The missions a section covers: everywhere (``batches`` None), or those within these
    batches or that are these missions."""

    batches: frozenset[int] | None = None
    missions: frozenset[int] = frozenset()

    @property
    def everywhere(self) -> bool:
        return self.batches is None

    def key(self) -> tuple[Any, ...]:
        """What a cached figure depends on, as plain values."""
        if self.batches is None:
            return ("everywhere",)
        return ("within", tuple(sorted(self.batches)), tuple(sorted(self.missions)))

    def condition(self) -> Any:
        """A condition on ``Mission`` (None: every mission)."""
        if self.batches is None:
            return None
        return or_(
            Mission.batch_id.in_(sorted(self.batches)), Mission.id.in_(sorted(self.missions))
        )

    def covers(self, batch_id: int, mission_id: int) -> bool:
        return self.batches is None or batch_id in self.batches or mission_id in self.missions


def reach_of(viewer: Viewer, permission: Permission) -> Reach | None:
    """Where the viewer holds ``permission``: everywhere, within some batches or missions,
    or nowhere (None)."""
    if viewer.can(permission):
        return Reach()
    if not viewer.holds_somewhere(permission):
        return None
    return Reach(
        batches=viewer.scoped_batches(permission), missions=viewer.scoped_missions(permission)
    )


def manager_reach(viewer: Viewer) -> Reach | None:
    """The manager section's reach: the whole programme for a MANAGER; for a custom role
    carrying ``analytics:read``, where it is held (everywhere, or its batches and
    missions). Nobody else has the section (an ADMIN or an SRE holds ``analytics:read``
    through their own role and has their own section)."""
    if Role.MANAGER in viewer.roles and viewer.can(Permission.ANALYTICS_READ):
        return Reach()
    if not any(Permission.ANALYTICS_READ in g.permissions for g in viewer.grants):
        return None
    return reach_of(viewer, Permission.ANALYTICS_READ)


def sre_reach(viewer: Viewer) -> Reach | None:
    """The SRE section's reach: an SRE's outreach (everywhere for the built-in role)."""
    if Role.SRE not in viewer.roles:
        return None
    return reach_of(viewer, Permission.OUTREACH)


# --- small helpers -----------------------------------------------------------------------


class _Lend:
    """A connection already held, lent as a ``Reader`` to functions that ask for one (a
    request's shared connection is not re-entrant)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        yield self.conn


def _tag(text: str) -> Any:
    """A constant text column (tags the parts of a union)."""
    return literal(text, String)


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def _in_range(column: Any, period: DateRange) -> Any:
    """A timestamp within the range's days (UTC)."""
    return and_(column >= _start(period.since), column < _start(period.until + timedelta(days=1)))


def _day(column: Any, dialect: str) -> Any:
    """A timestamp's day (UTC: PostgreSQL sessions run in UTC)."""
    if dialect == "postgresql":
        return cast(column, Date)
    return func.date(column, type_=Date)


def _week(column: Any, dialect: str) -> Any:
    """The Monday of a timestamp's (or a day's) week."""
    if dialect == "postgresql":
        return cast(func.date_trunc("week", column), Date)
    return func.date(column, "weekday 0", "-6 days", type_=Date)


def _day_number(column: Any, dialect: str) -> Any:
    """Whole days since 2000-01-01 (consecutive days, consecutive numbers)."""
    if dialect == "postgresql":
        return type_coerce(column - literal(EPOCH, Date), Integer)
    return cast(func.julianday(column) - func.julianday(EPOCH.isoformat()), Integer)


def _series_start(first: date, last: date, interval: Interval = "day") -> date:
    """Where a time series over these days begins: its last ``POINTS_MAX`` days, or the
    days of its last ``POINTS_MAX`` weeks."""
    if interval == "day":
        return max(first, last - timedelta(days=POINTS_MAX - 1))
    return max(first, monday(last) - timedelta(weeks=POINTS_MAX - 1))


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def period_json(period: DateRange) -> JSONDict:
    return {
        "since": period.since.isoformat(),
        "until": period.until.isoformat(),
        "days": period.days,
    }


def _counts(rows: Iterable[Any]) -> list[JSONDict]:
    return [{"label": str(k), "count": int(n)} for k, n in rows]


def check_first(first: int, maximum: int = LIST_MAX, name: str = "first") -> int:
    if not 0 <= first <= maximum:
        raise DomainError.of("INVALID", f"`{name}` must be between 0 and {maximum}.", name)
    return first


# --- streaks ------------------------------------------------------------------------------


async def _runs(conn: AsyncConnection, enrollment_ids: list[int], today: date) -> dict[int, Any]:
    """Per enrolment: its last day present (up to today), how many days present in a row
    end there, and its first day present, in one statement (islands of consecutive days:
    a day's number less its place in the enrolment's days is the same all along a run)."""
    if not enrollment_ids:
        return {}
    dialect = conn.dialect.name
    a = AttendanceDay
    islands = (
        select(
            a.enrollment_id,
            a.day,
            (
                _day_number(a.day, dialect)
                - func.row_number().over(partition_by=a.enrollment_id, order_by=a.day)
            ).label("run"),
        )
        .where(a.enrollment_id.in_(enrollment_ids), a.status == "present", a.day <= today)
        .subquery()
    )
    marked = select(
        islands.c.enrollment_id,
        islands.c.day,
        islands.c.run,
        func.first_value(islands.c.run)
        .over(partition_by=islands.c.enrollment_id, order_by=islands.c.day.desc())
        .label("last_run"),
        func.min(islands.c.day).over(partition_by=islands.c.enrollment_id).label("first_day"),
    ).subquery()
    query = (
        select(
            marked.c.enrollment_id,
            func.max(marked.c.day),
            func.count(),
            func.min(marked.c.first_day),
        )
        .where(marked.c.run == marked.c.last_run)
        .group_by(marked.c.enrollment_id)
    )
    return {
        int(e): (_as_date(last), int(n), _as_date(first))
        for e, last, n, first in await conn.execute(query)
    }


def streaks(
    run: tuple[date, int, date] | None,
    starts_on: date,
    ends_on: date,
    enrolled_on: date,
    today: date,
) -> JSONDict:
    """The current run of days present (ending today, or yesterday: today is not over) and
    of whole days absent since the last day present, or since the student began: the
    mission's first day, or their enrolment if later (unless they attended before it, as
    attendance recorded by hand or imported may be)."""
    end = min(today, ends_on)
    last_full = end if end < today else today - timedelta(days=1)
    begin = max(starts_on, enrolled_on)
    if run is not None:
        begin = min(begin, run[2])
    if end < begin:
        return {"present_days": 0, "absent_days": 0, "last_present_on": None}
    last, length = (run[0], run[1]) if run is not None else (None, 0)
    present = length if last is not None and last >= last_full else 0
    if last is not None and last >= end:
        absent = 0
    else:
        gap_from = max(begin, last + timedelta(days=1)) if last is not None else begin
        absent = max(0, (last_full - gap_from).days + 1)
    return {"present_days": present, "absent_days": absent, "last_present_on": _iso(last)}


def _progress(row: Any, today: date) -> JSONDict:
    """A student's standing, as ``Enrollment.progress`` (StudentProgress) computes it."""
    elapsed = 0 if today < row.starts_on else (min(today, row.ends_on) - row.starts_on).days + 1
    return {
        "points": int(row.points),
        "rank": int(row.rank) if row.rank is not None else None,
        "days_elapsed": elapsed,
        "days_present": int(row.days_present),
        "attendance_rate": round(min(1.0, row.days_present / elapsed), 4) if elapsed else None,
        "missing": max(0, int(row.missing)),
    }


# --- admin ----------------------------------------------------------------------------------


def _activity(period: DateRange) -> Any:
    """Every trace of a person using alumnet, as (user_id, at, kind): sign-ins (sessions
    made), token refreshes, the last use of each session and access token, and audited
    changes they made. alumnet keeps no log of every request: a session or token used
    on many days shows only its last one, so a day's active users are a floor."""
    s, r, t, a = Session, RefreshToken, PersonalAccessToken, AuditEvent
    return union_all(
        select(
            s.user_id.label("user_id"),
            s.created_at.label("at"),
            literal("sign_in", String).label("kind"),
        ).where(_in_range(s.created_at, period)),
        select(s.user_id, r.created_at, literal("refresh", String))
        .join(s, s.id == r.session_id)
        .where(_in_range(r.created_at, period)),
        select(s.user_id, s.last_used_at, literal("use", String)).where(
            _in_range(s.last_used_at, period)
        ),
        select(t.user_id, t.last_used_at, literal("token", String)).where(
            _in_range(t.last_used_at, period)
        ),
        select(a.actor_id, a.occurred_at, literal("change", String)).where(
            a.actor_id.is_not(None), _in_range(a.occurred_at, period)
        ),
    ).subquery("activity")


async def _activity_by(
    conn: AsyncConnection, period: DateRange
) -> tuple[list[JSONDict], list[JSONDict]]:
    """Active people and sign-ins per day and per week, in one statement and one pass over
    the traces: each person's traces per day (a common table), then grouped by day and by
    week (a person active on two days of a week counts once in it)."""
    dialect = conn.dialect.name
    activity = _activity(period)
    per_day = (
        select(
            activity.c.user_id,
            _day(activity.c.at, dialect).label("day"),
            func.count().filter(activity.c.kind == "sign_in").label("sign_ins"),
        )
        .group_by(activity.c.user_id, _day(activity.c.at, dialect))
        .cte("per_day")
    )
    week = _week(per_day.c.day, dialect)
    query = union_all(
        select(_tag("day"), per_day.c.day, func.count(), func.sum(per_day.c.sign_ins)).group_by(
            per_day.c.day
        ),
        select(
            _tag("week"),
            week,
            func.count(func.distinct(per_day.c.user_id)),
            func.sum(per_day.c.sign_ins),
        ).group_by(week),
    )
    found = {
        (str(kind), _as_date(b)): (int(active), int(signed or 0))
        for kind, b, active, signed in await conn.execute(query)
    }
    days = list(_days(_series_start(period.since, period.until, "day"), period.until))
    weeks = sorted(
        {monday(d) for d in _days(_series_start(period.since, period.until, "week"), period.until)}
    )

    def series(kind: str, keys: Iterable[date]) -> list[JSONDict]:
        return [
            {
                "date": k.isoformat(),
                "active": found.get((kind, k), (0, 0))[0],
                "sign_ins": found.get((kind, k), (0, 0))[1],
            }
            for k in keys
        ]

    return series("day", days), series("week", weeks)


def _file_kind() -> Any:
    """What a stored file is, from what refers to it."""
    f = StoredFile.id
    return case(
        (exists().where(Import.file_id == f), "import"),
        (
            or_(
                exists().where(Submission.file_id == f),
                exists().where(SubmissionVersion.file_id == f),
            ),
            "submission",
        ),
        (exists().where(Resource.file_id == f), "resource"),
        (exists().where(Certificate.file_id == f), "certificate"),
        (exists().where(JobApplication.cv_file_id == f), "cv"),
        (exists().where(PersonalExport.file_id == f), "personal_export"),
        (StoredFile.expires_at.is_not(None), "export"),
        else_="other",
    )


async def admin(db: Reader, *, period: DateRange, first: int) -> JSONDict:
    """Users by role and status; sign-ins and active users per day and week; failed jobs;
    imports. Seven statements. (Storage, which changes seldom, is ``storage``: apart, it is
    not recomputed at every sign-in.)"""
    check_first(first)
    async with db.connect() as conn:
        by_role = await conn.execute(
            select(UserRole.role, func.count(func.distinct(UserRole.user_id)))
            .join(User, User.id == UserRole.user_id)
            .where(User.status != "deleted")
            .group_by(UserRole.role)
            .order_by(UserRole.role)
        )
        by_status = await conn.execute(
            select(User.status, func.count()).group_by(User.status).order_by(User.status)
        )
        users = {"by_role": _counts(by_role), "by_status": _counts(by_status)}
        daily, weekly = await _activity_by(conn, period)
        failed = and_(
            Job.status == "failed",
            _in_range(func.coalesce(Job.finished_at, Job.created_at), period),
        )
        failed_total = 0
        failed_by_name = []
        # The total over every name, whatever the names listed.
        for name, n, total in await conn.execute(
            select(Job.name, func.count(), func.sum(func.count()).over())
            .where(failed)
            .group_by(Job.name)
            .order_by(func.count().desc(), Job.name)
            .limit(GROUPS_MAX)
        ):
            failed_by_name.append({"label": str(name), "count": int(n)})
            failed_total = int(total)
        recent_failed = [
            int(i)
            for i in (
                await conn.execute(
                    select(Job.id)
                    .where(Job.status == "failed")
                    .order_by(func.coalesce(Job.finished_at, Job.created_at).desc(), Job.id.desc())
                    .limit(first)
                )
            ).scalars()
        ]
        imports_by_status = _counts(
            await conn.execute(
                select(Import.status, func.count())
                .where(_in_range(Import.created_at, period))
                .group_by(Import.status)
                .order_by(Import.status)
            )
        )
        recent_imports = [
            int(i)
            for i in (
                await conn.execute(
                    select(Import.id)
                    .order_by(Import.created_at.desc(), Import.id.desc())
                    .limit(first)
                )
            ).scalars()
        ]
    return {
        "range": period_json(period),
        "users": users,
        "activity_by_day": daily,
        "activity_by_week": weekly,
        "jobs_failed": {
            "total": failed_total,
            "by_name": failed_by_name,
            "recent_ids": recent_failed,
        },
        "imports": {"by_status": imports_by_status, "recent_ids": recent_imports},
    }


async def storage(db: Reader) -> JSONDict:
    """The files alumnet keeps, by kind (what refers to each); one statement."""
    async with db.connect() as conn:
        kinds = select(_file_kind().label("kind"), StoredFile.size).subquery()
        by_kind = [
            {"kind": str(k), "files": int(n), "bytes": int(b or 0)}
            for k, n, b in await conn.execute(
                select(kinds.c.kind, func.count(), func.sum(kinds.c.size))
                .group_by(kinds.c.kind)
                .order_by(func.sum(kinds.c.size).desc(), kinds.c.kind)
            )
        ]
    return {
        "files": sum(s["files"] for s in by_kind),
        "bytes": sum(s["bytes"] for s in by_kind),
        "by_kind": by_kind,
    }


# --- manager --------------------------------------------------------------------------------


async def _manager_missions(
    conn: AsyncConnection,
    reach: Reach,
    period: DateRange,
    mission_id: int | None,
    batch_id: int | None,
    first: int,
) -> tuple[list[Any], int]:
    """The missions covered: the one asked for, or those of a batch, or every mission
    within reach whose dates meet the range (drafts left out); by batch, then code; with
    how many there are in all (whatever ``first``)."""
    query = (
        select(
            Mission.id,
            Mission.batch_id,
            Mission.code,
            Mission.title,
            Mission.status,
            Mission.starts_on,
            Mission.ends_on,
            EngagementRules.time_zone,
            Batch.code.label("batch_code"),
            Batch.name.label("batch_name"),
        )
        .join(Batch, Batch.id == Mission.batch_id)
        .outerjoin(EngagementRules, EngagementRules.mission_id == Mission.id)
    )
    within = reach.condition()
    if within is not None:
        query = query.where(within)
    if mission_id is not None:
        query = query.where(Mission.id == mission_id)
    else:
        query = query.where(
            Mission.status != "draft",
            Mission.starts_on <= period.until,
            Mission.ends_on >= period.since,
        )
        if batch_id is not None:
            query = query.where(Mission.batch_id == batch_id)
    return await _cut(conn, query.order_by(Batch.code, Mission.code, Mission.id), first)


async def _mission_counts(
    conn: AsyncConnection, ids: list[int], period: DateRange, now: datetime
) -> dict[tuple[str, int, str], tuple[int, int]]:
    """Counts per mission, one statement (a union of grouped counts, each row tagged):
    students by the status of their enrolment (a student has one enrolment per mission)
    and the active ones nobody mentors, students at risk, open appeals, assignments due in
    the range and the work handed in for them by the students counted (and how much of it
    late)."""
    # As sets (hashed once), not a lookup per enrolment.
    nobody = and_(
        Enrollment.id.not_in(
            select(MentorAssignment.enrollment_id).where(MentorAssignment.mission_id.in_(ids))
        ),
        ~exists().where(
            MissionMentor.mission_id == Enrollment.mission_id,
            MissionMentor.mentor_id != Enrollment.student_id,
        ),
    )
    due = and_(_in_range(Assignment.due_at, period), Assignment.due_at <= now)
    parts = union_all(
        select(
            _tag("enrolled"),
            Enrollment.mission_id,
            Enrollment.status,
            func.count(func.distinct(Enrollment.student_id)),
            func.count().filter(and_(Enrollment.status == "active", nobody)),
        )
        .where(Enrollment.mission_id.in_(ids))
        .group_by(Enrollment.mission_id, Enrollment.status),
        select(_tag("at_risk"), AtRisk.mission_id, _tag(""), func.count(), literal(0))
        .where(AtRisk.mission_id.in_(ids))
        .group_by(AtRisk.mission_id),
        select(_tag("appeals"), IntegrityDecision.mission_id, _tag(""), func.count(), literal(0))
        .join(Appeal, Appeal.decision_id == IntegrityDecision.id)
        .where(IntegrityDecision.mission_id.in_(ids), Appeal.status == "pending")
        .group_by(IntegrityDecision.mission_id),
        select(_tag("due"), Assignment.mission_id, _tag(""), func.count(), literal(0))
        .where(Assignment.mission_id.in_(ids), due)
        .group_by(Assignment.mission_id),
        select(
            _tag("handed_in"),
            Submission.mission_id,
            _tag(""),
            func.count(),
            func.count().filter(Submission.late.is_(True)),
        )
        .where(
            Submission.assignment_id.in_(
                select(Assignment.id).where(Assignment.mission_id.in_(ids), due)
            ),
            Submission.enrollment_id.in_(select(Enrollment.id).where(_counted(ids))),
        )
        .group_by(Submission.mission_id),
    )
    found: dict[tuple[str, int, str], tuple[int, int]] = {}
    for kind, mission, key, n, m in await conn.execute(parts):
        found[(str(kind), int(mission), str(key or ""))] = (int(n), int(m or 0))
    return found


async def _points(conn: AsyncConnection, ids: list[int]) -> dict[int, JSONDict]:
    """Each mission's points over the students counted: count, mean, lowest, quartiles
    (nearest rank) and highest, in one statement."""
    e = Enrollment
    ranked = (
        select(
            e.mission_id,
            e.points,
            func.row_number()
            .over(partition_by=e.mission_id, order_by=(e.points, e.id))
            .label("place"),
            func.count().over(partition_by=e.mission_id).label("n"),
            func.avg(e.points).over(partition_by=e.mission_id).label("mean"),
        )
        .where(_counted(ids))
        .subquery()
    )
    wanted = [(p * ranked.c.n + 99) // 100 for p in (25, 50, 75)]
    picks = select(ranked).where(
        or_(ranked.c.place.in_(wanted), ranked.c.place == 1, ranked.c.place == ranked.c.n)
    )
    places: dict[int, dict[int, int]] = defaultdict(dict)
    totals: dict[int, tuple[int, float]] = {}
    for mission, points, place, n, mean in await conn.execute(picks):
        places[int(mission)][int(place)] = int(points)
        totals[int(mission)] = (int(n), float(mean))
    out = {}
    for mission, (n, mean) in totals.items():
        at = places[mission]
        out[mission] = {
            "count": n,
            "mean": round(mean, 2),
            "lowest": at.get(1),
            "p25": at.get((25 * n + 99) // 100),
            "median": at.get((50 * n + 99) // 100),
            "p75": at.get((75 * n + 99) // 100),
            "highest": at.get(n),
        }
    return out


async def _present_by_day(
    conn: AsyncConnection, ids: list[int], first: date, last: date
) -> dict[tuple[int, date], int]:
    """Students counted present each day, per mission; one statement."""
    a = AttendanceDay
    query = (
        select(a.mission_id, a.day, func.count())
        .where(
            a.mission_id.in_(ids),
            a.status == "present",
            a.day >= first,
            a.day <= last,
            a.enrollment_id.in_(select(Enrollment.id).where(_counted(ids))),
        )
        .group_by(a.mission_id, a.day)
    )
    return {(int(m), _as_date(d)): int(n) for m, d, n in await conn.execute(query)}


async def _acknowledgements(
    conn: AsyncConnection, ids: list[int], period: DateRange
) -> dict[int, tuple[int, int]]:
    """Per mission: the notices posted to it or its batch in the range (not withdrawn),
    and the acknowledgements of them by the mission's students counted; one statement."""
    posted = (
        select(Mission.id.label("mission_id"), Notice.id.label("notice_id"))
        .join(Notice, or_(Notice.mission_id == Mission.id, Notice.batch_id == Mission.batch_id))
        .where(
            Mission.id.in_(ids), Notice.withdrawn_at.is_(None), _in_range(Notice.created_at, period)
        )
        .subquery()
    )
    acked = (
        select(Enrollment.mission_id, NoticeAck.notice_id, func.count().label("n"))
        .join(Enrollment, Enrollment.student_id == NoticeAck.user_id)
        .where(_counted(ids), NoticeAck.notice_id.in_(select(posted.c.notice_id)))
        .group_by(Enrollment.mission_id, NoticeAck.notice_id)
        .subquery()
    )
    query = (
        select(posted.c.mission_id, func.count(), func.coalesce(func.sum(acked.c.n), 0))
        .select_from(posted)
        .outerjoin(
            acked,
            and_(
                acked.c.mission_id == posted.c.mission_id, acked.c.notice_id == posted.c.notice_id
            ),
        )
        .group_by(posted.c.mission_id)
    )
    return {int(m): (int(n), int(a)) for m, n, a in await conn.execute(query)}


async def _mentor_loads(conn: AsyncConnection, ids: list[int]) -> dict[int, list[tuple[int, int]]]:
    """Per mission: its mentors (user ids) and how many of its students counted each
    mentors there (a mentor of the whole mission mentors all of them, but themselves); one
    statement, reading no names (names are looked up after the cache)."""
    each = (
        select(
            MentorAssignment.mission_id.label("mission_id"),
            MentorAssignment.mentor_id.label("mentor_id"),
            func.count(Enrollment.id).label("n"),
        )
        .outerjoin(
            Enrollment,
            and_(Enrollment.id == MentorAssignment.enrollment_id, Enrollment.status.in_(COUNTED)),
        )
        .where(MentorAssignment.mission_id.in_(ids))
        .group_by(MentorAssignment.mission_id, MentorAssignment.mentor_id)
    )
    whole = (
        select(MissionMentor.mission_id, MissionMentor.mentor_id, func.count(Enrollment.id))
        .outerjoin(
            Enrollment,
            and_(
                Enrollment.mission_id == MissionMentor.mission_id,
                Enrollment.student_id != MissionMentor.mentor_id,
                Enrollment.status.in_(COUNTED),
            ),
        )
        .where(MissionMentor.mission_id.in_(ids))
        .group_by(MissionMentor.mission_id, MissionMentor.mentor_id)
    )
    both = union_all(each, whole).subquery()
    query = (
        select(both.c.mission_id, both.c.mentor_id, func.max(both.c.n))
        .group_by(both.c.mission_id, both.c.mentor_id)
        .order_by(both.c.mission_id, both.c.mentor_id)
    )
    found: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for mission, mentor, n in await conn.execute(query):
        found[int(mission)].append((int(mentor), int(n or 0)))
    return found


def _trend(
    mission: JSONDict,
    present: dict[tuple[int, date], int],
    first: date,
    last: date,
    interval: Interval,
) -> list[JSONDict]:
    """A mission's attendance per day or week from ``first`` to ``last``: present ÷
    possible, where possible is its students counted on each of its days."""
    points: dict[date, list[int]] = {}
    for day in _days(_series_start(first, last, interval), last):
        slot = points.setdefault(day if interval == "day" else monday(day), [0, 0])
        slot[0] += present.get((mission["id"], day), 0)
        slot[1] += mission["students"]
    return [
        {"date": k.isoformat(), "present": p, "possible": n, "rate": ratio(p, n)}
        for k, (p, n) in points.items()
    ]


BATCH_SUMS = (
    *("students", "present", "possible", "handed_in", "expected", "at_risk", "banned"),
    *("open_appeals", "acknowledged", "acknowledgeable"),
)


def _roll_up(section: JSONDict) -> JSONDict:
    """The batch lines and the trend of all missions together, from the missions listed
    that are not withheld (a withheld mission's figures never reach a sum)."""
    shown = [m for m in section["missions"] if not m.get("withheld")]
    batches: dict[int, JSONDict] = {}
    for m in shown:
        line = batches.setdefault(
            m["batch_id"],
            {"id": m["batch_id"], "code": m["batch_code"], "name": m["batch_name"],
             "missions": 0, **dict.fromkeys(BATCH_SUMS, 0)},
        )  # fmt: skip
        line["missions"] += 1
        for key in BATCH_SUMS:
            line[key] += m[key]
    for line in batches.values():
        line["attendance_rate"] = ratio(line["present"], line["possible"])
        line["submission_rate"] = ratio(line["handed_in"], line["expected"])
        line["acknowledgement_rate"] = ratio(line["acknowledged"], line["acknowledgeable"])
    section["batches"] = list(batches.values())
    # Each mission's trend covers (at least) the days of the overall one it has.
    since = date.fromisoformat(section["range"]["since"])
    last = date.fromisoformat(section["attendance_until"])
    interval = section["interval"]
    keys = [
        d if interval == "day" else monday(d)
        for d in _days(_series_start(since, last, interval), last)
    ]
    sums: dict[str, list[int]] = {k.isoformat(): [0, 0] for k in keys}
    for m in shown:
        for point in m["trend"]:
            if point["date"] in sums:
                sums[point["date"]][0] += point["present"]
                sums[point["date"]][1] += point["possible"]
    section["attendance_trend"] = [
        {"date": k, "present": p, "possible": n, "rate": ratio(p, n)} for k, (p, n) in sums.items()
    ]
    return section


def yesterday(time_zone: str | None, now: datetime) -> date:
    """The last whole day in a mission's time zone (today is not over)."""
    return Rules(time_zone=time_zone or "UTC").today(now) - timedelta(days=1)


async def manager(
    db: Reader,
    reach: Reach,
    *,
    period: DateRange,
    now: datetime,
    mission_id: int | None = None,
    batch_id: int | None = None,
    first: int = MISSIONS_DEFAULT,
    load_over: int = LOAD_OVER_DEFAULT,
    interval: Interval = "week",
) -> JSONDict:
    """The batches and missions within reach with their figures over the range, over the
    students counted (active or completed enrolments, as the reports count). Attendance
    counts each mission's days through yesterday in its own time zone. Six statements,
    whatever the number of missions."""
    check_first(first, MISSIONS_MAX)
    if not 0 <= load_over <= 10_000:
        raise DomainError.of("INVALID", "`loadOver` must be between 0 and 10000.", "loadOver")
    async with db.connect() as conn:
        rows, total = await _manager_missions(conn, reach, period, mission_id, batch_id, first)
        if mission_id is not None and not total:
            raise DomainError.of("NOT_FOUND", "No such mission within your reach.", "missionId")
        ids = [int(r.id) for r in rows]
        ends = {int(r.id): min(period.until, yesterday(r.time_zone, now)) for r in rows}
        # The trend of all missions ends on the latest of their yesterdays.
        last = max(ends.values(), default=min(period.until, yesterday(None, now)))
        if ids:
            counts = await _mission_counts(conn, ids, period, now)
            points = await _points(conn, ids)
            present = await _present_by_day(conn, ids, period.since, last)
            acks = await _acknowledgements(conn, ids, period)
            loads = await _mentor_loads(conn, ids)
        else:
            counts, points, present, acks, loads = {}, {}, {}, {}, {}
    missions = []
    per_mentor: dict[int, int] = defaultdict(int)
    for row in rows:
        m = int(row.id)
        status = {k[2]: v for k, v in counts.items() if k[0] == "enrolled" and k[1] == m}
        students = sum(status.get(s, (0, 0))[0] for s in COUNTED)
        first_day, last_day = max(period.since, row.starts_on), min(ends[m], row.ends_on)
        days = max(0, (last_day - first_day).days + 1)
        attended = sum(present.get((m, d), 0) for d in _days(first_day, last_day))
        due = counts.get(("due", m, ""), (0, 0))[0]
        handed, late = counts.get(("handed_in", m, ""), (0, 0))
        notices, acked = acks.get(m, (0, 0))
        mentors = loads.get(m, [])
        for mentor, n in mentors:
            per_mentor[mentor] += n
        figures = {
            "id": m,
            "batch_id": int(row.batch_id),
            "batch_code": row.batch_code,
            "batch_name": row.batch_name,
            "code": row.code,
            "title": row.title,
            "status": row.status,
            "starts_on": row.starts_on.isoformat(),
            "ends_on": row.ends_on.isoformat(),
            "students": students,
            "banned": status.get("banned", (0, 0))[0],
            "delisted": status.get("delisted", (0, 0))[0],
            "unmentored": status.get("active", (0, 0))[1],
            "days": days,
            "present": attended,
            "possible": students * days,
            "attendance_rate": ratio(attended, students * days),
            "due": due,
            "handed_in": handed,
            "late": late,
            "expected": due * students,
            "submission_rate": ratio(handed, due * students),
            "points": points.get(m),
            "at_risk": counts.get(("at_risk", m, ""), (0, 0))[0],
            "open_appeals": counts.get(("appeals", m, ""), (0, 0))[0],
            "notices": notices,
            "acknowledged": acked,
            "acknowledgeable": notices * students,
            "acknowledgement_rate": ratio(acked, notices * students),
            "mentors": len(mentors),
            "students_per_mentor": round(students / len(mentors), 2) if mentors else None,
            "withheld": False,
        }
        figures["trend"] = _trend(figures, present, first_day, last_day, interval)
        missions.append(figures)
    # Most students first; ties by the mentor's id (names are not kept with the figures).
    load = [
        {"id": mentor, "students": n}
        for mentor, n in sorted(per_mentor.items(), key=lambda x: (-x[1], x[0]))
    ]
    return _roll_up(
        {
            "range": period_json(period),
            "interval": interval,
            "load_over": load_over,
            "mission_count": total,
            "missions": missions,
            "attendance_until": last.isoformat(),
            "mentor_load": load,
            "mentors_over": sum(1 for x in load if x["students"] > load_over),
        }
    )


# Points are listed by quartile only over this many students at least (for a viewer who
# may not see the students): with five, the nearest-rank quartiles and the ends would list
# nearly every student's own total.
QUARTILES_MIN = 10
# A withheld mission's figures that are about its students one by one.
WITHHELD = (
    *("attendance_rate", "submission_rate", "acknowledgement_rate", "points"),
    *("handed_in", "late", "at_risk"),
)


def hide_small(section: JSONDict, sees_students: Callable[[int, int], bool]) -> JSONDict:
    """The manager section for a viewer who may not see the students of every mission it
    covers (a custom role with ``analytics:read`` but not ``cohorts:read`` there). Where
    they may not: a mission of fewer than five students counted is withheld (its rates,
    points, work handed in and students at risk, which would nearly be each student's own
    figures), and left out of its batch's line and the trend of all missions; elsewhere
    points show no lowest or highest (one student's own total), and quartiles only over
    ``QUARTILES_MIN`` students or more."""
    for m in section["missions"]:
        if sees_students(m["batch_id"], m["id"]):
            continue
        if small(m["students"]):
            m.update(dict.fromkeys(WITHHELD), withheld=True)
            for point in m["trend"]:
                point.update(present=None, possible=None, rate=None)
        elif m["points"] is not None:
            m["points"].update(lowest=None, highest=None)
            if m["points"]["count"] < QUARTILES_MIN:
                m["points"].update(p25=None, median=None, p75=None)
    return _roll_up(section)


def _counted(mission_ids: list[int]) -> Any:
    """A condition on ``Enrollment``: counted (active or completed, as the reports count)
    in these missions."""
    return and_(Enrollment.mission_id.in_(mission_ids), Enrollment.status.in_(COUNTED))


async def _cut(conn: AsyncConnection, query: Any, first: int) -> tuple[list[Any], int]:
    """An ordered query's first ``first`` rows and how many rows it has in all: counted
    over the rows before the cut, or on its own when none are asked for."""
    if first == 0:
        counted = select(func.count()).select_from(query.order_by(None).subquery())
        return [], int((await conn.execute(counted)).scalar_one())
    rows = list(
        await conn.execute(query.add_columns(func.count().over().label("total")).limit(first))
    )
    return rows, int(rows[0].total) if rows else 0


# --- mentor -----------------------------------------------------------------------------


async def mentor(db: Reader, me: int, *, now: datetime, first: int) -> JSONDict:
    """A mentor's mentees in active missions (standing, streaks), each mission's averages
    beside their mentees' (over the students counted, as the reports count them; the whole
    mission's only where it has no other students, or five or more), the work their
    mentees have not handed in, and the tickets waiting for them. People are kept as ids
    (their names are looked up after the cache). Seven statements (eight with
    ``first`` 0)."""
    check_first(first)
    mine = mentors_enrollment(me)
    listed = Enrollment.status.in_((*COUNTED, "banned"))
    async with db.connect() as conn:
        mentees, mentee_count = await _cut(
            conn,
            select(
                Enrollment.id,
                Enrollment.mission_id,
                Enrollment.student_id,
                Enrollment.status,
                Enrollment.created_at,
                Mission.code,
                Mission.starts_on,
                Mission.ends_on,
                EngagementRules.time_zone,
            )
            .join(Mission, Mission.id == Enrollment.mission_id)
            .outerjoin(EngagementRules, EngagementRules.mission_id == Mission.id)
            .where(mine, listed, Mission.status == "active")
            .order_by(Mission.code, Enrollment.id),
            first,
        )
        ids = [int(r.id) for r in mentees]
        progress = (
            await progress_by_enrollment_id(_Lend(conn), ids)  # type: ignore[arg-type]
            if ids
            else []
        )
        todays = {int(r.id): Rules(time_zone=r.time_zone or "UTC").today(now) for r in mentees}
        runs = await _runs(conn, ids, max(todays.values(), default=now.date()))
        taught = list(
            await conn.execute(
                select(
                    Mission.id,
                    Mission.code,
                    Mission.starts_on,
                    Mission.ends_on,
                    EngagementRules.time_zone,
                )
                .outerjoin(EngagementRules, EngagementRules.mission_id == Mission.id)
                .where(Mission.status == "active", Mission.id.in_(mentored_missions(me)))
                .order_by(Mission.code, Mission.id)
                .limit(GROUPS_MAX)
            )
        )
        # Each mission's days so far: from its first day through yesterday in its time zone.
        ends = {int(m.id): min(m.ends_on, yesterday(m.time_zone, now)) for m in taught}
        figures: dict[int, Any] = {}
        if taught:
            end = case(ends, value=Enrollment.mission_id)
            present = (
                select(func.count())
                .where(
                    AttendanceDay.enrollment_id == Enrollment.id,
                    AttendanceDay.status == "present",
                    AttendanceDay.day >= Mission.starts_on,
                    AttendanceDay.day <= end,
                )
                .scalar_subquery()
            )
            student = Enrollment.student_id
            figures = {
                int(r[0]): r[1:]
                for r in await conn.execute(
                    select(
                        Enrollment.mission_id,
                        func.count(func.distinct(student)),
                        func.count(func.distinct(student)).filter(mine),
                        func.sum(Enrollment.points),
                        func.sum(Enrollment.points).filter(mine),
                        func.sum(present),
                        func.sum(present).filter(mine),
                    )
                    .join(Mission, Mission.id == Enrollment.mission_id)
                    .where(_counted(list(ends)))
                    .group_by(Enrollment.mission_id)
                )
            }
        missions = []
        for row in taught:
            n, n_mine, pts, pts_mine, days, days_mine = figures.get(int(row.id), (0, 0, 0, 0, 0, 0))
            n, n_mine = int(n), int(n_mine or 0)
            last = ends[int(row.id)]
            elapsed = max(0, (last - row.starts_on).days + 1)
            whole = None
            if not small(n - n_mine):
                whole = {
                    "students": n,
                    "points": ratio(int(pts or 0), n),
                    "attendance_rate": ratio(int(days or 0), n * elapsed),
                }
            missions.append(
                {
                    "id": int(row.id),
                    "code": row.code,
                    "mentees": n_mine,
                    "students": n,
                    "mentees_average": {
                        "students": n_mine,
                        "points": ratio(int(pts_mine or 0), n_mine),
                        "attendance_rate": ratio(int(days_mine or 0), n_mine * elapsed),
                    },
                    "mission_average": whole,
                    "withheld": whole is None,
                }
            )
        handed = exists().where(
            Submission.assignment_id == Assignment.id, Submission.enrollment_id == Enrollment.id
        )
        found, missing_count = await _cut(
            conn,
            select(
                Assignment.id,
                Assignment.title,
                Assignment.due_at,
                Enrollment.id.label("enrollment_id"),
                Enrollment.student_id,
                Mission.code,
            )
            .join(Enrollment, Enrollment.mission_id == Assignment.mission_id)
            .join(Mission, Mission.id == Assignment.mission_id)
            .where(
                mine,
                Enrollment.status.in_(COUNTED),
                Mission.status == "active",
                Assignment.due_at <= now,
                ~handed,
            )
            .order_by(Assignment.due_at, Assignment.id, Enrollment.id),
            first,
        )
        missing = [
            {
                "assignment_id": int(r.id),
                "title": r.title,
                "due_at": _iso(r.due_at),
                "enrollment_id": int(r.enrollment_id),
                "student_id": int(r.student_id),
                "mission": r.code,
            }
            for r in found
        ]
        waiting, waiting_count = await _cut(
            conn,
            select(Ticket.id, Ticket.created_at)
            .where(Ticket.queue == "mentor", Ticket.mentor_id == me, Ticket.status == "open")
            .order_by(Ticket.created_at, Ticket.id),
            first,
        )
        oldest = None
        if waiting:
            oldest = waiting[0].created_at
        elif waiting_count:
            oldest = (
                await conn.execute(
                    select(func.min(Ticket.created_at)).where(
                        Ticket.queue == "mentor", Ticket.mentor_id == me, Ticket.status == "open"
                    )
                )
            ).scalar()
    by_id = dict(zip(ids, progress, strict=True))
    lines = []
    for r in mentees:
        standing = by_id.get(int(r.id))
        today = todays[int(r.id)]
        lines.append(
            {
                "enrollment_id": int(r.id),
                "mission_id": int(r.mission_id),
                "mission": r.code,
                "student_id": int(r.student_id),
                "status": r.status,
                "progress": _progress(standing, today) if standing is not None else None,
                "streak": streaks(
                    runs.get(int(r.id)), r.starts_on, r.ends_on, r.created_at.date(), today
                ),
            }
        )
    return {
        "mentee_count": mentee_count,
        "mentees": lines,
        "missions": missions,
        "missing_work": missing,
        "missing_work_count": missing_count,
        "unanswered_ticket_ids": [int(t.id) for t in waiting],
        "unanswered_tickets": waiting_count,
        "oldest_unanswered_at": _iso(oldest),
    }


# --- SRE ---------------------------------------------------------------------------------


async def sre(
    db: Reader,
    viewer: Viewer,
    reach: Reach,
    *,
    period: DateRange,
    today: date,
    now: datetime,
    mission_id: int | None = None,
    batch_id: int | None = None,
    first: int = 20,
    sla_hours: int = SLA_HOURS_DEFAULT,
) -> JSONDict:
    """At-risk students most urgent first, calls and their outcomes over the range,
    follow-ups due, and the SRE team's ticket SLA. Ten statements at most."""
    check_first(first)
    if not 1 <= sla_hours <= SLA_HOURS_MAX:
        raise DomainError.of(
            "INVALID", f"`slaHours` must be between 1 and {SLA_HOURS_MAX}.", "slaHours"
        )
    me = viewer.require_user()
    missions = select(Mission.id)
    within = reach.condition()
    if within is not None:
        missions = missions.where(within)
    if mission_id is not None:
        missions = missions.where(Mission.id == mission_id)
    if batch_id is not None:
        missions = missions.where(Mission.batch_id == batch_id)
    called_in_range = _in_range(CallLog.created_at, period)
    async with db.connect() as conn:
        dialect = conn.dialect.name
        listed, total_at_risk = await _cut(
            conn,
            select(
                AtRisk.id,
                AtRisk.enrollment_id,
                AtRisk.attendance_percent,
                AtRisk.missed_submissions,
                AtRisk.reasons,
                AtRisk.score,
                AtRisk.computed_at,
            )
            .where(AtRisk.mission_id.in_(missions))
            .order_by(AtRisk.score.desc(), AtRisk.id),
            first,
        )
        by_mission = [
            {"label": code, "value": int(n), "mission_id": int(m)}
            for m, code, n in await conn.execute(
                select(AtRisk.mission_id, Mission.code, func.count())
                .join(Mission, Mission.id == AtRisk.mission_id)
                .where(AtRisk.mission_id.in_(missions))
                .group_by(AtRisk.mission_id, Mission.code)
                .order_by(func.count().desc(), Mission.code)
                .limit(GROUPS_MAX)
            )
        ]
        outcomes = [
            {"label": str(o), "count": int(n), "yours": int(y)}
            for o, n, y in await conn.execute(
                select(CallLog.outcome, func.count(), func.count().filter(CallLog.caller_id == me))
                .where(CallLog.mission_id.in_(missions), called_in_range)
                .group_by(CallLog.outcome)
                .order_by(func.count().desc(), CallLog.outcome)
            )
        ]
        days = (
            select(_day(CallLog.created_at, dialect).label("day"))
            .where(CallLog.mission_id.in_(missions), called_in_range)
            .subquery()
        )
        per_day = {
            _as_date(d): int(n)
            for d, n in await conn.execute(select(days.c.day, func.count()).group_by(days.c.day))
        }
        in_reach = FollowUp.enrollment_id.in_(
            select(Enrollment.id).where(Enrollment.mission_id.in_(missions))
        )
        overdue, due_today = FollowUp.due_on < today, FollowUp.due_on == today
        mine_f = FollowUp.assigned_to_id == me
        counts = (
            await conn.execute(
                select(
                    func.count().filter(overdue),
                    func.count().filter(due_today),
                    func.count().filter(and_(overdue, mine_f)),
                    func.count().filter(and_(due_today, mine_f)),
                ).where(FollowUp.status == "open", in_reach)
            )
        ).one()
        yours = [
            int(i)
            for i in (
                await conn.execute(
                    select(FollowUp.id)
                    .where(FollowUp.status == "open", mine_f, FollowUp.due_on <= today, in_reach)
                    .order_by(FollowUp.due_on, FollowUp.id)
                    .limit(first)
                )
            ).scalars()
        ]
        sla = await ticket_figures.sla(
            _Lend(conn),
            viewer,
            queue="sre",
            since=_start(period.since),
            until=_start(period.until + timedelta(days=1)),
        )
        bound = sla_hours * 3600
        opened = and_(Ticket.queue == "sre", _in_range(Ticket.created_at, period))
        waiting = and_(Ticket.queue == "sre", Ticket.status == "open")
        ages = []
        younger: int | None = None
        for older, _ in AGE_BUCKETS:
            condition = waiting
            if younger is not None:
                condition = and_(condition, Ticket.created_at <= now - timedelta(days=younger))
            if older is not None:
                condition = and_(condition, Ticket.created_at > now - timedelta(days=older))
            ages.append(func.count().filter(condition))
            younger = older
        replied_in_time = func.count().filter(
            and_(
                opened, Ticket.first_reply_seconds.is_not(None), Ticket.first_reply_seconds <= bound
            )
        )
        late_or_waiting = func.count().filter(
            and_(
                opened,
                or_(
                    Ticket.first_reply_seconds > bound,
                    and_(
                        Ticket.first_reply_seconds.is_(None),
                        Ticket.created_at < now - timedelta(seconds=bound),
                    ),
                ),
            )
        )
        within_sla, outside_sla, *aged = (
            await conn.execute(select(replied_in_time, late_or_waiting, *ages).select_from(Ticket))
        ).one()
    last = min(period.until, today)
    decided = int(within_sla) + int(outside_sla)
    return {
        "range": period_json(period),
        "at_risk_count": total_at_risk,
        "at_risk": [
            {
                "enrollment_id": int(r.enrollment_id),
                "attendance_percent": int(r.attendance_percent),
                "missed_submissions": int(r.missed_submissions),
                "reasons": list(r.reasons),
                "score": int(r.score),
                "computed_at": _iso(r.computed_at),
            }
            for r in listed
        ],
        "at_risk_by_mission": by_mission,
        "calls": {
            "total": sum(o["count"] for o in outcomes),
            "yours": sum(o["yours"] for o in outcomes),
            "by_outcome": outcomes,
            "by_day": [
                {"date": d.isoformat(), "value": per_day.get(d, 0)}
                for d in _days(_series_start(period.since, last), last)
            ],
        },
        "follow_ups": {
            "overdue": int(counts[0]),
            "due_today": int(counts[1]),
            "yours_overdue": int(counts[2]),
            "yours_due_today": int(counts[3]),
            "yours_ids": yours,
        },
        "tickets": {
            "sla_hours": sla_hours,
            "opened": sla.opened,
            "replied": sla.replied,
            "awaiting_first_reply": sla.awaiting_first_reply,
            "open_now": sla.open_now,
            "median_first_reply_seconds": sla.median_first_reply_seconds,
            "p90_first_reply_seconds": sla.p90_first_reply_seconds,
            "within_sla": int(within_sla),
            "outside_sla": int(outside_sla),
            "within_sla_rate": ratio(int(within_sla), decided),
            "oldest_awaiting_since": _iso(sla.oldest_awaiting_since),
            "open_by_age": [
                {"label": label, "count": int(n)}
                for (_, label), n in zip(AGE_BUCKETS, aged, strict=True)
            ],
        },
    }


# --- student -----------------------------------------------------------------------------


async def student(db: Reader, me: int, *, now: datetime, first: int) -> JSONDict:
    """A student's own standing in each active mission (attendance, streaks, points,
    rank among its active students; each mission's days in its own time zone) and the
    work they can still hand in. Four statements."""
    check_first(first)
    e = Enrollment
    async with db.connect() as conn:
        others = Enrollment.__table__.alias("others")
        active_count = (
            select(func.count())
            .where(others.c.mission_id == e.mission_id, others.c.status == "active")
            .scalar_subquery()
        )
        rows = list(
            await conn.execute(
                select(
                    e.id,
                    e.mission_id,
                    e.status,
                    e.created_at,
                    Mission.code,
                    Mission.title,
                    Mission.starts_on,
                    Mission.ends_on,
                    EngagementRules.time_zone,
                    active_count.label("students"),
                )
                .join(Mission, Mission.id == e.mission_id)
                .outerjoin(EngagementRules, EngagementRules.mission_id == Mission.id)
                .where(
                    e.student_id == me,
                    Mission.status == "active",
                    e.status.in_(("active", "banned")),
                )
                .order_by(Mission.starts_on, Mission.code)
                .limit(GROUPS_MAX)
            )
        )
        ids = [int(r.id) for r in rows]
        progress = (
            await progress_by_enrollment_id(_Lend(conn), ids)  # type: ignore[arg-type]
            if ids
            else []
        )
        todays = {int(r.id): Rules(time_zone=r.time_zone or "UTC").today(now) for r in rows}
        runs = await _runs(conn, ids, max(todays.values(), default=now.date()))
        s, a = Submission, Assignment
        still_taken = or_(
            a.due_at > now,
            and_(
                a.late_policy == "accept_late",
                or_(a.late_cutoff_at.is_(None), a.late_cutoff_at > now),
            ),
        )
        due = [
            {
                "assignment_id": int(r.id),
                "mission_id": int(r.mission_id),
                "title": r.title,
                "due_at": _iso(r.revision_due_at or r.due_at),
                "revision": r.status == "returned",
                "overdue": (r.revision_due_at or r.due_at) < now,
            }
            for r in await conn.execute(
                select(a.id, a.mission_id, a.title, a.due_at, s.status, s.revision_due_at)
                .join(e, and_(e.mission_id == a.mission_id, e.id.in_(ids or [-1])))
                .outerjoin(s, and_(s.assignment_id == a.id, s.enrollment_id == e.id))
                .where(
                    a.opens_at <= now,
                    or_(and_(s.id.is_(None), still_taken), s.status == "returned"),
                )
                .order_by(func.coalesce(s.revision_due_at, a.due_at), a.id)
                .limit(first)
            )
        ]
    by_id = dict(zip(ids, progress, strict=True))
    return {
        "missions": [
            {
                "enrollment_id": int(r.id),
                "mission_id": int(r.mission_id),
                "code": r.code,
                "title": r.title,
                "status": r.status,
                "students": int(r.students),
                "progress": (
                    _progress(by_id[int(r.id)], todays[int(r.id)]) if int(r.id) in by_id else None
                ),
                "streak": streaks(
                    runs.get(int(r.id)),
                    r.starts_on,
                    r.ends_on,
                    r.created_at.date(),
                    todays[int(r.id)],
                ),
            }
            for r in rows
        ],
        "due_work": due,
    }


# --- alumnus -----------------------------------------------------------------------------


async def alumnus(db: Reader, me: int, *, now: datetime, first: int) -> JSONDict:
    """An alumnus's events (registrations to come, attended), jobs (their postings and
    the applications to them, their own applications) and mentorship (as mentor through
    the mentorship figures, as mentee). Giving does not exist yet. Eight statements."""
    check_first(first)
    r, ev = EventRegistration, Event
    upcoming = and_(ev.starts_at > now, ev.status == "published")
    async with db.connect() as conn:
        dialect = conn.dialect.name
        confirmed, waitlisted, attended, missed = (
            await conn.execute(
                select(
                    func.count().filter(and_(upcoming, r.status == "confirmed")),
                    func.count().filter(and_(upcoming, r.status == "waitlisted")),
                    func.count().filter(r.checked_in_at.is_not(None)),
                    func.count().filter(
                        and_(
                            r.status == "confirmed",
                            r.checked_in_at.is_(None),
                            ev.starts_at <= now,
                            ev.status != "cancelled",
                        )
                    ),
                )
                .select_from(r)
                .join(ev, ev.id == r.event_id)
                .where(r.user_id == me)
            )
        ).one()
        next_events = [
            int(i)
            for i in (
                await conn.execute(
                    select(ev.id)
                    .join(r, r.event_id == ev.id)
                    .where(r.user_id == me, r.status.in_(("confirmed", "waitlisted")), upcoming)
                    .order_by(ev.starts_at, ev.id)
                    .limit(first)
                )
            ).scalars()
        ]
        p, app = JobPosting, JobApplication
        jobs = await conn.execute(
            union_all(
                select(_tag("postings"), p.status, func.count())
                .where(p.poster_id == me)
                .group_by(p.status),
                select(_tag("received"), app.status, func.count())
                .join(p, p.id == app.posting_id)
                .where(p.poster_id == me)
                .group_by(app.status),
                select(_tag("applications"), app.status, func.count())
                .where(app.applicant_id == me)
                .group_by(app.status),
            )
        )
        grouped: dict[str, list[JSONDict]] = defaultdict(list)
        for kind, status, n in jobs:
            grouped[str(kind)].append({"label": str(status), "count": int(n)})
        as_mentor = await mentorship_figures.overall(conn, dialect, mentor_id=me)
        ms, req, ses = Mentorship, MentorshipRequest, MentorshipSession
        mentee = (
            await conn.execute(
                select(
                    select(func.count())
                    .where(ms.mentee_id == me, ms.status == "active")
                    .scalar_subquery(),
                    select(func.count())
                    .where(ms.mentee_id == me, ms.status == "completed")
                    .scalar_subquery(),
                    select(func.count())
                    .where(req.mentee_id == me, req.status == "pending")
                    .scalar_subquery(),
                    select(func.count())
                    .where(ses.mentee_id == me, ses.status == "scheduled", ses.starts_at <= now)
                    .scalar_subquery(),
                    select(func.count())
                    .where(
                        or_(ses.mentee_id == me, ses.mentor_id == me),
                        ses.status == "scheduled",
                        ses.starts_at > now,
                    )
                    .scalar_subquery(),
                )
            )
        ).one()
    for lines in grouped.values():
        lines.sort(key=lambda x: (-x["count"], x["label"]))
    return {
        "events": {
            "upcoming_confirmed": int(confirmed),
            "upcoming_waitlisted": int(waitlisted),
            "attended": int(attended),
            "missed": int(missed),
            "upcoming_ids": next_events,
        },
        "jobs": {
            "postings": grouped.get("postings", []),
            "applications_received": grouped.get("received", []),
            "applications": grouped.get("applications", []),
        },
        "mentorship": {
            "as_mentor": {
                "requests": as_mentor.requests,
                "pending": as_mentor.pending,
                "accepted": as_mentor.accepted,
                "active": as_mentor.active,
                "completed": as_mentor.completed,
                "sessions": as_mentor.sessions,
                "rating": as_mentor.rating_of_mentors,
            },
            "as_mentee": {
                "active": int(mentee[0]),
                "completed": int(mentee[1]),
                "pending": int(mentee[2]),
                "sessions": int(mentee[3]),
            },
            "upcoming_sessions": int(mentee[4]),
        },
    }


# Tables each cached section reads: a committed change to any of them makes it stale.
# (Names are not kept with the figures, so that ``users``, written at every sign-in, is
# not among them where it can be left out.)
ADMIN_TABLES = (
    *("users", "user_roles", "sessions", "refresh_tokens", "personal_access_tokens"),
    *("audit_events", "jobs", "imports"),
)
STORAGE_TABLES = (
    *("stored_files", "imports", "submissions", "submission_versions", "resources"),
    *("certificates", "job_applications", "personal_exports"),
)
MANAGER_TABLES = (
    *("missions", "batches", "enrollments", "attendance_days", "assignments", "submissions"),
    *("at_risk", "appeals", "integrity_decisions", "notices", "notice_acks"),
    *("mentor_assignments", "mission_mentors", "engagement_rules"),
)
MENTOR_TABLES = (
    *("missions", "enrollments", "attendance_days", "assignments", "submissions"),
    *("mentor_assignments", "mission_mentors", "tickets", "engagement_rules"),
)
SRE_TABLES = ("missions", "enrollments", "at_risk", "call_logs", "follow_ups", "tickets")
