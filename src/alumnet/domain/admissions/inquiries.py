"""Inquiries from prospective students and the counselling pipeline.

An inquiry comes through the public form (``submit``: no sign-in, a honeypot field, and
throttled per client address and for everyone) or from admissions staff (``create``). It
moves through the pipeline one step at a time (new → contacted → counselled → applied),
to lost from any open stage (with a reason), back from lost to the stage it was lost from,
and to enrolled only by conversion (convert.py). Every move writes a stage-change row,
``furthest`` (the highest rank reached, which the funnel reads), a timeline entry, and a
new lead score; so does every logged call, e-mail, meeting or note.

Everything here but ``submit`` needs the ``admissions`` permission.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, false, func, select

from alumnet.domain.admissions import scoring, timeline
from alumnet.domain.communication.notifications import Event, notify
from alumnet.domain.errors import DomainError, Problems, check_label, check_moment, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.identity.users import (
    ACTIVE,
    check_email,
    check_phone,
    client_key,
    holders_of,
    normalise_email,
)
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import (
    Inquiry,
    InquiryActivity,
    InquiryStageChange,
    Programme,
    User,
)
from alumnet.persistence.uow import UnitOfWork

KIND = "admissions"
SOURCES = ("web_form", "walk_in", "referral", "campaign")
STAGES = ("new", "contacted", "counselled", "applied", "enrolled", "lost")
# The pipeline's ranks (``furthest``); lost has none.
RANK = {"new": 1, "contacted": 2, "counselled": 3, "applied": 4, "enrolled": 5}
OPEN_STAGES = ("new", "contacted", "counselled", "applied")
# The one step forward a counsellor may take from each open stage (applied → enrolled is
# the conversion's).
FORWARD = {"new": "contacted", "contacted": "counselled", "counselled": "applied"}
NAME_MAX = 200
MESSAGE_MAX = 2000
NOTES_MAX = 10_000
DETAIL_MAX = 200
REASON_MAX = 500
SUMMARY_MAX = 2000
OUTCOME_MAX = 200
KEY_MAX = 200
CAMPAIGN_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# The same e-mail on the public form within this long adds to the open inquiry.
RESUBMIT_WINDOW = timedelta(hours=24)
# A logged contact may be dated this far ahead of the server's clock (clocks differ).
CLOCK_SKEW = timedelta(minutes=5)
THROTTLE_WINDOW = 3600


def readable(viewer: Viewer) -> ColumnElement[bool] | None:
    """SQL: the inquiries the viewer may see: all with ``admissions``, else none."""
    return None if viewer.can(Permission.ADMISSIONS) else false()


def now() -> datetime:
    return datetime.now(UTC)


# Checks ----------------------------------------------------------------------------------


def _contact(
    problems: Problems, email: str | None, phone: str | None, *, required: bool = True
) -> tuple[str | None, str | None]:
    """The e-mail and phone as stored (None for none); one of them is required."""
    address = check_email(problems, email) if email is not None and email.strip() else None
    number = check_phone(problems, phone) if phone is not None else None
    if required and not address and not number:
        problems.add("REQUIRED", "Give an e-mail address or a phone number.", "email")
    return address or None, number or None


async def _programme(uow: UnitOfWork, problems: Problems, programme_id: int | None) -> None:
    if programme_id is not None and await uow.session.get(Programme, programme_id) is None:
        problems.add("NOT_FOUND", "No such programme.", "programmeId")


def _name(problems: Problems, name: str) -> str:
    return check_label(problems, name, field="name", max_length=NAME_MAX, min_length=1,
                       label="Name")  # fmt: skip


def _text(problems: Problems, value: str | None, field: str, most: int, label: str) -> str:
    return check_text(problems, value, field=field, max_length=most, label=label) or ""


async def counsellors(uow: UnitOfWork) -> Any:
    """SQL: the ids of active users who hold ``admissions`` (everywhere): those an inquiry
    or a task may be assigned to, and reminded."""
    holders = await holders_of(uow, Permission.ADMISSIONS, everywhere=True)
    return select(User.id).where(User.status == ACTIVE, User.id.in_(holders))


async def is_counsellor(uow: UnitOfWork, user_id: int) -> bool:
    """Whether the user is active and holds ``admissions``."""
    if user_id < 0:
        return False
    found = await uow.session.execute((await counsellors(uow)).where(User.id == user_id))
    return found.first() is not None


async def locked(uow: UnitOfWork, viewer: Viewer, inquiry_id: int) -> Inquiry:
    """The inquiry, its row locked, for staff with ``admissions``; NOT_FOUND otherwise."""
    viewer.require(Permission.ADMISSIONS)
    found = await uow.session.execute(
        select(Inquiry).where(Inquiry.id == inquiry_id).with_for_update()
    )
    inquiry = found.scalar_one_or_none()
    if inquiry is None:
        raise DomainError.of("NOT_FOUND", "No such inquiry.", "id")
    return inquiry


# Making ----------------------------------------------------------------------------------


async def _insert(
    rt: Runtime,
    uow: UnitOfWork,
    *,
    name: str,
    email: str | None,
    phone: str | None,
    source: str,
    source_detail: str | None,
    programme_id: int | None,
    notes: str,
    created_by: int | None,
    idempotency_key: str | None = None,
    summary: str,
) -> Inquiry:
    moment = now()
    inquiry = Inquiry(
        name=name, email=email, email_key=normalise_email(email) if email else None,
        phone=phone, source=source, source_detail=source_detail or None,
        programme_id=programme_id, notes=notes, stage="new", furthest=1,
        created_by_id=created_by, idempotency_key=idempotency_key, stage_changed_at=moment,
        created_at=moment, updated_at=moment, score=0, score_reasons=[],
    )  # fmt: skip
    uow.session.add(inquiry)
    await uow.session.flush()
    uow.session.add(
        InquiryStageChange(
            inquiry_id=inquiry.id,
            from_stage=None,
            to_stage="new",
            changed_by_id=created_by,
            changed_at=moment,
        )
    )
    await timeline.add_activity(uow, inquiry, "submitted", summary, actor_id=created_by)
    await scoring.rescore(rt, uow, inquiry)
    return inquiry


@dataclass(frozen=True)
class PublicForm:
    """The public inquiry form as sent."""

    name: str
    email: str | None = None
    phone: str | None = None
    programme_id: int | None = None
    message: str | None = None
    campaign: str | None = None
    website: str | None = None  # the honeypot: people leave it empty


def _same_name(one: str, other: str) -> bool:
    return " ".join(one.split()).casefold() == " ".join(other.split()).casefold()


async def submit(rt: Runtime, uow: UnitOfWork, viewer: Viewer, form: PublicForm) -> None:
    """The public form: no sign-in needed. Checked first (errors say what to fix); then
    counted against ``inquiries_per_address`` an hour from the client address and
    ``inquiries_per_hour`` from everyone (THROTTLED past either, nothing written); then a
    filled honeypot answers as a success and writes nothing. The same e-mail within 24
    hours and the same name adds a "submitted again" entry to its open inquiry instead of a
    second inquiry (another name with that e-mail makes an inquiry of its own).
    Staff are not told of each inquiry (a spam amplifier); it is scored at once."""
    problems = Problems()
    name = _name(problems, form.name)
    email, phone = _contact(problems, form.email, form.phone)
    message = _text(problems, form.message, "message", MESSAGE_MAX, "Message")
    campaign = (form.campaign or "").strip() or None
    if campaign is not None and not CAMPAIGN_CODE.match(campaign):
        problems.add("INVALID", "A campaign code is letters, digits, '.', '-' and '_' (at most "
                     "64).", "campaign")  # fmt: skip
    await _programme(uow, problems, form.programme_id)
    problems.raise_if_any()
    address_key = f"inquiry:address:{client_key(uow.origin.ip)}"
    if (
        await rt.failures.add(address_key, window=THROTTLE_WINDOW)
        > rt.settings.inquiries_per_address
    ):
        raise DomainError.of("THROTTLED", "Too many inquiries from your network: try again "
                             "in an hour.")  # fmt: skip
    if await rt.failures.add("inquiry:everyone", window=THROTTLE_WINDOW) > (
        rt.settings.inquiries_per_hour
    ):
        raise DomainError.of("THROTTLED", "The inquiry form is busy: try again in an hour.")
    if (form.website or "").strip():
        return
    if email is not None:
        found = await uow.session.execute(
            select(Inquiry)
            .where(Inquiry.email_key == normalise_email(email),
                   Inquiry.stage.in_(OPEN_STAGES),
                   Inquiry.created_at >= now() - RESUBMIT_WINDOW)
            .order_by(Inquiry.id.desc())
            .limit(1)
            .with_for_update()
        )  # fmt: skip
        earlier = found.scalar_one_or_none()
        # The same person again only if the name matches too: anyone may type anyone's
        # address into the form, and must not write into their inquiry under it.
        if earlier is not None and _same_name(earlier.name, name):
            said = f": {message}" if message else "."
            await timeline.add_activity(uow, earlier, "submitted",
                                        f"Submitted the public form again (not verified: "
                                        f"anyone may use the form){said}",
                                        actor_id=viewer.user_id)  # fmt: skip
            earlier.updated_at = now()
            await scoring.rescore(rt, uow, earlier)
            audit.record(uow, "inquiry.resubmit", object_type="Inquiry",
                         object_ids=[earlier.id])  # fmt: skip
            return
    inquiry = await _insert(
        rt, uow, name=name, email=email, phone=phone,
        source="campaign" if campaign else "web_form", source_detail=campaign,
        programme_id=form.programme_id, notes=message, created_by=None,
        summary="Submitted the inquiry form.",
    )  # fmt: skip
    audit.record(uow, "inquiry.submit", object_type="Inquiry", object_ids=[inquiry.id],
                 details={"source": inquiry.source})  # fmt: skip


@dataclass(frozen=True)
class InquiryFields:
    """An inquiry entered by staff. Ids are primary keys (-1 names nothing)."""

    name: str
    source: str
    email: str | None = None
    phone: str | None = None
    source_detail: str | None = None
    programme_id: int | None = None
    notes: str | None = None
    counsellor_id: int | None = None
    idempotency_key: str | None = None


def _same(inquiry: Inquiry, name: str, email: str | None, phone: str | None, source: str) -> bool:
    return (inquiry.name, inquiry.email, inquiry.phone, inquiry.source) == (
        name, email, phone, source,
    )  # fmt: skip


async def create(
    rt: Runtime, uow: UnitOfWork, viewer: Viewer, given: InquiryFields
) -> tuple[Inquiry, bool]:
    """Staff enter an inquiry (a walk-in, a referral, a call); returns it and whether it is
    new (False: its idempotency key made it already, and nothing was written)."""
    me = viewer.require(Permission.ADMISSIONS)
    problems = Problems()
    name = _name(problems, given.name)
    email, phone = _contact(problems, given.email, given.phone)
    if given.source not in SOURCES:
        problems.add("INVALID", "The source is a web form, a walk-in, a referral or a "
                     "campaign.", "source")  # fmt: skip
    detail = check_label(problems, given.source_detail or "", field="sourceDetail",
                         max_length=DETAIL_MAX, label="The source's detail")  # fmt: skip
    notes = _text(problems, given.notes, "notes", NOTES_MAX, "Notes")
    key = given.idempotency_key
    if key is not None and not 0 < len(key) <= KEY_MAX:
        problems.add("INVALID", f"An idempotency key has 1 to {KEY_MAX} characters.",
                     "idempotencyKey")  # fmt: skip
    await _programme(uow, problems, given.programme_id)
    if given.counsellor_id is not None and not await is_counsellor(uow, given.counsellor_id):
        problems.add("NOT_COUNSELLOR", "Assign the inquiry to someone with `admissions`.",
                     "counsellorId")  # fmt: skip
    problems.raise_if_any()
    if key is not None:
        # Each member of staff's keys are their own (two counsellors' "row-17" differ).
        key = f"staff:{me}:{key}"
        found = await uow.session.execute(select(Inquiry).where(Inquiry.idempotency_key == key))
        earlier = found.scalar_one_or_none()
        if earlier is not None:
            if not _same(earlier, name, email, phone, given.source):
                raise DomainError.of("IDEMPOTENCY_CONFLICT", "That idempotency key made a "
                                     "different inquiry.", "idempotencyKey")  # fmt: skip
            return earlier, False
    inquiry = await _insert(
        rt, uow, name=name, email=email, phone=phone, source=given.source,
        source_detail=detail or None, programme_id=given.programme_id, notes=notes,
        created_by=me, idempotency_key=key, summary="Entered by staff.",
    )  # fmt: skip
    audit.record(uow, "inquiry.create", object_type="Inquiry", object_ids=[inquiry.id],
                 details={"source": inquiry.source})  # fmt: skip
    if given.counsellor_id is not None:
        await _assign(uow, viewer, inquiry, given.counsellor_id)
    return inquiry, True


@dataclass(frozen=True)
class InquiryChanges:
    """What staff change on an inquiry; None leaves a field as it is ("" clears the
    e-mail, the phone or the source's detail)."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    programme_id: int | None = None
    notes: str | None = None
    source_detail: str | None = None


async def update(
    rt: Runtime, uow: UnitOfWork, viewer: Viewer, inquiry_id: int, changes: InquiryChanges
) -> Inquiry:
    """Staff correct an inquiry's contact, programme, notes or source's detail; it keeps
    an e-mail or a phone."""
    inquiry = await locked(uow, viewer, inquiry_id)
    problems = Problems()
    name = _name(problems, changes.name) if changes.name is not None else None
    email, phone = inquiry.email, inquiry.phone
    if changes.email is not None:
        email = check_email(problems, changes.email) if changes.email.strip() else None
    if changes.phone is not None:
        phone = check_phone(problems, changes.phone) or None
    if not email and not phone:
        problems.add("REQUIRED", "An inquiry keeps an e-mail address or a phone number.",
                     "email")  # fmt: skip
    notes = _text(problems, changes.notes, "notes", NOTES_MAX, "Notes")
    detail = None
    if changes.source_detail is not None:
        detail = check_label(problems, changes.source_detail, field="sourceDetail",
                             max_length=DETAIL_MAX, label="The source's detail")  # fmt: skip
    await _programme(uow, problems, changes.programme_id)
    problems.raise_if_any()
    changed: list[str] = []
    if name is not None and name != inquiry.name:
        inquiry.name = name
        changed.append("name")
    if email != inquiry.email:
        inquiry.email = email
        inquiry.email_key = normalise_email(email) if email else None
        changed.append("email")
    if phone != inquiry.phone:
        inquiry.phone = phone
        changed.append("phone")
    if changes.programme_id is not None and changes.programme_id != inquiry.programme_id:
        inquiry.programme_id = changes.programme_id
        changed.append("programme")
    if changes.notes is not None and notes != inquiry.notes:
        inquiry.notes = notes
        changed.append("notes")
    if detail is not None and (detail or None) != inquiry.source_detail:
        inquiry.source_detail = detail or None
        changed.append("sourceDetail")
    if changed:
        inquiry.updated_at = now()
        await scoring.rescore(rt, uow, inquiry)
        audit.record(uow, "inquiry.update", object_type="Inquiry", object_ids=[inquiry.id],
                     details={"changed": changed})  # fmt: skip
    return inquiry


# Assigning -------------------------------------------------------------------------------


async def _assign(uow: UnitOfWork, viewer: Viewer, inquiry: Inquiry, counsellor: int) -> None:
    inquiry.counsellor_id = counsellor
    inquiry.updated_at = now()
    person = await uow.session.get(User, counsellor)
    who = person.name if person is not None else "a counsellor"
    await timeline.add_activity(uow, inquiry, "assigned", f"Assigned to {who}.",
                                actor_id=viewer.user_id)  # fmt: skip
    audit.record(uow, "inquiry.assign", object_type="Inquiry", object_ids=[inquiry.id],
                 details={"counsellor": counsellor})  # fmt: skip
    if counsellor != viewer.user_id:
        await notify(uow, [counsellor], Event(
            kind=KIND, title="An inquiry is yours to follow up",
            body=f"{inquiry.name}'s inquiry was assigned to you.",
            subject_type="Inquiry", subject_id=inquiry.id,
        ))  # fmt: skip


async def assign(
    rt: Runtime, uow: UnitOfWork, viewer: Viewer, inquiry_id: int, counsellor_id: int | None
) -> Inquiry:
    """Give the inquiry to a counsellor (someone with ``admissions``, told unless it is
    oneself), or to nobody (None)."""
    inquiry = await locked(uow, viewer, inquiry_id)
    if counsellor_id is not None and not await is_counsellor(uow, counsellor_id):
        raise DomainError.of("NOT_COUNSELLOR", "Assign the inquiry to someone with "
                             "`admissions`.", "counsellorId")  # fmt: skip
    if counsellor_id == inquiry.counsellor_id:
        return inquiry
    if counsellor_id is None:
        inquiry.counsellor_id = None
        inquiry.updated_at = now()
        await timeline.add_activity(uow, inquiry, "assigned", "No longer assigned.",
                                    actor_id=viewer.user_id)  # fmt: skip
        audit.record(uow, "inquiry.assign", object_type="Inquiry", object_ids=[inquiry.id],
                     details={"counsellor": None})  # fmt: skip
        return inquiry
    await _assign(uow, viewer, inquiry, counsellor_id)
    return inquiry


# The pipeline ----------------------------------------------------------------------------


async def lost_from(uow: UnitOfWork, inquiry_id: int) -> str | None:
    """The stage a lost inquiry was lost from (its last move to lost)."""
    found = await uow.session.execute(
        select(InquiryStageChange.from_stage)
        .where(InquiryStageChange.inquiry_id == inquiry_id, InquiryStageChange.to_stage == "lost")
        .order_by(InquiryStageChange.changed_at.desc(), InquiryStageChange.id.desc())
        .limit(1)
    )
    return found.scalar_one_or_none()


async def allowed_moves(uow: UnitOfWork, inquiry: Inquiry) -> list[str]:
    """The stages a counsellor may move the inquiry to now."""
    if inquiry.stage in OPEN_STAGES:
        step = FORWARD.get(inquiry.stage)
        return [*([step] if step else []), "lost"]
    if inquiry.stage == "lost":
        back = await lost_from(uow, inquiry.id)
        return [back] if back in OPEN_STAGES else []
    return []


async def move(
    rt: Runtime,
    uow: UnitOfWork,
    inquiry: Inquiry,
    stage: str,
    *,
    actor_id: int | None,
    reason: str | None = None,
) -> None:
    """Write a move (checked by the caller): the stage-change row, ``furthest``, the time
    it changed, a timeline entry and a new score."""
    moment = now()
    before = inquiry.stage
    uow.session.add(
        InquiryStageChange(
            inquiry_id=inquiry.id,
            from_stage=before,
            to_stage=stage,
            reason=reason or None,
            changed_by_id=actor_id,
            changed_at=moment,
        )
    )
    inquiry.stage = stage
    inquiry.furthest = max(inquiry.furthest or 1, RANK.get(stage, 0))
    inquiry.stage_changed_at = moment
    inquiry.updated_at = moment
    inquiry.lost_reason = reason if stage == "lost" else None
    said = f" ({reason})" if reason else ""
    await timeline.add_activity(uow, inquiry, "stage", f"Moved from {before} to {stage}{said}.",
                                actor_id=actor_id)  # fmt: skip
    await scoring.rescore(rt, uow, inquiry)
    audit.record(uow, "inquiry.stage", object_type="Inquiry", object_ids=[inquiry.id],
                 details={"from": before, "to": stage})  # fmt: skip


async def change_stage(
    rt: Runtime,
    uow: UnitOfWork,
    viewer: Viewer,
    inquiry_id: int,
    stage: str,
    reason: str | None,
) -> Inquiry:
    """Move an inquiry: one step forward, to lost from any open stage (a reason needed),
    or back from lost to the stage it was lost from; nothing else (enrolled is
    inquiryConvert's). STAGE_NOT_ALLOWED says which moves are possible."""
    inquiry = await locked(uow, viewer, inquiry_id)
    problems = Problems()
    cleaned = check_text(problems, reason, field="reason", max_length=REASON_MAX,
                         label="The reason")  # fmt: skip
    if stage == "lost" and not cleaned and not any(p.field == ("reason",) for p in problems.items):
        problems.add("REQUIRED", "Say why the inquiry was lost.", "reason")
    if stage not in STAGES:
        problems.add("INVALID", "No such stage.", "stage")
    problems.raise_if_any()
    allowed = await allowed_moves(uow, inquiry)
    if stage not in allowed:
        if stage == "enrolled" and inquiry.stage == "applied":
            hint = "An applied inquiry is enrolled by converting it (inquiryConvert)"
        elif allowed:
            hint = f"From {inquiry.stage} it may move to {' or '.join(allowed)}"
        else:
            hint = f"An inquiry {inquiry.stage} moves no further"
        raise DomainError.of("STAGE_NOT_ALLOWED", f"{hint}; not to {stage}.", "stage")
    await move(rt, uow, inquiry, stage, actor_id=viewer.user_id, reason=cleaned)
    return inquiry


# The timeline ----------------------------------------------------------------------------


async def log_activity(
    rt: Runtime,
    uow: UnitOfWork,
    viewer: Viewer,
    inquiry_id: int,
    *,
    kind: str,
    summary: str,
    outcome: str | None = None,
    occurred_at: datetime | None = None,
) -> tuple[Inquiry, InquiryActivity]:
    """A call, e-mail, meeting or note on the inquiry's timeline; dated now, or when it
    happened (not in the future, not before the inquiry). It moves the last contact and
    the score. Given its time, the same contact sent again returns the first."""
    inquiry = await locked(uow, viewer, inquiry_id)
    problems = Problems()
    if kind not in timeline.LOGGED_KINDS:
        problems.add("INVALID", "Log a call, an e-mail, a meeting or a note.", "kind")
    text = check_text(problems, summary, field="summary", max_length=SUMMARY_MAX, min_length=1,
                      label="The summary")  # fmt: skip
    result = check_label(problems, outcome or "", field="outcome", max_length=OUTCOME_MAX,
                         label="The outcome")  # fmt: skip
    when = check_moment(problems, occurred_at, field="occurredAt", label="The time")
    moment = now()
    if when is not None:
        created = inquiry.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        if when > moment + CLOCK_SKEW:
            problems.add("OUT_OF_RANGE", "It cannot have happened in the future.", "occurredAt")
        elif when < created - CLOCK_SKEW:
            problems.add("OUT_OF_RANGE", "It cannot have happened before the inquiry.",
                         "occurredAt")  # fmt: skip
    problems.raise_if_any()
    if when is not None:
        # The same contact sent again (a script's retry: same time, kind, summary, person)
        # is the one it logged.
        a = InquiryActivity
        same = (await uow.session.execute(select(a).where(
            a.inquiry_id == inquiry.id, a.kind == kind, a.occurred_at == when,
            a.summary == (text or ""), a.actor_id == viewer.user_id,
        ))).scalars().first()  # fmt: skip
        if same is not None:
            return inquiry, same
    activity = await timeline.add_activity(
        uow, inquiry, kind, text or "", actor_id=viewer.user_id, outcome=result or None,
        occurred_at=when,
    )  # fmt: skip
    inquiry.updated_at = moment
    await scoring.rescore(rt, uow, inquiry)
    audit.record(uow, "inquiry.activity", object_type="Inquiry",
                 object_ids=[inquiry.id, activity.id], details={"kind": kind})  # fmt: skip
    return inquiry, activity


def search(term: str) -> ColumnElement[bool]:
    """SQL: an inquiry whose name or e-mail contains ``term`` (any case)."""
    folded = term.strip().lower()
    return func.lower(Inquiry.name).contains(folded, autoescape=True) | func.coalesce(
        Inquiry.email_key, ""
    ).contains(folded, autoescape=True)
