"""The careers figures, computed in SQL: open postings by audience and kind, the
applications funnel (overall and per posting), time to first response, top hiring
companies; and employers' alumni ("where do our alumni work")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, cast, distinct, func, select, union

from alumnet.domain.careers.postings import open_now
from alumnet.domain.identity.permissions import Viewer
from alumnet.domain.people import privacy
from alumnet.persistence.models import (
    Company,
    JobApplication,
    JobApplicationEvent,
    JobPosting,
    Profile,
    User,
    UserRole,
    WorkExperience,
)

TOP_COMPANIES = 10
STAGES = ("applied", "screening", "interview", "offer", "hired")


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


def hours_between(dialect: str, start: Any, end: Any) -> Any:
    if dialect == "postgresql":
        return func.extract("epoch", end - start) / 3600.0
    return (func.julianday(end) - func.julianday(start)) * 24.0


async def overall(conn: Any, dialect: str) -> Figures:
    """Seven statements, each an aggregate, whatever the number of postings."""
    P, A, E = JobPosting, JobApplication, JobApplicationEvent
    now = datetime.now(UTC)
    open_rows = await conn.execute(
        select(P.audience, P.kind, func.count())
        .where(open_now(now.date()))
        .group_by(P.audience, P.kind)
        .order_by(P.audience, P.kind)
    )
    by_kind = [Count(key=(str(a), str(k)), count=int(n)) for a, k, n in open_rows.all()]
    reached_rows = await conn.execute(
        select(E.to_status, func.count(distinct(E.application_id))).group_by(E.to_status)
    )
    reached = {str(s): int(n) for s, n in reached_rows.all()}
    current_rows = await conn.execute(select(A.status, func.count()).group_by(A.status))
    current = {str(s): int(n) for s, n in current_rows.all()}
    hours = hours_between(dialect, A.created_at, A.first_response_at)
    summary = (
        await conn.execute(
            select(func.count(), func.count(A.first_response_at), func.avg(cast(hours, Float)))
        )
    ).one()
    median = None
    if dialect == "postgresql" and summary[1]:
        median = (
            await conn.execute(
                select(func.percentile_cont(0.5).within_group(hours)).where(
                    A.first_response_at.is_not(None)
                )
            )
        ).scalar()
    elif summary[1]:
        ordered = (
            await conn.execute(
                select(hours).where(A.first_response_at.is_not(None)).order_by(hours)
                .offset(int(summary[1]) // 2).limit(1)
            )
        ).scalar()  # fmt: skip
        median = ordered
    applications = select(A.posting_id, func.count().label("n")).group_by(A.posting_id).subquery()
    top = await conn.execute(
        select(
            Company.id, Company.name, func.count(P.id), func.coalesce(func.sum(applications.c.n), 0)
        )
        .join(P, P.company_id == Company.id)
        .outerjoin(applications, applications.c.posting_id == P.id)
        .where(open_now(now.date()))
        .group_by(Company.id, Company.name)
        .order_by(func.count(P.id).desc(), Company.name)
        .limit(TOP_COMPANIES)
    )
    return Figures(
        open_by_audience_and_kind=by_kind, reached=reached, current=current,
        applications=int(summary[0]), responded=int(summary[1]),
        average_hours_to_first_response=_round(summary[2]),
        median_hours_to_first_response=_round(median),
        top_companies=[(int(i), str(n), int(p), int(a)) for i, n, p, a in top.all()],
    )  # fmt: skip


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


def funnels(posting_ids: Sequence[int]) -> Any:
    """For each posting: how many of its applications reached each step."""
    A, E = JobApplication, JobApplicationEvent
    return (
        select(A.posting_id, E.to_status.label("status"), func.count(distinct(A.id)).label("n"))
        .join(E, E.application_id == A.id)
        .where(A.posting_id.in_(list(posting_ids)))
        .group_by(A.posting_id, E.to_status)
    )


def current_counts(posting_ids: Sequence[int]) -> Any:
    A = JobApplication
    return (
        select(A.posting_id, A.status, func.count().label("n"))
        .where(A.posting_id.in_(list(posting_ids)))
        .group_by(A.posting_id, A.status)
    )


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
