"""Bulk matching for a mission: a mentor for every student of the mission who has none,
balancing load within each mentor's capacity and maximising the total match score, as an
assignment problem solved by SciPy's ``linear_sum_assignment`` (each mentor expanded
into as many columns as places they have left).

The score of a (student, mentor) pair uses the suggestions' weights: shared skills
(three or more count fully), the same programme, and place (same country half, same city
all). A mentor's capacity in the mission is ``max_per_mentor`` (by default an even share
of the mission's students) less the students they mentor there already.

A job (`mentorship.auto_assign`): a dry run returns the proposal and its score
distribution; a run writes it through ``cohorts.roster.assign_mentors`` (idempotent,
audited, `missionRosterChanged` fired).
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from sqlalchemy import func, select

from alumnet.domain.cohorts import access, roster
from alumnet.domain.errors import DomainError, Problems, Sent
from alumnet.domain.identity import audit
from alumnet.domain.identity.auth import scope_of, viewer_of
from alumnet.domain.identity.permissions import Permission, Reach, Viewer
from alumnet.domain.identity.two_factor import required_roles
from alumnet.domain.mentorship.matching import SKILLS_FULL, weights_of
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import (
    Enrollment,
    MentorAssignment,
    Mission,
    Profile,
    User,
    UserRole,
    UserSkill,
)
from alumnet.persistence.uow import UnitOfWork

AUTO_ASSIGN_JOB = "mentorship.auto_assign"
MENTORS_MAX = 500
STUDENTS_MAX = 10_000
PROPOSAL_SHOWN = 5000
CELLS_MAX = 40_000_000  # students x places: 320 MB of scores at most


async def request(
    uow: UnitOfWork, viewer: Viewer, mission_id: int, *, dry_run: bool,
    mentor_ids: list[Sent] | None, max_per_mentor: int | None,
) -> int:  # fmt: skip
    """Queue the matching of a mission (``mentors:assign``); returns the job's id. A named
    mentor who is unknown or no active mentor is a problem at their entry of ``mentorIds``."""
    me = viewer.require_somewhere(Permission.MENTORS_ASSIGN)
    if await uow.session.get(Mission, mission_id) is None:
        raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
    await access.require_in_mission(uow.session, viewer, Permission.MENTORS_ASSIGN, mission_id)
    if mentor_ids is not None and not 0 < len(mentor_ids) <= MENTORS_MAX:
        raise DomainError.of("TOO_MANY", f"Name 1 to {MENTORS_MAX} mentors.", "mentorIds")
    if max_per_mentor is not None and not 1 <= max_per_mentor <= 1000:
        raise DomainError.of("OUT_OF_RANGE", "A mentor takes 1 to 1,000 students.",
                             "maxPerMentor")  # fmt: skip
    chosen = None if mentor_ids is None else await _named_mentors(uow, mentor_ids)
    job = await uow.add_job(AUTO_ASSIGN_JOB, {
        "mission_id": mission_id, "dry_run": dry_run, "mentor_ids": chosen,
        "max_per_mentor": max_per_mentor, "user_id": me, "scope": scope_of(viewer),
    })  # fmt: skip
    audit.record(uow, "mentor.auto_assign", object_type="Mission", object_ids=[mission_id],
                 details={"job": job.id, "dry_run": dry_run})  # fmt: skip
    return int(job.id)


async def _named_mentors(uow: UnitOfWork, sent: list[Sent]) -> list[int]:
    """The keys of the mentors named, each checked: NOT_FOUND for an id that names no user,
    NOT_A_MENTOR for a user who is not an active mentor (messages quote the id sent)."""
    wanted = sorted({s.pk for s in sent if s.pk is not None})
    rows = (
        await uow.session.execute(
            select(User.id, User.status, UserRole.user_id)
            .outerjoin(UserRole, (UserRole.user_id == User.id) & (UserRole.role == "MENTOR"))
            .where(User.id.in_(wanted))
        )
    ).all()  # at most MENTORS_MAX ids: one statement
    existing = {int(uid) for uid, _, _ in rows}
    mentors = {int(uid) for uid, status, role in rows if role is not None and status == "active"}
    problems = Problems()
    for index, given in enumerate(sent):
        where = ("mentorIds", str(index))
        if given.pk is None or given.pk not in existing:
            problems.add("NOT_FOUND", f"No user has the id {given.said}.", where)
        elif given.pk not in mentors:
            problems.add("NOT_A_MENTOR", f"The user {given.said} is not an active mentor.", where)
    problems.raise_if_any()
    return sorted({s.pk for s in sent if s.pk is not None})


async def _mentors(conn: Any, mentor_ids: list[int] | None) -> list[int]:
    query = (
        select(UserRole.user_id)
        .join(User, User.id == UserRole.user_id)
        .where(UserRole.role == "MENTOR", User.status == "active")
        .order_by(UserRole.user_id)
        .limit(MENTORS_MAX)
    )
    if mentor_ids is not None:
        query = query.where(UserRole.user_id.in_(mentor_ids))
    return [int(i) for i in (await conn.execute(query)).scalars()]


async def _skills(conn: Any, users: list[int], index: dict[int, int]) -> Any:
    """A sparse users x skills incidence matrix (rows in ``users``' order)."""
    rows, cols = [], []
    for start in range(0, len(users), 5000):
        found = await conn.execute(
            select(UserSkill.user_id, UserSkill.skill_id).where(
                UserSkill.user_id.in_(users[start : start + 5000])
            )
        )
        for user, skill in found.all():
            rows.append(index[int(user)])
            cols.append(int(skill))
    width = (max(cols) + 1) if cols else 1
    return csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(users), width))


async def _places(conn: Any, users: list[int]) -> dict[int, Any]:
    found: dict[int, Any] = {}
    for start in range(0, len(users), 5000):
        rows = await conn.execute(
            select(Profile.user_id, Profile.programme_id, Profile.country, Profile.city).where(
                Profile.user_id.in_(users[start : start + 5000])
            )
        )
        found.update({int(r.user_id): r for r in rows.all()})
    return found


def _codes(values: list[Any]) -> np.ndarray:
    """Each value as a small integer (None: -1), for comparing columns of them."""
    seen: dict[Any, int] = {}
    return np.array(
        [-1 if v is None else seen.setdefault(str(v).lower(), len(seen)) for v in values]
    )


async def run(
    rt: Runtime, args: dict[str, Any], progress: Callable[[float], Awaitable[None]]
) -> dict[str, Any]:
    """The job: solve the mission's matching and (unless a dry run) write it."""
    started = time.perf_counter()
    mission_id = int(args["mission_id"])
    async with rt.database.connect() as conn:
        viewer = await viewer_of(
            conn, int(args["user_id"]), args.get("scope"), required=required_roles(rt.settings)
        )
        batch = (
            await conn.execute(select(Mission.batch_id).where(Mission.id == mission_id))
        ).scalar_one_or_none()
        if viewer is None or not viewer.can(
            Permission.MENTORS_ASSIGN, within=Reach(batch_id=batch, mission_id=mission_id)
        ):
            raise PermissionError("the requester may no longer assign mentors")
        taken = select(MentorAssignment.enrollment_id)
        students = [
            int(s) for s in (await conn.execute(
                select(Enrollment.student_id)
                .where(Enrollment.mission_id == mission_id, Enrollment.status == "active",
                       Enrollment.id.not_in(taken))
                .order_by(Enrollment.student_id)
                .limit(STUDENTS_MAX)
            )).scalars()
        ]  # fmt: skip
        # Nobody enrolled in the mission mentors in it (as add_mission_mentor says).
        enrolled_ids = set(
            (await conn.execute(
                select(Enrollment.student_id).where(Enrollment.mission_id == mission_id)
            )).scalars()
        )  # fmt: skip
        mentors = [m for m in await _mentors(conn, args.get("mentor_ids"))
                   if m not in enrolled_ids]  # fmt: skip
        load = dict(
            (await conn.execute(
                select(MentorAssignment.mentor_id, func.count())
                .where(MentorAssignment.mission_id == mission_id)
                .group_by(MentorAssignment.mentor_id)
            )).all()
        )  # fmt: skip
        enrolled = int(
            (await conn.execute(select(func.count()).where(
                Enrollment.mission_id == mission_id, Enrollment.status == "active"
            ))).scalar_one()
        )  # fmt: skip
        weights = await weights_of(conn)
        people = students + mentors
        index = {u: i for i, u in enumerate(people)}
        skills = await _skills(conn, people, index)
        places = await _places(conn, people)
    await progress(0.2)
    share = args.get("max_per_mentor") or (math.ceil(enrolled / len(mentors)) if mentors else 0)
    # A mentor never needs more columns than there are students to place.
    capacity = [min(len(students), max(0, int(share) - int(load.get(m, 0)))) for m in mentors]
    result: dict[str, Any] = {"students": len(students), "mentors": len(mentors),
                              "capacity": sum(capacity), "maxPerMentor": int(share)}  # fmt: skip
    if not students or not sum(capacity):
        return {**result, "assigned": 0, "unassigned": len(students), "dryRun": args["dry_run"]}
    n = len(students)
    shared = (skills[:n] @ skills[n:].T).toarray()  # students x mentors: skills in common
    score = weights["skills"] * np.minimum(shared, SKILLS_FULL) / SKILLS_FULL

    def column(name: str) -> np.ndarray:
        return _codes([getattr(places.get(u), name, None) for u in people])

    for name, weight, part in (("programme_id", weights["programme"], 1.0),
                               ("country", weights["location"], 0.5),
                               ("city", weights["location"], 0.5)):  # fmt: skip
        codes = column(name)
        same = (codes[:n, None] == codes[None, n:]) & (codes[:n, None] >= 0)
        score += weight * part * same
    if n * sum(capacity) > CELLS_MAX:
        raise ValueError(
            f"{n:,} students by {sum(capacity):,} places is too large a matching: name fewer "
            "mentors or a smaller maxPerMentor"
        )
    slots = np.repeat(np.arange(len(mentors)), capacity)
    cost = -score[:, slots]
    await progress(0.4)
    rows, cols = linear_sum_assignment(cost)
    chosen = [(students[r], mentors[slots[c]], float(score[r, slots[c]]))
              for r, c in zip(rows, cols, strict=True)]  # fmt: skip
    await progress(0.7)
    values = np.array([s for _, _, s in chosen]) if chosen else np.zeros(1)
    per_mentor: dict[int, int] = {}
    for _, mentor, _ in chosen:
        per_mentor[mentor] = per_mentor.get(mentor, 0) + 1
    result.update({
        "assigned": len(chosen), "unassigned": n - len(chosen),
        "totalScore": round(float(values.sum()), 4),
        "scores": {"min": round(float(values.min()), 4),
                   "p25": round(float(np.percentile(values, 25)), 4),
                   "median": round(float(np.median(values)), 4),
                   "p75": round(float(np.percentile(values, 75)), 4),
                   "max": round(float(values.max()), 4), "mean": round(float(values.mean()), 4)},
        "perMentor": {"min": min(per_mentor.values()), "max": max(per_mentor.values())},
        "dryRun": bool(args["dry_run"]),
    })  # fmt: skip
    if args["dry_run"]:
        # Users by their keys here; the schema shows them by their global ids (Job.result).
        result["proposal"] = [
            {"studentId": s, "mentorId": m, "score": round(v, 4)}
            for s, m, v in chosen[:PROPOSAL_SHOWN]
        ]
    else:
        pairs = [(s, m) for s, m, _ in chosen]
        written = 0
        async with rt.transaction() as uow:  # all or nothing, in chunks the roster accepts
            for start in range(0, len(pairs), roster.BULK_MAX):
                chunk = pairs[start : start + roster.BULK_MAX]
                written += len(await roster.assign_mentors(uow, viewer, mission_id, chunk))
        result["written"] = written
    result["seconds"] = round(time.perf_counter() - started, 3)
    result["peakMemoryMb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result
