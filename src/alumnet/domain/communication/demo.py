"""Demo notices and tickets of a running programme: a code of conduct nearly everyone
acknowledged weeks ago, this week's notices still being acknowledged (student@ has one to
acknowledge), and tickets to the SREs and to mentors in every state, answered in
realistic times (one still waiting since yesterday). Deterministic; bulk inserts; dates
relative to ``now``."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Collection
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import insert, select

from alumnet.domain.communication.notices import REACTIONS, render
from alumnet.persistence.models import (
    Batch,
    Enrollment,
    MentorAssignment,
    Mission,
    Notice,
    NoticeAck,
    Ticket,
    TicketMessage,
)
from alumnet.persistence.uow import UnitOfWork

# (batch or mission code, kind, priority, title, body, posted days ago (None: when the
# batch began), deadline in days from posting, share acknowledged)
NOTICES: list[tuple[str, str, str, str, str, int | None, int, float]] = [
    ("B2026A", "guideline", "high", "Code of conduct",
     "Be kind, be honest, hand in your own work. Read the **code of conduct** and "
     "acknowledge it in your first week.", None, 7, 0.97),
    ("B2026B", "guideline", "high", "Code of conduct",
     "Be kind, be honest, hand in your own work. Read the **code of conduct** and "
     "acknowledge it in your first week.", None, 7, 0.9),
    ("B2026A-FND", "notice", "normal", "Mid-programme review next week",
     "Each of you meets your mentor next week to review your progress. Book a slot "
     "with them **by Friday**.", 3, 7, 0.55),
    ("B2026A-WEB", "notice", "urgent", "Lab rooms change on Monday",
     "From Monday the web labs move to **room 2.14**. The online sessions do not change.",
     1, 3, 0.3),
]  # fmt: skip
TICKETS = [
    ("sre", "Certificate for the orientation", "I completed the orientation but my "
     "certificate shows my name misspelt.", "Fixed: download it again from your profile."),
    ("sre", "Cannot upload my lab", "The upload stops at 90% every time.",
     "Files are limited to 20 MB: zip the folder without node_modules."),
    ("sre", "Change of phone number", "Please update my phone number, my old SIM is gone.",
     "Done. You can also change it yourself in your profile."),
    ("mentor", "Extension for problem set", "I was ill this week; may I hand in on Monday?",
     "Yes, Monday is fine. Get well soon."),
    ("sre", "Missed attendance yesterday", "The app was down when I tried to check in.",
     "Your mentor has corrected yesterday's attendance."),
    ("mentor", "Question about feedback", "What did you mean by 'check the edge cases'?",
     "Empty lists and negative numbers: try them in your tests."),
    ("sre", "Moving to the autumn intake", "Can I defer to the next batch?", None),
    ("mentor", "Project partner", "My project partner stopped replying. What should I do?",
     None),
]  # fmt: skip
# What became of each: closed, or answered (those without an answer wait, open).
STATES = ["closed", "answered", "closed", "answered", "closed", "answered", "open", "open"]


async def seed_notices(
    uow: UnitOfWork, *, now: datetime, author: int, skip: Collection[int] = ()
) -> Counter[str]:
    """The notices with their acknowledgements (those in ``skip`` have not acknowledged
    this week's). Skipped when any notice exists."""
    session = uow.session
    counts: Counter[str] = Counter()
    if (await session.execute(select(Notice.id).limit(1))).first():
        return counts
    rng = random.Random(24)  # noqa: S311  (demo data, not secrets)
    batches = dict((await session.execute(select(Batch.code, Batch.id))).all())
    missions = dict((await session.execute(select(Mission.code, Mission.id))).all())
    starts = dict((await session.execute(select(Batch.id, Batch.starts_on))).all())
    for code, kind, priority, title, body, posted, deadline, share in NOTICES:
        batch_id, mission_id = batches.get(code), missions.get(code)
        if batch_id is None and mission_id is None:
            continue
        if posted is None:
            at = datetime.combine(starts[batch_id or 0], time(9), UTC)
        else:
            at = now - timedelta(days=posted, hours=2)
        made = await session.execute(
            insert(Notice).returning(Notice.id),
            {"mission_id": mission_id, "batch_id": batch_id, "kind": kind, "title": title,
             "body_markdown": body, "body_html": render(body), "priority": priority,
             "ack_deadline": at + timedelta(days=deadline), "author_id": author,
             "created_at": at},
        )  # fmt: skip
        notice_id = int(made.scalar_one())
        where = (
            Enrollment.mission_id == mission_id
            if mission_id is not None
            else Enrollment.mission_id.in_(select(Mission.id).where(Mission.batch_id == batch_id))
        )
        audience = sorted(
            set(
                (
                    await session.execute(
                        select(Enrollment.student_id).where(where, Enrollment.status == "active")
                    )
                ).scalars()
            )
        )
        recent = posted is not None
        span = min(now - at, timedelta(days=deadline))
        acks: list[dict[str, Any]] = [
            {"notice_id": notice_id, "user_id": sid,
             "reaction": rng.choice(REACTIONS) if rng.random() < 0.2 else None,
             "acknowledged_at": at + span * rng.random() ** 2}
            for sid in audience
            if rng.random() < share and not (recent and sid in skip)
        ]  # fmt: skip
        if acks:
            await session.execute(insert(NoticeAck), acks)
        counts["notices"] += 1
        counts["acknowledgements"] += len(acks)
        counts["audience"] += len(audience)
    return counts


async def seed_tickets(
    uow: UnitOfWork, *, now: datetime, sres: list[int], skip: Collection[int] = ()
) -> int:
    """Tickets from students (none from those in ``skip``), to the SREs or to their
    mentor; skipped when more than one ticket exists. Returns how many it opened."""
    session = uow.session
    if not sres or len((await session.execute(select(Ticket.id).limit(2))).all()) > 1:
        return 0
    rng = random.Random(25)  # noqa: S311  (demo data, not secrets)
    mentored = [
        (int(s), int(m))
        for s, m in (
            await session.execute(
                select(MentorAssignment.student_id, MentorAssignment.mentor_id)
                .order_by(MentorAssignment.id)
                .limit(400)
            )
        ).all()
        if int(s) not in skip
    ]
    if not mentored:
        return 0
    made = 0
    for n, ((queue, subject, asked, answer), state) in enumerate(zip(TICKETS, STATES, strict=True)):
        student, mentor = mentored[(n * 37) % len(mentored)]
        opened = now - timedelta(days=len(TICKETS) - n, hours=rng.randrange(1, 10))
        if state == "open" and answer is None:
            opened = now - timedelta(hours=26 + 3 * n)  # waiting since yesterday
        replied = opened + timedelta(minutes=rng.randrange(20, 600)) if answer else None
        handler = sres[n % len(sres)] if queue == "sre" and replied else None
        closed = replied + timedelta(hours=5) if state == "closed" and replied else None
        last = closed or replied or opened
        ticket = await session.execute(
            insert(Ticket).returning(Ticket.id),
            {"student_id": student, "queue": queue,
             "mentor_id": mentor if queue == "mentor" else None, "handler_id": handler,
             "subject": subject, "status": state if replied else "open",
             "created_at": opened, "first_reply_at": replied,
             "first_reply_seconds": int((replied - opened).total_seconds()) if replied else None,
             "last_activity_at": last, "closed_at": closed},
        )  # fmt: skip
        ticket_id = int(ticket.scalar_one())
        messages = [{"ticket_id": ticket_id, "author_id": student, "body": asked,
                     "created_at": opened}]  # fmt: skip
        if answer is not None and replied is not None:
            by = mentor if queue == "mentor" else handler
            messages.append({"ticket_id": ticket_id, "author_id": by, "body": answer,
                             "created_at": replied})  # fmt: skip
        await session.execute(insert(TicketMessage), messages)
        made += 1
    return made
