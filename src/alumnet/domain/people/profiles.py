"""Editing a profile: one's own, or anyone's for administrators who manage users.

``changes`` holds only the fields given; a None value clears the field. Lists (work
history, skills, achievements, social links) replace what was there.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, insert, select, update

from alumnet.domain.errors import DomainError, Problems, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.people.privacy import LEVELS
from alumnet.persistence.db import insert_or_ignore
from alumnet.persistence.models import (
    Achievement,
    Degree,
    Profile,
    Programme,
    Skill,
    SocialLink,
    User,
    UserSkill,
    WorkExperience,
)
from alumnet.persistence.uow import UnitOfWork

PROFICIENCIES = ("beginner", "intermediate", "advanced", "expert")
LINK_KINDS = ("linkedin", "github", "website", "x", "cv", "other")
COUNTRY = re.compile(r"^[A-Z]{2}$")
STUDENT_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/-]{2,31}$")
LIST_MAX = 50
URL_MAX = 500
# What a verified academic record vouches for: changing any makes it unverified again.
RECORD_FIELDS = ("programme_id", "student_number", "cgpa", "expected_graduation_year")


@dataclass(frozen=True)
class Work:
    company: str
    title: str
    started_on: date
    ended_on: date | None = None


@dataclass(frozen=True)
class SkillLevel:
    name: str
    proficiency: str = "intermediate"


@dataclass(frozen=True)
class AchievementItem:
    title: str
    description: str | None = None
    year: int | None = None


@dataclass(frozen=True)
class Link:
    kind: str
    url: str


def check_url(problems: Problems, value: str, field: Any, *, https_only: bool) -> str:
    """A web address people can open: http(s) with a host, at most 500 characters."""
    url = value.strip()
    # No spaces, control characters or backslashes (which browsers read as slashes).
    plain = not any(c.isspace() or unicodedata.category(c) == "Cc" or c == "\\" for c in url)
    try:
        parts = urlsplit(url)
        host_ok = bool(parts.hostname) and plain
    except ValueError:
        parts, host_ok = None, False
    schemes = ("https",) if https_only else ("http", "https")
    if len(url) > URL_MAX:
        problems.add("TOO_LONG", f"A link is at most {URL_MAX} characters.", field)
    elif parts is None or parts.scheme not in schemes or not host_ok:
        need = "an https:// address" if https_only else "an http:// or https:// address"
        problems.add("INVALID_URL", f"This must be {need} with a host.", field)
    return url


def _year(problems: Problems, value: int | None, field: str, label: str) -> int | None:
    if value is not None and not 1900 <= value <= datetime.now(UTC).year + 10:
        problems.add("INVALID", f"{label} must be between 1900 and ten years from now.", field)
    return value


async def may_edit(viewer: Viewer, user_id: int) -> None:
    me = viewer.require_user()
    if me != user_id and not viewer.can(Permission.USERS_MANAGE):
        raise DomainError.of("NOT_FOUND", "No such profile.", "userId")


async def profile_of(uow: UnitOfWork, user_id: int) -> Profile:
    """The user's profile, created empty on first use."""
    if await uow.session.get(User, user_id) is None:
        raise DomainError.of("NOT_FOUND", "No such profile.", "userId")
    now = datetime.now(UTC)
    await insert_or_ignore(
        uow.session, Profile,
        {"user_id": user_id, "record_status": "unverified", "contact_visibility": "staff",
         "work_visibility": "everyone", "education_visibility": "everyone",
         "location_visibility": "everyone", "show_viewers": False, "open_to_students": False,
         "created_at": now,
         "updated_at": now},
        ["user_id"],
    )  # fmt: skip
    profile = await uow.session.get(Profile, user_id, with_for_update=True)
    assert profile is not None
    return profile


async def update_profile(
    uow: UnitOfWork,
    viewer: Viewer,
    user_id: int,
    changes: dict[str, Any],
    *,
    work: list[Work] | None = None,
    skills: list[SkillLevel] | None = None,
    achievements: list[AchievementItem] | None = None,
    links: list[Link] | None = None,
) -> Profile:
    await may_edit(viewer, user_id)
    profile = await profile_of(uow, user_id)
    problems = Problems()
    values = _check_fields(problems, changes)
    programme = values.get("programme_id")
    if programme is not None and await uow.session.get(Programme, programme) is None:
        problems.add("NOT_FOUND", "No such programme.", "programmeId")
    if values.get("student_number"):
        taken = await uow.session.execute(
            select(Profile.user_id).where(
                Profile.student_number == values["student_number"], Profile.user_id != user_id
            )
        )
        if taken.first() is not None:
            problems.add("TAKEN", "Another person has this student number.", "studentNumber")
    born = values.get("date_of_birth", profile.date_of_birth)
    expected = values.get("expected_graduation_year", profile.expected_graduation_year)
    if born is not None and expected is not None and expected < born.year:
        problems.add(
            "BEFORE_BIRTH", "Graduation cannot come before birth.", "expectedGraduationYear"
        )
    if "date_of_birth" in values and born is not None:
        degrees = await uow.session.execute(
            select(func.min(Degree.graduation_year)).where(Degree.user_id == user_id)
        )
        earliest = degrees.scalar()
        if earliest is not None and earliest < born.year:
            problems.add("BEFORE_BIRTH", "A degree of yours ends before this birth date.",
                         "dateOfBirth")  # fmt: skip
    checked_work = _check_work(problems, work)
    checked_skills = _check_skills(problems, skills)
    checked_achievements = _check_achievements(problems, achievements)
    checked_links = _check_links(problems, links)
    problems.raise_if_any()
    if any(f in values and values[f] != getattr(profile, f) for f in RECORD_FIELDS):
        profile.record_status, profile.record_note = "unverified", None
    for name, value in values.items():
        setattr(profile, name, value)
    profile.updated_at = datetime.now(UTC)
    await _replace_lists(uow, user_id, checked_work, checked_skills, checked_achievements,
                         checked_links)  # fmt: skip
    await refresh_graduation_year(uow, user_id)
    audit.record(
        uow, "profile.update", object_type="Profile", object_ids=[user_id],
        details={"changed": sorted(values) + [k for k, v in (
            ("workHistory", work), ("skills", skills), ("achievements", achievements),
            ("socialLinks", links)) if v is not None]},
    )  # fmt: skip
    await uow.session.flush()
    return profile


def _check_fields(problems: Problems, changes: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    texts = {"headline": (200, "The headline"), "bio": (5000, "The bio"),
             "city": (100, "The city"), "job_title": (200, "The job title"),
             "company": (200, "The company")}  # fmt: skip
    for name, value in changes.items():
        field = _camel(name)
        if value is None:
            values[name] = None
        elif name in texts:
            limit, label = texts[name]
            values[name] = check_text(problems, value, field=field, max_length=limit, label=label)
            values[name] = values[name] or None
        elif name == "photo_url":
            values[name] = check_url(problems, value, field, https_only=True)
        elif name == "country":
            code = str(value).strip().upper()
            if not COUNTRY.match(code):
                problems.add("INVALID", "A country is its two-letter ISO code, e.g. GH.", field)
            values[name] = code
        elif name == "date_of_birth":
            if not date(1900, 1, 1) <= value <= datetime.now(UTC).date():
                problems.add("INVALID", "A birth date is after 1900 and not in the future.", field)
            values[name] = value
        elif name == "semester":
            if not 1 <= value <= 20:
                problems.add("INVALID", "The semester is between 1 and 20.", field)
            values[name] = value
        elif name == "cgpa":
            if not 0 <= value <= 10:
                problems.add("INVALID", "The CGPA is between 0 and 10.", field)
            values[name] = round(float(value), 2)
        elif name == "expected_graduation_year":
            values[name] = _year(problems, value, field, "The expected graduation year")
        elif name == "student_number":
            number = str(value).strip()
            if not STUDENT_NUMBER.match(number):
                problems.add("INVALID", "A student number is 3 to 32 letters, digits, - or /.",
                             field)  # fmt: skip
            values[name] = number
        elif name == "remote_preference":
            if value not in ("on_site", "hybrid", "remote"):
                problems.add("INVALID", "Unknown remote preference.", field)
            values[name] = value
        elif name.endswith("_visibility"):
            if value not in LEVELS:
                problems.add("INVALID", "Unknown privacy level.", field)
            values[name] = value
        else:  # programme_id, show_viewers, open_to_students
            values[name] = value
    if "photo_url" in values:
        # An address given (or cleared) by hand replaces an uploaded photo
        # (community/photos.py), whose permanent link then stops working.
        values["photo_id"] = None
    return values


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _check_work(problems: Problems, items: list[Work] | None) -> list[dict[str, Any]] | None:
    if items is None:
        return None
    if len(items) > LIST_MAX:
        problems.add("TOO_MANY", f"At most {LIST_MAX} positions.", "workHistory")
    today = datetime.now(UTC).date()
    rows = []
    for i, item in enumerate(items):
        field = ("workHistory", str(i))
        company = check_text(problems, item.company, field=(*field, "company"), max_length=200,
                             min_length=1, label="The company")  # fmt: skip
        title = check_text(problems, item.title, field=(*field, "title"), max_length=200,
                           min_length=1, label="The title")  # fmt: skip
        if item.started_on > today or (
            item.ended_on is not None and item.ended_on < item.started_on
        ):
            problems.add("INVALID", "A position starts before it ends, and not in the future.",
                         (*field, "startedOn"))  # fmt: skip
        rows.append({"company": company, "title": title, "started_on": item.started_on,
                     "ended_on": item.ended_on})  # fmt: skip
    return rows


def _check_skills(
    problems: Problems, items: list[SkillLevel] | None
) -> list[tuple[str, str]] | None:
    if items is None:
        return None
    if len(items) > LIST_MAX:
        problems.add("TOO_MANY", f"At most {LIST_MAX} skills.", "skills")
    seen: set[str] = set()
    found = []
    for i, item in enumerate(items):
        field = ("skills", str(i))
        name = check_text(problems, item.name, field=(*field, "name"), max_length=64,
                          min_length=1, label="A skill")  # fmt: skip
        key = " ".join((name or "").split()).lower()
        if item.proficiency not in PROFICIENCIES:
            problems.add("INVALID", "Unknown proficiency.", (*field, "proficiency"))
        if key in seen:
            problems.add("INVALID", "A skill is listed twice.", (*field, "name"))
        seen.add(key)
        found.append((" ".join((name or "").split()), item.proficiency))
    return found


def _check_achievements(
    problems: Problems, items: list[AchievementItem] | None
) -> list[dict[str, Any]] | None:
    if items is None:
        return None
    if len(items) > LIST_MAX:
        problems.add("TOO_MANY", f"At most {LIST_MAX} achievements.", "achievements")
    rows = []
    for i, item in enumerate(items):
        field = ("achievements", str(i))
        title = check_text(problems, item.title, field=(*field, "title"), max_length=200,
                           min_length=1, label="The title")  # fmt: skip
        text = check_text(problems, item.description, field=(*field, "description"),
                          max_length=2000, label="The description")  # fmt: skip
        _year(problems, item.year, "achievements", "The year")
        rows.append({"title": title, "description": text or None, "year": item.year})
    return rows


def _check_links(problems: Problems, items: list[Link] | None) -> list[dict[str, Any]] | None:
    if items is None:
        return None
    if len(items) > 10:
        problems.add("TOO_MANY", "At most 10 links.", "socialLinks")
    rows = []
    for i, item in enumerate(items):
        field = ("socialLinks", str(i))
        if item.kind not in LINK_KINDS:
            problems.add("INVALID", "Unknown kind of link.", (*field, "kind"))
        url = check_url(problems, item.url, (*field, "url"), https_only=False)
        rows.append({"kind": item.kind, "url": url})
    return rows


async def _replace_lists(
    uow: UnitOfWork,
    user_id: int,
    work: list[dict[str, Any]] | None,
    skills: list[tuple[str, str]] | None,
    achievements: list[dict[str, Any]] | None,
    links: list[dict[str, Any]] | None,
) -> None:
    session = uow.session
    for model, rows in ((WorkExperience, work), (Achievement, achievements), (SocialLink, links)):
        if rows is None:
            continue
        await session.execute(delete(model).where(model.user_id == user_id))
        if rows:
            await session.execute(insert(model), [{"user_id": user_id, **r} for r in rows])
    if skills is not None:
        ids = await skill_ids(uow, [name for name, _ in skills])
        await session.execute(delete(UserSkill).where(UserSkill.user_id == user_id))
        if skills:
            await session.execute(
                insert(UserSkill),
                [{"user_id": user_id, "skill_id": ids[name.lower()], "proficiency": level}
                 for name, level in skills],
            )  # fmt: skip


async def skill_ids(uow: UnitOfWork, names: list[str]) -> dict[str, int]:
    """The ids of these skills by lower-case name, adding the ones not known yet."""
    for name in names:
        await insert_or_ignore(
            uow.session, Skill, {"name": name, "name_key": name.lower()}, ["name_key"]
        )
    found = await uow.session.execute(
        select(Skill.name_key, Skill.id).where(Skill.name_key.in_([n.lower() for n in names]))
    )
    return {str(k): int(i) for k, i in found.all()}


async def refresh_graduation_year(uow: UnitOfWork, user_id: int) -> None:
    """The person's graduation year (for the directory): the later of their latest
    degree's and, as a student, their expected one; and their year of record (for
    announcements: see ``refresh_years_of_record``)."""
    await refresh_years_of_record(uow, [user_id])
    latest = (
        await uow.session.execute(
            select(func.max(Degree.graduation_year)).where(Degree.user_id == user_id)
        )
    ).scalar()
    profile = await uow.session.get(Profile, user_id)
    user = await uow.session.get(User, user_id)
    expected = profile.expected_graduation_year if profile else None
    years = [y for y in (latest, expected) if y is not None]
    if user is not None and (years or profile is not None):
        # With a profile, it speaks: no degree and no expected year clears the year.
        user.graduation_year = max(years) if years else None


async def refresh_years_of_record(uow: UnitOfWork, user_ids: Any) -> None:
    """Set the year on record of these users (a list of ids or a SELECT of them): the latest
    of the year staff set (an import), their verified degrees' and their verified academic
    record's expected year. Announcements to graduation years reach people by it, so that
    nobody joins an audience by editing their own profile. One UPDATE, whatever the number."""
    verified_degree = (
        select(func.max(Degree.graduation_year))
        .where(Degree.user_id == User.id, Degree.status == "verified")
        .scalar_subquery()
    )
    verified_record = (
        select(Profile.expected_graduation_year)
        .where(Profile.user_id == User.id, Profile.record_status == "verified")
        .scalar_subquery()
    )
    years = [func.coalesce(y, 0) for y in (User.staff_graduation_year, verified_degree,
                                           verified_record)]  # fmt: skip
    # The largest known one (GREATEST on PostgreSQL, the many-argument max on SQLite).
    on_postgresql = uow.session.get_bind().dialect.name == "postgresql"
    greatest = func.greatest if on_postgresql else func.max
    await uow.session.execute(
        update(User)
        .where(User.id.in_(user_ids))
        .values(record_graduation_year=func.nullif(greatest(*years), 0))
    )
