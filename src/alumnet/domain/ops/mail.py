"""Delivering queued e-mails, each once, with its unsubscribe link signed for its recipient."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

from alumnet.domain.communication.emails import with_footer
from alumnet.domain.communication.notifications import unsubscribe_token
from alumnet.domain.runtime import Runtime
from alumnet.observability import get_logger
from alumnet.persistence.models import Job, OutboundEmail


@dataclass(frozen=True)
class Letter:
    """What a transport sends: a plain-text part, optionally an HTML alternative, and
    extra headers (List-Unsubscribe)."""

    subject: str
    text: str
    message_id: str
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class MailTransport(Protocol):
    async def send(self, *, to: str, letter: Letter) -> None: ...


log = get_logger(__name__)


class DeliveryFailed(RuntimeError):
    """Some e-mails of a job could not be sent; a retry sends only those."""


async def deliver(rt: Runtime, job: Job, transport: MailTransport) -> dict[str, Any]:
    """Send the job's e-mails (one, or a batch), each at most once: one already sent is
    skipped, so a retried batch sends only what failed. A failure does not stop the rest
    of the batch."""
    ids = [int(i) for i in job.args.get("email_ids") or [job.args["email_id"]]]
    sent, skipped, failed = 0, 0, 0
    causes: set[str] = set()
    for email_id in ids:
        try:
            if await _deliver_one(rt, email_id, transport):
                sent += 1
            else:
                skipped += 1
        except Exception as exc:
            # Only the kind of failure is kept: a mail server's message may hold the address.
            failed += 1
            causes.add(type(exc).__name__)
            log.warning("email_failed", email_id=email_id, error=type(exc).__name__)
    if failed:
        raise DeliveryFailed(
            f"{failed} of {len(ids)} e-mails could not be sent ({', '.join(sorted(causes))})"
        )
    return {"sent": sent, "skipped": skipped}


async def _deliver_one(rt: Runtime, email_id: int, transport: MailTransport) -> bool:
    async with rt.database.session() as session:
        email = await session.get(OutboundEmail, email_id)
        if email is None or email.sent_at is not None:
            return False
        text, html, headers = email.text_body, email.html_body, {}
        if email.unsubscribe_kind and email.user_id is not None:
            # Signed now, for this recipient: the stored body is shared by all of them.
            token = unsubscribe_token(rt.settings, email.user_id, email.unsubscribe_kind)
            url = f"{rt.settings.public_url}/unsubscribe?token={quote(token)}"
            text, html = with_footer(text, html, kind=email.unsubscribe_kind, url=url)
            headers = {"List-Unsubscribe": f"<{url}>",
                       "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}  # fmt: skip
        letter = Letter(
            subject=email.subject, text=text, html=html, headers=headers,
            message_id=f"<alumnet-{email.id}@alumnet>",
        )  # fmt: skip
        await transport.send(to=email.to_address, letter=letter)
        email.sent_at = datetime.now(UTC)
        await session.commit()
        return True
