"""Faculty time: what faculty members spend on teaching (sessions), preparation,
assessment and mentoring, logged after the fact or timed (a timer started and stopped),
against subjects, topics, students and missions; weekly targets, utilisation and the
workload of all faculty.

Rules:

- A holder of ``academics:teach`` logs their own time; an ``academics:manage`` holder logs
  anyone's who holds ``academics:teach``. Others: NOT_ALLOWED.
- An entry ends after it starts, lasts at most 16 hours, ends at most 5 minutes from now
  and starts at most 90 days ago (checked whenever its times are given or changed).
- Two entries of one faculty member never overlap (an end equal to the next start is
  fine); a running timer overlaps everything after its start. Refused TIME_CONFLICT, with
  the other entry's times in the message. Entries are written under a lock on the faculty
  member's ``faculty_targets`` row, so that two concurrent requests cannot both store
  overlapping entries.
- A topic must be of the subject (a topic alone names its subject). The subject must be
  one the faculty member leads an offering of, unless an academics manager writes the
  entry (a manager may record time on any subject, e.g. a lecture no offering records).
- A student must be one the faculty member teaches (takes part in a mission covered by an
  offering they lead) or mentors; an academics manager may also name a student taught the
  entry's subject by anyone.
- A mission must be covered by an offering of the entry's subject, if it names one; else
  by an offering the faculty member leads, or one they mentor in (managers: any mission).
- A teaching entry is a session: it names its subject or its student.
- The relation rules are checked for what is given or changed: editing the note of an
  entry a manager wrote does not check its subject again.
- One timer runs at a time (TIMER_RUNNING). Stopping it records the minutes, rounded; a
  timer stopped after more than 16 hours ends 16 hours after its start, and its note says
  so.
- A week is an ISO week (Monday 00:00 UTC to the next Monday). An entry counts in the
  week it started in; a running timer counts up to now (at most 16 hours). A faculty
  member's target is their ``faculty_targets.weekly_minutes``, else the
  ``faculty_weekly_hours`` setting; the current target is used for past weeks too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Double,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    union,
)

from alumnet.domain.academics.access import covers_mission, manages
from alumnet.domain.analytics.stats import hours_between
from alumnet.domain.cohorts.access import taking_part
from alumnet.domain.errors import DomainError, Problems, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Role, Viewer
from alumnet.domain.identity.users import holders_of
from alumnet.persistence.db import insert_or_ignore, upsert
from alumnet.persistence.mentoring import mentors_in_mission, mentors_student
from alumnet.persistence.models import (
    Enrollment,
    FacultyTarget,
    FacultyTimeEntry,
    Mission,
    Subject,
    SubjectOffering,
    Topic,
    User,
    UserRole,
)
from alumnet.persistence.models.base import UTCDateTime, utcnow
from alumnet.persistence.uow import UnitOfWork

KINDS = ("teaching", "preparation", "assessment", "mentoring")
TEACHING = "teaching"
LONGEST = timedelta(hours=16)
LONGEST_MINUTES = 16 * 60
AHEAD = timedelta(minutes=5)
BACK = timedelta(days=90)
NOTE_MAX = 2000
WEEKLY_HOURS_MIN = 1
WEEKLY_HOURS_MAX = 80
WEEKS_MAX = 52
WEEKS_DEFAULT = 8
# facultyWorkload lists at most this many faculty members.
WORKLOAD_MAX = 1000
CAPPED_NOTE = "Timer stopped after more than 16 hours: capped at 16 hours."


@dataclass(frozen=True)
class EntryFields:
    """What an entry is about. Ids are primary keys (-1 for an id that names nothing)."""

    kind: str
    subject_id: int | None = None
    topic_id: int | None = None
    student_id: int | None = None
    mission_id: int | None = None
    note: str | None = None


# The current time, aware UTC (the models' own clock).
now = utcnow


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime (a naive one is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def minutes_between(start: datetime, end: datetime) -> int:
    """Whole minutes from start to end, rounded (half a minute up)."""
    return int(((utc(end) - utc(start)).total_seconds() + 30) // 60)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_start(day: date) -> datetime:
    """Monday 00:00 UTC of the ISO week of ``day``."""
    monday = monday_of(day)
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


def _when(moment: datetime) -> str:
    return utc(moment).strftime("%Y-%m-%d %H:%M UTC")


# --- who may see -------------------------------------------------------------------


def session_for(student_id: Any) -> ColumnElement[bool]:
    """A condition on ``FacultyTimeEntry``: a session (teaching entry) this student may
    give feedback on: one with them as its student, or one without a student whose subject
    is offered to a mission they take part in (that mission, if the entry names one)."""
    offered = (
        select(Enrollment.id)
        .join(Mission, Mission.id == Enrollment.mission_id)
        .join(SubjectOffering, covers_mission())
        .where(
            Enrollment.student_id == student_id,
            SubjectOffering.subject_id == FacultyTimeEntry.subject_id,
            taking_part(),
            or_(
                FacultyTimeEntry.mission_id.is_(None),
                FacultyTimeEntry.mission_id == Enrollment.mission_id,
            ),
        )
    )
    return and_(
        FacultyTimeEntry.kind == TEACHING,
        or_(
            FacultyTimeEntry.student_id == student_id,
            and_(FacultyTimeEntry.student_id.is_(None), exists(offered)),
        ),
    )


def readable(viewer: Viewer) -> ColumnElement[bool] | None:
    """A condition on ``FacultyTimeEntry``: the entries the viewer may see (None: all):
    academics managers all; a faculty member their own; a student the sessions they may
    give feedback on (without their notes: ``sees_details``)."""
    if manages(viewer):
        return None
    if viewer.user_id is None:
        return false()
    me = viewer.user_id
    own = FacultyTimeEntry.faculty_id == me
    if not viewer.can(Permission.ACADEMICS_TEACH):
        own = false()
    return or_(own, session_for(me))


def sees_details(viewer: Viewer, faculty_id: int) -> bool:
    """Whether the viewer sees an entry's note (its faculty member, or a manager)."""
    return manages(viewer) or (
        viewer.user_id == faculty_id and viewer.can(Permission.ACADEMICS_TEACH)
    )


def may_read_faculty(viewer: Viewer, faculty_id: int) -> bool:
    """Whether the viewer may read this faculty member's time and utilisation."""
    return sees_details(viewer, faculty_id)


# --- writing -----------------------------------------------------------------------


async def _faculty_for(uow: UnitOfWork, viewer: Viewer, faculty_id: int | None) -> int:
    """Whose time is written: the viewer's own (academics:teach), or, for an academics
    manager, anyone's who holds academics:teach."""
    me = viewer.require_user()
    if faculty_id is None or faculty_id == me:
        if not viewer.can(Permission.ACADEMICS_TEACH):
            raise DomainError.of("NOT_ALLOWED", "Only faculty log their time.", None)
        return me
    if not manages(viewer):
        raise DomainError.of(
            "NOT_ALLOWED", "Only academics managers log time for someone else.", "facultyId"
        )
    teaching = await holders_of(uow, Permission.ACADEMICS_TEACH, everywhere=True)
    found = await uow.session.execute(
        select(User.id).where(User.id == faculty_id, User.id.in_(teaching))
    )
    if found.first() is None:
        raise DomainError.of("NOT_FOUND", "No such faculty member.", "facultyId")
    return faculty_id


async def _lock(uow: UnitOfWork, faculty_id: int) -> None:
    """Take the faculty member's lock (their ``faculty_targets`` row, made if missing):
    whoever writes their entries next waits until this transaction ends."""
    await insert_or_ignore(
        uow.session, FacultyTarget,
        {"faculty_id": faculty_id, "weekly_minutes": None, "updated_at": now()},
        ["faculty_id"],
    )  # fmt: skip
    await uow.session.execute(
        select(FacultyTarget.faculty_id)
        .where(FacultyTarget.faculty_id == faculty_id)
        .with_for_update()
    )


async def _exists(uow: UnitOfWork, query: Any) -> bool:
    return (await uow.session.execute(select(literal(1)).where(query))).first() is not None


async def _check_about(
    uow: UnitOfWork,
    problems: Problems,
    faculty_id: int,
    given: EntryFields,
    *,
    by_manager: bool,
    before: FacultyTimeEntry | None = None,
) -> EntryFields:
    """The entry's subject, topic, student and mission checked (see the module's rules);
    the fields with the subject a topic names."""

    def changed(name: str) -> bool:
        return before is None or getattr(before, name) != getattr(given, name)

    if given.kind not in KINDS:
        problems.add("INVALID", "An entry is teaching, preparation, assessment or mentoring.",
                     "kind")  # fmt: skip
    subject_id = given.subject_id
    if given.topic_id is not None:
        of_topic = (
            await uow.session.execute(select(Topic.subject_id).where(Topic.id == given.topic_id))
        ).scalar_one_or_none()
        if of_topic is None:
            problems.add("NOT_FOUND", "No such topic.", "topicId")
        elif subject_id is None:
            subject_id = int(of_topic)
        elif int(of_topic) != subject_id:
            problems.add("WRONG_SUBJECT", "This topic is not of the entry's subject.", "topicId")
    subject_changed = before is None or before.subject_id != subject_id
    if subject_id is not None:
        if await uow.session.get(Subject, subject_id) is None:
            problems.add("NOT_FOUND", "No such subject.", "subjectId")
            subject_id = None
        elif not by_manager and subject_changed:
            leads = exists().where(
                SubjectOffering.subject_id == subject_id, SubjectOffering.faculty_id == faculty_id
            )
            if not await _exists(uow, leads):
                problems.add("NOT_TAUGHT", "This faculty member leads no offering of this "
                             "subject.", "subjectId")  # fmt: skip
    if given.student_id is not None and changed("student_id"):
        teaches = [SubjectOffering.faculty_id == faculty_id]
        if by_manager and subject_id is not None:
            teaches.append(SubjectOffering.subject_id == subject_id)
        taught = exists(
            select(Enrollment.id)
            .join(Mission, Mission.id == Enrollment.mission_id)
            .join(SubjectOffering, covers_mission())
            .where(Enrollment.student_id == given.student_id, taking_part(), or_(*teaches))
        )
        if not await _exists(uow, or_(taught, mentors_student(faculty_id, given.student_id))):
            # The same answer for a user who is no student at all: nothing is revealed.
            problems.add("NOT_TAUGHT", "Not a student this faculty member teaches or mentors.",
                         "studentId")  # fmt: skip
    if given.mission_id is not None and (changed("mission_id") or subject_changed):
        if await uow.session.get(Mission, given.mission_id) is None:
            problems.add("NOT_FOUND", "No such mission.", "missionId")
        elif subject_id is not None:
            offered = exists(
                select(SubjectOffering.id)
                .join(Mission, covers_mission())
                .where(Mission.id == given.mission_id, SubjectOffering.subject_id == subject_id)
            )
            if not await _exists(uow, offered):
                problems.add("WRONG_MISSION", "The subject is not offered to this mission.",
                             "missionId")  # fmt: skip
        elif not by_manager:
            leads = exists(
                select(SubjectOffering.id)
                .join(Mission, covers_mission())
                .where(Mission.id == given.mission_id, SubjectOffering.faculty_id == faculty_id)
            )
            mentors = mentors_in_mission(faculty_id, given.mission_id)
            if not await _exists(uow, or_(leads, mentors)):
                problems.add("NOT_TAUGHT", "This faculty member neither teaches nor mentors "
                             "in this mission.", "missionId")  # fmt: skip
    if given.kind == TEACHING and subject_id is None and given.student_id is None:
        problems.add("REQUIRED", "A teaching session names its subject (or topic) or its "
                     "student.", "subjectId")  # fmt: skip
    note = check_text(problems, given.note, field="note", max_length=NOTE_MAX, label="A note")
    return EntryFields(
        kind=given.kind, subject_id=subject_id, topic_id=given.topic_id,
        student_id=given.student_id, mission_id=given.mission_id, note=note or None,
    )  # fmt: skip


def _check_times(
    problems: Problems, started_at: datetime, ended_at: datetime, at: datetime
) -> None:
    if ended_at <= started_at:
        problems.add("INVALID", "The end must come after the start.", "endedAt")
    elif ended_at - started_at > LONGEST:
        problems.add("OUT_OF_RANGE", "An entry lasts at most 16 hours.", "endedAt")
    if ended_at > at + AHEAD:
        problems.add("OUT_OF_RANGE", "An entry ends at most 5 minutes from now.", "endedAt")
    if started_at < at - BACK:
        problems.add("OUT_OF_RANGE", "An entry starts at most 90 days ago.", "startedAt")


async def _refuse_overlap(
    uow: UnitOfWork,
    faculty_id: int,
    started_at: datetime,
    ended_at: datetime | None,
    *,
    own: bool,
    but: int | None = None,
) -> None:
    """TIME_CONFLICT if [started_at, ended_at) (open-ended: a timer) overlaps another entry
    of the faculty member (a running one lasts for ever). Call under ``_lock``."""
    e = FacultyTimeEntry
    clash = [e.faculty_id == faculty_id, or_(e.ended_at.is_(None), e.ended_at > started_at)]
    if ended_at is not None:
        clash.append(e.started_at < ended_at)
    if but is not None:
        clash.append(e.id != but)
    found = (
        await uow.session.execute(
            select(e.kind, e.started_at, e.ended_at).where(*clash).order_by(e.started_at).limit(1)
        )
    ).first()
    if found is None:
        return
    whose = "your" if own else "this faculty member's"
    if found.ended_at is None:
        what = f"{whose} timer running since {_when(found.started_at)}"
    else:
        what = (f"{whose} {found.kind} entry from {_when(found.started_at)} to "
                f"{_when(found.ended_at)}")  # fmt: skip
    raise DomainError.of("TIME_CONFLICT", f"This overlaps {what}.",
                         "endedAt" if ended_at is not None else None)  # fmt: skip


def _details(entry: FacultyTimeEntry) -> dict[str, Any]:
    return {
        "faculty": entry.faculty_id, "kind": entry.kind,
        "started_at": utc(entry.started_at).isoformat(),
        "ended_at": utc(entry.ended_at).isoformat() if entry.ended_at else None,
        "minutes": entry.minutes, "subject": entry.subject_id, "topic": entry.topic_id,
        "student": entry.student_id, "mission": entry.mission_id,
    }  # fmt: skip


async def log(
    uow: UnitOfWork,
    viewer: Viewer,
    given: EntryFields,
    started_at: datetime,
    ended_at: datetime,
    *,
    faculty_id: int | None = None,
) -> FacultyTimeEntry:
    """Log time already spent (see the module's rules). The same entry sent again (same
    times, kind, subject, topic, student and mission) returns the first and writes
    nothing."""
    at = now()
    faculty = await _faculty_for(uow, viewer, faculty_id)
    start, end = utc(started_at), utc(ended_at)
    problems = Problems()
    _check_times(problems, start, end, at)
    fields = await _check_about(uow, problems, faculty, given, by_manager=manages(viewer))
    problems.raise_if_any()
    await _lock(uow, faculty)
    e = FacultyTimeEntry
    # The same entry sent again (a script's retry) is the one it made, not a conflict.
    same = (await uow.session.execute(select(e).where(
        e.faculty_id == faculty, e.started_at == start, e.ended_at == end,
        e.kind == fields.kind, e.subject_id.is_not_distinct_from(fields.subject_id),
        e.topic_id.is_not_distinct_from(fields.topic_id),
        e.student_id.is_not_distinct_from(fields.student_id),
        e.mission_id.is_not_distinct_from(fields.mission_id),
    ))).scalars().first()  # fmt: skip
    if same is not None:
        return same
    await _refuse_overlap(uow, faculty, start, end, own=faculty == viewer.user_id)
    entry = FacultyTimeEntry(
        faculty_id=faculty, kind=fields.kind, subject_id=fields.subject_id,
        topic_id=fields.topic_id, student_id=fields.student_id, mission_id=fields.mission_id,
        started_at=start, ended_at=end, minutes=minutes_between(start, end), note=fields.note,
        created_at=at,
    )  # fmt: skip
    uow.session.add(entry)
    await uow.session.flush()
    audit.record(uow, "faculty_time.log", object_type="FacultyTimeEntry",
                 object_ids=[entry.id], details=_details(entry))  # fmt: skip
    return entry


async def start_timer(uow: UnitOfWork, viewer: Viewer, given: EntryFields) -> FacultyTimeEntry:
    """Start a timer for the viewer's own time: TIMER_RUNNING if one runs already."""
    at = now()
    faculty = await _faculty_for(uow, viewer, None)
    problems = Problems()
    fields = await _check_about(uow, problems, faculty, given, by_manager=manages(viewer))
    problems.raise_if_any()
    await _lock(uow, faculty)
    running = await _running(uow, faculty)
    if running is not None:
        raise DomainError.of("TIMER_RUNNING", "Your timer has been running since "
                             f"{_when(running.started_at)}: stop it first.", None)  # fmt: skip
    await _refuse_overlap(uow, faculty, at, None, own=True)
    entry = FacultyTimeEntry(
        faculty_id=faculty, kind=fields.kind, subject_id=fields.subject_id,
        topic_id=fields.topic_id, student_id=fields.student_id, mission_id=fields.mission_id,
        started_at=at, ended_at=None, minutes=None, note=fields.note, created_at=at,
    )  # fmt: skip
    uow.session.add(entry)
    await uow.session.flush()
    audit.record(uow, "faculty_time.timer_start", object_type="FacultyTimeEntry",
                 object_ids=[entry.id], details=_details(entry))  # fmt: skip
    return entry


async def _running(uow: UnitOfWork, faculty_id: int) -> FacultyTimeEntry | None:
    found = await uow.session.execute(
        select(FacultyTimeEntry)
        .where(FacultyTimeEntry.faculty_id == faculty_id, FacultyTimeEntry.ended_at.is_(None))
        .execution_options(populate_existing=True)
    )
    return found.scalars().first()


async def _editable(uow: UnitOfWork, viewer: Viewer, entry_id: int) -> FacultyTimeEntry:
    """The entry, locked under its faculty member's lock, if the viewer may change it
    (its faculty member, or an academics manager); NOT_FOUND otherwise."""
    me = viewer.require_user()
    entry = await uow.session.get(FacultyTimeEntry, entry_id)
    if entry is None or not (
        manages(viewer) or (entry.faculty_id == me and viewer.can(Permission.ACADEMICS_TEACH))
    ):
        raise DomainError.of("NOT_FOUND", "No such time entry.", "id")
    await _lock(uow, entry.faculty_id)
    fresh = (
        await uow.session.execute(
            select(FacultyTimeEntry)
            .where(FacultyTimeEntry.id == entry_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if fresh is None:
        raise DomainError.of("NOT_FOUND", "No such time entry.", "id")
    return fresh


async def stop_timer(
    uow: UnitOfWork, viewer: Viewer, entry_id: int | None = None
) -> FacultyTimeEntry:
    """Stop a running timer: the viewer's own (without ``entry_id``), or the one named
    (their own, or anyone's for an academics manager). Minutes are rounded; past 16 hours
    it ends 16 hours after its start and its note says so."""
    at = now()
    if entry_id is None:
        me = viewer.require_user()
        if not viewer.can(Permission.ACADEMICS_TEACH):
            raise DomainError.of("NOT_ALLOWED", "Only faculty time their work.", None)
        await _lock(uow, me)
        entry = await _running(uow, me)
        if entry is None:
            raise DomainError.of("NO_TIMER", "No timer of yours is running.", None)
    else:
        entry = await _editable(uow, viewer, entry_id)
        if entry.ended_at is not None:
            raise DomainError.of("NO_TIMER", "This entry's timer is not running.", "id")
    start = utc(entry.started_at)
    end = max(at, start)
    if end - start > LONGEST:
        end = start + LONGEST
        entry.note = f"{entry.note}\n{CAPPED_NOTE}" if entry.note else CAPPED_NOTE
    # No overlap check: while it ran, nothing after its start could be written, and
    # stopping only ends it.
    entry.ended_at = end
    entry.minutes = minutes_between(start, end)
    await uow.session.flush()
    audit.record(uow, "faculty_time.timer_stop", object_type="FacultyTimeEntry",
                 object_ids=[entry.id], details=_details(entry))  # fmt: skip
    return entry


# Sentinel: a field not given to ``update`` (None clears it).
KEEP: Any = object()


async def update(
    uow: UnitOfWork,
    viewer: Viewer,
    entry_id: int,
    *,
    kind: str | None = None,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    subject_id: Any = KEEP,
    topic_id: Any = KEEP,
    student_id: Any = KEEP,
    mission_id: Any = KEEP,
    note: Any = KEEP,
) -> FacultyTimeEntry:
    """Change an entry (its faculty member, or an academics manager): what is given
    (``KEEP`` keeps a value, None clears it), checked as when it was logged. A running
    timer's end is set by stopping it."""
    at = now()
    entry = await _editable(uow, viewer, entry_id)
    if ended_at is not None and entry.ended_at is None:
        raise DomainError.of("TIMER_RUNNING", "This timer is running: stop it to end it.",
                             "endedAt")  # fmt: skip
    given = EntryFields(
        kind=kind if kind is not None else entry.kind,
        subject_id=entry.subject_id if subject_id is KEEP else subject_id,
        topic_id=entry.topic_id if topic_id is KEEP else topic_id,
        student_id=entry.student_id if student_id is KEEP else student_id,
        mission_id=entry.mission_id if mission_id is KEEP else mission_id,
        note=entry.note if note is KEEP else note,
    )  # fmt: skip
    if subject_id is KEEP and topic_id is not KEEP and topic_id is not None:
        given = replace(given, subject_id=None)  # the topic names its subject
    problems = Problems()
    start = utc(started_at) if started_at is not None else utc(entry.started_at)
    end = utc(ended_at) if ended_at is not None else entry.ended_at
    if started_at is not None or ended_at is not None:
        if end is None:
            if start > at + AHEAD:
                problems.add("OUT_OF_RANGE", "A timer starts at most 5 minutes from now.",
                             "startedAt")  # fmt: skip
            if start < at - BACK:
                problems.add("OUT_OF_RANGE", "An entry starts at most 90 days ago.", "startedAt")
        else:
            _check_times(problems, start, utc(end), at)
    fields = await _check_about(uow, problems, entry.faculty_id, given,
                                by_manager=manages(viewer), before=entry)  # fmt: skip
    problems.raise_if_any()
    await _refuse_overlap(uow, entry.faculty_id, start, end,
                          own=entry.faculty_id == viewer.user_id, but=entry.id)  # fmt: skip
    entry.kind, entry.subject_id, entry.topic_id = fields.kind, fields.subject_id, fields.topic_id
    entry.student_id, entry.mission_id, entry.note = (
        fields.student_id, fields.mission_id, fields.note,
    )  # fmt: skip
    entry.started_at, entry.ended_at = start, end
    entry.minutes = minutes_between(start, end) if end is not None else None
    await uow.session.flush()
    audit.record(uow, "faculty_time.update", object_type="FacultyTimeEntry",
                 object_ids=[entry.id], details=_details(entry))  # fmt: skip
    return entry


async def delete(uow: UnitOfWork, viewer: Viewer, entry_id: int) -> int:
    """Delete an entry (its faculty member, or an academics manager); a running timer is
    discarded. Its id."""
    entry = await _editable(uow, viewer, entry_id)
    details = _details(entry)
    await uow.session.delete(entry)
    await uow.session.flush()
    audit.record(uow, "faculty_time.delete", object_type="FacultyTimeEntry",
                 object_ids=[entry_id], details=details)  # fmt: skip
    return entry_id


async def set_target(
    uow: UnitOfWork, viewer: Viewer, faculty_id: int, weekly_hours: float | None
) -> FacultyTarget:
    """Set a faculty member's weekly target (1 to 80 hours; None: the default setting);
    academics managers only."""
    viewer.require_user()
    if not manages(viewer):
        raise DomainError.of("NOT_ALLOWED", "Only academics managers set targets.", None)
    if weekly_hours is not None and not WEEKLY_HOURS_MIN <= weekly_hours <= WEEKLY_HOURS_MAX:
        raise DomainError.of("OUT_OF_RANGE", f"A weekly target is {WEEKLY_HOURS_MIN} to "
                             f"{WEEKLY_HOURS_MAX} hours.", "weeklyHours")  # fmt: skip
    teaching = await holders_of(uow, Permission.ACADEMICS_TEACH, everywhere=True)
    found = await uow.session.execute(
        select(User.id).where(User.id == faculty_id, User.id.in_(teaching))
    )
    if found.first() is None:
        raise DomainError.of("NOT_FOUND", "No such faculty member.", "facultyId")
    minutes = round(weekly_hours * 60) if weekly_hours is not None else None
    at = now()
    statement = upsert(uow.session, FacultyTarget).values(
        faculty_id=faculty_id, weekly_minutes=minutes, updated_at=at
    )
    statement = statement.on_conflict_do_update(
        index_elements=["faculty_id"], set_={"weekly_minutes": minutes, "updated_at": at}
    )
    await uow.session.execute(statement)
    target = (
        await uow.session.execute(
            select(FacultyTarget)
            .where(FacultyTarget.faculty_id == faculty_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    audit.record(uow, "faculty_target.set", object_type="User", object_ids=[faculty_id],
                 details={"weekly_minutes": minutes})  # fmt: skip
    return target


# --- figures -----------------------------------------------------------------------


def _now_literal() -> Any:
    return literal(now(), UTCDateTime())


def counted_minutes(dialect: str) -> Any:
    """An entry's minutes as figures count them: its minutes, or a running timer's so far
    (at most 16 hours)."""
    e = FacultyTimeEntry
    elapsed = hours_between(_now_literal(), e.started_at, dialect) * 60.0
    running = case((elapsed > LONGEST_MINUTES, LONGEST_MINUTES), else_=elapsed)
    return cast(case((e.ended_at.is_(None), running), else_=e.minutes), Double)


def _by_kind(minutes: Any) -> list[Any]:
    e = FacultyTimeEntry
    return [
        func.coalesce(func.sum(case((e.kind == k, minutes), else_=0.0)), 0.0).label(k)
        for k in KINDS
    ]


@dataclass(frozen=True)
class WeekFigures:
    faculty_id: int
    week: date  # its Monday
    minutes: dict[str, int]  # by kind
    total: int
    target: int

    @property
    def utilisation(self) -> float:
        return self.total / self.target if self.target else 0.0


def _figures(faculty_id: int, week: date, row: Any, target: int) -> WeekFigures:
    by_kind = {k: round(float(getattr(row, k) or 0)) if row is not None else 0 for k in KINDS}
    return WeekFigures(faculty_id=faculty_id, week=week, minutes=by_kind,
                       total=sum(by_kind.values()), target=target)  # fmt: skip


def default_minutes(settings: Any) -> int:
    return int(settings.faculty_weekly_hours) * 60


async def utilisation(
    executor: Any,
    dialect: str,
    faculty_id: int,
    *,
    weeks: int,
    until: date,
    default_target: int,
) -> list[WeekFigures]:
    """The faculty member's ``weeks`` ISO weeks up to the one of ``until``, oldest first:
    minutes by kind, the total and the target. Two statements."""
    last = week_start(until)
    first = last - timedelta(weeks=weeks - 1)
    e = FacultyTimeEntry
    bounds = [(e.started_at < first + timedelta(weeks=n + 1), n) for n in range(weeks - 1)]
    # One week needs no grouping (GROUP BY a constant would be a column number).
    bucket = (case(*bounds, else_=weeks - 1) if bounds else literal_column("0")).label("bucket")
    query = select(bucket, *_by_kind(counted_minutes(dialect))).where(
        e.faculty_id == faculty_id,
        e.started_at >= first,
        e.started_at < last + timedelta(weeks=1),
    )
    if bounds:
        query = query.group_by(bucket)
    rows = {int(r.bucket): r for r in (await executor.execute(query)).all()}
    set_minutes = (
        await executor.execute(
            select(FacultyTarget.weekly_minutes).where(FacultyTarget.faculty_id == faculty_id)
        )
    ).scalar_one_or_none()
    target = int(set_minutes) if set_minutes is not None else default_target
    return [
        _figures(faculty_id, (first + timedelta(weeks=n)).date(), rows.get(n), target)
        for n in range(weeks)
    ]


async def workload(
    executor: Any, dialect: str, week: date, *, default_target: int
) -> list[WeekFigures]:
    """Every faculty member's figures for the ISO week of ``week``: holders of the FACULTY
    role (active accounts) and anyone with entries that week, by utilisation, highest
    first (then by id). One statement."""
    monday = week_start(week)
    e = FacultyTimeEntry
    in_week = and_(e.started_at >= monday, e.started_at < monday + timedelta(weeks=1))
    people = union(
        select(UserRole.user_id.label("faculty_id"))
        .join(User, User.id == UserRole.user_id)
        .where(UserRole.role == Role.FACULTY.value, User.status == "active"),
        select(e.faculty_id.label("faculty_id")).where(in_week),
    ).subquery()
    target = func.coalesce(FacultyTarget.weekly_minutes, default_target)
    minutes = counted_minutes(dialect)
    total = func.coalesce(func.sum(minutes), 0.0)
    query = (
        select(people.c.faculty_id, target.label("target"), *_by_kind(minutes))
        .select_from(people)
        .outerjoin(FacultyTarget, FacultyTarget.faculty_id == people.c.faculty_id)
        .outerjoin(e, and_(e.faculty_id == people.c.faculty_id, in_week))
        .group_by(people.c.faculty_id, FacultyTarget.weekly_minutes)
        .order_by((total / target).desc(), people.c.faculty_id)
        .limit(WORKLOAD_MAX)
    )
    rows: Sequence[Any] = (await executor.execute(query)).all()
    return [_figures(int(r.faculty_id), monday.date(), r, int(r.target)) for r in rows]
