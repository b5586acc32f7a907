"""Demo mentorship: 120 alumni offering to mentor (alumnus@ among them), requests in every
state, mentorships with sessions, goals, notes and ratings; student@ has a mentor and a
session booked. Deterministic; bulk inserts; dates relative to now."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from alumnet.domain.careers.demo import ids_of_role
from alumnet.domain.events.catalogue import as_utc
from alumnet.domain.mentorship.offers import OFFER_KINDS, tag, zone_fit
from alumnet.persistence.models import (
    MentorOffer,
    MentorOfferSkill,
    Mentorship,
    MentorshipFeedback,
    MentorshipGoal,
    MentorshipNote,
    MentorshipRequest,
    MentorshipSession,
    Skill,
    User,
)
from alumnet.persistence.uow import UnitOfWork

OFFERS = 120
INDUSTRIES = ["Fintech", "Telecoms", "Health", "Energy", "Education", "Consulting",
              "Agritech", "Media"]  # fmt: skip
ZONES = ["Africa/Accra", "Africa/Lagos", "Africa/Nairobi", "Europe/London", "America/Toronto"]
GOALS = ["Land a first job in data", "Prepare for software interviews",
         "Choose a master's programme", "Start a small business", "Improve my CV"]  # fmt: skip


async def _user(uow: UnitOfWork, email: str) -> int | None:
    found = (await uow.session.execute(select(User.id).where(User.email_lower == email))).scalar()
    return int(found) if found is not None else None


async def seed_mentorship(uow: UnitOfWork, domain: str) -> int:
    """The demo's mentoring; skipped when any offer exists. Returns how many offers."""
    session = uow.session
    if (await session.execute(select(func.count()).select_from(MentorOffer))).scalar_one():
        return 0
    rng = random.Random(21)  # noqa: S311  (demo data, not secrets)
    alumnus = await _user(uow, f"alumnus@{domain}")
    student = await _user(uow, f"student@{domain}")
    alumni = [i for i in await ids_of_role(uow, "ALUMNUS", 2000) if i != alumnus]
    mentors = ([alumnus] if alumnus else []) + alumni[1000 : 1000 + OFFERS - 1]
    mentees = [i for i in await ids_of_role(uow, "STUDENT", 400) if i != student][:300]
    skills = [int(i) for i in (await session.execute(
        select(Skill.id).order_by(Skill.id).limit(60))).scalars()]  # fmt: skip
    now = datetime.now(UTC)
    offers: list[dict[str, Any]] = []
    topics: list[dict[str, Any]] = []
    for n, user_id in enumerate(mentors):
        chosen = rng.sample(skills, k=min(3, len(skills))) if skills else []
        kinds = rng.sample(list(OFFER_KINDS), k=2)
        industries = rng.sample(INDUSTRIES, k=1)
        languages = ["en"] + (["fr"] if n % 5 == 0 else []) + (["sw"] if n % 7 == 0 else [])
        row: dict[str, Any] = {
            "user_id": user_id, "headline": f"Happy to help with {industries[0].lower()} careers",
            "offers": kinds, "industries": industries, "languages": languages,
            "availability": [{"weekday": n % 5, "start": "18:00", "end": "20:00"},
                             {"weekday": 5, "start": "10:00", "end": "12:00"}],
            "time_zone": ZONES[n % len(ZONES)], "capacity": 3 if n % 4 else 2,
            "active_mentees": 0, "preferred_mentee": ["both", "students", "alumni"][n % 3]
            if n else "both", "paused": n % 17 == 16, "topics_text": "", "created_at": now,
            "updated_at": now,
        }  # fmt: skip
        tags = [tag("offer", k) for k in kinds] + [tag("industry", i) for i in industries]
        tags += [tag("language", v) for v in languages]
        row["tags"] = "".join(tags).replace(",,", ",")
        row["zone_fit"] = zone_fit(row["availability"], row["time_zone"])
        offers.append(row)
        topics += [{"user_id": user_id, "skill_id": s} for s in chosen]
    await session.execute(insert(MentorOffer), offers)
    if topics:
        await session.execute(insert(MentorOfferSkill), topics)
    names = dict((await session.execute(select(Skill.id, Skill.name).where(
        Skill.id.in_({t["skill_id"] for t in topics})))).all())  # fmt: skip
    for row in offers:
        text = " ".join(names[t["skill_id"]] for t in topics if t["user_id"] == row["user_id"])
        await session.execute(update(MentorOffer).where(MentorOffer.user_id == row["user_id"])
                              .values(topics_text=text))  # fmt: skip
    # Requests in every state; the accepted ones are mentorships.
    states = ["accepted"] * 5 + ["pending"] * 2 + ["declined", "expired", "withdrawn"]
    pairs: list[tuple[int, int, str]] = []
    if student is not None and alumnus is not None:
        pairs.append((student, alumnus, "accepted"))
    takers = [o["user_id"] for o in offers if not o["paused"] and o["preferred_mentee"] != "alumni"]
    load: dict[int, int] = {}
    capacity = {o["user_id"]: o["capacity"] for o in offers}
    for n, mentee in enumerate(mentees[:200]):
        mentor = takers[n % len(takers)]
        state = states[n % len(states)]
        if state == "accepted" and load.get(mentor, 0) + (mentor == alumnus) >= capacity[mentor]:
            state = "declined"
        if state == "accepted":
            load[mentor] = load.get(mentor, 0) + 1
        pairs.append((mentee, mentor, state))
    requests = [
        {"mentee_id": mentee, "mentor_id": mentor, "goals": rng.choice(GOALS),
         "message": "I would value your advice.", "status": state,
         "reason": "My places are taken this term." if state == "declined" else None,
         "expires_at": now + timedelta(days=14) if state == "pending" else now - timedelta(days=1),
         "answered_at": None if state == "pending" else now - timedelta(days=20 - n % 10),
         "created_at": now - timedelta(days=25 - n % 10)}
        for n, (mentee, mentor, state) in enumerate(pairs)
    ]  # fmt: skip
    made = (await session.execute(
        insert(MentorshipRequest).returning(MentorshipRequest.id, MentorshipRequest.mentee_id,
                                            MentorshipRequest.mentor_id, MentorshipRequest.status),
        requests,
    )).all()  # fmt: skip
    accepted = [r for r in made if r.status == "accepted"]
    ships = (await session.execute(
        insert(Mentorship).returning(Mentorship.id, Mentorship.mentor_id, Mentorship.mentee_id),
        [{"request_id": r.id, "mentor_id": r.mentor_id, "mentee_id": r.mentee_id,
          "status": "completed" if n % 6 == 5 else "active",
          "started_at": now - timedelta(days=18), "ended_at": now - timedelta(days=1)
          if n % 6 == 5 else None, "ended_by_id": r.mentor_id if n % 6 == 5 else None}
         for n, r in enumerate(accepted)],
    )).all()  # fmt: skip
    active: dict[int, int] = {}
    sessions: list[dict[str, Any]] = []
    goals: list[dict[str, Any]] = []
    for n, ship in enumerate(ships):
        done = n % 6 == 5
        if not done:
            active[ship.mentor_id] = active.get(ship.mentor_id, 0) + 1
        # One session past, one to come (the mentor's hours are spread, never overlapping).
        for days in (-7, 3):
            start = now + timedelta(days=days, hours=n % 48)
            start = start.replace(minute=0, second=0, microsecond=0)
            sessions.append({"mentorship_id": ship.id, "mentor_id": ship.mentor_id,
                             "mentee_id": ship.mentee_id, "starts_at": start,
                             "ends_at": start + timedelta(minutes=45),
                             "join_url": "https://meet.example.org/mentoring",
                             "agenda": "Goals and next steps.", "status": "scheduled",
                             "created_by_id": ship.mentee_id, "created_at": now})  # fmt: skip
        goals += [{"mentorship_id": ship.id, "title": "Update my CV",
                   "status": "done" if done else "in_progress", "created_at": now,
                   "updated_at": now},
                  {"mentorship_id": ship.id, "title": "Three informational interviews",
                   "status": "not_started", "created_at": now, "updated_at": now}]  # fmt: skip
    held = (await session.execute(
        insert(MentorshipSession).returning(MentorshipSession.id, MentorshipSession.mentorship_id,
                                            MentorshipSession.starts_at),
        sessions,
    )).all() if sessions else []  # fmt: skip
    if goals:
        await session.execute(insert(MentorshipGoal), goals)
    by_ship = {s.id: s for s in ships}
    feedback: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for h in held:
        ship = by_ship[h.mentorship_id]
        if as_utc(h.starts_at) < now:
            feedback.append({"mentorship_id": ship.id, "session_id": h.id,
                             "about": f"session:{h.id}", "author_id": ship.mentee_id,
                             "subject_id": ship.mentor_id, "by_mentor": False,
                             "rating": rng.choice([4, 5, 5, 3]), "comment": None,
                             "created_at": now})  # fmt: skip
            notes.append({"mentorship_id": ship.id, "session_id": h.id,
                          "author_id": ship.mentor_id, "body": "Send two CV drafts by Friday.",
                          "shared": True, "created_at": now})  # fmt: skip
    if feedback:
        await session.execute(insert(MentorshipFeedback), feedback)
    if notes:
        await session.execute(insert(MentorshipNote), notes)
    for mentor, count in active.items():
        await session.execute(update(MentorOffer).where(MentorOffer.user_id == mentor)
                              .values(active_mentees=count))  # fmt: skip
    return len(offers)
