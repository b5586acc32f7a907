"""Demo careers board: a few hundred postings by alumni and staff, with applications at
every step of the workflow, referrals, a moderation queue and a report, so that search,
recommendations and the funnel are worth trying. Deterministic; bulk inserts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from alumnet.domain.careers.applications import STEP_BITS
from alumnet.domain.careers.postings import skill_key
from alumnet.domain.communication.notices import render
from alumnet.persistence.db import insert_or_ignore
from alumnet.persistence.models import (
    Company,
    JobApplication,
    JobApplicationEvent,
    JobPosting,
    JobPostingReport,
    JobPostingSearch,
    JobPostingSkill,
    JobReferral,
    SavedJobPosting,
    Skill,
    User,
    UserRole,
)
from alumnet.persistence.uow import UnitOfWork

POSTINGS = 300
ROLES = [
    ("Software engineer", ["Python", "SQL", "Cloud computing"]),
    ("Data analyst", ["SQL", "Excel", "Data analysis", "Statistics"]),
    ("Machine learning engineer", ["Python", "Machine learning", "Statistics"]),
    ("Frontend developer", ["JavaScript", "TypeScript", "UX design"]),
    ("DevOps engineer", ["Kubernetes", "AWS", "DevOps", "Go"]),
    ("Financial analyst", ["Finance", "Excel", "Accounting"]),
    ("Marketing associate", ["Marketing", "Writing", "Sales"]),
    ("Product manager", ["Product management", "Leadership", "Research"]),
    ("Embedded engineer", ["C++", "Embedded systems", "Circuit design"]),
    ("Security analyst", ["Cybersecurity", "Networking", "Python"]),
    ("Civil engineer", ["CAD", "AutoCAD", "Project management"]),
    ("Teaching fellow", ["Teaching", "Public speaking", "Writing"]),
]
KINDS = ["full_time"] * 5 + ["internship"] * 3 + ["part_time", "contract"]
REMOTE = ["on_site", "on_site", "hybrid", "remote"]
AUDIENCES = ["both", "both", "students", "alumni"]
PLACES = [
    ("Accra", "GH"), ("Lagos", "NG"), ("Nairobi", "KE"), ("Kigali", "RW"),
    ("Johannesburg", "ZA"), ("London", "GB"), ("Berlin", "DE"), ("Toronto", "CA"),
]  # fmt: skip
CURRENCY = {"GH": "GHS", "NG": "NGN", "KE": "KES", "RW": "RWF", "ZA": "ZAR", "GB": "GBP",
            "DE": "EUR", "CA": "CAD"}  # fmt: skip
PATHS = [
    ["applied"], ["applied"], ["applied", "screening"], ["applied", "screening", "interview"],
    ["applied", "rejected"], ["applied", "screening", "interview", "offer"],
    ["applied", "screening", "interview", "offer", "hired"], ["applied", "withdrawn"],
    ["applied", "screening", "on_hold"],
]  # fmt: skip


def _bits(path: list[str]) -> int:
    return sum({STEP_BITS[s] for s in path})


async def ids_of_role(uow: UnitOfWork, role: str, limit: int) -> list[int]:
    query = (
        select(UserRole.user_id)
        .where(UserRole.role == role)
        .order_by(UserRole.user_id)
        .limit(limit)
    )
    return [int(i) for i in (await uow.session.execute(query)).scalars()]


async def _user(uow: UnitOfWork, email: str) -> int | None:
    found = await uow.session.execute(select(User.id).where(User.email_lower == email))
    value = found.scalar()
    return int(value) if value is not None else None


async def seed_careers(uow: UnitOfWork, domain: str) -> int:
    """The demo board; skipped when any posting exists. Returns how many postings it made."""
    session = uow.session
    if (await session.execute(select(func.count()).select_from(JobPosting))).scalar_one():
        return 0
    now = datetime.now(UTC)
    students = await ids_of_role(uow, "STUDENT", 1500)
    manager = await _user(uow, f"manager@{domain}")
    alumnus = await _user(uow, f"alumnus@{domain}")
    student = await _user(uow, f"student@{domain}")
    ids, rows = await add_postings(uow, first=0, count=POSTINGS, staff=manager, now=now)
    if not ids or not students:
        return len(ids)
    if alumnus is not None:
        text = "A role at my team, waiting for a moderator."
        pending = [
            {"poster_id": alumnus, "company_id": rows[0]["company_id"], "title": title,
             "description_markdown": text, "description_html": render(text),
             "kind": "full_time", "city": "Accra", "country": "GH", "remote": "hybrid",
             "audience": "both", "status": "pending", "skills_text": "", "created_at": now,
             "updated_at": now}
            for title in ("Research assistant", "Operations associate")
        ]  # fmt: skip
        await session.execute(insert(JobPosting), pending)
    rng = random.Random(19)  # noqa: S311  (demo data, not secrets)
    await add_applications(uow, rng, ids, rows, students, student, alumnus, now)
    return len(ids) + (2 if alumnus is not None else 0)


async def add_postings(
    uow: UnitOfWork, *, first: int, count: int, staff: int | None, now: datetime
) -> tuple[list[int], list[dict[str, Any]]]:
    """``count`` generated postings (numbered from ``first``, the same each time) by the
    first 400 alumni (every tenth by ``staff``), at the demo's companies, with skills."""
    session = uow.session
    rng = random.Random(first)  # noqa: S311  (demo data, not secrets)
    alumni = await ids_of_role(uow, "ALUMNUS", 400)
    if not alumni:
        return [], []
    skills = {
        str(k): int(i) for k, i in (await session.execute(select(Skill.name_key, Skill.id))).all()
    }
    from alumnet.domain.people.demo import COMPANIES

    for name in COMPANIES:
        await insert_or_ignore(session, Company, {"name": name, "name_key": skill_key(name)},
                               ["name_key"])  # fmt: skip
    keys = [skill_key(c) for c in COMPANIES]
    companies = [
        int(i)
        for i in (
            await session.execute(select(Company.id).where(Company.name_key.in_(keys)))
        ).scalars()
    ]
    rows, wanted_skills = [], []
    for n in range(first, first + count):
        title, needed = ROLES[n % len(ROLES)]
        kind = KINDS[rng.randrange(len(KINDS))]
        if kind == "internship":
            title = f"{title} intern"
        city, country = PLACES[rng.randrange(len(PLACES))]
        published = now - timedelta(days=rng.randrange(0, 80), hours=rng.randrange(24))
        poster = staff if (n % 10 == 0 and staff) else alumni[n % len(alumni)]
        status = "live" if n % 25 else "closed"
        salary = rng.randrange(2, 12) * 1000 * 100 if n % 3 else None
        description = (
            f"## {title}\n\nJoin a team that ships. You will work with "
            f"{', '.join(needed[:-1])} and {needed[-1]}.\n\n- Mentoring from alumni\n"
            "- Learning budget\n"
        )
        rows.append({
            "poster_id": poster, "company_id": companies[n % len(companies)], "title": title,
            "description_markdown": description, "description_html": render(description),
            "kind": kind, "city": city, "country": country,
            "remote": REMOTE[rng.randrange(len(REMOTE))],
            "salary_min": salary, "salary_max": salary + 150_000 if salary else None,
            "currency": CURRENCY[country] if salary else None,
            "audience": "students" if kind == "internship" else AUDIENCES[n % len(AUDIENCES)],
            "apply_url": "https://careers.example.org/apply" if n % 7 == 0 else None,
            "closes_on": (now + timedelta(days=rng.randrange(5, 90))).date() if n % 2 else None,
            "status": status, "published_at": published,
            "closed_at": published + timedelta(days=20) if status == "closed" else None,
            "skills_text": " ".join(needed), "created_at": published, "updated_at": published,
        })  # fmt: skip
        wanted_skills.append([skills[k] for k in (skill_key(s) for s in needed) if k in skills])
    made = await session.execute(
        insert(JobPosting).returning(JobPosting.id, sort_by_parameter_order=True), rows
    )
    ids = [int(i) for i in made.scalars()]
    pairs = [{"posting_id": p, "skill_id": s} for p, ss in zip(ids, wanted_skills, strict=True)
             for s in dict.fromkeys(ss)]  # fmt: skip
    if pairs:
        await session.execute(insert(JobPostingSkill), pairs)
    return ids, rows


async def add_applications(
    uow: UnitOfWork,
    rng: random.Random,
    ids: list[int],
    rows: list[dict[str, Any]],
    students: list[int],
    student: int | None,
    alumnus: int | None,
    now: datetime,
) -> None:
    """Applications from ``students`` at every step of the workflow, with their history;
    ``student`` and ``alumnus`` (the demo's) get their own, a referral, saved postings, a
    saved search and a report."""
    session = uow.session
    open_ids = [
        (i, r) for i, r in zip(ids, rows, strict=True)
        if r["status"] in ("live", "closed") and r["apply_url"] is None
        and r["audience"] in ("students", "both")
    ]  # fmt: skip
    applications, paths = [], []
    for posting_id, row in open_ids:
        for applicant in rng.sample(students, rng.randrange(0, 9)):
            if applicant == row["poster_id"]:
                continue
            path = PATHS[rng.randrange(len(PATHS))]
            answered = len(path) > 1 and path[1] != "withdrawn"
            hours = rng.randrange(4, 96) if answered else 0
            applied = row["published_at"] + timedelta(hours=rng.randrange(2, 200))
            applied = min(applied, now)
            applications.append({
                "posting_id": posting_id, "applicant_id": applicant, "status": path[-1],
                "cover_note": "I would love to join.", "created_at": applied,
                "updated_at": applied, "reached": _bits(path),
                "response_hours": float(hours) if hours else None,
            })  # fmt: skip
            paths.append(path)
    if student is not None:
        for (posting_id, _row), path in zip(open_ids[:3], PATHS[2:5], strict=False):
            if any(a["posting_id"] == posting_id and a["applicant_id"] == student
                   for a in applications):  # fmt: skip
                continue
            applications.append({
                "posting_id": posting_id, "applicant_id": student, "status": path[-1],
                "cover_note": "Stella here: I have done the Foundations mission.",
                "created_at": now - timedelta(days=3), "updated_at": now - timedelta(days=1),
                "reached": _bits(path),
                "response_hours": 24.0,
            })  # fmt: skip
            paths.append(path)
    made = await session.execute(
        insert(JobApplication).returning(JobApplication.id, sort_by_parameter_order=True),
        applications,
    )
    events = []
    for application_id, application, path in zip(made.scalars(), applications, paths, strict=True):
        at = application["created_at"]
        before = None
        for step, status in enumerate(path):
            events.append({
                "application_id": int(application_id), "from_status": before,
                "to_status": status, "created_at": at + timedelta(hours=step * 24),
                "actor_id": application["applicant_id"] if status in ("applied", "withdrawn")
                else None, "note": None,
            })  # fmt: skip
            before = status
    if events:
        await session.execute(insert(JobApplicationEvent), events)
    counted = (
        select(func.count()).where(JobApplication.posting_id == JobPosting.id).scalar_subquery()
    )
    await session.execute(
        update(JobPosting).where(JobPosting.id.in_(ids)).values(applications_count=counted)
    )
    if student is not None and alumnus is not None and len(open_ids) > 5:
        posting_id = open_ids[5][0]
        note = "Stella did great work in Foundations."
        session.add(
            JobReferral(posting_id=posting_id, referrer_id=alumnus, referred_id=student,
                        note=note, created_at=now)
        )  # fmt: skip
        for posting_id, _ in open_ids[6:9]:
            session.add(SavedJobPosting(user_id=student, posting_id=posting_id, saved_at=now))
        session.add(JobPostingSearch(user_id=student, name="Python internships", query="python",
                                     filter={"kinds": ["internship"]}, checked_at=now,
                                     created_at=now))  # fmt: skip
        reason = "The link asks for a fee."
        session.add(
            JobPostingReport(posting_id=open_ids[10][0], reporter_id=student, reason=reason,
                             created_at=now)
        )  # fmt: skip
    await session.flush()
