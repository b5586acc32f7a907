"""The directory: who matches a text query and filters, ranked, and facet counts.

Nothing matches on a field the viewer may not see: the text query reads a document
without the person's work unless their work is visible to the viewer, and each filter
applies only where its group is visible.

A person matches when their name is like the whole query (pg_trgm similarity of at least
0.45), or when every word of the query is found in a field the viewer may see: as it is
written, or, when nobody matches so (``matching``), for a word of four letters or more,
misspelt (pg_trgm word similarity of at least 0.45 with the name, the headline or, where
visible, the work: company, job title and skills). The thresholds are the connection's
(``persistence.db``). Forgiving misspellings only then keeps a search spelt right as
cheap as it was: the trigram branches cost PostgreSQL more than twice the time.

PostgreSQL: full-text search over documents kept current by triggers (``search_basic``:
name and headline; ``search_all``: those plus job title, company and skills), prefix
matching on the last word, and trigram indexes on the name, headline and ``search_work``
for ``%`` and ``%>``; ranked by ``ts_rank`` plus the name's similarity. SQLite: a word as
written must appear in a field (case-insensitive substring); the measures are pg_trgm's,
computed in Python (``persistence.trigrams``) only for the people an FTS5 trigram index
(``fts_profiles``, migration 0026) finds sharing enough trigrams with the query; ranked by
the name's similarity plus one when every word appears as written.

Text is never parsed as syntax: the query is cut to 200 characters and split into words
(letters and digits); anything else (``%``, ``_``, quotes, ``:*``, ``&``, ``!``) only
separates words. A query without any word matches names containing it literally.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Double,
    and_,
    case,
    cast,
    column,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    union_all,
)

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
from alumnet.persistence.trigrams import least_shared, trigrams

QUERY_MAX = 200
WORDS_MAX = 8
FACET_MAX = 30
WORD = re.compile(r"[^\W_]+")
# pg_trgm's similarity and word similarity thresholds (the connection's on PostgreSQL).
SIMILARITY = 0.45
# Shorter words are only found as written: "ann" is like every name starting with "an".
FUZZY_LETTERS = 4
# SQLite's trigram index of what the directory searches (migration 0026): the name, the
# headline and the work (company, job title, skills), lower case, each word padded as
# pg_trgm pads it; the rowid is the user's id.
FTS = table("fts_profiles", column("rowid"), column("work"))


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
    """The WHERE clause of a directory query, and its relevance (with a text query)."""

    where: Any
    rank: Any | None


def forgives(query: str | None) -> bool:
    """Whether a query has a word long enough to be forgiven a misspelling."""
    return any(len(token) >= FUZZY_LETTERS for token in words((query or "").strip()[:QUERY_MAX]))


async def matching(
    executor: Any, viewer: Viewer, query: str | None, given: DirectoryFilter, dialect: str
) -> Match:
    """The people a directory search finds: its words as written (and names like the whole
    query); misspelt words are forgiven only when nobody matches as written, so that a
    search spelt right costs what it always did (one statement, ``LIMIT 1``, to tell)."""
    exact = match(viewer, query, given, dialect)
    if not forgives(query):
        return exact
    anyone = matched_ids(exact).limit(1)
    if (await executor.execute(anyone)).first() is not None:
        return exact
    return match(viewer, query, given, dialect, forgiving=True)


def match(
    viewer: Viewer,
    query: str | None,
    given: DirectoryFilter,
    dialect: str,
    *,
    forgiving: bool = False,
) -> Match:
    """The WHERE clause and rank of a directory search; ``forgiving`` also finds words
    misspelt (see ``matching``)."""
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
        similar_name = P.search_name.op("%")(phrase)
        if not forgiving:
            where.append(
                or_(
                    P.search_basic.op("@@")(tsquery),
                    and_(work_ok, P.search_all.op("@@")(tsquery)),
                    similar_name,
                )
            )
        else:
            each: list[Any] = []
            for i, token in enumerate(tokens):
                one = func.to_tsquery("simple", token + (":*" if i == len(tokens) - 1 else ""))
                found = [P.search_basic.op("@@")(one), and_(work_ok, P.search_all.op("@@")(one))]
                if len(token) >= FUZZY_LETTERS:
                    found += [
                        P.search_name.op("%>")(token),
                        P.headline.op("%>")(token),
                        and_(work_ok, P.search_work.op("%>")(token)),
                    ]
                each.append(or_(*found))
            where.append(or_(and_(*each), similar_name))
        document = case((work_ok, P.search_all), else_=P.search_basic)
        # In double precision: a cursor carries the rank, and PostgreSQL's real (float4)
        # does not survive the trip through JSON exactly, so the next page would miss ties.
        rank = cast(
            func.ts_rank(document, tsquery) + func.similarity(P.search_name, phrase), Double
        )
    elif tokens:
        phrase = " ".join(tokens)
        written = [_written(token, work_ok) for token in tokens]
        each = []
        for token, as_written in zip(tokens, written, strict=True):
            if len(token) < FUZZY_LETTERS or not forgiving:
                each.append(as_written)
                continue
            work = select(FTS.c.work).where(FTS.c.rowid == P.user_id).scalar_subquery()
            like = or_(
                func.best_word_similarity(token, U.name) >= SIMILARITY,
                func.best_word_similarity(token, P.headline) >= SIMILARITY,
                and_(work_ok, func.best_word_similarity(token, work) >= SIMILARITY),
            )
            misspelt = and_(P.user_id.in_(_sharing(token, "name headline work")), like)
            each.append(or_(as_written, misspelt))
        similar = and_(
            P.user_id.in_(_sharing(phrase, "name")),
            func.similarity(U.name, phrase) >= SIMILARITY,
        )
        where.append(or_(and_(*each), similar))
        rank = cast(
            func.similarity(U.name, phrase) + case((and_(*written), 1.0), else_=0.0), Double
        )
    where.extend(_filters(given, work_ok, education_ok, location_ok))
    return Match(where=and_(*where), rank=rank)


def _written(token: str, work_ok: Any) -> Any:
    """SQLite: the word as written in a field the viewer may see."""
    P, U = Profile, User
    return or_(
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


def _sharing(text: str, columns: str) -> Any:
    """SQLite: the people whose ``columns`` of ``fts_profiles`` hold enough of the text's
    trigrams to be like it (``least_shared``), counted by one index lookup a trigram.
    A superset: the measure itself then decides."""
    lookups = [
        select(FTS.c.rowid).where(
            literal_column("fts_profiles").op("MATCH")(f'{{{columns}}} : "{trigram}"')
        )
        for trigram in sorted(trigrams(text))
    ]
    found = union_all(*lookups).subquery()
    return (
        select(found.c.rowid)
        .group_by(found.c.rowid)
        .having(func.count() >= least_shared(text, SIMILARITY))
    )


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
