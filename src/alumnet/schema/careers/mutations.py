"""Careers mutations: postings (create, change, close, moderate, report, save), trusted
posters, saved searches, referrals, applications and their moves, employers, and the
export of a posting's applicants."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.file_uploads import Upload

from alumnet.domain.careers import applications, companies, postings, search
from alumnet.domain.data import exports
from alumnet.domain.engagement.assignments import Upload as HandedIn
from alumnet.domain.errors import Problems
from alumnet.schema.careers.queries import JobPostingFilter, posting_filter
from alumnet.schema.careers.types import (
    Company,
    JobApplication,
    JobApplicationError,
    JobApplicationErrorCode,
    JobApplicationStatus,
    JobPosting,
    JobPostingAudience,
    JobPostingError,
    JobPostingErrorCode,
    JobPostingKind,
    JobPostingSearch,
    JobReferral,
    RemoteMode,
)
from alumnet.schema.context import Info
from alumnet.schema.data.types import ExportFormat, ExportPayload, export_requested
from alumnet.schema.errors import user_errors
from alumnet.schema.mutations import arg, pk_of, run_in_transaction, uploaded
from alumnet.schema.nodes import global_pk

ev = strawberry.enum_value
SKILLS_HELP = "Skills it asks for, by the profiles' names (20 at most; an unknown one is refused "
SKILLS_HELP += "with the nearest names)."


@strawberry.input(description="A new job posting.")
class JobPostingCreateInput:
    title: str = strawberry.field(description="The job's title (at most 200 characters).")
    company: str = strawberry.field(description="The employer's name (at most 200 characters).")
    description: str = strawberry.field(description="Markdown (at most 20,000 characters).")
    kind: JobPostingKind = strawberry.field(description="Full-time, part-time, internship…")
    remote: RemoteMode = strawberry.field(description="On site, hybrid or remote.")
    audience: JobPostingAudience = strawberry.field(description="Who it is for.")
    city: str | None = strawberry.field(default=None, description="Where (city).")
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2.")
    salary_from: Decimal | None = strawberry.field(
        default=None, description="Lowest salary, in `currency` (exact; major units)."
    )
    salary_to: Decimal | None = strawberry.field(default=None, description="Highest salary.")
    currency: str | None = strawberry.field(
        default=None, description="ISO 4217 code; required with a salary."
    )
    apply_url: str | None = strawberry.field(
        default=None,
        description="Where to apply on the employer's site (https); omit to take "
        "applications in alumnet.",
    )
    closes_on: date | None = strawberry.field(
        default=None, description="The last day to apply (today or later, within a year)."
    )
    skills: list[str] = strawberry.field(default_factory=list, description=SKILLS_HELP)
    client_id: str | None = strawberry.field(
        default=None,
        description="Your idempotency key (at most 64 characters): posting again with it "
        "returns the first posting.",
    )


@strawberry.input(
    description="Changes to a posting; omitted fields stay as they are, an empty city, "
    "country or applyUrl clears it. An untrusted poster's change sends a live posting back "
    "to moderation."
)
class JobPostingUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The posting.")
    title: str | None = strawberry.field(default=None, description="New title.")
    company: str | None = strawberry.field(default=None, description="New employer name.")
    description: str | None = strawberry.field(default=None, description="New Markdown.")
    kind: JobPostingKind | None = strawberry.field(default=None, description="New kind.")
    remote: RemoteMode | None = strawberry.field(default=None, description="New remote mode.")
    audience: JobPostingAudience | None = strawberry.field(
        default=None, description="New audience."
    )
    city: str | None = strawberry.field(default=None, description="New city.")
    country: str | None = strawberry.field(default=None, description="New country.")
    salary_from: Decimal | None = strawberry.field(default=None, description="New lowest salary.")
    salary_to: Decimal | None = strawberry.field(default=None, description="New highest salary.")
    currency: str | None = strawberry.field(default=None, description="New currency.")
    clear_salary: bool = strawberry.field(default=False, description="Say no salary.")
    apply_url: str | None = strawberry.field(default=None, description="New external link.")
    closes_on: date | None = strawberry.field(default=None, description="New closing date.")
    clear_closes_on: bool = strawberry.field(default=False, description="Remove the closing date.")
    skills: list[str] | None = strawberry.field(default=None, description=SKILLS_HELP)


@strawberry.input(description="A posting to act on.")
class JobPostingIdInput:
    id: relay.GlobalID = strawberry.field(description="The posting.")


@strawberry.enum(description="A moderator's decision on a posting.")
class JobPostingDecision(Enum):
    APPROVE = ev("approve", description="It goes live.")
    REJECT = ev("reject", description="It is taken down (a reason is required).")
    DISMISS = ev(
        "dismiss", description="Its reports are unfounded: they are settled, it stays as it is."
    )


@strawberry.input(description="A moderator's decision.")
class JobPostingModerateInput:
    id: relay.GlobalID = strawberry.field(description="The posting.")
    decision: JobPostingDecision = strawberry.field(description="Approve or reject.")
    reason: str | None = strawberry.field(
        default=None, description="Why (required to reject; the poster reads it; 500 at most)."
    )


@strawberry.input(description="A report of a posting for moderators to review.")
class JobPostingReportInput:
    id: relay.GlobalID = strawberry.field(description="The posting.")
    reason: str = strawberry.field(description="What is wrong with it (at most 1,000 characters).")


@strawberry.input(description="A search to save.")
class JobPostingSearchSaveInput:
    name: str = strawberry.field(description="Your name for it (at most 100 characters).")
    query: str | None = strawberry.field(default=None, description="As `jobPostings(query:)`.")
    filter: JobPostingFilter | None = strawberry.field(
        default=None, description="As `jobPostings(filter:)`."
    )


@strawberry.input(description="A saved search to delete.")
class JobPostingSearchDeleteInput:
    id: relay.GlobalID = strawberry.field(description="The saved search.")


@strawberry.input(description="Whether someone's postings go live without moderation.")
class JobPosterTrustSetInput:
    user_id: relay.GlobalID = strawberry.field(description="The poster.")
    trusted: bool = strawberry.field(description="True: trusted; false: moderated again.")


@strawberry.input(description="A referral of a student or alumnus to a posting.")
class JobPostingReferInput:
    job_posting_id: relay.GlobalID = strawberry.field(description="The posting.")
    user_id: relay.GlobalID = strawberry.field(description="Whom you refer.")
    note: str | None = strawberry.field(
        default=None, description="For them and the poster (at most 2,000 characters)."
    )


@strawberry.input(description="An application to a posting that takes applications in alumnet.")
class JobApplicationCreateInput:
    job_posting_id: relay.GlobalID = strawberry.field(description="The posting.")
    cover_note: str | None = strawberry.field(
        default=None, description="A cover note (at most 5,000 characters)."
    )
    cv: Upload | None = strawberry.field(
        default=None,
        description="A CV file (PDF or DOCX, checked by its content; at most "
        "`ALUMNET_CV_MAX_BYTES`, 5 MB by default), sent as a GraphQL multipart request.",
    )
    use_profile_cv: bool = strawberry.field(
        default=False, description="Send the CV link of your profile instead of a file."
    )


@strawberry.input(description="A move of an application to its next step.")
class JobApplicationMoveInput:
    id: relay.GlobalID = strawberry.field(description="The application.")
    status: JobApplicationStatus = strawberry.field(
        description="The next step: applied → screening → interview → offer → hired; rejected "
        "or on hold from any open step."
    )
    note: str | None = strawberry.field(
        default=None, description="A note to the applicant (at most 1,000 characters)."
    )


@strawberry.input(description="The applicant withdraws.")
class JobApplicationWithdrawInput:
    id: relay.GlobalID = strawberry.field(description="Your application.")
    note: str | None = strawberry.field(default=None, description="Why, for the poster.")


@strawberry.input(description="An export of a posting's applications.")
class ApplicationsExportInput:
    job_posting_id: relay.GlobalID = strawberry.field(description="Your posting.")
    format: ExportFormat = strawberry.field(description="Which file format.")


@strawberry.input(description="Corrections to an employer; an empty text clears it.")
class CompanyUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The company.")
    name: str | None = strawberry.field(default=None, description="Its name.")
    website: str | None = strawberry.field(default=None, description="Its website (https).")
    logo_url: str | None = strawberry.field(default=None, description="Its logo (https).")
    industry: str | None = strawberry.field(default=None, description="Its industry.")


@strawberry.type(description="The posting, or why there is none.")
class JobPostingPayload:
    job_posting: JobPosting | None = strawberry.field(description="The posting.")
    user_errors: list[JobPostingError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The saved search, or why there is none.")
class JobPostingSearchPayload:
    job_posting_search: JobPostingSearch | None = strawberry.field(description="The search.")
    user_errors: list[JobPostingError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The deleted search's id, or why nothing was deleted.")
class JobPostingSearchDeletePayload:
    deleted_id: relay.GlobalID | None = strawberry.field(description="The search deleted.")
    user_errors: list[JobPostingError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="Whether the poster is trusted now.")
class JobPosterTrustSetPayload:
    trusted: bool | None = strawberry.field(description="Their trust now.")
    user_errors: list[JobPostingError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The referral, or why there is none.")
class JobPostingReferPayload:
    referral: JobReferral | None = strawberry.field(description="The referral.")
    user_errors: list[JobPostingError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The application, or why there is none.")
class JobApplicationPayload:
    application: JobApplication | None = strawberry.field(description="The application.")
    user_errors: list[JobApplicationError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The company, or why there is none.")
class CompanyPayload:
    company: Company | None = strawberry.field(description="The company.")
    user_errors: list[JobPostingError] = strawberry.field(description="Empty on success.")


def _fields(given: Any) -> postings.PostingFields:
    def text(name: str) -> str | None:
        value = getattr(given, name, None)
        return value if value is None else str(value)

    def chosen(name: str) -> str | None:
        value = getattr(given, name, None)
        return None if value is None else str(value.value)

    skills = getattr(given, "skills", None)
    return postings.PostingFields(
        title=text("title"), company=text("company"), description=text("description"),
        kind=chosen("kind"), city=text("city"), country=text("country"), remote=chosen("remote"),
        salary_min=given.salary_from, salary_max=given.salary_to, currency=text("currency"),
        audience=chosen("audience"), apply_url=text("apply_url"), closes_on=given.closes_on,
        skills=tuple(skills) if skills is not None else None,
        clear_salary=bool(getattr(given, "clear_salary", False)),
        clear_closes_on=bool(getattr(given, "clear_closes_on", False)),
    )  # fmt: skip


def _posting(found: Any, problems: Any) -> JobPostingPayload:
    return JobPostingPayload(
        job_posting=JobPosting.from_row(found) if found is not None else None,
        user_errors=user_errors(JobPostingError, JobPostingErrorCode, problems),
    )


def _application(found: Any, problems: Any) -> JobApplicationPayload:
    return JobApplicationPayload(
        application=JobApplication.from_row(found) if found is not None else None,
        user_errors=user_errors(JobApplicationError, JobApplicationErrorCode, problems),
    )


@strawberry.type
class CareersMutation:
    @strawberry.mutation(
        description="Post a job or internship (`careers:post`: alumni and staff). It goes live "
        "at once for staff and trusted posters, and waits for a moderator otherwise."
    )
    async def job_posting_create(
        self, info: Info, input: Annotated[JobPostingCreateInput, arg("The posting.")]
    ) -> JobPostingPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: postings.create(uow, viewer, _fields(input), client_id=input.client_id),
        )
        return _posting(found, problems)

    @strawberry.mutation(description="Change your posting (or any, for moderators).")
    async def job_posting_update(
        self, info: Info, input: Annotated[JobPostingUpdateInput, arg("The changes.")]
    ) -> JobPostingPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: postings.change(
                uow, viewer, pk_of(input.id, "JobPosting", "id"), _fields(input)
            ),
        )
        return _posting(found, problems)

    @strawberry.mutation(description="Close your posting to applications (idempotent).")
    async def job_posting_close(
        self, info: Info, input: Annotated[JobPostingIdInput, arg("The posting.")]
    ) -> JobPostingPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info, lambda uow: postings.close(uow, viewer, pk_of(input.id, "JobPosting", "id"))
        )
        return _posting(found, problems)

    @strawberry.mutation(
        description="Approve or reject a posting, or dismiss its reports (`careers:moderate`); "
        "the poster is told of an approval or a rejection, and open reports are settled."
    )
    async def job_posting_moderate(
        self, info: Info, input: Annotated[JobPostingModerateInput, arg("The decision.")]
    ) -> JobPostingPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: postings.moderate(
                uow, viewer, pk_of(input.id, "JobPosting", "id"),
                decision=str(input.decision.value), reason=input.reason,
            ),
        )  # fmt: skip
        return _posting(found, problems)

    @strawberry.mutation(
        description="Report a posting you can see for moderators to review (once; again is a "
        "no-op)."
    )
    async def job_posting_report(
        self, info: Info, input: Annotated[JobPostingReportInput, arg("The report.")]
    ) -> JobPostingPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: postings.report(
                uow, viewer, pk_of(input.id, "JobPosting", "id"), input.reason
            ),
        )
        return _posting(found, problems)

    @strawberry.mutation(description="Save a posting to come back to (idempotent).")
    async def job_posting_save(
        self, info: Info, input: Annotated[JobPostingIdInput, arg("The posting.")]
    ) -> JobPostingPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info, lambda uow: postings.save(uow, viewer, pk_of(input.id, "JobPosting", "id"), True)
        )
        return _posting(found, problems)

    @strawberry.mutation(description="Forget a saved posting (idempotent).")
    async def job_posting_unsave(
        self, info: Info, input: Annotated[JobPostingIdInput, arg("The posting.")]
    ) -> JobPostingPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: postings.save(uow, viewer, pk_of(input.id, "JobPosting", "id"), False),
        )
        return _posting(found, problems)

    @strawberry.mutation(
        description="Save a search (20 at most); you are told of new postings that match it, "
        "in the app or the daily digest as your `job_match` preferences say."
    )
    async def job_posting_search_save(
        self, info: Info, input: Annotated[JobPostingSearchSaveInput, arg("The search.")]
    ) -> JobPostingSearchPayload:
        viewer = info.context.viewer

        async def save(uow: Any) -> Any:
            problems = Problems()
            given = posting_filter(input.filter, problems)
            problems.raise_if_any()
            return await search.save_search(
                uow, viewer, name=input.name, query=input.query, given=given
            )

        found, problems = await run_in_transaction(info, save)
        return JobPostingSearchPayload(
            job_posting_search=JobPostingSearch.from_row(found) if found is not None else None,
            user_errors=user_errors(JobPostingError, JobPostingErrorCode, problems),
        )

    @strawberry.mutation(description="Delete one of your saved searches.")
    async def job_posting_search_delete(
        self, info: Info, input: Annotated[JobPostingSearchDeleteInput, arg("The search.")]
    ) -> JobPostingSearchDeletePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: search.delete_search(
                uow, viewer, pk_of(input.id, "JobPostingSearch", "id")
            ),
        )
        return JobPostingSearchDeletePayload(
            deleted_id=input.id if found is not None else None,
            user_errors=user_errors(JobPostingError, JobPostingErrorCode, problems),
        )

    @strawberry.mutation(
        description="Trust a poster, so that their postings go live without waiting, or stop "
        "(`careers:moderate`)."
    )
    async def job_poster_trust_set(
        self, info: Info, input: Annotated[JobPosterTrustSetInput, arg("The poster.")]
    ) -> JobPosterTrustSetPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: postings.trust(
                uow, viewer, pk_of(input.user_id, "User", "userId"), input.trusted
            ),
        )
        return JobPosterTrustSetPayload(
            trusted=input.trusted if found is not None else None,
            user_errors=user_errors(JobPostingError, JobPostingErrorCode, problems),
        )

    @strawberry.mutation(
        description="Refer a student or alumnus to an open posting (alumni; 50 a day at most). "
        "They are told, and their application carries the referral. Again for the same "
        "person and posting returns the first referral."
    )
    async def job_posting_refer(
        self, info: Info, input: Annotated[JobPostingReferInput, arg("The referral.")]
    ) -> JobPostingReferPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: applications.refer(
                uow, viewer, pk_of(input.job_posting_id, "JobPosting", "jobPostingId"),
                pk_of(input.user_id, "User", "userId"), input.note,
            ),
        )  # fmt: skip
        return JobPostingReferPayload(
            referral=JobReferral.from_row(found) if found is not None else None,
            user_errors=user_errors(JobPostingError, JobPostingErrorCode, problems),
        )

    @strawberry.mutation(
        description="Apply to an open posting addressed to you, with a cover note and a CV "
        "(a file, or your profile's CV link); once per posting. The poster is told."
    )
    async def job_application_create(
        self, info: Info, input: Annotated[JobApplicationCreateInput, arg("The application.")]
    ) -> JobApplicationPayload:
        viewer = info.context.viewer
        limit = info.context.runtime.settings.cv_max_bytes

        async def apply(uow: Any) -> Any:
            given = input.cv
            upload = HandedIn(*uploaded(given, "cv")) if given is not None else None
            return await applications.apply(
                uow, viewer, pk_of(input.job_posting_id, "JobPosting", "jobPostingId"),
                cover_note=input.cover_note, upload=upload, use_profile_cv=input.use_profile_cv,
                cv_limit=limit,
            )  # fmt: skip

        found, problems = await run_in_transaction(info, apply)
        return _application(found, problems)

    @strawberry.mutation(
        description="Move an application to its next step (the posting's poster, or "
        "moderators); the applicant is told."
    )
    async def job_application_move(
        self, info: Info, input: Annotated[JobApplicationMoveInput, arg("The move.")]
    ) -> JobApplicationPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: applications.move(
                uow, viewer, pk_of(input.id, "JobApplication", "id"), str(input.status.value),
                input.note,
            ),
        )  # fmt: skip
        return _application(found, problems)

    @strawberry.mutation(description="Withdraw your application; the poster is told.")
    async def job_application_withdraw(
        self, info: Info, input: Annotated[JobApplicationWithdrawInput, arg("Your application.")]
    ) -> JobApplicationPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: applications.withdraw(
                uow, viewer, pk_of(input.id, "JobApplication", "id"), input.note
            ),
        )
        return _application(found, problems)

    @strawberry.mutation(
        description="Export your posting's applications (or any, for moderators) as a job: "
        "name, status, dates, referral, cover note, CV link, and each applicant's e-mail only "
        "where their privacy lets you see it."
    )
    async def applications_export(
        self, info: Info, input: Annotated[ApplicationsExportInput, arg("The export.")]
    ) -> ExportPayload:
        wanted = exports.ExportRequest(
            kind="applications", format=str(input.format.value),
            posting_id=global_pk(input.job_posting_id, "JobPosting") or -1,
        )  # fmt: skip
        return await export_requested(info, wanted)

    @strawberry.mutation(description="Correct an employer's details (`careers:moderate`).")
    async def company_update(
        self, info: Info, input: Annotated[CompanyUpdateInput, arg("The corrections.")]
    ) -> CompanyPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: companies.update(
                uow, viewer, pk_of(input.id, "Company", "id"), name=input.name,
                website=input.website, logo_url=input.logo_url, industry=input.industry,
            ),
        )  # fmt: skip
        return CompanyPayload(
            company=Company.from_row(found) if found is not None else None,
            user_errors=user_errors(JobPostingError, JobPostingErrorCode, problems),
        )
