"""Notifications: one row per user an event concerns, in the app and by e-mail, as each
user prefers per kind and channel (in-app, e-mail, daily digest).

``notify`` is set-based: whatever the number of recipients, it takes one INSERT … SELECT
for the notifications, one for the e-mails and one for their jobs, and the e-mails are
sent by the e-mail job after commit. The unsubscribe link of each e-mail is signed when
it is sent, so the bodies written here are the same for every recipient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from sqlalchemy import (
    BigInteger,
    Boolean,
    String,
    Text,
    and_,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased

from alumnet.config import Settings
from alumnet.domain.communication import emails
from alumnet.domain.errors import DomainError, Problems
from alumnet.domain.identity import audit
from alumnet.domain.identity.mail import queue_sending
from alumnet.domain.identity.permissions import Viewer
from alumnet.domain.runtime import Runtime
from alumnet.persistence.db import insert_or_ignore
from alumnet.persistence.models import (
    Notification,
    NotificationPreference,
    OutboundEmail,
    User,
)
from alumnet.persistence.models.base import UTCDateTime
from alumnet.persistence.uow import UnitOfWork

DIGEST_JOB = "communication.digest"
DIGEST = "digest"  # the unsubscribe kind of a digest e-mail: no more digests at all
UNSUBSCRIBE_AUDIENCE = "alumnet-unsubscribe"
DIGEST_ITEMS = 50
DIGEST_USERS_PER_TRANSACTION = 500


@dataclass(frozen=True)
class Channels:
    in_app: bool
    email: bool
    digest: bool


# What a user gets until they choose otherwise.
DEFAULTS: dict[str, Channels] = {
    "notice": Channels(in_app=True, email=True, digest=False),
    "notice_reminder": Channels(in_app=True, email=True, digest=False),
    "announcement": Channels(in_app=True, email=False, digest=True),
    "message": Channels(in_app=True, email=False, digest=True),
    "ticket": Channels(in_app=True, email=True, digest=False),
    "integrity": Channels(in_app=True, email=True, digest=False),
    "verification": Channels(in_app=True, email=True, digest=False),
    # For those who decide integrity cases: an appeal or a flag waiting for a decision.
    "review": Channels(in_app=True, email=False, digest=True),
    # Points awarded or deducted by hand, with the reason.
    "points": Channels(in_app=True, email=False, digest=True),
    # Work graded, or returned for revision.
    "grade": Channels(in_app=True, email=True, digest=False),
    # A certificate of completion, with the PDF attached to the e-mail.
    "certificate": Channels(in_app=True, email=True, digest=False),
    # Reminders and alerts, sent by the scheduler once each (see ``reminders``).
    "assignment": Channels(in_app=True, email=False, digest=True),
    "deadline": Channels(in_app=True, email=True, digest=False),
    "attendance": Channels(in_app=True, email=True, digest=False),
    "at_risk": Channels(in_app=True, email=False, digest=True),
    "follow_up": Channels(in_app=True, email=True, digest=False),
    # Careers: your posting approved, rejected or closed; an application's news (for the
    # applicant and the poster); a referral to a posting; new postings matching a search.
    "job_posting": Channels(in_app=True, email=True, digest=False),
    "application": Channels(in_app=True, email=True, digest=False),
    "referral": Channels(in_app=True, email=True, digest=False),
    "job_match": Channels(in_app=True, email=False, digest=True),
    # Events: one you registered for changed or cancelled, a place come free for you, you
    # registered by staff; and the reminders a day and an hour before. (A new event is
    # announced as an announcement.)
    "event": Channels(in_app=True, email=True, digest=False),
    "event_reminder": Channels(in_app=True, email=True, digest=False),
    # Mentorship: a request to you, its answer, a request expired, a mentorship ended.
    "mentorship": Channels(in_app=True, email=True, digest=False),
    # A sign-in from a new device (identity/sessions.py): the e-mail about it is always
    # sent by identity itself, whatever the preferences; this is the in-app notice.
    "security": Channels(in_app=True, email=False, digest=False),
    # Community: a mention of you; a comment on your post or a reply to your comment;
    # moderation news (for authors, and new reports for moderators); reference requests and
    # their answers and reminders; volunteering confirmed, declined or recorded for you.
    "mention": Channels(in_app=True, email=False, digest=True),
    "comment": Channels(in_app=True, email=False, digest=True),
    "moderation": Channels(in_app=True, email=True, digest=False),
    "reference": Channels(in_app=True, email=True, digest=False),
    "volunteering": Channels(in_app=True, email=False, digest=True),
    # Giving: your gift confirmed or declined, its receipt, a pledge instalment coming due;
    # for giving staff, a self-reported gift to confirm and a pledge that lapsed.
    "giving": Channels(in_app=True, email=True, digest=False),
    # Academics: for academics staff and the recipient's managers, very negative feedback;
    # for faculty, a new offering of theirs.
    "academics": Channels(in_app=True, email=True, digest=False),
    # Admissions: an inquiry assigned to you, a follow-up task of yours falling due.
    "admissions": Channels(in_app=True, email=True, digest=False),
    # Ops: a webhook endpoint you registered was disabled after a day of failed deliveries.
    "webhooks": Channels(in_app=True, email=True, digest=False),
}
KINDS = tuple(DEFAULTS)


def channel(user_id: int) -> str:
    """The pub/sub channel of one user's new notifications."""
    return f"user:{user_id}:notifications"


@dataclass(frozen=True)
class Event:
    """What happened, as the recipients will read it."""

    kind: str
    title: str
    body: str = ""
    subject_type: str | None = None
    subject_id: int | None = None
    # The e-mail's own text, when it should say more than the notification (a notice's
    # full body); defaults to the body. ``email_html`` is trusted, already-safe HTML.
    email_text: str | None = None
    email_html: str | None = None


def _with_channels(kind: str, recipients: Any) -> tuple[Any, tuple[Any, Any, Any]]:
    """The active users among ``recipients`` (id and address), and their in-app, digest
    and e-mail choices for ``kind`` as SQL expressions (the defaults where unchosen)."""
    defaults = DEFAULTS[kind]
    pref = aliased(NotificationPreference)
    people = (
        select(User.id, User.email)
        .outerjoin(pref, and_(pref.user_id == User.id, pref.kind == kind))
        .where(User.id.in_(recipients), User.status == "active")
    )
    return people, (
        func.coalesce(pref.in_app, literal(defaults.in_app, Boolean)),
        func.coalesce(pref.digest, literal(defaults.digest, Boolean)),
        func.coalesce(pref.email, literal(defaults.email, Boolean)),
    )


async def notify(uow: UnitOfWork, recipients: Any, event: Event) -> int:
    """Notify active users among ``recipients`` (a list of ids or a SELECT of ids) on the
    channels they chose for ``event.kind``; returns how many were notified on any channel."""
    if isinstance(recipients, Sequence) and not recipients:
        return 0
    people, (in_app, digest, by_email) = _with_channels(event.kind, recipients)
    now = datetime.now(UTC)
    at = literal(now, UTCDateTime())
    # One line: it becomes an e-mail's Subject header, which may not hold a line break.
    one_line = " ".join(event.title.split())[:200]
    title = literal(one_line, String)
    rows = people.with_only_columns(
        User.id, literal(event.kind, String), title, literal(event.body, Text),
        literal(event.subject_type, String), literal(event.subject_id, BigInteger), in_app,
        digest, at,
    ).where(or_(in_app, digest))  # fmt: skip
    added = await uow.session.execute(
        insert(Notification)
        .from_select(
            ["user_id", "kind", "title", "body", "subject_type", "subject_id", "in_app",
             "digest_pending", "created_at"],
            rows,
        )
        .returning(Notification.id, Notification.user_id, Notification.in_app)
    )  # fmt: skip
    reached: set[int] = set()
    for nid, uid, visible in added.all():
        reached.add(int(uid))
        if visible:
            uow.publish(channel(int(uid)), {"id": int(nid)})
    text, html = emails.render_notification(
        title=one_line, text=event.email_text or event.body, html=event.email_html
    )
    mails = people.with_only_columns(
        User.id, User.email, title, literal(text, Text), literal(html, Text),
        literal(f"notification.{event.kind}", String), literal(event.kind, String), at,
    ).where(by_email)  # fmt: skip
    sent = await uow.session.execute(
        insert(OutboundEmail)
        .from_select(
            ["user_id", "to_address", "subject", "text_body", "html_body", "template",
             "unsubscribe_kind", "created_at"],
            mails,
        )
        .returning(OutboundEmail.id, OutboundEmail.user_id)
    )  # fmt: skip
    email_ids = []
    for row in sent.all():
        email_ids.append(int(row.id))
        reached.add(int(row.user_id or 0))
    await queue_sending(uow, email_ids)
    return len(reached)


@dataclass(frozen=True)
class Item:
    """One recipient's own notification, for ``notify_each``."""

    user_id: int
    title: str
    body: str = ""
    subject_type: str | None = None
    subject_id: int | None = None
    # A stored file the e-mail carries (a certificate).
    attachment_file_id: int | None = None


async def notify_each(uow: UnitOfWork, kind: str, items: Sequence[Item]) -> int:
    """Like ``notify``, when each recipient's notification says something of its own:
    one SELECT of the recipients' channels and one INSERT each for the notifications and
    the e-mails, whatever their number. Returns how many were notified on any channel."""
    if not items:
        return 0
    people, channels = _with_channels(kind, {i.user_id for i in items})
    found = (await uow.session.execute(people.add_columns(*channels))).all()
    chosen = {int(r[0]): (str(r[1]), bool(r[2]), bool(r[3]), bool(r[4])) for r in found}
    now = datetime.now(UTC)
    rows, mails = [], []
    for item in items:
        if item.user_id not in chosen:
            continue
        address, in_app, digest, by_email = chosen[item.user_id]
        title = " ".join(item.title.split())[:200]
        if in_app or digest:
            rows.append(
                {"user_id": item.user_id, "kind": kind, "title": title, "body": item.body,
                 "subject_type": item.subject_type, "subject_id": item.subject_id,
                 "in_app": in_app, "digest_pending": digest, "created_at": now}
            )  # fmt: skip
        if by_email:
            text, html = emails.render_notification(title=title, text=item.body, html=None)
            mails.append(
                {"user_id": item.user_id, "to_address": address, "subject": title,
                 "text_body": text, "html_body": html, "template": f"notification.{kind}",
                 "unsubscribe_kind": kind, "attachment_file_id": item.attachment_file_id,
                 "created_at": now}
            )  # fmt: skip
    reached: set[int] = set()
    if rows:
        added = await uow.session.execute(
            insert(Notification).returning(
                Notification.id, Notification.user_id, Notification.in_app
            ),
            rows,
        )
        for nid, uid, visible in added.all():
            reached.add(int(uid))
            if visible:
                uow.publish(channel(int(uid)), {"id": int(nid)})
    if mails:
        sent = await uow.session.execute(
            insert(OutboundEmail).returning(OutboundEmail.id, OutboundEmail.user_id), mails
        )
        email_ids = []
        for row in sent.all():
            email_ids.append(int(row.id))
            reached.add(int(row.user_id or 0))
        await queue_sending(uow, email_ids)
    return len(reached)


def unread_of(user_id: int) -> Any:
    return and_(
        Notification.user_id == user_id,
        Notification.in_app.is_(True),
        Notification.read_at.is_(None),
    )


async def mark_read(
    uow: UnitOfWork, viewer: Viewer, ids: list[int] | None, *, everything: bool
) -> int:
    """Mark some (or all) of your notifications read; returns how many are still unread.
    An id that names none of yours (another's is as if it did not exist) is NOT_FOUND at
    its entry of ``ids``, and nothing is marked."""
    me = viewer.require_user()
    if not everything and not ids:
        raise DomainError.of("REQUIRED", "Name the notifications, or ask for all.", "ids")
    if ids is not None and len(ids) > 1000:
        raise DomainError.of("TOO_MANY", "At most 1,000 at a time.", "ids")
    if not everything and ids:
        yours = set(
            (
                await uow.session.execute(
                    select(Notification.id).where(
                        Notification.user_id == me,
                        Notification.in_app.is_(True),
                        Notification.id.in_(ids),
                    )
                )
            ).scalars()
        )
        problems = Problems()
        for index, given in enumerate(ids):
            if given not in yours:
                problems.add("NOT_FOUND", "No such notification of yours.", ("ids", str(index)))
        problems.raise_if_any()
    statement = update(Notification).where(unread_of(me)).values(read_at=datetime.now(UTC))
    if not everything:
        statement = statement.where(Notification.id.in_(ids or []))
    await uow.session.execute(statement)
    left = await uow.session.execute(select(func.count()).where(unread_of(me)))
    return int(left.scalar_one())


async def set_preferences(
    uow: UnitOfWork, viewer: Viewer, choices: list[tuple[str, Channels]]
) -> None:
    me = viewer.require_user()
    seen: set[str] = set()
    problems = Problems()
    for index, (kind, _) in enumerate(choices):
        where = ("preferences", str(index), "kind")
        if kind not in DEFAULTS:
            problems.add("INVALID", f"Unknown notification kind {kind[:64]!r}.", where)
        elif kind in seen:
            problems.add("INVALID", f"{kind!r} is given twice.", where)
        seen.add(kind)
    problems.raise_if_any()
    for kind, chosen in choices:
        await _save(uow, me, kind, chosen)
    audit.record(
        uow, "notification.preferences", object_type="User", object_ids=[me],
        details={"kinds": sorted(seen)},
    )  # fmt: skip


async def _save(uow: UnitOfWork, user_id: int, kind: str, chosen: Channels) -> None:
    values = {"in_app": chosen.in_app, "email": chosen.email, "digest": chosen.digest}
    added = await insert_or_ignore(
        uow.session, NotificationPreference,
        {"user_id": user_id, "kind": kind, **values}, ["user_id", "kind"],
    )  # fmt: skip
    if not added:
        await uow.session.execute(
            update(NotificationPreference)
            .where(NotificationPreference.user_id == user_id, NotificationPreference.kind == kind)
            .values(**values)
        )


async def preferences(executor: Any, user_id: int) -> dict[str, tuple[Channels, bool]]:
    """Every kind's channels for this user, and whether they are the defaults (through a
    session or a connection)."""
    p = NotificationPreference
    rows = await executor.execute(
        select(p.kind, p.in_app, p.email, p.digest).where(p.user_id == user_id)
    )
    chosen = {r.kind: Channels(bool(r.in_app), bool(r.email), bool(r.digest)) for r in rows}
    return {k: (chosen.get(k, d), k not in chosen) for k, d in DEFAULTS.items()}


def unsubscribe_token(settings: Settings, user_id: int, kind: str) -> str:
    """A signed link token that turns off one kind's e-mails (or digests) for one user.
    It does not expire: old e-mails keep working, and all it can do is opt out."""
    claims = {"sub": str(user_id), "kind": kind, "aud": UNSUBSCRIBE_AUDIENCE}
    return jwt.encode(claims, settings.secret_key, algorithm="HS256")


def read_unsubscribe_token(settings: Settings, token: str) -> tuple[int, str] | None:
    try:
        claims = jwt.decode(
            token, settings.secret_key, algorithms=["HS256"], audience=UNSUBSCRIBE_AUDIENCE,
            options={"require": ["sub", "kind", "aud"]},
        )  # fmt: skip
        user_id, kind = int(claims["sub"]), str(claims["kind"])
    except (jwt.PyJWTError, TypeError, ValueError):
        return None
    if kind != DIGEST and kind not in DEFAULTS:
        return None
    return user_id, kind


async def unsubscribe(uow: UnitOfWork, user_id: int, kind: str) -> bool:
    """No more e-mails of this kind (or no more digests); False if the user is gone."""
    if await uow.session.get(User, user_id) is None:
        return False
    current = await preferences(uow.session, user_id)
    kinds = list(DEFAULTS) if kind == DIGEST else [kind]
    for k in kinds:
        was = current[k][0]
        off = (
            Channels(was.in_app, was.email, False)
            if kind == DIGEST
            else Channels(was.in_app, False, was.digest)
        )
        await _save(uow, user_id, k, off)
    uow.actor_id = user_id
    audit.record(
        uow, "notification.unsubscribe", object_type="User", object_ids=[user_id],
        details={"kind": kind},
    )  # fmt: skip
    return True


async def send_digests(rt: Runtime) -> dict[str, Any]:
    """Each user with pending digest items gets one e-mail listing them (newest first, at
    most ``DIGEST_ITEMS``), in transactions of a few hundred users."""
    users = e_mails = 0
    after = 0
    while True:
        async with rt.transaction() as uow:
            batch = [
                int(u)
                for u in (
                    await uow.session.execute(
                        select(Notification.user_id)
                        .where(Notification.digest_pending.is_(True), Notification.user_id > after)
                        .group_by(Notification.user_id)
                        .order_by(Notification.user_id)
                        .limit(DIGEST_USERS_PER_TRANSACTION)
                    )
                ).scalars()
            ]
            if not batch:
                break
            after = batch[-1]
            users += len(batch)
            n = Notification
            listed = (
                select(n.id, n.user_id, n.title, n.body, n.created_at)
                .where(n.digest_pending.is_(True), n.user_id.in_(batch))
                .order_by(n.user_id, n.id.desc())
            )
            pending = (await uow.session.execute(listed)).all()
            addresses = dict(
                (
                    await uow.session.execute(
                        select(User.id, User.email).where(
                            User.id.in_(batch), User.status == "active"
                        )
                    )
                ).all()
            )
            items: dict[int, list[Any]] = {}
            for row in pending:
                items.setdefault(int(row.user_id), []).append(row)
            now = datetime.now(UTC)
            mails = []
            for uid, rows in items.items():
                if uid not in addresses:
                    continue
                text, html = emails.render_digest(
                    rows[:DIGEST_ITEMS], more=len(rows) - DIGEST_ITEMS
                )
                mails.append(
                    {"user_id": uid, "to_address": addresses[uid],
                     "subject": f"alumnet: {len(rows)} new since yesterday", "text_body": text,
                     "html_body": html, "template": "notification.digest",
                     "unsubscribe_kind": DIGEST, "created_at": now}
                )  # fmt: skip
            if mails:
                ids = (
                    await uow.session.execute(
                        insert(OutboundEmail).returning(OutboundEmail.id), mails
                    )
                ).scalars()
                await queue_sending(uow, [int(i) for i in ids])
                e_mails += len(mails)
            # Only the rows read above: one committed meanwhile waits for the next digest.
            await uow.session.execute(
                update(Notification)
                .where(Notification.id.in_([int(r.id) for r in pending]))
                .values(digest_pending=False)
            )
    return {"users": users, "emails": e_mails}
