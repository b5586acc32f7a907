"""Curricula: subjects of ordered topics (with estimated hours and prerequisites), subjects
within programmes, and offerings of subjects to missions or batches.

Subjects and topics are read by any signed-in user (the curriculum is no secret); academics
managers (``academics:manage``) change them. An offering is seen by academics staff and
cohort staff (``academics:manage``, ``academics:teach``, ``cohorts:read``), and by anyone
else only when it covers a mission they may see (a student's, a mentor's).

Topics of a subject have positions 0, 1, 2 … with no gaps (renumbered after each change);
the API shows them from 1. Estimated hours are kept in minutes (quarter hours: multiples
of 15). Prerequisites never form a circle: each change is checked against every edge it
can reach, and a refusal names the circle by topic codes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, delete, exists, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alumnet.domain.cohorts.access import visible_missions
from alumnet.domain.communication.notifications import Item, notify_each
from alumnet.domain.errors import DomainError, Problems, check_label, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.identity.users import holders_of
from alumnet.persistence.mentoring import mentored_missions
from alumnet.persistence.models import (
    Assessment,
    Batch,
    Enrollment,
    Mission,
    Programme,
    ProgrammeSubject,
    Subject,
    SubjectOffering,
    Topic,
    TopicPrerequisite,
    TopicProgress,
    User,
)
from alumnet.persistence.uow import UnitOfWork

N = TypeVar("N", bound=Hashable)
KIND = "academics"
CODE = re.compile(r"^[A-Z0-9_-]{1,32}$")
CODE_RULE = "1 to 32 letters, digits, - or _"
NAME_MAX = 200
DESCRIPTION_MAX = 10_000
HOURS_MAX = 1000
QUARTER = 15  # minutes
PREREQUISITES_MAX = 50
TOPICS_MAX = 500  # a subject's topics
# When an offering may start: not before this, nor further ahead than this.
OFFERING_EARLIEST = date(2000, 1, 1)
OFFERING_AHEAD_MAX = timedelta(days=5 * 365)
PROGRAMME_SUBJECTS_MAX = 200
OFFERING_SPAN_MAX = timedelta(days=366)
STATUSES = ("active", "archived")


def require_manager(viewer: Viewer) -> int:
    return viewer.require(Permission.ACADEMICS_MANAGE)


def sees_all_offerings(viewer: Viewer) -> bool:
    return any(
        viewer.can(p)
        for p in (Permission.ACADEMICS_MANAGE, Permission.ACADEMICS_TEACH, Permission.COHORTS_READ)
    )


def readable_offerings(viewer: Viewer) -> ColumnElement[bool] | None:
    """A condition on ``SubjectOffering``: those the viewer may see (None: all). Staff see
    every one; others those covering a mission they may see."""
    if not viewer.is_authenticated:
        return false()
    if sees_all_offerings(viewer):
        return None
    seen = visible_missions(viewer)
    if seen is None:
        return None
    return exists(
        select(Mission.id).where(
            seen,
            or_(
                SubjectOffering.mission_id == Mission.id,
                SubjectOffering.batch_id == Mission.batch_id,
            ),
        )
    )


def my_offerings(viewer: Viewer) -> ColumnElement[bool]:
    """A condition on ``SubjectOffering``: a student's (covering missions they take part
    in), a faculty member's (those they lead) and a mentor's (covering missions they
    mentor in)."""
    me = viewer.user_id if viewer.user_id is not None else -1
    mine = select(Mission.id).where(
        or_(
            Mission.id.in_(select(Enrollment.mission_id).where(Enrollment.student_id == me)),
            Mission.id.in_(mentored_missions(me)),
        ),
        or_(
            SubjectOffering.mission_id == Mission.id,
            SubjectOffering.batch_id == Mission.batch_id,
        ),
    )
    return or_(SubjectOffering.faculty_id == me, exists(mine))


# --- checking values -----------------------------------------------------------------------


def check_code(problems: Problems, given: str | None, field: str, label: str) -> str:
    """A code as given, upper-cased; INVALID unless 1 to 32 of A-Z, 0-9, - and _."""
    code = (given or "").strip().upper()
    if not CODE.match(code):
        problems.add("INVALID", f"{label} is {CODE_RULE} (e.g. PY-101).", field)
    return code


def minutes_of(problems: Problems, hours: Any, field: str = "estimatedHours") -> int:
    """Hours (0 to 1000, in quarter hours) as minutes."""
    try:
        exact = Decimal(str(hours))
    except (InvalidOperation, ValueError):
        problems.add("INVALID_HOURS", "Estimated hours are a number.", field)
        return 0
    if not exact.is_finite() or not 0 <= exact <= HOURS_MAX:
        problems.add("INVALID_HOURS", f"Estimated hours are 0 to {HOURS_MAX}.", field)
        return 0
    minutes = exact * 60
    if minutes % QUARTER != 0:
        problems.add("INVALID_HOURS", "Estimated hours are in quarter hours (e.g. 1.25).", field)
        return 0
    return int(minutes)


def hours_of(minutes: int | None) -> float:
    return (minutes or 0) / 60


# --- subjects ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectFields:
    code: str | None = None
    name: str | None = None
    description: str | None = None
    status: str | None = None


def _details(subject: Subject) -> dict[str, Any]:
    return {"code": subject.code, "name": subject.name, "status": subject.status}


async def _code_taken(session: AsyncSession, code: str, but: int | None = None) -> bool:
    query = select(Subject.id).where(func.upper(Subject.code) == code)
    if but is not None:
        query = query.where(Subject.id != but)
    return (await session.execute(query.limit(1))).first() is not None


async def create_subject(uow: UnitOfWork, viewer: Viewer, given: SubjectFields) -> Subject:
    me = require_manager(viewer)
    problems = Problems()
    code = check_code(problems, given.code, "code", "A subject's code")
    name = check_label(
        problems,
        given.name or "",
        field="name",
        max_length=NAME_MAX,
        label="The name",
        min_length=1,
    )
    description = (
        check_text(
            problems,
            given.description or "",
            field="description",
            max_length=DESCRIPTION_MAX,
            label="The description",
        )
        or ""
    )
    if not problems.items and await _code_taken(uow.session, code):
        problems.add("DUPLICATE_CODE", f"Another subject has the code {code}.", "code")
    problems.raise_if_any()
    now = datetime.now(UTC)
    subject = Subject(
        code=code,
        name=name,
        description=description,
        status="active",
        created_by_id=me,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(subject)
    await uow.session.flush()
    audit.record(
        uow,
        "subject.create",
        object_type="Subject",
        object_ids=[subject.id],
        details=_details(subject),
    )
    return subject


async def _subject(session: AsyncSession, subject_id: int, field: str = "id") -> Subject:
    subject = await session.get(Subject, subject_id)
    if subject is None:
        raise DomainError.of("NOT_FOUND", "No such subject.", field)
    return subject


async def update_subject(
    uow: UnitOfWork, viewer: Viewer, subject_id: int, given: SubjectFields
) -> Subject:
    """Change a subject's code, name, description or status (archive it, or make it active
    again). An archived subject keeps its topics, offerings and progress; it is offered no
    more."""
    require_manager(viewer)
    subject = await _subject(uow.session, subject_id)
    problems = Problems()
    before = _details(subject)
    changes: dict[str, Any] = {}
    if given.code is not None:
        code = check_code(problems, given.code, "code", "A subject's code")
        if not problems.items and code != subject.code:
            if await _code_taken(uow.session, code, but=subject.id):
                problems.add("DUPLICATE_CODE", f"Another subject has the code {code}.", "code")
            changes["code"] = code
    if given.name is not None:
        changes["name"] = check_label(
            problems, given.name, field="name", max_length=NAME_MAX, label="The name", min_length=1
        )
    if given.description is not None:
        changes["description"] = check_text(
            problems,
            given.description,
            field="description",
            max_length=DESCRIPTION_MAX,
            label="The description",
        )
    if given.status is not None:
        if given.status not in STATUSES:
            problems.add("INVALID", "A subject is active or archived.", "status")
        changes["status"] = given.status
    problems.raise_if_any()
    changed = {k: v for k, v in changes.items() if getattr(subject, k) != v}
    if changed:
        for key, value in changed.items():
            setattr(subject, key, value)
        subject.updated_at = datetime.now(UTC)
        await uow.session.flush()
        action = "subject.update"
        if changed.get("status") == "archived":
            action = "subject.archive"
        audit.record(
            uow,
            action,
            object_type="Subject",
            object_ids=[subject.id],
            details={
                "before": {k: before.get(k) for k in changed if k in before},
                "after": {k: v for k, v in changed.items() if k in before},
            },
        )
    return subject


# --- topics --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicFields:
    code: str | None = None
    title: str | None = None
    description: str | None = None
    estimated_hours: Any = None
    # From 1; None: at the end (create) or where it is (update).
    position: int | None = None


async def _topic(session: AsyncSession, topic_id: int, field: str = "id") -> Topic:
    topic = await session.get(Topic, topic_id)
    if topic is None:
        raise DomainError.of("NOT_FOUND", "No such topic.", field)
    return topic


async def _ordered_topic_ids(session: AsyncSession, subject_id: int) -> list[int]:
    found = await session.execute(
        select(Topic.id).where(Topic.subject_id == subject_id).order_by(Topic.position, Topic.id)
    )
    return [int(i) for i in found.scalars()]


async def renumber(
    session: AsyncSession, subject_id: int, order: Sequence[int] | None = None
) -> None:
    """Positions 0, 1, 2 … in ``order`` (default: the present order, gaps closed); only the
    topics whose position changes are written."""
    ids = list(order) if order is not None else await _ordered_topic_ids(session, subject_id)
    now_at = dict(
        (
            await session.execute(
                select(Topic.id, Topic.position).where(Topic.subject_id == subject_id)
            )
        ).all()
    )
    for place, topic_id in enumerate(ids):
        if now_at.get(topic_id) != place:
            await session.execute(update(Topic).where(Topic.id == topic_id).values(position=place))


async def _lock_subject(session: AsyncSession, subject_id: int) -> Subject:
    """The subject, locked: its topics' order is changed by one transaction at a time."""
    found = await session.execute(select(Subject).where(Subject.id == subject_id).with_for_update())
    subject = found.scalar_one_or_none()
    if subject is None:
        raise DomainError.of("NOT_FOUND", "No such subject.", "subjectId")
    return subject


async def _topic_code_taken(
    session: AsyncSession, subject_id: int, code: str, but: int | None = None
) -> bool:
    query = select(Topic.id).where(Topic.subject_id == subject_id, Topic.code == code)
    if but is not None:
        query = query.where(Topic.id != but)
    return (await session.execute(query.limit(1))).first() is not None


def _topic_details(topic: Topic) -> dict[str, Any]:
    return {
        "subject": topic.subject_id,
        "code": topic.code,
        "title": topic.title,
        "position": topic.position + 1,
        "estimatedMinutes": topic.estimated_minutes,
    }


async def create_topic(
    uow: UnitOfWork, viewer: Viewer, subject_id: int, given: TopicFields
) -> Topic:
    """A topic of a subject, at ``position`` (from 1; those from there move down one) or at
    the end."""
    require_manager(viewer)
    session = uow.session
    await _lock_subject(session, subject_id)
    problems = Problems()
    code = check_code(problems, given.code, "code", "A topic's code")
    title = check_label(
        problems,
        given.title or "",
        field="title",
        max_length=NAME_MAX,
        label="The title",
        min_length=1,
    )
    description = (
        check_text(
            problems,
            given.description or "",
            field="description",
            max_length=DESCRIPTION_MAX,
            label="The description",
        )
        or ""
    )
    minutes = minutes_of(
        problems, given.estimated_hours if given.estimated_hours is not None else 0
    )
    order = await _ordered_topic_ids(session, subject_id)
    if len(order) >= TOPICS_MAX:
        problems.add("TOO_MANY", f"A subject has at most {TOPICS_MAX} topics.", "subjectId")
    if given.position is not None and not 1 <= given.position <= len(order) + 1:
        problems.add("INVALID", f"The position is 1 to {len(order) + 1}.", "position")
    if not problems.items and await _topic_code_taken(session, subject_id, code):
        problems.add(
            "DUPLICATE_CODE", f"Another topic of this subject has the code {code}.", "code"
        )
    problems.raise_if_any()
    now = datetime.now(UTC)
    topic = Topic(
        subject_id=subject_id,
        code=code,
        title=title,
        description=description,
        position=len(order),
        estimated_minutes=minutes,
        created_at=now,
        updated_at=now,
    )
    session.add(topic)
    await session.flush()
    at = len(order) if given.position is None else given.position - 1
    order.insert(at, int(topic.id))
    await renumber(session, subject_id, order)
    await session.refresh(topic)
    audit.record(
        uow,
        "topic.create",
        object_type="Topic",
        object_ids=[topic.id],
        details=_topic_details(topic),
    )
    return topic


async def update_topic(uow: UnitOfWork, viewer: Viewer, topic_id: int, given: TopicFields) -> Topic:
    require_manager(viewer)
    session = uow.session
    topic = await _topic(session, topic_id)
    await _lock_subject(session, topic.subject_id)
    problems = Problems()
    changes: dict[str, Any] = {}
    if given.code is not None:
        code = check_code(problems, given.code, "code", "A topic's code")
        if not problems.items and code != topic.code:
            if await _topic_code_taken(session, topic.subject_id, code, but=topic.id):
                problems.add(
                    "DUPLICATE_CODE", f"Another topic of this subject has the code {code}.", "code"
                )
            changes["code"] = code
    if given.title is not None:
        changes["title"] = check_label(
            problems,
            given.title,
            field="title",
            max_length=NAME_MAX,
            label="The title",
            min_length=1,
        )
    if given.description is not None:
        changes["description"] = check_text(
            problems,
            given.description,
            field="description",
            max_length=DESCRIPTION_MAX,
            label="The description",
        )
    if given.estimated_hours is not None:
        changes["estimated_minutes"] = minutes_of(problems, given.estimated_hours)
    problems.raise_if_any()
    before = _topic_details(topic)
    changed = {k: v for k, v in changes.items() if getattr(topic, k) != v}
    if changed:
        for key, value in changed.items():
            setattr(topic, key, value)
        topic.updated_at = datetime.now(UTC)
        await session.flush()
        audit.record(
            uow,
            "topic.update",
            object_type="Topic",
            object_ids=[topic.id],
            details={"before": before, "after": _topic_details(topic)},
        )
    return topic


async def has_progress(session: AsyncSession, topic_ids: Iterable[int]) -> set[int]:
    """Which of these topics have progress recorded or an assessment."""
    ids = list(topic_ids)
    if not ids:
        return set()
    found = await session.execute(
        select(TopicProgress.topic_id)
        .where(TopicProgress.topic_id.in_(ids))
        .union(select(Assessment.topic_id).where(Assessment.topic_id.in_(ids)))
    )
    return {int(i) for i in found.scalars()}


async def delete_topic(uow: UnitOfWork, viewer: Viewer, topic_id: int) -> int:
    """Delete a topic (and the prerequisites that name it); refused (HAS_PROGRESS) once a
    student's progress or an assessment is recorded for it. Returns its subject."""
    require_manager(viewer)
    session = uow.session
    topic = await _topic(session, topic_id)
    await _lock_subject(session, topic.subject_id)
    if await has_progress(session, [topic.id]):
        raise DomainError.of(
            "HAS_PROGRESS",
            "Students' progress or assessments are recorded for this topic: it stays.",
            "id",
        )
    details = _topic_details(topic)
    subject_id = topic.subject_id
    await session.execute(
        delete(TopicPrerequisite).where(
            or_(TopicPrerequisite.topic_id == topic.id, TopicPrerequisite.requires_id == topic.id)
        )
    )
    await session.execute(delete(Topic).where(Topic.id == topic.id))
    await renumber(session, subject_id)
    audit.record(uow, "topic.delete", object_type="Topic", object_ids=[topic_id], details=details)
    return subject_id


async def reorder_topics(
    uow: UnitOfWork, viewer: Viewer, subject_id: int, topic_ids: Sequence[int | None]
) -> Subject:
    """The subject's topics in the order given: every one of them, each once."""
    require_manager(viewer)
    session = uow.session
    subject = await _lock_subject(session, subject_id)
    present = await _ordered_topic_ids(session, subject_id)
    if len(topic_ids) != len(set(topic_ids)):
        raise DomainError.of("INVALID", "A topic is named twice.", "topicIds")
    if any(t is None for t in topic_ids) or set(topic_ids) != set(present):
        raise DomainError.of(
            "INVALID",
            f"Name every topic of the subject ({len(present)}) once, and no other.",
            "topicIds",
        )
    order = [int(t) for t in topic_ids if t is not None]
    if order != present:
        await renumber(session, subject_id, order)
        subject.updated_at = datetime.now(UTC)
        audit.record(
            uow,
            "subject.topics_reorder",
            object_type="Subject",
            object_ids=[subject_id],
            details={"topics": order},
        )
    return subject


# --- prerequisites -------------------------------------------------------------------------


def find_cycle(edges: dict[N, set[N]], start: N, targets: Iterable[N]) -> list[N] | None:
    """A path ``start`` → t → … → ``start`` through ``edges`` (topic → what it requires)
    when ``start`` were to require each of ``targets``; None if there is none. The
    shortest such circle (breadth first)."""
    for first in targets:
        if first == start:
            return [start, start]
        parent: dict[N, N | None] = {first: None}
        queue = [first]
        while queue and start not in parent:
            following: list[N] = []
            for node in queue:
                for nxt in sorted(edges.get(node, ()), key=str):
                    if nxt not in parent:
                        parent[nxt] = node
                        following.append(nxt)
            queue = following
        if start in parent:
            back: list[N] = []
            step: N | None = start
            while step is not None:
                back.append(step)
                step = parent.get(step)
            return [start, *reversed(back)]
    return None


def cyclic_components(edges: dict[N, set[N]]) -> dict[N, int]:
    """The nodes that lie on a circle, each with the number of its strongly connected
    component (Tarjan's algorithm, without recursion)."""
    index: dict[N, int] = {}
    low: dict[N, int] = {}
    on_stack: set[N] = set()
    stack: list[N] = []
    found: dict[N, int] = {}
    counter = 0
    components = 0
    for root in list(edges):
        if root in index:
            continue
        work: list[tuple[N, Iterator[N]]] = [(root, iter(sorted(edges.get(root, ()), key=str)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, following = work[-1]
            advanced = False
            for nxt in following:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ()), key=str))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                if len(members) > 1 or node in edges.get(node, ()):
                    for member in members:
                        found[member] = components
                    components += 1
    return found


async def reachable_edges(session: AsyncSession, starts: Iterable[int]) -> dict[int, set[int]]:
    """The prerequisite edges reachable from these topics (what they require, and so on),
    in one recursive statement."""
    first = list(set(starts))
    if not first:
        return {}
    seen = (
        select(TopicPrerequisite.topic_id, TopicPrerequisite.requires_id)
        .where(TopicPrerequisite.topic_id.in_(first))
        .cte("reach", recursive=True)
    )
    step = select(TopicPrerequisite.topic_id, TopicPrerequisite.requires_id).join(
        seen, TopicPrerequisite.topic_id == seen.c.requires_id
    )
    walk = seen.union(step)
    found = await session.execute(select(walk.c.topic_id, walk.c.requires_id))
    edges: dict[int, set[int]] = defaultdict(set)
    for topic_id, requires_id in found.all():
        edges[int(topic_id)].add(int(requires_id))
    return edges


async def topic_labels(session: AsyncSession, topic_ids: Iterable[int]) -> dict[int, str]:
    """Each topic as people name it: "SUBJECT/CODE"."""
    ids = list(set(topic_ids))
    if not ids:
        return {}
    found = await session.execute(
        select(Topic.id, Subject.code, Topic.code)
        .join(Subject, Subject.id == Topic.subject_id)
        .where(Topic.id.in_(ids))
    )
    return {int(i): f"{s}/{t}" for i, s, t in found.all()}


def describe_cycle(path: Sequence[Any], labels: dict[Any, str]) -> str:
    """A circle as its topics' codes (without the subject when all are in one)."""
    names = [labels.get(t, str(t)) for t in path]
    subjects = {n.split("/", 1)[0] for n in names if "/" in n}
    if len(subjects) == 1:
        names = [n.split("/", 1)[1] if "/" in n else n for n in names]
    return " → ".join(names)


async def set_prerequisites(
    uow: UnitOfWork, viewer: Viewer, topic_id: int, requires: Sequence[int | None]
) -> Topic:
    """Replace a topic's prerequisites (topics of any subject, at most 50). Refused
    (CIRCULAR_PREREQUISITE) when one of them needs this topic first, however indirectly,
    with the circle named; a topic is never its own prerequisite."""
    require_manager(viewer)
    session = uow.session
    topic = await _topic(session, topic_id)
    if any(r is None for r in requires):
        raise DomainError.of("NOT_FOUND", "No such topic.", "prerequisiteIds")
    wanted = sorted({int(r) for r in requires if r is not None})
    if len(wanted) > PREREQUISITES_MAX:
        raise DomainError.of(
            "TOO_MANY", f"A topic has at most {PREREQUISITES_MAX} prerequisites.", "prerequisiteIds"
        )
    if topic.id in wanted:
        raise DomainError.of(
            "SELF_PREREQUISITE", "A topic cannot be its own prerequisite.", "prerequisiteIds"
        )
    if wanted:
        known = set((await session.execute(select(Topic.id).where(Topic.id.in_(wanted)))).scalars())
        if len(known) != len(wanted):
            raise DomainError.of("NOT_FOUND", "No such topic.", "prerequisiteIds")
    # Concurrent changes of prerequisites are checked one at a time (a circle could be
    # closed by two changes that each see none).
    await lock_graph(session)
    edges = await reachable_edges(session, wanted)
    cycle = find_cycle(edges, topic.id, wanted)
    if cycle is not None:
        labels = await topic_labels(session, cycle)
        raise DomainError.of(
            "CIRCULAR_PREREQUISITE",
            f"That would make a circle of prerequisites: {describe_cycle(cycle, labels)} "
            "(each needs the next first).",
            "prerequisiteIds",
        )
    before = sorted(
        int(i)
        for i in (
            await session.execute(
                select(TopicPrerequisite.requires_id).where(TopicPrerequisite.topic_id == topic.id)
            )
        ).scalars()
    )
    if before != wanted:
        await write_prerequisites(session, topic.id, before, wanted)
        topic.updated_at = datetime.now(UTC)
        audit.record(
            uow,
            "topic.prerequisites_set",
            object_type="Topic",
            object_ids=[topic.id],
            details={"before": before, "after": wanted},
        )
    return topic


async def lock_graph(session: AsyncSession) -> None:
    """One writer of prerequisites at a time. PostgreSQL: a transaction advisory lock;
    SQLite has one writer anyway."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(0x70E1C)))


async def write_prerequisites(
    session: AsyncSession, topic_id: int, before: Iterable[int], after: Iterable[int]
) -> None:
    old, new = set(before), set(after)
    gone = old - new
    if gone:
        await session.execute(
            delete(TopicPrerequisite).where(
                TopicPrerequisite.topic_id == topic_id, TopicPrerequisite.requires_id.in_(gone)
            )
        )
    for requires_id in sorted(new - old):
        session.add(TopicPrerequisite(topic_id=topic_id, requires_id=requires_id))
    await session.flush()


# --- programmes ----------------------------------------------------------------------------


async def set_programme_subjects(
    uow: UnitOfWork, viewer: Viewer, programme_id: int, subject_ids: Sequence[int | None]
) -> Programme:
    """A programme's subjects, in order (replacing those it had)."""
    require_manager(viewer)
    session = uow.session
    programme = await session.get(Programme, programme_id)
    if programme is None:
        raise DomainError.of("NOT_FOUND", "No such programme.", "programmeId")
    if any(s is None for s in subject_ids):
        raise DomainError.of("NOT_FOUND", "No such subject.", "subjectIds")
    wanted = [int(s) for s in subject_ids if s is not None]
    if len(wanted) != len(set(wanted)):
        raise DomainError.of("INVALID", "A subject is named twice.", "subjectIds")
    if len(wanted) > PROGRAMME_SUBJECTS_MAX:
        raise DomainError.of(
            "TOO_MANY", f"A programme has at most {PROGRAMME_SUBJECTS_MAX} subjects.", "subjectIds"
        )
    if wanted:
        known = set(
            (await session.execute(select(Subject.id).where(Subject.id.in_(wanted)))).scalars()
        )
        if len(known) != len(wanted):
            raise DomainError.of("NOT_FOUND", "No such subject.", "subjectIds")
    before = [
        int(s)
        for s in (
            await session.execute(
                select(ProgrammeSubject.subject_id)
                .where(ProgrammeSubject.programme_id == programme_id)
                .order_by(ProgrammeSubject.position, ProgrammeSubject.subject_id)
            )
        ).scalars()
    ]
    if before != wanted:
        await session.execute(
            delete(ProgrammeSubject).where(ProgrammeSubject.programme_id == programme_id)
        )
        for place, subject_id in enumerate(wanted):
            session.add(
                ProgrammeSubject(programme_id=programme_id, subject_id=subject_id, position=place)
            )
        await session.flush()
        audit.record(
            uow,
            "programme.subjects_set",
            object_type="Programme",
            object_ids=[programme_id],
            details={"before": before, "after": wanted},
        )
    return programme


# --- offerings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferingFields:
    subject_id: int = -1
    mission_id: int | None = None
    batch_id: int | None = None
    faculty_id: int | None = None
    starts_on: date | None = None
    ends_on: date | None = None


async def _check_faculty(uow: UnitOfWork, problems: Problems, faculty_id: int) -> None:
    teachers = await holders_of(uow, Permission.ACADEMICS_TEACH)
    found = await uow.session.execute(
        select(User.id).where(User.id == faculty_id, User.id.in_(teachers))
    )
    if found.first() is None:
        problems.add(
            "NOT_FACULTY",
            "The lead is someone who teaches (FACULTY, or academics:teach).",
            "facultyId",
        )


def _check_dates(problems: Problems, starts_on: date | None, ends_on: date | None) -> None:
    if starts_on is None or ends_on is None:
        problems.add("REQUIRED", "Give both dates.", "startsOn" if starts_on is None else "endsOn")
        return
    today = datetime.now(UTC).date()
    if not OFFERING_EARLIEST <= starts_on <= today + OFFERING_AHEAD_MAX:
        problems.add("INVALID_DATES", f"An offering starts from {OFFERING_EARLIEST.year} to "
                     f"{OFFERING_AHEAD_MAX.days // 365} years ahead.", "startsOn")  # fmt: skip
    elif not starts_on < ends_on:
        problems.add("INVALID_DATES", "An offering ends after it starts.", "endsOn")
    elif ends_on - starts_on > OFFERING_SPAN_MAX:
        problems.add("INVALID_DATES", "An offering lasts at most a year.", "endsOn")


async def _where_name(session: AsyncSession, offering: SubjectOffering) -> str:
    if offering.mission_id is not None:
        found = await session.scalar(select(Mission.title).where(Mission.id == offering.mission_id))
        return f"mission {found}"
    found = await session.scalar(select(Batch.name).where(Batch.id == offering.batch_id))
    return f"batch {found}"


async def _tell_lead(uow: UnitOfWork, offering: SubjectOffering, subject: Subject) -> None:
    if offering.faculty_id is None:
        return
    where = await _where_name(uow.session, offering)
    await notify_each(
        uow,
        KIND,
        [
            Item(
                user_id=offering.faculty_id,
                title=f"You lead {subject.name} ({subject.code}) for the {where}",
                body=f"From {offering.starts_on.isoformat()} to {offering.ends_on.isoformat()}.",
                subject_type="SubjectOffering",
                subject_id=offering.id,
            )
        ],
    )


def _offering_details(offering: SubjectOffering) -> dict[str, Any]:
    return {
        "subject": offering.subject_id,
        "mission": offering.mission_id,
        "batch": offering.batch_id,
        "faculty": offering.faculty_id,
        "startsOn": offering.starts_on.isoformat(),
        "endsOn": offering.ends_on.isoformat(),
    }


async def create_offering(
    uow: UnitOfWork, viewer: Viewer, given: OfferingFields
) -> SubjectOffering:
    """Offer a subject to a mission or (exclusively) to a whole batch, between two dates at
    most a year apart, led by a faculty member if named (who is told)."""
    require_manager(viewer)
    session = uow.session
    problems = Problems()
    subject = await session.get(Subject, given.subject_id)
    if subject is None:
        problems.add("NOT_FOUND", "No such subject.", "subjectId")
    elif subject.status != "active":
        problems.add("ARCHIVED", "This subject is archived: it is offered no more.", "subjectId")
    if (given.mission_id is None) == (given.batch_id is None):
        problems.add(
            "INVALID", "Offer it to a mission or to a batch (one of the two).", "missionId"
        )
    elif given.mission_id is not None:
        if await session.get(Mission, given.mission_id) is None:
            problems.add("NOT_FOUND", "No such mission.", "missionId")
    elif await session.get(Batch, given.batch_id) is None:
        problems.add("NOT_FOUND", "No such batch.", "batchId")
    _check_dates(problems, given.starts_on, given.ends_on)
    if given.faculty_id is not None:
        await _check_faculty(uow, problems, given.faculty_id)
    if not problems.items:
        same = select(SubjectOffering.id).where(SubjectOffering.subject_id == given.subject_id)
        if given.mission_id is not None:
            same = same.where(SubjectOffering.mission_id == given.mission_id)
        else:
            same = same.where(SubjectOffering.batch_id == given.batch_id)
        if (await session.execute(same)).first() is not None:
            problems.add(
                "DUPLICATE",
                "This subject is offered there already.",
                "missionId" if given.mission_id is not None else "batchId",
            )
    problems.raise_if_any()
    assert subject is not None
    assert given.starts_on is not None
    assert given.ends_on is not None
    offering = SubjectOffering(
        subject_id=subject.id,
        mission_id=given.mission_id,
        batch_id=given.batch_id,
        faculty_id=given.faculty_id,
        starts_on=given.starts_on,
        ends_on=given.ends_on,
        created_at=datetime.now(UTC),
    )
    session.add(offering)
    await session.flush()
    audit.record(
        uow,
        "subject_offering.create",
        object_type="SubjectOffering",
        object_ids=[offering.id],
        details=_offering_details(offering),
    )
    await _tell_lead(uow, offering, subject)
    return offering


NO_CHANGE: Any = object()


async def update_offering(
    uow: UnitOfWork,
    viewer: Viewer,
    offering_id: int,
    *,
    faculty_id: Any = NO_CHANGE,
    starts_on: date | None = None,
    ends_on: date | None = None,
) -> SubjectOffering:
    """Change an offering's lead (None: nobody) or dates; a new lead is told."""
    require_manager(viewer)
    session = uow.session
    offering = await session.get(SubjectOffering, offering_id)
    if offering is None:
        raise DomainError.of("NOT_FOUND", "No such offering.", "id")
    problems = Problems()
    new_start = starts_on or offering.starts_on
    new_end = ends_on or offering.ends_on
    _check_dates(problems, new_start, new_end)
    if faculty_id is not NO_CHANGE and faculty_id is not None:
        await _check_faculty(uow, problems, faculty_id)
    problems.raise_if_any()
    before = _offering_details(offering)
    new_lead = (
        faculty_id is not NO_CHANGE
        and faculty_id is not None
        and (faculty_id != offering.faculty_id)
    )
    if faculty_id is not NO_CHANGE:
        offering.faculty_id = faculty_id
    offering.starts_on, offering.ends_on = new_start, new_end
    after = _offering_details(offering)
    if after != before:
        await session.flush()
        audit.record(
            uow,
            "subject_offering.update",
            object_type="SubjectOffering",
            object_ids=[offering.id],
            details={"before": before, "after": after},
        )
    if new_lead:
        subject = await session.get(Subject, offering.subject_id)
        assert subject is not None
        await _tell_lead(uow, offering, subject)
    return offering


async def delete_offering(uow: UnitOfWork, viewer: Viewer, offering_id: int) -> None:
    """Withdraw a subject from a mission or batch. Progress already recorded stays (it is
    the students'); it is no longer counted as taught there."""
    require_manager(viewer)
    offering = await uow.session.get(SubjectOffering, offering_id)
    if offering is None:
        raise DomainError.of("NOT_FOUND", "No such offering.", "id")
    details = _offering_details(offering)
    await uow.session.execute(delete(SubjectOffering).where(SubjectOffering.id == offering_id))
    audit.record(
        uow,
        "subject_offering.delete",
        object_type="SubjectOffering",
        object_ids=[offering_id],
        details=details,
    )
