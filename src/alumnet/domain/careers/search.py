"""Finding work: the text query and filters over open postings, facet counts, saved
searches that tell their owner of new matches, and recommendations with their reasons.

PostgreSQL: full-text search over a document the database keeps current (title and
company, skills, description), prefix matching on the last word, ranked by ``ts_rank``.
SQLite: every word must appear (case-insensitive) in the title, company, skills or
description; ranked by recency. Text is never parsed as syntax (see ``people.directory``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Double, Float, and_, case, cast, delete, func, literal, or_, select

from alumnet.domain.careers.postings import (
    KINDS,
    REMOTE,
    audiences_for,
    open_now,
    readable,
    skill_key,
)
from alumnet.domain.communication.notifications import Item, notify_each
from alumnet.domain.errors import DomainError, Problems, check_label
from alumnet.domain.identity.auth import viewer_of
from alumnet.domain.identity.permissions import Role, Viewer
from alumnet.domain.identity.two_factor import required_roles
from alumnet.domain.people import privacy
from alumnet.domain.people.directory import QUERY_MAX, words
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import (
    Company,
    Degree,
    JobApplication,
    JobPosting,
    JobPostingSearch,
    JobPostingSkill,
    Profile,
    Skill,
    User,
    UserSkill,
)
from alumnet.persistence.uow import UnitOfWork

FACET_MAX = 30
SEARCHES_MAX = 20
MATCHES_PER_NOTICE = 10
SAVED_SEARCH_JOB = "careers.saved_searches"


@dataclass(frozen=True)
class PostingFilter:
    kinds: tuple[str, ...] = ()
    remote: tuple[str, ...] = ()
    country: str | None = None
    skills: tuple[str, ...] = ()
    audience: str | None = None
    company: str | None = None
    posted_since: date | None = None
    # In minor units of ``currency``: postings paying at least this much at the top.
    salary_from: int | None = None
    currency: str | None = None

    def as_args(self) -> dict[str, Any]:
        found = asdict(self)
        if self.posted_since is not None:
            found["posted_since"] = self.posted_since.isoformat()
        return found

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> PostingFilter:
        given = {k: v for k, v in args.items() if k in cls.__dataclass_fields__}
        for key in ("kinds", "remote", "skills"):
            given[key] = tuple(given.get(key) or ())
        if given.get("posted_since"):
            given["posted_since"] = date.fromisoformat(given["posted_since"])
        return cls(**given)


@dataclass(frozen=True)
class Match:
    where: Any
    rank: Any | None


def match(viewer: Viewer, query: str | None, given: PostingFilter, dialect: str) -> Match:
    """Open postings the viewer may see that match the text and every filter."""
    P = JobPosting
    where: list[Any] = [open_now(datetime.now(UTC).date())]
    condition = readable(viewer)
    if condition is not None:
        where.append(condition)
    rank = None
    text = (query or "").strip()[:QUERY_MAX]
    tokens = words(text)
    if text and not tokens:
        where.append(func.lower(P.title).contains(text.lower(), autoescape=True))
    elif tokens and dialect == "postgresql":
        tsquery = func.to_tsquery("simple", " & ".join([*tokens[:-1], tokens[-1] + ":*"]))
        where.append(P.search.op("@@")(tsquery))
        rank = cast(func.ts_rank(P.search, tsquery), Double)
    elif tokens:
        for token in tokens:
            where.append(
                or_(
                    func.lower(P.title).contains(token),
                    func.lower(P.skills_text).contains(token),
                    func.lower(P.description_markdown).contains(token),
                    P.company_id.in_(select(Company.id).where(Company.name_key.contains(token))),
                )
            )
    if given.kinds:
        where.append(P.kind.in_(given.kinds))
    if given.remote:
        where.append(P.remote.in_(given.remote))
    if given.country:
        where.append(P.country == given.country.strip().upper())
    for skill in given.skills:
        where.append(
            P.id.in_(
                select(JobPostingSkill.posting_id)
                .join(Skill, Skill.id == JobPostingSkill.skill_id)
                .where(Skill.name_key == skill_key(skill))
            )
        )
    if given.audience:
        where.append(P.audience.in_((given.audience, "both")))
    if given.company:
        where.append(
            P.company_id.in_(select(Company.id).where(Company.name_key == skill_key(given.company)))
        )
    if given.posted_since is not None:
        since = datetime.combine(given.posted_since, datetime.min.time(), UTC)
        where.append(P.published_at >= since)
    if given.salary_from is not None:
        where.append(
            and_(
                P.currency == (given.currency or ""),
                func.coalesce(P.salary_max, P.salary_min) >= given.salary_from,
            )
        )
    return Match(where=and_(*where), rank=rank)


def facet_queries(found: Match) -> dict[str, Any]:
    """Counts by kind, remote mode, country, audience, company and skill over the matches."""
    P = JobPosting
    ids = select(P.id).where(found.where).subquery()
    matched = P.id.in_(select(ids.c.id))

    def by(column: Any, *, most_first: bool = True) -> Any:
        query = select(column.label("value"), func.count().label("n")).where(
            matched, column.is_not(None)
        )
        order = [func.count().desc(), column] if most_first else [column]
        return query.group_by(column).order_by(*order).limit(FACET_MAX)

    companies = (
        select(Company.name.label("value"), func.count().label("n"))
        .join(P, P.company_id == Company.id)
        .where(matched)
        .group_by(Company.name)
        .order_by(func.count().desc(), Company.name)
        .limit(FACET_MAX)
    )
    skills = (
        select(Skill.name.label("value"), func.count().label("n"))
        .join(JobPostingSkill, JobPostingSkill.skill_id == Skill.id)
        .where(JobPostingSkill.posting_id.in_(select(ids.c.id)))
        .group_by(Skill.name)
        .order_by(func.count().desc(), Skill.name)
        .limit(FACET_MAX)
    )
    return {
        "kinds": by(P.kind), "remote": by(P.remote), "countries": by(P.country),
        "audiences": by(P.audience), "companies": companies, "skills": skills,
    }  # fmt: skip


def check_filter(problems: Problems, given: PostingFilter, field: str = "filter") -> None:
    """What is wrong with a filter (a query refuses it; a saved search reports it)."""
    if any(k not in KINDS for k in given.kinds) or any(r not in REMOTE for r in given.remote):
        problems.add("INVALID", "Unknown kind or remote mode.", field)
    if len(given.skills) > 20:
        problems.add("TOO_MANY", "At most 20 skills.", (field, "skills"))
    if given.salary_from is not None and not given.currency:
        problems.add("REQUIRED", "A salary filter needs its currency.", (field, "currency"))


# Recommendations: each part of the score, and what it says when it counts.
SKILL_WEIGHT = 3.0
COUNTRY_WEIGHT = 2.0
CITY_WEIGHT = 1.0
REMOTE_WEIGHT = 1.0
AUDIENCE_WEIGHT = 1.0
PROGRAMME_WEIGHT = 1.0
RECENT = ((7, 2.0, "posted this week"), (30, 1.0, "posted this month"), (90, 0.5, None))


@dataclass(frozen=True)
class Recommendation:
    posting: Any
    score: float
    matched_skills: list[str]
    why: str


async def recommend(db: Any, viewer: Viewer, first: int) -> list[Recommendation]:
    """Open postings ranked for the viewer: skills they share (the most weight), their
    country and city, remote work as they prefer it (or, without a preference, remote
    work located elsewhere), postings meant for people like
    them, posters from their programme, and recency. Three statements whatever the number
    of postings: the viewer's profile, the ranked page, and the page's matched skills."""
    me = viewer.user_id
    if me is None or first <= 0:
        return []
    P = JobPosting
    now = datetime.now(UTC)
    async with db.connect() as conn:
        mine = (
            await conn.execute(
                select(
                    Profile.country, Profile.city, Profile.programme_id,
                    Profile.remote_preference,
                ).where(Profile.user_id == me)
            )
        ).first()  # fmt: skip
        country, city, programme, preference = mine if mine is not None else (None,) * 4
        shared = (
            select(JobPostingSkill.posting_id, func.count().label("n"))
            .where(
                JobPostingSkill.skill_id.in_(
                    select(UserSkill.skill_id).where(UserSkill.user_id == me)
                )
            )
            .group_by(JobPostingSkill.posting_id)
            .subquery()
        )
        skills_part = func.coalesce(shared.c.n, 0) * SKILL_WEIGHT
        country_part = (
            case((P.country == country, COUNTRY_WEIGHT), else_=0.0) if country else literal(0.0)
        )
        city_part = (
            case((func.lower(P.city) == city.lower(), CITY_WEIGHT), else_=0.0)
            if city
            else literal(0.0)
        )
        remote_part = _remote_part(preference, country)
        meant = _audience_of(viewer)
        audience_part = (
            case((P.audience == meant, AUDIENCE_WEIGHT), else_=0.0) if meant else literal(0.0)
        )
        programme_part: Any = literal(0.0)
        if programme is not None:
            # Only where the poster shows their education to the viewer.
            shown = privacy.visible(viewer, Profile.user_id, Profile.education_visibility)
            same = or_(
                P.poster_id.in_(
                    select(Profile.user_id).where(Profile.programme_id == programme, shown)
                ),
                P.poster_id.in_(
                    select(Degree.user_id)
                    .join(Profile, Profile.user_id == Degree.user_id)
                    .where(Degree.programme_id == programme, shown)
                ),
            )
            programme_part = case((same, PROGRAMME_WEIGHT), else_=0.0)
        recent_part = case(
            *[(P.published_at >= now - timedelta(days=d), w) for d, w, _ in RECENT], else_=0.0
        )
        parts = {
            "skills_n": func.coalesce(shared.c.n, 0), "country_p": country_part,
            "city_p": city_part, "remote_p": remote_part, "audience_p": audience_part,
            "programme_p": programme_part, "recent_p": recent_part,
        }  # fmt: skip
        score = cast(
            skills_part + country_part + city_part + remote_part + audience_part
            + programme_part + recent_part,
            Float,
        )  # fmt: skip
        # Open, addressed to the viewer (which implies ``readable``), not their own, not
        # applied to. Ranked narrow (ids and scores), then the page's rows fetched whole.
        applied = select(JobApplication.posting_id).where(JobApplication.applicant_id == me)
        ranked = (
            select(P.id.label("ranked_id"), score.label("score"),
                   *[v.label(k) for k, v in parts.items()])
            .outerjoin(shared, shared.c.posting_id == P.id)
            .where(open_now(now.date()), P.poster_id != me,
                   P.audience.in_(audiences_for(viewer)), P.id.not_in(applied))
            .order_by(score.desc(), P.published_at.desc(), P.id.desc())
            .limit(min(first, 100))
            .subquery()
        )  # fmt: skip
        query = (
            select(P.__table__, *[c for c in ranked.c if c.name != "ranked_id"])
            .join(ranked, ranked.c.ranked_id == P.id)
            .order_by(ranked.c.score.desc(), P.published_at.desc(), P.id.desc())
        )
        rows = (await conn.execute(query)).all()
        named: dict[int, list[str]] = {int(r.id): [] for r in rows}
        if rows:
            skill_names = (
                select(JobPostingSkill.posting_id, Skill.name)
                .join(Skill, Skill.id == JobPostingSkill.skill_id)
                .where(
                    JobPostingSkill.posting_id.in_(list(named)),
                    JobPostingSkill.skill_id.in_(
                        select(UserSkill.skill_id).where(UserSkill.user_id == me)
                    ),
                )
                .order_by(Skill.name)
            )
            for posting_id, name in (await conn.execute(skill_names)).all():
                named[int(posting_id)].append(str(name))
    return [
        Recommendation(
            posting=r,
            score=round(float(r.score), 3),
            matched_skills=named[int(r.id)],
            why=_why(r, named[int(r.id)], preference, meant),
        )
        for r in rows
    ]


def _remote_part(preference: str | None, country: str | None) -> Any:
    """Remote work as the viewer prefers it; without a preference, remote (and half for
    hybrid) work located outside their country, which they could not do otherwise."""
    P = JobPosting
    if preference == "on_site":
        return literal(0.0)
    if preference in ("remote", "hybrid"):
        other = "hybrid" if preference == "remote" else "remote"
        return case(
            (P.remote == preference, REMOTE_WEIGHT), (P.remote == other, REMOTE_WEIGHT / 2),
            else_=0.0,
        )  # fmt: skip
    elsewhere = P.country != country if country else literal(True)
    return case(
        (and_(P.remote == "remote", elsewhere), REMOTE_WEIGHT),
        (and_(P.remote == "hybrid", elsewhere), REMOTE_WEIGHT / 2),
        else_=0.0,
    )


def _audience_of(viewer: Viewer) -> str | None:
    if Role.STUDENT in viewer.roles and Role.ALUMNUS not in viewer.roles:
        return "students"
    if Role.ALUMNUS in viewer.roles and Role.STUDENT not in viewer.roles:
        return "alumni"
    return None


def _why(row: Any, skills: list[str], preference: str | None, meant: str | None) -> str:
    reasons: list[str] = []
    if skills:
        shown = ", ".join(skills[:3]) + (f" and {len(skills) - 3} more" if len(skills) > 3 else "")
        reasons.append(f"matches your skills {shown}")
    if row.city_p:
        reasons.append(f"in your city, {row.city}")
    elif row.country_p:
        reasons.append("in your country")
    if row.remote_p:
        mode = "remote" if row.remote == "remote" else "hybrid"
        reasons.append(f"{mode}, as you prefer" if preference == row.remote else mode)
    if row.audience_p:
        reasons.append(f"meant for {meant}")
    if row.programme_p:
        reasons.append("posted by someone from your programme")
    recency = next((label for d, w, label in RECENT if label and row.recent_p >= w), None)
    if recency:
        reasons.append(recency)
    if not reasons:
        return "Open to you."
    text = "; ".join(reasons)
    return text[0].upper() + text[1:] + "."


async def save_search(
    uow: UnitOfWork, viewer: Viewer, *, name: str, query: str | None, given: PostingFilter
) -> JobPostingSearch:
    """Keep a search; its owner is told of new live postings that match it."""
    me = viewer.require_user()
    problems = Problems()
    label = check_label(problems, name, field="name", max_length=100, min_length=1, label="A name")
    if query is not None and len(query) > QUERY_MAX:
        problems.add("TOO_LONG", f"A query is at most {QUERY_MAX} characters.", "query")
    check_filter(problems, given)
    # Counted with the person's row locked, so that two saves at once cannot pass the limit.
    await uow.session.get(User, me, with_for_update=True)
    held = await uow.session.execute(
        select(func.count()).select_from(JobPostingSearch).where(JobPostingSearch.user_id == me)
    )
    if int(held.scalar_one()) >= SEARCHES_MAX:
        problems.add("TOO_MANY", f"At most {SEARCHES_MAX} saved searches.", "name")
    problems.raise_if_any()
    now = datetime.now(UTC)
    search = JobPostingSearch(
        user_id=me, name=label, query=(query or "").strip() or None, filter=given.as_args(),
        checked_at=now, created_at=now,
    )  # fmt: skip
    uow.session.add(search)
    await uow.session.flush()
    return search


async def delete_search(uow: UnitOfWork, viewer: Viewer, search_id: int) -> int:
    me = viewer.require_user()
    gone = await uow.session.execute(
        delete(JobPostingSearch)
        .where(JobPostingSearch.id == search_id, JobPostingSearch.user_id == me)
        .returning(JobPostingSearch.id)
    )
    if gone.first() is None:
        raise DomainError.of("NOT_FOUND", "No such saved search.", "id")
    return search_id


async def notify_matches(rt: Runtime) -> dict[str, int]:
    """Tell each saved search's owner of the live postings published since it was last
    checked that match it, as they see them (one notification per search, digest or
    e-mail as they prefer). A search is checked in the transaction that notifies."""
    dialect = rt.database.engine.dialect.name
    searches = notified = 0
    async with rt.database.connect() as conn:
        rows = (
            await conn.execute(
                select(JobPostingSearch.__table__).order_by(
                    JobPostingSearch.user_id, JobPostingSearch.id
                )
            )
        ).all()
    viewers: dict[int, Viewer | None] = {}
    for row in rows:
        searches += 1
        if row.user_id not in viewers:
            async with rt.database.connect() as conn:
                viewers[row.user_id] = await viewer_of(
                    conn, int(row.user_id), None, required=required_roles(rt.settings)
                )
        viewer = viewers[row.user_id]
        if viewer is None:
            continue
        found = match(viewer, row.query, PostingFilter.from_args(row.filter or {}), dialect)
        async with rt.transaction() as uow:
            current = await uow.session.get(JobPostingSearch, row.id, with_for_update=True)
            if current is None:
                continue
            now = datetime.now(UTC)
            news = (
                await uow.session.execute(
                    select(JobPosting.id, JobPosting.title)
                    .where(found.where, JobPosting.published_at > current.checked_at,
                           JobPosting.poster_id != row.user_id)
                    .order_by(JobPosting.published_at.desc(), JobPosting.id.desc())
                    .limit(MATCHES_PER_NOTICE + 1)
                )
            ).all()  # fmt: skip
            current.checked_at = now
            if news:
                shown = news[:MATCHES_PER_NOTICE]
                more = " and more" if len(news) > MATCHES_PER_NOTICE else ""
                body = "; ".join(str(n.title) for n in shown) + more
                notified += await notify_each(
                    uow, "job_match",
                    [Item(user_id=int(row.user_id),
                          title=f"New job postings for your search “{row.name}”", body=body,
                          subject_type="JobPosting", subject_id=int(shown[0].id))],
                )  # fmt: skip
    return {"searches": searches, "notified": notified}


def skills_of(posting_ids: Sequence[int]) -> Any:
    """The skills of these postings, by name, as (posting_id, id, name) rows."""
    return (
        select(JobPostingSkill.posting_id, Skill.id, Skill.name)
        .join(Skill, Skill.id == JobPostingSkill.skill_id)
        .where(JobPostingSkill.posting_id.in_(list(posting_ids)))
        .order_by(JobPostingSkill.posting_id, Skill.name)
    )
