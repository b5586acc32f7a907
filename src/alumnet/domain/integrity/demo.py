"""Demo integrity cases, besides Foundations' warning under appeal: open flags raised by a
mentor, an SRE and a manager, and a ban (with a penalty) whose appeal waits in the
managers' queue. Made through the domain's own functions, so that the enrolment's access,
the ledger, the audit trail and the notifications agree."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from sqlalchemy import select

from alumnet.domain.identity.permissions import Role, Viewer
from alumnet.domain.integrity import decisions
from alumnet.persistence.models import Enrollment, IntegrityFlag, MentorAssignment, Mission
from alumnet.persistence.uow import UnitOfWork

FLAGS = [
    # (mission code, habit of the student, who raises it, kind, evidence)
    ("B2026A-FND", "slipping", Role.MENTOR, "repeated_late_work",
     "Three problem sets in a row handed in late or not at all, after a strong start."),
    ("B2026A-WEB", "irregular", Role.SRE, "cheating",
     "The lab's automated check found the same unusual variable names as another student's."),
    ("B2026B-FND", "irregular", Role.MANAGER, "other",
     "Asked classmates to check in for them on days they were away."),
]  # fmt: skip


async def seed_integrity(
    uow: UnitOfWork,
    *,
    today: date,
    habits: Mapping[int, str],
    staff: Mapping[Role, int],
    spare: frozenset[int] = frozenset(),
) -> int:
    """Three open flags and a ban under appeal; ``habits`` (student id: regular, irregular,
    slipping or gone) choose whom, never anyone in ``spare``. Skipped when any flag of
    these missions exists besides Foundations' warning; returns how many flags it raised."""
    session = uow.session
    codes = {code for code, *_ in FLAGS}
    missions = dict(
        (
            await session.execute(select(Mission.code, Mission.id).where(Mission.code.in_(codes)))
        ).all()
    )
    if len(missions) < len(codes):
        return 0
    raised = await session.execute(
        select(IntegrityFlag.id).where(
            IntegrityFlag.mission_id.in_([missions["B2026A-WEB"], missions["B2026B-FND"]])
        )
    )
    if raised.first():
        return 0
    taken = set(spare)

    async def pick(code: str, habit: str) -> tuple[int, int, int]:
        """An active enrolment of a student of that habit: (enrollment, student, mentor)."""
        found = await session.execute(
            select(Enrollment.id, Enrollment.student_id, MentorAssignment.mentor_id)
            .join(MentorAssignment, MentorAssignment.enrollment_id == Enrollment.id)
            .where(Enrollment.mission_id == missions[code], Enrollment.status == "active")
            .order_by(Enrollment.id.desc())
        )
        for eid, sid, mentor in found.all():
            if habits.get(int(sid)) == habit and int(sid) not in taken:
                taken.add(int(sid))
                return int(eid), int(sid), int(mentor)
        raise LookupError(f"no {habit} student in {code}")

    made = 0
    for code, habit, role, kind, evidence in FLAGS:
        enrollment, _, mentor = await pick(code, habit)
        by = mentor if role == Role.MENTOR else staff[role]
        await decisions.raise_flag(
            uow, Viewer(user_id=by, roles=frozenset({role})), enrollment, kind=kind,
            evidence=evidence,
        )  # fmt: skip
        made += 1
    # A ban until two weeks from today, with a penalty, and the student's appeal.
    enrollment, student, mentor = await pick("B2026A-WEB", "regular")
    flag = await decisions.raise_flag(
        uow, Viewer(user_id=mentor, roles=frozenset({Role.MENTOR})), enrollment,
        kind="plagiarism",
        evidence="The lab report's write-up is a tutorial's text, word for word, uncited.",
    )  # fmt: skip
    manager = Viewer(user_id=staff[Role.MANAGER], roles=frozenset({Role.MANAGER}))
    ban = await decisions.decide(uow, manager, enrollment, decisions.DecisionInput(
        kind="ban", reason="Copied work handed in as one's own, a second time.",
        ban_ends_on=today + timedelta(days=14), penalty_points=5, flag_id=flag.id,
    ))  # fmt: skip
    await decisions.submit_appeal(
        uow, Viewer(user_id=student, roles=frozenset({Role.STUDENT})), ban.id,
        statement="I followed the tutorial to learn, and forgot to say so. The code is mine: "
        "my commits show how I built it. Could a warning do instead?",
    )  # fmt: skip
    return made + 1
