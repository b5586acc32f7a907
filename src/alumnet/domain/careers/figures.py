"""The careers figures, computed in SQL: open postings by audience and kind, the
applications funnel (overall and per posting), time to first response, top hiring
companies; and employers' alumni ("where do our alumni work")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, select, union

from alumnet.domain.careers.applications import STEP_BITS
from alumnet.domain.careers.postings import open_now
from alumnet.domain.identity.permissions import Viewer
from alumnet.domain.people import privacy
from alumnet.persistence.models import (
    Company,
    JobApplication,
    JobPosting,
    Profile,
    User,
    UserRole,
    WorkExperience,
)

TOP_COMPANIES = 10


@dataclass(frozen=True)
class Count:
    key: tuple[str, ...]
    count: int


@dataclass(frozen=True)
class Figures:
    open_by_audience_and_kind: list[Count]
    reached: dict[str, int]
    current: dict[str, int]
    applications: int
    responded: int
    average_hours_to_first_response: float | None
    median_hours_to_first_response: float | None
    top_companies: list[tuple[int, str, int, int]]  # id, name, open postings, applications


def _steps(A: Any) -> list[Any]:
    """Per status: how many applications ever reached it, and how many are at it now."""
    reached = [
        func.coalesce(func.sum(case((A.reached.op("&")(bit) != 0, 1), else_=0)), 0)
        for bit in STEP_BITS.values()
    ]
    now = [
        func.coalesce(func.sum(case((A.status == status, 1), else_=0)), 0) for status in STEP_BITS
    ]
    return reached + now


def _split(values: Sequence[Any]) -> tuple[dict[str, int], dict[str, int]]:
    n = len(STEP_BITS)
    reached = {s: int(values[i]) for i, s in enumerate(STEP_BITS)}
    now = {s: int(values[n + i]) for i, s in enumerate(STEP_BITS)}
    return reached, now


async def overall(conn: Any) -> Figures:
    """Four statements, each one pass of an index (or a few rows) whatever the number of
    postings: open postings by audience, kind and employer; the applications grouped by
    the steps they reached and their status now, with responses and hours to first
    response; the median of those hours; the names of the top employers."""
    P, A = JobPosting, JobApplication
    now = datetime.now(UTC)
    # One pass over the open postings' index: by audience, kind and employer, added up
    # here both ways (by audience and kind; by employer, for the top employers).
    open_rows = await conn.execute(
        select(P.audience, P.kind, P.company_id, func.count(),
               func.coalesce(func.sum(P.applications_count), 0))
        .where(open_now(now.date()))
        .group_by(P.audience, P.kind, P.company_id)
    )  # fmt: skip
    kinds: dict[tuple[str, str], int] = {}
    employers: dict[int, list[int]] = {}
    for audience, kind, company, n, applied in open_rows.all():
        kinds[(str(audience), str(kind))] = kinds.get((str(audience), str(kind)), 0) + int(n)
        totals = employers.setdefault(int(company), [0, 0])
        totals[0] += int(n)
        totals[1] += int(applied)
    by_kind = [Count(key=k, count=n) for k, n in sorted(kinds.items())]
    # One pass over the applications (an index-only scan), grouped by the steps each
    # reached and its status now: a few dozen groups, added up here.
    groups = await conn.execute(
        select(A.reached, A.status, func.count(), func.count(A.response_hours),
               func.sum(A.response_hours))
        .group_by(A.reached, A.status)
    )  # fmt: skip
    reached = dict.fromkeys(STEP_BITS, 0)
    current = dict.fromkeys(STEP_BITS, 0)
    applications = responded = 0
    total_hours = 0.0
    for bits, status, n, answered, spent in groups.all():
        applications += int(n)
        responded += int(answered)
        total_hours += float(spent or 0.0)
        current[str(status)] = current.get(str(status), 0) + int(n)
        for step, bit in STEP_BITS.items():
            if int(bits) & bit:
                reached[step] += int(n)
    average = total_hours / responded if responded else None
    median = None
    if responded:
        # The middle one or two, read in order from the index on the hours.
        middle = (
            await conn.execute(
                select(A.response_hours).where(A.response_hours.is_not(None))
                .order_by(A.response_hours).offset((responded - 1) // 2)
                .limit(2 - responded % 2)
            )
        ).scalars().all()  # fmt: skip
        median = sum(float(h) for h in middle) / len(middle)
    # The employers with the most open postings, ties by name: the names of every one
    # with at least as many as the tenth.
    ranked = sorted((-t[0], c) for c, t in employers.items())
    floor = -ranked[TOP_COMPANIES - 1][0] if len(ranked) >= TOP_COMPANIES else 0
    wanted = [c for c, t in employers.items() if t[0] >= floor]
    names = await conn.execute(
        select(Company.id, Company.name).where(Company.id.in_(wanted))
    ) if wanted else None  # fmt: skip
    named = sorted(
        ((-employers[int(i)][0], str(n), int(i)) for i, n in (names.all() if names else [])),
    )[:TOP_COMPANIES]
    top = [(i, n, employers[i][0], employers[i][1]) for _, n, i in named]
    return Figures(
        open_by_audience_and_kind=by_kind, reached=reached, current=current,
        applications=applications, responded=responded,
        average_hours_to_first_response=_round(average),
        median_hours_to_first_response=_round(median),
        top_companies=top,
    )  # fmt: skip


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


async def funnels(
    conn: Any, posting_ids: Sequence[int]
) -> dict[int, tuple[dict[str, int], dict[str, int]]]:
    """For each posting: how many of its applications reached each step, and are at it
    now; one statement for them all."""
    A = JobApplication
    rows = await conn.execute(
        select(A.posting_id, *_steps(A))
        .where(A.posting_id.in_(list(posting_ids)))
        .group_by(A.posting_id)
    )
    return {int(r[0]): _split(r[1:]) for r in rows.all()}


def employees(viewer: Viewer, name_keys: Sequence[str]) -> Any:
    """(name key, user id) of active alumni working now at employers of these names (their
    profile's company or a current job in their history), where the viewer may see their
    work. Names are compared trimmed and regardless of case."""
    work_ok = privacy.visible(viewer, Profile.user_id, Profile.work_visibility)
    alumni = select(UserRole.user_id).where(UserRole.role == "ALUMNUS")
    profile_key = func.lower(func.trim(Profile.company))
    job_key = func.lower(func.trim(WorkExperience.company))
    by_profile = (
        select(profile_key.label("key"), Profile.user_id.label("user_id"))
        .join(User, User.id == Profile.user_id)
        .where(profile_key.in_(list(name_keys)), User.status == "active", work_ok,
               Profile.user_id.in_(alumni))
    )  # fmt: skip
    by_history = (
        select(job_key.label("key"), WorkExperience.user_id.label("user_id"))
        .join(Profile, Profile.user_id == WorkExperience.user_id)
        .join(User, User.id == WorkExperience.user_id)
        .where(job_key.in_(list(name_keys)), WorkExperience.ended_on.is_(None),
               User.status == "active", work_ok, WorkExperience.user_id.in_(alumni))
    )  # fmt: skip
    return union(by_profile, by_history)
