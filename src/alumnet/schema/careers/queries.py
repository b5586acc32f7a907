"""Careers queries: the job search with facets, the moderation queue, employers, the
figures, the viewer's own lists (through `User`), and `applicationUpdated`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Sequence
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry
from sqlalchemy import func, literal, or_, select
from strawberry import relay

from alumnet.domain import money
from alumnet.domain.careers import applications, figures, postings, search
from alumnet.domain.errors import Problems
from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.models import Company as CompanyModel
from alumnet.persistence.models import JobApplication as ApplicationModel
from alumnet.persistence.models import JobPosting as PostingModel
from alumnet.persistence.models import JobPostingReport as ReportModel
from alumnet.persistence.models import JobPostingSearch as SearchModel
from alumnet.persistence.models import SavedJobPosting
from alumnet.schema.careers.types import (
    CareersFigures,
    Company,
    CompanyConnection,
    HiringCompany,
    JobApplication,
    JobPosting,
    JobPostingAudience,
    JobPostingConnection,
    JobPostingFacets,
    JobPostingKind,
    JobPostingRecommendation,
    JobPostingSearch,
    OpenJobPostingCount,
    RemoteMode,
    funnel_steps,
    listed,
    prefetch_skills,
    with_company,
)
from alumnet.schema.context import Info
from alumnet.schema.errors import bad_input
from alumnet.schema.nodes import global_pk
from alumnet.schema.pagination import (
    ORDER_DIRECTION_DESCRIPTION,
    KeysetQuery,
    SortDirection,
    SortKey,
    descending,
    selects,
)
from alumnet.schema.permissions import requires

ev = strawberry.enum_value


@strawberry.enum(description="What job postings can be sorted by.")
class JobPostingOrderField(Enum):
    RELEVANCE = ev(
        "relevance",
        description="How well they match `query` (natural: best first); without a query, by "
        "when they were published (best first meaning newest first).",
    )
    PUBLISHED_AT = ev("published_at", description="When it was published (natural: newest first).")
    CLOSES_ON = ev(
        "closes_on",
        description="The day applications close (natural: soonest first); open-ended ones "
        "count as closing last.",
    )


@strawberry.input(description="How job postings are sorted; ties are broken by id.")
class JobPostingOrder:
    field: JobPostingOrderField = strawberry.field(
        default=JobPostingOrderField.RELEVANCE, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


@strawberry.input(description="Narrow a job search; every filter given must match.")
class JobPostingFilter:
    kind: list[JobPostingKind] | None = strawberry.field(default=None, description="Any of these.")
    remote: list[RemoteMode] | None = strawberry.field(default=None, description="Any of these.")
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2.")
    skills: list[str] | None = strawberry.field(
        default=None, description="Asking for all of these skills (names, any case; 20 at most)."
    )
    audience: JobPostingAudience | None = strawberry.field(
        default=None, description="Open to this audience (postings for both included)."
    )
    company: str | None = strawberry.field(default=None, description="This employer (its name).")
    posted_since: date | None = strawberry.field(
        default=None, description="Published on or after this day (UTC)."
    )
    salary_from: Decimal | None = strawberry.field(
        default=None,
        description="Paying at least this much at the top of its range, in `currency` (which "
        "is then required); postings without a salary do not match.",
    )
    currency: str | None = strawberry.field(
        default=None, description="The currency of `salaryFrom` (ISO 4217)."
    )


def posting_filter(
    given: JobPostingFilter | None, problems: Problems | None = None
) -> search.PostingFilter:
    """The domain's filter; a bad one is a GraphQL error in a query (``problems``: collected,
    for a mutation that saves it)."""
    if given is None:
        return search.PostingFilter()
    collected = problems if problems is not None else Problems()
    currency = (given.currency or "").strip().upper() or None
    salary = None
    if given.salary_from is not None:
        # Without a currency the amount is read as one of two decimals, so that the answer
        # is the missing currency (REQUIRED) rather than a bad amount.
        salary = money.minor_units(given.salary_from, currency or "USD")
        if salary is None or not 0 <= salary <= postings.SALARY_MAX:
            collected.add("INVALID", "salaryFrom is not an amount in that currency.", "filter")
    found = search.PostingFilter(
        kinds=tuple(dict.fromkeys(str(k.value) for k in given.kind or ())),
        remote=tuple(dict.fromkeys(str(r.value) for r in given.remote or ())),
        country=given.country.strip().upper()[:2] if given.country else None,
        skills=tuple(s[:64] for s in given.skills or ()),
        audience=str(given.audience.value) if given.audience else None,
        company=given.company[:200] if given.company else None,
        posted_since=given.posted_since, salary_from=salary, currency=currency,
    )  # fmt: skip
    search.check_filter(collected, found)
    if problems is None and collected.items:
        raise bad_input(collected.items[0].message)
    return found


def _dialect(info: Info) -> str:
    return str(info.context.runtime.database.engine.dialect.name)


def _facets(rows: Sequence[Any]) -> list[Any]:
    from alumnet.schema.people.types import FacetValue

    return [FacetValue(value=str(r.value), count=int(r.n)) for r in rows]


@strawberry.type
class CareersQuery:
    @relay.connection(
        JobPostingConnection,
        description="Open job postings addressed to you: a text query (title, company, "
        "skills, description; at most 200 characters, punctuation only separates words) and "
        "filters.",
        max_results=1000,
    )
    def job_postings(
        self,
        info: Info,
        query: Annotated[str | None, strawberry.argument(description="Words to find.")] = None,
        filter: Annotated[
            JobPostingFilter | None, strawberry.argument(description="Narrow it.")
        ] = None,
        order_by: Annotated[
            JobPostingOrder | None,
            strawberry.argument(description="Sort order (by relevance unless said otherwise)."),
        ] = None,
    ) -> Iterable[JobPosting]:
        found = search.match(info.context.viewer, query, posting_filter(filter), _dialect(info))
        base = with_company(select(PostingModel.__table__).where(found.where))
        order = order_by or JobPostingOrder()
        if order.field == JobPostingOrderField.CLOSES_ON:
            down = descending(order.direction, SortDirection.ASC)
            closing = func.coalesce(PostingModel.closes_on, date(9999, 12, 31))
            base = base.add_columns(closing.label("closing_key"))
            sort = [SortKey(closing, down, attr="closing_key")]
        elif order.field == JobPostingOrderField.RELEVANCE and found.rank is not None:
            down = descending(order.direction, SortDirection.DESC)
            base = base.add_columns(found.rank.label("rank"))
            sort = [SortKey(found.rank, descending=down, attr="rank")]
        else:  # published, or relevance without a query
            down = descending(order.direction, SortDirection.DESC)
            sort = [SortKey(PostingModel.published_at, descending=down)]
        sort.append(SortKey(PostingModel.id, descending=down))
        skills = prefetch_skills if selects(info, "edges", "node", "skills") else None
        return KeysetQuery(base, sort, JobPosting.from_row, info.context.reads, prefetch=skills)

    @strawberry.field(description="Facet counts for the same query and filter as `jobPostings`.")
    async def job_posting_facets(
        self,
        info: Info,
        query: Annotated[str | None, strawberry.argument(description="Words to find.")] = None,
        filter: Annotated[
            JobPostingFilter | None, strawberry.argument(description="Narrow it.")
        ] = None,
    ) -> JobPostingFacets:
        found = search.match(info.context.viewer, query, posting_filter(filter), _dialect(info))
        counts: dict[str, list[Any]] = {}
        async with info.context.reads.connect() as conn:
            for key, statement in search.facet_queries(found).items():
                counts[key] = _facets((await conn.execute(statement)).all())
        return JobPostingFacets(**counts)

    @relay.connection(
        JobPostingConnection,
        description="Postings for moderators to look at: waiting for approval, or reported "
        "and not yet decided since; oldest first (empty for anyone else).",
        max_results=1000,
    )
    def job_postings_to_review(self, info: Info) -> Iterable[JobPosting]:
        reported = select(ReportModel.posting_id).where(ReportModel.resolved_at.is_(None))
        query = select(PostingModel.__table__).where(
            or_(
                PostingModel.status == "pending",
                (PostingModel.status == "live") & PostingModel.id.in_(reported),
            )
        )
        if not info.context.viewer.can(Permission.CAREERS_MODERATE):
            query = query.where(literal(False))
        sort = [SortKey(PostingModel.updated_at), SortKey(PostingModel.id)]
        return KeysetQuery(query, sort, JobPosting.from_row, info.context.reads)

    @relay.connection(
        CompanyConnection,
        description="Employers (of postings), by name; `query` matches part of the name.",
        max_results=1000,
    )
    def companies(
        self,
        info: Info,
        query: Annotated[str | None, strawberry.argument(description="Part of a name.")] = None,
    ) -> Iterable[Company]:
        base = select(CompanyModel.__table__)
        if not info.context.viewer.is_authenticated:
            base = base.where(literal(False))
        if (shown := listed(info)) is not None:
            base = base.where(shown)
        text = " ".join((query or "").split()).lower()[:200]
        if text:
            base = base.where(CompanyModel.name_key.contains(text, autoescape=True))
        sort = [SortKey(CompanyModel.name_key, attr="name_key"), SortKey(CompanyModel.id)]
        return KeysetQuery(base, sort, Company.from_row, info.context.reads)

    @strawberry.field(
        description="The careers board in figures (holders of `careers:moderate`).",
        extensions=requires(Permission.CAREERS_MODERATE),
    )
    async def careers_figures(self, info: Info) -> CareersFigures:
        async with info.context.reads.connect() as conn:
            found = await figures.overall(conn)
            ids = [c[0] for c in found.top_companies]
            rows = (
                await conn.execute(select(CompanyModel.__table__).where(CompanyModel.id.in_(ids)))
            ).all()
        companies = {r.id: Company.from_row(r) for r in rows}
        return CareersFigures(
            open_job_postings=[
                OpenJobPostingCount(audience=JobPostingAudience(c.key[0]),
                                    kind=JobPostingKind(c.key[1]), count=c.count)
                for c in found.open_by_audience_and_kind
            ],
            funnel=funnel_steps(found.reached, found.current),
            applications=found.applications, responded=found.responded,
            average_hours_to_first_response=found.average_hours_to_first_response,
            median_hours_to_first_response=found.median_hours_to_first_response,
            top_hiring_companies=[
                HiringCompany(company=companies[i], open_job_postings=p, applications=a)
                for i, _, p, a in found.top_companies if i in companies
            ],
        )  # fmt: skip


@strawberry.type
class CareersSubscription:
    @strawberry.subscription(
        description="Your applications as they change (as the applicant), and the "
        "applications to your postings (as the poster): each one when it is made, moved or "
        "withdrawn. Ends at once for an anonymous connection."
    )
    async def application_updated(
        self,
        info: Info,
        job_posting_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only this posting's.")
        ] = None,
    ) -> AsyncGenerator[JobApplication, None]:
        me = info.context.viewer.user_id
        if me is None:
            return
        only = global_pk(job_posting_id, "JobPosting") if job_posting_id is not None else None
        if job_posting_id is not None and only is None:
            return
        async with info.context.runtime.bus.subscription(applications.channel(me)) as events:
            async for event in events:
                if not await info.context.still_signed_in():
                    return
                info.context.reset_loaders()
                [found] = await JobApplication.resolve_nodes(info=info, node_ids=[str(event["id"])])
                if found is not None and (only is None or found._row.posting_id == only):
                    yield found


# The viewer's own lists, served as fields of `User` (empty for anyone but the user).


def saved_postings(info: Info, user_id: int) -> KeysetQuery[JobPosting]:
    mine = info.context.viewer.user_id == user_id
    query = select(PostingModel.__table__, SavedJobPosting.saved_at, SavedJobPosting.user_id).join(
        SavedJobPosting, SavedJobPosting.posting_id == PostingModel.id
    )
    condition = postings.readable(info.context.viewer)
    if condition is not None:
        query = query.where(condition)
    if not mine:
        query = query.where(PostingModel.id.is_(None))
    sort = [
        SortKey(SavedJobPosting.saved_at, descending=True),
        SortKey(PostingModel.id, descending=True),
    ]
    return KeysetQuery(
        query, sort, JobPosting.from_row, info.context.reads,
        partition=(SavedJobPosting.user_id, user_id), batch_key=("User.savedJobPostings", mine),
    )  # fmt: skip


def own_postings(info: Info, user_id: int) -> KeysetQuery[JobPosting]:
    viewer = info.context.viewer
    mine = viewer.user_id == user_id or viewer.can(Permission.CAREERS_MODERATE)
    query = select(PostingModel.__table__)
    if not mine:
        query = query.where(PostingModel.id.is_(None))
    sort = [
        SortKey(PostingModel.created_at, descending=True),
        SortKey(PostingModel.id, descending=True),
    ]
    return KeysetQuery(
        query, sort, JobPosting.from_row, info.context.reads,
        partition=(PostingModel.poster_id, user_id), batch_key=("User.jobPostings", mine),
    )  # fmt: skip


def own_applications(info: Info, user_id: int) -> KeysetQuery[JobApplication]:
    mine = info.context.viewer.user_id == user_id
    query = select(ApplicationModel.__table__)
    if not mine:
        query = query.where(ApplicationModel.id.is_(None))
    sort = [
        SortKey(ApplicationModel.created_at, descending=True),
        SortKey(ApplicationModel.id, descending=True),
    ]
    return KeysetQuery(
        query, sort, JobApplication.from_row, info.context.reads,
        partition=(ApplicationModel.applicant_id, user_id),
        batch_key=("User.jobApplications", mine),
    )  # fmt: skip


async def own_searches(info: Info, user_id: int) -> list[JobPostingSearch]:
    if info.context.viewer.user_id != user_id:
        return []
    query = (
        select(SearchModel.__table__)
        .where(SearchModel.user_id == user_id)
        .order_by(SearchModel.created_at, SearchModel.id)
        .limit(search.SEARCHES_MAX)
    )
    async with info.context.reads.connect() as conn:
        return [JobPostingSearch.from_row(r) for r in (await conn.execute(query)).all()]


async def recommendations(info: Info, user_id: int, first: int) -> list[JobPostingRecommendation]:
    if info.context.viewer.user_id != user_id:
        return []
    if not 0 < first <= 100:
        raise bad_input("first must be between 1 and 100.")
    found = await search.recommend(info.context.reads, info.context.viewer, first)
    return [
        JobPostingRecommendation(
            job_posting=JobPosting.from_row(r.posting),
            score=r.score,
            matched_skills=r.matched_skills,
            why=r.why,
        )
        for r in found
    ]
