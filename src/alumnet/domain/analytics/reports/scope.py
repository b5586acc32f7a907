"""What a report covers and who may read it: the viewer's reach (every mission, the
missions a scoped role covers, or a mentor's mentees), the missions a filter names (one
outside the reach is NOT_FOUND, exactly as one that does not exist), the enrolments
counted, and the report's filters as JSON (what scheduled reports store)."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, func, select, true

from alumnet.domain.analytics.cache import cached
from alumnet.domain.analytics.common import DateRange, small
from alumnet.domain.cohorts import access
from alumnet.domain.engagement.rules import Rules
from alumnet.domain.errors import DomainError, PermissionDenied
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.runtime import Runtime
from alumnet.persistence.mentoring import mentored_missions, mentors_enrollment
from alumnet.persistence.models import Batch, EngagementRules, Enrollment, Mission

# Enrolments a report counts: students taking part or who finished. Dropped, banned and
# delisted students are left out of every figure (their attendance and work too). The one
# definition of the counted population: dashboards import it.
COUNTED: tuple[str, ...] = ("active", "completed")

# The reports a mission's mentors may read, narrowed to their mentees.
MENTOR_REPORTS = frozenset({"attendance", "submissions", "notices"})

GROUPS: dict[str, tuple[str, ...]] = {
    "attendance": ("mission", "batch", "student", "weekday", "week"),
    "submissions": ("assignment", "mission", "student"),
    "mentors": ("mentor",),
    "notices": ("notice", "mission", "batch"),
    "engagement": ("week", "month"),
    "alumni": ("kind",),
}
# Reports of the programme (missions and batches), as opposed to the whole platform's.
PROGRAMME = frozenset({"attendance", "submissions", "mentors", "notices"})
FILTER_KEYS = {"mission_id": "missionId", "batch_id": "batchId", "group_by": "groupBy"}


@dataclass(frozen=True)
class Filters:
    """A report's filters, checked (``check``): the mission or batch (primary keys) and
    how rows are grouped (the report's first grouping when not given)."""

    group_by: str
    mission_id: int | None = None
    batch_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"mission_id": self.mission_id, "batch_id": self.batch_id,
                "group_by": self.group_by}  # fmt: skip


def check(report: str, given: dict[str, Any]) -> Filters:
    """The filters of a report from JSON; what is wrong is a DomainError naming it."""
    if report not in GROUPS:
        raise DomainError.of("INVALID", f"There is no report called {report!r}.", "report")
    if not isinstance(given, dict):
        raise DomainError.of("INVALID", "Filters are a JSON object.", "filter")
    for key, value in given.items():
        # (A platform report's filters as JSON may name the mission and batch as null.)
        if key not in FILTER_KEYS or (
            report not in PROGRAMME and key != "group_by" and value is not None
        ):
            raise DomainError.of(
                "INVALID", f"The {report} report takes no filter {key!r}.", ("filter", str(key))
            )
    ids: dict[str, int | None] = {}
    for key in ("mission_id", "batch_id"):
        value = given.get(key)
        path = ("filter", FILTER_KEYS[key])
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise DomainError.of("INVALID", f"`{FILTER_KEYS[key]}` is a {key[:-3]}'s number.",
                                 path)  # fmt: skip
        if value is not None and value < 1:
            raise DomainError.of(
                "NOT_FOUND", NOT_FOUND_MISSION if key == "mission_id" else NOT_FOUND_BATCH, path
            )
        ids[key] = value
    group = given.get("group_by") or GROUPS[report][0]
    if group not in GROUPS[report]:
        raise DomainError.of(
            "INVALID",
            f"The {report} report groups by {', '.join(GROUPS[report])}, not {group!r}.",
            "groupBy",
        )
    return Filters(group_by=str(group), mission_id=ids["mission_id"], batch_id=ids["batch_id"])


@dataclass(frozen=True)
class Reach:
    """What one viewer reads of the programme: the missions (None: all); whether figures
    are narrowed to one mentor's mentees; and the missions whose students the viewer may
    see one by one (None: all), where a small group may be broken down."""

    missions: frozenset[int] | None
    mentor_id: int | None = None
    people: frozenset[int] | None = None

    def sees_people(self, missions: Iterable[int]) -> bool:
        if self.mentor_id is not None:
            return True  # a mentor's rows are their own mentees
        return self.people is None or all(m in self.people for m in missions)

    def withholds(self, students: int | None, missions: Iterable[int]) -> bool:
        """Whether a group of this many students (distinct people) is too small to show
        this viewer."""
        return small(students) and not self.sees_people(missions)

    def published(self, people: dict[int, frozenset[int]], missions: Iterable[int]) -> list[int]:
        """The missions whose figures this viewer may see: those not withheld. Totals,
        weeks, weekdays and batches add up these only, so that no withheld mission's
        figures can be worked out by subtracting the rows shown from a total."""
        return [m for m in missions if not self.withholds(len(people.get(m, ())), [m])]

    def require_people(self, group: str, missions: Iterable[int]) -> None:
        """Refuses (FORBIDDEN, on ``groupBy``) rows per student to a viewer who may read
        figures but not see the students one by one: the query, an export and a
        subscription all ask this."""
        if group == "student" and not self.sees_people(missions):
            raise DomainError.of(
                "FORBIDDEN", "You may read figures but not students one by one.", "groupBy"
            )

    def signature(self) -> tuple[Any, ...]:
        """What the figures depend on, for the cache key (staff reaching everything share)."""
        missions = None if self.missions is None else tuple(sorted(self.missions))
        people = None if self.people is None else tuple(sorted(self.people))
        return (missions, self.mentor_id, people)


async def _ids(conn: Any, query: Any) -> frozenset[int]:
    return frozenset(int(v) for v in (await conn.execute(query)).scalars())


async def reach_of(conn: Any, viewer: Viewer, report: str) -> Reach:
    """Who may read ``report``; PermissionDenied for anyone else. ``analytics:read``
    (within its batches or missions, for a scoped role) reads every programme report;
    a mentor reads attendance, submissions and notices of the missions they mentor in,
    narrowed to their mentees. Platform engagement needs ``analytics:read`` or
    ``users:read`` everywhere; the alumni figures ``analytics:read`` everywhere."""
    me = viewer.require_user()
    if report not in PROGRAMME:
        allowed = viewer.can(Permission.ANALYTICS_READ) or (
            report == "engagement" and viewer.can(Permission.USERS_READ)
        )
        if not allowed:
            raise PermissionDenied(Permission.ANALYTICS_READ.value)
        # Who may see users one by one may see a small group's figures.
        return Reach(missions=None, people=None if viewer.can(Permission.USERS_READ) else
                     frozenset())  # fmt: skip
    if viewer.holds_somewhere(Permission.ANALYTICS_READ):
        where = access.missions_where(viewer, Permission.ANALYTICS_READ)
        missions = None if where is None else await _ids(conn, where)
        seen = access.missions_where(viewer, Permission.COHORTS_READ)
        people = None if seen is None else await _ids(conn, seen)
        return Reach(missions=missions, people=people)
    if report in MENTOR_REPORTS:
        mentored = await _ids(conn, mentored_missions(me))
        if mentored:
            return Reach(missions=mentored, mentor_id=me, people=mentored)
    raise PermissionDenied(Permission.ANALYTICS_READ.value)


@dataclass(frozen=True)
class MissionInfo:
    id: int
    batch_id: int
    title: str
    code: str
    batch_name: str
    starts_on: date
    ends_on: date
    time_zone: str = "UTC"

    def yesterday(self, now: datetime) -> date:
        """The last whole day at ``now`` in the mission's time zone (today is unfinished)."""
        return Rules(time_zone=self.time_zone).today(now) - timedelta(days=1)

    def days(self, period: DateRange, now: datetime) -> tuple[date, date] | None:
        """The mission's days within the period, up to yesterday in its time zone (None:
        none)."""
        first = max(period.since, self.starts_on)
        last = min(period.until, self.ends_on, self.yesterday(now))
        return (first, last) if first <= last else None


NOT_FOUND_MISSION = "No mission you may read reports of has this id."
NOT_FOUND_BATCH = "No batch you may read reports of has this id."


async def missions_of(conn: Any, reach: Reach, filters: Filters) -> list[MissionInfo]:
    """The missions a report covers: those its filter names, within the viewer's reach.
    A mission or batch outside the reach is NOT_FOUND, as one that does not exist."""
    query = (
        select(
            Mission.id, Mission.batch_id, Mission.title, Mission.code, Batch.name,
            Mission.starts_on, Mission.ends_on, func.coalesce(EngagementRules.time_zone, "UTC"),
        )
        .join(Batch, Batch.id == Mission.batch_id)
        .outerjoin(EngagementRules, EngagementRules.mission_id == Mission.id)
    )  # fmt: skip
    if filters.mission_id is not None:
        query = query.where(Mission.id == filters.mission_id)
    if filters.batch_id is not None:
        query = query.where(Mission.batch_id == filters.batch_id)
    if reach.missions is not None:
        query = query.where(Mission.id.in_(sorted(reach.missions)))
    rows = (await conn.execute(query.order_by(Mission.title, Mission.id))).all()
    found = [MissionInfo(*row) for row in rows]
    if filters.mission_id is not None and not found:
        if filters.batch_id is not None and await _batch_exists(conn, filters.batch_id):
            raise DomainError.of(
                "NOT_FOUND", "No mission of this batch you may read reports of has this id.",
                ("filter", "missionId"),
            )  # fmt: skip
        raise DomainError.of("NOT_FOUND", NOT_FOUND_MISSION, ("filter", "missionId"))
    # A batch without missions reads as empty for those who reach everything; one outside
    # the reach as one that does not exist.
    if (
        filters.batch_id is not None
        and not found
        and (reach.missions is not None or not await _batch_exists(conn, filters.batch_id))
    ):
        raise DomainError.of("NOT_FOUND", NOT_FOUND_BATCH, ("filter", "batchId"))
    return found


async def _batch_exists(conn: Any, batch_id: int) -> bool:
    found = await conn.execute(select(Batch.id).where(Batch.id == batch_id))
    return found.first() is not None


def whole(mission_ids: Iterable[int]) -> ColumnElement[bool]:
    """A condition on ``Enrollment``: counted in these missions, everyone's."""
    return and_(Enrollment.mission_id.in_(sorted(set(mission_ids))), Enrollment.status.in_(COUNTED))


async def people_of(
    conn: Any, reach: Reach, mission_ids: Iterable[int]
) -> tuple[dict[int, frozenset[int]], dict[int, frozenset[int]]]:
    """The counted students (people, user ids) of each mission: the viewer's (a mentor's
    mentees) and everyone's, in one statement. Small-group checks count these, distinct
    across missions (``distinct``), never enrolments."""
    ids = sorted(set(mission_ids))
    mine = mentors_enrollment(reach.mentor_id) if reach.mentor_id is not None else true()
    viewer: dict[int, set[int]] = {}
    everyone: dict[int, set[int]] = {}
    for mission_id, student_id, is_mine in (
        await conn.execute(
            select(Enrollment.mission_id, Enrollment.student_id, mine).where(whole(ids))
        )
    ).all():
        everyone.setdefault(int(mission_id), set()).add(int(student_id))
        if is_mine:
            viewer.setdefault(int(mission_id), set()).add(int(student_id))
    return ({m: frozenset(s) for m, s in viewer.items()},
            {m: frozenset(s) for m, s in everyone.items()})  # fmt: skip


def distinct(people: dict[int, frozenset[int]], missions: Iterable[int]) -> int:
    """How many different students these missions count together."""
    found: set[int] = set()
    for m in missions:
        found |= people.get(m, frozenset())
    return len(found)


def moments(period: DateRange) -> tuple[datetime, datetime]:
    """The period as UTC instants: from its first midnight to the one after its last day."""
    start = datetime.combine(period.since, time.min, UTC)
    return start, datetime.combine(period.until + timedelta(days=1), time.min, UTC)


def comparable(reach: Reach, mentees: int, students: int) -> bool:
    """Whether a mentor may see the whole mission's figure beside their mentees': the
    others (not their mentees) are none, or at least five."""
    if reach.mentor_id is None:
        return True
    return not small(students - mentees)


# -- cached reports: dataclasses to JSON and back -------------------------------------------

R = TypeVar("R")


async def cached_report(
    rt: Runtime,
    name: str,
    key: tuple[Any, ...],
    depends_on: tuple[str, ...],
    compute: Callable[[], Awaitable[R]],
    kind: type[R],
) -> R:
    """``compute()`` through the analytics cache: stored as JSON, read back as ``kind``."""

    async def plain() -> Any:
        return dataclasses.asdict(await compute())  # type: ignore[call-overload]

    # Keyed by the quarter hour (reports.now): of no use after it.
    found = await cached(rt, name, key, depends_on, plain, at_most=15 * 60)
    return typing.cast(R, _rebuild(kind, found))


def _rebuild(kind: Any, value: Any) -> Any:
    return _decoder(kind)(value)


@functools.cache
def _decoder(kind: Any) -> Callable[[Any], Any]:
    """A function that turns decoded JSON back into ``kind`` (worked out once per type:
    reading a class's type hints for each row cost more than computing the report)."""
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        inner = _decoder(next(a for a in typing.get_args(kind) if a is not type(None)))
        return lambda v: None if v is None else inner(v)
    if origin is list:
        item = _decoder(typing.get_args(kind)[0])
        return lambda v: None if v is None else [item(x) for x in v]
    if origin is tuple:
        return lambda v: None if v is None else tuple(v)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        hints = typing.get_type_hints(kind)
        parts = [(f.name, _decoder(hints[f.name])) for f in dataclasses.fields(kind) if f.init]
        made = kind

        def build(v: Any) -> Any:
            return None if v is None else made(**{name: part(v[name]) for name, part in parts})

        return build
    if kind is date:
        return lambda v: None if v is None else date.fromisoformat(v)
    if kind is datetime:
        return lambda v: None if v is None else datetime.fromisoformat(v)
    if kind is float:
        return lambda v: None if v is None else float(v)
    return lambda v: v
