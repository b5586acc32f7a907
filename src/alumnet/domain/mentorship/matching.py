"""Explainable mentor suggestions: for a mentee, the mentors with room, ranked by a score
made of parts, each between 0 and 1 and multiplied by its weight (staff tune them with
``matchingWeightsUpdate``):

- ``skills``: the mentor's topics the mentee has as skills or names in their goals (three
  or more count fully);
- ``industry``: the mentor works in an industry of the mentee's work (now or before);
- ``programme``: both studied the same programme;
- ``location``: same country (half), same city too (all);
- ``time_zone``: the share of the mentor's availability that falls between 08:00 and
  22:00 in the mentee's time zone (none given: half);
- ``language``: the mentor speaks one of the mentee's languages (none given: half);
- ``load``: the share of the mentor's places still free.

Never the mentee themselves, a paused or full mentor, one blocked either way, one not
taking this kind of mentee, or one they have or have asked already. One SELECT of the
candidates (their skill overlap counted by a grouped join), scored in Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select

from alumnet.domain.errors import DomainError, Problems
from alumnet.domain.events.catalogue import zone_of
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.mentorship.offers import has_room, mentee_kind
from alumnet.domain.mentorship.requests import blocked
from alumnet.persistence.models import (
    Company,
    MatchingWeights,
    MentorOffer,
    MentorOfferSkill,
    Mentorship,
    MentorshipRequest,
    Profile,
    Skill,
    User,
    UserSkill,
    WorkExperience,
)
from alumnet.persistence.uow import UnitOfWork

PARTS = ("skills", "industry", "programme", "location", "time_zone", "language", "load")
DEFAULT_WEIGHTS = {"skills": 3.0, "industry": 2.0, "programme": 1.0, "location": 1.0,
                   "time_zone": 1.0, "language": 1.0, "load": 1.0}  # fmt: skip
WEIGHT_MAX = 100.0
SKILLS_FULL = 3
CANDIDATES_MAX = 20_000
WORD = re.compile(r"[a-z0-9+#.]+")


async def weights_of(executor: Any) -> dict[str, float]:
    found = await executor.execute(select(MatchingWeights.weights).where(MatchingWeights.id == 1))
    chosen = found.scalar_one_or_none() or {}
    return {p: float(chosen.get(p, DEFAULT_WEIGHTS[p])) for p in PARTS}


async def set_weights(uow: UnitOfWork, viewer: Viewer, given: dict[str, float]) -> dict[str, float]:
    """Tune the weights (``mentorship:manage``); each 0 to 100, not all 0."""
    me = viewer.require(Permission.MENTORSHIP_MANAGE)
    current = await weights_of(uow.session)
    problems = Problems()
    for name, value in given.items():
        field = "timeZone" if name == "time_zone" else name
        if name not in PARTS:
            problems.add("INVALID", f"Unknown weight {name!r}.", field)
        elif not 0 <= value <= WEIGHT_MAX or value != value:  # NaN is not a weight
            problems.add("OUT_OF_RANGE", f"A weight is 0 to {WEIGHT_MAX:g}.", field)
    merged = {**current, **{k: float(v) for k, v in given.items() if k in PARTS}}
    if not problems.items and not any(merged.values()):
        problems.add("ALL_ZERO", "At least one weight must be above 0.", None)
    problems.raise_if_any()
    found = await uow.session.get(MatchingWeights, 1, with_for_update=True)
    now = datetime.now(UTC)
    if found is None:
        uow.session.add(MatchingWeights(id=1, weights=merged, updated_by_id=me, updated_at=now))
    else:
        found.weights, found.updated_by_id, found.updated_at = merged, me, now
    await uow.session.flush()
    audit.record(uow, "matching.weights", details=merged)
    return merged


@dataclass(frozen=True)
class Suggestion:
    mentor_id: int
    score: float
    parts: dict[str, float]  # each part times its weight
    why: str


def _day_hours(availability: list[dict[str, Any]], zone: ZoneInfo, mentee: ZoneInfo) -> float:
    """The share of the windows' minutes between 08:00 and 22:00 in the mentee's zone (a
    week from a fixed Monday, so that the same offer scores the same)."""
    monday = datetime(2024, 1, 1)
    total = inside = 0
    for w in availability:
        start = datetime.combine(monday + timedelta(days=int(w["weekday"])),
                                 time.fromisoformat(w["start"]), zone)  # fmt: skip
        end = datetime.combine(start.date(), time.fromisoformat(w["end"]), zone)
        step = start
        while step < end:
            local = step.astimezone(mentee)
            total += 1
            inside += 8 <= local.hour < 22
            step += timedelta(minutes=30)
    return inside / total if total else 0.0


async def _named_topics(executor: Any, goals: str | None) -> list[int]:
    """The mentors' topics that the goals name, as whole words ("data analysis" in "I want
    to learn data analysis"); the topics in use are a few hundred names at most."""
    text = " " + " ".join(WORD.findall((goals or "").lower())) + " "
    if not text.strip():
        return []
    used = select(Skill.id, Skill.name_key).where(
        Skill.id.in_(select(MentorOfferSkill.skill_id).distinct())
    )
    return [
        int(i) for i, key in (await executor.execute(used)).all()
        if f" {' '.join(WORD.findall(str(key)))} " in text
    ]  # fmt: skip


async def suggest(
    executor: Any, viewer: Viewer, first: int, *, goals: str | None = None,
    time_zone: str | None = None, languages: tuple[str, ...] = (),
) -> list[Suggestion]:  # fmt: skip
    """The best ``first`` mentors for the viewer, each score broken down and explained."""
    me = viewer.user_id
    if me is None:
        raise DomainError.of("NOT_AUTHENTICATED", "Sign in.")
    weights = await weights_of(executor)
    mine = select(UserSkill.skill_id).where(UserSkill.user_id == me)
    goal_skills = await _named_topics(executor, goals)
    shared = (
        select(MentorOfferSkill.user_id, func.count().label("shared"))
        .where(or_(MentorOfferSkill.skill_id.in_(mine), MentorOfferSkill.skill_id.in_(goal_skills)))
        .group_by(MentorOfferSkill.user_id)
        .subquery()
    )
    asked = select(MentorshipRequest.mentor_id).where(
        MentorshipRequest.mentee_id == me, MentorshipRequest.status == "pending"
    )
    has = select(Mentorship.mentor_id).where(
        Mentorship.mentee_id == me, Mentorship.status == "active"
    )
    P = Profile
    query = (
        select(MentorOffer.user_id, MentorOffer.capacity, MentorOffer.active_mentees,
               MentorOffer.industries, MentorOffer.languages, MentorOffer.availability,
               MentorOffer.time_zone, func.coalesce(shared.c.shared, 0).label("shared"),
               P.programme_id, P.country, P.city, User.name)
        .join(User, User.id == MentorOffer.user_id)
        .outerjoin(P, P.user_id == MentorOffer.user_id)
        .outerjoin(shared, shared.c.user_id == MentorOffer.user_id)
        .where(
            User.status == "active", MentorOffer.paused.is_(False), has_room(),
            MentorOffer.user_id != me,
            MentorOffer.preferred_mentee.in_(mentee_kind(viewer)),
            MentorOffer.user_id.not_in(asked), MentorOffer.user_id.not_in(has),
            ~blocked(MentorOffer.user_id, me),
        )
        .limit(CANDIDATES_MAX)
    )  # fmt: skip
    rows = (await executor.execute(query)).all()
    me_row = (
        await executor.execute(
            select(P.programme_id, P.country, P.city, P.company).where(P.user_id == me)
        )
    ).first()
    industries = await _industries(executor, me, me_row.company if me_row else None)
    mentee_zone = zone_of(time_zone or "") if time_zone else None
    wanted_languages = {v.strip().lower() for v in languages if v.strip()}
    found: list[Suggestion] = []
    for r in rows:
        raw = {
            "skills": min(int(r.shared), SKILLS_FULL) / SKILLS_FULL,
            "industry": 1.0 if industries & {i.lower() for i in r.industries or []} else 0.0,
            "programme": 1.0 if me_row and me_row.programme_id and
            me_row.programme_id == r.programme_id else 0.0,
            "location": _place(me_row, r),
            "time_zone": (_day_hours(r.availability or [], zone_of(r.time_zone) or ZoneInfo("UTC"),
                                     mentee_zone) if mentee_zone else 0.5),
            "language": (1.0 if wanted_languages & set(r.languages or []) else 0.0)
            if wanted_languages else 0.5,
            "load": 1 - r.active_mentees / r.capacity if r.capacity else 0.0,
        }  # fmt: skip
        parts = {k: round(v * weights[k], 4) for k, v in raw.items()}
        found.append(Suggestion(int(r.user_id), round(sum(parts.values()), 4), parts,
                                _why(raw, int(r.shared))))  # fmt: skip
    found.sort(key=lambda s: (-s.score, s.mentor_id))
    return found[:first]


def _place(me: Any, r: Any) -> float:
    if me is None or not me.country or me.country != r.country:
        return 0.0
    return 1.0 if me.city and r.city and me.city.lower() == r.city.lower() else 0.5


async def _industries(executor: Any, me: int, company: str | None) -> set[str]:
    """The industries of the companies the mentee works or worked at (as the careers
    board's employers record them)."""
    names = {
        " ".join(str(c).split()).lower()
        for c in (await executor.execute(
            select(WorkExperience.company).where(WorkExperience.user_id == me)
        )).scalars()
    }  # fmt: skip
    if company:
        names.add(" ".join(company.split()).lower())
    if not names:
        return set()
    rows = await executor.execute(
        select(Company.industry).where(
            Company.name_key.in_(sorted(names)), Company.industry.is_not(None)
        )
    )
    return {str(i).lower() for i in rows.scalars()}


def _why(raw: dict[str, float], shared: int) -> str:
    said = []
    if shared:
        said.append(f"{shared} shared topic{'s' if shared > 1 else ''}")
    if raw["industry"]:
        said.append("your industry")
    if raw["programme"]:
        said.append("your programme")
    if raw["location"] == 1.0:
        said.append("your city")
    elif raw["location"]:
        said.append("your country")
    if raw["time_zone"] >= 0.75:
        said.append("free in your daytime")
    if raw["language"] == 1.0:
        said.append("speaks your language")
    if raw["load"] >= 0.75:
        said.append("has room")
    return ("Matches: " + ", ".join(said) + ".") if said else "Has room to mentor."
