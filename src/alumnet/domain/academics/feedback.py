"""Students' feedback on a subject, a topic, a session (a teaching time entry) or a mentor:
a rating (1 to 5) and a comment, perhaps anonymous to its recipient; its sentiment,
computed by a job; the summaries and the sentiment trend; alerts on very negative ones.

Who sees a feedback: its author; its recipient (the faculty member or mentor it is about),
an anonymous one only from the UTC day after it was given (``arrived``); academics
managers (``academics:manage``) and integrity staff (``integrity:decide``), everything at
once. The author of an anonymous feedback is shown to its author and to integrity staff
only, and never to its recipient, whatever the recipient's permissions (``shows_author``).

Nothing else may give an anonymous author away to whoever the author is hidden from:

- ids: a feedback's public id (``public_id``) is random (1 to 2**62), drawn when it is
  written, so that ids say nothing of the order feedback was given in;
- time: its exact time is hidden (only its UTC day, ``created_on``), and the lists shown
  to such viewers, and the date filters, go by days, never by time; its recipient sees an
  anonymous one only from the next UTC day, so that polling a list, a count or a summary
  does not tell when it arrived either;
- order: lists are ordered by day, then by the random public id, never by row id or
  time within a day (and their cursors carry only those two);
- few authors: anonymous feedback is refused when fewer than ``ANONYMITY_MIN`` students
  could have given it (``possible_authors``); a one-to-one session takes none at all (its
  faculty member knows who it was with);
- counts: summaries count per subject, recipient and week or month, never per author;
  no field of a ``User`` counts or lists anyone's feedback but the viewer's own;
- alerts: the alert on very negative feedback never names its author, and is not sent
  to its recipient (who would learn the time it was given from it).
"""

from __future__ import annotations

import secrets
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Table,
    and_,
    bindparam,
    case,
    cast,
    distinct,
    exists,
    func,
    or_,
    select,
    type_coerce,
    update,
)

from alumnet.domain.academics import sentiment
from alumnet.domain.academics.access import manages, subject_of_topic, taught_enrollments
from alumnet.domain.analytics.stats import as_date, month_of, week_of
from alumnet.domain.cohorts.access import taking_part
from alumnet.domain.communication.notifications import Item, notify_each
from alumnet.domain.errors import DomainError, Problems
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.identity.users import holders_of
from alumnet.domain.runtime import Runtime
from alumnet.persistence.db import upsert
from alumnet.persistence.mentoring import mentors_enrollment, mentors_student
from alumnet.persistence.models import (
    Enrollment,
    FacultyTimeEntry,
    StudentFeedback,
    Subject,
    SubjectOffering,
    User,
)
from alumnet.persistence.models.base import utcnow
from alumnet.persistence.uow import UnitOfWork

SENTIMENT_JOB = "academics.feedback_sentiment"
KIND = "academics"
TYPE = "StudentFeedback"
TARGETS = ("subject", "topic", "session", "mentor")
# The input field naming each target's object.
TARGET_FIELDS = {
    "subject": "subjectId",
    "topic": "topicId",
    "session": "sessionId",
    "mentor": "mentorId",
}
RATING_MIN, RATING_MAX = 1, 5
COMMENT_MAX = 2000
KEY_MAX = 200
# Feedback a student may give in one UTC day, in all.
DAILY_MAX = 20
# Anonymous feedback needs at least this many students who could have given it.
ANONYMITY_MIN = 3
# Public ids are drawn from 1 to PUBLIC_ID_MAX; a collision (about one in 10**18 for a
# million feedback) is drawn again, at most this many times.
PUBLIC_ID_MAX = 1 << 62
PUBLIC_ID_ATTEMPTS = 5
# Rows the sentiment job scores per transaction (one UPDATE, executed for many rows).
BATCH = 500
GROUPS = ("subject", "faculty", "period")
PERIODS = ("week", "month")
# Summaries and trends span at most this many days.
RANGE_MAX_DAYS = 5 * 366
DEFAULT_RANGE_DAYS = 365
SUMMARY_MAX = 500


def today() -> date:
    return utcnow().date()


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def new_public_id() -> int:
    """A random public id, 1 to 2**62: says nothing of when or in which order."""
    return secrets.randbits(62) + 1


def day_of(column: Any, dialect: str) -> Any:
    """The UTC day of a timestamp, as a date."""
    if dialect == "postgresql":
        return cast(column, Date)  # sessions run in UTC (persistence/db.py)
    return type_coerce(func.date(column), Date)


# -- who sees what ------------------------------------------------------------------------------


def sees_all(viewer: Viewer) -> bool:
    """Academics managers and integrity staff read every feedback, each as soon as given."""
    return manages(viewer) or viewer.can(Permission.INTEGRITY_DECIDE)


def arrived(now: datetime | None = None) -> ColumnElement[bool]:
    """SQL: feedback its recipient may see by now: named feedback at once, anonymous
    feedback from the UTC day after it was given (so that its arrival, seen by polling,
    says nothing of when its author was active)."""
    f = StudentFeedback
    return or_(f.anonymous.is_(False), f.created_at < day_start((now or utcnow()).date()))


def readable(viewer: Viewer, now: datetime | None = None) -> ColumnElement[bool] | None:
    """SQL: the feedback the viewer may read (None: all): their own, and that about them
    (anonymous feedback from the next UTC day, ``arrived``)."""
    if sees_all(viewer):
        return None
    f = StudentFeedback
    me = viewer.user_id if viewer.user_id is not None else -1
    return or_(f.author_id == me, and_(f.recipient_id == me, arrived(now)))


def shows_author(viewer: Viewer, row: Any) -> bool:
    """Whether the viewer (who may read ``row``) is shown its author, and its exact time:
    always to the author; never to the recipient of an anonymous feedback; to integrity
    staff even when anonymous; else when not anonymous."""
    me = viewer.user_id
    if me is None:
        return False
    if row.author_id == me:
        return True
    if not row.anonymous:
        return True
    if row.recipient_id is not None and row.recipient_id == me:
        return False
    return viewer.can(Permission.INTEGRITY_DECIDE)


# -- giving feedback ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackFields:
    """Feedback as given: the target and the key of the one object it names (-1 for an id
    that names nothing)."""

    target: str
    rating: int
    comment: str = ""
    anonymous: bool = False
    subject_id: int | None = None
    topic_id: int | None = None
    session_id: int | None = None
    mentor_id: int | None = None
    idempotency_key: str | None = None

    def named(self) -> dict[str, int | None]:
        return {
            "subject": self.subject_id,
            "topic": self.topic_id,
            "session": self.session_id,
            "mentor": self.mentor_id,
        }


def _check(given: FeedbackFields) -> str:
    problems = Problems()
    if given.target not in TARGETS:
        problems.add("INVALID", "Feedback is on a subject, a topic, a session or a mentor.",
                     "target")  # fmt: skip
    else:
        for target, value in given.named().items():
            field = TARGET_FIELDS[target]
            if target == given.target and value is None:
                problems.add("REQUIRED", f"Name the {target} (`{field}`).", field)
            elif target != given.target and value is not None:
                problems.add("INVALID", f"Give only `{TARGET_FIELDS[given.target]}` for "
                             f"feedback on a {given.target}.", field)  # fmt: skip
    if not RATING_MIN <= given.rating <= RATING_MAX:
        problems.add("INVALID", f"A rating is from {RATING_MIN} to {RATING_MAX}.", "rating")
    comment = given.comment.strip()
    if len(comment) > COMMENT_MAX:
        problems.add("TOO_LONG", f"A comment has at most {COMMENT_MAX} characters.", "comment")
    elif any(ord(ch) < 32 and ch not in "\t\n\r" for ch in comment):
        problems.add("INVALID", "The comment contains control characters.", "comment")
    key = given.idempotency_key
    if key is not None and not 0 < len(key) <= KEY_MAX:
        problems.add("INVALID", f"An idempotency key has 1 to {KEY_MAX} characters.",
                     "idempotencyKey")  # fmt: skip
    problems.raise_if_any()
    return comment


async def _offering_faculty(uow: UnitOfWork, subject_id: int, me: int, field: str) -> int | None:
    """The faculty member leading the offering of the subject that covers a mission the
    student takes part in (the first such offering with one); NOT_TAUGHT if none covers
    theirs."""
    taught = taught_enrollments(subject_id).where(Enrollment.student_id == me).subquery()
    found = (
        await uow.session.execute(
            select(taught.c.offering_id, SubjectOffering.faculty_id)
            .join(SubjectOffering, SubjectOffering.id == taught.c.offering_id)
            .order_by(SubjectOffering.faculty_id.is_(None), taught.c.offering_id)
            .limit(1)
        )
    ).first()
    if found is None:
        raise DomainError.of(
            "NOT_TAUGHT", "This subject is not offered to a mission you take part in.", field
        )
    return int(found.faculty_id) if found.faculty_id is not None else None


async def _resolve(
    uow: UnitOfWork, me: int, given: FeedbackFields, now: datetime
) -> tuple[int | None, int | None, int | None, int | None]:
    """(subject, topic, session, recipient) of the feedback, once its target is checked,
    and, when it is anonymous, that enough students could have given it."""
    if given.target == "subject":
        subject_id = int(given.subject_id or -1)
        if await uow.session.get(Subject, subject_id) is None:
            raise DomainError.of("NOT_FOUND", "No such subject.", "subjectId")
        recipient = await _offering_faculty(uow, subject_id, me, "subjectId")
        if given.anonymous:
            await _require_crowd(uow, _subject_students(subject_id, recipient))
        return subject_id, None, None, recipient
    if given.target == "topic":
        topic_id = int(given.topic_id or -1)
        subject_id = await subject_of_topic(uow.session, topic_id, "topicId")
        recipient = await _offering_faculty(uow, subject_id, me, "topicId")
        if given.anonymous:
            await _require_crowd(uow, _subject_students(subject_id, recipient))
        return subject_id, topic_id, None, recipient
    if given.target == "session":
        entry = await uow.session.get(FacultyTimeEntry, int(given.session_id or -1))
        missing = DomainError.of("NOT_FOUND", "No such session of yours.", "sessionId")
        if entry is None or entry.kind != "teaching":
            raise missing
        if entry.student_id is not None:
            # A one-to-one session: its student's alone, and never anonymous.
            if entry.student_id != me:
                raise missing
            if given.anonymous:
                raise DomainError.of(
                    "ANONYMITY_IMPOSSIBLE",
                    "Feedback on a one-to-one session cannot be anonymous: its faculty "
                    "member knows who it was with.",
                    "anonymous",
                )
        else:
            if entry.subject_id is None:
                raise missing
            taught = taught_enrollments(entry.subject_id).where(Enrollment.student_id == me)
            if (await uow.session.execute(select(exists(taught)))).scalar_one() is not True:
                raise missing
        started = entry.started_at
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        if started > now:
            raise DomainError.of("NOT_YET", "This session has not begun yet.", "sessionId")
        if given.anonymous and entry.subject_id is not None:
            # Those who may give feedback on it: its subject's students (as checked above).
            await _require_crowd(uow, _subject_students(entry.subject_id, None))
        return entry.subject_id, entry.topic_id, entry.id, entry.faculty_id
    mentor_id = int(given.mentor_id or -1)
    mine = await uow.session.execute(select(mentors_student(mentor_id, me)))
    if mine.scalar_one() is not True:
        raise DomainError.of("NOT_FOUND", "No such mentor of yours.", "mentorId")
    if given.anonymous:
        mentees = select(Enrollment.student_id).where(mentors_enrollment(mentor_id), taking_part())
        await _require_crowd(uow, mentees)
    return None, None, None, mentor_id


def _subject_students(subject_id: int, recipient_id: int | None) -> Any:
    """A SELECT of the students (with repeats) who could give feedback on this subject to
    this recipient: those taking part in the missions the recipient's offerings of it
    cover (any offering of it when nobody leads it)."""
    return taught_enrollments(subject_id, recipient_id).with_only_columns(Enrollment.student_id)


async def possible_authors(uow: UnitOfWork, students: Any) -> int:
    """How many distinct students a SELECT of student ids names (one statement)."""
    found = students.subquery()
    query = select(func.count(distinct(found.c.student_id)))
    return int((await uow.session.execute(query)).scalar_one())


async def _require_crowd(uow: UnitOfWork, students: Any) -> None:
    """ANONYMITY_IMPOSSIBLE unless at least ``ANONYMITY_MIN`` students could have given an
    anonymous feedback: with fewer, its recipient could tell who gave it."""
    if await possible_authors(uow, students) < ANONYMITY_MIN:
        raise DomainError.of(
            "ANONYMITY_IMPOSSIBLE",
            f"Feedback can be anonymous only when at least {ANONYMITY_MIN} students could "
            "have given it; fewer could, so its recipient would know it was you.",
            "anonymous",
        )


def _same_target(given: FeedbackFields, subject_id: Any, topic_id: Any, session_id: Any,
                 recipient_id: Any) -> Any:  # fmt: skip
    f = StudentFeedback
    if given.target == "subject":
        return f.subject_id == subject_id
    if given.target == "topic":
        return f.topic_id == topic_id
    if given.target == "session":
        return f.session_id == session_id
    return f.recipient_id == recipient_id


def _named_in(row: StudentFeedback) -> int | None:
    """The id of the object a stored feedback names, as it was given."""
    target = row.target
    if target == "subject":
        return row.subject_id
    if target == "topic":
        return row.topic_id
    if target == "session":
        return row.session_id
    return row.recipient_id


def _given_again(row: StudentFeedback, given: FeedbackFields, comment: str) -> StudentFeedback:
    """The feedback an idempotency key gave before, if the same is sent again;
    IDEMPOTENCY_CONFLICT if the key gave different feedback."""
    same = (
        row.target == given.target
        and _named_in(row) == given.named()[given.target]
        and row.rating == given.rating
        and (row.comment or "") == comment
        and bool(row.anonymous) == given.anonymous
    )
    if not same:
        raise DomainError.of(
            "IDEMPOTENCY_CONFLICT",
            "You gave different feedback with this idempotency key; use a new key.",
            "idempotencyKey",
        )
    return row


async def _by_key(uow: UnitOfWork, me: int, key: str | None) -> StudentFeedback | None:
    if key is None:
        return None
    f = StudentFeedback
    found = await uow.session.execute(
        select(f).where(f.author_id == me, f.idempotency_key == key)
        .execution_options(populate_existing=True)
    )  # fmt: skip
    return found.scalar_one_or_none()


async def submit(
    uow: UnitOfWork, viewer: Viewer, given: FeedbackFields, *, now: datetime | None = None
) -> tuple[StudentFeedback, bool]:
    """A student's feedback on something of theirs: a subject (or a topic of it) offered
    to a mission they take part in, a teaching session of such a subject or one-to-one
    with them, or a mentor of theirs. With an idempotency key the author used before: the
    same feedback is returned and nothing is written (``False``), different feedback is
    IDEMPOTENCY_CONFLICT. Once a UTC day per target (DUPLICATE), ``DAILY_MAX`` a day in
    all (THROTTLED); anonymous only when at least ``ANONYMITY_MIN`` students could have
    given it (ANONYMITY_IMPOSSIBLE). Its sentiment is scored by a job queued with it."""
    me = viewer.require_user()
    moment = now or utcnow()
    comment = _check(given)
    key = given.idempotency_key
    # One student's feedback one at a time (the daily limits are read, then written).
    await uow.session.execute(select(User.id).where(User.id == me).with_for_update())
    earlier = await _by_key(uow, me, key)
    if earlier is not None:
        return _given_again(earlier, given, comment), False
    subject_id, topic_id, session_id, recipient_id = await _resolve(uow, me, given, moment)
    f = StudentFeedback
    start = day_start(moment.date())
    todays = and_(f.author_id == me, f.created_at >= start,
                  f.created_at < start + timedelta(days=1))  # fmt: skip
    same = await uow.session.execute(
        select(exists().where(
            todays, f.target == given.target,
            _same_target(given, subject_id, topic_id, session_id, recipient_id),
        ))
    )  # fmt: skip
    if same.scalar_one() is True:
        raise DomainError.of(
            "DUPLICATE", f"You gave feedback on this {given.target} today already.", "target"
        )
    count = (await uow.session.execute(select(func.count()).where(todays))).scalar_one()
    if int(count) >= DAILY_MAX:
        raise DomainError.of(
            "THROTTLED", f"At most {DAILY_MAX} feedback a day; try again tomorrow (UTC).", None
        )
    values = {
        "author_id": me, "idempotency_key": key, "target": given.target,
        "subject_id": subject_id, "topic_id": topic_id, "session_id": session_id,
        "recipient_id": recipient_id, "rating": given.rating, "comment": comment,
        "anonymous": given.anonymous, "created_at": moment,
    }  # fmt: skip
    row_id = None
    for _ in range(PUBLIC_ID_ATTEMPTS):
        # No conflict target: a public id drawn twice, or the same key sent concurrently
        # (author_id, idempotency_key), inserts nothing and is told apart below.
        statement = upsert(uow.session, StudentFeedback).values(public_id=new_public_id(), **values)
        inserted = (
            await uow.session.execute(statement.on_conflict_do_nothing().returning(f.id))
        ).first()
        if inserted is not None:
            row_id = inserted[0]
            break
        raced = await _by_key(uow, me, key)
        if raced is not None:  # another request with this key wrote it meanwhile
            return _given_again(raced, given, comment), False
    if row_id is None:
        raise DomainError.of("CONFLICT", "Could not record the feedback; try again.", None)
    row = await uow.session.get(StudentFeedback, row_id)
    assert row is not None
    job = await uow.add_job(SENTIMENT_JOB, {"ids": [row.id]})
    if given.anonymous:
        job.created_by_id = None  # the jobs list (ops) must not tie the author to it either
    if not given.anonymous:
        # An anonymous one has no audit row: the audit log names its actor, and whoever
        # reads it (audit:read, perhaps a custom role) could then name the author.
        audit.record(uow, "feedback.submit", object_type=TYPE, object_ids=[row.public_id],
                     details={"target": given.target, "rating": given.rating})  # fmt: skip
    return row, True


# -- sentiment ------------------------------------------------------------------------------


_TABLE = typing.cast(Table, StudentFeedback.__table__)


def _batches(ids: Sequence[int] | None) -> Iterator[list[int] | None]:
    """Chunks of the ids named (None: one unbounded pass, paged by id)."""
    if ids is None:
        yield None
        return
    wanted = sorted({int(i) for i in ids})
    for start in range(0, len(wanted), BATCH):
        yield wanted[start : start + BATCH]


def _about(target: str, subject: str | None, recipient: str | None) -> str:
    if target == "subject":
        return f"the subject {subject or '(deleted)'}"
    if target == "topic":
        return f"a topic of {subject or 'a subject'}"
    if target == "session":
        return f"a session of {recipient or 'a faculty member'}"
    return f"the mentor {recipient or '(deleted)'}"


# More very negative feedback than this in one batch is told to each manager as one summary.
ALERTS_EACH = 5


async def _alert(uow: UnitOfWork, rt: Runtime, ids: list[int], now: datetime) -> int:
    """Academics managers told once of each of these very negative feedback (``alerted_at``
    taken first, so that two runs never both tell): never who wrote it, and not its
    recipient. Returns how many feedback were alerted."""
    if not ids:
        return 0
    f = _TABLE
    taken = (
        await uow.session.execute(
            update(f).where(f.c.id.in_(ids), f.c.alerted_at.is_(None))
            .values(alerted_at=now).returning(f.c.id)
        )
    ).scalars().all()  # fmt: skip
    if not taken:
        return 0
    recipient = User.__table__.alias("recipient")
    found = (
        await uow.session.execute(
            select(f.c.id, f.c.public_id, f.c.target, f.c.rating, f.c.sentiment,
                   f.c.recipient_id, Subject.name.label("subject"),
                   recipient.c.name.label("recipient"))
            .outerjoin(Subject, Subject.id == f.c.subject_id)
            .outerjoin(recipient, recipient.c.id == f.c.recipient_id)
            .where(f.c.id.in_(list(taken))).order_by(f.c.id)
        )
    ).all()  # fmt: skip
    staff_query = await holders_of(uow, Permission.ACADEMICS_MANAGE, everywhere=True)
    staff = sorted({int(i) for i in (await uow.session.execute(staff_query)).scalars()})
    items = []
    for person in staff:
        mine = [row for row in found if person != row.recipient_id]
        if len(mine) > ALERTS_EACH:
            # A backlog scored at once (an import, the nightly catch-up): one summary, not
            # a notification and an e-mail for each.
            items.append(Item(person, f"{len(mine)} very negative feedback to review",
                              "Their comments scored at or below "
                              f"{rt.settings.feedback_alert_below:+.2f} (from -1 to 1): see "
                              "studentFeedback with the label NEGATIVE."))  # fmt: skip
            continue
        items.extend(
            Item(person, "Very negative feedback to review",
                 f"A rating of {row.rating}/5 on "
                 f"{_about(row.target, row.subject, row.recipient)}, its comment scored "
                 f"{float(row.sentiment):+.2f} (from -1 to 1).", TYPE, int(row.public_id))
            for row in mine
        )  # fmt: skip
    await notify_each(uow, KIND, items)
    return len(taken)


async def score_pending(rt: Runtime, ids: Sequence[int] | None = None) -> dict[str, int]:
    """The sentiment job: the unscored feedback among ``ids`` (None: all of it) scored,
    ``BATCH`` rows a transaction (one UPDATE executed for each batch's rows); each newly
    scored at or below ``feedback_alert_below`` told to academics managers once. Running
    it again scores nothing twice."""
    f = _TABLE
    threshold = rt.settings.feedback_alert_below
    scored = alerted = 0
    statement = (
        update(f)
        .where(f.c.id == bindparam("row_id"), f.c.scored_at.is_(None))
        .values(sentiment=bindparam("score"), sentiment_label=bindparam("label"),
                scored_at=bindparam("at"))
    )  # fmt: skip
    for chunk in _batches(ids):
        after = 0
        while True:
            async with rt.transaction() as uow:
                query = select(f.c.id, f.c.comment).where(f.c.scored_at.is_(None))
                if chunk is not None:
                    query = query.where(f.c.id.in_(chunk))
                else:
                    query = query.where(f.c.id > after).order_by(f.c.id).limit(BATCH)
                rows = (await uow.session.execute(query)).all()
                if not rows:
                    break
                now = utcnow()
                params, low = [], []
                for row_id, comment in rows:
                    found = sentiment.score(comment or "")
                    params.append({"row_id": row_id, "score": found.score,
                                   "label": found.label, "at": now})  # fmt: skip
                    if found.score <= threshold:
                        low.append(int(row_id))
                done = await uow.session.execute(statement, params)
                # What this run scored: a concurrent run may have scored some meanwhile
                # (``scored_at IS NULL`` then matches nothing), so not ``len(rows)``.
                scored += max(int(getattr(done, "rowcount", 0) or 0), 0)
                alerted += await _alert(uow, rt, low, now)
            if chunk is not None or len(rows) < BATCH:
                break
            after = int(rows[-1][0])
    return {"scored": scored, "alerted": alerted}


# -- summaries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """Counts and averages of a group of feedback (averages None when it has none)."""

    count: int
    average_rating: float | None
    average_sentiment: float | None
    positive: int
    neutral: int
    negative: int
    unscored: int


@dataclass(frozen=True)
class SummaryRow:
    group: str
    key: Any  # a subject or user id (None: none), or a period's first day
    label: str
    figures: Figures


@dataclass(frozen=True)
class TrendPoint:
    period_start: date
    figures: Figures


def check_range(since: date | None, until: date | None) -> tuple[date, date]:
    """The days a summary spans (both included): ``until`` today unless given, ``since`` a
    year before it unless given; at most ``RANGE_MAX_DAYS``."""
    last = until or today()
    first = since or last - timedelta(days=DEFAULT_RANGE_DAYS)
    if last < first:
        raise DomainError.of("INVALID", "`to` is on or after `from`.", "to")
    if (last - first).days >= RANGE_MAX_DAYS:
        raise DomainError.of("INVALID", "Give `from` and `to` at most five years apart.", "from")
    return first, last


def _figures_columns() -> list[Any]:
    f = StudentFeedback

    def counted(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    return [
        func.count().label("n"),
        func.avg(f.rating).label("rating"),
        func.avg(f.sentiment).label("sentiment"),
        counted(f.sentiment_label == "positive").label("positive"),
        counted(f.sentiment_label == "neutral").label("neutral"),
        counted(f.sentiment_label == "negative").label("negative"),
        counted(f.scored_at.is_(None)).label("unscored"),
    ]


def _figures(row: Any) -> Figures:
    return Figures(
        count=int(row.n),
        average_rating=round(float(row.rating), 4) if row.rating is not None else None,
        average_sentiment=round(float(row.sentiment), 4) if row.sentiment is not None else None,
        positive=int(row.positive), neutral=int(row.neutral), negative=int(row.negative),
        unscored=int(row.unscored),
    )  # fmt: skip


def _scope(
    viewer: Viewer, since: date, until: date, subject_id: int | None, recipient_id: int | None
) -> list[ColumnElement[bool]]:
    """The feedback a summary counts: all for academics managers, else that about the
    viewer (anonymous feedback from the UTC day after it was given, unless they are
    integrity staff: ``arrived``); within the days, the subject and the recipient given."""
    f = StudentFeedback
    me = viewer.require_user()
    where: list[ColumnElement[bool]] = [
        f.created_at >= day_start(since), f.created_at < day_start(until + timedelta(days=1)),
    ]  # fmt: skip
    if not manages(viewer):
        where.append(f.recipient_id == me)
    if not sees_all(viewer):
        where.append(arrived())
    if subject_id is not None:
        where.append(f.subject_id == subject_id)
    if recipient_id is not None:
        where.append(f.recipient_id == recipient_id)
    return where


def _bucket(period: str, dialect: str) -> Any:
    if period not in PERIODS:
        raise DomainError.of("INVALID", "By week or by month.", "period")
    column = StudentFeedback.created_at
    return week_of(column, dialect) if period == "week" else month_of(column, dialect)


async def summary(
    conn: Any,
    viewer: Viewer,
    group: str,
    period: str,
    since: date | None,
    until: date | None,
    subject_id: int | None = None,
    recipient_id: int | None = None,
) -> list[SummaryRow]:
    """Feedback counted and averaged by subject, by recipient (faculty member or mentor) or
    by week or month, in one statement: at most ``SUMMARY_MAX`` groups, the largest first
    (periods in order). Academics managers count all; anyone else the feedback about
    them. Never per author."""
    if group not in GROUPS:
        raise DomainError.of("INVALID", "By subject, faculty member or period.", "groupBy")
    first, last = check_range(since, until)
    where = _scope(viewer, first, last, subject_id, recipient_id)
    f = StudentFeedback
    dialect = conn.dialect.name
    if group == "subject":
        key, label = f.subject_id, Subject.name
        query = select(key.label("key"), label.label("label"), *_figures_columns()).outerjoin(
            Subject, Subject.id == f.subject_id
        )
        query = query.group_by(key, label).order_by(func.count().desc(), label, key)
    elif group == "faculty":
        key, label = f.recipient_id, User.name
        query = select(key.label("key"), label.label("label"), *_figures_columns()).outerjoin(
            User, User.id == f.recipient_id
        )
        query = query.group_by(key, label).order_by(func.count().desc(), label, key)
    else:
        bucket = _bucket(period, dialect)
        query = select(bucket.label("key"), *_figures_columns()).group_by(bucket).order_by(bucket)
    query = query.select_from(f).where(*where).limit(SUMMARY_MAX)
    rows = (await conn.execute(query)).all()
    out = []
    for row in rows:
        if group == "period":
            start = as_date(row.key)
            out.append(SummaryRow(group, start, start.isoformat(), _figures(row)))
        else:
            name = row.label if row.key is not None and row.label is not None else None
            fallback = "No subject" if group == "subject" else "No one"
            pk = int(row.key) if row.key is not None else None
            out.append(SummaryRow(group, pk, name or fallback, _figures(row)))
    return out


def _next_period(start: date, period: str) -> date:
    if period == "week":
        return start + timedelta(days=7)
    return date(start.year + (start.month == 12), start.month % 12 + 1, 1)


def period_of(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


async def trend(
    conn: Any,
    viewer: Viewer,
    period: str,
    since: date | None,
    until: date | None,
    subject_id: int | None = None,
    recipient_id: int | None = None,
) -> list[TrendPoint]:
    """Each week (from Monday) or month from the one holding ``since`` to the one holding
    ``until``: its count, average sentiment and rating (periods with none: zero and null),
    grouped in one statement. Scope as ``summary``."""
    first, last = check_range(since, until)
    bucket = _bucket(period, conn.dialect.name)
    where = _scope(viewer, first, last, subject_id, recipient_id)
    query = (
        select(bucket.label("key"), *_figures_columns())
        .select_from(StudentFeedback)
        .where(*where)
        .group_by(bucket)
    )
    found = {as_date(row.key): _figures(row) for row in (await conn.execute(query)).all()}
    empty = Figures(0, None, None, 0, 0, 0, 0)
    points, at = [], period_of(first, period)
    while at <= last:
        points.append(TrendPoint(at, found.get(at, empty)))
        at = _next_period(at, period)
    return points
