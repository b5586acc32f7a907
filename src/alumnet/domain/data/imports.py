"""Imports: a spreadsheet of alumni, students, enrolments, mentor assignments or historical
gifts, read as a stream, checked row by row, previewed (nothing written) or run in batches,
idempotent by natural key (e-mail, student number; a gift's key), with every row's outcome
kept for the report and for rollback.

Gifts are imported by giving staff (``giving``; no ``data:import`` needed, and ``data:import``
alone does not reach them: an import of gifts names donors and amounts). Each row is recorded
through ``giving.gifts.record`` (source ``import``: the same rules, the totals kept, no receipt
number), once per idempotency key: ``import:<key>`` from the file's key column, else a digest
of the donor's e-mail, the date, the amount, the currency, the fund and the reference. A
rollback takes each gift out of the totals and deletes it, except one refunded or matched to
a pledge instalment since (kept, and reported as changed since).

A curriculum is imported by academics managers (``academics:manage``), read whole (one
batch, at most 20,000 rows): subjects and topics are created or updated by code, topics
ordered within their subject, prerequisites replaced once every row's topic is known, and a
row that names an unknown topic or would close a circle of prerequisites is rejected (the
circle named). Its rollback deletes the topics it created (not one with progress or an
assessment since: kept and reported), puts back what it changed, and puts back a subject's
order unless it was reordered since.

A run writes one batch of rows per transaction, so a bad row never stops the rest; with
``all_or_nothing`` the whole file is one transaction and any rejected row undoes it.

Every run ends COMPLETED (its counts those of the rows committed) or FAILED with a plain
reason; one that stopped part way keeps its committed rows, which a rollback undoes and a
new run goes on from. Runs of one file at the same time are told apart (ALREADY_RUNNING
unless forced) and safe: people, enrolments and assignments are written insert-or-ignore,
and one created meanwhile by another run counts as unchanged (or updated) here. A run whose
process stops without a word (a worker killed) is handed to a new job by the next start
or the scheduled sweep (``resume_stopped``), which goes on from its recorded rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    Text,
    cast,
    delete,
    exists,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError

from alumnet import processes
from alumnet.config import Settings
from alumnet.domain import money
from alumnet.domain.academics import curriculum as curriculum_rules
from alumnet.domain.data import files
from alumnet.domain.data.tabular import Table, Unreadable, normalise, open_table, plain
from alumnet.domain.errors import DomainError, PermissionDenied, Problem, Problems
from alumnet.domain.giving import gifts as gift_rules
from alumnet.domain.giving import totals as gift_totals
from alumnet.domain.giving.donors import DonorRef
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.identity.users import invite as send_invitations
from alumnet.domain.ops import jobs as job_rules
from alumnet.domain.ops import webhooks
from alumnet.domain.people.duplicates import email_key
from alumnet.domain.people.profiles import COUNTRY, STUDENT_NUMBER, refresh_years_of_record
from alumnet.domain.runtime import Runtime
from alumnet.observability import get_logger
from alumnet.persistence.db import (
    copy_rows,
    insert_or_ignore,
    inserted_id,
    is_busy,
    is_timeout,
    upsert,
)
from alumnet.persistence.models import (
    AttendanceDay,
    Campaign,
    CampaignFund,
    Enrollment,
    Fund,
    Gift,
    Import,
    ImportRow,
    Job,
    MentorAssignment,
    Mission,
    MissionMentor,
    PledgeInstalment,
    Profile,
    Programme,
    ProgrammeSubject,
    StoredFile,
    Subject,
    SubjectOffering,
    Submission,
    Topic,
    TopicPrerequisite,
    User,
    UserRole,
)
from alumnet.persistence.uow import UnitOfWork

log = get_logger(__name__)

IMPORT_JOB = "data.import"
ROLLBACK_JOB = "data.import_rollback"
RESUME_JOB = "data.import_resume"  # the sweep of runs whose worker stopped (every 5 minutes)
BATCH = 1000
# A run or rollback that has shown no sign of life (a committed batch) for this long has
# stopped: the next start or sweep hands it to a new job. One whose process ran on the
# machine looking is known at once (the process is gone).
IMPORT_STALE = timedelta(minutes=2)
WORKING = ("running", "rolling_back")
# PostgreSQL's advisory locks of "runs of one file" (the second key: the file's checksum).
FILE_LOCK = 0x1A7F
DEADLOCK = "40P01"  # PostgreSQL's SQLSTATE of a transaction stopped to end a deadlock
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
    "gifts": ("donor_email", "donor_name", "amount", "currency", "date", "fund", "campaign",
              "payment_method", "reference", "anonymous", "tribute_kind", "tribute_name",
              "key"),
    "curriculum": ("subject_code", "subject_name", "topic_code", "topic_title",
                   "topic_description", "position", "estimated_hours", "prerequisites",
                   "programme_code"),
}  # fmt: skip
REQUIRED = {
    "alumni": ("email", "name"), "students": ("email", "name"),
    "enrollments": ("mission",), "mentor_assignments": ("mission", "mentor_email"),
    "gifts": ("donor_email", "amount", "currency", "date", "fund"),
    # A new subject's rows need its name (one of them is enough): checked row by row.
    "curriculum": ("subject_code", "topic_code", "topic_title", "estimated_hours"),
}  # fmt: skip
# The permission an import of each kind needs (imports of other kinds: data:import).
PERMISSION = {"gifts": Permission.GIVING, "curriculum": Permission.ACADEMICS_MANAGE}
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
    "gifts": {
        "donor_email": (
            "Email",
            "E-mail",
            "Email address",
            "E-mail address",
            "Donor e-mail",
            "Donor email address",
            "Donor's email",
            "Mail",
        ),
        "donor_name": (
            "Name",
            "Full name",
            "Donor",
            "Donor's name",
            "Giver",
            "Constituent",
            "Constituent name",
        ),
        "amount": ("Gift amount", "Amount given", "Donation", "Donation amount", "Value", "Sum"),
        "currency": ("Currency code", "Ccy", "Gift currency"),
        "date": (
            "Gift date",
            "Date of gift",
            "Date given",
            "Donation date",
            "Received",
            "Received on",
            "Date received",
        ),
        "fund": ("Fund code", "Designation", "Designation code", "Gift designation"),
        "campaign": ("Campaign name", "Appeal", "Appeal name"),
        "payment_method": ("Method", "Payment type", "Paid by", "Payment", "Tender"),
        "reference": (
            "Payment reference",
            "Ref",
            "Receipt",
            "Receipt number",
            "Cheque number",
            "Transaction",
            "Transaction ID",
            "Transaction reference",
        ),
        "anonymous": ("Anon", "Anonymous gift", "Is anonymous"),
        "tribute_kind": ("Tribute", "Tribute type", "In honour or memory"),
        "tribute_name": ("Honouree", "Honoree", "In honour of", "In memory of", "Tribute to"),
        "key": ("Gift ID", "Gift key", "External ID", "Import ID", "Source ID", "Legacy ID"),
    },
    "curriculum": {
        "subject_code": ("Subject", "Subject ID", "Module code", "Module", "Course code"),
        "subject_name": ("Subject title", "Module name", "Module title", "Course name"),
        "topic_code": ("Topic", "Topic ID", "Topic no", "Topic number"),
        "topic_title": ("Title", "Topic name"),
        "topic_description": ("Description", "Details", "Topic details", "Summary"),
        "position": ("Order", "Sequence", "Seq", "Topic order", "Sort order"),
        "estimated_hours": (
            "Hours",
            "Estimated hours",
            "Est hours",
            "Duration",
            "Duration hours",
            "Hours estimated",
        ),
        "prerequisites": (
            "Prerequisite",
            "Prerequisite topics",
            "Pre-requisites",
            "Requires",
            "Depends on",
            "Needs",
        ),
        "programme_code": (
            "Programme",
            "Program",
            "Program code",
            "Degree programme",
            "Degree program",
        ),
    },
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


def permission(kind: str) -> Permission:
    """What importing ``kind`` needs: ``giving`` for gifts (advancement staff import them),
    ``academics:manage`` for a curriculum, ``data:import`` for the others."""
    return PERMISSION.get(kind, Permission.DATA_IMPORT)


def may_import(viewer: Viewer, kind: str) -> bool:
    """Whether ``viewer`` may upload, run, roll back and read imports of ``kind``."""
    return viewer.can(permission(kind))


def kinds_for(viewer: Viewer) -> list[str]:
    """The kinds of import ``viewer`` may see and make (none: no import at all)."""
    return [k for k in KINDS if may_import(viewer, k)]


def _require_some(viewer: Viewer) -> None:
    """The first gate of a change to an import (its kind, and so its own gate, is read
    after): some kind of import."""
    viewer.require_user()
    if not kinds_for(viewer):
        raise PermissionDenied(Permission.DATA_IMPORT.value)


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


# An amount as offices write it: digits, a decimal point, thousands set off by commas.
AMOUNT = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$|^[+-]?\.\d+$")
YES = {"yes", "y", "true", "1", "x"}
NO = {"no", "n", "false", "0"}
METHOD_WORDS = {"check": "cheque", "credit_card": "card", "debit_card": "card",
                "transfer": "bank_transfer", "bank": "bank_transfer", "wire": "bank_transfer",
                "wire_transfer": "bank_transfer", "eft": "bank_transfer"}  # fmt: skip
TRIBUTE_WORDS = {"honour": "honour", "honor": "honour", "in_honour": "honour",
                 "in_honor": "honour", "in_honour_of": "honour", "in_honor_of": "honour",
                 "memory": "memory", "in_memory": "memory", "in_memory_of": "memory",
                 "memorial": "memory"}  # fmt: skip
# A key column's value, once ``import:`` is put before it, fits a gift's idempotency key.
KEY_MAX = gift_rules.KEY_MAX - len("import:")


def _word(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def _gift_amount(c: Candidate, name: str, text: str) -> None:
    """An exact decimal (checked against its currency with the row): never a float."""
    plain_text = text.replace(" ", "")
    if not AMOUNT.match(plain_text):
        c.problem(name, "INVALID_AMOUNT", f"{text[:40]!r} is not an amount (e.g. 1250.00).")
        return
    c.values[name] = Decimal(plain_text.replace(",", ""))


def _gift_date(c: Candidate, name: str, text: str) -> None:
    day = parse_date(text)
    if day is None:
        c.problem(name, "INVALID", f"{text[:40]!r} is not a date (e.g. 2024-03-12).")
    else:
        c.values[name] = day


def _gift_anonymous(c: Candidate, name: str, text: str) -> None:
    word = text.strip().lower()
    if word in YES or word in NO:
        c.values[name] = word in YES
    else:
        c.problem(name, "INVALID", "Anonymous is yes or no.")


def _gift_method(c: Candidate, name: str, text: str) -> None:
    word = METHOD_WORDS.get(_word(text), _word(text))
    if word in gift_rules.METHODS:
        c.values[name] = word
    else:
        c.problem(name, "INVALID",
                  f"A payment method is one of: {', '.join(gift_rules.METHODS)}.")  # fmt: skip


def _gift_tribute(c: Candidate, name: str, text: str) -> None:
    word = TRIBUTE_WORDS.get(_word(text))
    if word is None:
        c.problem(name, "INVALID", "A tribute is in honour or in memory of someone.")
    else:
        c.values[name] = word


def _gift_currency(c: Candidate, name: str, text: str) -> None:
    c.values[name] = text.strip().upper()[:8]


def _gift_key(c: Candidate, name: str, text: str) -> None:
    if len(text) > KEY_MAX:
        c.problem(name, "INVALID", f"A key has at most {KEY_MAX} characters.")
    else:
        c.values[name] = text


# A curriculum's position column is a sort key within its subject (1, 2, 3 or 10, 20, 30).
POSITION_MAX = 100_000


def _curriculum_code(c: Candidate, name: str, text: str) -> None:
    code = text.strip().upper()
    if curriculum_rules.CODE.match(code):
        c.values[name] = code
    else:
        c.problem(name, "INVALID", f"A code is {curriculum_rules.CODE_RULE} (e.g. PY-101).")


def _curriculum_hours(c: Candidate, name: str, text: str) -> None:
    problems = Problems()
    minutes = curriculum_rules.minutes_of(problems, text.strip().replace(",", "."))
    if problems.items:
        c.problem(name, "INVALID_HOURS", problems.items[0].message)
    else:
        c.values[name] = minutes


def _curriculum_position(c: Candidate, name: str, text: str) -> None:
    _int(c, name, text, 1, POSITION_MAX)


def _curriculum_prerequisites(c: Candidate, name: str, text: str) -> None:
    """Topic codes separated by ";" (or ","): "T1" in the row's subject, "SUBJ/T1" in
    another."""
    found: list[tuple[str | None, str]] = []
    for part in re.split(r"[;,]", text):
        part = part.strip().upper()
        if not part:
            continue
        subject, _, code = part.rpartition("/")
        subject = subject.strip()
        code = code.strip()
        valid = curriculum_rules.CODE.match(code) and (
            not subject or curriculum_rules.CODE.match(subject)
        )
        if not valid:
            c.problem(name, "INVALID", f"{part[:70]!r} is not a topic code (T1, or SUBJECT/T1).")
            return
        if (subject or None, code) not in found:
            found.append((subject or None, code))
    if len(found) > curriculum_rules.PREREQUISITES_MAX:
        c.problem(name, "TOO_MANY", f"A topic has at most {curriculum_rules.PREREQUISITES_MAX} "
                  "prerequisites.")  # fmt: skip
        return
    c.values[name] = found


def _curriculum_description(c: Candidate, name: str, text: str) -> None:
    c.values[name] = text.strip()


CURRICULUM_CELLS: dict[str, Callable[[Candidate, str, str], None]] = {
    "subject_code": _curriculum_code, "topic_code": _curriculum_code,
    "estimated_hours": _curriculum_hours, "position": _curriculum_position,
    "prerequisites": _curriculum_prerequisites, "topic_description": _curriculum_description,
}  # fmt: skip


GIFT_CELLS: dict[str, Callable[[Candidate, str, str], None]] = {
    "amount": _gift_amount, "date": _gift_date, "anonymous": _gift_anonymous,
    "payment_method": _gift_method, "tribute_kind": _gift_tribute, "currency": _gift_currency,
    "key": _gift_key,
}  # fmt: skip


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
        elif name in GIFT_CELLS:
            GIFT_CELLS[name](c, name, text)
        elif name in CURRICULUM_CELLS:
            CURRICULUM_CELLS[name](c, name, text)
        elif name in ("email", "mentor_email", "donor_email"):
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
        viewer.require(permission(kind))
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


class AlreadyRunning(DomainError):
    """ALREADY_RUNNING: this import, or another of the same file, is at work now; names
    the import at work (``import_id``), for the caller to follow."""

    def __init__(self, import_id: int, message: str) -> None:
        super().__init__(Problem(code="ALREADY_RUNNING", message=message))
        self.import_id = import_id


async def run(
    uow: UnitOfWork,
    viewer: Viewer,
    import_id: int,
    *,
    dry_run: bool,
    invite: bool | None = None,
    force: bool = False,
) -> Import:
    """``importRun``: preview or run an uploaded import again (see ``start``)."""
    _require_some(viewer)
    record = await _locked(uow, import_id)
    if record is None or not may_import(viewer, record.kind):
        raise DomainError.of("NOT_FOUND", "No such import.", "importId")
    await start(uow, record, dry_run=dry_run, invite=invite, force=force)
    return record


async def start(
    uow: UnitOfWork,
    record: Import,
    *,
    dry_run: bool,
    invite: bool | None = None,
    force: bool = False,
) -> int:
    """Queue a preview or a run. A run happens once: its rows are the rollback's record (a
    completed import is uploaded again to run again), so its job is never retried; a run
    that stopped part way (FAILED, or its worker gone) goes on from its recorded rows.
    Refuses (ALREADY_RUNNING) while this import is at work, and a run while another import
    of the same file is run (unless ``force``) or rolled back."""
    if record.status == "completed":
        raise DomainError.of(
            "INVALID",
            "This import has run; upload the file again to run it again.",
            "importId",
        )
    if record.status in ("rolling_back", "rolled_back"):
        raise DomainError.of(
            "INVALID", f"This import is {record.status.replace('_', ' ')}.", "importId"
        )
    now = datetime.now(UTC)
    await _lock_file(uow, record.sha256)
    await _refuse_while_at_work(uow, record, now, doing=None if dry_run else "run", force=force)
    if dry_run and record.rows_of_run and record.status in (*WORKING, "failed"):
        raise DomainError.of(
            "INVALID",
            "This run stopped part way (see its error): run it again to go on from where it "
            "stopped, or roll back what it wrote. A preview would lose the record of it.",
            "importId",
        )
    if record.status in WORKING:  # its process stopped without a word (not at work)
        await _fence(uow, record, now, "its worker stopped; run again")
    record.dry_run = dry_run
    if invite is not None:
        record.invite = invite
    job = await uow.add_job(IMPORT_JOB, {"import_id": record.id}, max_attempts=1)
    record.job_id = job.id
    return job.id


async def _locked(uow: UnitOfWork, import_id: int) -> Import | None:
    """An import, locked for a change of its state after its file's lock (one order for
    every caller: no deadlock between two runs of one file)."""
    sha256 = await uow.session.scalar(select(Import.sha256).where(Import.id == import_id))
    if sha256 is None:
        return None
    await _lock_file(uow, sha256)
    return await uow.session.get(Import, import_id, with_for_update=True, populate_existing=True)


async def _lock_file(uow: UnitOfWork, sha256: str) -> None:
    """Until commit, the one right to start or roll back runs of this file: two requests
    at once are answered in turn, the second knowing of the first. PostgreSQL: an advisory
    lock of the checksum; SQLite: its one write lock (a read FOR UPDATE takes it)."""
    session = uow.session
    if session.get_bind().dialect.name == "postgresql":
        key = int(sha256[:8] or "0", 16) - 2**31
        await session.execute(
            select(func.pg_advisory_xact_lock(cast(FILE_LOCK, Integer), cast(key, Integer)))
        )
        return
    await session.execute(
        select(Import.id).where(Import.sha256 == sha256).limit(1).with_for_update()
    )


async def _refuse_while_at_work(
    uow: UnitOfWork, record: Import, now: datetime, *, doing: str | None, force: bool = False
) -> None:
    """ALREADY_RUNNING while this import is at work (or its job waits), or, for a run or a
    rollback (``doing``), while another import of the same file is run (unless ``force``)
    or rolled back. Previews are no one's concern: they write nothing."""
    session = uow.session
    twins: Sequence[Import] = []
    if doing is not None:
        found = await session.execute(
            select(Import)
            .where(Import.sha256 == record.sha256, Import.id != record.id,
                   Import.dry_run.is_(False),
                   Import.status.in_(("uploaded", "previewed", "failed", *WORKING)))
            .order_by(Import.id)
        )  # fmt: skip
        twins = found.scalars().all()
    jobs = [r.job_id for r in (record, *twins) if r.job_id is not None]
    unfinished: dict[int, tuple[str, datetime | None]] = {
        int(i): (str(st), started) for i, st, started in (await session.execute(
            select(Job.id, Job.status, Job.started_at)
            .where(Job.id.in_(jobs), Job.status.in_(job_rules.UNFINISHED))
        )).all()
    } if jobs else {}  # fmt: skip
    if _at_work(record, unfinished, now):
        raise AlreadyRunning(
            record.id,
            "This import is being previewed, run or rolled back now: follow it "
            "(importProgress), or wait for it to end.",
        )
    for twin in twins:
        if not _at_work(twin, unfinished, now):
            continue
        if twin.status == "rolling_back" or doing != "run":
            raise AlreadyRunning(
                twin.id,
                f"Another import of this file (the same checksum) is being "
                f"{'rolled back' if twin.status == 'rolling_back' else 'run'} now; {doing} "
                "this one when it has ended.",
            )
        if not force:
            raise AlreadyRunning(
                twin.id,
                "Another import of this file (the same checksum) is being run now: follow "
                "it, or set force to run this one as well (the people it writes meanwhile "
                "count as unchanged here).",
            )


# A job in line, not yet taken up by a worker.
WAITING = (job_rules.PENDING, job_rules.RETRYING)


def _handed_over(
    runner: str | None, job: tuple[str, datetime | None] | None, now: datetime
) -> bool:
    """Whether an import is handed to a job that has not claimed it yet: the job waits in
    line (however long: a busy queue), or a worker took it up less than IMPORT_STALE ago
    and is about to claim the import. ``job``: its status and when it started."""
    if runner is not None or job is None:
        return False
    status, started = job
    if status in WAITING:
        return True
    return status == job_rules.RUNNING and started is not None and started >= now - IMPORT_STALE


def _at_work(
    record: Import, unfinished: dict[int, tuple[str, datetime | None]], now: datetime
) -> bool:
    """Whether an import is at work now, or about to be (``_handed_over``). Once a
    process has claimed it, whether that process still works on it (``_abandoned``).
    ``unfinished``: the unfinished jobs' statuses and starts, by id."""
    if record.status in WORKING:
        if _handed_over(record.runner, unfinished.get(record.job_id or 0), now):
            return True
        return not _abandoned(record.runner, record.heartbeat_at, record.id, now)
    return record.job_id in unfinished


# The imports this process works on now: a record naming this process as its runner but
# missing here was left by a run that stopped (and, in tests, by one made to stop).
_WORKING_HERE: set[int] = set()
_HOST = processes.MACHINE


def _this_process() -> str:
    """This process, as an import's runner: host, pid and start (a pid used again by
    another process is not mistaken for it)."""
    pid = os.getpid()
    return f"{_HOST}:{pid}:{processes.started(pid) or ''}"


def _alive(runner: str, import_id: int) -> bool | None:
    """Whether the process named ``runner`` still works on the import; None when it ran
    on another machine (only its heartbeat can tell)."""
    parts = runner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != _HOST or not parts[1].isdigit():
        return None
    pid, started = int(parts[1]), parts[2]
    if pid == os.getpid():
        return import_id in _WORKING_HERE and started == (processes.started(pid) or "")
    if processes.PROC:
        return processes.started(pid) == started
    return processes.alive(pid)


def _abandoned(runner: str | None, heartbeat_at: datetime | None, import_id: int,
               now: datetime) -> bool:  # fmt: skip
    """Whether a run or rollback at work has stopped without a word: its process is gone
    (known at once on this machine), or, where that cannot be known (another machine, or
    handed to a job not yet started), no sign of life for IMPORT_STALE."""
    alive = _alive(runner, import_id) if runner else None
    if alive is not None:
        return not alive
    return heartbeat_at is None or heartbeat_at < now - IMPORT_STALE


async def _fence(uow: UnitOfWork, record: Import, now: datetime, why: str) -> None:
    """Take an import from the process that stopped working on it: a new attempt (a late
    batch of the old one is refused), its job given up."""
    record.attempt += 1
    record.runner = None
    record.heartbeat_at = now
    if record.job_id is not None:
        await job_rules.give_up(
            uow.session, record.job_id, f"Import {record.id}: {why} (handed to a new job)."
        )


async def resume_stopped(rt: Runtime) -> int:
    """Hand each import whose run or rollback stopped without a word (``_abandoned``) to a
    new job, which goes on from its recorded rows (a preview or an all-or-nothing run, which
    committed nothing, starts again). Run when a server or worker starts and every five
    minutes (``RESUME_JOB``); answers how many."""
    now = datetime.now(UTC)
    async with rt.database.connect() as conn:
        found = (await conn.execute(
            select(Import.id, Import.runner, Import.heartbeat_at, Import.attempt, Job.status,
                   Job.started_at)
            .outerjoin(Job, Job.id == Import.job_id)
            .where(Import.status.in_(WORKING))
        )).all()  # fmt: skip
    resumed = 0
    for import_id, runner, heartbeat_at, attempt, job_status, job_started in found:
        handed = (job_status, job_started) if job_status is not None else None
        if _handed_over(runner, handed, now):
            continue  # its job waits in line (a busy queue) or is taking it up: not stopped
        if not _abandoned(runner, heartbeat_at, import_id, now):
            continue
        async with rt.transaction() as uow:
            record = await uow.session.get(
                Import, import_id, with_for_update=True, populate_existing=True
            )
            if record is None or record.attempt != attempt or record.status not in WORKING:
                continue  # taken up meanwhile
            # Again under the lock: a slow process may have shown a sign of life since.
            now = datetime.now(UTC)
            if not _abandoned(record.runner, record.heartbeat_at, import_id, now):
                continue
            taken = (
                (await uow.session.execute(
                    select(Job.status, Job.started_at).where(Job.id == record.job_id)
                )).one_or_none()
                if record.job_id is not None else None
            )  # fmt: skip
            if _handed_over(record.runner, (taken[0], taken[1]) if taken else None, now):
                continue
            await _fence(uow, record, now, "its worker stopped")
            name = IMPORT_JOB if record.status == "running" else ROLLBACK_JOB
            job = await uow.add_job(name, {"import_id": import_id}, max_attempts=1)
            record.job_id = job.id
            uow.publish(channel(import_id), {"id": import_id})
        log.warning("import_resumed", import_id=import_id, job_id=job.id, status=record.status)
        resumed += 1
    return resumed


class _Superseded(Exception):
    """Another attempt has taken the import over: this one stops, writing nothing more."""


@dataclass
class _Attempt:
    """One attempt at an import or its rollback, as claimed."""

    import_id: int
    attempt: int
    kind: str = ""
    dry_run: bool = False
    all_or_nothing: bool = False
    invite: bool = False
    file_id: int | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    resume: bool = False


async def _claim(
    rt: Runtime, import_id: int, job_id: int | None, statuses: tuple[str, ...]
) -> _Attempt | str:
    """Take an import up in this process: the attempt, or why not (its status; "superseded"
    when it was handed to another job; "busy" while a live process works on it)."""
    now = datetime.now(UTC)
    async with rt.transaction() as uow:
        record = await uow.session.get(Import, import_id, with_for_update=True)
        if record is None:
            raise LookupError("no such import")
        if record.status not in statuses:
            return str(record.status)
        if job_id is not None and record.job_id != job_id:
            return "superseded"
        if record.runner is not None and not _abandoned(
            record.runner, record.heartbeat_at, import_id, now
        ):
            return "busy"
        attempt = _Attempt(
            import_id=import_id, attempt=record.attempt + 1, kind=record.kind,
            dry_run=record.dry_run, all_or_nothing=record.all_or_nothing, invite=record.invite,
            file_id=record.file_id, mapping=dict(record.mapping or {}),
        )  # fmt: skip
        if record.status != "rolling_back":
            attempt.resume = record.rows_of_run and not record.dry_run and not record.all_or_nothing
            if not attempt.resume:
                await uow.session.execute(delete(ImportRow).where(ImportRow.import_id == import_id))
                # Set by the first batch a run commits (``_process``): a run that fails
                # before any is no run that stopped part way.
                record.rows_of_run = False
            record.status, record.error, record.finished_at = "running", None, None
        record.attempt = attempt.attempt
        record.runner = _this_process()
        record.heartbeat_at = now
        uow.publish(channel(import_id), {"id": import_id})
    _WORKING_HERE.add(import_id)
    return attempt


async def _hold(uow: UnitOfWork, attempt: _Attempt) -> None:
    """A batch's lock on its import (PostgreSQL: its row; SQLite: the write lock, so that
    what the batch reads stays so until it commits), if the attempt is still this one."""
    now_attempt = await uow.session.scalar(
        select(Import.attempt).where(Import.id == attempt.import_id).with_for_update()
    )
    if now_attempt != attempt.attempt:
        raise _Superseded


async def _written(
    uow: UnitOfWork, attempt: _Attempt, progress: Progress | None = None, **values: Any
) -> None:
    """The import's counts (``progress``), other ``values`` and a sign of life, in the
    caller's transaction, if the attempt is still this one (else ``_Superseded``)."""
    if progress is not None:
        values.update(total=progress.total, processed=progress.processed, **progress.counts)
    done = await uow.session.execute(
        update(Import)
        .where(Import.id == attempt.import_id, Import.attempt == attempt.attempt)
        .values(heartbeat_at=datetime.now(UTC), **values)
        .returning(Import.id)
    )
    if done.first() is None:
        raise _Superseded
    uow.publish(channel(attempt.import_id), {"id": attempt.import_id})


async def execute(
    rt: Runtime, import_id: int, report: Report | None = None, *, job_id: int | None = None
) -> dict[str, Any]:
    """Preview or run an import (as its ``dry_run`` says), in batches, for the job
    ``job_id`` (None: the command line's own run). Ends it COMPLETED, PREVIEWED or FAILED
    with a plain reason, whatever happens (an unexpected error is raised again after)."""
    claimed = await _claim(rt, import_id, job_id, ("uploaded", "previewed", "failed", "running"))
    if isinstance(claimed, str):
        return {"skipped": claimed}
    attempt = claimed
    progress = Progress()  # what is committed
    try:
        skip = await _recorded(rt, attempt, progress) if attempt.resume else None
        assert attempt.file_id is not None
        local = await files.spool(rt.database, attempt.file_id)
        try:
            try:
                table = open_table(local)
                mapping = map_columns(table.headers, attempt.kind, attempt.mapping)
            except (Unreadable, DomainError) as exc:
                message = str(exc) if isinstance(exc, Unreadable) else exc.problems[0].message
                await _end(rt, attempt, progress, "failed", error=message)
                return {"error": message}
            status = await _process(rt, attempt, table, mapping, progress, report, skip)
        finally:
            local.close()
    except _Superseded:
        log.info("import_superseded", import_id=import_id, attempt=attempt.attempt)
        return {"skipped": "superseded"}
    except Exception as exc:
        with contextlib.suppress(_Superseded):
            await _end(rt, attempt, progress, "failed", error=_reason(exc, attempt, progress))
        raise
    finally:
        _WORKING_HERE.discard(import_id)
    return {"status": status, **progress.counts, "total": progress.total}


def _reason(exc: Exception, attempt: _Attempt, progress: Progress) -> str:
    """Why a run stopped, for the people who ran it: no stack trace, nothing it read."""
    if isinstance(exc, IntegrityError):
        what = "a row that conflicts with data written at the same time by someone else"
    elif getattr(getattr(exc, "orig", None), "sqlstate", None) == DEADLOCK:
        what = (
            "a deadlock with another write at the same time (the database stopped this run "
            "to let the other go on)"
        )
    elif is_busy(exc):
        what = "a database too busy to answer"
    elif is_timeout(exc):
        what = "a statement that took too long"
    else:
        what = f"an unexpected error ({type(exc).__name__})"
    if attempt.dry_run:
        return f"Stopped by {what}; nothing was written (a preview). Preview it again."
    if attempt.all_or_nothing:
        return f"Stopped by {what}; nothing was written (all or nothing). Run it again."
    if progress.processed == 0:
        return f"Stopped by {what} before any row was written. Run it again."
    return (
        f"Stopped by {what}. The {progress.processed:,} rows before it are recorded and "
        "written: run it again to go on from there, or roll them back."
    )


async def _recorded(rt: Runtime, attempt: _Attempt, progress: Progress) -> _Skip:
    """What an earlier attempt of this run committed: its counts (into ``progress``), the
    last row it recorded and the rows it rejected."""
    async with rt.database.connect() as conn:
        counted = (await conn.execute(
            select(ImportRow.action, func.count(), func.max(ImportRow.row_number))
            .where(ImportRow.import_id == attempt.import_id).group_by(ImportRow.action)
        )).all()  # fmt: skip
        rejected = set(
            (await conn.execute(
                select(ImportRow.row_number)
                .where(ImportRow.import_id == attempt.import_id, ImportRow.action == "rejected")
            )).scalars()
        )  # fmt: skip
    last = 0
    for action, count, highest in counted:
        progress.counts[str(action)] = progress.counts.get(str(action), 0) + int(count)
        progress.processed += int(count)
        last = max(last, int(highest))
    progress.total = progress.processed
    return _Skip(last=last, rejected=rejected)


@dataclass
class _Skip:
    """Rows an earlier attempt of a run recorded: up to ``last``, ``rejected`` refused."""

    last: int
    rejected: set[int]


def _batches(table: Table, mapping: dict[int, str], size: int = BATCH) -> Iterator[list[Candidate]]:
    width = len(table.headers)
    batch: list[Candidate] = []
    for number, cells in table.rows:
        batch.append(candidate(number, cells, mapping, width))
        if len(batch) >= size:
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
    funds: dict[str, Any] = field(default_factory=dict)  # upper-case code → fund (None: none)
    # Lower-case name → the campaigns of that name but drafts, each with its funds.
    campaigns: dict[str, list[tuple[Any, set[int]]]] = field(default_factory=dict)
    outcome: dict[int, str] = field(default_factory=dict)  # row number → counted outcome
    rejected: list[dict[str, Any]] = field(default_factory=list)
    # Set when the people a run creates are invited: the settings their links are made with.
    invite: Settings | None = None
    # The fields the file's columns fill (a curriculum's prerequisites column replaces a
    # topic's prerequisites only when the file has one).
    columns: set[str] = field(default_factory=set)
    # A curriculum is read whole, as one batch: set once it has been.
    curriculum_read: bool = False


async def _process(
    rt: Runtime,
    attempt: _Attempt,
    table: Table,
    mapping: dict[int, str],
    progress: Progress,
    report: Report | None,
    skip: _Skip | None,
) -> str:
    """Every batch (after those an earlier attempt of the run recorded, ``skip``), then the
    import's end; returns its final status. ``progress`` follows what is committed."""
    apply = not attempt.dry_run
    state = _State(invite=rt.settings if attempt.invite and apply else None,
                   columns=set(mapping.values()))  # fmt: skip
    # A curriculum is one batch: prerequisites name topics of any row, and a circle is
    # only seen whole.
    size = CURRICULUM_ROWS_MAX if attempt.kind == "curriculum" else BATCH
    if not (attempt.all_or_nothing and apply):
        for batch in _batches(table, mapping, size):
            if skip is not None and batch[0].row_number <= skip.last:
                done = [c for c in batch if c.row_number <= skip.last]
                await _replay(rt, attempt, [c for c in done if c.row_number not in skip.rejected],
                              state)  # fmt: skip
                batch = [c for c in batch if c.row_number > skip.last]
                if not batch:
                    continue
            async with rt.transaction() as uow:
                await _hold(uow, attempt)
                rows = await _batch(uow, attempt.import_id, attempt.kind, batch, state, apply)
                await _record_rows(uow, rows)
                counted = _count(progress, batch, state)
                await _written(uow, attempt, counted, **({"rows_of_run": True} if apply else {}))
            _take(progress, counted)
            if report is not None:
                await report(progress)
        status = "completed" if apply else "previewed"
        await _end(rt, attempt, progress, status)
        return status
    pending = Progress()
    try:
        async with rt.transaction() as whole:
            for batch in _batches(table, mapping, size):
                rows = await _batch(whole, attempt.import_id, attempt.kind, batch, state, apply)
                await _record_rows(whole, rows)
                pending = _count(pending, batch, state)
                if pending.counts["rejected"]:
                    raise _Abort
                if not rt.database.is_sqlite:
                    # Progress, and a sign of life, beside the run's transaction (on SQLite
                    # they would wait for its end: it holds the one write lock).
                    async with rt.transaction() as beat:
                        await _written(beat, attempt, pending)
                    if report is not None:
                        await report(pending)
            await _finish(whole, attempt, pending, "completed")
    except _Abort:
        failed = Progress(total=pending.total, processed=pending.processed)
        failed.counts["rejected"] = len(state.rejected)
        async with rt.transaction() as uow:  # keep why, for the report
            await _hold(uow, attempt)
            await _record_rows(uow, state.rejected)
            await _finish(uow, attempt, failed, "failed", error=(
                f"Row {state.rejected[0]['row_number']} was rejected; nothing was written "
                "(all or nothing)."
            ))  # fmt: skip
        _take(progress, failed)
        return "failed"
    _take(progress, pending)
    return "completed"


async def _replay(rt: Runtime, attempt: _Attempt, batch: list[Candidate], state: _State) -> None:
    """Rows an earlier attempt of the run wrote, read again without writing: what they said
    still counts (a later row saying the same is a duplicate); their outcome stays as
    recorded."""
    async with rt.transaction() as uow:
        await _hold(uow, attempt)  # what it reads stays so until its sign of life commits
        if batch:
            await _batch(uow, attempt.import_id, attempt.kind, batch, state, False)
        await _written(uow, attempt)  # a sign of life: a long file takes a while to read again
    state.outcome.clear()
    state.rejected.clear()


def _count(progress: Progress, batch: list[Candidate], state: _State) -> Progress:
    """``progress`` with a batch's outcomes added: a new one (the old stands until the
    batch commits)."""
    counts = dict(progress.counts)
    for c in batch:
        counts[state.outcome.pop(c.row_number)] += 1
    processed = progress.processed + len(batch)
    return Progress(total=processed, processed=processed, counts=counts)


def _take(progress: Progress, committed: Progress) -> None:
    progress.total, progress.processed = committed.total, committed.processed
    progress.counts = dict(committed.counts)


async def _finish(
    uow: UnitOfWork,
    attempt: _Attempt,
    progress: Progress | None,
    status: str,
    *,
    error: str | None = None,
) -> None:
    """An attempt's end, in the caller's transaction, if the import is still its own: the
    status, the counts (of what is committed), why it failed; no runner any more."""
    values: dict[str, Any] = {"status": status, "error": error[:500] if error else None,
                              "runner": None}  # fmt: skip
    if status != "rolled_back":  # when the run ended stays
        values["finished_at"] = datetime.now(UTC)
    await _written(uow, attempt, progress, **values)
    if status in ("completed", "failed") and not attempt.dry_run:
        await webhooks.emit(uow, webhooks.EventType.IMPORT_FINISHED, {
            "id": webhooks.gid("Import", attempt.import_id), "kind": attempt.kind,
            "status": status, "counts": dict(progress.counts) if progress is not None else {},
        })  # fmt: skip
    if status in ("completed", "rolled_back"):
        # Run once (or rolled back, never to run again), and rolled back from its rows: the
        # spreadsheet (everyone's data in it, kept whole) is needed no more. Its name, size
        # and checksum stay. (A run that stopped part way keeps it, to go on.)
        await uow.session.execute(
            delete(StoredFile).where(
                StoredFile.id == select(Import.file_id).where(Import.id == attempt.import_id)
                .scalar_subquery()
            )
        )  # fmt: skip


async def _end(
    rt: Runtime, attempt: _Attempt, progress: Progress | None, status: str, *,
    error: str | None = None,
) -> None:  # fmt: skip
    async with rt.transaction() as uow:
        await _finish(uow, attempt, progress, status, error=error)


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
    elif kind == "gifts":
        rows = await _gifts(uow, import_id, batch, state, apply)
    elif kind == "curriculum":
        rows = await _curriculum(uow, import_id, batch, state, apply)
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


@dataclass
class _Known:
    """What the database holds of some people: users by lower-case e-mail (with the values
    an import sets), their profiles by user id, and who has the import's role."""

    users: dict[str, Any]
    profiles: dict[int, Any]
    with_role: set[int]


async def _known(session: Any, kind: str, emails: list[str]) -> _Known:
    found_users = await session.execute(
        select(User.id, User.email_lower, *[User.__table__.c[f] for f in USER_FIELDS])
        .where(User.email_lower.in_(emails))
    )  # fmt: skip
    users = {str(r.email_lower): r for r in found_users.all()}
    ids = [r.id for r in users.values()]
    found_profiles = await session.execute(
        select(Profile.user_id, *[Profile.__table__.c[f] for f in PROFILE_FIELDS])
        .where(Profile.user_id.in_(ids))
    )  # fmt: skip
    with_role = set(
        (await session.execute(
            select(UserRole.user_id).where(UserRole.role == ROLE[kind], UserRole.user_id.in_(ids))
        )).scalars()
    )  # fmt: skip
    return _Known(users, {int(r.user_id): r for r in found_profiles.all()}, with_role)


# A person to update: the row, the user, the user's and the profile's new values, the
# profile's values before.
_Update = tuple[Candidate, int, dict[str, Any], dict[str, Any], dict[str, Any]]
# A person to create: the row, the user's and the profile's values.
_Create = tuple[Candidate, dict[str, Any], dict[str, Any]]


@dataclass
class _PeoplePlan:
    """A batch of people as read: each row's report, who to create, who to update."""

    rows: list[dict[str, Any]]
    creates: list[_Create]
    updates: list[_Update]
    profiles: dict[int, Any]  # the existing people's profiles, by user id


def _compare(
    import_id: int,
    kind: str,
    c: Candidate,
    user: Any,
    profile: Any,
    has_role: bool,
    wanted_user: dict[str, Any],
    wanted_profile: dict[str, Any],
) -> tuple[dict[str, Any], _Update | None]:
    """An existing person against what the row says: the row's report (unchanged or
    update, with the values before and after), and the update to make if any. For the
    people a batch found, and for those another run created while it ran."""
    key = c.values["email"].lower()
    before_user = {f: getattr(user, f) for f in wanted_user if getattr(user, f) != wanted_user[f]}
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
    if not has_role:
        added_before[ROLE_KEY], added_after[ROLE_KEY] = None, ROLE[kind]
    if profile is None and changed_profile:
        added_before[PROFILE_KEY], added_after[PROFILE_KEY] = None, PROFILE_CREATED
    if not changed_user and not changed_profile and not added_after:
        return _row(import_id, c, "unchanged", key=key, target="User", target_id=user.id), None
    row = _row(import_id, c, "update", key=key, target="User", target_id=user.id,
               before=_as_json(before_user | before_profile | added_before),
               after=_as_json(changed_user | changed_profile | added_after))  # fmt: skip
    return row, (c, int(user.id), changed_user, changed_profile, before_profile)


async def _people(
    uow: UnitOfWork,
    import_id: int,
    kind: str,
    batch: list[Candidate],
    state: _State,
    apply: bool,
) -> list[dict[str, Any]]:
    plan = await _plan_people(uow, import_id, kind, batch, state)
    if apply:
        await _apply_people(uow, import_id, kind, plan, state.invite)
    await _programmes_by_code(uow, plan.rows)
    return plan.rows


async def _plan_people(
    uow: UnitOfWork, import_id: int, kind: str, batch: list[Candidate], state: _State
) -> _PeoplePlan:
    """Read a batch's people and decide each row (create, update, unchanged, reject)."""
    session = uow.session
    known = await _known(
        session, kind, [c.values["email"].lower() for c in batch if "email" in c.values]
    )
    users = known.users
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
    plan = _PeoplePlan(rows=[], creates=[], updates=[], profiles=known.profiles)
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
            plan.rows.append(_row(import_id, c, "reject", key=key or None))
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
            plan.creates.append((c, wanted_user, wanted_profile))
            plan.rows.append(_row(import_id, c, "create", key=key, target="User",
                                  duplicates=dupes or None,
                                  after=_as_json(wanted_user | wanted_profile)))  # fmt: skip
            continue
        row, change = _compare(
            import_id, kind, c, user, known.profiles.get(int(user.id)),
            user.id in known.with_role, wanted_user, wanted_profile,
        )  # fmt: skip
        plan.rows.append(row)
        if change is not None:
            plan.updates.append(change)
    return plan


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
    uow: UnitOfWork, import_id: int, kind: str, plan: _PeoplePlan, invite: Settings | None
) -> None:
    """Write a batch's people as planned. Created insert-or-ignore (in e-mail order, one
    lock order for every run): one that another run created since the batch read counts
    as unchanged, or as updated if its values differ. Fills the rows' ids in."""
    session = uow.session
    now = datetime.now(UTC)
    where = {r["row_number"]: i for i, r in enumerate(plan.rows)}
    updates, profiles = list(plan.updates), dict(plan.profiles)
    creates = sorted(plan.creates, key=lambda made: str(made[0].values["email"]).lower())
    if creates:
        made = await session.execute(
            upsert(session, User).on_conflict_do_nothing(index_elements=["email_lower"])
            .returning(User.id, User.email_lower),
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
        ids = {str(address): int(i) for i, address in made.all()}
        fresh = [(ids[c.values["email"].lower()], c, u, p) for c, u, p in creates
                 if c.values["email"].lower() in ids]  # fmt: skip
        if fresh:
            # The new people's profiles first. A user made just now has none, so a profile
            # not written conflicts on its student number, given to someone else since this
            # batch read: that row is refused and its user not made (this transaction).
            written = set(
                (await session.execute(
                    upsert(session, Profile).on_conflict_do_nothing()
                    .returning(Profile.user_id),
                    [_new_profile(i, p, now) for i, _, _, p in sorted(fresh, key=lambda f: f[0])],
                )).scalars()
            )  # fmt: skip
            taken = [(i, c) for i, c, _, _ in fresh if i not in written]
            if taken:
                await session.execute(delete(User).where(User.id.in_([i for i, _ in taken])))
                for _, c in taken:
                    c.problem("student_number", "TAKEN",
                              "Another person has this student number (given at the same "
                              "time by someone else).")  # fmt: skip
                    plan.rows[where[c.row_number]] = _row(
                        import_id, c, "reject", key=c.values["email"].lower()
                    )
                fresh = [f for f in fresh if f[0] in written]
        if fresh:
            await session.execute(
                upsert(session, UserRole).on_conflict_do_nothing(),
                [{"user_id": i, "role": ROLE[kind]} for i, _, _, _ in fresh],
            )
            for i, c, _, _ in fresh:
                plan.rows[where[c.row_number]]["target_id"] = i
            if invite is not None:
                await send_invitations(
                    uow, invite, [(i, c.values["email"], str(u["name"])) for i, c, u, _ in fresh]
                )
        raced = [(c, u, p) for c, u, p in creates if c.values["email"].lower() not in ids]
        if raced:
            # Created by another run since this batch read them: as they are now.
            known = await _known(session, kind, [c.values["email"].lower() for c, _, _ in raced])
            profiles.update(known.profiles)
            for c, wanted_user, wanted_profile in raced:
                user = known.users.get(c.values["email"].lower())
                if user is None:  # and removed again meanwhile
                    c.problem("email", "CONFLICT", "Created and removed by someone else at the "
                              "same time; run the import again for this row.")  # fmt: skip
                    key = c.values["email"].lower()
                    plan.rows[where[c.row_number]] = _row(import_id, c, "reject", key=key)
                    continue
                row, change = _compare(
                    import_id, kind, c, user, known.profiles.get(int(user.id)),
                    user.id in known.with_role, wanted_user, wanted_profile,
                )  # fmt: skip
                plan.rows[where[c.row_number]] = row
                if change is not None:
                    updates.append(change)
    staff_set = []
    for _, user_id, user_values, profile_values, _ in sorted(updates, key=lambda u: u[1]):
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
        if profile_values and (
            user_id in profiles
            or not await insert_or_ignore(
                session, Profile, _new_profile(user_id, profile_values, now), ["user_id"]
            )
        ):
            await session.execute(
                update(Profile).where(Profile.user_id == user_id)
                .values(**profile_values, updated_at=now)
            )  # fmt: skip
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
    # What to insert, written after every row is decided, in key order (one lock order for
    # every run: two files naming the same people in other orders do not deadlock). Each:
    # the key, the row's place in ``rows``, the row, its shown key.
    enrol: list[tuple[tuple[int, int], int, Candidate, str | None]] = []
    assign: list[tuple[tuple[int, int, int, int], int, Candidate, str | None]] = []
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
            if apply:
                enrol.append(((mission, int(student)), len(rows), c, key))
            rows.append(_row(import_id, c, "create", key=key, target="Enrollment",
                             after={"status": "active"}))  # fmt: skip
            continue
        if enrollment is None:
            c.problem("mission", "NOT_ENROLLED", "The student is not enrolled in this mission.")
            rows.append(_row(import_id, c, "reject", key=key))
            continue
        if (enrollment, mentor) in assigned:
            rows.append(_row(import_id, c, "unchanged", key=key, target="MentorAssignment"))
            continue
        assigned.add((enrollment, mentor))
        if apply:
            assert mentor is not None
            assign.append(((enrollment, int(mentor), mission, int(student)), len(rows), c, key))
        rows.append(_row(import_id, c, "create", key=key, target="MentorAssignment",
                         after={}))  # fmt: skip
    for (mission, student), at, c, key in sorted(enrol, key=lambda e: e[0]):
        target = await inserted_id(
            session, Enrollment,
            {"mission_id": mission, "student_id": student, "status": "active",
             "created_at": now, "updated_at": now},
            ["mission_id", "student_id"],
        )  # fmt: skip
        if target is None:
            # Enrolled since this batch read (another run at the same time): as is.
            rows[at] = await _enrolled_meanwhile(session, import_id, c, key, mission, student)
        else:
            rows[at]["target_id"] = int(target)
    for (enrollment, mentor, mission, student), at, c, key in sorted(assign, key=lambda a: a[0]):
        target = await inserted_id(
            session, MentorAssignment,
            {"enrollment_id": enrollment, "mission_id": mission, "student_id": student,
             "mentor_id": mentor, "created_at": now},
            ["enrollment_id", "mentor_id"],
        )  # fmt: skip
        if target is None:  # assigned since this batch read (another run): as is
            rows[at] = _row(import_id, c, "unchanged", key=key, target="MentorAssignment")
        else:
            rows[at]["target_id"] = target
    return rows


async def _enrolled_meanwhile(
    session: Any, import_id: int, c: Candidate, key: str | None, mission: int, student: int
) -> dict[str, Any]:
    """The row of an enrolment another run made since the batch read: unchanged (or, gone
    again meanwhile, refused)."""
    found = await session.scalar(
        select(Enrollment.id).where(Enrollment.mission_id == mission,
                                    Enrollment.student_id == student)
    )  # fmt: skip
    if found is None:
        c.problem("", "CONFLICT", "Enrolled and removed by someone else at the same time; run "
                  "the import again for this row.")  # fmt: skip
        return _row(import_id, c, "reject", key=key)
    return _row(import_id, c, "unchanged", key=key, target="Enrollment", target_id=int(found))


# Where a gift's rule names a field by its GraphQL name, the column that holds it.
GIFT_COLUMNS = {"fundId": "fund", "campaignId": "campaign", "paymentMethod": "payment_method",
                "tributeKind": "tribute_kind", "tributeName": "tribute_name",
                "idempotencyKey": "key", "donorName": "donor_name", "donorEmail": "donor_email",
                "donor": "donor_email", "userId": "donor_email", "softCreditUserId": "",
                "note": ""}  # fmt: skip


def _gift_problems(c: Candidate, problems: Sequence[Problem]) -> None:
    for found in problems:
        where = found.field[0] if isinstance(found.field, tuple) and found.field else found.field
        column = GIFT_COLUMNS.get(str(where or ""), str(where or ""))
        if not any(p["field"] == column and p["code"] == found.code for p in c.problems):
            c.problem(column, found.code, found.message)


async def _gift_lookups(uow: UnitOfWork, batch: list[Candidate], state: _State) -> dict[str, int]:
    """What a batch of gifts names, read in a few statements: its funds and campaigns (kept
    for the run) and the users with its donors' e-mails (answered: lower-case e-mail → id)."""
    session = uow.session
    codes = {c.values["fund"].upper() for c in batch if "fund" in c.values} - set(state.funds)
    if codes:
        found_funds = await session.execute(
            select(Fund).where(func.upper(Fund.code).in_(list(codes)))
        )
        known = {f.code.upper(): f for f in found_funds.scalars()}
        for code in codes:
            state.funds[code] = known.get(code)
    names = {c.values["campaign"].lower() for c in batch if "campaign" in c.values}
    names -= set(state.campaigns)
    if names:
        found_campaigns = (await session.execute(
            select(Campaign).where(func.lower(Campaign.name).in_(list(names)),
                                   Campaign.status != "draft")
        )).scalars().all()  # fmt: skip
        listed: dict[int, set[int]] = {}
        for campaign_id, fund_id in (await session.execute(
            select(CampaignFund.campaign_id, CampaignFund.fund_id)
            .where(CampaignFund.campaign_id.in_([k.id for k in found_campaigns]))
        )).all():  # fmt: skip
            listed.setdefault(int(campaign_id), set()).add(int(fund_id))
        for name in names:
            state.campaigns[name] = []
        for campaign in found_campaigns:
            state.campaigns[campaign.name.lower()].append(
                (campaign, listed.get(int(campaign.id), set()))
            )
    emails = list({c.values["donor_email"].lower() for c in batch if "donor_email" in c.values})
    users = await session.execute(
        select(User.email_lower, User.id).where(User.email_lower.in_(emails))
    )
    return {str(address): int(i) for address, i in users.all()}


def _gift_key_of(c: Candidate, minor: int, currency: str, fund: str) -> str:
    """The row's idempotency key: its key column's, else a digest of what says which gift
    it is (the same row in another file, or the file again, is the same gift)."""
    if "key" in c.values:
        return f"import:{c.values['key']}"
    said = "\x1f".join([
        c.values["donor_email"].lower(), c.values["date"].isoformat(), str(minor), currency,
        fund.upper(), c.values.get("reference", ""),
    ])  # fmt: skip
    return f"import-sha256:{hashlib.sha256(said.encode()).hexdigest()}"


def _gift_shown(c: Candidate) -> str | None:
    """A gift as the file names it: its key, or the donor, the date and the amount."""
    if "key" in c.values:
        return str(c.values["key"])[:255]
    parts = [c.values.get("donor_email"), c.values.get("date"), c.values.get("amount"),
             c.values.get("currency")]  # fmt: skip
    return " / ".join(str(p) for p in parts if p is not None)[:255] or None


async def _gifts(
    uow: UnitOfWork, import_id: int, batch: list[Candidate], state: _State, apply: bool
) -> list[dict[str, Any]]:
    """Historical gifts: each row checked as ``gifts.record`` checks a gift (a preview
    writes nothing), then, in a run, recorded through it (source ``import``: the totals
    kept, no receipt number), once per idempotency key."""
    session = uow.session
    users = await _gift_lookups(uow, batch, state)
    planned: list[tuple[Candidate, str, DonorRef, gift_rules.GiftFields]] = []
    for c in batch:
        _require("gifts", c)
        problems = Problems()
        currency = ""
        if "currency" in c.values:
            currency = gift_rules.check_currency(problems, c.values["currency"])
        minor = None
        if "amount" in c.values and money.known(currency):
            minor = gift_rules.check_amount(problems, c.values["amount"], currency)
        if "date" in c.values:
            gift_rules.check_date(problems, c.values["date"])
        fund = state.funds.get(c.values.get("fund", "").upper())
        if "fund" in c.values and (fund is None or not fund.active):
            problems.add("NOT_FOUND", f"No open fund {c.values['fund']!r}.", "fund")
        campaign = None
        if "campaign" in c.values:
            named = state.campaigns.get(c.values["campaign"].lower(), [])
            if len(named) > 1:
                problems.add("AMBIGUOUS", "Two campaigns have this name; rename one first.",
                             "campaign")  # fmt: skip
            elif not named:
                problems.add("NOT_FOUND", f"No campaign {c.values['campaign']!r}.", "campaign")
            else:
                campaign, funds = named[0]
                if campaign.currency != currency and "currency" in c.values:
                    problems.add("WRONG_CURRENCY",
                                 f"Gifts to this campaign are in {campaign.currency}.",
                                 "currency")  # fmt: skip
                if fund is not None and funds and fund.id not in funds:
                    problems.add("WRONG_FUND", "This campaign does not raise for that fund.",
                                 "fund")  # fmt: skip
        if "tribute_kind" in c.values and "tribute_name" not in c.values:
            problems.add("REQUIRED", "Name the person honoured (tribute_name).", "tribute_name")
        if "tribute_name" in c.values and "tribute_kind" not in c.values:
            problems.add("REQUIRED", "Say whether in honour or in memory (tribute_kind).",
                         "tribute_kind")  # fmt: skip
        address = c.values.get("donor_email", "").lower()
        user_id = users.get(address)
        if address and user_id is None and "donor_name" not in c.values:
            problems.add("REQUIRED", "No one has this e-mail: an outside donor needs "
                         "donor_name.", "donor_name")  # fmt: skip
        _gift_problems(c, problems.items)
        key = None
        if not c.problems:
            assert minor is not None
            assert fund is not None
            key = _gift_key_of(c, minor, currency, fund.code)
            if key in state.seen:
                c.problem("", "DUPLICATE_IN_FILE", "An earlier row is the same gift (give each "
                          "gift a key or a reference to tell them apart).")  # fmt: skip
        if c.problems or key is None:
            continue
        state.seen.add(key)
        assert fund is not None
        donor = DonorRef(user_id=user_id)
        if user_id is None:
            donor = DonorRef(name=c.values["donor_name"], email=c.values["donor_email"])
        planned.append((c, key, donor, gift_rules.GiftFields(
            amount=c.values["amount"], currency=currency, gift_date=c.values["date"],
            fund_id=int(fund.id), campaign_id=int(campaign.id) if campaign is not None else None,
            payment_method=c.values.get("payment_method", "other"),
            reference=c.values.get("reference"), idempotency_key=key,
            anonymous=bool(c.values.get("anonymous", False)),
            tribute_kind=c.values.get("tribute_kind"), tribute_name=c.values.get("tribute_name"),
        )))  # fmt: skip
    recorded = {
        str(g.idempotency_key): g for g in (await session.execute(
            select(Gift).where(Gift.idempotency_key.in_([k for _, k, _, _ in planned]))
        )).scalars()
    } if planned and not apply else {}  # fmt: skip
    rows: dict[int, dict[str, Any]] = {}
    for c, key, donor, given in planned:
        after = _as_json({
            "donor_email": c.values["donor_email"], "amount": str(given.amount),
            "currency": given.currency, "date": given.gift_date, "fund": c.values["fund"],
            **{k: c.values[k] for k in ("donor_name", "campaign", "payment_method",
               "reference", "anonymous", "tribute_kind", "tribute_name", "key")
               if k in c.values},
        })  # fmt: skip
        earlier = recorded.get(key)
        if earlier is not None and not apply:
            if (earlier.amount_minor, earlier.currency, earlier.fund_id) != (
                money.minor_units(given.amount, given.currency),
                given.currency,
                given.fund_id,
            ):
                c.problem("key", "IDEMPOTENCY_CONFLICT",
                          "This key recorded a different gift already.")  # fmt: skip
                continue
            rows[c.row_number] = _row(import_id, c, "unchanged", key=_gift_shown(c),
                                      target="Gift", target_id=earlier.id)  # fmt: skip
            continue
        if not apply:
            rows[c.row_number] = _row(import_id, c, "create", key=_gift_shown(c), target="Gift",
                                      after=after)  # fmt: skip
            continue
        try:
            gift, new = await gift_rules.record(
                uow, None, donor, given, source="import", import_id=import_id
            )
        except DomainError as exc:
            _gift_problems(c, exc.problems)
            continue
        rows[c.row_number] = _row(
            import_id, c, "create" if new else "unchanged", key=_gift_shown(c), target="Gift",
            target_id=gift.id, after=after if new else None,
        )  # fmt: skip
    return [rows.get(c.row_number) or _row(import_id, c, "reject", key=_gift_shown(c))
            for c in batch]  # fmt: skip


def _shown_key(c: Candidate) -> str | None:
    """A membership row as the file names it: the student (e-mail or number), the mission
    and the mentor, never an id."""
    parts = [c.values.get("email") or c.values.get("student_number"), c.values.get("mission"),
             c.values.get("mentor_email")]  # fmt: skip
    shown = " / ".join(str(p) for p in parts if p)
    return shown[:255] or None


async def request_rollback(uow: UnitOfWork, viewer: Viewer, import_id: int) -> Import:
    """``importRollback``: queue the undoing of a completed run, or of what a run that
    stopped part way wrote; not while it, or another import of its file, is at work."""
    _require_some(viewer)
    record = await _locked(uow, import_id)
    if record is None or not may_import(viewer, record.kind):
        raise DomainError.of("NOT_FOUND", "No such import.", "importId")
    if not (record.status == "completed" or (record.status == "failed" and record.rows_of_run)):
        raise DomainError.of(
            "NOT_ROLLBACKABLE",
            "Only a completed run, or a run that stopped part way, can be rolled back.",
            "importId",
        )
    now = datetime.now(UTC)
    await _refuse_while_at_work(uow, record, now, doing="roll back")
    record.status = "rolling_back"
    record.runner, record.heartbeat_at = None, now
    job = await uow.add_job(ROLLBACK_JOB, {"import_id": import_id})
    record.job_id = job.id
    audit.record(uow, "import.rollback", object_type="Import", object_ids=[import_id])
    return record


async def rollback(rt: Runtime, import_id: int, *, job_id: int | None = None) -> dict[str, Any]:
    """Undo what an import created or changed, newest first, except what changed since
    (reported, not overwritten). A rollback that stopped part way goes on: the rows it
    undid are marked so, the others are looked at again."""
    claimed = await _claim(rt, import_id, job_id, ("rolling_back",))
    if isinstance(claimed, str):
        return {"skipped": claimed}
    attempt = claimed
    kept: list[int] = []
    last = None
    try:
        while True:
            async with rt.transaction() as uow:
                await _hold(uow, attempt)
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
                        row.action = "rolled_back"
                    else:
                        kept.append(row.row_number)
                await _written(uow, attempt)
        async with rt.transaction() as uow:
            undone = await uow.session.scalar(
                select(func.count()).where(ImportRow.import_id == import_id,
                                           ImportRow.action == "rolled_back")
            )  # fmt: skip
            await _finish(uow, attempt, None, "rolled_back")
    except _Superseded:
        return {"skipped": "superseded"}
    finally:
        _WORKING_HERE.discard(import_id)
    return {"undone": int(undone or 0), "changedSince": kept[:1000],
            "changedSinceCount": len(kept)}  # fmt: skip


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
    if row.target_type == "Gift":
        return await _undo_gift(uow, row)
    if row.target_type == "Topic":
        return await _undo_topic(uow, row)
    if row.target_type == "MentorAssignment":
        assignment = await session.get(MentorAssignment, row.target_id)
        if assignment is None:
            return False
        await session.delete(assignment)
        return True
    return False


async def _undo_gift(uow: UnitOfWork, row: ImportRow) -> bool:
    """Take an imported gift out of the totals and delete it, unless it has been refunded
    or has paid a pledge instalment since (kept: a refund refers to it, and the pledge
    counts it as paid; refund or unmatch it first)."""
    session = uow.session
    found = await session.execute(select(Gift).where(Gift.id == row.target_id).with_for_update())
    gift = found.scalar_one_or_none()
    if gift is None or gift.import_id != row.import_id or gift.status != "confirmed":
        return False
    since = await session.execute(
        select(or_(
            exists().where(Gift.refund_of_id == gift.id),
            exists().where(PledgeInstalment.gift_id == gift.id),
        ))
    )  # fmt: skip
    if since.scalar():
        return False
    await gift_totals.apply(uow, gift, -1)
    await session.delete(gift)
    audit.record(uow, "gift.remove", object_type="Gift", object_ids=[gift.id],
                 details={"import": row.import_id})  # fmt: skip
    return True


# --- curricula -----------------------------------------------------------------------------

# A curriculum file is read whole (one batch, one transaction): at most this many rows.
CURRICULUM_ROWS_MAX = 20_000
# What a topic row's before and after hold (besides the subject and programme it may add).
TOPIC_VALUES = ("title", "description", "estimated_hours", "position", "prerequisites")


@dataclass
class _TopicRow:
    """A curriculum row that passed its own checks: its topic as "SUBJECT/CODE" and the
    prerequisites it gives (None: the file has no prerequisites column: kept as they are)."""

    c: Candidate
    subject: str
    label: str
    prerequisites: list[str] | None


def _topic_label(c: Candidate) -> str | None:
    if "subject_code" in c.values and "topic_code" in c.values:
        return f"{c.values['subject_code']}/{c.values['topic_code']}"
    return None


def _hours(minutes: int) -> float:
    return curriculum_rules.hours_of(minutes)


async def _curriculum(
    uow: UnitOfWork, import_id: int, batch: list[Candidate], state: _State, apply: bool
) -> list[dict[str, Any]]:
    """A curriculum, read whole: subjects and topics created or updated by code, their order
    (the file's ``position``, else its order, within each subject; topics of the subject the
    file does not name come after), prerequisites replaced (when the file has the column)
    once every row's topic is known, and subjects added to programmes. A row naming an
    unknown topic, or whose prerequisites would close a circle, is rejected (with the circle
    named), and so, in turn, are rows that need a topic a rejected row would have made."""
    session = uow.session
    if state.curriculum_read:
        for c in batch:
            c.problem("", "TOO_MANY", f"A curriculum file has at most {CURRICULUM_ROWS_MAX:,} "
                      "rows: import the rest in another file.")  # fmt: skip
        return [_row(import_id, c, "reject", key=_topic_label(c)) for c in batch]
    state.curriculum_read = True
    replacing = "prerequisites" in state.columns

    # What alumnet holds of the subjects the file names (prerequisites' too).
    codes = {c.values["subject_code"] for c in batch if "subject_code" in c.values}
    codes |= {s for c in batch for s, _ in c.values.get("prerequisites", []) if s}
    subjects: dict[str, Subject] = {}
    if codes:
        found_subjects = await session.execute(
            select(Subject).where(func.upper(Subject.code).in_(sorted(codes)))
        )
        subjects = {str(s.code).upper(): s for s in found_subjects.scalars()}
    code_of = {int(s.id): code for code, s in subjects.items()}
    topics_found = (await session.execute(
        select(Topic).where(Topic.subject_id.in_(list(code_of)))
        .order_by(Topic.subject_id, Topic.position, Topic.id)
    )).scalars().all() if code_of else []  # fmt: skip
    existing: dict[str, Topic] = {}
    present: dict[str, list[str]] = defaultdict(list)  # subject → its topics in order
    for stored_topic in topics_found:
        subject_code = code_of[int(stored_topic.subject_id)]
        existing[f"{subject_code}/{str(stored_topic.code).upper()}"] = stored_topic
        present[subject_code].append(f"{subject_code}/{str(stored_topic.code).upper()}")
    label_of = {int(t.id): known_label for known_label, t in existing.items()}
    if apply:
        await curriculum_rules.lock_graph(session)
    by_id = await curriculum_rules.reachable_edges(session, list(label_of))
    outside = {i for k, vs in by_id.items() for i in (k, *vs)} - set(label_of)
    label_of |= {i: v.upper() for i, v in
                 (await curriculum_rules.topic_labels(session, outside)).items()}  # fmt: skip
    stored_edges = {label_of[k]: {label_of[v] for v in vs} for k, vs in by_id.items()}
    programme_codes = {c.values["programme_code"].upper() for c in batch
                       if "programme_code" in c.values}  # fmt: skip
    programmes: dict[str, int] = {}
    if programme_codes:
        found_programmes = await session.execute(
            select(Programme.code, Programme.id)
            .where(func.upper(Programme.code).in_(sorted(programme_codes)))
        )  # fmt: skip
        programmes = {str(code).upper(): int(i) for code, i in found_programmes.all()}
    linked = set(
        (await session.execute(
            select(ProgrammeSubject.programme_id, ProgrammeSubject.subject_id)
            .where(ProgrammeSubject.subject_id.in_(list(code_of)))
        )).all()
    ) if code_of else set()  # fmt: skip

    # Each row on its own.
    names: dict[str, str] = {}  # subject → its name, as the first row naming it gives it
    planned: dict[int, _TopicRow] = {}
    seen: dict[str, int] = {}
    for c in batch:
        for required in ("subject_code", "topic_code", "topic_title", "estimated_hours"):
            if required not in c.values and not any(p["field"] == required for p in c.problems):
                c.problem(required, "REQUIRED", f"{required} is required.")
        subject = c.values.get("subject_code")
        name = c.values.get("subject_name")
        if subject and name:
            if subject not in names:
                names[subject] = name
            elif names[subject] != name:
                c.problem("subject_name", "INCONSISTENT",
                          f"An earlier row names {subject} {names[subject]!r}.")  # fmt: skip
        joined: str = c.values.get("programme_code", "").upper()
        if joined and joined not in programmes:
            c.problem("programme_code", "NOT_FOUND", f"No programme {joined!r}.")
        label = _topic_label(c)
        if label is not None and not c.problems:
            if label in seen:
                c.problem("topic_code", "DUPLICATE_IN_FILE", f"Row {seen[label]} has {label} too.")
            else:
                seen[label] = c.row_number
        if c.problems or label is None or subject is None:
            continue
        wanted = None
        if replacing:
            wanted = sorted({f"{s or subject}/{t}" for s, t in c.values.get("prerequisites", [])})
            if label in wanted:
                c.problem("prerequisites", "SELF_PREREQUISITE",
                          "A topic cannot be its own prerequisite.")  # fmt: skip
                continue
        planned[c.row_number] = _TopicRow(c, subject, label, wanted)
    for number, t in list(planned.items()):
        if t.subject not in subjects and t.subject not in names:
            t.c.problem("subject_name", "REQUIRED",
                        f"{t.subject} is a new subject: give its name (subject_name).")  # fmt: skip
            del planned[number]
    # No subject past its topics' limit: the rows of new topics beyond it are rejected.
    count = {subject: len(labels) for subject, labels in present.items()}
    for number, t in list(planned.items()):
        if t.label in existing:
            continue
        count[t.subject] = count.get(t.subject, 0) + 1
        if count[t.subject] > curriculum_rules.TOPICS_MAX:
            t.c.problem("topic_code", "TOO_MANY", f"A subject has at most "
                        f"{curriculum_rules.TOPICS_MAX} topics.")  # fmt: skip
            del planned[number]

    # Prerequisites: each a topic alumnet has or a row makes, and no circle. Rejecting a
    # row may leave another without a topic it needs: again until nothing changes.
    while True:
        known = set(existing) | {t.label for t in planned.values()}
        dropped = False
        for number, t in list(planned.items()):
            missing = [p for p in t.prerequisites or [] if p not in known]
            if missing:
                shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
                t.c.problem("prerequisites", "NOT_FOUND",
                            f"No topic {shown} (in this file or in alumnet).")  # fmt: skip
                del planned[number]
                dropped = True
        if dropped:
            continue
        graph = {k: set(v) for k, v in stored_edges.items()}
        for t in planned.values():
            if t.prerequisites is not None:
                graph[t.label] = set(t.prerequisites)
        circles = curriculum_rules.cyclic_components(graph)
        for number, t in list(planned.items()):
            inside = [p for p in t.prerequisites or []
                      if t.label in circles and circles.get(p) == circles[t.label]]  # fmt: skip
            if not inside:
                continue
            path = curriculum_rules.find_cycle(graph, t.label, inside) or [t.label, t.label]
            t.c.problem("prerequisites", "CIRCULAR_PREREQUISITE",
                        "These prerequisites make a circle: "
                        f"{curriculum_rules.describe_cycle(path, {})} (each needs the next "
                        "first).")  # fmt: skip
            del planned[number]
            dropped = True
        if not dropped:
            break

    # The order of each subject's topics.
    order: dict[str, list[str]] = {}
    in_file: dict[str, list[_TopicRow]] = defaultdict(list)
    for t in planned.values():
        in_file[t.subject].append(t)
    for subject, rows_of in in_file.items():
        # The topics the file does not name keep their order, first; then the file's rows
        # without a position, in file order; a row with one goes to that place.
        named = {t.label for t in rows_of}
        final = [x for x in present.get(subject, []) if x not in named]
        final += [t.label for t in rows_of if "position" not in t.c.values]
        placed = sorted((t.c.values["position"], t.c.row_number, t.label) for t in rows_of
                        if "position" in t.c.values)  # fmt: skip
        for place, _, label in placed:
            final.insert(min(place - 1, len(final)), label)
        order[subject] = final

    # Each row's outcome, with what it changes (before and after, for the report and for
    # rollback). A new subject, a renamed one and a programme joined are the first such row's.
    rows: dict[int, dict[str, Any]] = {}
    noted: set[str] = set()
    joins: set[tuple[str, str]] = set()
    changes: dict[int, dict[str, Any]] = {}  # row number → the topic's new values
    for t in planned.values():
        c = t.c
        topic = existing.get(t.label)
        wanted_values: dict[str, Any] = {
            "title": c.values["topic_title"],
            "estimated_hours": _hours(c.values["estimated_hours"]),
            "position": order[t.subject].index(t.label) + 1,
        }
        if "topic_description" in c.values:
            wanted_values["description"] = c.values["topic_description"]
        elif topic is None:
            wanted_values["description"] = ""
        if t.prerequisites is not None:
            wanted_values["prerequisites"] = t.prerequisites
        elif topic is None:
            wanted_values["prerequisites"] = []
        added_before: dict[str, Any] = {}
        added_after: dict[str, Any] = {}
        subject_row = subjects.get(t.subject)
        if t.subject not in noted:
            noted.add(t.subject)
            if subject_row is None:
                added_before["subject_name"] = None
                added_after["subject_name"] = names[t.subject]
                added_after["subject_created"] = True
            elif t.subject in names and names[t.subject] != subject_row.name:
                added_before["subject_name"] = subject_row.name
                added_after["subject_name"] = names[t.subject]
            if subject_row is not None and order[t.subject] != present.get(t.subject, []):
                # The subject's whole order, for a rollback to put back.
                added_before["order"] = present.get(t.subject, [])
                added_after["order"] = order[t.subject]
        joined = c.values.get("programme_code", "").upper()
        if (
            joined
            and (joined, t.subject) not in joins
            and (subject_row is None or (programmes[joined], int(subject_row.id)) not in linked)
        ):
            joins.add((joined, t.subject))
            added_before["programme"], added_after["programme"] = None, joined
        if topic is None:
            changes[c.row_number] = wanted_values
            rows[c.row_number] = _row(import_id, c, "create", key=t.label, target="Topic",
                                      before=added_before or None,
                                      after=_as_json(wanted_values | added_after))  # fmt: skip
            continue
        now_values = {
            "title": topic.title, "description": topic.description,
            "estimated_hours": _hours(topic.estimated_minutes),
            "position": present[t.subject].index(t.label) + 1,
            "prerequisites": sorted(stored_edges.get(t.label, set())),
        }  # fmt: skip
        changed = {k: v for k, v in wanted_values.items() if now_values[k] != v}
        if not changed and not added_after:
            rows[c.row_number] = _row(import_id, c, "unchanged", key=t.label, target="Topic",
                                      target_id=int(topic.id))  # fmt: skip
            continue
        changes[c.row_number] = changed
        rows[c.row_number] = _row(
            import_id, c, "update", key=t.label, target="Topic", target_id=int(topic.id),
            before=_as_json({k: now_values[k] for k in changed} | added_before),
            after=_as_json(changed | added_after),
        )  # fmt: skip
    if apply and (changes or any(r["after"] for r in rows.values())):
        await _apply_curriculum(uow, import_id, planned, rows, changes, subjects, existing,
                                order, by_id, programmes)  # fmt: skip
    return [rows.get(c.row_number) or _row(import_id, c, "reject", key=_topic_label(c))
            for c in batch]  # fmt: skip


async def _apply_curriculum(
    uow: UnitOfWork,
    import_id: int,
    planned: dict[int, _TopicRow],
    rows: dict[int, dict[str, Any]],
    changes: dict[int, dict[str, Any]],
    subjects: dict[str, Subject],
    existing: dict[str, Topic],
    order: dict[str, list[str]],
    stored: dict[int, set[int]],
    programmes: dict[str, int],
) -> None:
    """Write a curriculum as ``_curriculum`` decided it: subjects, topics, their order,
    then prerequisites (every topic exists by then), then programmes."""
    session = uow.session
    now = datetime.now(UTC)
    made_subjects = made_topics = changed_topics = 0
    for t in planned.values():
        after = rows[t.c.row_number]["after"] or {}
        if after.get("subject_created"):
            subject = Subject(code=t.subject, name=after["subject_name"], description="",
                              status="active", created_at=now, updated_at=now)  # fmt: skip
            session.add(subject)
            await session.flush()
            subjects[t.subject] = subject
            made_subjects += 1
        elif "subject_name" in after:
            subjects[t.subject].name = after["subject_name"]
            subjects[t.subject].updated_at = now
    for n, t in enumerate(planned.values()):
        values = changes.get(t.c.row_number)
        if values is None:
            continue
        found = existing.get(t.label)
        if found is None:
            topic = Topic(subject_id=subjects[t.subject].id, code=t.label.split("/", 1)[1],
                          title=values["title"], description=values["description"],
                          position=curriculum_rules.TOPICS_MAX * 1000 + n,
                          estimated_minutes=t.c.values["estimated_hours"],
                          created_at=now, updated_at=now)  # fmt: skip
            session.add(topic)
            await session.flush()
            existing[t.label] = topic
            rows[t.c.row_number]["target_id"] = int(topic.id)
            made_topics += 1
            continue
        for key in ("title", "description"):
            if key in values:
                setattr(found, key, values[key])
        if "estimated_hours" in values:
            found.estimated_minutes = t.c.values["estimated_hours"]
        found.updated_at = now
        changed_topics += 1
    await session.flush()
    for subject_code, labels in order.items():
        await curriculum_rules.renumber(
            session, int(subjects[subject_code].id), [int(existing[x].id) for x in labels]
        )
    for t in planned.values():
        if t.prerequisites is None:
            continue
        topic = existing[t.label]
        await curriculum_rules.write_prerequisites(
            session, int(topic.id), stored.get(int(topic.id), set()),
            {int(existing[p].id) for p in t.prerequisites},
        )  # fmt: skip
    for t in planned.values():
        code = (rows[t.c.row_number]["after"] or {}).get("programme")
        if code is None:
            continue
        last = await session.scalar(
            select(func.max(ProgrammeSubject.position))
            .where(ProgrammeSubject.programme_id == programmes[code])
        )  # fmt: skip
        await insert_or_ignore(
            session, ProgrammeSubject,
            {"programme_id": programmes[code], "subject_id": int(subjects[t.subject].id),
             "position": (last if last is not None else -1) + 1},
            ["programme_id", "subject_id"],
        )  # fmt: skip
    audit.record(uow, "curriculum.import", object_type="Import", object_ids=[import_id],
                 details={"subjectsCreated": made_subjects, "topicsCreated": made_topics,
                          "topicsUpdated": changed_topics})  # fmt: skip


async def _topic_now(session: Any, topic: Topic) -> dict[str, Any]:
    """A topic's values as a curriculum row's before and after hold them (but position)."""
    found = await session.execute(
        select(Subject.code, Topic.code)
        .join(TopicPrerequisite, TopicPrerequisite.requires_id == Topic.id)
        .join(Subject, Subject.id == Topic.subject_id)
        .where(TopicPrerequisite.topic_id == topic.id)
    )  # fmt: skip
    return {"title": topic.title, "description": topic.description,
            "estimated_hours": _hours(topic.estimated_minutes),
            "prerequisites": sorted(f"{s}/{t}".upper() for s, t in found.all())}  # fmt: skip


async def _restore_order(
    session: Any, subject: Subject, before: list[str], after: list[str]
) -> None:
    """Put a subject's topics back in the order an import found them, if they are still in
    the order it left them (a reorder since is kept)."""
    found = await session.execute(
        select(Topic.id, Topic.code).where(Topic.subject_id == subject.id)
        .order_by(Topic.position, Topic.id)
    )  # fmt: skip
    ids = {f"{subject.code}/{code}".upper(): int(i) for i, code in found.all()}
    now = list(ids)
    if [x for x in now if x in set(after)] != [x for x in after if x in ids]:
        return
    wanted = [x for x in before if x in ids] + [x for x in now if x not in set(before)]
    await curriculum_rules.renumber(session, int(subject.id), [ids[x] for x in wanted])


async def _undo_topic(uow: UnitOfWork, row: ImportRow) -> bool:
    """Undo a curriculum row: delete the topic it created (unless progress or an assessment
    is recorded for it since: kept), or put back what it changed; either only if the topic
    still holds what the import wrote. The subject it created goes with its last topic
    (unless offered or given other topics since); a programme it joined it to, it leaves."""
    session = uow.session
    topic = await session.get(Topic, row.target_id)
    if topic is None:
        return False
    before, after = dict(row.before or {}), dict(row.after or {})
    await curriculum_rules.lock_graph(session)
    now_values = await _topic_now(session, topic)
    if any(now_values[k] != after[k] for k in now_values if k in after):
        return False
    subject = await session.get(Subject, topic.subject_id)
    assert subject is not None
    if row.action == "created":
        if await curriculum_rules.has_progress(session, [int(topic.id)]):
            return False
        await session.execute(
            delete(TopicPrerequisite).where(or_(TopicPrerequisite.topic_id == topic.id,
                                                TopicPrerequisite.requires_id == topic.id))
        )  # fmt: skip
        await session.delete(topic)
        await session.flush()
        await curriculum_rules.renumber(session, int(subject.id))
    else:
        if "prerequisites" in before:
            wanted = [tuple(str(p).split("/", 1)) for p in before["prerequisites"]]
            ids: list[int] = []
            if wanted:
                found = await session.execute(
                    select(Topic.id, Subject.code, Topic.code)
                    .join(Subject, Subject.id == Topic.subject_id)
                    .where(tuple_(func.upper(Subject.code), func.upper(Topic.code)).in_(wanted))
                )  # fmt: skip
                ids = [int(i) for i, _, _ in found.all()]
                if len(ids) != len(wanted):
                    return False  # a topic it needed is gone: nothing to go back to
            edges = await curriculum_rules.reachable_edges(session, ids)
            edges.pop(int(topic.id), None)
            if curriculum_rules.find_cycle(edges, int(topic.id), ids) is not None:
                return False  # other changes since would make it a circle
            current = (await session.execute(
                select(TopicPrerequisite.requires_id).where(TopicPrerequisite.topic_id == topic.id)
            )).scalars().all()  # fmt: skip
            await curriculum_rules.write_prerequisites(
                session, int(topic.id), [int(i) for i in current], ids
            )
        for key in ("title", "description"):
            if key in before:
                setattr(topic, key, before[key])
        if "estimated_hours" in before:
            topic.estimated_minutes = round(float(before["estimated_hours"]) * 60)
        topic.updated_at = datetime.now(UTC)
        await session.flush()
    if "order" in after:
        await _restore_order(session, subject, before.get("order") or [], after["order"])
    if after.get("programme"):
        joined = select(Programme.id).where(func.upper(Programme.code) == after["programme"])
        await session.execute(
            delete(ProgrammeSubject).where(
                ProgrammeSubject.subject_id == subject.id,
                ProgrammeSubject.programme_id.in_(joined),
            )
        )
    if "subject_name" in after:
        if after.get("subject_created"):
            still_used = or_(
                exists().where(Topic.subject_id == subject.id),
                exists().where(SubjectOffering.subject_id == subject.id),
            )
            if not await session.scalar(select(still_used)):
                await session.execute(
                    delete(ProgrammeSubject).where(ProgrammeSubject.subject_id == subject.id)
                )
                await session.delete(subject)
        elif subject.name == after["subject_name"]:
            subject.name = before.get("subject_name") or subject.name
    return True
