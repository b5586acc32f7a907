"""Exports: a mission's roster, attendance, submissions or points, or directory results,
as CSV, Excel (typed columns, a header row) or JSON Lines, written by a job a batch of
rows at a time into a stored file, downloaded through a short-lived signed link.

Cells that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a
carriage return) are written with a leading apostrophe in CSV and Excel.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import case, func, null, select

from alumnet.domain.data import files
from alumnet.domain.errors import DomainError
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Role, Viewer
from alumnet.domain.people import directory, privacy
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import (
    Assignment,
    AttendanceDay,
    Enrollment,
    MentorAssignment,
    Mission,
    Profile,
    Submission,
    User,
    UserRole,
)
from alumnet.persistence.uow import UnitOfWork

EXPORT_JOB = "data.export"
KINDS = ("roster", "attendance", "submissions", "points", "directory")
FORMATS = {"csv": "text/csv", "jsonl": "application/x-ndjson",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}  # fmt: skip
KEEP = timedelta(days=2)
PAGE = 2000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, made plain text."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


async def request(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    kind: str,
    format: str,
    mission_id: int | None,
    status: str | None,
    query: str | None,
    filter: dict[str, Any] | None,
) -> int:
    """Queue an export for the viewer; returns the job's id."""
    me = viewer.require_user()
    if kind not in KINDS:
        raise DomainError.of("INVALID", "Unknown kind of export.", "kind")
    if format not in FORMATS:
        raise DomainError.of("INVALID", "Unknown format.", "format")
    if kind != "directory":
        viewer.require(Permission.DATA_EXPORT)
        if mission_id is None or await uow.session.get(Mission, mission_id) is None:
            raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
    job = await uow.add_job(EXPORT_JOB, {
        "kind": kind, "format": format, "mission_id": mission_id, "status": status,
        "query": query, "filter": filter or {}, "user_id": me,
    })  # fmt: skip
    audit.record(uow, "export.request", object_type="Job", object_ids=[job.id],
                 details={"kind": kind, "format": format, "mission": mission_id})  # fmt: skip
    return int(job.id)


async def _viewer(rt: Runtime, user_id: int) -> Viewer:
    async with rt.database.connect() as conn:
        roles = await conn.execute(select(UserRole.role).where(UserRole.user_id == user_id))
        found = frozenset(Role(r) for r in roles.scalars() if r in Role.__members__)
    return Viewer(user_id=user_id, roles=found)


def _source(viewer: Viewer, args: dict[str, Any], dialect: str) -> tuple[list[str], Any]:
    """The header and the query of one kind of export."""
    mission, status = args.get("mission_id"), args.get("status")
    if args["kind"] == "roster":
        mentors = (
            select(func.count()).where(MentorAssignment.enrollment_id == Enrollment.id)
            .scalar_subquery()
        )  # fmt: skip
        query = (
            select(User.name, User.email, Enrollment.status, Enrollment.points,
                   Enrollment.created_at, mentors)
            .join(User, User.id == Enrollment.student_id)
            .where(Enrollment.mission_id == mission)
            .order_by(User.name, User.id)
        )  # fmt: skip
        if status:
            query = query.where(Enrollment.status == status)
        return ["name", "email", "status", "points", "enrolled_at", "mentors"], query
    if args["kind"] == "points":
        query = (
            select(User.name, User.email, Enrollment.points)
            .join(User, User.id == Enrollment.student_id)
            .where(Enrollment.mission_id == mission)
            .order_by(Enrollment.points.desc(), User.name)
        )  # fmt: skip
        return ["name", "email", "points"], query
    if args["kind"] == "attendance":
        query = (
            select(User.email, AttendanceDay.day, AttendanceDay.kind, AttendanceDay.status)
            .join(User, User.id == AttendanceDay.student_id)
            .where(AttendanceDay.mission_id == mission)
            .order_by(AttendanceDay.day, User.email)
        )  # fmt: skip
        return ["email", "day", "kind", "status"], query
    if args["kind"] == "submissions":
        query = (
            select(User.email, Assignment.title, Submission.submitted_at, Submission.late)
            .join(User, User.id == Submission.student_id)
            .join(Assignment, Assignment.id == Submission.assignment_id)
            .where(Submission.mission_id == mission)
            .order_by(Assignment.due_at, User.email)
        )  # fmt: skip
        return ["email", "assignment", "submitted_at", "late"], query
    given = args.get("filter") or {}
    found = directory.match(viewer, args.get("query"), directory.DirectoryFilter(
        roles=tuple(given.get("roles", ())), skills=tuple(given.get("skills", ())),
        company=given.get("company"), graduation_from=given.get("graduation_from"),
        graduation_to=given.get("graduation_to"), programme_id=given.get("programme_id"),
        country=given.get("country"),
    ), dialect)  # fmt: skip
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


async def _rows(rt: Runtime, query: Any) -> AsyncIterator[list[Any]]:
    """The query's rows, a page at a time (offset pages of a stable order)."""
    offset = 0
    while True:
        async with rt.database.connect() as conn:
            page = (await conn.execute(query.limit(PAGE).offset(offset))).all()
        for row in page:
            yield list(row)
        if len(page) < PAGE:
            return
        offset += PAGE


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


async def produce(rt: Runtime, args: dict[str, Any]) -> dict[str, Any]:
    """Write the export; returns the stored file's id and the number of rows."""
    viewer = await _viewer(rt, int(args["user_id"]))
    header, query = _source(viewer, args, rt.database.engine.dialect.name)
    fmt = str(args["format"])
    name = f"{args['kind']}.{fmt}"
    count = 0
    async with rt.transaction() as uow:
        writer = await files.new_file(
            uow.session, owner_id=viewer.user_id, name=name, content_type=FORMATS[fmt],
            expires_in=KEEP,
        )  # fmt: skip
        if fmt == "xlsx":
            count = await _xlsx(rt, writer, header, query)
        else:
            if fmt == "csv":
                await writer.write(_csv_line(header))
            async for row in _rows(rt, query):
                if fmt == "csv":
                    await writer.write(_csv_line([neutralise(_plain(v)) for v in row]))
                else:
                    record = dict(zip(header, (_plain(v) for v in row), strict=True))
                    await writer.write(orjson.dumps(record) + b"\n")
                count += 1
        stored = await writer.close()
    return {"fileId": stored.id, "rows": count, "name": name}


def _csv_line(values: list[Any]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["" if v is None else v for v in values])
    return buffer.getvalue().encode("utf-8")


async def _xlsx(rt: Runtime, writer: files.FileWriter, header: list[str], query: Any) -> int:
    """An Excel file, written row by row (openpyxl's write-only mode) to a temporary file,
    then stored: numbers and dates stay typed."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("export")
    sheet.append(header)
    count = 0
    async for row in _rows(rt, query):
        sheet.append([
            neutralise(v.replace(tzinfo=None) if isinstance(v, datetime) else v) for v in row
        ])  # fmt: skip
        count += 1
    with tempfile.TemporaryFile() as local:
        book.save(local)
        local.seek(0)
        while data := local.read(files.CHUNK):
            await writer.write(data)
    return count
