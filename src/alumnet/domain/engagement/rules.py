"""A mission's engagement settings: time zone, attendance asked for, point rules."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import select

from alumnet.domain.cohorts import access
from alumnet.domain.errors import DomainError, Problems
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.persistence.models import EngagementRules, Mission
from alumnet.persistence.uow import UnitOfWork

ATTENDANCE_KINDS = ("none", "check_in", "report")
RECALCULATE_JOB = "points.recalculate"
POINTS_MAX = 10_000
COMPLETION_POINTS_MAX = 1_000_000
GRACE_MAX = 24 * 60


@dataclass(frozen=True)
class Rules:
    time_zone: str = "UTC"
    attendance_when_draft: str = "none"
    attendance_when_active: str = "check_in"
    attendance_when_completed: str = "none"
    grace_minutes: int = 0
    attendance_points: int = 1
    meeting_points: int = 2
    on_time_percent: int = 100
    late_percent: int = 50
    reward_categories: tuple[str, ...] = (
        "participation", "helping others", "leadership", "initiative", "conduct",
    )  # fmt: skip
    # The completion rule for a certificate (see ``certificates``).
    completion_min_points: int = 0
    completion_min_attendance_percent: int = 0

    @classmethod
    def from_row(cls, row: Any | None) -> Rules:
        if row is None:
            return DEFAULT
        given = {f.name: getattr(row, f.name) for f in fields(cls)}
        categories = given.pop("reward_categories")
        if categories:
            given["reward_categories"] = tuple(categories)
        return cls(**given)

    def category(self, given: str) -> str | None:
        """One of the reward categories, as the mission names it (any case), or None."""
        wanted = given.strip().lower()
        return next((c for c in self.reward_categories if c.lower() == wanted), None)

    def attendance_kind(self, mission_status: str) -> str:
        return str(getattr(self, f"attendance_when_{mission_status}", "none"))

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def today(self, now: datetime | None = None) -> date:
        return (now or datetime.now(UTC)).astimezone(self.zone()).date()

    def submission_points(self, max_points: int, late: bool) -> int:
        """Rounded half up; the recalculation's SQL computes the same integer."""
        percent = self.late_percent if late else self.on_time_percent
        return (max_points * percent + 50) // 100

    def grace_open(self, day: date, now: datetime | None = None) -> bool:
        """Whether ``day`` (yesterday, locally) is still within the grace period."""
        local_now = (now or datetime.now(UTC)).astimezone(self.zone())
        day_end = datetime.combine(day + timedelta(days=1), datetime.min.time(), self.zone())
        return local_now < day_end + timedelta(minutes=self.grace_minutes)


DEFAULT = Rules()
POINT_FIELDS = ("attendance_points", "meeting_points", "on_time_percent", "late_percent")
RULE_COLUMNS = [getattr(EngagementRules, f.name) for f in fields(Rules)]


async def rules_of(uow: UnitOfWork, mission_id: int, *, lock: bool = False) -> Rules:
    query = select(*RULE_COLUMNS).where(EngagementRules.mission_id == mission_id)
    if lock:
        query = query.with_for_update()
    row = (await uow.session.execute(query)).first()
    return Rules.from_row(row)


def _valid_zone(name: str) -> bool:
    if name not in _zones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


async def update_rules(
    uow: UnitOfWork, viewer: Viewer, mission_id: int, changes: dict[str, Any]
) -> tuple[Rules, int | None]:
    """Change a mission's settings; if point rules changed, queue a recalculation of the
    mission's points and return its job id."""
    viewer.require_somewhere(Permission.COHORTS_MANAGE)
    if await uow.session.get(Mission, mission_id) is None:
        raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
    await access.require_in_mission(uow.session, viewer, Permission.COHORTS_MANAGE, mission_id)
    problems = Problems()
    given = {k: v for k, v in changes.items() if v is not None}
    if "time_zone" in given and not _valid_zone(str(given["time_zone"])):
        problems.add("INVALID_TIME_ZONE", "Use an IANA time zone such as Asia/Dhaka.", "timeZone")
    for name in ("attendance_when_draft", "attendance_when_active", "attendance_when_completed"):
        if name in given and given[name] not in ATTENDANCE_KINDS:
            problems.add("INVALID", "Unknown attendance kind.", name)
    if "grace_minutes" in given and not 0 <= int(given["grace_minutes"]) <= GRACE_MAX:
        problems.add("OUT_OF_RANGE", "Grace is 0 to 1,440 minutes.", "graceMinutes")
    for name in POINT_FIELDS:
        if name in given and not 0 <= int(given[name]) <= POINTS_MAX:
            problems.add("OUT_OF_RANGE", "Points and percentages are 0 to 10,000.", _camel(name))
    if "reward_categories" in given:
        given["reward_categories"] = _categories(problems, given["reward_categories"])
    if not 0 <= int(given.get("completion_min_points", 0)) <= COMPLETION_POINTS_MAX:
        problems.add("OUT_OF_RANGE", "Points for completion are 0 to 1,000,000.",
                     "completionMinPoints")  # fmt: skip
    if not 0 <= int(given.get("completion_min_attendance_percent", 0)) <= 100:
        problems.add("OUT_OF_RANGE", "A percentage is 0 to 100.",
                     "completionMinAttendancePercent")  # fmt: skip
    problems.raise_if_any()
    row = await uow.session.get(EngagementRules, mission_id, with_for_update=True)
    before = Rules.from_row(row)
    after = replace(before, **given)
    if row is None:
        row = EngagementRules(mission_id=mission_id)
        uow.session.add(row)
    for f in fields(Rules):
        setattr(row, f.name, getattr(after, f.name))
    row.updated_at = datetime.now(UTC)
    changed = {
        f.name: [getattr(before, f.name), getattr(after, f.name)]
        for f in fields(Rules)
        if getattr(before, f.name) != getattr(after, f.name)
    }
    job_id = None
    if changed:
        audit.record(
            uow,
            "engagement_rules.update",
            object_type="Mission",
            object_ids=[mission_id],
            details=changed,
        )
        if any(name in changed for name in POINT_FIELDS):
            job = await uow.add_job(RECALCULATE_JOB, {"mission_id": mission_id})
            job_id = job.id
    await uow.session.flush()
    return after, job_id


async def request_recalculation(uow: UnitOfWork, viewer: Viewer, mission_id: int) -> int:
    viewer.require_somewhere(Permission.ENGAGEMENT_MANAGE)
    if await uow.session.get(Mission, mission_id) is None:
        raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
    await access.require_in_mission(uow.session, viewer, Permission.ENGAGEMENT_MANAGE, mission_id)
    job = await uow.add_job(RECALCULATE_JOB, {"mission_id": mission_id})
    audit.record(
        uow, "points.recalculate", object_type="Mission", object_ids=[mission_id],
        details={"job": job.id},
    )  # fmt: skip
    return job.id


CATEGORIES_MAX = 30
CATEGORY_MAX = 50


def _categories(problems: Problems, given: list[str]) -> tuple[str, ...]:
    cleaned: list[str] = []
    for name in given:
        text = " ".join(name.split())
        if not 0 < len(text) <= CATEGORY_MAX:
            problems.add("INVALID", f"A category is 1 to {CATEGORY_MAX} characters.",
                         "rewardCategories")  # fmt: skip
        elif text.lower() in {c.lower() for c in cleaned}:
            problems.add("INVALID", f"{text!r} is given twice.", "rewardCategories")
        else:
            cleaned.append(text)
    if not 0 < len(cleaned) <= CATEGORIES_MAX:
        problems.add("OUT_OF_RANGE", f"Give 1 to {CATEGORIES_MAX} categories.",
                     "rewardCategories")  # fmt: skip
    return tuple(cleaned)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
