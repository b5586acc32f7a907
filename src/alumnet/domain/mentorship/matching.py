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
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Double, Integer, and_, case, cast, func, literal, or_, select

from alumnet.domain.errors import DomainError, Problems
from alumnet.domain.events.catalogue import zone_of
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.mentorship.offers import has_room, mentee_kind, offset_index, tag
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
    """The best ``first`` mentors for the viewer, each score broken down and explained:
    every part scored, summed and ranked in one SQL statement (the time zone's from the
    offer's ``zone_fit`` at the mentee's UTC offset)."""
    me = viewer.user_id
    if me is None:
        raise DomainError.of("NOT_AUTHENTICATED", "Sign in.")
    weights = await weights_of(executor)
    P = Profile
    me_row = (
        await executor.execute(
            select(P.programme_id, P.country, P.city, P.company).where(P.user_id == me)
        )
    ).first()
    industries = await _industries(executor, me, me_row.company if me_row else None)
    mine = select(UserSkill.skill_id).where(UserSkill.user_id == me)
    goal_skills = await _named_topics(executor, goals)
    shared = (
        select(MentorOfferSkill.user_id, func.count().label("shared"))
        .where(or_(MentorOfferSkill.skill_id.in_(mine), MentorOfferSkill.skill_id.in_(goal_skills)))
        .group_by(MentorOfferSkill.user_id)
        .subquery()
    )
    shared_n = func.coalesce(shared.c.shared, 0)
    wanted_languages = sorted({v.strip().lower() for v in languages if v.strip()})[:10]
    parts = {
        "skills": cast(func.least(shared_n, SKILLS_FULL), Double) / SKILLS_FULL
        if executor.dialect.name == "postgresql"
        else cast(func.min(shared_n, SKILLS_FULL), Double) / SKILLS_FULL,
        "industry": _any_tag("industry", sorted(industries)),
        "programme": case((P.programme_id == me_row.programme_id, 1.0), else_=0.0)
        if me_row is not None and me_row.programme_id is not None else literal(0.0),
        "location": _location(me_row),
        "language": _any_tag("language", wanted_languages) if wanted_languages
        else literal(0.5),
        "load": 1.0 - cast(MentorOffer.active_mentees, Double) / MentorOffer.capacity,
        "time_zone": _zone_part(time_zone),
    }  # fmt: skip
    sql_score = sum((part * weights[name] for name, part in parts.items()), literal(0.0)).label(
        "sql_score"
    )
    asked = select(MentorshipRequest.mentor_id).where(
        MentorshipRequest.mentee_id == me, MentorshipRequest.status == "pending"
    )
    has = select(Mentorship.mentor_id).where(
        Mentorship.mentee_id == me, Mentorship.status == "active"
    )
    query = (
        select(MentorOffer.user_id, shared_n.label("shared"), sql_score,
               *(part.label(f"part_{name}") for name, part in parts.items()))
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
        .order_by(sql_score.desc(), MentorOffer.user_id)
        .limit(first)
    )  # fmt: skip
    found: list[Suggestion] = []
    for r in (await executor.execute(query)).all():
        raw = {name: float(getattr(r, f"part_{name}")) for name in PARTS}
        scored = {k: round(raw[k] * weights[k], 4) for k in PARTS}
        found.append(Suggestion(int(r.user_id), round(sum(scored.values()), 4), scored,
                                _why(raw, int(r.shared))))  # fmt: skip
    found.sort(key=lambda s: (-s.score, s.mentor_id))
    return found[:first]


def _zone_part(time_zone: str | None) -> Any:
    """SQL: how well the offer's windows fit the mentee's day (0 to 1); 0.5 unknown."""
    zone = zone_of(time_zone) if time_zone else None
    if zone is None:
        return literal(0.5)
    start = 3 * offset_index(zone) + 1
    digits = func.coalesce(func.nullif(func.substr(MentorOffer.zone_fit, start, 3), ""), "0")
    return cast(digits, Integer) / 999.0


def _any_tag(kind: str, values: list[str]) -> Any:
    """SQL: 1.0 if the offer's tags name any of these values (of this kind), else 0.0."""
    if not values:
        return literal(0.0)
    return case(
        (or_(*(MentorOffer.tags.contains(tag(kind, v), autoescape=True) for v in values)), 1.0),
        else_=0.0,
    )


def _location(me: Any) -> Any:
    P = Profile
    if me is None or not me.country:
        return literal(0.0)
    same_city = (
        func.lower(P.city) == me.city.lower() if me.city else literal(False)
    )  # fmt: skip
    return case(
        (and_(P.country == me.country, same_city), 1.0),
        (P.country == me.country, 0.5),
        else_=0.0,
    )


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
