"""Imports: a spreadsheet of alumni, students, enrolments or mentor assignments, read as a
stream, checked row by row, previewed (nothing written) or run in batches, idempotent by
natural key (e-mail, student number), with every row's outcome kept for the report and
for rollback.

A run writes one batch of rows per transaction, so a bad row never stops the rest; with
``all_or_nothing`` the whole file is one transaction and any rejected row undoes it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    Text,
    cast,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import ARRAY

from alumnet.config import Settings
from alumnet.domain.data import files
from alumnet.domain.data.tabular import Table, Unreadable, normalise, open_table, plain
from alumnet.domain.errors import DomainError
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.identity.users import invite as send_invitations
from alumnet.domain.people.duplicates import email_key
from alumnet.domain.people.profiles import COUNTRY, STUDENT_NUMBER, refresh_years_of_record
from alumnet.domain.runtime import Runtime
from alumnet.persistence.db import copy_rows, insert_or_ignore
from alumnet.persistence.models import (
    AttendanceDay,
    Enrollment,
    Import,
    ImportRow,
    MentorAssignment,
    Mission,
    MissionMentor,
    Profile,
    Programme,
    StoredFile,
    Submission,
    User,
    UserRole,
)
from alumnet.persistence.uow import UnitOfWork

IMPORT_JOB = "data.import"
ROLLBACK_JOB = "data.import_rollback"
BATCH = 1000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d", "%d %B %Y",
                "%d %b %Y", "%B %d, %Y", "%b %d, %Y", "%m/%d/%Y")  # fmt: skip

KINDS: dict[str, tuple[str, ...]] = {
    "alumni": ("email", "name", "first_name", "last_name", "graduation_year", "programme",
               "phone", "company", "job_title", "city", "country", "date_of_birth"),
    "students": ("email", "name", "first_name", "last_name", "student_number", "programme",
                 "expected_graduation_year", "semester", "phone", "date_of_birth"),
    "enrollments": ("student", "email", "student_number", "mission"),
    "mentor_assignments": ("student", "email", "student_number", "mission", "mentor_email"),
}  # fmt: skip
REQUIRED = {
    "alumni": ("email", "name"), "students": ("email", "name"),
    "enrollments": ("mission",), "mentor_assignments": ("mission", "mentor_email"),
}  # fmt: skip
# Headers as offices write them, compared after `normalise` (case, spacing, punctuation and
# anything in brackets ignored): "E-mail Address", "Year of graduation (YYYY)", "D.O.B".
SYNONYMS: dict[str, tuple[str, ...]] = {
    "email": ("E-mail", "E-mail address", "Email address", "Email ID", "E-mail ID", "Mail",
              "Mail ID", "Personal email", "Personal e-mail", "Contact email",
              "Primary email", "Student email", "Student e-mail", "Student email address",
              "Alumni email", "Alumnus email", "Alumna email", "Alumni e-mail"),
    "name": ("Full name", "Fullname", "Name of student", "Student name", "Student's name",
             "Alumni name", "Alumnus name", "Alumna name", "Name of alumnus", "Display name",
             "Complete name", "Candidate name"),
    "first_name": ("First name", "Firstname", "Given name", "Given names", "Forename",
                   "Forenames", "Other names", "First names"),
    "last_name": ("Last name", "Lastname", "Surname", "Family name"),
    "graduation_year": ("Graduation year", "Year of graduation", "Grad year", "Graduated",
                        "Year graduated", "Graduation", "Class of", "Class year",
                        "Passing year", "Year of passing", "Passout year", "Pass out year",
                        "Batch year", "Completion year", "Year of completion"),
    "expected_graduation_year": ("Expected graduation year", "Expected graduation",
                                 "Expected grad year", "Expected year of graduation",
                                 "Graduating in", "Expected completion year"),
    "programme": ("Program", "Programme code", "Program code", "Course", "Course code",
                  "Degree programme", "Degree program", "Programme of study",
                  "Program of study"),
    "phone": ("Phone number", "Phone no", "Mobile", "Mobile number", "Mobile no",
              "Cell", "Cell phone", "Cellphone", "Telephone", "Telephone number", "Tel",
              "Contact number", "Contact no", "WhatsApp number"),
    "company": ("Employer", "Organisation", "Organization", "Current company",
                "Current employer", "Company name", "Workplace", "Place of work"),
    "job_title": ("Title", "Position", "Current title", "Current position", "Job",
                  "Designation", "Occupation", "Role"),
    "city": ("Town", "City/Town", "Current city", "City of residence"),
    "country": ("Country code", "Nation", "Country of residence", "Current country"),
    "date_of_birth": ("DOB", "D.O.B", "Birth date", "Birthdate", "Birthday", "Born",
                      "Date of birth"),
    "student_number": ("Student ID", "Student no", "Student No.", "Student code", "Matric",
                       "Matric no", "Matriculation number", "Index number", "Index no",
                       "Roll number", "Roll no", "Registration number", "Registration no",
                       "Reg no", "Admission number", "Admission no", "Enrolment number",
                       "Enrollment number", "ID number"),
    "semester": ("Current semester", "Term", "Sem"),
    "mission": ("Mission code", "Cohort", "Cohort code"),
    "mentor_email": ("Mentor", "Mentor e-mail", "Mentor email address",
                     "Mentor e-mail address", "Mentor's email", "Assigned mentor"),
    "student": ("Student email or number", "Learner", "Student identifier"),
}  # fmt: skip
# What a header means for one kind only: a student's "Graduation year" is the year they
# expect to graduate.
KIND_SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "students": {"expected_graduation_year": SYNONYMS["graduation_year"]},
}
# Fields a row is named by in either of two ways; `student` holds an e-mail or a number.
ANY_OF = {"enrollments": ("student", "email", "student_number"),
          "mentor_assignments": ("student", "email", "student_number")}  # fmt: skip
ROLE = {"alumni": "ALUMNUS", "students": "STUDENT"}
USER_FIELDS = ("name", "phone", "graduation_year")
# Not fields: what an update gave an existing person besides values, kept in the row's
# before and after so that a rollback takes it back.
ROLE_KEY = "role"
PROFILE_KEY = "profile"
PROFILE_CREATED = "created"
# The programme, in a row's before and after: its code (the id is not shown to people).
PROGRAMME_KEY = "programme"
PROFILE_FIELDS = ("company", "job_title", "city", "country", "date_of_birth", "programme_id",
                  "student_number", "expected_graduation_year", "semester")  # fmt: skip


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise DomainError.of("INVALID", "Unknown kind of import.", "kind")


def synonyms(kind: str, field_name: str) -> tuple[str, ...]:
    """The headers besides the field's own name that fill it in an import of ``kind``."""
    return SYNONYMS.get(field_name, ()) + KIND_SYNONYMS.get(kind, {}).get(field_name, ())


def header_fields(kind: str) -> dict[str, str]:
    """Normalised header → the field it fills, for an import of ``kind``."""
    fields = KINDS[kind]
    found = {normalise(f): f for f in fields}
    for name in fields:
        for header in synonyms(kind, name):
            found.setdefault(normalise(header), name)
    return found


def map_columns(headers: list[str], kind: str, override: dict[str, str] | None) -> dict[int, str]:
    """Which column holds which field: the caller's mapping (header → field, or "" to
    ignore a column) first, then headers matched regardless of case, spacing, punctuation,
    anything in brackets and common synonyms. Refuses a file whose required fields cannot
    all be found, or where two columns would fill one field."""
    fields = KINDS[kind]
    given = {normalise(h): f for h, f in (override or {}).items()}
    for field_name in given.values():
        if field_name and field_name not in fields:
            raise DomainError.of("INVALID", f"{field_name!r} is not a field of this import.",
                                 "mapping")  # fmt: skip
    lookup = header_fields(kind)
    mapping: dict[int, str] = {}
    for index, header in enumerate(headers):
        key = normalise(header)
        target: str | None = given[key] if key in given else lookup.get(key)
        if not target:
            continue
        if target in mapping.values():
            raise DomainError.of(
                "DUPLICATE_COLUMN",
                f"Two columns would fill {target!r} (one is {header!r}); map one of them to "
                "another field or to nothing.",
                "mapping",
            )
        mapping[index] = target
    mapped = set(mapping.values())
    if "name" not in mapped and "first_name" in mapped:
        mapped.add("name")  # made of the first and last names
    missing = [f for f in REQUIRED[kind] if f not in mapped]
    if kind in ANY_OF and not set(ANY_OF[kind]) & mapped:
        missing.append("email or student_number")
    if missing:
        raise DomainError.of("MISSING_COLUMNS", f"No column for: {', '.join(missing)}.",
                             "mapping")  # fmt: skip
    return mapping


@dataclass
class Candidate:
    row_number: int
    values: dict[str, Any] = field(default_factory=dict)
    problems: list[dict[str, str]] = field(default_factory=list)

    def problem(self, column: str, code: str, message: str) -> None:
        self.problems.append({"field": column, "code": code, "message": message})


def _require(kind: str, c: Candidate) -> None:
    for required in REQUIRED[kind]:
        if required not in c.values and not any(p["field"] == required for p in c.problems):
            c.problem(required, "REQUIRED", f"{required} is required.")


def parse_date(text: str) -> date | None:
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def _int(c: Candidate, name: str, text: str, low: int, high: int) -> None:
    try:
        value = int(float(text))
    except ValueError:
        c.problem(name, "INVALID", f"{text[:40]!r} is not a number.")
        return
    if not low <= value <= high:
        c.problem(name, "OUT_OF_RANGE", f"{value} is not between {low} and {high}.")
        return
    c.values[name] = value


def candidate(row_number: int, cells: list[str], mapping: dict[int, str], width: int) -> Candidate:
    c = Candidate(row_number)
    student: dict[str, str] = {}
    if len(cells) > width and any(cells[width:]):
        c.problem("", "RAGGED_ROW", f"The row has {len(cells)} cells; the header has {width}.")
    this_year = datetime.now(UTC).year
    for index, name in mapping.items():
        text = cells[index].strip() if index < len(cells) else ""
        if not text:
            continue
        if "\x00" in text or len(text) > 500:
            c.problem(name, "INVALID", "The cell is too long or holds control characters.")
        elif name in ("email", "mentor_email"):
            if EMAIL.match(text) and len(text) <= 254:
                c.values[name] = text
            else:
                c.problem(name, "INVALID", f"{text[:60]!r} is not an e-mail address.")
        elif name in ("graduation_year", "expected_graduation_year"):
            _int(c, name, text, 1900, this_year + 10)
        elif name == "semester":
            _int(c, name, text, 1, 20)
        elif name == "date_of_birth":
            born = parse_date(text)
            if born is None or not date(1900, 1, 1) <= born <= datetime.now(UTC).date():
                c.problem(name, "INVALID", f"{text[:40]!r} is not a date of birth.")
            else:
                c.values[name] = born
        elif name == "country":
            if COUNTRY.match(text.upper()):
                c.values[name] = text.upper()
            else:
                c.problem(name, "INVALID", "A country is its two-letter ISO code, e.g. GH.")
        elif name == "student_number":
            if STUDENT_NUMBER.match(text):
                c.values[name] = text
            else:
                c.problem(name, "INVALID", "A student number is 3 to 32 letters, digits, - or /.")
        elif name == "student":
            if EMAIL.match(text) and len(text) <= 254:
                student["email"] = text
            elif STUDENT_NUMBER.match(text):
                student["student_number"] = text
            else:
                c.problem(
                    name,
                    "INVALID",
                    f"{text[:60]!r} is neither an e-mail address nor a student number.",
                )
        else:
            c.values[name] = " ".join(text.split())[:200]
    for key, value in student.items():  # a column of its own says it first
        c.values.setdefault(key, value)
    first, last = c.values.pop("first_name", None), c.values.pop("last_name", None)
    if "name" not in c.values and first:
        c.values["name"] = f"{first} {last}" if last else first
    return c


@dataclass
class Progress:
    total: int = 0
    processed: int = 0
    counts: dict[str, int] = field(
        default_factory=lambda: {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}
    )


Report = Callable[[Progress], Awaitable[None]]


async def create(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    kind: str,
    filename: str,
    read: Callable[[int], Awaitable[bytes]],
    mapping: dict[str, str] | None,
    all_or_nothing: bool,
    dry_run: bool,
    limit: int,
    invite: bool = False,
) -> Import:
    """Store an upload (a chunk at a time, refusing it once past ``limit`` bytes) and
    record the import; the caller starts its job."""
    if viewer.user_id is not None or viewer.via != "cli":
        viewer.require(Permission.DATA_IMPORT)
    check_kind(kind)
    writer = await files.new_file(
        uow.session, owner_id=viewer.user_id, name=filename,
        content_type="application/octet-stream", expires_in=None, limit=limit,
    )  # fmt: skip
    try:
        while data := await read(files.CHUNK):
            await writer.write(data)
    except files.TooLarge as exc:
        raise DomainError.of("TOO_LARGE", str(exc), "file") from None
    stored = await writer.close()
    if stored.size == 0:
        raise DomainError.of("EMPTY", "The file is empty.", "file")
    record = Import(
        kind=kind, status="uploaded", file_id=stored.id, filename=filename[:255],
        sha256=stored.sha256 or "", size=stored.size, mapping=mapping or {},
        all_or_nothing=all_or_nothing, dry_run=dry_run, invite=invite,
        created_by_id=viewer.user_id, created_at=datetime.now(UTC),
    )  # fmt: skip
    uow.session.add(record)
    await uow.session.flush()
    audit.record(
        uow, "import.upload", object_type="Import", object_ids=[record.id],
        details={"kind": kind, "file": filename[:255], "sha256": record.sha256,
                 "size": record.size, "dryRun": dry_run, "invite": invite},
    )  # fmt: skip
    return record


async def start(
    uow: UnitOfWork, record: Import, *, dry_run: bool, invite: bool | None = None
) -> int:
    """Queue a preview or a run. A run happens once: its rows are the rollback's record (a
    completed import is uploaded again to run again), so its job is never retried."""
    if record.status == "completed" or (record.status in ("uploaded", "running")
                                         and record.job_id is not None):  # fmt: skip
        raise DomainError.of(
            "INVALID",
            "This import is running or has run; upload the file again to run it again.",
            "importId",
        )
    record.dry_run = dry_run
    if invite is not None:
        record.invite = invite
    job = await uow.add_job(IMPORT_JOB, {"import_id": record.id}, max_attempts=1)
    record.job_id = job.id
    return job.id


async def execute(rt: Runtime, import_id: int, report: Report | None = None) -> dict[str, Any]:
    """Preview or run an import (as its ``dry_run`` says), in batches."""
    async with rt.database.session() as session:
        record = await session.get(Import, import_id)
        if record is None:
            raise LookupError("no such import")
        if record.status in ("completed", "rolling_back", "rolled_back"):
            return {"skipped": record.status}
        kind, dry_run, all_or_nothing = record.kind, record.dry_run, record.all_or_nothing
        invite = record.invite
        file_id, override = record.file_id, dict(record.mapping or {})
        record.status = "running"
        await session.execute(delete(ImportRow).where(ImportRow.import_id == import_id))
        await session.commit()
    assert file_id is not None
    local = await files.spool(rt.database, file_id)
    try:
        try:
            table = open_table(local)
            mapping = map_columns(table.headers, kind, override)
        except (Unreadable, DomainError) as exc:
            message = str(exc) if isinstance(exc, Unreadable) else exc.problems[0].message
            await _finish(rt, import_id, Progress(), status="failed", error=message)
            return {"error": message}
        progress = Progress()
        outcome = await _process(rt, import_id, kind, table, mapping, dry_run=dry_run,
                                 all_or_nothing=all_or_nothing, progress=progress,
                                 report=report, invite=invite)  # fmt: skip
    finally:
        local.close()
    status = "previewed" if dry_run else ("failed" if outcome else "completed")
    await _finish(rt, import_id, progress, status=status, error=outcome)
    return {"status": status, **progress.counts, "total": progress.total}


def _batches(table: Table, mapping: dict[int, str]) -> Iterator[list[Candidate]]:
    width = len(table.headers)
    batch: list[Candidate] = []
    for number, cells in table.rows:
        batch.append(candidate(number, cells, mapping, width))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class _Abort(Exception):
    pass


@dataclass
class _State:
    """What one import run remembers across batches."""

    seen: set[str] = field(default_factory=set)  # natural keys met so far in the file
    programmes: dict[str, int | None] = field(default_factory=dict)
    missions: dict[str, int | None] = field(default_factory=dict)
    outcome: dict[int, str] = field(default_factory=dict)  # row number → counted outcome
    rejected: list[dict[str, Any]] = field(default_factory=list)
    # Set when the people a run creates are invited: the settings their links are made with.
    invite: Settings | None = None


async def _process(
    rt: Runtime,
    import_id: int,
    kind: str,
    table: Table,
    mapping: dict[int, str],
    *,
    dry_run: bool,
    all_or_nothing: bool,
    progress: Progress,
    report: Report | None,
    invite: bool = False,
) -> str | None:
    """Every batch; returns why the whole import failed (all-or-nothing), if it did."""
    apply = not dry_run
    state = _State(invite=rt.settings if invite and apply else None)
    if not (all_or_nothing and apply):
        for batch in _batches(table, mapping):
            async with rt.transaction() as uow:
                await _record_rows(uow, await _batch(uow, import_id, kind, batch, state, apply))
            _count(progress, batch, state)
            await _progress(rt, import_id, progress, report)
        return None
    try:
        async with rt.transaction() as whole:
            for batch in _batches(table, mapping):
                await _record_rows(whole, await _batch(whole, import_id, kind, batch, state, apply))
                _count(progress, batch, state)
                if progress.counts["rejected"]:
                    raise _Abort
                await _progress(rt, import_id, progress, report)
    except _Abort:
        async with rt.transaction() as uow:  # keep why, for the report
            await _record_rows(uow, state.rejected)
        return (
            f"Row {state.rejected[0]['row_number']} was rejected; nothing was written "
            "(all or nothing)."
        )
    return None


def _count(progress: Progress, batch: list[Candidate], state: _State) -> None:
    progress.processed += len(batch)
    progress.total = progress.processed
    for c in batch:
        progress.counts[state.outcome.pop(c.row_number)] += 1


async def _progress(rt: Runtime, import_id: int, progress: Progress, report: Report | None) -> None:
    async with rt.transaction() as uow:
        await uow.session.execute(
            update(Import)
            .where(Import.id == import_id)
            .values(total=progress.total, processed=progress.processed, **progress.counts)
        )
        uow.publish(channel(import_id), {"id": import_id})
    if report is not None:
        await report(progress)


async def _finish(
    rt: Runtime, import_id: int, progress: Progress, *, status: str, error: str | None
) -> None:
    async with rt.transaction() as uow:
        await uow.session.execute(
            update(Import).where(Import.id == import_id).values(
                status=status, error=error, finished_at=datetime.now(UTC),
                total=progress.total, processed=progress.processed, **progress.counts,
            )
        )  # fmt: skip
        if status == "completed":
            # Run once, and rolled back from its rows: the spreadsheet (everyone's data in
            # it, kept whole) is needed no more. Its name, size and checksum stay.
            await uow.session.execute(
                delete(StoredFile).where(
                    StoredFile.id == select(Import.file_id).where(Import.id == import_id)
                    .scalar_subquery()
                )
            )  # fmt: skip
        uow.publish(channel(import_id), {"id": import_id})


def channel(import_id: int) -> str:
    return f"import:{import_id}:progress"


async def _record_rows(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    await copy_rows(uow.session, ImportRow.__table__, rows)


def _row(import_id: int, c: Candidate, action: str, **extra: Any) -> dict[str, Any]:
    return {"import_id": import_id, "row_number": c.row_number, "action": action,
            "natural_key": extra.pop("key", None), "target_type": extra.pop("target", None),
            "target_id": extra.pop("target_id", None), "problems": c.problems or None,
            "duplicates": extra.pop("duplicates", None), "before": extra.pop("before", None),
            "after": extra.pop("after", None)}  # fmt: skip


def _as_json(values: dict[str, Any]) -> dict[str, Any]:
    return {k: plain(v) for k, v in values.items()}


async def _batch(
    uow: UnitOfWork,
    import_id: int,
    kind: str,
    batch: list[Candidate],
    state: _State,
    apply: bool,
) -> list[dict[str, Any]]:
    """One batch: the rows to record; applies them unless previewing."""
    if kind in ROLE:
        rows = await _people(uow, import_id, kind, batch, state, apply)
    else:
        rows = await _memberships(uow, import_id, kind, batch, state, apply)
    for row in rows:
        outcome = {"create": "created", "update": "updated"}.get(row["action"], row["action"])
        outcome = {"reject": "rejected"}.get(outcome, outcome)
        if apply and row["action"] in ("create", "update", "reject"):
            row["action"] = outcome
        state.outcome[row["row_number"]] = outcome
        if outcome == "rejected":
            state.rejected.append(row)
    return rows


async def _programme_ids(uow: UnitOfWork, state: _State, codes: set[str]) -> None:
    wanted = [c for c in codes if c.upper() not in state.programmes]
    if wanted:
        found = await uow.session.execute(
            select(Programme.code, Programme.id).where(
                func.upper(Programme.code).in_([c.upper() for c in wanted])
            )
        )
        known = {str(code).upper(): int(i) for code, i in found.all()}
        for code in wanted:
            state.programmes[code.upper()] = known.get(code.upper())


def _namesakes(session: Any, pairs: list[tuple[str, int]]) -> Select[Any]:
    """The users with one of these (name as written, graduation year) pairs. On PostgreSQL,
    a join with the pairs unnested from two arrays: a row-value IN list of a thousand pairs
    was planned as a thousand ORed index probes (133 ms a batch, against 6 ms)."""
    columns = (User.id, func.lower(User.name), User.graduation_year, User.email_lower)
    if session.bind.dialect.name != "postgresql":
        return select(*columns).where(
            tuple_(User.name, User.graduation_year).in_(pairs or [("", -1)])
        )
    wanted = (
        func.unnest(
            cast([n for n, _ in pairs], ARRAY(Text)), cast([y for _, y in pairs], ARRAY(Integer))
        )
        .table_valued("name", "year")
        .render_derived(name="wanted")
    )
    return select(*columns).join(
        wanted, (User.name == wanted.c.name) & (User.graduation_year == wanted.c.year)
    )


async def _people(
    uow: UnitOfWork,
    import_id: int,
    kind: str,
    batch: list[Candidate],
    state: _State,
    apply: bool,
) -> list[dict[str, Any]]:
    session = uow.session
    emails = [c.values["email"].lower() for c in batch if "email" in c.values]
    found_users = await session.execute(
        select(User.id, User.email_lower, *[User.__table__.c[f] for f in USER_FIELDS])
        .where(User.email_lower.in_(emails))
    )  # fmt: skip
    users = {str(r.email_lower): r for r in found_users.all()}
    found_profiles = await session.execute(
        select(Profile.user_id, *[Profile.__table__.c[f] for f in PROFILE_FIELDS])
        .where(Profile.user_id.in_([r.id for r in users.values()]))
    )  # fmt: skip
    profiles = {int(r.user_id): r for r in found_profiles.all()}
    with_role = set(
        (await session.execute(
            select(UserRole.user_id).where(
                UserRole.role == ROLE[kind], UserRole.user_id.in_([r.id for r in users.values()])
            )
        )).scalars()
    )  # fmt: skip
    numbers = [c.values["student_number"] for c in batch if "student_number" in c.values]
    taken = dict(
        (await session.execute(
            select(Profile.student_number, Profile.user_id)
            .where(Profile.student_number.in_(numbers))
        )).all()
    )  # fmt: skip
    await _programme_ids(
        uow, state, {c.values["programme"] for c in batch if "programme" in c.values}
    )
    # Namesakes of the people to be created, by name as written and graduation year (the
    # name index answers it); other near misses are left to the nightly duplicate check.
    pairs = {
        (c.values["name"], c.values.get("graduation_year")) for c in batch
        if "name" in c.values and c.values.get("email", "").lower() not in users
    }  # fmt: skip
    alike = await session.execute(_namesakes(session, [(n, y) for n, y in pairs if y is not None]))
    namesakes: dict[tuple[str, Any], list[tuple[int, str]]] = {}
    for uid, name, year, address in alike.all():
        namesakes.setdefault((name, year), []).append((int(uid), str(address)))
    rows: list[dict[str, Any]] = []
    creates: list[tuple[Candidate, dict[str, Any], dict[str, Any]]] = []
    updates: list[tuple[Candidate, int, dict[str, Any], dict[str, Any], dict[str, Any]]] = []
    for c in batch:
        _require(kind, c)
        key = c.values.get("email", "").lower()
        if key and key in state.seen:
            c.problem("email", "DUPLICATE_IN_FILE", "An earlier row has the same e-mail.")
        if "programme" in c.values and state.programmes.get(c.values["programme"].upper()) is None:
            c.problem("programme", "NOT_FOUND", f"No programme {c.values['programme']!r}.")
        number = c.values.get("student_number")
        user = users.get(key)
        if number and number in taken and (user is None or taken[number] != user.id):
            c.problem("student_number", "TAKEN", "Another person has this student number.")
        if c.problems:
            rows.append(_row(import_id, c, "reject", key=key or None))
            continue
        state.seen.add(key)
        if number:
            taken[number] = user.id if user is not None else -c.row_number
        wanted_user = {f: c.values[f] for f in USER_FIELDS if f in c.values}
        wanted_profile = {f: c.values[f] for f in PROFILE_FIELDS if f in c.values}
        if "programme" in c.values:
            wanted_profile["programme_id"] = state.programmes[c.values["programme"].upper()]
        wanted_profile.pop("graduation_year", None)
        if user is None:
            dupes = [
                uid for uid, address in namesakes.get(
                    (c.values["name"].lower(), c.values.get("graduation_year")), [])
                if address != key
            ] + [uid for address, u in users.items() if address != key
                 and email_key(address) == email_key(key) for uid in [u.id]]  # fmt: skip
            creates.append((c, wanted_user, wanted_profile))
            rows.append(_row(import_id, c, "create", key=key, target="User",
                             duplicates=dupes or None,
                             after=_as_json(wanted_user | wanted_profile)))  # fmt: skip
            continue
        profile = profiles.get(int(user.id))
        before_user = {
            f: getattr(user, f) for f in wanted_user if getattr(user, f) != wanted_user[f]
        }
        before_profile = {
            f: getattr(profile, f) if profile is not None else None for f in wanted_profile
            if (getattr(profile, f) if profile is not None else None) != wanted_profile[f]
        }  # fmt: skip
        changed_user = {f: wanted_user[f] for f in before_user}
        changed_profile = {f: wanted_profile[f] for f in before_profile}
        # What else the row gives an existing person, to be undone with it: the role of the
        # kind of import (a student listed among alumni becomes one), and a profile.
        added_before: dict[str, Any] = {}
        added_after: dict[str, Any] = {}
        if user.id not in with_role:
            added_before[ROLE_KEY], added_after[ROLE_KEY] = None, ROLE[kind]
        if profile is None and changed_profile:
            added_before[PROFILE_KEY], added_after[PROFILE_KEY] = None, PROFILE_CREATED
        if not changed_user and not changed_profile and not added_after:
            rows.append(_row(import_id, c, "unchanged", key=key, target="User", target_id=user.id))
            continue
        updates.append((c, int(user.id), changed_user, changed_profile, before_profile))
        rows.append(_row(import_id, c, "update", key=key, target="User", target_id=user.id,
                         before=_as_json(before_user | before_profile | added_before),
                         after=_as_json(changed_user | changed_profile | added_after)))  # fmt: skip
    if apply:
        await _apply_people(uow, kind, creates, updates, profiles, rows, state.invite)
    await _programmes_by_code(uow, rows)
    return rows


async def _programmes_by_code(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    """The report's values name a programme by its code, as the file does, not by its id
    (after the rows are applied, which write the ids)."""
    ids = {v for r in rows for values in (r["before"], r["after"]) if values
           for k, v in values.items() if k == "programme_id" and v is not None}  # fmt: skip
    codes: dict[Any, Any] = {}
    if ids:
        found = await uow.session.execute(
            select(Programme.id, Programme.code).where(Programme.id.in_(list(ids)))
        )
        codes = dict(found.all())
    for r in rows:
        for values in (r["before"], r["after"]):
            if values and "programme_id" in values:
                values[PROGRAMME_KEY] = codes.get(values.pop("programme_id"))


async def _apply_people(
    uow: UnitOfWork,
    kind: str,
    creates: list[tuple[Candidate, dict[str, Any], dict[str, Any]]],
    updates: list[tuple[Candidate, int, dict[str, Any], dict[str, Any], dict[str, Any]]],
    profiles: dict[int, Any],
    rows: list[dict[str, Any]],
    invite: Settings | None,
) -> None:
    session = uow.session
    now = datetime.now(UTC)
    by_row = {r["row_number"]: r for r in rows}
    if creates:
        made = await session.execute(
            insert(User).returning(User.id, sort_by_parameter_order=True),
            [{"email": c.values["email"], "email_lower": c.values["email"].lower(),
              "name": u["name"], "phone": u.get("phone"),
              "graduation_year": u.get("graduation_year") or p.get("expected_graduation_year"),
              # Staff set it, so it is the year on record too (announcements go by it).
              "staff_graduation_year":
                  u.get("graduation_year") or p.get("expected_graduation_year"),
              "record_graduation_year":
                  u.get("graduation_year") or p.get("expected_graduation_year"),
              "status": "active", "created_at": now, "updated_at": now}
             for c, u, p in creates],
        )  # fmt: skip
        ids = [int(i) for i in made.scalars()]
        await session.execute(insert(UserRole), [{"user_id": i, "role": ROLE[kind]} for i in ids])
        await session.execute(
            insert(Profile),
            [_new_profile(i, p, now) for i, (_, _, p) in zip(ids, creates, strict=True)],
        )
        for i, (c, _, _) in zip(ids, creates, strict=True):
            by_row[c.row_number]["target_id"] = i
        if invite is not None:
            people = [(i, row.values["email"], str(values["name"]))
                      for i, (row, values, _) in zip(ids, creates, strict=True)]  # fmt: skip
            await send_invitations(uow, invite, people)
    staff_set = []
    for _, user_id, user_values, profile_values, _ in updates:
        year = user_values.get("graduation_year") or profile_values.get("expected_graduation_year")
        if year is not None:
            staff_set.append(user_id)
            await session.execute(
                update(User).where(User.id == user_id).values(staff_graduation_year=year)
            )
        if user_values:
            await session.execute(
                update(User).where(User.id == user_id).values(**user_values, updated_at=now)
            )
        if profile_values:
            if user_id in profiles:
                await session.execute(
                    update(Profile).where(Profile.user_id == user_id)
                    .values(**profile_values, updated_at=now)
                )  # fmt: skip
            else:
                await session.execute(
                    insert(Profile).values(_new_profile(user_id, profile_values, now))
                )
        await insert_or_ignore(session, UserRole, {"user_id": user_id, "role": ROLE[kind]},
                               ["user_id", "role"])  # fmt: skip
    if staff_set:
        await refresh_years_of_record(uow, staff_set)


def _new_profile(user_id: int, values: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {"user_id": user_id, "record_status": "unverified", "contact_visibility": "staff",
            "work_visibility": "everyone", "education_visibility": "everyone",
            "location_visibility": "everyone", "show_viewers": False,
            "open_to_students": False, "created_at": now, "updated_at": now,
            **values}  # fmt: skip


async def _memberships(
    uow: UnitOfWork,
    import_id: int,
    kind: str,
    batch: list[Candidate],
    state: _State,
    apply: bool,
) -> list[dict[str, Any]]:
    """Enrolments (student and mission) or mentor assignments (and a mentor)."""
    session = uow.session
    emails = [
        c.values[k].lower() for c in batch for k in ("email", "mentor_email") if k in c.values
    ]
    found_people = await session.execute(
        select(User.email_lower, User.id).where(User.email_lower.in_(emails))
    )
    people = dict(found_people.all())
    numbers = [c.values["student_number"] for c in batch if "student_number" in c.values]
    by_number = dict(
        (await session.execute(select(Profile.student_number, Profile.user_id)
                               .where(Profile.student_number.in_(numbers)))).all()
    )  # fmt: skip
    codes = [c.values["mission"] for c in batch if "mission" in c.values]
    wanted = [m for m in codes if m.upper() not in state.missions]
    if wanted:
        found = await session.execute(
            select(Mission.code, Mission.id).where(
                func.upper(Mission.code).in_([m.upper() for m in wanted])
            )
        )
        known = {str(code).upper(): int(i) for code, i in found.all()}
        for code in wanted:
            state.missions[code.upper()] = known.get(code.upper())
    mentors = set(
        (await session.execute(
            select(UserRole.user_id).where(UserRole.role == "MENTOR",
                                           UserRole.user_id.in_(list(people.values())))
        )).scalars()
    )  # fmt: skip
    students = {
        people.get(c.values.get("email", "").lower())
        or by_number.get(c.values.get("student_number"))
        for c in batch
    } - {None}
    enrolled = {
        (int(m), int(s)): int(e) for e, m, s in (await session.execute(
            select(Enrollment.id, Enrollment.mission_id, Enrollment.student_id)
            .where(Enrollment.student_id.in_(list(students)))
        )).all()
    }  # fmt: skip
    assigned: set[tuple[int, int | None]] = set(
        (await session.execute(
            select(MentorAssignment.enrollment_id, MentorAssignment.mentor_id)
            .where(MentorAssignment.enrollment_id.in_(list(enrolled.values())))
        )).all()
    )  # fmt: skip
    # A mentor of a whole mission is not a student of it.
    whole_mentors: set[tuple[int, int]] = {
        (int(m), int(u)) for m, u in (await session.execute(
            select(MissionMentor.mission_id, MissionMentor.mentor_id)
            .where(MissionMentor.mentor_id.in_(list(students)))
        )).all()
    }  # fmt: skip
    rows: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    for c in batch:
        _require(kind, c)
        student = people.get(c.values.get("email", "").lower()) or by_number.get(
            c.values.get("student_number")
        )
        mission = state.missions.get(c.values.get("mission", "").upper())
        if student is None and not c.problems:
            c.problem("email", "NOT_FOUND", "No such student (by e-mail or student number).")
        if mission is None and "mission" in c.values:
            c.problem("mission", "NOT_FOUND", f"No mission {c.values['mission']!r}.")
        mentor = people.get(c.values.get("mentor_email", "").lower())
        if kind == "mentor_assignments" and "mentor_email" in c.values and mentor not in mentors:
            c.problem("mentor_email", "NOT_FOUND", "No mentor with this e-mail.")
        # Which rows say the same is decided by ids (an e-mail and a student number may
        # name one student); the report names them as the file did.
        same = f"{student}:{mission}:{mentor}"
        key = _shown_key(c)
        if not c.problems and same in state.seen:
            c.problem("", "DUPLICATE_IN_FILE", "An earlier row says the same.")
        if c.problems:
            rows.append(_row(import_id, c, "reject", key=key))
            continue
        state.seen.add(same)
        assert student is not None
        assert mission is not None
        enrollment = enrolled.get((mission, int(student)))
        if kind == "enrollments":
            if enrollment is None and (mission, int(student)) in whole_mentors:
                c.problem(
                    "email",
                    "MISSION_MENTOR",
                    "This person mentors the whole mission; they cannot study in it.",
                )
                rows.append(_row(import_id, c, "reject", key=key))
                continue
            if enrollment is not None:
                rows.append(_row(import_id, c, "unchanged", key=key, target="Enrollment",
                                 target_id=enrollment))  # fmt: skip
                continue
            target = None
            if apply:
                made = await session.execute(
                    insert(Enrollment).returning(Enrollment.id).values(
                        mission_id=mission, student_id=student, status="active",
                        created_at=now, updated_at=now,
                    )
                )  # fmt: skip
                target = int(made.scalar_one())
                enrolled[(mission, int(student))] = target
            rows.append(_row(import_id, c, "create", key=key, target="Enrollment",
                             target_id=target, after={"status": "active"}))  # fmt: skip
            continue
        if enrollment is None:
            c.problem("mission", "NOT_ENROLLED", "The student is not enrolled in this mission.")
            rows.append(_row(import_id, c, "reject", key=key))
            continue
        if (enrollment, mentor) in assigned:
            rows.append(_row(import_id, c, "unchanged", key=key, target="MentorAssignment"))
            continue
        target = None
        if apply:
            made = await session.execute(
                insert(MentorAssignment).returning(MentorAssignment.id).values(
                    enrollment_id=enrollment, mission_id=mission, student_id=student,
                    mentor_id=mentor, created_at=now,
                )
            )  # fmt: skip
            target = int(made.scalar_one())
        assigned.add((enrollment, mentor))
        rows.append(_row(import_id, c, "create", key=key, target="MentorAssignment",
                         target_id=target, after={}))  # fmt: skip
    return rows


def _shown_key(c: Candidate) -> str | None:
    """A membership row as the file names it: the student (e-mail or number), the mission
    and the mentor, never an id."""
    parts = [c.values.get("email") or c.values.get("student_number"), c.values.get("mission"),
             c.values.get("mentor_email")]  # fmt: skip
    shown = " / ".join(str(p) for p in parts if p)
    return shown[:255] or None


async def request_rollback(uow: UnitOfWork, viewer: Viewer, import_id: int) -> Import:
    viewer.require(Permission.DATA_IMPORT)
    record = await uow.session.get(Import, import_id, with_for_update=True)
    if record is None:
        raise DomainError.of("NOT_FOUND", "No such import.", "importId")
    if record.status != "completed":
        raise DomainError.of("NOT_ROLLBACKABLE", "Only a completed import can be rolled back.",
                             "importId")  # fmt: skip
    record.status = "rolling_back"
    job = await uow.add_job(ROLLBACK_JOB, {"import_id": import_id})
    record.job_id = job.id
    audit.record(uow, "import.rollback", object_type="Import", object_ids=[import_id])
    return record


async def rollback(rt: Runtime, import_id: int) -> dict[str, Any]:
    """Undo what an import created or changed, newest first, except what changed since
    (reported, not overwritten)."""
    undone, kept = 0, []
    last = None
    while True:
        async with rt.transaction() as uow:
            query = (
                select(ImportRow)
                .where(ImportRow.import_id == import_id,
                       ImportRow.action.in_(("created", "updated")))
                .order_by(ImportRow.row_number.desc()).limit(BATCH)
            )  # fmt: skip
            if last is not None:
                query = query.where(ImportRow.row_number < last)
            rows = (await uow.session.execute(query)).scalars().all()
            if not rows:
                break
            last = rows[-1].row_number
            for row in rows:
                if await _undo(uow, row):
                    undone += 1
                    row.action = "rolled_back"
                else:
                    kept.append(row.row_number)
    async with rt.transaction() as uow:
        await uow.session.execute(
            update(Import).where(Import.id == import_id).values(status="rolled_back")
        )
        uow.publish(channel(import_id), {"id": import_id})
    return {"undone": undone, "changedSince": kept[:1000], "changedSinceCount": len(kept)}


def _as_created(profile: Profile, imported: Iterable[str]) -> bool:
    """Whether a profile an import created still holds nothing but what it was created
    with: the imported fields (checked by the caller) and the defaults for the rest."""
    fresh = _new_profile(profile.user_id, {}, profile.created_at)
    skip = {*imported, "user_id", "created_at", "updated_at"}
    for attribute in sa_inspect(Profile).column_attrs:
        key = attribute.key
        if key in skip or key.startswith("search_"):
            continue  # the search columns follow the others
        if getattr(profile, key) != fresh.get(key):
            return False
    return True


async def _undo(uow: UnitOfWork, row: ImportRow) -> bool:
    """Undo one row if what it wrote is still there as it was written."""
    session = uow.session
    if row.target_id is None:
        return False
    if row.target_type == "User":
        user = await session.get(User, row.target_id)
        profile = await session.get(Profile, row.target_id)
        if user is None:
            return False
        now_values = {f: getattr(user, f) for f in USER_FIELDS}
        if profile is not None:
            now_values |= {f: getattr(profile, f) for f in PROFILE_FIELDS}
            now_values[PROFILE_KEY] = PROFILE_CREATED
        added_role = (row.after or {}).get(ROLE_KEY) if row.action == "updated" else None
        if added_role is not None:
            has_role = await session.get(UserRole, (user.id, added_role))
            now_values[ROLE_KEY] = added_role if has_role is not None else None
        written = dict(row.after or {})
        if PROGRAMME_KEY in written or PROGRAMME_KEY in (row.before or {}):
            programme = now_values.pop("programme_id", None)
            now_values[PROGRAMME_KEY] = (
                await session.scalar(select(Programme.code).where(Programme.id == programme))
                if programme is not None else None
            )  # fmt: skip
        if any(plain(now_values.get(k)) != v for k, v in written.items()):
            return False
        if row.action == "created":
            # Not someone who has signed in or taken part since: deleting the account would
            # take their enrolments, attendance and points with it.
            taken_part = await session.execute(
                select(or_(
                    exists().where(Enrollment.student_id == user.id),
                    exists().where(MentorAssignment.mentor_id == user.id),
                ))
            )  # fmt: skip
            if user.last_sign_in_at is not None or taken_part.scalar():
                return False
            await session.delete(user)
            return True
        restored = {k: (date.fromisoformat(v) if k == "date_of_birth" and v else v)
                    for k, v in (row.before or {}).items()}  # fmt: skip
        if PROGRAMME_KEY in restored:
            code = restored.pop(PROGRAMME_KEY)
            restored["programme_id"] = (
                await session.scalar(select(Programme.id).where(Programme.code == code))
                if code is not None else None
            )  # fmt: skip
            if code is not None and restored["programme_id"] is None:
                return False  # the programme is gone or was renamed: nothing to go back to
        user_values = {k: v for k, v in restored.items() if k in USER_FIELDS}
        profile_values = {k: v for k, v in restored.items() if k in PROFILE_FIELDS}
        if user_values:
            await session.execute(update(User).where(User.id == user.id).values(**user_values))
        if added_role is not None:
            await session.execute(
                delete(UserRole).where(UserRole.user_id == user.id, UserRole.role == added_role)
            )
        made_profile = PROFILE_KEY in (row.before or {})
        imported = [("programme_id" if k == PROGRAMME_KEY else k) for k in written]
        imported = [k for k in imported if k in PROFILE_FIELDS]
        if made_profile and profile is not None and _as_created(profile, imported):
            await session.delete(profile)  # created by the import, untouched since
            return True
        if made_profile:
            # Created by the import, and given more since: kept, without what was imported.
            profile_values = {k: restored.get(k) for k in imported}
        if profile_values and profile is not None:
            await session.execute(
                update(Profile).where(Profile.user_id == user.id).values(**profile_values)
            )
        return True
    if row.target_type == "Enrollment":
        found = await session.get(Enrollment, row.target_id)
        if found is None or found.status != "active" or found.points:
            return False
        used = await session.execute(
            select(or_(
                exists().where(AttendanceDay.enrollment_id == found.id),
                exists().where(Submission.enrollment_id == found.id),
                exists().where(MentorAssignment.enrollment_id == found.id),
            ))
        )  # fmt: skip
        if used.scalar():  # attendance, work or a mentor since: keep it
            return False
        await session.delete(found)
        return True
    if row.target_type == "MentorAssignment":
        assignment = await session.get(MentorAssignment, row.target_id)
        if assignment is None:
            return False
        await session.delete(assignment)
        return True
    return False
