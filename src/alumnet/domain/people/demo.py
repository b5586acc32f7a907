"""Demo alumni: thousands of realistic, deterministic people with degrees, careers, skills
and locations, so that the directory is worth searching."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert, select

from alumnet.persistence.models import (
    Degree,
    Profile,
    Programme,
    Skill,
    User,
    UserRole,
    UserSkill,
    WorkExperience,
)
from alumnet.persistence.uow import UnitOfWork

PROGRAMMES = [
    ("CS", "Computer Science"), ("EE", "Electrical Engineering"),
    ("BA", "Business Administration"), ("ME", "Mechanical Engineering"),
    ("ECO", "Economics"), ("ARCH", "Architecture"),
]  # fmt: skip
SKILLS = [
    "Python", "SQL", "Java", "JavaScript", "TypeScript", "Go", "Rust", "C++", "Excel",
    "Data analysis", "Machine learning", "Statistics", "Project management", "Leadership",
    "Public speaking", "Negotiation", "Accounting", "Finance", "Marketing", "Sales",
    "Product management", "UX design", "CAD", "AutoCAD", "Circuit design", "Embedded systems",
    "Cloud computing", "AWS", "Kubernetes", "DevOps", "Cybersecurity", "Networking",
    "Research", "Teaching", "Writing", "French", "Mandarin", "Swahili", "Spanish", "Arabic",
]  # fmt: skip
COMPANIES = [
    "Acme Analytics", "Baobab Bank", "Kente Systems", "Volta Energy", "Savanna Foods",
    "Harmattan Logistics", "Sahel Telecom", "Atlas Consulting", "Meridian Health",
    "Lagoon Software", "Granite Engineering", "Northwind Traders", "Blue Nile Capital",
    "Equator Labs", "Cedar Insurance", "Summit Architects", "Delta Robotics",
    "Palm Media", "Kilimanjaro Ventures", "Oasis Water", "Ridge Mining", "Coral Shipping",
    "Aurora Pharma", "Ironwood Construction", "Zenith Retail", "Orbit Aerospace",
    "Nimbus Cloud", "Mosaic Design", "Pioneer Schools", "Beacon Research",
]  # fmt: skip
TITLES = [
    "Software engineer", "Data scientist", "Product manager", "Financial analyst",
    "Accountant", "Marketing manager", "Mechanical engineer", "Electrical engineer",
    "Architect", "Consultant", "Research fellow", "Teacher", "Operations manager",
    "Sales lead", "UX designer", "DevOps engineer", "Chief technology officer", "Founder",
    "Economist", "Project manager",
]  # fmt: skip
PLACES = [
    ("Accra", "GH"), ("Kumasi", "GH"), ("Lagos", "NG"), ("Abuja", "NG"), ("Nairobi", "KE"),
    ("Kigali", "RW"), ("Johannesburg", "ZA"), ("Cape Town", "ZA"), ("Cairo", "EG"),
    ("Casablanca", "MA"), ("London", "GB"), ("Manchester", "GB"), ("New York", "US"),
    ("San Francisco", "US"), ("Toronto", "CA"), ("Berlin", "DE"), ("Paris", "FR"),
    ("Amsterdam", "NL"), ("Dubai", "AE"), ("Singapore", "SG"), ("Bangalore", "IN"),
    ("Sydney", "AU"), ("São Paulo", "BR"), ("Tokyo", "JP"),
]  # fmt: skip
LEVELS = ("beginner", "intermediate", "advanced", "expert")


async def seed_alumni(
    uow: UnitOfWork, *, count: int, name_of: Any, password_hash: str, domain: str
) -> int:
    """``count`` alumni (skipped when the programmes exist); returns how many were added."""
    session = uow.session
    if (await session.execute(select(Programme.id).limit(1))).first():
        return 0
    now = datetime.now(UTC)
    await session.execute(
        insert(Programme),
        [{"code": c, "name": n, "first_graduation_year": 1990, "last_graduation_year": None,
          "created_at": now} for c, n in PROGRAMMES],
    )  # fmt: skip
    await session.execute(insert(Skill), [{"name": s, "name_key": s.lower()} for s in SKILLS])
    return await add_alumni(
        uow, first=0, count=count, name_of=name_of, password_hash=password_hash, domain=domain
    )


async def add_alumni(
    uow: UnitOfWork, *, first: int, count: int, name_of: Any, password_hash: str, domain: str
) -> int:
    """Alumni number ``first`` to ``first + count - 1`` (the programmes and skills exist)."""
    session = uow.session
    now = datetime.now(UTC)
    codes = [c for c, _ in PROGRAMMES]
    found_programmes = await session.execute(
        select(Programme.id).where(Programme.code.in_(codes)).order_by(Programme.id)
    )
    programmes = [int(i) for i in found_programmes.scalars()]
    keys = [name.lower() for name in SKILLS]
    found_skills = await session.execute(
        select(Skill.id).where(Skill.name_key.in_(keys)).order_by(Skill.id)
    )
    skills = [int(i) for i in found_skills.scalars()]
    added = 0
    for start in range(first, first + count, 1000):
        chunk = range(start, min(first + count, start + 1000))
        made = {i: _person(i) for i in chunk}
        emails = [f"alumnus{i:05d}@{domain}" for i in chunk]
        await session.execute(
            insert(User),
            [{"email": e, "email_lower": e, "name": name_of(20_000 + i), "status": "active",
              "password_hash": password_hash, "email_verified_at": now, "created_at": now,
              "updated_at": now, "graduation_year": made[i]["year"],
              "staff_graduation_year": made[i]["year"], "record_graduation_year": made[i]["year"]}
             for i, e in zip(chunk, emails, strict=True)],
        )  # fmt: skip
        found = await session.execute(
            select(User.email_lower, User.id).where(User.email_lower.in_(emails))
        )
        ids = dict(found.all())
        people = [(made[i], int(ids[e])) for i, e in zip(chunk, emails, strict=True)]
        await session.execute(
            insert(UserRole), [{"user_id": u, "role": "ALUMNUS"} for _, u in people]
        )
        # Skills first: PostgreSQL computes each profile's search document when the profile
        # row is written, from the skills already there.
        await session.execute(
            insert(UserSkill),
            [{"user_id": u, "skill_id": skills[k], "proficiency": level}
             for m, u in people for k, level in m["skills"]],
        )  # fmt: skip
        await session.execute(
            insert(Degree),
            [{"user_id": u, "programme_id": programmes[m["programme"] % len(programmes)],
              "campus": m["campus"], "start_year": m["year"] - 4, "graduation_year": m["year"],
              "status": "verified" if m["verified"] else "unverified", "created_at": now}
             for m, u in people],
        )  # fmt: skip
        await session.execute(
            insert(WorkExperience),
            [{"user_id": u, **position} for m, u in people for position in m["positions"]],
        )
        await session.execute(insert(Profile), [_profile(m, u, now) for m, u in people])
        added += len(people)
    return added


def _person(i: int) -> dict[str, Any]:
    """Alumnus number ``i``, the same every time (a random generator seeded with i)."""
    rng = random.Random(i)  # noqa: S311  (demo data, not secrets)
    year = rng.randint(1998, 2025)
    picked = rng.sample(range(len(SKILLS)), rng.randint(3, 6))
    positions = []
    started = year + 1
    for k in range(rng.randint(1, 3)):
        ended = min(started + rng.randint(1, 5), 2026)
        current = k == 2 or ended >= 2026 or rng.random() < 0.3
        positions.append({
            "company": rng.choice(COMPANIES), "title": rng.choice(TITLES),
            "started_on": date(min(started, 2025), rng.randint(1, 12), 1),
            "ended_on": None if current else date(ended, 6, 30),
        })  # fmt: skip
        if current:
            break
        started = ended
    return {
        "year": year, "programme": rng.randrange(len(PROGRAMMES)),
        "campus": rng.choice(("Main campus", "City campus")), "verified": rng.random() < 0.2,
        "skills": [(k, rng.choice(LEVELS)) for k in picked], "positions": positions,
        "place": rng.choice(PLACES), "photo": rng.random() < 0.75,
        "work": "alumni" if rng.random() < 0.1 else "everyone",
        "location": "staff" if rng.random() < 0.05 else "everyone",
    }  # fmt: skip


def _profile(person: dict[str, Any], user_id: int, now: datetime) -> dict[str, Any]:
    latest = person["positions"][-1]
    title, company = latest["title"], latest["company"]
    city, country = person["place"]
    return {
        "user_id": user_id, "headline": f"{title} at {company}",
        "bio": f"Graduate of {person['year']}, now {title.lower()} at {company} in {city}.",
        "photo_url": f"https://images.alumnet.dev/p/{user_id}.jpg" if person["photo"] else None,
        "city": city, "country": country, "job_title": title, "company": company,
        "record_status": "unverified", "contact_visibility": "alumni",
        "work_visibility": person["work"], "education_visibility": "everyone",
        "location_visibility": person["location"], "show_viewers": False,
        # A third of the demo alumni offer to be contacted by students.
        "open_to_students": user_id % 3 == 0,
        "created_at": now, "updated_at": now,
    }  # fmt: skip
