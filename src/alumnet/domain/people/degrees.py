"""Programmes, degrees, and the verification of degrees and academic records."""

from __future__ import annotations

from datetime import UTC, datetime

from alumnet.domain.communication.notifications import Event, notify
from alumnet.domain.errors import DomainError, Problems, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.people.profiles import (
    may_edit,
    profile_of,
    refresh_graduation_year,
    refresh_years_of_record,
)
from alumnet.persistence.db import insert_or_ignore
from alumnet.persistence.models import Degree, Profile, Programme
from alumnet.persistence.uow import UnitOfWork

NOTE_MAX = 500


async def create_programme(
    uow: UnitOfWork, viewer: Viewer, *, code: str, name: str, first: int, last: int | None
) -> Programme:
    viewer.require(Permission.USERS_MANAGE)
    problems = Problems()
    code_ = check_text(problems, code, field="code", max_length=32, min_length=1, label="The code")
    name_ = check_text(problems, name, field="name", max_length=200, min_length=1, label="The name")
    if not 1900 <= first <= 2200 or (last is not None and not first <= last <= 2200):
        problems.add("INVALID", "Graduation years run from 1900 to 2200, first before last.",
                     "firstGraduationYear")  # fmt: skip
    problems.raise_if_any()
    added = await insert_or_ignore(
        uow.session, Programme,
        {"code": code_, "name": name_, "first_graduation_year": first,
         "last_graduation_year": last, "created_at": datetime.now(UTC)},
        ["code"],
    )  # fmt: skip
    if not added:
        raise DomainError.of("TAKEN", "A programme with this code exists.", "code")
    programme = (
        await uow.session.execute(Programme.__table__.select().where(Programme.code == code_))
    ).one()
    audit.record(uow, "programme.create", object_type="Programme", object_ids=[programme.id])
    found = await uow.session.get(Programme, programme.id)
    assert found is not None
    return found


async def add_degree(
    uow: UnitOfWork,
    viewer: Viewer,
    user_id: int,
    *,
    programme_id: int,
    campus: str | None,
    start_year: int | None,
    graduation_year: int,
) -> Degree:
    """A degree on the person's profile. The graduation year must fall within the
    programme's years, after the start, and not before the person's birth."""
    await may_edit(viewer, user_id)
    profile = await profile_of(uow, user_id)
    problems = Problems()
    programme = await uow.session.get(Programme, programme_id)
    if programme is None:
        raise DomainError.of("NOT_FOUND", "No such programme.", "programmeId")
    place = check_text(problems, campus, field="campus", max_length=100, label="The campus")
    last = programme.last_graduation_year or datetime.now(UTC).year + 10
    if not programme.first_graduation_year <= graduation_year <= last:
        problems.add(
            "OUT_OF_RANGE",
            f"{programme.name} graduates from {programme.first_graduation_year} to "
            f"{programme.last_graduation_year or 'now'}.",
            "graduationYear",
        )
    if start_year is not None and not (graduation_year - 12 <= start_year <= graduation_year):
        problems.add("INVALID", "A degree starts up to 12 years before it ends.", "startYear")
    born = profile.date_of_birth
    if born is not None and (graduation_year < born.year or (start_year or born.year) < born.year):
        problems.add("BEFORE_BIRTH", "A degree cannot start or end before birth.",
                     "graduationYear")  # fmt: skip
    problems.raise_if_any()
    degree = Degree(
        user_id=user_id, programme_id=programme_id, campus=place or None, start_year=start_year,
        graduation_year=graduation_year, status="unverified", created_at=datetime.now(UTC),
    )  # fmt: skip
    uow.session.add(degree)
    await uow.session.flush()
    await refresh_graduation_year(uow, user_id)
    audit.record(uow, "degree.add", object_type="Degree", object_ids=[degree.id])
    return degree


async def _degree(uow: UnitOfWork, viewer: Viewer, degree_id: int) -> Degree:
    degree = await uow.session.get(Degree, degree_id, with_for_update=True)
    if degree is None or (
        degree.user_id != viewer.user_id and not viewer.can(Permission.USERS_MANAGE)
    ):
        raise DomainError.of("NOT_FOUND", "No such degree.", "degreeId")
    return degree


async def remove_degree(uow: UnitOfWork, viewer: Viewer, degree_id: int) -> int:
    viewer.require_user()
    degree = await _degree(uow, viewer, degree_id)
    owner = degree.user_id
    await uow.session.delete(degree)
    await uow.session.flush()
    await refresh_graduation_year(uow, owner)
    audit.record(uow, "degree.remove", object_type="Degree", object_ids=[degree_id])
    return owner


async def submit(
    uow: UnitOfWork, viewer: Viewer, *, degree_id: int | None, record_of: int | None
) -> Degree | Profile:
    """Ask an administrator to verify a degree, or one's academic record."""
    me = viewer.require_user()
    if (degree_id is None) == (record_of is None):
        raise DomainError.of("INVALID", "Name a degree or the academic record.", "degreeId")
    now = datetime.now(UTC)
    if degree_id is not None:
        degree = await _degree(uow, viewer, degree_id)
        if degree.status == "verified":
            raise DomainError.of("ALREADY_VERIFIED", "This degree is verified.", "degreeId")
        degree.status, degree.submitted_at = "pending", now
        audit.record(uow, "verification.submit", object_type="Degree", object_ids=[degree.id])
        return degree
    assert record_of is not None
    await may_edit(viewer, record_of)
    profile = await profile_of(uow, record_of)
    if not (profile.student_number and profile.programme_id):
        raise DomainError.of("INCOMPLETE", "Add your programme and student number first.",
                             "academicRecord")  # fmt: skip
    if profile.record_status == "verified":
        raise DomainError.of("ALREADY_VERIFIED", "Your record is verified.", "academicRecord")
    profile.record_status = "pending"
    audit.record(uow, "verification.submit", object_type="Profile", object_ids=[me])
    return profile


async def decide(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    degree_id: int | None,
    record_of: int | None,
    verified: bool,
    note: str | None,
) -> Degree | Profile:
    """An administrator verifies or rejects (with a reason) a degree or an academic
    record; the person is notified."""
    me = viewer.require(Permission.USERS_MANAGE)
    problems = Problems()
    reason = check_text(problems, note, field="note", max_length=NOTE_MAX, label="The note")
    if not verified and not reason:
        problems.add("REQUIRED", "Say why it is rejected.", "note")
    problems.raise_if_any()
    status = "verified" if verified else "rejected"
    now = datetime.now(UTC)
    target: Degree | Profile
    if degree_id is not None:
        target = await _degree(uow, viewer, degree_id)
        target.status, target.decided_by_id, target.decided_at = status, me, now
        target.decision_note = reason or None
        owner, what, kind = target.user_id, "Your degree", "Degree"
    elif record_of is not None:
        target = await profile_of(uow, record_of)
        target.record_status, target.record_note = status, reason or None
        owner, what, kind = record_of, "Your academic record", "Profile"
    else:
        raise DomainError.of("INVALID", "Name a degree or an academic record.", "degreeId")
    audit.record(uow, f"verification.{status}", object_type=kind, object_ids=[target_id(target)])
    await refresh_years_of_record(uow, [owner])
    await notify(
        uow, [owner],
        Event(kind="verification", title=f"{what} was {status}", body=reason or "",
              subject_type=kind, subject_id=target_id(target)),
    )  # fmt: skip
    return target


def target_id(target: Degree | Profile) -> int:
    return target.id if isinstance(target, Degree) else target.user_id
