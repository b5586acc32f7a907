"""The directory: who matches a text query and filters, ranked, and facet counts.

Nothing matches on a field the viewer may not see: the text query reads a document
without the person's work unless their work is visible to the viewer, and each filter
applies only where its group is visible.

PostgreSQL: full-text search over documents kept current by triggers (``search_basic``:
name and headline; ``search_all``: those plus job title, company and skills), prefix
matching on the last word, and trigram similarity of at least 0.45 (set for every
connection in ``persistence.db``) on the name for misspellings; ranked by
``ts_rank`` plus the name's similarity. SQLite: every word must appear (case-insensitive
substring) in a field the viewer may see; ordered by name.

Text is never parsed as syntax: the query is cut to 200 characters and split into words
(letters and digits); anything else (``%``, ``_``, quotes, ``:*``, ``&``, ``!``) only
separates words. A query without any word matches names containing it literally.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Double, and_, case, cast, exists, func, literal, or_, select

from alumnet.domain.identity.permissions import Viewer
from alumnet.domain.people import privacy
from alumnet.persistence.models import (
    Degree,
    Profile,
    Skill,
    User,
    UserRole,
    UserSkill,
)

QUERY_MAX = 200
WORDS_MAX = 8
FACET_MAX = 30
WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class DirectoryFilter:
    roles: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    company: str | None = None
    graduation_from: int | None = None
    graduation_to: int | None = None
    programme_id: int | None = None
    country: str | None = None


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)][:WORDS_MAX]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class Match:
    """The WHERE clause of a directory query, and its relevance (PostgreSQL with text)."""

    where: Any
    rank: Any | None


def match(viewer: Viewer, query: str | None, given: DirectoryFilter, dialect: str) -> Match:
    P, U = Profile, User
    work_ok = privacy.visible(viewer, P.user_id, P.work_visibility)
    education_ok = privacy.visible(viewer, P.user_id, P.education_visibility)
    location_ok = privacy.visible(viewer, P.user_id, P.location_visibility)
    where: list[Any] = [U.status == "active"]
    if not viewer.is_authenticated:
        where.append(literal(False))
    rank = None
    text = (query or "").strip()[:QUERY_MAX]
    tokens = words(text)
    if text and not tokens:
        where.append(func.lower(U.name).contains(_like_escape(text.lower()), escape="\\"))
    elif tokens and dialect == "postgresql":
        tsquery = func.to_tsquery("simple", " & ".join([*tokens[:-1], tokens[-1] + ":*"]))
        phrase = " ".join(tokens)
        where.append(
            or_(
                P.search_basic.op("@@")(tsquery),
                and_(work_ok, P.search_all.op("@@")(tsquery)),
                P.search_name.op("%")(phrase),
            )
        )
        document = case((work_ok, P.search_all), else_=P.search_basic)
        # In double precision: a cursor carries the rank, and PostgreSQL's real (float4)
        # does not survive the trip through JSON exactly, so the next page would miss ties.
        rank = cast(
            func.ts_rank(document, tsquery) + func.similarity(P.search_name, phrase), Double
        )
    elif tokens:
        for token in tokens:
            where.append(
                or_(
                    func.lower(U.name).contains(token),
                    func.lower(P.headline).contains(token),
                    and_(
                        work_ok,
                        or_(
                            func.lower(P.company).contains(token),
                            func.lower(P.job_title).contains(token),
                            exists().where(
                                UserSkill.user_id == P.user_id,
                                UserSkill.skill_id == Skill.id,
                                Skill.name_key.contains(token),
                            ),
                        ),
                    ),
                )
            )
    where.extend(_filters(given, work_ok, education_ok, location_ok))
    return Match(where=and_(*where), rank=rank)


def _filters(
    given: DirectoryFilter, work_ok: Any, education_ok: Any, location_ok: Any
) -> list[Any]:
    P, U = Profile, User
    found: list[Any] = []
    if given.roles:
        found.append(U.id.in_(select(UserRole.user_id).where(UserRole.role.in_(given.roles))))
    for skill in given.skills:
        found.append(
            and_(
                work_ok,
                exists().where(
                    UserSkill.user_id == P.user_id,
                    UserSkill.skill_id == Skill.id,
                    Skill.name_key == " ".join(skill.split()).lower(),
                ),
            )
        )
    if given.company:
        found.append(and_(work_ok, func.lower(P.company) == given.company.strip().lower()))
    if given.graduation_from is not None or given.graduation_to is not None:
        low = given.graduation_from if given.graduation_from is not None else 0
        high = given.graduation_to if given.graduation_to is not None else 10_000
        found.append(and_(education_ok, U.graduation_year.between(low, high)))
    if given.programme_id is not None:
        found.append(
            and_(
                education_ok,
                or_(
                    P.programme_id == given.programme_id,
                    exists().where(
                        Degree.user_id == P.user_id, Degree.programme_id == given.programme_id
                    ),
                ),
            )
        )
    if given.country:
        found.append(and_(location_ok, P.country == given.country.strip().upper()))
    return found


def matched_ids(found: Match) -> Any:
    return select(Profile.user_id).join(User, User.id == Profile.user_id).where(found.where)


def facet_queries(viewer: Viewer, found: Match) -> dict[str, Any]:
    """Counts by graduation year, country and skill over the matched people, each counted
    only where the viewer may see it."""
    P, U = Profile, User
    ids = matched_ids(found).subquery()
    years = (
        select(U.graduation_year.label("value"), func.count().label("n"))
        .join(P, P.user_id == U.id)
        .where(
            U.id.in_(select(ids.c.user_id)),
            U.graduation_year.is_not(None),
            privacy.visible(viewer, P.user_id, P.education_visibility),
        )
        .group_by(U.graduation_year)
        .order_by(U.graduation_year.desc())
        .limit(FACET_MAX)
    )
    countries = (
        select(P.country.label("value"), func.count().label("n"))
        .where(
            P.user_id.in_(select(ids.c.user_id)),
            P.country.is_not(None),
            privacy.visible(viewer, P.user_id, P.location_visibility),
        )
        .group_by(P.country)
        .order_by(func.count().desc(), P.country)
        .limit(FACET_MAX)
    )
    skills = (
        select(Skill.name.label("value"), func.count().label("n"))
        .join(UserSkill, UserSkill.skill_id == Skill.id)
        .join(P, P.user_id == UserSkill.user_id)
        .where(
            UserSkill.user_id.in_(select(ids.c.user_id)),
            privacy.visible(viewer, P.user_id, P.work_visibility),
        )
        .group_by(Skill.name)
        .order_by(func.count().desc(), Skill.name)
        .limit(FACET_MAX)
    )
    return {"graduation_years": years, "countries": countries, "skills": skills}
