"""Delivering queued e-mails, each once, with its unsubscribe link signed for its recipient."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

from sqlalchemy import select, update

from alumnet.domain.communication.emails import with_footer
from alumnet.domain.communication.notifications import unsubscribe_token
from alumnet.domain.data import files
from alumnet.domain.runtime import Runtime
from alumnet.observability import get_logger
from alumnet.persistence.db import write_patiently
from alumnet.persistence.models import Job, OutboundEmail, StoredFile


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Letter:
    """What a transport sends: a plain-text part, optionally an HTML alternative, extra
    headers (List-Unsubscribe) and attachments."""

    subject: str
    text: str
    message_id: str
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()


class MailSender(Protocol):
    async def send(self, *, to: str, letter: Letter) -> None: ...


class MailTransport(Protocol):
    def open(self) -> AbstractAsyncContextManager[MailSender]:
        """A sending session for a batch of messages (one SMTP connection)."""
        ...


log = get_logger(__name__)


class DeliveryFailed(RuntimeError):
    """Some e-mails of a job could not be sent; a retry sends only those."""


class MailServerUnavailable(ConnectionError):
    """The mail server could not be reached: the batch stops, to be retried whole."""


async def deliver(rt: Runtime, job: Job, transport: MailTransport) -> dict[str, Any]:
    """Send the job's e-mails (one, or a batch) over one session, each at most once: one
    already sent is skipped, so a retried batch sends only what failed. A message that
    fails does not stop the rest; an unreachable server does.

    No database connection is held while a message is on its way: the batch is read in one
    statement, and each message is marked sent, in its own short statement, once the server
    has taken it."""
    ids = [int(i) for i in job.args.get("email_ids") or [job.args["email_id"]]]
    async with rt.database.session() as session:
        found = await session.execute(
            select(OutboundEmail)
            .where(OutboundEmail.id.in_(ids), OutboundEmail.sent_at.is_(None))
            .order_by(OutboundEmail.id)
        )
        waiting = list(found.scalars())
    attached = await _attachments(rt.database, waiting)
    sent, failed = 0, 0
    causes: set[str] = set()
    async with transport.open() as sender:
        for position, email in enumerate(waiting):
            try:
                letter = _letter(rt, email, attached.get(email.attachment_file_id or 0))
                await sender.send(to=email.to_address, letter=letter)
            except MailServerUnavailable as exc:
                failed += len(waiting) - position
                causes.add(str(exc) or type(exc).__name__)
                log.warning("mail_server_unavailable", error=str(exc))
                break
            except Exception as exc:
                # Only the kind of failure is kept: a mail server's message may hold the
                # address.
                failed += 1
                causes.add(type(exc).__name__)
                log.warning("email_failed", email_id=email.id, error=type(exc).__name__)
                continue
            await _mark_sent(rt, email.id)
            sent += 1
    if failed:
        raise DeliveryFailed(
            f"{failed} of {len(ids)} e-mails could not be sent ({', '.join(sorted(causes))})"
        )
    return {"sent": sent, "skipped": len(ids) - len(waiting)}


ATTACHMENT_MAX = 10 * 1024 * 1024


async def _attachments(db: Any, emails: list[OutboundEmail]) -> dict[int, Attachment]:
    """The files the batch's e-mails carry (a certificate: a few kilobytes), read with the
    batch, before any message is on its way."""
    ids = {e.attachment_file_id for e in emails if e.attachment_file_id is not None}
    if not ids:
        return {}
    async with db.connect() as conn:
        stored = await conn.execute(
            select(StoredFile.id, StoredFile.name, StoredFile.content_type).where(
                StoredFile.id.in_(ids), StoredFile.size <= ATTACHMENT_MAX
            )
        )
    found = {}
    for file_id, name, content_type in stored.all():
        data = b"".join([chunk async for chunk in files.chunks(db, int(file_id))])
        found[int(file_id)] = Attachment(name=name, content_type=content_type, data=data)
    return found


def _letter(rt: Runtime, email: OutboundEmail, attachment: Attachment | None = None) -> Letter:
    text, html, headers = email.text_body, email.html_body, {}
    if email.unsubscribe_kind and email.user_id is not None:
        # Signed now, for this recipient: the stored body is shared by all of them.
        token = unsubscribe_token(rt.settings, email.user_id, email.unsubscribe_kind)
        url = f"{rt.settings.public_url}/unsubscribe?token={quote(token)}"
        text, html = with_footer(text, html, kind=email.unsubscribe_kind, url=url)
        headers = {"List-Unsubscribe": f"<{url}>",
                   "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}  # fmt: skip
    return Letter(
        subject=email.subject, text=text, html=html, headers=headers,
        message_id=f"<alumnet-{email.id}@alumnet>",
        attachments=(attachment,) if attachment is not None else (),
    )  # fmt: skip


async def _mark_sent(rt: Runtime, email_id: int) -> None:
    """Record that the server took the message; a busy database is waited for (failing the
    batch here would send the message again on the retry). What it said is forgotten: the
    links and tokens in it, and what it quoted of other people (a ticket, a message), are
    not kept once sent; who it went to, which template and when stay."""
    await write_patiently(
        rt.database,
        update(OutboundEmail)
        .where(OutboundEmail.id == email_id, OutboundEmail.sent_at.is_(None))
        .values(sent_at=datetime.now(UTC), subject="", text_body="", html_body=None),
    )
