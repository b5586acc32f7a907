"""Demo outreach: the at-risk lists of the active missions (computed by the nightly
refresh's own function from the seeded attendance and submissions), a call list per batch
for the SREs, and the calls of the last days with their outcomes and follow-ups (some due
today, some overdue, one done). Deterministic; dates relative to ``now``."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from alumnet.domain.identity.permissions import Role, Viewer
from alumnet.domain.outreach import calls, risk
from alumnet.persistence.models import (
    Batch,
    CallList,
    CallListEntry,
    CallLog,
    Enrollment,
    FollowUp,
    Mission,
)
from alumnet.persistence.uow import UnitOfWork

# (outcome, notes, what the student said, days until the follow-up or None)
CALLS = [
    ("picked_up", "Family emergency last week; back on track now.",
     "I will catch up on the two problem sets by Friday.", 2),
    ("no_answer", "Rang twice; left a voicemail.", "", None),
    ("picked_up", "Struggling with the pace; suggested the study group.",
     "I'll join Thursday's study group and ask my mentor for help.", 0),
    ("phone_off", "Phone switched off.", "", None),
    ("picked_up", "Working evening shifts; agreed a lighter week.",
     "I can check in every day but need more time for the labs.", -1),
    ("busy", "Line busy at 10:15 and 14:30.", "", None),
    ("reschedule", "Asked to be called back after exams.", "Please call me after Thursday.", 1),
    ("picked_up", "Laptop broke; pointed to the library loan scheme.",
     "I'll borrow a laptop from the library tomorrow.", -2),
    ("wrong_number", "The number belongs to someone else.", "", None),
    ("picked_up", "Lost motivation; talked through goals.", "I'll meet my mentor this week.", 3),
    ("no_answer", "No answer; sent an e-mail as well.", "", None),
    ("reschedule", "In a lecture; call tomorrow morning.", "", 1),
]  # fmt: skip


async def seed_outreach(
    uow: UnitOfWork, *, now: datetime, sres: list[int], missions: list[int]
) -> Counter[str]:
    """Refresh the at-risk lists of ``missions``, then give each of the first two batches a
    call list (to sre@ and sre2@ in turn) and work through the first list's top names.
    Skipped when a call list exists."""
    session = uow.session
    counts: Counter[str] = Counter()
    if not sres or (await session.execute(select(CallList.id).limit(1))).first():
        return counts
    for mission_id in missions:
        mission = await session.get(Mission, mission_id)
        if mission is not None:
            counts["at_risk"] += await risk.refresh_mission(uow, mission)
    batches = (
        await session.execute(
            select(Batch.id, Batch.code)
            .where(Batch.id.in_(select(Mission.batch_id).where(Mission.id.in_(missions))))
            .order_by(Batch.id)
        )
    ).all()
    rng = random.Random(23)  # noqa: S311  (demo data, not secrets)
    today = now.date()
    worked: list[tuple[int, int]] = []
    for n, (batch_id, code) in enumerate(batches[:2]):
        sre = sres[n % len(sres)]
        made, _ = await calls.generate(
            uow, Viewer(user_id=sre, roles=frozenset({Role.SRE})), mission_id=None,
            batch_id=batch_id, assigned_to_id=sre, limit=40 if n == 0 else 15,
            title=f"{code}: students to call this week",
        )  # fmt: skip
        made.created_at = now - timedelta(days=3, hours=2)
        worked.append((made.id, sre))
    if not worked:
        return counts
    call_list, sre = worked[0]
    entries = (
        await session.execute(
            select(CallListEntry.id, CallListEntry.enrollment_id, CallListEntry.student_id)
            .where(CallListEntry.call_list_id == call_list)
            .order_by(CallListEntry.priority)
            .limit(len(CALLS))
        )
    ).all()  # fmt: skip
    missions_of = await _missions_of(uow, [e.enrollment_id for e in entries])
    logs: list[dict[str, Any]] = []
    # Fewer students on the list than calls (a small demo, a quiet week): the earliest
    # calls are left out, never today's.
    made_calls = CALLS[len(CALLS) - len(entries) :]
    skipped = len(CALLS) - len(made_calls)
    for n, entry in enumerate(entries):
        i = n + skipped
        outcome, notes, said, due_in = CALLS[i]
        # The calls of the last three days, the most urgent first; the last four today.
        if i < len(CALLS) - 4:
            at = now - timedelta(days=3 - i * 3 // (len(CALLS) - 4), hours=rng.randrange(1, 6))
        else:
            midnight = datetime.combine(now.date(), time(), now.tzinfo)
            at = max(midnight, now - timedelta(minutes=25 * (len(CALLS) - i)))
        logs.append({"entry_id": entry.id, "enrollment_id": entry.enrollment_id,
                     "mission_id": missions_of[entry.enrollment_id],
                     "student_id": entry.student_id, "caller_id": sre, "outcome": outcome,
                     "notes": notes, "student_response": said, "created_at": at})  # fmt: skip
        counts["calls"] += 1
    made_logs = await session.execute(
        insert(CallLog).returning(CallLog.id, sort_by_parameter_order=True), logs
    )
    follow_ups = []
    for (log_id,), log, (_, _, said, due_in) in zip(made_logs.all(), logs, made_calls, strict=True):
        if due_in is None:
            continue
        due = today + timedelta(days=due_in)
        done = due_in == -2  # one overdue follow-up done, the other still open
        follow_ups.append({"call_log_id": log_id, "enrollment_id": log["enrollment_id"],
                           "student_id": log["student_id"], "assigned_to_id": sre,
                           "due_on": due, "note": said or log["notes"],
                           "status": "done" if done else "open",
                           "closed_at": datetime.combine(due, time(15), now.tzinfo)
                           if done else None,
                           "created_at": log["created_at"]})  # fmt: skip
        counts["follow_ups"] += 1
    if follow_ups:
        await session.execute(insert(FollowUp), follow_ups)
    await session.execute(
        update(CallListEntry)
        .where(CallListEntry.id.in_([e.id for e in entries]))
        .values(status="called")
    )
    return counts


async def _missions_of(uow: UnitOfWork, enrollments: list[int]) -> dict[int, int]:
    found = await uow.session.execute(
        select(Enrollment.id, Enrollment.mission_id).where(Enrollment.id.in_(enrollments))
    )
    return {int(e): int(m) for e, m in found.all()}
