"""Exports: a mission's roster, attendance, submissions or points, directory results, a
job posting's applications, an event's registrations, a period's events, a subject's
progress table (or its students behind the plan) for a mission or batch, or a report
(``analytics.reports``: its table, charts drawn natively in Excel), as CSV,
Excel (typed columns, a header row) or JSON Lines,
written by a job a batch of rows at a time into a stored file, downloaded through a
short-lived signed link.

Cells that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a
carriage return) are written with a leading apostrophe in CSV and Excel.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import String, case, cast, func, literal, null, select, true
from sqlalchemy.orm import aliased

from alumnet.domain import money
from alumnet.domain.academics import progress as academic_progress
from alumnet.domain.analytics import reports
from alumnet.domain.analytics.common import DateRange
from alumnet.domain.analytics.reports import scope as report_scope
from alumnet.domain.careers import postings as careers
from alumnet.domain.cohorts import access, roster
from alumnet.domain.data import files
from alumnet.domain.data.tabular import plain
from alumnet.domain.engagement import attendance
from alumnet.domain.errors import DomainError, PermissionDenied
from alumnet.domain.events import catalogue
from alumnet.domain.giving import reports as giving_reports
from alumnet.domain.identity import audit, budgets
from alumnet.domain.identity.auth import scope_of, viewer_of
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.identity.two_factor import required_roles
from alumnet.domain.people import directory, privacy
from alumnet.domain.runtime import Runtime
from alumnet.persistence.mentoring import whole_mission_join
from alumnet.persistence.models import (
    Assignment,
    AttendanceDay,
    Batch,
    Donor,
    DonorYear,
    Enrollment,
    Event,
    EventFeedback,
    EventRegistration,
    JobApplication,
    JobPosting,
    JobReferral,
    MentorAssignment,
    Mission,
    MissionMentor,
    Profile,
    Subject,
    Submission,
    User,
)
from alumnet.persistence.uow import UnitOfWork

EXPORT_JOB = "data.export"
# A report's export kind is its name and "_report" ("attendance_report" …).
REPORT_KINDS = {f"{name}_report": name for name in reports.REPORTS}
# Giving's lists (``giving.reports``), for giving staff: one calendar year's.
GIVING_KINDS = ("lybunt", "sybunt", "giving_participation")
# Academics: a subject's progress table for a mission or batch (``academics.progress``), and
# its students behind the plan, as the viewer may read them (and ``data:export``).
ACADEMICS_KINDS = ("topic_progress", "students_behind")
KINDS = ("roster", "attendance", "submissions", "points", "directory", "applications",
         "event_registrations", "events", *REPORT_KINDS, *GIVING_KINDS,
         *ACADEMICS_KINDS)  # fmt: skip
FORMATS = {"csv": "text/csv", "jsonl": "application/x-ndjson",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}  # fmt: skip
KEEP = timedelta(days=2)
PAGE = 2000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportFailed(Exception):
    """The export cannot be made (its requester is gone, or may no longer export)."""


def neutralise(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, made plain text."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


@dataclass(frozen=True)
class ExportRequest:
    """What to export, with the same filters as the GraphQL lists it mirrors."""

    kind: str
    format: str
    mission_id: int | None = None
    # Rosters and points: as `Mission.enrollments(filter:)`.
    statuses: tuple[str, ...] = ()
    search: str | None = None
    # Attendance: as `Mission.attendance(filter:)`.
    day: date | None = None
    since: date | None = None
    until: date | None = None
    student_id: int | None = None
    # Submissions: one assignment's (as `Assignment.submissions`), or the mission's.
    assignment_id: int | None = None
    # Directory: as `directory(query:, filter:)`.
    query: str | None = None
    directory: directory.DirectoryFilter = field(default_factory=directory.DirectoryFilter)
    # Applications: one job posting's, for its poster (or a moderator).
    posting_id: int | None = None
    # Event registrations: one event's, for its organisers. Events: those starting from
    # ``since`` to ``until`` (days, UTC), for holders of events:manage.
    event_id: int | None = None
    # Reports: their filters as JSON (``reports.check_filters``), over ``since`` to ``until``.
    filters: dict[str, Any] = field(default_factory=dict)
    # Giving's lists: the calendar year (default: this year).
    year: int | None = None
    # Academics: the subject, and the mission (``mission_id``) or the batch.
    subject_id: int | None = None
    batch_id: int | None = None

    def as_args(self) -> dict[str, Any]:
        return {k: plain(v) for k, v in asdict(self).items()}

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> ExportRequest:
        """From a job's arguments, including those queued before the filters took the
        lists' shape (`status`: one status; `filter`: the directory's filter)."""
        given = {k: v for k, v in args.items() if k in cls.__dataclass_fields__}
        for key in ("day", "since", "until"):
            if given.get(key):
                given[key] = date.fromisoformat(given[key])
        legacy = (args["status"],) if args.get("status") else ()
        given["statuses"] = tuple(given.get("statuses") or legacy)
        found = dict(given.get("directory") or args.get("filter") or {})
        found = {
            k: v for k, v in found.items() if k in directory.DirectoryFilter.__dataclass_fields__
        }
        for key in ("roles", "skills"):
            found[key] = tuple(found.get(key) or ())
        given["directory"] = directory.DirectoryFilter(**found)
        return cls(**given)


async def request(uow: UnitOfWork, viewer: Viewer, wanted: ExportRequest) -> int:
    """Queue an export for the viewer; returns the job's id."""
    me = viewer.require_user()
    if wanted.kind not in KINDS:
        raise DomainError.of("INVALID", "Unknown kind of export.", "kind")
    if wanted.format not in FORMATS:
        raise DomainError.of("INVALID", "Unknown format.", "format")
    if wanted.kind == "applications":
        posting = await uow.session.get(JobPosting, wanted.posting_id or -1)
        if posting is None or not careers.may_manage(viewer, posting):
            raise DomainError.of("NOT_FOUND", "No such job posting.", "jobPostingId")
    elif wanted.kind == "event_registrations":
        await catalogue.event_for(uow, viewer, wanted.event_id or -1, manage=True)
    elif wanted.kind == "events":
        viewer.require(Permission.EVENTS_MANAGE)
        if (
            wanted.since is None
            or wanted.until is None
            or wanted.until < wanted.since
            or (wanted.until - wanted.since) > timedelta(days=3 * 366)
        ):
            raise DomainError.of("INVALID", "`to` is on or after `from`, within three years.",
                                 "to")  # fmt: skip
    elif wanted.kind in REPORT_KINDS:
        wanted = await _report_request(uow, viewer, wanted)
    elif wanted.kind in GIVING_KINDS:
        viewer.require(Permission.GIVING)
        year = giving_reports.check_year(wanted.year or giving_reports.this_year())
        wanted = replace(wanted, year=year)
    elif wanted.kind in ACADEMICS_KINDS:
        viewer.require(Permission.DATA_EXPORT)
        await _academics_request(uow, wanted)
    elif wanted.kind != "directory":
        viewer.require(Permission.DATA_EXPORT)
        if wanted.mission_id is None or await uow.session.get(Mission, wanted.mission_id) is None:
            raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
        if wanted.assignment_id is not None:
            assignment = await uow.session.get(Assignment, wanted.assignment_id)
            if assignment is None or assignment.mission_id != wanted.mission_id:
                raise DomainError.of(
                    "NOT_FOUND", "No such assignment in this mission.", "assignmentId"
                )
        roster.enrollment_conditions(wanted.statuses, wanted.search)  # refuses a bad search now
    job = await uow.add_job(
        EXPORT_JOB, {**wanted.as_args(), "user_id": me, "scope": scope_of(viewer)}
    )
    audit.record(uow, "export.request", object_type="Job", object_ids=[job.id],
                 details={"kind": wanted.kind, "format": wanted.format,
                          "mission": wanted.mission_id})  # fmt: skip
    return int(job.id)


async def _academics_request(uow: UnitOfWork, wanted: ExportRequest) -> None:
    """A progress table's subject, and its mission or batch (one at most), exist."""
    if wanted.subject_id is None or await uow.session.get(Subject, wanted.subject_id) is None:
        raise DomainError.of("NOT_FOUND", "No such subject.", "subjectId")
    if wanted.mission_id is not None and wanted.batch_id is not None:
        raise DomainError.of("INVALID", "Give a mission or a batch, not both.", "missionId")
    if wanted.mission_id is not None:
        if await uow.session.get(Mission, wanted.mission_id) is None:
            raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
    elif wanted.batch_id is not None and await uow.session.get(Batch, wanted.batch_id) is None:
        raise DomainError.of("NOT_FOUND", "No such batch.", "batchId")
    roster.enrollment_conditions((), wanted.search)  # refuses a bad search now


ACADEMICS_HEADER = ["name", "email", "topics", "completed", "in_progress", "needs_revision",
                    "not_started", "percent_complete", "average_competency", "velocity",
                    "forecast_completion", "expected_completed", "behind", "last_recorded_at",
                    "topics_behind"]  # fmt: skip


async def _academics(
    rt: Runtime, viewer: Viewer, wanted: ExportRequest
) -> tuple[list[str], Any, Callable[[list[Any]], list[Any]]]:
    """A subject's progress table (``subjectProgress``) for a mission or batch, one row per
    student by name, or its students behind the plan, most behind first; as the viewer may
    read it when it runs. The forecast is computed from each row's velocity."""
    at = academic_progress.now()
    on = at.date()
    async with rt.database.connect() as conn:
        plans = await academic_progress.plans_of(conn, [wanted.subject_id or -1], on)
    behind = wanted.kind == "students_behind"
    scope = academic_progress.TableScope(
        mission_id=wanted.mission_id, batch_id=wanted.batch_id, search=wanted.search,
        behind_only=behind,
    )  # fmt: skip
    table = academic_progress.table(viewer, plans, scope, at)
    c = table.selected_columns
    query = table.with_only_columns(
        c.name, c.email, c.topics, c.completed, c.in_progress, c.needs_revision, c.not_started,
        c.percent, c.average_competency, c.velocity, c.expected, c.behind, c.last_recorded_at,
        c.deficit,
    )  # fmt: skip
    if behind:
        query = query.order_by(c.deficit.desc(), c.name, c.student_id)
    else:
        query = query.order_by(c.name, c.student_id)

    def convert(row: list[Any]) -> list[Any]:
        topics, completed, velocity = int(row[2]), int(row[3]), float(row[9] or 0)
        percent = round(float(row[7] or 0), 2)
        average = round(float(row[8]), 2) if row[8] is not None else None
        when = academic_progress.forecast(topics, completed, velocity, on)
        return [*row[:7], percent, average, round(velocity, 2), when, int(row[10]),
                bool(row[11]), row[12], max(int(row[13]), 0)]  # fmt: skip

    return ACADEMICS_HEADER, query, convert


async def _report_request(uow: UnitOfWork, viewer: Viewer, wanted: ExportRequest) -> ExportRequest:
    """A report's export, checked as its query checks it (the range, the filters, a mission
    or batch within the viewer's reach; PermissionDenied for a report they may not read),
    with the range's days fixed now."""
    report = REPORT_KINDS[wanted.kind]
    period = DateRange.of(wanted.since, wanted.until, today=reports.today())
    checked = report_scope.check(report, wanted.filters)
    reach = await report_scope.reach_of(uow.session, viewer, report)
    if report in report_scope.PROGRAMME:
        missions = await report_scope.missions_of(uow.session, reach, checked)
        # Rows per student only for who may see the students, as the query decides.
        reach.require_people(checked.group_by, (m.id for m in missions))
    return replace(wanted, since=period.since, until=period.until, filters=checked.as_json())


def _source(viewer: Viewer, wanted: ExportRequest, dialect: str) -> tuple[list[str], Any]:
    """The header and the query of one kind of export, narrowed to what the viewer may see."""
    mission, visible = wanted.mission_id, access.visible_enrollments(viewer)
    mine = [] if visible is None else [Enrollment.id.in_(select(Enrollment.id).where(visible))]
    if wanted.kind in ("roster", "points"):
        chosen = roster.enrollment_conditions(wanted.statuses, wanted.search)
        enrolled = (
            select(User.name, User.email)
            .join(User, User.id == Enrollment.student_id)
            .where(Enrollment.mission_id == mission, *chosen, *mine)
        )  # fmt: skip
        if wanted.kind == "points":
            query = enrolled.add_columns(Enrollment.points).order_by(
                Enrollment.points.desc(), User.name, Enrollment.id
            )
            return ["name", "email", "points"], query
        mentors = (
            select(func.count()).where(MentorAssignment.enrollment_id == Enrollment.id)
            .scalar_subquery()
            + select(func.count()).select_from(MissionMentor).where(
                whole_mission_join(),
                ~select(MentorAssignment.id).where(
                    MentorAssignment.enrollment_id == Enrollment.id,
                    MentorAssignment.mentor_id == MissionMentor.mentor_id,
                ).exists(),
            ).scalar_subquery()
        )  # fmt: skip
        query = enrolled.add_columns(
            Enrollment.status, Enrollment.points, Enrollment.created_at, mentors
        ).order_by(User.name, Enrollment.id)
        return ["name", "email", "status", "points", "enrolled_at", "mentors"], query
    if wanted.kind == "attendance":
        chosen = attendance.attendance_conditions(
            wanted.day, wanted.since, wanted.until, wanted.student_id
        )
        query = (
            select(User.email, AttendanceDay.day, AttendanceDay.kind, AttendanceDay.status)
            .join(User, User.id == AttendanceDay.student_id)
            .join(Enrollment, Enrollment.id == AttendanceDay.enrollment_id)
            .where(AttendanceDay.mission_id == mission, *chosen, *mine)
            .order_by(AttendanceDay.day, User.email, AttendanceDay.id)
        )  # fmt: skip
        return ["email", "day", "kind", "status"], query
    if wanted.kind == "submissions":
        query = (
            select(User.email, Assignment.title, Submission.submitted_at, Submission.late)
            .join(User, User.id == Submission.student_id)
            .join(Assignment, Assignment.id == Submission.assignment_id)
            .join(Enrollment, (Enrollment.mission_id == Submission.mission_id)
                  & (Enrollment.student_id == Submission.student_id))
            .where(Submission.mission_id == mission, *mine)
            .order_by(Assignment.due_at, User.email, Submission.id)
        )  # fmt: skip
        if wanted.assignment_id is not None:
            query = query.where(Submission.assignment_id == wanted.assignment_id)
        return ["email", "assignment", "submitted_at", "late"], query
    if wanted.kind == "applications":
        return _applications(viewer, wanted.posting_id or -1)
    if wanted.kind == "event_registrations":
        return _event_registrations(viewer, wanted.event_id or -1)
    if wanted.kind == "events":
        assert wanted.since is not None
        assert wanted.until is not None
        return _events(viewer, wanted.since, wanted.until)
    if wanted.kind in GIVING_KINDS:
        return _giving(viewer, wanted.kind, wanted.year or giving_reports.this_year())
    found = directory.match(viewer, wanted.query, wanted.directory, dialect)
    work = privacy.visible(viewer, Profile.user_id, Profile.work_visibility)
    location = privacy.visible(viewer, Profile.user_id, Profile.location_visibility)
    education = privacy.visible(viewer, Profile.user_id, Profile.education_visibility)
    query = (
        select(User.name, Profile.headline,
               case((work, Profile.company), else_=null()),
               case((work, Profile.job_title), else_=null()),
               case((location, Profile.city), else_=null()),
               case((location, Profile.country), else_=null()),
               case((education, User.graduation_year), else_=null()))
        .join(User, User.id == Profile.user_id)
        .where(found.where)
        .order_by(User.name, User.id)
    )  # fmt: skip
    return ["name", "headline", "company", "job_title", "city", "country",
            "graduation_year"], query  # fmt: skip


def _applications(viewer: Viewer, posting_id: int) -> tuple[list[str], Any]:
    """A posting's applications, for its poster or a moderator as they are when it runs;
    an applicant's e-mail only where their contact privacy lets the viewer see it."""
    referrer = aliased(User)
    contact = privacy.visible(viewer, User.id, func.coalesce(Profile.contact_visibility, "staff"))
    manages = (
        true() if viewer.can(Permission.CAREERS_MODERATE)
        else JobPosting.poster_id == (viewer.user_id or -1)
    )  # fmt: skip
    query = (
        select(User.name, case((contact, User.email), else_=null()), JobApplication.status,
               JobApplication.created_at, JobApplication.updated_at, referrer.name,
               JobApplication.cover_note, JobApplication.cv_url)
        .join(User, User.id == JobApplication.applicant_id)
        .outerjoin(Profile, Profile.user_id == User.id)
        .outerjoin(JobReferral, JobReferral.id == JobApplication.referral_id)
        .outerjoin(referrer, referrer.id == JobReferral.referrer_id)
        .join(JobPosting, JobPosting.id == JobApplication.posting_id)
        .where(JobApplication.posting_id == posting_id, manages)
        .order_by(JobApplication.created_at, JobApplication.id)
    )  # fmt: skip
    return ["name", "email", "status", "applied_at", "updated_at", "referred_by",
            "cover_note", "cv_link"], query  # fmt: skip


def _event_registrations(viewer: Viewer, event_id: int) -> tuple[list[str], Any]:
    """An event's registrations in arrival order, for its organisers as they are when it
    runs; e-mail only where the person's contact privacy lets the viewer see it."""
    r = EventRegistration
    contact = privacy.visible(viewer, User.id, func.coalesce(Profile.contact_visibility, "staff"))
    runs = catalogue.managed(viewer)
    query = (
        select(func.coalesce(User.name, r.walk_in_name), case((contact, User.email), else_=null()),
               r.status, r.arrival, r.guests, r.registered_at, r.checked_in_at, r.walk_in,
               User.record_graduation_year, cast(r.answers, String))
        .outerjoin(User, User.id == r.user_id)
        .outerjoin(Profile, Profile.user_id == r.user_id)
        .join(Event, Event.id == r.event_id)
        .where(r.event_id == event_id, runs if runs is not None else true())
        .order_by(r.arrival, r.id)
    )  # fmt: skip
    return ["name", "email", "status", "arrival", "guests", "registered_at", "checked_in_at",
            "walk_in", "graduation_year", "answers"], query  # fmt: skip


def _events(viewer: Viewer, since: date, until: date) -> tuple[list[str], Any]:
    """Each event starting in the period (drafts aside), with its figures."""
    r = EventRegistration
    people = (
        select(r.event_id, func.count().filter(r.status == "confirmed").label("confirmed"),
               func.count().filter(r.checked_in_at.is_not(None)).label("came"))
        .group_by(r.event_id)
        .subquery()
    )  # fmt: skip
    rated = (
        select(EventFeedback.event_id, func.count().label("n"),
               func.avg(EventFeedback.rating).label("average"))
        .group_by(EventFeedback.event_id)
        .subquery()
    )  # fmt: skip
    start = datetime.combine(since, datetime.min.time(), UTC)
    end = datetime.combine(until + timedelta(days=1), datetime.min.time(), UTC)
    allowed = true() if viewer.can(Permission.EVENTS_MANAGE) else Event.id.is_(None)
    query = (
        select(Event.title, Event.kind, Event.status, Event.starts_at, Event.time_zone,
               Event.city, Event.capacity, Event.seats_taken,
               func.coalesce(people.c.confirmed, 0), func.coalesce(people.c.came, 0),
               func.coalesce(rated.c.n, 0), rated.c.average)
        .outerjoin(people, people.c.event_id == Event.id)
        .outerjoin(rated, rated.c.event_id == Event.id)
        .where(Event.status != "draft", Event.starts_at >= start, Event.starts_at < end, allowed)
        .order_by(Event.starts_at, Event.id)
    )  # fmt: skip
    return [
        "title",
        "kind",
        "status",
        "starts_at",
        "time_zone",
        "city",
        "capacity",
        "seats_taken",
        "confirmed",
        "checked_in",
        "feedback",
        "average_rating",
    ], query


def _giving(viewer: Viewer, kind: str, year: int) -> tuple[list[str], Any]:
    """A LYBUNT or SYBUNT list (a row per donor and currency of their last year of giving,
    by name) or the participation report by graduation year, as giving staff read them."""
    DY = DonorYear
    if kind == "giving_participation":
        gave = (
            select(Donor.user_id).join(DY, DY.donor_id == Donor.id)
            .where(DY.year == year, DY.total_minor > 0, Donor.user_id.is_not(None))
            .distinct().subquery()
        )  # fmt: skip
        key = User.record_graduation_year
        query = (
            select(literal(year), key, func.count(User.id), func.count(gave.c.user_id))
            .outerjoin(gave, gave.c.user_id == User.id)
            .where(giving_reports.alumni())
            .group_by(key)
            .order_by(key.is_(None), key)
        )  # fmt: skip
        return ["year", "graduation_year", "alumni", "donors"], query
    listed = giving_reports.lapsed(viewer, kind, year).subquery()
    last = (
        select(DY.donor_id, func.max(DY.year).label("year"))
        .where(DY.donor_id.in_(select(listed.c.id)), DY.year < year, DY.total_minor > 0)
        .group_by(DY.donor_id)
        .subquery()
    )
    query = (
        select(listed.c.name, listed.c.email, User.record_graduation_year, last.c.year,
               DY.currency, DY.total_minor)
        .join(last, last.c.donor_id == listed.c.id)
        .join(DY, (DY.donor_id == listed.c.id) & (DY.year == last.c.year))
        .outerjoin(User, User.id == listed.c.user_id)
        .order_by(listed.c.name, listed.c.id, DY.currency)
    )  # fmt: skip
    return ["name", "email", "graduation_year", "last_gift_year", "currency",
            "last_year_total"], query  # fmt: skip


def _amounts(kind: str) -> Callable[[list[Any]], list[Any]] | None:
    """What turns a row's minor units into exact amounts (the last two columns: currency,
    minor units), for the kinds that have money in them."""
    if kind not in ("lybunt", "sybunt"):
        return None

    def convert(row: list[Any]) -> list[Any]:
        return [*row[:-1], money.major_units(row[-1], row[-2])]

    return convert


async def _rows(rt: Runtime, query: Any, viewer: Viewer, columns: int) -> AsyncGenerator[list[Any]]:
    """The query's rows, streamed (a server-side cursor on PostgreSQL), a batch at a time:
    one statement however large the export, and never the whole result in memory. They
    draw on the viewer's query budget as a query's nodes would (a point a row and one a
    column), a batch at a time, waiting for it to fill when spent."""
    batch = 0
    async with rt.database.connect() as conn:
        result = await conn.stream(query.execution_options(yield_per=PAGE))
        async for row in result:
            yield list(row)
            batch += 1
            if batch == PAGE:
                await budgets.spend_patiently(rt, viewer, batch * (1 + columns))
                batch = 0
    if batch:
        await budgets.spend_patiently(rt, viewer, batch * (1 + columns))


async def produce(rt: Runtime, args: dict[str, Any]) -> dict[str, Any]:
    """Write the export; returns the stored file's id and the number of rows. The viewer's
    roles are read now: what they may see when it runs is what it holds."""
    async with rt.database.connect() as conn:
        viewer = await viewer_of(
            conn, int(args["user_id"]), args.get("scope"), required=required_roles(rt.settings)
        )
    if viewer is None:
        raise ExportFailed("The person who asked for this export can no longer sign in.")
    wanted = ExportRequest.from_args(args)
    if wanted.kind in REPORT_KINDS:
        return await _report_file(rt, viewer, wanted)
    if wanted.kind in GIVING_KINDS:
        if not viewer.can(Permission.GIVING):
            raise ExportFailed("The person who asked for this export no longer works in giving.")
    elif wanted.kind not in ("directory", "applications") and not viewer.can(
        Permission.DATA_EXPORT
    ):
        raise ExportFailed("The person who asked for this export may no longer export.")
    convert: Callable[[list[Any]], list[Any]] | None
    if wanted.kind in ACADEMICS_KINDS:
        header, query, convert = await _academics(rt, viewer, wanted)
    else:
        header, query = _source(viewer, wanted, rt.database.engine.dialect.name)
        convert = _amounts(wanted.kind)
    fmt = wanted.format
    name = f"{wanted.kind}.{fmt}"
    count = 0
    with files.LocalOutput(rt.settings.export_max_bytes) as local:
        if fmt == "xlsx":
            count = await _xlsx(rt, local, header, query, viewer, convert)
        else:
            if fmt == "csv":
                local.write(_csv_line(header))
            async with aclosing(_rows(rt, query, viewer, len(header))) as rows:
                async for found in rows:
                    row = convert(found) if convert is not None else found
                    if fmt == "csv":
                        local.write(_csv_line([neutralise(plain(v)) for v in row]))
                    else:
                        record = dict(zip(header, (plain(v) for v in row), strict=True))
                        # Amounts (Decimal) as exact text.
                        local.write(orjson.dumps(record, default=str) + b"\n")
                    count += 1
        stored = await local.store(
            rt, owner_id=viewer.user_id, name=name, content_type=FORMATS[fmt], expires_in=KEEP
        )
    return {"fileId": stored.id, "rows": count, "name": name}


async def _report_file(rt: Runtime, viewer: Viewer, wanted: ExportRequest) -> dict[str, Any]:
    """A report's table (``reports.build_table``, as the viewer may read it now) as a file:
    CSV and JSON Lines keyed by the columns' names; Excel with its charts drawn natively
    and its notes on a sheet of their own (``analytics.workbook``)."""
    from alumnet.domain.analytics import workbook

    assert wanted.since is not None
    assert wanted.until is not None
    report = REPORT_KINDS[wanted.kind]
    try:
        table = await reports.build_table(
            rt, viewer, report, DateRange(wanted.since, wanted.until), wanted.filters
        )
    except (DomainError, PermissionDenied) as exc:
        raise ExportFailed(f"The report can no longer be read as asked: {exc}") from None
    header = [c.name for c in table.columns]
    await budgets.spend_patiently(rt, viewer, len(table.rows) * (1 + len(header)))
    fmt = wanted.format
    name = f"{wanted.kind}-{wanted.since}-{wanted.until}.{fmt}"
    with files.LocalOutput(rt.settings.export_max_bytes) as local:
        if fmt == "xlsx":
            local.write(workbook.xlsx(table))
        elif fmt == "csv":
            local.write(_csv_line(header))
            for row in table.rows:
                local.write(_csv_line([neutralise(plain(v)) for v in row]))
        else:
            for row in table.rows:
                record = dict(zip(header, (plain(v) for v in row), strict=True))
                local.write(orjson.dumps(record) + b"\n")
        stored = await local.store(
            rt, owner_id=viewer.user_id, name=name, content_type=FORMATS[fmt], expires_in=KEEP
        )
    return {"fileId": stored.id, "rows": len(table.rows), "name": name}


def _csv_line(values: list[Any]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["" if v is None else v for v in values])
    return buffer.getvalue().encode("utf-8")


async def _xlsx(
    rt: Runtime,
    output: files.LocalOutput,
    header: list[str],
    query: Any,
    viewer: Viewer,
    convert: Callable[[list[Any]], list[Any]] | None = None,
) -> int:
    """An Excel file, written row by row (openpyxl's write-only mode): numbers and dates
    stay typed."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("export")
    sheet.append(header)
    count = 0
    async with aclosing(_rows(rt, query, viewer, len(header))) as rows:
        async for found in rows:
            row = convert(found) if convert is not None else found
            sheet.append([
                neutralise(v.replace(tzinfo=None) if isinstance(v, datetime) else v) for v in row
            ])  # fmt: skip
            count += 1
    with tempfile.TemporaryFile() as book_file:
        book.save(book_file)
        book_file.seek(0)
        while data := book_file.read(files.CHUNK):
            output.write(data)
    return count
