"""Reference requests: a student or alumnus asks an alumnus or a mentor for a reference,
for a purpose, by a deadline, to be sent to an address or to the poster of a job posting;
the writer accepts or declines, drafts the reference, and sends it by e-mail through a job.

States: pending → accepted | declined | cancelled | expired; accepted → sent | cancelled |
expired. The text is the writer's: the requester reads it only once the writer shares it
(after sending). Not even staff read it: a reference is between its writer and its
recipient, so no permission opens it, and it is never in notifications, audit details or
error messages. A cancelled or expired request's draft is forgotten.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update

from alumnet.domain.careers import postings
from alumnet.domain.communication import messages
from alumnet.domain.communication.emails import render_pair
from alumnet.domain.communication.notifications import Item, notify_each
from alumnet.domain.errors import DomainError, Problems, check_label, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.mail import EMAIL_JOB
from alumnet.domain.identity.permissions import Role, Viewer
from alumnet.domain.identity.users import check_email
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import (
    JobPosting,
    Notification,
    OutboundEmail,
    ReferenceRequest,
    User,
    UserRole,
)
from alumnet.persistence.uow import UnitOfWork

PURPOSE_MAX = 2000
TEXT_MAX = 20_000
REASON_MAX = 500
NAME_MAX = 200
CLIENT_ID_MAX = 64
# At most this many open (pending or accepted) requests a person, and to one writer.
OPEN_MAX = 20
OPEN_PER_WRITER_MAX = 3
DEADLINE_MAX = timedelta(days=366)
# The writer is reminded once when the deadline is this close and nothing was sent.
REMIND_DAYS = 3
OPEN = ("pending", "accepted")
STATUSES = ("pending", "accepted", "declined", "sent", "cancelled", "expired")
REQUESTERS = frozenset({Role.STUDENT, Role.ALUMNUS})
WRITER_ROLES = (Role.ALUMNUS.value, Role.MENTOR.value)
SWEEP_JOB = "community.reference_requests_sweep"
EMAIL_TEMPLATE = "reference"
KIND = "reference"


def today() -> date:
    return datetime.now(UTC).date()


def readable(viewer: Viewer) -> Any:
    """SQL: the requests the viewer may see: those they made or were asked to write. No
    one else, staff included."""
    me = viewer.user_id if viewer.user_id is not None else -1
    return or_(ReferenceRequest.requester_id == me, ReferenceRequest.writer_id == me)


def may_read_text(viewer: Viewer, request: Any) -> bool:
    """The writer always; the requester once the writer has shared it."""
    if viewer.user_id is None:
        return False
    if viewer.user_id == request.writer_id:
        return True
    return bool(viewer.user_id == request.requester_id and request.shared)


def is_open(request: ReferenceRequest, on: date) -> bool:
    return request.status in OPEN and request.deadline >= on


async def _names(uow: UnitOfWork, *user_ids: int) -> dict[int, str]:
    found = await uow.session.execute(select(User.id, User.name).where(User.id.in_(user_ids)))
    return {int(i): str(n) for i, n in found.all()}


async def _writer(uow: UnitOfWork, me: int, writer_id: int | None) -> User:
    """The person asked: active, an alumnus or a mentor, and neither blocked the other.
    Anyone else is NOT_FOUND, so that nothing is learnt of their account."""
    if writer_id is None:
        raise DomainError.of("NOT_FOUND", "No such person.", "writerId")
    if writer_id == me:
        raise DomainError.of("SELF", "Ask someone else for a reference.", "writerId")
    person = await uow.session.get(User, writer_id)
    if (
        person is None
        or person.status != "active"
        or await messages.blocked_between(uow, me, writer_id)
    ):
        raise DomainError.of("NOT_FOUND", "No such person.", "writerId")
    roles = await uow.session.execute(
        select(UserRole.role).where(UserRole.user_id == writer_id, UserRole.role.in_(WRITER_ROLES))
    )
    if roles.first() is None:
        raise DomainError.of("NOT_A_WRITER", "Ask an alumnus or a mentor.", "writerId")
    return person


async def create(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    writer_id: int | None,
    purpose: str,
    deadline: date,
    recipient_name: str | None,
    recipient_email: str | None,
    job_posting_id: int | None,
    job_posting_named: bool = False,
    client_id: str | None = None,
) -> ReferenceRequest:
    """Ask for a reference; the writer is told. With ``client_id``, asking again returns
    the first request and tells no one twice. ``job_posting_named``: a posting id was
    given, even one that names nothing."""
    me = viewer.require_user()
    if not viewer.roles & REQUESTERS:
        raise DomainError.of("NOT_ALLOWED", "Students and alumni ask for references.")
    if client_id is not None:
        earlier = await uow.session.execute(
            select(ReferenceRequest).where(
                ReferenceRequest.requester_id == me, ReferenceRequest.client_id == client_id
            )
        )
        found = earlier.scalar_one_or_none()
        if found is not None:
            return found
    problems = Problems()
    if client_id is not None and not 0 < len(client_id) <= CLIENT_ID_MAX:
        problems.add("INVALID", f"clientId must be 1 to {CLIENT_ID_MAX} characters.", "clientId")
    writer = await _writer(uow, me, writer_id)
    why = check_text(problems, purpose, field="purpose", max_length=PURPOSE_MAX, min_length=1,
                     label="The purpose")  # fmt: skip
    now = today()
    if deadline <= now:
        problems.add("DATE_IN_PAST", "The deadline must be after today (UTC).", "deadline")
    elif deadline > now + DEADLINE_MAX:
        problems.add("OUT_OF_RANGE", "The deadline must be within a year.", "deadline")
    name = None
    if recipient_name is not None:
        name = check_label(problems, recipient_name, field="recipientName",
                           max_length=NAME_MAX, label="The recipient's name") or None  # fmt: skip
    address = None
    if recipient_email is not None and recipient_email.strip():
        address = check_email(problems, recipient_email, "recipientEmail")
        # The text never reaches its requester unless the writer shares it.
        own = await uow.session.get(User, me)
        if own is not None and address.lower() == own.email.lower():
            problems.add("OWN_ADDRESS", "The reference cannot be sent to you.", "recipientEmail")
    posting = None
    if job_posting_named:
        try:
            if job_posting_id is None:
                raise DomainError.of("NOT_FOUND", "No such job posting.")
            posting = await postings.readable_posting(uow, viewer, job_posting_id)
        except DomainError:
            problems.add("NOT_FOUND", "No such job posting.", "jobPostingId")
        if posting is not None and posting.poster_id == me and address is None:
            problems.add("OWN_ADDRESS", "You posted this job: give the recipient's address.",
                         "recipientEmail")  # fmt: skip
    if not job_posting_named and not (recipient_email or "").strip():
        problems.add(
            "NO_RECIPIENT",
            "Give the recipient's e-mail address or a job posting, or both.",
            "recipientEmail",
        )
    problems.raise_if_any()
    # One request of a person at a time past this point, so that two at once cannot both
    # slip under the limits.
    await uow.session.execute(select(User.id).where(User.id == me).with_for_update())
    counts = await uow.session.execute(
        select(
            func.count(),
            func.count().filter(ReferenceRequest.writer_id == writer.id),
        ).where(ReferenceRequest.requester_id == me, ReferenceRequest.status.in_(OPEN))
    )
    mine, to_writer = counts.one()
    if mine >= OPEN_MAX:
        raise DomainError.of(
            "TOO_MANY", f"You have {OPEN_MAX} open requests: wait for some to be answered."
        )
    if to_writer >= OPEN_PER_WRITER_MAX:
        raise DomainError.of(
            "TOO_MANY",
            f"You have {OPEN_PER_WRITER_MAX} open requests to this person already.",
            "writerId",
        )
    request = ReferenceRequest(
        requester_id=me, writer_id=writer.id, purpose=why or "", deadline=deadline,
        recipient_name=name, recipient_email=address,
        job_posting_id=posting.id if posting is not None else None, status="pending",
        client_id=client_id, created_at=datetime.now(UTC),
    )  # fmt: skip
    uow.session.add(request)
    await uow.session.flush()
    await notify_each(uow, KIND, [
        Item(writer.id, f"{viewer.name or 'Someone'} asks you for a reference",
             f"Needed by {deadline.isoformat()}: {(why or '')[:240]}", "ReferenceRequest",
             request.id)
    ])  # fmt: skip
    audit.record(
        uow, "reference_request.create", object_type="ReferenceRequest",
        object_ids=[request.id],
        details={"writer": writer.id, "deadline": deadline.isoformat(),
                 "to": "posting" if posting is not None and address is None else "address"},
    )  # fmt: skip
    return request


async def _request(uow: UnitOfWork, viewer: Viewer, request_id: int) -> ReferenceRequest:
    viewer.require_user()
    found = (
        await uow.session.execute(
            select(ReferenceRequest)
            .where(ReferenceRequest.id == request_id, readable(viewer))
            .with_for_update()
        )
    ).scalar_one_or_none()
    if found is None:
        raise DomainError.of("NOT_FOUND", "No such reference request.", "id")
    return found


async def _as_writer(uow: UnitOfWork, viewer: Viewer, request_id: int) -> ReferenceRequest:
    request = await _request(uow, viewer, request_id)
    if request.writer_id != viewer.user_id:
        raise DomainError.of("NOT_FOUND", "No such reference request.", "id")
    return request


def _refuse_unless(request: ReferenceRequest, *statuses: str) -> None:
    if request.status not in statuses:
        raise DomainError.of("WRONG_STATUS", f"This request is {request.status}.", "id")
    if request.status in OPEN and request.deadline < today():
        raise DomainError.of("DEADLINE_PASSED", "The deadline of this request has passed.", "id")


async def respond(
    uow: UnitOfWork, viewer: Viewer, request_id: int, *, accept: bool, reason: str | None
) -> ReferenceRequest:
    """The writer accepts or declines (with a reason, if they like); the requester is told."""
    request = await _as_writer(uow, viewer, request_id)
    _refuse_unless(request, "pending")
    problems = Problems()
    why = None
    if not accept and reason is not None:
        why = check_label(problems, reason, field="reason", max_length=REASON_MAX,
                          label="The reason") or None  # fmt: skip
    problems.raise_if_any()
    request.status = "accepted" if accept else "declined"
    request.decline_reason, request.responded_at = why, datetime.now(UTC)
    await uow.session.flush()
    verb = "accepted" if accept else "declined"
    body = (
        f"They will write it before {request.deadline.isoformat()}."
        if accept
        else (why or "They cannot write it.")
    )
    await notify_each(uow, KIND, [
        Item(request.requester_id, f"{viewer.name or 'The writer'} {verb} your reference "
             "request", body, "ReferenceRequest", request.id)
    ])  # fmt: skip
    audit.record(uow, f"reference_request.{verb}", object_type="ReferenceRequest",
                 object_ids=[request.id])  # fmt: skip
    return request


async def write(uow: UnitOfWork, viewer: Viewer, request_id: int, text: str) -> ReferenceRequest:
    """The writer saves the reference's text (a draft, saved as often as they like until
    it is sent). No one is told."""
    request = await _as_writer(uow, viewer, request_id)
    _refuse_unless(request, "accepted")
    problems = Problems()
    cleaned = check_text(problems, text, field="text", max_length=TEXT_MAX, min_length=1,
                         label="The reference")  # fmt: skip
    problems.raise_if_any()
    request.text, request.written_at = cleaned, datetime.now(UTC)
    await uow.session.flush()
    return request


async def _recipient(uow: UnitOfWork, request: ReferenceRequest) -> tuple[int | None, str, str]:
    """(user id if a user, address, name) the reference goes to: the address the requester
    gave, else the poster of the job posting."""
    if request.recipient_email:
        return None, request.recipient_email, request.recipient_name or request.recipient_email
    poster = None
    if request.job_posting_id is not None:
        posting = await uow.session.get(JobPosting, request.job_posting_id)
        poster = await uow.session.get(User, posting.poster_id) if posting is not None else None
    if poster is None or poster.status != "active" or poster.id == request.requester_id:
        raise DomainError.of(
            "NO_RECIPIENT", "The job posting's poster can no longer receive it.", "id"
        )
    return poster.id, poster.email, request.recipient_name or poster.name


async def send(
    uow: UnitOfWork, viewer: Viewer, request_id: int, *, share: bool
) -> ReferenceRequest:
    """The writer sends the reference: an e-mail to the recipient, sent by a job after
    commit. Sending again sends nothing and changes nothing. ``share``: the requester may
    read the text; they are told it was sent (never what it says)."""
    request = await _as_writer(uow, viewer, request_id)
    if request.status == "sent":
        return request
    _refuse_unless(request, "accepted")
    if not request.text:
        raise DomainError.of("NO_TEXT", "Write the reference first (referenceWrite).", "id")
    user_id, address, recipient = await _recipient(uow, request)
    names = await _names(uow, request.writer_id, request.requester_id)
    writer, requester = names.get(request.writer_id, ""), names.get(request.requester_id, "")
    posting = None
    if request.job_posting_id is not None:
        found = await uow.session.get(JobPosting, request.job_posting_id)
        posting = found.title if found is not None else None
    subject = f"A reference for {requester} from {writer}"
    text, html = render_pair(
        EMAIL_TEMPLATE, title=subject, recipient=recipient, writer=writer, requester=requester,
        posting=posting, text=request.text,
    )  # fmt: skip
    email = OutboundEmail(
        user_id=user_id, to_address=address, subject=" ".join(subject.split())[:200],
        text_body=text, html_body=html, template=EMAIL_TEMPLATE,
    )  # fmt: skip
    uow.session.add(email)
    now = datetime.now(UTC)
    request.status, request.sent_at, request.shared = "sent", now, share
    await uow.session.flush()
    await uow.add_job(EMAIL_JOB, {"email_id": email.id}, queue="email")
    body = "They shared it with you: read it on the request." if share else ""
    await notify_each(uow, KIND, [
        Item(request.requester_id, f"{writer or 'The writer'} sent your reference", body,
             "ReferenceRequest", request.id)
    ])  # fmt: skip
    audit.record(
        uow, "reference_request.send", object_type="ReferenceRequest", object_ids=[request.id],
        details={"to": "address" if user_id is None else "posting", "shared": share},
    )  # fmt: skip
    return request


async def share_text(
    uow: UnitOfWork, viewer: Viewer, request_id: int, *, share: bool
) -> ReferenceRequest:
    """The writer lets the requester read a sent reference, or stops letting them."""
    request = await _as_writer(uow, viewer, request_id)
    if request.status != "sent":
        raise DomainError.of("WRONG_STATUS", "Send the reference before sharing it.", "id")
    if request.shared == share:
        return request
    request.shared = share
    await uow.session.flush()
    if share:
        await notify_each(uow, KIND, [
            Item(request.requester_id, f"{viewer.name or 'The writer'} shared your reference",
                 "Read it on the request.", "ReferenceRequest", request.id)
        ])  # fmt: skip
    audit.record(uow, "reference_request.share", object_type="ReferenceRequest",
                 object_ids=[request.id], details={"shared": share})  # fmt: skip
    return request


async def cancel(uow: UnitOfWork, viewer: Viewer, request_id: int) -> ReferenceRequest:
    """The requester withdraws a pending or accepted request; the writer is told and their
    draft is forgotten."""
    request = await _request(uow, viewer, request_id)
    if request.requester_id != viewer.user_id:
        raise DomainError.of("NOT_FOUND", "No such reference request.", "id")
    if request.status not in OPEN:
        raise DomainError.of("WRONG_STATUS", f"This request is {request.status}.", "id")
    request.status, request.text = "cancelled", None
    await uow.session.flush()
    await notify_each(uow, KIND, [
        Item(request.writer_id, f"{viewer.name or 'The requester'} cancelled a reference "
             "request", "You need not write it any more.", "ReferenceRequest", request.id)
    ])  # fmt: skip
    audit.record(uow, "reference_request.cancel", object_type="ReferenceRequest",
                 object_ids=[request.id])  # fmt: skip
    return request


async def sweep(rt: Runtime) -> dict[str, int]:
    """The scheduler's daily job: open requests past their deadline expire (the requester
    is told; the draft is forgotten), and writers are reminded, once per request, of open
    ones due within ``REMIND_DAYS`` days. Running it again does nothing more."""
    on = today()
    now = datetime.now(UTC)
    async with rt.transaction() as uow:
        expired = (
            await uow.session.execute(
                update(ReferenceRequest)
                .where(ReferenceRequest.status.in_(OPEN), ReferenceRequest.deadline < on)
                .values(status="expired", text=None)
                .returning(ReferenceRequest.id, ReferenceRequest.requester_id,
                           ReferenceRequest.deadline)
            )
        ).all()  # fmt: skip
        await notify_each(uow, KIND, [
            Item(int(requester), "A reference request expired",
                 f"It was not sent by its deadline, {deadline.isoformat()}.",
                 "ReferenceRequest", int(i))
            for i, requester, deadline in expired
        ])  # fmt: skip
        due = (
            await uow.session.execute(
                update(ReferenceRequest)
                .where(ReferenceRequest.status.in_(OPEN), ReferenceRequest.deadline >= on,
                       ReferenceRequest.deadline <= on + timedelta(days=REMIND_DAYS),
                       ReferenceRequest.reminded_at.is_(None))
                .values(reminded_at=now)
                .returning(ReferenceRequest.id, ReferenceRequest.writer_id,
                           ReferenceRequest.deadline, ReferenceRequest.status)
            )
        ).all()  # fmt: skip
        reminded = await notify_each(uow, KIND, [
            Item(int(writer), f"A reference is due on {deadline.isoformat()}",
                 "Answer the request." if status == "pending" else "Write and send it.",
                 "ReferenceRequest", int(i))
            for i, writer, deadline, status in due
        ])  # fmt: skip
    return {"expired": len(expired), "reminded": reminded}


async def release_person(uow: UnitOfWork, user_id: int) -> None:
    """A person who leaves (erased): the requests they made go, with the notifications
    that quote them; of those made to them, the open ones are cancelled and what they
    wrote (texts, reasons) goes."""
    theirs = select(ReferenceRequest.id).where(ReferenceRequest.requester_id == user_id)
    await uow.session.execute(
        update(Notification)
        .where(Notification.subject_type == "ReferenceRequest",
               Notification.subject_id.in_(theirs))
        .values(title="[erased]", body="[erased]")
    )  # fmt: skip
    await uow.session.execute(
        delete(ReferenceRequest).where(ReferenceRequest.requester_id == user_id)
    )
    await uow.session.execute(
        update(ReferenceRequest)
        .where(ReferenceRequest.writer_id == user_id, ReferenceRequest.status.in_(OPEN))
        .values(status="cancelled")
    )
    await uow.session.execute(
        update(ReferenceRequest)
        .where(ReferenceRequest.writer_id == user_id)
        .values(text=None, decline_reason=None)
    )
    await uow.session.flush()


DEMO_PURPOSES = (
    "MSc in Data Science application",
    "Graduate software engineer role",
    "Scholarship for a master's programme",
    "Internship in product design",
    "PhD application in economics",
)
DEMO_TEXT = (
    "I mentored {name} for a year. They are careful, curious and kind to their team; "
    "I recommend them without reservation."
)


async def seed_demo(uow: UnitOfWork, domain: str, count: int = 60) -> int:
    """The demo's reference requests, in every state (student@ asks alumnus@ and others;
    alumnus@ has some pending); skipped when any exists. Returns how many were added.
    Deterministic; dates relative to today; no e-mail is sent."""
    session = uow.session
    if (await session.execute(select(func.count()).select_from(ReferenceRequest))).scalar_one():
        return 0

    async def one(email: str) -> int | None:
        found = await session.execute(select(User.id).where(User.email_lower == email))
        value = found.scalar()
        return int(value) if value is not None else None

    async def of_role(role: str, limit: int) -> list[int]:
        query = select(UserRole.user_id).where(UserRole.role == role)
        return [int(i) for i in (await session.execute(query.order_by(UserRole.user_id)
                                                       .limit(limit))).scalars()]  # fmt: skip

    student, alumnus = await one(f"student@{domain}"), await one(f"alumnus@{domain}")
    students = [i for i in await of_role("STUDENT", 200) if i != student]
    writers = [i for i in await of_role("ALUMNUS", 200) if i != alumnus]
    asking = ([student] if student else []) + students
    writing = ([alumnus] if alumnus else []) + writers
    if not asking or not writing:
        return 0
    found = await session.execute(select(User.id, User.name).where(User.id.in_(asking[:count])))
    names = {int(i): str(name) for i, name in found.all()}
    on, now = today(), datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for n in range(count):
        # The demo student's requests in every state first, then open ones to the demo
        # alumnus (their pending references), then a mix.
        if n < len(STATUSES):
            requester, writer, status = asking[0], writing[n % len(writing)], STATUSES[n]
        elif n < 2 * len(STATUSES):
            requester, writer = asking[n % len(asking)], writing[0]
            status = OPEN[n % 2]
        else:
            requester, writer = asking[n % len(asking)], writing[(n // 2) % len(writing)]
            status = STATUSES[n % len(STATUSES)]
        if writer == requester:
            continue
        past = status in ("sent", "declined", "cancelled", "expired")
        deadline = on + timedelta(days=(n % 25) + 2) if status in OPEN else (
            on - timedelta(days=(n % 20) + 1) if status == "expired"
            else on + timedelta(days=(n % 40) + 1)
        )  # fmt: skip
        written = status in ("accepted", "sent") and n % 3 != 1
        rows.append({
            "requester_id": requester, "writer_id": writer,
            "purpose": DEMO_PURPOSES[n % len(DEMO_PURPOSES)], "deadline": deadline,
            "recipient_name": "Admissions office",
            "recipient_email": f"admissions{n % 7}@university.example",
            "status": status,
            "decline_reason": "I do not know your work well enough." if status == "declined"
            else None,
            "text": DEMO_TEXT.format(name=names.get(requester, "them")) if written else None,
            "shared": status == "sent" and n % 2 == 0, "client_id": None,
            "created_at": now - timedelta(days=(n % 30) + (10 if past else 1)),
            "responded_at": now - timedelta(days=n % 5) if status in
            ("accepted", "declined", "sent") else None,
            "written_at": now - timedelta(days=n % 4) if written else None,
            "sent_at": now - timedelta(days=n % 3) if status == "sent" else None,
            "reminded_at": None,
        })  # fmt: skip
    if rows:
        await session.execute(insert(ReferenceRequest), rows)
    return len(rows)
