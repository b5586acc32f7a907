"""Certificates of completion. When a mission is completed (or staff ask again), a job
gives each student who met its completion rule (``Rules.completion_min_points`` and
``completion_min_attendance_percent`` of the mission's days) a certificate: a PDF made
with fpdf2, kept as the student's file and e-mailed to them, with a verification code
that anyone can check (``verify``) and that tells no more than the name, the mission and
the date. Eligibility is one SQL statement per mission; a student is certified once."""

from __future__ import annotations

import asyncio
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select

from alumnet.domain.cohorts import access
from alumnet.domain.cohorts.access import taking_part
from alumnet.domain.communication.notifications import Item, notify_each
from alumnet.domain.data import files
from alumnet.domain.engagement.rules import rules_of
from alumnet.domain.errors import DomainError
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.runtime import Runtime
from alumnet.persistence.db import Reader
from alumnet.persistence.models import AttendanceDay, Certificate, Enrollment, Mission, User
from alumnet.persistence.uow import UnitOfWork

ISSUE_JOB = "engagement.certificates"
# Crockford's base32: no I, L, O or U, so a code read aloud or retyped survives.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12  # 60 random bits: guessing one is hopeless
PER_TRANSACTION = 200
REASON_MAX = 1000
# A Unicode font, where the machine has one (names in any script); else the PDF's own
# Helvetica, which prints Latin-1 only (other letters are simplified or replaced).
FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
)


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def shown(code: str) -> str:
    """ABCD-EFGH-JKMN: how a code is printed."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalized(given: str) -> str | None:
    """A code as typed (any case, dashes, spaces, O for 0, I or L for 1), or None when it
    cannot be one."""
    text = given.upper().replace("-", "").replace(" ", "")
    text = text.translate(str.maketrans("OIL", "011"))
    if len(text) != CODE_LENGTH or any(c not in ALPHABET for c in text):
        return None
    return text


@cache
def _font() -> str | None:
    return next((p for p in FONT_PATHS if Path(p).is_file()), None)


def _printable(text: str, unicode_font: bool) -> str:
    if unicode_font:
        return text
    simple = unicodedata.normalize("NFKD", text)
    return (
        "".join(c for c in simple if not unicodedata.combining(c))
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def render_pdf(name: str, mission: str, completed_on: date, code: str, verify_url: str) -> bytes:
    """One landscape A4 page."""
    from fpdf import FPDF

    pdf = FPDF(orientation="L", format="A4")
    pdf.set_title(f"Certificate of completion: {mission}")
    pdf.set_creator("alumnet")
    font = _font()
    family = "Helvetica"
    if font is not None:
        pdf.add_font("Body", "", font)
        family = "Body"
    pdf.add_page()
    pdf.set_draw_color(40, 70, 120)
    pdf.set_line_width(1.5)
    pdf.rect(10, 10, 277, 190)

    def line(text: str, size: int, height: float) -> None:
        pdf.set_font(family, "", size)
        pdf.cell(0, height, _printable(text, font is not None), align="C",
                 new_x="LMARGIN", new_y="NEXT")  # fmt: skip

    pdf.set_y(35)
    line("Certificate of completion", 34, 22)
    line("This certifies that", 14, 14)
    line(name, 30, 22)
    line("has completed", 14, 14)
    line(mission, 22, 18)
    line(f"on {completed_on:%d %B %Y}", 14, 14)
    pdf.set_y(165)
    line(f"Verification code {shown(code)}", 12, 8)
    line(f"Check it at {verify_url}", 10, 8)
    return bytes(pdf.output())


async def request_issue(uow: UnitOfWork, viewer: Viewer, mission_id: int) -> int:
    """Certify (again) the students of a completed mission who meet its rule now and have
    no certificate yet; returns the job's id."""
    viewer.require_somewhere(Permission.ENGAGEMENT_MANAGE)
    mission = await uow.session.get(Mission, mission_id)
    if mission is None:
        raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
    await access.require_in_mission(uow.session, viewer, Permission.ENGAGEMENT_MANAGE, mission_id)
    if mission.status != "completed":
        raise DomainError.of(
            "NOT_COMPLETED", "Certificates are given when the mission is completed.", "missionId"
        )
    job = await uow.add_job(ISSUE_JOB, {"mission_id": mission_id})
    audit.record(
        uow, "certificates.issue", object_type="Mission", object_ids=[mission_id],
        details={"job": job.id},
    )  # fmt: skip
    return job.id


async def on_completed(uow: UnitOfWork, mission_id: int) -> None:
    """A mission was just completed: certify its students, in the background."""
    await uow.add_job(ISSUE_JOB, {"mission_id": mission_id})


def _eligible(mission: Mission, min_points: int, min_percent: int, takes_attendance: bool) -> Any:
    """(enrollment id, student id, name, points, days present) of the students who meet the
    rule and have no certificate: one statement."""
    days = (mission.ends_on - mission.starts_on).days + 1
    present = (
        select(func.count())
        .where(
            AttendanceDay.enrollment_id == Enrollment.id,
            AttendanceDay.status == "present",
            AttendanceDay.day >= mission.starts_on,
            AttendanceDay.day <= mission.ends_on,
        )
        .scalar_subquery()
    )
    query = (
        select(Enrollment.id, Enrollment.student_id, User.name, Enrollment.points,
               present.label("present"))
        .join(User, User.id == Enrollment.student_id)
        .where(
            Enrollment.mission_id == mission.id,
            or_(taking_part(), Enrollment.status == "completed"),
            Enrollment.points >= min_points,
            ~select(Certificate.id).where(Certificate.enrollment_id == Enrollment.id).exists(),
        )
        .order_by(Enrollment.id)
    )  # fmt: skip
    if takes_attendance and min_percent > 0:
        query = query.where(present * 100 >= min_percent * days)
    return query, days


async def issue(rt: Runtime, mission_id: int) -> dict[str, int]:
    """The job: certificates for those who qualify, a few hundred per transaction."""
    async with rt.transaction() as uow:
        mission = await uow.session.get(Mission, mission_id)
        if mission is None or mission.status != "completed":
            return {"issued": 0}
        rules = await rules_of(uow, mission_id)
        query, days = _eligible(
            mission, rules.completion_min_points, rules.completion_min_attendance_percent,
            rules.attendance_when_active != "none",
        )  # fmt: skip
        rows = (await uow.session.execute(query)).all()
        # The day it was completed, in its time zone: the same on every certificate.
        completed_on = rules.today(mission.completed_at or datetime.now(UTC))
        title = mission.title
    issued = 0
    verify_url = f"{rt.settings.public_url}/certificates/verify"
    for start in range(0, len(rows), PER_TRANSACTION):
        async with rt.transaction() as uow:
            # Two jobs for one mission take turns; what the other certified is skipped.
            batch = rows[start : start + PER_TRANSACTION]
            await uow.session.execute(
                select(Mission.id).where(Mission.id == mission_id).with_for_update()
            )
            done = set(
                (
                    await uow.session.execute(
                        select(Certificate.enrollment_id).where(
                            Certificate.enrollment_id.in_([r[0] for r in batch])
                        )
                    )
                ).scalars()
            )
            items = []
            for enrollment_id, student_id, name, points, present in batch:
                if enrollment_id in done:
                    continue
                code = new_code()
                pdf = await asyncio.to_thread(render_pdf, name, title, completed_on, code,
                                              verify_url)  # fmt: skip
                writer = await files.new_file(
                    uow.session, owner_id=student_id, name=f"certificate-{shown(code)}.pdf",
                    content_type="application/pdf", expires_in=None,
                )  # fmt: skip
                await writer.write(pdf)
                stored = await writer.close()
                percent = round(100 * int(present) / days) if days else 0
                certificate = Certificate(
                    enrollment_id=enrollment_id, mission_id=mission_id, student_id=student_id,
                    code=code, student_name=name, mission_title=title,
                    completed_on=completed_on, points=int(points),
                    attendance_percent=min(100, percent), file_id=stored.id,
                    issued_at=datetime.now(UTC),
                )  # fmt: skip
                uow.session.add(certificate)
                items.append(
                    Item(student_id, f"Your certificate: {title}",
                         f"Congratulations on completing {title}. Your certificate is attached"
                         f" (verification code {shown(code)}; anyone can check it at "
                         f"{verify_url}).", "Enrollment", enrollment_id,
                         attachment_file_id=stored.id)
                )  # fmt: skip
            await uow.session.flush()
            await notify_each(uow, "certificate", items)
            issued += len(items)
    return {"issued": issued}


async def may_read_file(db: Reader, viewer: Viewer, file_id: int) -> bool:
    """Whether the viewer may still read the certificate this file is (its student, their
    mentors, staff): checked each time a link to it is used."""
    query = select(Certificate.id).where(Certificate.file_id == file_id)
    visible = access.visible_enrollments(viewer)
    if visible is not None:
        query = query.join(Enrollment, Enrollment.id == Certificate.enrollment_id).where(visible)
    async with db.connect() as conn:
        return (await conn.execute(query.limit(1))).first() is not None


@dataclass(frozen=True)
class Verified:
    name: str
    mission: str
    completed_on: date


async def verify(db: Reader, given: str) -> Verified | None:
    """What a code certifies; None for a code that is not one, unknown or revoked (the same
    answer for all three)."""
    code = normalized(given)
    if code is None:
        return None
    async with db.connect() as conn:
        row = (
            await conn.execute(
                select(
                    Certificate.student_name, Certificate.mission_title, Certificate.completed_on
                ).where(and_(Certificate.code == code, Certificate.revoked_at.is_(None)))
            )
        ).first()
    return Verified(row[0], row[1], row[2]) if row is not None else None


async def revoke(uow: UnitOfWork, viewer: Viewer, certificate_id: int, reason: str) -> Certificate:
    """Withdrawn (a decision found it was not earned): it no longer verifies."""
    viewer.require_somewhere(Permission.ENGAGEMENT_MANAGE)
    text = " ".join(reason.split())
    if not text:
        raise DomainError.of("REQUIRED", "Say why it is revoked.", "reason")
    if len(text) > REASON_MAX:
        raise DomainError.of("TOO_LONG", f"At most {REASON_MAX} characters.", "reason")
    certificate = await uow.session.get(Certificate, certificate_id, with_for_update=True)
    if certificate is None:
        raise DomainError.of("NOT_FOUND", "No such certificate.", "id")
    await access.require_in_mission(
        uow.session, viewer, Permission.ENGAGEMENT_MANAGE, certificate.mission_id
    )
    if certificate.revoked_at is None:
        certificate.revoked_at = datetime.now(UTC)
        certificate.revoked_reason = text
        audit.record(
            uow, "certificate.revoke", object_type="Certificate", object_ids=[certificate.id],
            details={"reason": text},
        )  # fmt: skip
    await uow.session.flush()
    return certificate
