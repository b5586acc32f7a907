"""Careers types: employers, job postings, applications and their history, referrals,
saved searches, recommendations, facets and figures."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import func, select
from strawberry import relay
from strawberry.scalars import JSON

from alumnet.domain import money
from alumnet.domain.careers import applications, figures, postings, search
from alumnet.domain.data import files
from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.loaders.common import by_id, grouped
from alumnet.persistence.models import Company as CompanyModel
from alumnet.persistence.models import JobApplication as ApplicationModel
from alumnet.persistence.models import JobApplicationEvent as EventModel
from alumnet.persistence.models import JobPosting as PostingModel
from alumnet.persistence.models import JobPostingReport as ReportModel
from alumnet.persistence.models import JobPostingSearch as SearchModel
from alumnet.persistence.models import JobReferral as ReferralModel
from alumnet.persistence.models import SavedJobPosting, User
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID
from alumnet.schema.nodes import int_ids, readable_rows
from alumnet.schema.pagination import (
    CountedConnection,
    KeysetQuery,
    SortKey,
    reads_loader,
)

if TYPE_CHECKING:
    from alumnet.schema.people.types import FacetValue, Profile

ev = strawberry.enum_value
PEOPLE = "alumnet.schema.people.types"


@strawberry.enum(description="What kind of work a posting offers.")
class JobPostingKind(Enum):
    FULL_TIME = ev("full_time", description="A full-time job.")
    PART_TIME = ev("part_time", description="A part-time job.")
    INTERNSHIP = ev("internship", description="An internship.")
    CONTRACT = ev("contract", description="A fixed-term contract or freelance work.")


@strawberry.enum(description="Where the work is done.")
class RemoteMode(Enum):
    ON_SITE = ev("on_site", description="At the employer's place.")
    HYBRID = ev("hybrid", description="Partly on site, partly remote.")
    REMOTE = ev("remote", description="From anywhere the employer allows.")


@strawberry.enum(description="Who a posting is for.")
class JobPostingAudience(Enum):
    STUDENTS = ev("students", description="Students only.")
    ALUMNI = ev("alumni", description="Alumni only.")
    BOTH = ev("both", description="Students and alumni.")


@strawberry.enum(description="Where a posting is in its life.")
class JobPostingStatus(Enum):
    PENDING = ev("pending", description="Waiting for a moderator's approval.")
    LIVE = ev("live", description="Approved and open to its audience.")
    REJECTED = ev("rejected", description="Rejected by a moderator (see `moderationNote`).")
    CLOSED = ev("closed", description="Closed by its poster, or past its closing date.")


@strawberry.enum(description="Where an application is in the hiring workflow.")
class JobApplicationStatus(Enum):
    APPLIED = ev("applied", description="Received; nobody has acted on it yet.")
    SCREENING = ev("screening", description="Being screened.")
    INTERVIEW = ev("interview", description="Invited to interview.")
    OFFER = ev("offer", description="Offered the job.")
    HIRED = ev("hired", description="Hired (final).")
    REJECTED = ev("rejected", description="Not taken further (final).")
    WITHDRAWN = ev("withdrawn", description="Withdrawn by the applicant (final).")
    ON_HOLD = ev("on_hold", description="Paused; it can move on again.")


@strawberry.type(description="An employer: postings name it, and alumni work there.")
class Company(relay.Node):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="Its name.")
    website: str | None = strawberry.field(description="Its website (https).")
    logo_url: str | None = strawberry.field(description="Its logo (https).")
    industry: str | None = strawberry.field(description="Its industry, as staff recorded it.")
    _key: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(id=row.id, name=row.name, website=row.website, logo_url=row.logo_url,
                   industry=row.industry, _key=row.name_key)  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        found = await readable_rows(info, CompanyModel.__table__, ids, listed(info))
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="How many of its postings are open to you now.")
    async def open_job_postings(self, info: Info) -> int:
        return int(
            await reads_loader(info, ("careers", "company_open"), _open_counts(info)).load(self.id)
        )

    @strawberry.field(
        description="How many alumni work there now (their profile's company or a current job "
        "in their history), counting only those whose work you may see."
    )
    async def alumni_count(self, info: Info) -> int:
        people = await reads_loader(info, ("careers", "company_alumni"), _alumni(info)).load(
            self._key
        )
        return len(people)

    @strawberry.field(
        description="Alumni who work there now, as the directory shows them (whose work you "
        "may see), by name; at most `first` (100 at most)."
    )
    async def alumni(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="How many (1 to 100).")] = 20,
    ) -> list[Annotated[Profile, strawberry.lazy(PEOPLE)] | None]:
        from alumnet.schema.people.types import Profile as ProfileNode

        people = await reads_loader(info, ("careers", "company_alumni"), _alumni(info)).load(
            self._key
        )
        ids = [str(i) for _, i in sorted(people)[: max(0, min(first, 100))]]
        return await ProfileNode.resolve_nodes(info=info, node_ids=ids)  # type: ignore[return-value]


def listed(info: Info) -> Any:
    """Employers everyone may see: those of an approved posting (live or closed since);
    moderators see every one, the names of postings waiting for them too."""
    if info.context.viewer.can(Permission.CAREERS_MODERATE):
        return None
    shown = select(PostingModel.company_id).where(PostingModel.status.in_(("live", "closed")))
    return CompanyModel.id.in_(shown)


def _open_counts(info: Info) -> Any:
    viewer = info.context.viewer

    async def load(reads: Any, ids: Sequence[int]) -> list[int]:
        where = [postings.open_now(postings.today()), PostingModel.company_id.in_(list(ids))]
        condition = postings.readable(viewer)
        if condition is not None:
            where.append(condition)
        query = (
            select(PostingModel.company_id, func.count())
            .where(*where)
            .group_by(PostingModel.company_id)
        )
        async with reads.connect() as conn:
            found = {int(c): int(n) for c, n in (await conn.execute(query)).all()}
        return [found.get(i, 0) for i in ids]

    return load


def _alumni(info: Info) -> Any:
    viewer = info.context.viewer

    async def load(reads: Any, keys: Sequence[str]) -> list[list[tuple[str, int]]]:
        people = figures.employees(viewer, keys).subquery()
        query = (
            select(people.c.key, people.c.user_id, User.name)
            .join(User, User.id == people.c.user_id)
            .distinct()
        )
        found: dict[str, list[tuple[str, int]]] = {k: [] for k in keys}
        async with reads.connect() as conn:
            for key, user_id, name in (await conn.execute(query)).all():
                found.setdefault(str(key), []).append((str(name), int(user_id)))
        return [found.get(k, []) for k in keys]

    return load


@strawberry.type(description="Employers, a page at a time.")
class CompanyConnection(CountedConnection[Company]):
    pass


@strawberry.type(
    description="A report of a posting, for moderators (who reported it is not shown)."
)
class JobPostingReport:
    reason: str = strawberry.field(description="Why it was reported.")
    reported_at: datetime = strawberry.field(description="When (UTC).")
    resolved: bool = strawberry.field(description="Whether a moderator has decided since.")


@strawberry.type(description="How many applications reached one step of the workflow.")
class JobApplicationFunnelStep:
    status: JobApplicationStatus = strawberry.field(description="The step.")
    reached: int = strawberry.field(description="Applications that ever reached it.")
    now: int = strawberry.field(description="Applications at it now.")


def funnel_steps(reached: dict[str, int], now: dict[str, int]) -> list[JobApplicationFunnelStep]:
    return [
        JobApplicationFunnelStep(
            status=JobApplicationStatus(s), reached=reached.get(s, 0), now=now.get(s, 0)
        )
        for s in applications.STATUSES
    ]


@strawberry.type(
    description="A job or internship. Live postings are open to their audience; the poster "
    "and moderators also see it pending, rejected or closed."
)
class JobPosting(relay.Node):
    id: relay.NodeID[int]
    title: str = strawberry.field(description="The job's title.")
    description_markdown: str = strawberry.field(description="The description as written.")
    description_html: str = strawberry.field(
        description="The description rendered to HTML, safe to insert (raw HTML escaped)."
    )
    kind: JobPostingKind = strawberry.field(description="Full-time, part-time, internship…")
    city: str | None = strawberry.field(description="Where (city).")
    country: str | None = strawberry.field(description="Where (ISO 3166-1 alpha-2).")
    remote: RemoteMode = strawberry.field(description="On site, hybrid or remote.")
    currency: str | None = strawberry.field(description="The salary's currency (ISO 4217).")
    salary_from: Decimal | None = strawberry.field(
        description="Lowest salary offered, in `currency` (exact, major units); null if not said."
    )
    salary_to: Decimal | None = strawberry.field(
        description="Highest salary offered, in `currency`; null if not said."
    )
    audience: JobPostingAudience = strawberry.field(description="Who it is for.")
    apply_url: str | None = strawberry.field(
        description="Where to apply, on the employer's site (https); null: apply in alumnet "
        "with `jobApplicationCreate`."
    )
    closes_on: date | None = strawberry.field(
        description="The last day to apply (the posting closes the night after); null if open."
    )
    status: JobPostingStatus = strawberry.field(description="Where it is in its life.")
    posted_at: datetime = strawberry.field(description="When it was posted (UTC).")
    published_at: datetime | None = strawberry.field(description="When it went live (UTC).")
    closed_at: datetime | None = strawberry.field(description="When it closed (UTC).")
    updated_at: datetime = strawberry.field(description="Last changed (UTC).")
    _row: strawberry.Private[Any]
    # Filled with the page where the list's query joins them (``with_company``, prefetch).
    _company: strawberry.Private[Company | None] = None
    _skills: strawberry.Private[list[str] | None] = None

    @classmethod
    def from_row(cls, row: Any) -> Self:
        company = None
        if hasattr(row, "company_name"):
            company = Company(
                id=row.company_id, name=row.company_name, website=row.company_website,
                logo_url=row.company_logo_url, industry=row.company_industry,
                _key=row.company_key,
            )  # fmt: skip
        return cls(
            _company=company,
            id=row.id, title=row.title, description_markdown=row.description_markdown,
            description_html=row.description_html, kind=JobPostingKind(row.kind),
            city=row.city, country=row.country, remote=RemoteMode(row.remote),
            currency=row.currency,
            salary_from=money.major_units(row.salary_min, row.currency),
            salary_to=money.major_units(row.salary_max, row.currency),
            audience=JobPostingAudience(row.audience), apply_url=row.apply_url,
            closes_on=row.closes_on, status=JobPostingStatus(row.status),
            posted_at=row.created_at, published_at=row.published_at, closed_at=row.closed_at,
            updated_at=row.updated_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        condition = postings.readable(info.context.viewer)
        found = await readable_rows(info, PostingModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    def _manages(self, info: Info) -> bool:
        return postings.may_manage(info.context.viewer, self._row)

    @strawberry.field(description="The employer.")
    def company(self, info: Info) -> Company:
        if self._company is not None:
            return self._company
        loader = reads_loader(info, ("careers", "company"), _company_nodes)
        return loader.load(self._row.company_id)  # type: ignore[return-value]

    @strawberry.field(description="The skills it asks for (the profiles' vocabulary), by name.")
    def skills(self, info: Info) -> list[str]:
        if self._skills is not None:
            return self._skills
        return reads_loader(info, ("careers", "skills"), _skills).load(self.id)  # type: ignore[return-value]

    @strawberry.field(description="The poster's name.")
    async def poster_name(self, info: Info) -> str:
        row = await info.context.loaders.user_by_id.load(self._row.poster_id)
        return str(row.name) if row is not None else ""

    @strawberry.field(description="The poster's profile, as the directory shows it to you.")
    async def poster(self, info: Info) -> Annotated[Profile, strawberry.lazy(PEOPLE)] | None:
        from alumnet.schema.people.types import Profile as ProfileNode

        [found] = await ProfileNode.resolve_nodes(info=info, node_ids=[str(self._row.poster_id)])
        return found

    @strawberry.field(
        description="A moderator's reason for rejecting it (the poster and moderators)."
    )
    def moderation_note(self, info: Info) -> str | None:
        return self._row.moderation_note if self._manages(info) else None

    @strawberry.field(description="Whether you saved it.")
    async def saved(self, info: Info) -> bool:
        return bool(await reads_loader(info, ("careers", "saved"), _saved(info)).load(self.id))

    @strawberry.field(description="Your application to it, if you applied.")
    async def viewer_application(self, info: Info) -> JobApplication | None:
        row = await reads_loader(info, ("careers", "mine"), _my_applications(info)).load(self.id)
        return JobApplication.from_row(row) if row is not None else None

    @relay.connection(
        Annotated["JobApplicationConnection", strawberry.lazy("alumnet.schema.careers.types")],
        description="Its applications (the poster and moderators; empty for anyone else): "
        "referred applicants first, then newest first.",
        max_results=1000,
    )
    def applications(
        self,
        info: Info,
        status: Annotated[
            list[JobApplicationStatus] | None,
            strawberry.argument(description="Only at these steps."),
        ] = None,
    ) -> Iterable[JobApplication]:
        manages = self._manages(info)
        query = select(ApplicationModel.__table__)
        if not manages:
            query = query.where(ApplicationModel.id.is_(None))
        chosen = tuple(sorted({str(s.value) for s in status or ()}))
        if chosen:
            query = query.where(ApplicationModel.status.in_(chosen))
        referred = (ApplicationModel.referral_id.is_not(None)).label("referred")
        query = query.add_columns(referred)
        sort = [
            SortKey(ApplicationModel.referral_id.is_not(None), descending=True, attr="referred"),
            SortKey(ApplicationModel.created_at, descending=True),
            SortKey(ApplicationModel.id, descending=True),
        ]
        return KeysetQuery(
            query, sort, JobApplication.from_row, info.context.reads,
            partition=(ApplicationModel.posting_id, self.id),
            batch_key=("JobPosting.applications", manages, chosen),
        )  # fmt: skip

    @strawberry.field(
        description="The applications funnel: how many reached each step and are at it now "
        "(the poster and moderators; null for anyone else)."
    )
    async def funnel(self, info: Info) -> list[JobApplicationFunnelStep] | None:
        if not self._manages(info):
            return None
        reached, now = await reads_loader(info, ("careers", "funnel"), _funnels).load(self.id)
        return funnel_steps(reached, now)

    @strawberry.field(description="Its newest 100 reports (moderators; empty for anyone else).")
    async def reports(self, info: Info) -> list[JobPostingReport]:
        if not info.context.viewer.can(Permission.CAREERS_MODERATE):
            return []
        rows = await reads_loader(info, ("careers", "reports"), _reports).load(self.id)
        return [
            JobPostingReport(
                reason=r.reason, reported_at=r.created_at, resolved=r.resolved_at is not None
            )
            for r in rows[:100]
        ]


async def _company_nodes(reads: Any, ids: Sequence[int]) -> list[Company | None]:
    rows = await by_id(reads, [CompanyModel.__table__], CompanyModel.id, ids)
    return [Company.from_row(r) if r is not None else None for r in rows]


def with_company(query: Any) -> Any:
    """A postings query with each posting's employer joined (``JobPosting.company``)."""
    C = CompanyModel
    return query.join(C, C.id == PostingModel.company_id).add_columns(
        C.name.label("company_name"), C.website.label("company_website"),
        C.logo_url.label("company_logo_url"), C.industry.label("company_industry"),
        C.name_key.label("company_key"),
    )  # fmt: skip


async def prefetch_skills(info: Info, nodes: list[JobPosting]) -> None:
    """Every posting's skills on the page, in one await."""
    loader = reads_loader(info, ("careers", "skills"), _skills)
    found = await loader.load_many([n.id for n in nodes])
    for node, skills in zip(nodes, found, strict=True):
        node._skills = skills


async def _skills(reads: Any, ids: Sequence[int]) -> list[list[str]]:
    rows = await grouped(reads, search.skills_of(ids), "posting_id", ids)
    return [[str(r.name) for r in group] for group in rows]


def _saved(info: Info) -> Any:
    me = info.context.viewer.user_id or -1

    async def load(reads: Any, ids: Sequence[int]) -> list[bool]:
        query = select(SavedJobPosting.posting_id).where(
            SavedJobPosting.user_id == me, SavedJobPosting.posting_id.in_(list(ids))
        )
        async with reads.connect() as conn:
            found = set((await conn.execute(query)).scalars())
        return [i in found for i in ids]

    return load


def _my_applications(info: Info) -> Any:
    me = info.context.viewer.user_id or -1

    async def load(reads: Any, ids: Sequence[int]) -> list[Any]:
        query = select(ApplicationModel.__table__).where(
            ApplicationModel.applicant_id == me, ApplicationModel.posting_id.in_(list(ids))
        )
        async with reads.connect() as conn:
            found = {r.posting_id: r for r in (await conn.execute(query)).all()}
        return [found.get(i) for i in ids]

    return load


async def _funnels(reads: Any, ids: Sequence[int]) -> list[tuple[dict[str, int], dict[str, int]]]:
    async with reads.connect() as conn:
        found = await figures.funnels(conn, ids)
    return [found.get(i, ({}, {})) for i in ids]


async def _reports(reads: Any, ids: Sequence[int]) -> list[list[Any]]:
    query = (
        select(ReportModel.__table__)
        .where(ReportModel.posting_id.in_(list(ids)))
        .order_by(ReportModel.created_at.desc())
    )
    return await grouped(reads, query, "posting_id", ids)


@strawberry.type(description="Job postings, a page at a time.")
class JobPostingConnection(CountedConnection[JobPosting]):
    pass


@strawberry.type(description="Someone's referral of an applicant to a posting.")
class JobReferral(relay.Node):
    id: relay.NodeID[int]
    note: str | None = strawberry.field(description="What the referrer wrote.")
    created_at: datetime = strawberry.field(description="When (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(id=row.id, note=row.note, created_at=row.created_at, _row=row)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        """The referrer, the person referred, the posting's poster and moderators."""
        ids = int_ids(node_ids)
        viewer = info.context.viewer
        condition = None
        if not viewer.can(Permission.CAREERS_MODERATE):
            me = viewer.user_id or -1
            condition = (
                (ReferralModel.referrer_id == me)
                | (ReferralModel.referred_id == me)
                | ReferralModel.posting_id.in_(
                    select(PostingModel.id).where(PostingModel.poster_id == me)
                )
            )
        found = await readable_rows(info, ReferralModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Who referred.")
    async def referrer_name(self, info: Info) -> str:
        row = await info.context.loaders.user_by_id.load(self._row.referrer_id)
        return str(row.name) if row is not None else ""

    @strawberry.field(description="The referrer's profile, as the directory shows it to you.")
    async def referrer(self, info: Info) -> Annotated[Profile, strawberry.lazy(PEOPLE)] | None:
        from alumnet.schema.people.types import Profile as ProfileNode

        [found] = await ProfileNode.resolve_nodes(info=info, node_ids=[str(self._row.referrer_id)])
        return found

    @strawberry.field(description="The posting (if you may see it).")
    async def job_posting(self, info: Info) -> JobPosting | None:
        loader = reads_loader(info, ("careers", "readable_posting"), _readable_postings(info))
        row = await loader.load(self._row.posting_id)
        return JobPosting.from_row(row) if row is not None else None


@strawberry.type(description="One move of an application's status.")
class JobApplicationEvent:
    from_status: JobApplicationStatus | None = strawberry.field(
        description="The status before; null for the application itself."
    )
    to_status: JobApplicationStatus = strawberry.field(description="The status after.")
    note: str | None = strawberry.field(description="A note to the applicant with the move.")
    at: datetime = strawberry.field(description="When (UTC).")
    by_applicant: bool = strawberry.field(description="Whether the applicant made this move.")


@strawberry.type(
    description="An application to a posting. Seen by the applicant, the posting's poster and "
    "moderators; the poster sees the applicant's profile as its privacy allows."
)
class JobApplication(relay.Node):
    id: relay.NodeID[int]
    status: JobApplicationStatus = strawberry.field(description="Where it is in the workflow.")
    cover_note: str | None = strawberry.field(description="The applicant's cover note.")
    cv_link: str | None = strawberry.field(
        description="The CV link from the applicant's profile, as it was when they applied."
    )
    created_at: datetime = strawberry.field(description="When they applied (UTC).")
    updated_at: datetime = strawberry.field(description="Last moved (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, status=JobApplicationStatus(row.status), cover_note=row.cover_note,
            cv_link=row.cv_url, created_at=row.created_at, updated_at=row.updated_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        condition = applications.readable(info.context.viewer)
        found = await readable_rows(info, ApplicationModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="The posting.")
    async def job_posting(self, info: Info) -> JobPosting | None:
        row = await reads_loader(info, ("careers", "posting"), _postings).load(self._row.posting_id)
        return JobPosting.from_row(row) if row is not None else None

    @strawberry.field(description="The applicant's name.")
    async def applicant_name(self, info: Info) -> str:
        row = await info.context.loaders.user_by_id.load(self._row.applicant_id)
        return str(row.name) if row is not None else ""

    @strawberry.field(
        description="The applicant's profile, as the directory shows it to you (each group of "
        "fields only where their privacy lets you see it)."
    )
    async def applicant(self, info: Info) -> Annotated[Profile, strawberry.lazy(PEOPLE)] | None:
        from alumnet.schema.people.types import Profile as ProfileNode

        [found] = await ProfileNode.resolve_nodes(info=info, node_ids=[str(self._row.applicant_id)])
        return found

    @strawberry.field(
        description="A link to download the CV file sent with it, valid for 15 minutes; null "
        "if none was sent."
    )
    def cv_download_url(self, info: Info) -> str | None:
        if self._row.cv_file_id is None:
            return None
        viewer = info.context.viewer
        return files.download_url(
            info.context.runtime.settings, viewer.user_id or 0, self._row.cv_file_id,
            shared=viewer.user_id != self._row.applicant_id,
        )  # fmt: skip

    @strawberry.field(description="The referral it came with, if any.")
    async def referral(self, info: Info) -> JobReferral | None:
        if self._row.referral_id is None:
            return None
        row = await reads_loader(info, ("careers", "referral"), _referrals).load(
            self._row.referral_id
        )
        return JobReferral.from_row(row) if row is not None else None

    @strawberry.field(description="The moves of its status, oldest first (the first 100).")
    async def history(self, info: Info) -> list[JobApplicationEvent]:
        rows = await reads_loader(info, ("careers", "history"), _history).load(self.id)
        applicant = self._row.applicant_id
        return [
            JobApplicationEvent(
                from_status=JobApplicationStatus(r.from_status) if r.from_status else None,
                to_status=JobApplicationStatus(r.to_status),
                note=r.note,
                at=r.created_at,
                by_applicant=r.actor_id == applicant,
            )
            for r in rows[:100]
        ]


def _readable_postings(info: Info) -> Any:
    condition = postings.readable(info.context.viewer)

    async def load(reads: Any, ids: Sequence[int]) -> list[Any]:
        query = select(PostingModel.__table__).where(PostingModel.id.in_(list(ids)))
        if condition is not None:
            query = query.where(condition)
        async with reads.connect() as conn:
            found = {r.id: r for r in (await conn.execute(query)).all()}
        return [found.get(i) for i in ids]

    return load


async def _postings(reads: Any, ids: Sequence[int]) -> list[Any]:
    return await by_id(reads, [PostingModel.__table__], PostingModel.id, ids)


async def _referrals(reads: Any, ids: Sequence[int]) -> list[Any]:
    return await by_id(reads, [ReferralModel.__table__], ReferralModel.id, ids)


async def _history(reads: Any, ids: Sequence[int]) -> list[list[Any]]:
    query = (
        select(EventModel.__table__)
        .where(EventModel.application_id.in_(list(ids)))
        .order_by(EventModel.created_at, EventModel.id)
    )
    return await grouped(reads, query, "application_id", ids)


@strawberry.type(description="Applications, a page at a time.")
class JobApplicationConnection(CountedConnection[JobApplication]):
    pass


@strawberry.type(description="A search you saved; you are told of new postings that match it.")
class JobPostingSearch(relay.Node):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="Your name for it.")
    query: str | None = strawberry.field(description="Its words, as `jobPostings(query:)`.")
    created_at: datetime = strawberry.field(description="When you saved it (UTC).")
    checked_at: datetime = strawberry.field(
        description="Postings published after this were not yet looked for (UTC)."
    )
    _filter: strawberry.Private[dict[str, Any]]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(id=row.id, name=row.name, query=row.query, created_at=row.created_at,
                   checked_at=row.checked_at, _filter=dict(row.filter or {}))  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        mine = SearchModel.user_id == (info.context.viewer.user_id or -1)
        found = await readable_rows(info, SearchModel.__table__, ids, mine)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Its filter, as `jobPostings(filter:)` takes it (JSON).")
    def filter(self) -> JSON:
        return filter_json(self._filter)  # type: ignore[return-value]


def filter_json(args: dict[str, Any]) -> dict[str, Any]:
    """A saved filter (the domain's) in the shape of `JobPostingFilter`; empty parts left
    out."""
    given = search.PostingFilter.from_args(args)
    salary = money.major_units(given.salary_from, given.currency)
    shown: dict[str, Any] = {
        "kind": [k.upper() for k in given.kinds], "remote": [r.upper() for r in given.remote],
        "country": given.country, "skills": list(given.skills),
        "audience": given.audience.upper() if given.audience else None,
        "company": given.company,
        "postedSince": given.posted_since.isoformat() if given.posted_since else None,
        "salaryFrom": str(salary) if salary is not None else None,
        "currency": given.currency if salary is not None else None,
    }  # fmt: skip
    return {k: v for k, v in shown.items() if v not in (None, [])}


@strawberry.type(description="A posting recommended to you, with why.")
class JobPostingRecommendation:
    job_posting: JobPosting = strawberry.field(description="The posting.")
    score: float = strawberry.field(
        description="How well it fits (higher is better): 3 per shared skill, 2 for your "
        "country, 1 for your city, 1 for the remote mode you prefer (½ for the next best; "
        "without a preference, remote work located elsewhere), 1 when it is meant for people "
        "like you, 1 for a poster from your programme, up to 2 for recency."
    )
    matched_skills: list[str] = strawberry.field(description="Your skills it asks for.")
    why: str = strawberry.field(description="One line saying why, for people to read.")


@strawberry.type(description="Counts for a filter sidebar, over what a job search matches.")
class JobPostingFacets:
    kinds: list[Annotated[FacetValue, strawberry.lazy(PEOPLE)]] = strawberry.field(
        description="By kind (`full_time`…), most common first."
    )
    remote: list[Annotated[FacetValue, strawberry.lazy(PEOPLE)]] = strawberry.field(
        description="By remote mode (`on_site`, `hybrid`, `remote`)."
    )
    countries: list[Annotated[FacetValue, strawberry.lazy(PEOPLE)]] = strawberry.field(
        description="By country code, most common first."
    )
    audiences: list[Annotated[FacetValue, strawberry.lazy(PEOPLE)]] = strawberry.field(
        description="By audience (`students`, `alumni`, `both`)."
    )
    companies: list[Annotated[FacetValue, strawberry.lazy(PEOPLE)]] = strawberry.field(
        description="By employer, most postings first (30 at most)."
    )
    skills: list[Annotated[FacetValue, strawberry.lazy(PEOPLE)]] = strawberry.field(
        description="By skill asked for, most common first (30 at most)."
    )


@strawberry.type(description="Open postings of one audience and kind.")
class OpenJobPostingCount:
    audience: JobPostingAudience = strawberry.field(description="The audience.")
    kind: JobPostingKind = strawberry.field(description="The kind.")
    count: int = strawberry.field(description="How many are open now.")


@strawberry.type(description="An employer and how much it is hiring.")
class HiringCompany:
    company: Company = strawberry.field(description="The employer.")
    open_job_postings: int = strawberry.field(description="Its postings open now.")
    applications: int = strawberry.field(description="Applications to those postings.")


@strawberry.type(description="The careers board in figures (moderators), computed in SQL.")
class CareersFigures:
    open_job_postings: list[OpenJobPostingCount] = strawberry.field(
        description="Open postings by audience and kind."
    )
    funnel: list[JobApplicationFunnelStep] = strawberry.field(
        description="Every application: how many reached each step, and are at it now."
    )
    applications: int = strawberry.field(description="Applications in all.")
    responded: int = strawberry.field(
        description="Applications the poster (or a moderator) has acted on at least once."
    )
    average_hours_to_first_response: float | None = strawberry.field(
        description="Average hours from applying to the first move by the other side."
    )
    median_hours_to_first_response: float | None = strawberry.field(
        description="Median of the same."
    )
    top_hiring_companies: list[HiringCompany] = strawberry.field(
        description="The ten employers with the most open postings."
    )


@strawberry.enum(description="Why a job posting mutation failed.")
class JobPostingErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such posting, user, company or saved search.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    TOO_MANY = ev("TOO_MANY", description="Too many skills, saved searches or referrals.")
    DATE_IN_PAST = ev("DATE_IN_PAST", description="The closing date has passed.")
    SALARY_RANGE = ev("SALARY_RANGE", description="The lowest salary is above the highest.")
    INVALID_URL = ev("INVALID_URL", description="A link is not an https:// address with a host.")
    UNKNOWN_SKILL = ev(
        "UNKNOWN_SKILL", description="A skill is not in the vocabulary; the message suggests one."
    )
    CLOSED = ev("CLOSED", description="The posting is closed.")
    NOT_OPEN = ev("NOT_OPEN", description="The posting is not open for applications.")
    NOT_IN_AUDIENCE = ev("NOT_IN_AUDIENCE", description="The posting is not addressed to them.")
    NOT_ALLOWED = ev("NOT_ALLOWED", description="You may not do this.")
    TAKEN = ev("TAKEN", description="Another company has this name.")
    CONFLICT = ev("CONFLICT", description="Someone changed this at the same time; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a job posting mutation's input.")
class JobPostingError(UserError):
    code: JobPostingErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.enum(description="Why a job application mutation failed.")
class JobApplicationErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such posting or application.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    NOT_OPEN = ev("NOT_OPEN", description="The posting is closed or not approved.")
    APPLY_EXTERNALLY = ev(
        "APPLY_EXTERNALLY", description="The posting takes applications on the employer's site."
    )
    NOT_IN_AUDIENCE = ev("NOT_IN_AUDIENCE", description="The posting is not for people like you.")
    OWN_POSTING = ev("OWN_POSTING", description="You posted it.")
    ALREADY_APPLIED = ev("ALREADY_APPLIED", description="You applied to it already.")
    NO_PROFILE_CV = ev("NO_PROFILE_CV", description="Your profile has no CV link.")
    FILE_TYPE = ev("FILE_TYPE", description="The CV is not a whole PDF or DOCX file.")
    FILE_TOO_LARGE = ev("FILE_TOO_LARGE", description="The CV is larger than allowed.")
    NOT_ALLOWED = ev("NOT_ALLOWED", description="The workflow does not allow this move.")
    CONFLICT = ev("CONFLICT", description="Someone changed this at the same time; try again.")
    INVALID_URL = ev("INVALID_URL", description="The profile's CV link is not a web address.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a job application mutation's input.")
class JobApplicationError(UserError):
    code: JobApplicationErrorCode = strawberry.field(description=CODE_DESCRIPTION)
