"""The demo's admissions: counsellor@ and two more counsellors; six months of inquiries from
the web form, walk-ins, referrals and campaigns, for the programmes of study, at every stage
of the pipeline with the stage changes and the calls, e-mails and meetings that moved them
(some lost, with their reasons; those enrolled are demo students); follow-up tasks, some
overdue. ``seed_demo`` scores them after its transaction. Deterministic; bulk inserts;
dates relative to today; no job, e-mail or notification is sent."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from alumnet.domain.careers.demo import ids_of_role
from alumnet.persistence.models import (
    Inquiry,
    InquiryActivity,
    InquiryStageChange,
    InquiryTask,
    Programme,
    User,
    UserRole,
)
from alumnet.persistence.uow import UnitOfWork

INQUIRIES = 360
STAGES = ["new", "contacted", "counselled", "applied", "enrolled"]
SOURCES = ["web_form", "web_form", "web_form", "walk_in", "referral", "referral", "campaign"]
CAMPAIGNS = ["Open day", "Spring scholarships", "Coding bootcamp fair"]
LOST = ["Chose another institution", "Fees too high", "Timing does not suit", "No reply"]
COUNSELLORS = [("counsellor01", "Rhea Counsellor"), ("counsellor02", "Tom Counsellor")]
FIRST = [
    "Aisha", "Ben", "Carmen", "Dev", "Elena", "Farid", "Gita", "Hugo", "Ines", "Jonas",
    "Kemi", "Liam", "Mei", "Nikhil", "Olu", "Pia", "Quinn", "Rosa", "Sami", "Tara",
]  # fmt: skip
LAST = [
    "Adams", "Bello", "Chen", "Dube", "Evans", "Fofana", "Garcia", "Haas", "Ito", "Joshi",
    "Kaur", "Lopez", "Mwangi", "Novak", "Obi", "Patel", "Reyes", "Sato",
]  # fmt: skip
NOTES: dict[str, tuple[str, list[str | None]]] = {
    "call": ("Called about the programme", ["Interested, wants the fees", "No answer",
                                            "Asked about evening classes"]),
    "email": ("Sent the brochure and fees", ["Read", "Replied with questions", None]),
    "meeting": ("Counselling session on campus", ["Keen to apply", "Wants to think it over",
                                                   "Brought a parent"]),
}  # fmt: skip


async def seed_admissions(uow: UnitOfWork, domain: str) -> int:
    """Returns how many inquiries it added (none when there are inquiries already)."""
    session = uow.session
    if (await session.execute(select(Inquiry.id).limit(1))).first() is not None:
        return 0
    rng = random.Random(28)  # noqa: S311  (demo data, not secrets)
    now = datetime.now(UTC)
    counsellors = await _counsellors(uow, domain, now)
    programmes = [int(p) for p in (await session.execute(
        select(Programme.id).order_by(Programme.id))).scalars()]  # fmt: skip
    students = await ids_of_role(uow, "STUDENT", 400)
    student_rows = {int(i): (str(n), str(e)) for i, n, e in (await session.execute(
        select(User.id, User.name, User.email).where(User.id.in_(students[-60:]))
    )).all()}  # fmt: skip
    converts = list(student_rows)
    made = 0
    for n in range(INQUIRIES):
        created = now - timedelta(days=180 * (INQUIRIES - n) / INQUIRIES, hours=rng.randrange(9))
        furthest = _furthest(rng, created, now)
        lost = furthest < 5 and rng.random() < 0.22 and (now - created).days > 10
        source = SOURCES[n % len(SOURCES)]
        counsellor = counsellors[n % len(counsellors)] if furthest > 1 or n % 3 else None
        user_id = converts.pop() if furthest == 5 and converts else None
        if user_id is not None:
            name, email = student_rows[user_id]
        else:
            name = f"{FIRST[n % len(FIRST)]} {LAST[(n * 7) % len(LAST)]}"
            email = f"{name.lower().replace(' ', '.')}{n}@example.org"
            if furthest == 5:
                furthest = 4
        inquiry = Inquiry(
            name=name, email=email, email_key=email.lower(),
            phone=f"+1 202 555 0{n % 1000:03d}" if n % 4 else None, source=source,
            source_detail=CAMPAIGNS[n % len(CAMPAIGNS)] if source == "campaign" else (
                "Referred by an alumnus" if source == "referral" else None),
            programme_id=programmes[n % len(programmes)] if programmes and n % 5 else None,
            notes="", stage="lost" if lost else STAGES[furthest - 1], furthest=furthest,
            lost_reason=LOST[n % len(LOST)] if lost else None, counsellor_id=counsellor,
            user_id=user_id, created_by_id=None if source == "web_form" else counsellor,
            created_at=created, updated_at=created, stage_changed_at=created,
        )  # fmt: skip
        session.add(inquiry)
        await session.flush()
        await _history(uow, rng, inquiry, counsellor, now)
        made += 1
    return made


def _furthest(rng: random.Random, created: datetime, now: datetime) -> int:
    """How far an inquiry got: older ones further, most stopping early."""
    age = (now - created).days
    rank = 1
    for chance in (0.75, 0.6, 0.55, 0.6):
        if age > rank * 9 and rng.random() < chance:
            rank += 1
        else:
            break
    return rank


async def _counsellors(uow: UnitOfWork, domain: str, now: datetime) -> list[int]:
    session = uow.session
    lead = (await session.execute(select(User.id, User.password_hash).where(
        User.email_lower == f"counsellor@{domain}"))).one()  # fmt: skip
    ids = [int(lead.id)]
    for mailbox, name in COUNSELLORS:
        email = f"{mailbox}@{domain}"
        found = (await session.execute(select(User.id).where(User.email_lower == email))).scalar()
        if found is None:
            user = User(email=email, email_lower=email, name=name, status="active",
                        password_hash=lead.password_hash, email_verified_at=now, created_at=now,
                        updated_at=now)  # fmt: skip
            session.add(user)
            await session.flush()
            session.add(UserRole(user_id=user.id, role="ADMISSIONS"))
            found = user.id
        ids.append(int(found))
    await session.flush()
    return ids


async def _history(
    uow: UnitOfWork, rng: random.Random, inquiry: Inquiry, counsellor: int | None, now: datetime
) -> None:
    """The stage changes up to where it stands, a contact before each move, and a task for
    an open inquiry."""
    session = uow.session
    at = inquiry.created_at
    changes: list[dict[str, Any]] = [{"inquiry_id": inquiry.id, "from_stage": None,
                                      "to_stage": "new", "changed_at": at}]  # fmt: skip
    activities: list[dict[str, Any]] = [{
        "inquiry_id": inquiry.id, "kind": "submitted", "summary": f"Inquiry from the "
        f"{inquiry.source.replace('_', ' ')}", "occurred_at": at, "created_at": at}]  # fmt: skip
    last_contact = None
    for rank in range(2, inquiry.furthest + 1):
        at = min(now, at + timedelta(days=rng.randrange(2, 9), hours=rng.randrange(6)))
        kind = ("call", "email", "meeting", "meeting", "call")[rank - 1]
        summary, outcomes = NOTES[kind]
        activities.append({"inquiry_id": inquiry.id, "kind": kind, "summary": summary,
                           "outcome": rng.choice(outcomes), "actor_id": counsellor,
                           "occurred_at": at - timedelta(hours=2), "created_at": at})  # fmt: skip
        last_contact = at - timedelta(hours=2)
        changes.append({"inquiry_id": inquiry.id, "from_stage": STAGES[rank - 2],
                        "to_stage": STAGES[rank - 1], "changed_by_id": counsellor,
                        "changed_at": at})  # fmt: skip
        activities.append({"inquiry_id": inquiry.id, "kind": "stage", "summary":
                           f"Moved from {STAGES[rank - 2]} to {STAGES[rank - 1]}.",
                           "actor_id": counsellor, "occurred_at": at,
                           "created_at": at})  # fmt: skip
        if rank == 5:
            activities.append({"inquiry_id": inquiry.id, "kind": "converted", "summary":
                               "Converted into the existing student account of "
                               f"{inquiry.name}.", "actor_id": counsellor, "occurred_at": at,
                               "created_at": at})  # fmt: skip
    if inquiry.stage == "lost":
        at = min(now, at + timedelta(days=rng.randrange(3, 12)))
        changes.append({"inquiry_id": inquiry.id, "from_stage": STAGES[inquiry.furthest - 1],
                        "to_stage": "lost", "reason": inquiry.lost_reason,
                        "changed_by_id": counsellor, "changed_at": at})  # fmt: skip
        activities.append({"inquiry_id": inquiry.id, "kind": "stage", "summary":
                           f"Moved from {STAGES[inquiry.furthest - 1]} to lost "
                           f"({inquiry.lost_reason}).", "actor_id": counsellor,
                           "occurred_at": at, "created_at": at})  # fmt: skip
    inquiry.stage_changed_at = at
    inquiry.updated_at = at
    inquiry.last_activity_at = last_contact
    await session.execute(insert(InquiryStageChange), changes)
    await session.execute(insert(InquiryActivity), activities)
    if inquiry.stage not in ("lost", "enrolled") and counsellor is not None:
        due = now + timedelta(days=rng.randrange(-3, 6), hours=rng.randrange(8))
        session.add(InquiryTask(
            inquiry_id=inquiry.id, assignee_id=counsellor, created_by_id=counsellor,
            title=("Call back", "Send the fees", "Book a campus visit", "Chase the application")
            [inquiry.furthest - 1], due_at=due, created_at=at,
            reminded_at=due if due < now else None,
        ))  # fmt: skip
