"""An inquiry's timeline: every call, e-mail, meeting and note a counsellor logs, and what
the system did (submitted, assigned, stage moved, task added or done, converted), written
in the transaction of the change it tells of."""

from __future__ import annotations

from datetime import UTC, datetime

from alumnet.persistence.models import Inquiry, InquiryActivity
from alumnet.persistence.uow import UnitOfWork

# Logged by counsellors.
LOGGED_KINDS = ("call", "email", "meeting", "note")
# Written by the system.
SYSTEM_KINDS = ("submitted", "assigned", "stage", "task", "converted")


async def add_activity(
    uow: UnitOfWork,
    inquiry: Inquiry,
    kind: str,
    summary: str,
    *,
    actor_id: int | None,
    outcome: str | None = None,
    occurred_at: datetime | None = None,
) -> InquiryActivity:
    """One entry on the inquiry's timeline; a logged contact (not a system entry) also
    moves its ``last_activity_at`` (the lead score's recency and engagement read it)."""
    now = datetime.now(UTC)
    activity = InquiryActivity(
        inquiry_id=inquiry.id,
        kind=kind,
        summary=summary,
        outcome=outcome,
        actor_id=actor_id,
        occurred_at=occurred_at or now,
        created_at=now,
    )
    uow.session.add(activity)
    if kind in LOGGED_KINDS:
        moment = occurred_at or now
        if inquiry.last_activity_at is None or moment > inquiry.last_activity_at:
            inquiry.last_activity_at = moment
    await uow.session.flush()
    return activity
