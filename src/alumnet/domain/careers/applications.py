"""Applications and referrals.

An application moves through a workflow, each move recorded with who and when:
applied → screening → interview → offer → hired, with rejected and on hold possible from
any open step, and withdrawn by the applicant. Hired, rejected and withdrawn are final.
The poster (and moderators) move it; the applicant withdraws; each side is told.

Who sees an application: the applicant, the posting's poster, and moderators. An
applicant never learns anything of the other applicants.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select, update

from alumnet.domain.careers.postings import audiences_for, readable_posting
from alumnet.domain.communication import messages
from alumnet.domain.communication.notifications import Item, notify_each
from alumnet.domain.data import files
from alumnet.domain.errors import DomainError, Problems, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Role, Viewer
from alumnet.domain.people.profiles import check_url
from alumnet.persistence.db import inserted_id
from alumnet.persistence.models import (
    JobApplication,
    JobApplicationEvent,
    JobPosting,
    JobReferral,
    SocialLink,
    User,
    UserRole,
)
from alumnet.persistence.uow import UnitOfWork

STATUSES = ("applied", "screening", "interview", "offer", "hired", "rejected", "withdrawn",
            "on_hold")  # fmt: skip
FINAL = frozenset({"hired", "rejected", "withdrawn"})
# One bit per status, for ``JobApplication.reached`` (every status it has had).
STEP_BITS = {status: 1 << i for i, status in enumerate(STATUSES)}
# The moves a poster may make, from each status.
MOVES: dict[str, frozenset[str]] = {
    "applied": frozenset({"screening", "interview", "rejected", "on_hold"}),
    "screening": frozenset({"interview", "offer", "rejected", "on_hold"}),
    "interview": frozenset({"offer", "rejected", "on_hold"}),
    "offer": frozenset({"hired", "rejected", "on_hold"}),
    "on_hold": frozenset({"screening", "interview", "offer", "rejected"}),
}
COVER_MAX = 5000
NOTE_MAX = 1000
CV_KINDS = frozenset({"application/pdf", files.DOCX})
REFERRALS_PER_DAY = 50


def channel(user_id: int) -> str:
    """The pub/sub channel of the application changes one user may follow."""
    return f"user:{user_id}:applications"


def readable(viewer: Viewer) -> ColumnElement[bool] | None:
    """Applications the viewer may see (None: every one, for moderators)."""
    if not viewer.is_authenticated:
        return false()
    if viewer.can(Permission.CAREERS_MODERATE):
        return None
    me = viewer.user_id
    return or_(
        JobApplication.applicant_id == me,
        JobApplication.posting_id.in_(select(JobPosting.id).where(JobPosting.poster_id == me)),
    )


async def may_read_file(db: Any, viewer: Viewer, file_id: int) -> bool:
    """Whether the viewer may still read the application this CV belongs to: checked each
    time a link to it is used."""
    query = select(JobApplication.id).where(JobApplication.cv_file_id == file_id)
    condition = readable(viewer)
    if condition is not None:
        query = query.where(condition)
    async with db.connect() as conn:
        return (await conn.execute(query.limit(1))).first() is not None


def _record(
    uow: UnitOfWork, application: JobApplication, before: str | None, actor: int, note: str | None
) -> None:
    uow.session.add(
        JobApplicationEvent(
            application_id=application.id,
            from_status=before,
            to_status=application.status,
            actor_id=actor,
            note=note,
            created_at=datetime.now(UTC),
        )
    )


def _publish(uow: UnitOfWork, application: JobApplication, poster_id: int) -> None:
    for user_id in {application.applicant_id, poster_id}:
        uow.publish(channel(user_id), {"id": application.id})


async def apply(
    uow: UnitOfWork,
    viewer: Viewer,
    posting_id: int,
    *,
    cover_note: str | None,
    upload: Any | None,
    use_profile_cv: bool,
    cv_limit: int,
) -> JobApplication:
    """Apply inside alumnet, with a cover note and a CV (an uploaded PDF or DOCX, or the
    CV link of one's profile). Once per person and posting; a referral to the posting is
    attached."""
    me = viewer.require_user()
    posting = await readable_posting(uow, viewer, posting_id)
    problems = Problems()
    note = check_text(
        problems, cover_note, field="coverNote", max_length=COVER_MAX, label="The cover note"
    ) or None  # fmt: skip
    today = datetime.now(UTC).date()
    if posting.poster_id == me:
        problems.add("OWN_POSTING", "You cannot apply to your own posting.", "jobPostingId")
    elif posting.status != "live" or (posting.closes_on is not None and posting.closes_on < today):
        problems.add("NOT_OPEN", "This posting is not open for applications.", "jobPostingId")
    elif posting.apply_url is not None:
        problems.add(
            "APPLY_EXTERNALLY", f"Apply on the employer's site: {posting.apply_url}", "jobPostingId"
        )
    elif posting.audience not in audiences_for(viewer):
        meant = "students" if posting.audience == "students" else "alumni"
        problems.add("NOT_IN_AUDIENCE", f"This posting is for {meant} only.", "jobPostingId")
    if upload is not None and use_profile_cv:
        problems.add("INVALID", "Send a CV or use your profile's, not both.", "cv")
    already = await uow.session.execute(
        select(JobApplication.id).where(
            JobApplication.posting_id == posting.id, JobApplication.applicant_id == me
        )
    )
    if already.first() is not None:
        problems.add("ALREADY_APPLIED", "You have applied to this posting already.", "jobPostingId")
    cv_url = await _profile_cv(uow, problems, me) if use_profile_cv else None
    problems.raise_if_any()
    cv_file_id = await _store_cv(uow, me, upload, cv_limit) if upload is not None else None
    referral = await uow.session.execute(
        select(JobReferral.id)
        .where(JobReferral.posting_id == posting.id, JobReferral.referred_id == me)
        .order_by(JobReferral.id)
        .limit(1)
    )
    now = datetime.now(UTC)
    values = {
        "posting_id": posting.id, "applicant_id": me, "status": "applied", "cover_note": note,
        "cv_file_id": cv_file_id, "cv_url": cv_url, "referral_id": referral.scalar(),
        "created_at": now, "updated_at": now, "reached": STEP_BITS["applied"],
    }  # fmt: skip
    new_id = await inserted_id(uow.session, JobApplication, values, ["posting_id", "applicant_id"])
    if new_id is None:  # a concurrent application won the race
        raise DomainError.of(
            "ALREADY_APPLIED", "You have applied to this posting already.", "jobPostingId"
        )
    application = await uow.session.get(JobApplication, new_id)
    assert application is not None
    await uow.session.execute(
        update(JobPosting)
        .where(JobPosting.id == posting.id)
        .values(applications_count=JobPosting.applications_count + 1)
    )
    _record(uow, application, None, me, None)
    name = viewer.name or "Someone"
    await notify_each(
        uow, "application",
        [Item(user_id=posting.poster_id, title=f"New applicant for “{posting.title}”",
              body=f"{name} applied." + (" They were referred." if values["referral_id"] else ""),
              subject_type="JobApplication", subject_id=application.id)],
    )  # fmt: skip
    _publish(uow, application, posting.poster_id)
    audit.record(
        uow, "job_application.create", object_type="JobApplication", object_ids=[application.id],
        details={"posting": posting.id},
    )  # fmt: skip
    return application


async def _profile_cv(uow: UnitOfWork, problems: Problems, user_id: int) -> str | None:
    found = await uow.session.execute(
        select(SocialLink.url)
        .where(SocialLink.user_id == user_id, SocialLink.kind == "cv")
        .order_by(SocialLink.id)
        .limit(1)
    )
    url = found.scalar()
    if url is None:
        problems.add("NO_PROFILE_CV", "Your profile has no CV link; add one or send a file.", "cv")
        return None
    check_url(problems, url, "cv", https_only=False)
    return str(url)


async def _store_cv(uow: UnitOfWork, owner_id: int, upload: Any, limit: int) -> int:
    received = await files.receive(upload.name, upload.read, limit, field="cv")
    try:
        if received.kind not in CV_KINDS:
            raise DomainError.of("FILE_TYPE", "A CV is a PDF or DOCX file.", "cv")
        stored = await files.store_received(
            uow.session, received, owner_id=owner_id, expires_in=None
        )
        return int(stored.id)
    finally:
        received.close()


async def _application(
    uow: UnitOfWork, viewer: Viewer, application_id: int
) -> tuple[JobApplication, JobPosting]:
    viewer.require_user()
    query = select(JobApplication).where(JobApplication.id == application_id).with_for_update()
    condition = readable(viewer)
    if condition is not None:
        query = query.where(condition)
    application = (await uow.session.execute(query)).scalar_one_or_none()
    if application is None:
        raise DomainError.of("NOT_FOUND", "No such application.", "id")
    posting = await uow.session.get(JobPosting, application.posting_id)
    assert posting is not None
    return application, posting


async def move(
    uow: UnitOfWork, viewer: Viewer, application_id: int, status: str, note: str | None
) -> JobApplication:
    """Move an application to its next step (the poster or a moderator); the applicant is
    told. Only the workflow's moves are allowed."""
    me = viewer.require_user()
    application, posting = await _application(uow, viewer, application_id)
    if application.applicant_id == me or (
        posting.poster_id != me and not viewer.can(Permission.CAREERS_MODERATE)
    ):
        raise DomainError.of("NOT_FOUND", "No such application.", "id")
    problems = Problems()
    text = check_text(problems, note, field="note", max_length=NOTE_MAX, label="The note") or None
    before = application.status
    if status not in STATUSES:
        problems.add("INVALID", "Unknown status.", "status")
    elif status not in MOVES.get(before, frozenset()):
        allowed = ", ".join(sorted(MOVES.get(before, frozenset()))) or "none (it is final)"
        problems.add("NOT_ALLOWED", f"An application {before} can move to: {allowed}.", "status")
    problems.raise_if_any()
    now = datetime.now(UTC)
    application.status, application.updated_at = status, now
    application.reached |= STEP_BITS[status]
    if application.response_hours is None:
        application.response_hours = (now - application.created_at).total_seconds() / 3600
    _record(uow, application, before, me, text)
    await notify_each(
        uow, "application",
        [Item(user_id=application.applicant_id,
              title=f"Your application to “{posting.title}”: {status.replace('_', ' ')}",
              body=text or "", subject_type="JobApplication", subject_id=application.id)],
    )  # fmt: skip
    _publish(uow, application, posting.poster_id)
    audit.record(
        uow, "job_application.move", object_type="JobApplication", object_ids=[application.id],
        details={"from": before, "to": status},
    )  # fmt: skip
    return application


async def withdraw(
    uow: UnitOfWork, viewer: Viewer, application_id: int, note: str | None
) -> JobApplication:
    """The applicant withdraws an open application; the poster is told."""
    me = viewer.require_user()
    application, posting = await _application(uow, viewer, application_id)
    if application.applicant_id != me:
        raise DomainError.of("NOT_FOUND", "No such application.", "id")
    problems = Problems()
    text = check_text(problems, note, field="note", max_length=NOTE_MAX, label="The note") or None
    if application.status in FINAL:
        problems.add("NOT_ALLOWED", f"This application is {application.status} already.", "id")
    problems.raise_if_any()
    before = application.status
    application.status, application.updated_at = "withdrawn", datetime.now(UTC)
    application.reached |= STEP_BITS["withdrawn"]
    _record(uow, application, before, me, text)
    await notify_each(
        uow, "application",
        [Item(user_id=posting.poster_id,
              title=f"An applicant withdrew from “{posting.title}”",
              body=f"{viewer.name or 'An applicant'} withdrew.",
              subject_type="JobApplication", subject_id=application.id)],
    )  # fmt: skip
    _publish(uow, application, posting.poster_id)
    audit.record(
        uow, "job_application.withdraw", object_type="JobApplication",
        object_ids=[application.id],
    )  # fmt: skip
    return application


async def refer(
    uow: UnitOfWork, viewer: Viewer, posting_id: int, referred_id: int, note: str | None
) -> JobReferral:
    """An alumnus (or staff) refers a student or alumnus to an open posting addressed to
    them; the person is told and can apply with the referral attached. Referring the same
    person to the same posting again returns the first referral."""
    me = viewer.require_user()
    if Role.ALUMNUS not in viewer.roles and not viewer.can(Permission.CAREERS_MODERATE):
        raise DomainError.of("NOT_ALLOWED", "Only alumni refer people to postings.", "jobPostingId")
    posting = await readable_posting(uow, viewer, posting_id)
    problems = Problems()
    text = check_text(problems, note, field="note", max_length=2000, label="The note") or None
    today = datetime.now(UTC).date()
    if posting.status != "live" or (posting.closes_on is not None and posting.closes_on < today):
        problems.add("NOT_OPEN", "This posting is not open for applications.", "jobPostingId")
    # Whoever it is not (unknown, inactive, not a student or alumnus, oneself, the poster,
    # outside the audience, or blocking either way) gets the same answer, so that a
    # referral tells nobody anything about an account.
    person = await uow.session.get(User, referred_id)
    roles = set(
        (
            await uow.session.execute(select(UserRole.role).where(UserRole.user_id == referred_id))
        ).scalars()
    )
    theirs = Viewer(
        user_id=referred_id, roles=frozenset(Role(r) for r in roles if r in Role.__members__)
    )
    if (
        person is None
        or person.status != "active"
        or not roles & {"STUDENT", "ALUMNUS"}
        or referred_id in (me, posting.poster_id)
        or posting.audience not in audiences_for(theirs)
        or await messages.blocked_between(uow, me, referred_id)
    ):
        problems.add("NOT_FOUND", "You cannot refer this person to this posting.", "userId")
    problems.raise_if_any()
    earlier = await uow.session.execute(
        select(JobReferral).where(
            JobReferral.posting_id == posting.id, JobReferral.referrer_id == me,
            JobReferral.referred_id == referred_id,
        )
    )  # fmt: skip
    if (found := earlier.scalar_one_or_none()) is not None:
        return found
    # Counted with the referrer's row locked, so that referrals at once cannot pass the limit.
    await uow.session.get(User, me, with_for_update=True)
    since = datetime.now(UTC) - timedelta(days=1)
    recent = await uow.session.execute(
        select(func.count())
        .select_from(JobReferral)
        .where(JobReferral.referrer_id == me, JobReferral.created_at >= since)
    )
    if int(recent.scalar_one()) >= REFERRALS_PER_DAY:
        raise DomainError.of(
            "TOO_MANY", f"At most {REFERRALS_PER_DAY} referrals a day.", "jobPostingId"
        )
    referral = JobReferral(
        posting_id=posting.id, referrer_id=me, referred_id=referred_id, note=text,
        created_at=datetime.now(UTC),
    )  # fmt: skip
    uow.session.add(referral)
    await uow.session.flush()
    await notify_each(
        uow, "referral",
        [Item(user_id=referred_id,
              title=f"{viewer.name or 'An alumnus'} referred you to “{posting.title}”",
              body=text or "Apply with the referral attached.", subject_type="JobPosting",
              subject_id=posting.id)],
    )  # fmt: skip
    audit.record(
        uow, "job_posting.refer", object_type="JobPosting", object_ids=[posting.id],
        details={"referred": referred_id},
    )  # fmt: skip
    return referral
