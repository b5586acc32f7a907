"""A person's own data: everything alumnet holds about them, as JSON (a job writes it),
and erasure, which anonymises their personal data and keeps aggregate records whole.

Both find what belongs to the person from the schema (every column referring to a user),
so new tables are covered without changing this module.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from alumnet.domain.community import erasure as community_erasure
from alumnet.domain.data import files
from alumnet.domain.data.tabular import plain
from alumnet.domain.errors import DomainError, Problems, check_text
from alumnet.domain.events import registrations
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.identity.users import password_matches
from alumnet.domain.mentorship import requests as mentorship_requests
from alumnet.domain.people.merge import user_columns
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import (
    Achievement,
    Block,
    CalendarFeed,
    CallListEntry,
    CallLog,
    Certificate,
    ConversationMember,
    Degree,
    EventFeedback,
    EventHost,
    EventRegistration,
    Follow,
    ImportRow,
    JobApplication,
    JobPosting,
    JobPostingReport,
    JobPostingSearch,
    JobReferral,
    Message,
    Notification,
    NotificationPreference,
    OneTimeToken,
    OutboundEmail,
    PersonalAccessToken,
    PersonalExport,
    Profile,
    ProfileView,
    ReferenceRequest,
    SavedJobPosting,
    Session,
    SocialLink,
    StoredFile,
    Submission,
    SubmissionVersion,
    Ticket,
    TicketMessage,
    TrustedPoster,
    User,
    UserSkill,
    WorkExperience,
)
from alumnet.persistence.uow import UnitOfWork

EXPORT_JOB = "people.export_personal_data"
# Rows that are the person's own: what they are, did or wrote. Rows where they appear only
# as the object of someone else's action or choice (who blocked them, who viewed them,
# records other people keep about them such as a decision's author) are not theirs to
# take, and would reveal other people's data.
OWN_COLUMNS = {"user_id", "student_id", "sender_id", "author_id", "actor_id", "follower_id",
               "blocker_id", "viewer_id", "applicant_id", "poster_id", "referrer_id",
               "reporter_id"}  # fmt: skip
# Who follows them is shown to them anyway; the files they handed in or asked for are
# listed (name, type, size, checksum: their contents are read from the work itself).
OWN = {("follows", "followee_id"), ("stored_files", "owner_id"), ("photos", "owner_id")}
EXPORT_TTL = timedelta(days=7)
# Never exported: secrets, and search documents derived from the rest.
HIDDEN = {"password_hash", "token_hash", "secret_hash", "search_basic", "search_all",
          "search_name", "search_work"}  # fmt: skip
# Withheld: what the API does not show the person about themselves either, because it is
# other people's (staff's notes and judgements about them, and who wrote them), which
# data-protection law lets an institution withhold from a subject access request. Each
# entry says why; the export lists them under "withheld", so that the person knows.
WITHHELD_TABLES = {
    "call_logs": "Notes SREs and mentors keep of their calls to you.",
    "follow_ups": "Reminders staff set themselves to call you again.",
    "at_risk": "Staff's assessment of who may need help, and its scores.",
    "risk_predictions": "The early-warning model's estimate for staff of who may need help.",
    "call_list_entries": "Staff's call lists, with the scripts they use.",
}
WITHHELD_COLUMNS = {
    ("integrity_flags", "evidence"): "What a mentor or staff member saw: their account.",
    ("integrity_flags", "raised_by_id"): "Who raised a concern about your work.",
    ("integrity_decisions", "decided_by_id"): "Which manager decided.",
    ("appeals", "reviewed_by_id"): "Which manager reviewed your appeal.",
    ("degrees", "decided_by_id"): "Which administrator verified or rejected a degree.",
    ("attendance_days", "recorded_by_id"): "Which staff member recorded attendance for you.",
    ("meeting_attendance", "recorded_by_id"): "Who recorded your attendance at a meeting.",
    ("submissions", "recorded_by_id"): "Which staff member recorded work for you.",
    ("point_entries", "created_by_id"): "Which staff member adjusted your points.",
    ("submissions", "graded_by_id"): "Which mentor or staff member graded your work.",
    ("submission_versions", "graded_by_id"): "Who graded the earlier versions of your work.",
    ("posts", "hidden_by_id"): "Which moderator hid your post.",
    ("posts", "deleted_by_id"): "Which moderator deleted your post (when not you).",
    ("comments", "hidden_by_id"): "Which moderator hid your comment.",
    ("comments", "deleted_by_id"): "Which moderator deleted your comment (when not you).",
    ("content_reports", "resolved_by_id"): "Which moderator dealt with your report.",
    ("content_reports", "resolution_note"): "The moderators' own note on your report.",
    ("community_warnings", "issued_by_id"): "Which moderator warned you.",
    ("volunteer_engagements", "recorded_by_id"): "Which staff member recorded your volunteering.",
    ("volunteer_engagements", "reviewed_by_id"): "Which staff member reviewed your offer.",
}
ERASED_TEXT = "[erased]"


async def request_export(uow: UnitOfWork, viewer: Viewer) -> int:
    """Queue the export of the viewer's data; returns the job's id."""
    me = viewer.require_user()
    job = await uow.add_job(EXPORT_JOB, {"user_id": me})
    audit.record(uow, "personal_data.export", object_type="User", object_ids=[me])
    return job.id


async def export(rt: Runtime, user_id: int) -> dict[str, Any]:
    """Write the export (a JSON document: one list of rows per table) and return its id."""
    data: dict[str, Any] = {"exportedAt": datetime.now(UTC).isoformat(), "tables": {}}
    async with rt.database.connect() as conn:
        users = User.__table__
        tables: dict[str, list[dict[str, Any]]] = {}
        row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
        if row is None:
            raise LookupError("the user is gone")
        tables["users"] = [_row(row)]
        for table, column in user_columns():
            if (table.name, column.name) not in OWN and column.name not in OWN_COLUMNS:
                continue
            if table.name in WITHHELD_TABLES:
                continue
            rows = (await conn.execute(select(table).where(column == user_id))).all()
            if rows:
                tables.setdefault(table.name, []).extend(_row(r, table.name) for r in rows)
        # Messages sent to them are theirs to read too.
        mine = select(ConversationMember.conversation_id).where(
            ConversationMember.user_id == user_id
        )
        received = await conn.execute(
            select(Message.__table__).where(
                Message.conversation_id.in_(mine), Message.sender_id != user_id
            )
        )
        tables.setdefault("messages", []).extend(_row(r) for r in received.all())
        # The earlier versions of their work, with the grades they had.
        versions = await conn.execute(
            select(SubmissionVersion.__table__).where(
                SubmissionVersion.submission_id.in_(
                    select(Submission.id).where(Submission.student_id == user_id)
                )
            )
        )
        earlier = [_row(r, "submission_versions") for r in versions.all()]
        if earlier:
            tables["submission_versions"] = earlier
        # What they said of the events they came to.
        said = await conn.execute(
            select(EventFeedback.__table__).where(
                EventFeedback.registration_id.in_(
                    select(EventRegistration.id).where(EventRegistration.user_id == user_id)
                )
            )
        )
        feedback = [_row(r, "event_feedback") for r in said.all()]
        if feedback:
            tables["event_feedback"] = feedback
        # References they asked for (the text only where its writer shared it with them),
        # and those they were asked to write, with what they wrote.
        asked = await conn.execute(
            select(ReferenceRequest.__table__).where(
                or_(
                    ReferenceRequest.requester_id == user_id,
                    ReferenceRequest.writer_id == user_id,
                )
            )
        )
        requests = [
            {**r, "text": r["text"] if r["writer_id"] == user_id or r["shared"] else None}
            for r in (_row(r, "reference_requests") for r in asked.all())
        ]
        if requests:
            tables["reference_requests"] = requests
    data["tables"] = tables
    data["withheld"] = {
        "why": "Other people's notes and judgements about you, and who made them, are not "
        "shown to you by alumnet either; they are withheld here as data-protection law "
        "allows for third parties' data. Ask the institution's data protection officer "
        "if you need them.",
        "tables": WITHHELD_TABLES,
        "columns": {f"{t}.{c}": why for (t, c), why in WITHHELD_COLUMNS.items()},
    }
    content = json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
    async with rt.transaction() as uow:
        writer = await files.new_file(
            uow.session, owner_id=user_id, name="alumnet-personal-data.json",
            content_type="application/json", expires_in=EXPORT_TTL,
        )  # fmt: skip
        await writer.write(content)
        stored = await writer.close()
        record = PersonalExport(user_id=user_id, file_id=stored.id, created_at=stored.created_at,
                                expires_at=stored.expires_at)  # fmt: skip
        uow.session.add(record)
        await uow.session.flush()
        return {"exportId": record.id, "fileId": stored.id, "tables": len(tables)}


def _row(row: Any, table: str = "users") -> dict[str, Any]:
    return {
        k: plain(v)
        for k, v in row._mapping.items()
        if k not in HIDDEN and (table, k) not in WITHHELD_COLUMNS
    }


async def erase(rt: Runtime, uow: UnitOfWork, viewer: Viewer, password: str | None) -> None:
    """Anonymise the viewer: name, e-mail, phone and profile go; what they wrote to others
    is blanked; sign-ins, tokens, follows, views and notifications are deleted. Their
    enrolments, attendance, points and submissions stay (under the anonymous account), so
    every count, rate and leaderboard stays consistent. Needs the password again."""
    me = viewer.require_user()
    user = await uow.session.get(User, me, with_for_update=True)
    assert user is not None
    if user.password_hash is not None and not await password_matches(
        rt, user.password_hash, password or ""
    ):
        raise DomainError.of("WRONG_PASSWORD", "The password is not right.", "password")
    await erase_user(uow, user)
    uow.actor_id = me
    audit.record(uow, "personal_data.erase", object_type="User", object_ids=[me])


async def delete_user(uow: UnitOfWork, viewer: Viewer, user_id: int, reason: str) -> None:
    """An administrator's deletion of someone's account (`users:manage`): the erasure a
    person may ask for themselves, with the reason audited."""
    me = viewer.require(Permission.USERS_MANAGE)
    problems = Problems()
    why = check_text(problems, reason, field="reason", max_length=500, min_length=1,
                     label="The reason")  # fmt: skip
    problems.raise_if_any()
    if user_id == me:
        raise DomainError.of("INVALID", "Erase your own account with personalDataErase.", "userId")
    user = await uow.session.get(User, user_id, with_for_update=True)
    if user is None or user.status == "deleted":
        raise DomainError.of("NOT_FOUND", "No such user.", "userId")
    await erase_user(uow, user)
    audit.record(uow, "user.delete", object_type="User", object_ids=[user_id],
                 details={"reason": why})  # fmt: skip


async def erase_user(uow: UnitOfWork, user: User) -> None:
    """Anonymise ``user``, as ``erase`` describes."""
    me = user.id
    session = uow.session
    for model, column in (
        (Profile, Profile.user_id), (Degree, Degree.user_id),
        (WorkExperience, WorkExperience.user_id), (UserSkill, UserSkill.user_id),
        (Achievement, Achievement.user_id), (SocialLink, SocialLink.user_id),
        (Notification, Notification.user_id),
        (NotificationPreference, NotificationPreference.user_id),
        (PersonalAccessToken, PersonalAccessToken.user_id), (OneTimeToken, OneTimeToken.user_id),
        (Session, Session.user_id), (PersonalExport, PersonalExport.user_id),
    ):  # fmt: skip
        await session.execute(delete(model).where(column == me))
    # Their exports and bulk results (files that expire); uploads stay with import history.
    await session.execute(
        delete(StoredFile).where(StoredFile.owner_id == me, StoredFile.expires_at.is_not(None))
    )
    await session.execute(
        delete(Follow).where(or_(Follow.follower_id == me, Follow.followee_id == me))
    )
    await session.execute(
        delete(ProfileView).where(or_(ProfileView.viewer_id == me, ProfileView.viewed_id == me))
    )
    await session.execute(delete(Block).where(or_(Block.blocker_id == me, Block.blocked_id == me)))
    await session.execute(
        update(Message).where(Message.sender_id == me).values(body=ERASED_TEXT, client_id=None)
    )
    await session.execute(
        update(TicketMessage).where(TicketMessage.author_id == me).values(body=ERASED_TEXT)
    )
    # Others' notifications of the tickets they opened quote the subject and what was written.
    await session.execute(
        update(Notification)
        .where(
            Notification.subject_type == "Ticket",
            Notification.subject_id.in_(select(Ticket.id).where(Ticket.student_id == me)),
        )
        .values(title=ERASED_TEXT, body=ERASED_TEXT)
    )
    await session.execute(update(Ticket).where(Ticket.student_id == me).values(subject=ERASED_TEXT))
    # Their certificates print their name: the PDFs and the certificates go (a code they
    # handed out no longer verifies).
    await session.execute(
        delete(StoredFile).where(
            StoredFile.id.in_(select(Certificate.file_id).where(Certificate.student_id == me))
        )
    )
    await session.execute(delete(Certificate).where(Certificate.student_id == me))
    # What they handed in (the fact and its grade stay, as points do): their words and files
    # go (the files first: their references become null with them).
    theirs = select(Submission.id).where(Submission.student_id == me)
    await session.execute(
        delete(StoredFile).where(
            StoredFile.owner_id == me,
            or_(
                StoredFile.id.in_(select(Submission.file_id).where(Submission.student_id == me)),
                StoredFile.id.in_(
                    select(SubmissionVersion.file_id).where(
                        SubmissionVersion.submission_id.in_(theirs)
                    )
                ),
            ),
        )
    )
    await session.execute(
        update(SubmissionVersion)
        .where(SubmissionVersion.submission_id.in_(theirs))
        .values(content=None, file_id=None)
    )
    await session.execute(
        update(Submission).where(Submission.student_id == me).values(content=None, file_id=None)
    )
    # Careers: their CVs and cover notes go, with what they wrote about others (referral
    # notes, reports); their postings close; their saved postings and searches go.
    await session.execute(
        delete(StoredFile).where(
            StoredFile.id.in_(
                select(JobApplication.cv_file_id).where(JobApplication.applicant_id == me)
            )
        )
    )
    await session.execute(
        update(JobApplication)
        .where(JobApplication.applicant_id == me)
        .values(cover_note=None, cv_url=None, cv_file_id=None)
    )
    await session.execute(
        update(JobReferral).where(JobReferral.referrer_id == me).values(note=None)
    )
    await session.execute(
        update(JobPostingReport).where(JobPostingReport.reporter_id == me)
        .values(reason=ERASED_TEXT)
    )  # fmt: skip
    await session.execute(
        update(JobPosting)
        .where(JobPosting.poster_id == me, JobPosting.status.in_(("live", "pending")))
        .values(status="closed", closed_at=datetime.now(UTC))
    )
    await session.execute(delete(SavedJobPosting).where(SavedJobPosting.user_id == me))
    await session.execute(delete(JobPostingSearch).where(JobPostingSearch.user_id == me))
    await session.execute(delete(TrustedPoster).where(TrustedPoster.user_id == me))
    # Events: their places at events to come go to those waiting; their answers and
    # comments go; they host nothing more, and their calendar feed stops.
    await registrations.release_person(uow, me)
    # Mentorship: their requests close, their mentorships end, what they wrote goes.
    await mentorship_requests.release_person(uow, me)
    # Community: their posts and comments blanked and gone from the lists, their likes
    # taken back, their photos deleted, their references closed (community/erasure.py).
    await community_erasure.release_person(uow, me, ERASED_TEXT)
    await session.execute(delete(EventHost).where(EventHost.user_id == me))
    await session.execute(delete(CalendarFeed).where(CalendarFeed.user_id == me))
    # What the SREs' call lists and call logs say of them (scripts greet them by name).
    await session.execute(
        update(CallListEntry).where(CallListEntry.student_id == me).values(script=ERASED_TEXT)
    )
    await session.execute(
        update(CallLog)
        .where(CallLog.student_id == me)
        .values(notes=ERASED_TEXT, student_response=ERASED_TEXT)
    )
    # Import history names them (a row's key, its values before and after): the rows stay,
    # as the import's counts do, without them (a rollback leaves an erased person alone).
    await session.execute(
        update(ImportRow)
        .where(
            or_(
                (ImportRow.target_type == "User") & (ImportRow.target_id == me),
                func.lower(ImportRow.natural_key) == user.email_lower,
            )
        )
        .values(natural_key=None, before=None, after=None)
    )
    # E-mails to them: not sent any more, and not kept.
    await session.execute(delete(OutboundEmail).where(OutboundEmail.user_id == me))
    # Other people's notifications name them ("New message from …", "… asks you to mentor
    # them"), and what follows the name quotes them (the message, their goals): it goes.
    if user.name:
        await session.execute(
            update(Notification)
            .where(Notification.title.contains(user.name, autoescape=True))
            .values(body=ERASED_TEXT)
        )
        for name in ("title", "body"):
            text = Notification.__table__.c[name]
            await session.execute(
                update(Notification)
                .where(text.contains(user.name, autoescape=True))
                .values({name: func.replace(text, user.name, f"Former member {me}")})
            )
    user.name = f"Former member {me}"
    user.email = user.email_lower = f"erased-{me}@erased.invalid"
    user.phone = None
    user.password_hash = None
    user.email_verified_at = None
    user.status = "deleted"
    user.updated_at = datetime.now(UTC)
