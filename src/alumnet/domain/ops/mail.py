"""Delivering a queued e-mail, once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import Job, OutboundEmail


class MailTransport(Protocol):
    async def send(self, *, to: str, subject: str, text: str, message_id: str) -> None: ...


async def deliver(rt: Runtime, job: Job, transport: MailTransport) -> dict[str, Any]:
    email_id = int(job.args["email_id"])
    async with rt.database.session() as session:
        email = await session.get(OutboundEmail, email_id)
        if email is None:
            return {"skipped": "missing"}
        if email.sent_at is not None:
            return {"skipped": "already sent"}
        await transport.send(
            to=email.to_address,
            subject=email.subject,
            text=email.text_body,
            message_id=f"<alumnet-{email.id}@alumnet>",
        )
        email.sent_at = datetime.now(UTC)
        await session.commit()
        return {"emailId": email.id}
