"""Import templates: for each kind of import, the columns it reads (the header to write, the
other headers it understands, whether the column is required, what goes in it and an
example), and empty CSV and Excel files with those headers to fill in.

Templates hold no data, only what `imports.KINDS`, `REQUIRED` and `SYNONYMS` say, so the
files are made on request, and a link to one is signed only so that it stays among the
people who may import."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from alumnet.config import Settings
from alumnet.domain.data import imports

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
LINK_AUDIENCE = "alumnet:import-template"
LINK_TTL = timedelta(minutes=15)


@dataclass(frozen=True)
class Column:
    header: str
    description: str
    example: str


COLUMNS: dict[str, Column] = {
    "email": Column(
        "Email",
        "The person's e-mail address. It says who the row is about: a "
        "person who already has it is updated, anyone else is created.",
        "ama.mensah@example.org",
    ),
    "name": Column(
        "Full name",
        "The name as it should appear (or give First name and Last name columns instead).",
        "Ama Mensah",
    ),
    "first_name": Column("First name", "With Last name, instead of a Full name column.", "Ama"),
    "last_name": Column("Last name", "With First name, instead of a Full name column.", "Mensah"),
    "graduation_year": Column("Graduation year", "The year they graduated: four digits.", "2015"),
    "expected_graduation_year": Column(
        "Expected graduation year", "The year they are expected to graduate: four digits.", "2027"
    ),
    "programme": Column(
        "Programme code",
        "The code of one of the institution's programmes "
        "(as `programmes` lists them), any letter case.",
        "BSC-CS",
    ),
    "phone": Column("Phone", "A phone number, as written.", "+233 20 123 4567"),
    "company": Column("Company", "Where they work now.", "Acme Ltd"),
    "job_title": Column("Job title", "What they do there.", "Software engineer"),
    "city": Column("City", "Where they live.", "Accra"),
    "country": Column("Country", "Where they live: the two-letter ISO 3166 code.", "GH"),
    "date_of_birth": Column(
        "Date of birth",
        "A date: 1993-03-12, 12/03/1993 (day first), 12.03.1993 or 12 March 1993.",
        "1993-03-12",
    ),
    "student_number": Column(
        "Student number",
        "The institution's number for the student: 3 to 32 letters, digits, - or /.",
        "CS/2021/0042",
    ),
    "semester": Column("Semester", "The semester they are in, from 1 to 20.", "3"),
    "student": Column(
        "Student",
        "The student, by e-mail address or student number, in one "
        "column (instead of Email or Student number).",
        "ama.mensah@example.org",
    ),
    "mission": Column("Mission code", "The code of the mission, any letter case.", "B1-A"),
    "mentor_email": Column(
        "Mentor email",
        "The e-mail address of a mentor known to alumnet.",
        "kofi.boateng@example.org",
    ),
    # Gifts (historical giving, recorded by giving staff).
    "donor_email": Column(
        "Donor email",
        "Who gave: a person with an account under this e-mail is the donor; anyone else is "
        "an outside donor (give Donor name too).",
        "ama.mensah@example.org",
    ),
    "donor_name": Column(
        "Donor name",
        "An outside donor's name (needed when no one has the e-mail; ignored otherwise).",
        "Kwame Asante",
    ),
    "amount": Column(
        "Amount",
        "The amount, exact, in major units with at most the currency's decimals (a point for "
        "decimals; commas may set off thousands); more than zero.",
        "1250.00",
    ),
    "currency": Column("Currency", "The ISO 4217 code of the currency.", "USD"),
    "date": Column(
        "Gift date",
        "The day it was given, not in the future: 2024-03-12, 12/03/2024 (day first), "
        "12.03.2024 or 12 March 2024.",
        "2024-03-12",
    ),
    "fund": Column("Fund code", "The code of an open fund (any letter case).", "SCHOL"),
    "campaign": Column(
        "Campaign",
        "Optional: a campaign's exact name (any letter case; not a draft). The gift must be in "
        "its currency and to one of its funds.",
        "Library appeal",
    ),
    "payment_method": Column(
        "Payment method",
        "cash, cheque, card, bank transfer, online or other (empty: other).",
        "bank transfer",
    ),
    "reference": Column(
        "Reference", "The payment's reference (a cheque or transaction number).", "TRX-2024-118"
    ),
    "anonymous": Column(
        "Anonymous", "yes: the donor's name is shown to giving staff only (empty: no).", "no"
    ),
    "tribute_kind": Column(
        "Tribute", "Optional: in honour or in memory of someone (with Tribute name).", "memory"
    ),
    "tribute_name": Column("Tribute name", "The person honoured or remembered.", "Esi Owusu"),
    "key": Column(
        "Key",
        "Optional: the gift's id in the system it comes from (up to 193 characters). A gift is "
        "recorded once per key, however often it is imported; without one, a row is the same "
        "gift as another with the same donor, date, amount, currency, fund and reference.",
        "LEGACY-000123",
    ),
    # Curricula (academics managers).
    "subject_code": Column(
        "Subject code",
        "The subject's code: 1 to 32 letters, digits, - or _ (any letter case). A subject "
        "alumnet has is updated, another is created.",
        "PY-101",
    ),
    "subject_name": Column(
        "Subject name",
        "The subject's name: needed for a new subject (one row of it is enough); a different "
        "name renames a subject alumnet has.",
        "Python programming",
    ),
    "topic_code": Column(
        "Topic code",
        "The topic's code within its subject: 1 to 32 letters, digits, - or _. A topic the "
        "subject has is updated, another is created.",
        "T1",
    ),
    "topic_title": Column("Topic title", "What the topic is called.", "Variables and types"),
    "topic_description": Column(
        "Topic description", "Optional: what it covers (empty: kept as it is).", "Names, values"
    ),
    "position": Column(
        "Position",
        "Optional: its place in the subject (a number; 1 first). Without it, the file's order.",
        "1",
    ),
    "estimated_hours": Column(
        "Estimated hours", "The hours it takes: 0 to 1000, in quarter hours.", "2.5"
    ),
    "prerequisites": Column(
        "Prerequisites",
        "Optional: the topics to do first, separated by ';': T1 in the same subject, SUBJ/T1 "
        "in another (empty: none). Without the column, prerequisites stay as they are.",
        "T1; MATH-101/T3",
    ),
    "programme_code": Column(
        "Programme code",
        "Optional: a programme's code (any letter case); the subject is added to it.",
        "BSC-CS",
    ),
}
# The columns of a kind's template file: the other fields are alternatives to these.
ALTERNATIVES = {"first_name", "last_name", "student"}
MEMBERSHIP_EMAIL = Column(
    "Email", "The student's e-mail address (or give Student number).", "ama.mensah@example.org"
)
MEMBERSHIP_NUMBER = Column(
    "Student number", "The student's number (or give Email).", "CS/2021/0042"
)
DESCRIPTIONS = {
    "alumni": "Alumni, one a row: created, or updated when their e-mail is known.",
    "students": "Students, one a row: created, or updated when their e-mail is known.",
    "enrollments": "Students to enrol in missions, one enrolment a row; each row names the "
    "student by e-mail or student number.",
    "mentor_assignments": "Mentors for enrolled students, one a row; each row names the "
    "student by e-mail or student number.",
    "curriculum": "A curriculum, one topic a row (academics managers): subjects and their "
    "topics created or updated by code, in order, with estimated hours and prerequisites.",
    "gifts": "Historical gifts, one a row, recorded once each (giving staff): imported gifts "
    "count in the campaign and donor totals and get no receipt from alumnet.",
}


@dataclass(frozen=True)
class TemplateField:
    field: str
    required: bool
    header: str
    synonyms: tuple[str, ...]
    description: str
    example: str
    in_template: bool


def fields(kind: str) -> list[TemplateField]:
    """What an import of ``kind`` reads, in the order of its template's columns."""
    imports.check_kind(kind)
    found = []
    for name in imports.KINDS[kind]:
        column = COLUMNS[name]
        if kind in imports.ANY_OF and name == "email":
            column = MEMBERSHIP_EMAIL
        elif kind in imports.ANY_OF and name == "student_number":
            column = MEMBERSHIP_NUMBER
        own = {column.header.casefold(), name.replace("_", " ")}
        others = tuple(s for s in imports.synonyms(kind, name) if s.casefold() not in own)
        found.append(TemplateField(
            field=name, required=name in imports.REQUIRED[kind], header=column.header,
            synonyms=others, description=column.description, example=column.example,
            in_template=name not in ALTERNATIVES,
        ))  # fmt: skip
    return found


def description(kind: str) -> str:
    return DESCRIPTIONS[kind]


def render(kind: str, fmt: str) -> tuple[bytes, str, str]:
    """The template file, its content type and its file name: the header row alone (an
    example row would be imported with the rest if left in), and in Excel each header's
    description and example as a note, and text cells (so that "0042" and "+233 …" stay
    as written)."""
    imports.check_kind(kind)
    columns = [f for f in fields(kind) if f.in_template]
    headers = [f.header for f in columns]
    name = f"{kind.replace('_', '-')}-import-template.{fmt}"
    if fmt == "csv":
        text = io.StringIO()
        csv.writer(text, lineterminator="\r\n").writerow(headers)
        return text.getvalue().encode("utf-8-sig"), FORMATS[fmt], name
    if fmt != "xlsx":
        raise ValueError(f"no template format {fmt!r}")
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = kind.replace("_", " ").capitalize()
    sheet.append(headers)
    for index, column in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font = Font(bold=True)
        note = ("Required. " if column.required else "") + column.description
        cell.comment = Comment(f"{note} Example: {column.example}", "alumnet")
        dimension = sheet.column_dimensions[get_column_letter(index)]
        dimension.width = max(14, len(column.header) + 4)
        dimension.number_format = "@"
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), FORMATS[fmt], name


def link(settings: Settings, user_id: int, kind: str, fmt: str) -> str:
    """A link to a template, valid for 15 minutes, for someone who may import."""
    claims = {"sub": str(user_id), "kind": kind, "format": fmt, "aud": LINK_AUDIENCE,
              "exp": datetime.now(UTC) + LINK_TTL}  # fmt: skip
    token = jwt.encode(claims, settings.secret_key, algorithm="HS256")
    return f"{settings.public_url}/downloads/import-template?token={token}"


def read_link(settings: Settings, token: str) -> tuple[str, str] | None:
    """(kind, format) behind a valid, unexpired template link."""
    try:
        claims = jwt.decode(
            token, settings.secret_key, algorithms=["HS256"], audience=LINK_AUDIENCE,
            options={"require": ["sub", "kind", "format", "aud", "exp"]},
        )  # fmt: skip
    except (jwt.PyJWTError, TypeError, ValueError):
        return None
    kind, fmt = claims.get("kind"), claims.get("format")
    if kind not in imports.KINDS or fmt not in FORMATS:
        return None
    return str(kind), str(fmt)
