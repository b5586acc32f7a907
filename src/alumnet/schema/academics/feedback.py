"""Academics: students' feedback on subjects, topics, sessions and mentors, its sentiment,
and the feedback summaries.

Anonymity (see domain/academics/feedback.py): whoever the author of an anonymous feedback
is hidden from (its recipient always) gets no `author`, no `createdAt` (only `createdOn`,
the UTC day), and lists ordered by day and then by the random public id (their cursors
carry only those); feedback ids are that random public id. Its recipient sees an
anonymous feedback only from the UTC day after it was given."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Annotated, Any, Self, TypeVar

import strawberry
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.academics import feedback
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.persistence.models import StudentFeedback as FeedbackModel
from alumnet.persistence.models import User as UserModel
from alumnet.schema.context import Info
from alumnet.schema.errors import (
    UserError,
    report_errors,
    user_errors,
)
from alumnet.schema.identity.types import User
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, run_in_transaction
from alumnet.schema.nodes import int_ids, optional_gid, optional_pk, visible_user
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey, reads_loader
from alumnet.schema.permissions import requires, requires_any

ev = strawberry.enum_value
TYPE = feedback.TYPE
T = TypeVar("T")


@strawberry.enum(description="What a feedback is about.")
class FeedbackTarget(Enum):
    SUBJECT = ev("subject", description="A subject; its recipient leads its offering.")
    TOPIC = ev("topic", description="One topic of a subject; as a subject's, its recipient.")
    SESSION = ev(
        "session", description="A teaching session (`FacultyTimeEntry`); its faculty member."
    )
    MENTOR = ev("mentor", description="A mentor of the student; the mentor.")


@strawberry.enum(description="The sentiment of a comment, by VADER's compound score.")
class SentimentLabel(Enum):
    POSITIVE = ev("positive", description="A score of 0.05 or more.")
    NEUTRAL = ev("neutral", description="A score between -0.05 and 0.05 (an empty comment).")
    NEGATIVE = ev("negative", description="A score of -0.05 or less.")


@strawberry.enum(description="How a feedback summary is grouped.")
class FeedbackGroup(Enum):
    SUBJECT = ev("subject", description="By subject (mentor feedback: no subject).")
    FACULTY = ev("faculty", description="By recipient: the faculty member or mentor it is about.")
    PERIOD = ev("period", description="By week or month (`period`).")


@strawberry.enum(description="A calendar period, in UTC.")
class FeedbackPeriod(Enum):
    WEEK = ev("week", description="ISO weeks, from Monday.")
    MONTH = ev("month", description="Calendar months.")


def _dialect(info: Info) -> str:
    return "sqlite" if info.context.runtime.database.is_sqlite else "postgresql"


async def _names(reads: Any, ids: Sequence[int]) -> list[str | None]:
    async with reads.connect() as conn:
        rows = await conn.execute(
            select(UserModel.id, UserModel.name).where(UserModel.id.in_(list(ids)))
        )
        found = {int(i): str(n) for i, n in rows.all()}
    return [found.get(i) for i in ids]


@strawberry.type(
    description="A student's feedback on a subject, a topic, a session or a mentor: a rating "
    "and a comment, and the comment's sentiment once scored (within seconds). Seen by its "
    "author, its recipient (an anonymous one only from the UTC day after it was given), "
    "academics managers and integrity staff (at once). An anonymous feedback's author is "
    "shown only to the author and to integrity staff, never to its recipient; to whoever "
    "it is hidden from, its exact time is hidden too (`createdOn` only). Its id is random: "
    "it says nothing of when it was given."
)
class StudentFeedback(relay.Node):
    id: relay.NodeID[int]
    target: FeedbackTarget = strawberry.field(description="What it is about.")
    subject_id: relay.GlobalID | None = strawberry.field(
        description="The `Subject` it is about (of its topic or session); null for a mentor."
    )
    topic_id: relay.GlobalID | None = strawberry.field(
        description="The `Topic` it is about (or its session's topic), if any."
    )
    session_id: relay.GlobalID | None = strawberry.field(
        description="The session (`FacultyTimeEntry`) it is about, if any."
    )
    rating: int = strawberry.field(description="From 1 (worst) to 5 (best).")
    comment: str = strawberry.field(description="The comment (at most 2,000 characters).")
    anonymous: bool = strawberry.field(
        description="Whether its author is hidden from its recipient (never from integrity staff)."
    )
    sentiment: float | None = strawberry.field(
        description="The comment's sentiment, VADER's compound score from -1 (most negative) "
        "to 1; null until scored."
    )
    sentiment_label: SentimentLabel | None = strawberry.field(
        description="The sentiment's label; null until scored."
    )
    created_on: date = strawberry.field(description="The day it was given (UTC).")
    created_at: datetime | None = strawberry.field(
        description="When it was given (UTC); null when its author is hidden from you (an "
        "anonymous feedback's exact time could tell who gave it)."
    )
    _author_id: strawberry.Private[int | None]
    _recipient_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any, viewer: Viewer) -> Self:
        shown = feedback.shows_author(viewer, row)
        moment = row.created_at
        return cls(
            id=int(row.public_id), target=FeedbackTarget(row.target),
            subject_id=optional_gid("Subject", row.subject_id),
            topic_id=optional_gid("Topic", row.topic_id),
            session_id=optional_gid("FacultyTimeEntry", row.session_id), rating=int(row.rating),
            comment=row.comment or "", anonymous=bool(row.anonymous),
            sentiment=float(row.sentiment) if row.sentiment is not None else None,
            sentiment_label=SentimentLabel(row.sentiment_label)
            if row.sentiment_label is not None else None,
            created_on=moment.date(), created_at=moment if shown else None,
            _author_id=int(row.author_id) if shown else None,
            _recipient_id=int(row.recipient_id) if row.recipient_id is not None else None,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        wanted = int_ids(node_ids)
        viewer = info.context.viewer
        found: dict[int, Any] = {}
        asked = sorted({i for i in wanted if i is not None})
        if asked and viewer.is_authenticated:
            table = FeedbackModel.__table__
            query = select(table).where(table.c.public_id.in_(asked))
            visible = feedback.readable(viewer)
            if visible is not None:
                query = query.where(visible)
            async with info.context.reads.connect() as conn:
                found = {int(r.public_id): r for r in (await conn.execute(query)).all()}
        return [cls.from_row(found[i], viewer) if i in found else None for i in wanted]

    @strawberry.field(
        description="Who gave it: null when it is anonymous and you are neither its author "
        "nor integrity staff, always null to its recipient, and null when you may not see "
        "that user."
    )
    async def author(self, info: Info) -> User | None:
        return await visible_user(info, self._author_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="The faculty member or mentor it is about (null: a subject nobody leads, "
        "or a user you may not see; `recipientName` still names them)."
    )
    async def recipient(self, info: Info) -> User | None:
        return await visible_user(info, self._recipient_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The recipient's name; null when it has none.")
    async def recipient_name(self, info: Info) -> str | None:
        if self._recipient_id is None:
            return None
        loader = reads_loader(info, ("feedback", "names"), _names)
        return await loader.load(self._recipient_id)  # type: ignore[no-any-return]


@strawberry.type(description="Feedback, a page at a time.")
class StudentFeedbackConnection(CountedConnection[StudentFeedback]):
    pass


@strawberry.enum(description="Why giving feedback failed.")
class StudentFeedbackErrorCode(Enum):
    NOT_FOUND = ev(
        "NOT_FOUND", description="No such subject or topic, session of yours, or mentor of yours."
    )
    NOT_TAUGHT = ev(
        "NOT_TAUGHT", description="The subject is not offered to a mission you take part in."
    )
    NOT_YET = ev("NOT_YET", description="The session has not begun yet.")
    ANONYMITY_IMPOSSIBLE = ev(
        "ANONYMITY_IMPOSSIBLE",
        description="This feedback cannot be anonymous: it is on a one-to-one session, or "
        f"fewer than {feedback.ANONYMITY_MIN} students could have given it (its recipient "
        "would know who did).",
    )
    IDEMPOTENCY_CONFLICT = ev(
        "IDEMPOTENCY_CONFLICT",
        description="You gave different feedback with this idempotency key; use a new key.",
    )
    DUPLICATE = ev(
        "DUPLICATE", description="You gave feedback on this today already (one a day, UTC)."
    )
    THROTTLED = ev("THROTTLED", description="You gave 20 feedback today already (UTC).")
    REQUIRED = ev("REQUIRED", description="The id the target needs is missing.")
    TOO_LONG = ev("TOO_LONG", description="The comment is longer than 2,000 characters.")
    CONFLICT = ev("CONFLICT", description="A concurrent change won; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with feedback given.")
class StudentFeedbackError(UserError):
    code: StudentFeedbackErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="The feedback given, or why there is none.")
class StudentFeedbackPayload:
    feedback: StudentFeedback | None = strawberry.field(description="The feedback.")
    user_errors: list[StudentFeedbackError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Feedback on a subject, a topic, a session or a mentor.")
class StudentFeedbackSubmitInput:
    target: FeedbackTarget = strawberry.field(
        description="What it is about; give exactly the id it names."
    )
    subject_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="SUBJECT: a `Subject` offered to a mission you take part in.",
    )
    topic_id: relay.GlobalID | None = strawberry.field(
        default=None, description="TOPIC: a `Topic` of such a subject."
    )
    session_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="SESSION: a teaching `FacultyTimeEntry` that has begun, of such a "
        "subject, or one-to-one with you.",
    )
    mentor_id: relay.GlobalID | None = strawberry.field(
        default=None, description="MENTOR: the `User` who mentors you."
    )
    rating: int = strawberry.field(description="From 1 (worst) to 5 (best).")
    comment: str = strawberry.field(
        default="", description="What you think, at most 2,000 characters (may be empty)."
    )
    anonymous: bool = strawberry.field(
        default=False,
        description="Hide who you are from its recipient (integrity staff still see it); "
        "the recipient sees it from the next UTC day. Not for a one-to-one session, nor "
        f"when fewer than {feedback.ANONYMITY_MIN} students could have given it "
        "(ANONYMITY_IMPOSSIBLE).",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Any key of yours (at most 200 characters), kept with the feedback: "
        "sending the same feedback again with it, on any day, returns the first and writes "
        "nothing; different feedback with it is IDEMPOTENCY_CONFLICT. Without a key, the "
        "same target again the same day is DUPLICATE.",
    )


@strawberry.input(description="Which feedback you received to list.")
class FeedbackReceivedFilter:
    from_: date | None = strawberry.field(
        default=None, name="from", description="Given on or after this day (UTC)."
    )
    to: date | None = strawberry.field(
        default=None, description="Given on or before this day (UTC)."
    )
    label: SentimentLabel | None = strawberry.field(
        default=None, description="Only those scored with this sentiment."
    )


@strawberry.input(description="Which feedback to list.")
class StudentFeedbackFilter:
    subject_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only about this `Subject` (its topics and sessions too)."
    )
    recipient_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only about this `User` (faculty member or mentor)."
    )
    target: FeedbackTarget | None = strawberry.field(
        default=None, description="Only on this kind of target."
    )
    label: SentimentLabel | None = strawberry.field(
        default=None, description="Only those scored with this sentiment."
    )
    from_: date | None = strawberry.field(
        default=None, name="from", description="Given on or after this day (UTC)."
    )
    to: date | None = strawberry.field(
        default=None, description="Given on or before this day (UTC)."
    )


@strawberry.type(description="One group of a feedback summary: its counts and averages.")
class FeedbackSummaryRow:
    subject_id: relay.GlobalID | None = strawberry.field(
        description="By SUBJECT: the `Subject` (null: feedback on mentors)."
    )
    recipient_id: relay.GlobalID | None = strawberry.field(
        description="By FACULTY: the recipient `User` (null: a subject nobody leads)."
    )
    period_start: date | None = strawberry.field(
        description="By PERIOD: the first day (UTC) of the week (a Monday) or month."
    )
    label: str = strawberry.field(
        description="The subject's or recipient's name, or the period's first day (ISO)."
    )
    count: int = strawberry.field(description="How many feedback it counts.")
    average_rating: float | None = strawberry.field(description="Their mean rating (1 to 5).")
    average_sentiment: float | None = strawberry.field(
        description="The mean sentiment of the scored ones (-1 to 1); null if none is."
    )
    positive: int = strawberry.field(description="How many were scored positive.")
    neutral: int = strawberry.field(description="How many were scored neutral.")
    negative: int = strawberry.field(description="How many were scored negative.")
    unscored: int = strawberry.field(description="How many are not scored yet.")


@strawberry.type(description="One week or month of the feedback sentiment trend.")
class FeedbackTrendPoint:
    period_start: date = strawberry.field(
        description="The first day (UTC) of the week (a Monday) or month."
    )
    count: int = strawberry.field(description="How many feedback were given in it.")
    average_sentiment: float | None = strawberry.field(
        description="Their mean sentiment (-1 to 1), of the scored ones; null if none."
    )
    average_rating: float | None = strawberry.field(
        description="Their mean rating (1 to 5); null if none."
    )
    positive: int = strawberry.field(description="How many were scored positive.")
    neutral: int = strawberry.field(description="How many were scored neutral.")
    negative: int = strawberry.field(description="How many were scored negative.")


def _summary_row(row: feedback.SummaryRow) -> FeedbackSummaryRow:
    f = row.figures
    return FeedbackSummaryRow(
        subject_id=optional_gid("Subject", row.key) if row.group == "subject" else None,
        recipient_id=optional_gid("User", row.key) if row.group == "faculty" else None,
        period_start=row.key if row.group == "period" else None, label=row.label,
        count=f.count, average_rating=f.average_rating, average_sentiment=f.average_sentiment,
        positive=f.positive, neutral=f.neutral, negative=f.negative, unscored=f.unscored,
    )  # fmt: skip


def _trend_point(point: feedback.TrendPoint) -> FeedbackTrendPoint:
    f = point.figures
    return FeedbackTrendPoint(
        period_start=point.period_start, count=f.count, average_sentiment=f.average_sentiment,
        average_rating=f.average_rating, positive=f.positive, neutral=f.neutral,
        negative=f.negative,
    )  # fmt: skip


async def _checked(run: Callable[[], Awaitable[T]]) -> T:
    with report_errors():
        return await run()


def _days(since: date | None, until: date | None) -> list[Any]:
    """Given from ``since`` to ``until`` (UTC days, both included): days only, so that no
    filter can narrow an anonymous feedback down to its time."""
    f = FeedbackModel
    where = []
    if since is not None:
        where.append(f.created_at >= feedback.day_start(since))
    if until is not None:
        where.append(f.created_at < feedback.day_start(until + timedelta(days=1)))
    return where


def _list(info: Info, *where: Any, by_day: bool = True) -> KeysetQuery[StudentFeedback]:
    """Feedback the viewer may read among ``where``: by day (newest first, UTC), then by
    the random public id, never by time or row id, so that cursors carry only the day and
    the public id (``by_day`` False: the author's own list, newest first by time)."""
    viewer = info.context.viewer
    f = FeedbackModel
    if by_day:
        day = feedback.day_of(f.created_at, _dialect(info)).label("day")
        query = select(*f.__table__.c, day)
        first = SortKey(day, descending=True, attr="day")
    else:
        query = select(*f.__table__.c)
        first = SortKey(f.created_at, descending=True)
    query = query.where(*where)
    visible = feedback.readable(viewer)
    if visible is not None:
        query = query.where(visible)
    sort = [first, SortKey(f.public_id)]
    return KeysetQuery(
        query, sort, lambda row: StudentFeedback.from_row(row, viewer), info.context.reads
    )


@strawberry.type
class StudentFeedbackQuery:
    @relay.connection(
        StudentFeedbackConnection,
        description="The feedback you gave, newest first.",
        max_results=1000,
        extensions=requires(),
    )
    def my_feedback_given(self, info: Info) -> Iterable[StudentFeedback]:
        me = info.context.viewer.user_id or -1
        return _list(info, FeedbackModel.author_id == me, by_day=False)

    @relay.connection(
        StudentFeedbackConnection,
        description="The feedback about you (as a faculty member or mentor), by day given, "
        "newest first (UTC); within a day in no meaningful order, so that an anonymous "
        "feedback's place says nothing of who gave it. Anonymous feedback appears from the "
        "UTC day after it was given (at once for academics managers and integrity staff).",
        max_results=1000,
        extensions=requires(),
    )
    def feedback_received(
        self,
        info: Info,
        filter: Annotated[
            FeedbackReceivedFilter | None, strawberry.argument(description="Which feedback.")
        ] = None,
    ) -> Iterable[StudentFeedback]:
        me = info.context.viewer.user_id or -1
        where = [FeedbackModel.recipient_id == me]
        if filter is not None:
            where.extend(_days(filter.from_, filter.to))
            if filter.label is not None:
                where.append(FeedbackModel.sentiment_label == filter.label.value)
        return _list(info, *where)

    @relay.connection(
        StudentFeedbackConnection,
        description="Every feedback (academics managers and integrity staff), by day given, "
        "newest first (UTC), and within a day in no meaningful order.",
        max_results=1000,
        extensions=requires_any(Permission.ACADEMICS_MANAGE, Permission.INTEGRITY_DECIDE),
    )
    def student_feedback(
        self,
        info: Info,
        filter: Annotated[
            StudentFeedbackFilter | None, strawberry.argument(description="Which feedback.")
        ] = None,
    ) -> Iterable[StudentFeedback]:
        f = FeedbackModel
        where: list[Any] = []
        if filter is not None:
            if filter.subject_id is not None:
                where.append(f.subject_id == optional_pk(filter.subject_id, "Subject"))
            if filter.recipient_id is not None:
                where.append(f.recipient_id == optional_pk(filter.recipient_id, "User"))
            if filter.target is not None:
                where.append(f.target == filter.target.value)
            if filter.label is not None:
                where.append(f.sentiment_label == filter.label.value)
            where.extend(_days(filter.from_, filter.to))
        return _list(info, *where)

    @strawberry.field(
        extensions=requires(),
        description="Feedback counted and averaged by subject, by recipient or by week or "
        "month, from `from` to `to` (UTC days; by default the year to today, at most five "
        "years): every feedback for academics managers, else that about you (anonymous "
        "feedback counted from the UTC day after it was given, unless you are integrity "
        "staff). At most 500 groups, the largest first (periods in order). Never per author.",
    )
    async def feedback_summary(
        self,
        info: Info,
        group_by: Annotated[FeedbackGroup, strawberry.argument(description="How to group.")],
        period: Annotated[
            FeedbackPeriod, strawberry.argument(description="By PERIOD: weeks or months.")
        ] = FeedbackPeriod.MONTH,
        from_: Annotated[
            date | None, strawberry.argument(name="from", description="The first day (UTC).")
        ] = None,
        to: Annotated[date | None, strawberry.argument(description="The last day (UTC).")] = None,
        subject_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only this `Subject`'s.")
        ] = None,
        recipient_id: Annotated[
            relay.GlobalID | None,
            strawberry.argument(description="Only about this `User`."),
        ] = None,
    ) -> list[FeedbackSummaryRow]:
        viewer = info.context.viewer

        async def run() -> list[feedback.SummaryRow]:
            async with info.context.reads.connect() as conn:
                return await feedback.summary(
                    conn, viewer, str(group_by.value), str(period.value), from_, to,
                    optional_pk(subject_id, "Subject"), optional_pk(recipient_id, "User"),
                )  # fmt: skip

        return [_summary_row(r) for r in await _checked(run)]

    @strawberry.field(
        extensions=requires(),
        description="Feedback week by week (from Monday) or month by month, from the period "
        "holding `from` to the one holding `to` (UTC days; by default the year to today, at "
        "most five years): count, average sentiment and rating, periods without feedback "
        "included (count 0). Every feedback for academics managers, else that about you "
        "(anonymous feedback counted from the UTC day after it was given, unless you are "
        "integrity staff).",
    )
    async def feedback_sentiment_trend(
        self,
        info: Info,
        period: Annotated[FeedbackPeriod, strawberry.argument(description="Weeks or months.")],
        from_: Annotated[
            date | None, strawberry.argument(name="from", description="The first day (UTC).")
        ] = None,
        to: Annotated[date | None, strawberry.argument(description="The last day (UTC).")] = None,
        subject_id: Annotated[
            relay.GlobalID | None, strawberry.argument(description="Only this `Subject`'s.")
        ] = None,
        recipient_id: Annotated[
            relay.GlobalID | None,
            strawberry.argument(description="Only about this `User`."),
        ] = None,
    ) -> list[FeedbackTrendPoint]:
        viewer = info.context.viewer

        async def run() -> list[feedback.TrendPoint]:
            async with info.context.reads.connect() as conn:
                return await feedback.trend(
                    conn, viewer, str(period.value), from_, to,
                    optional_pk(subject_id, "Subject"), optional_pk(recipient_id, "User"),
                )  # fmt: skip

        return [_trend_point(p) for p in await _checked(run)]


@strawberry.type
class StudentFeedbackMutation:
    @strawberry.mutation(
        extensions=requires(),
        description="Give feedback, as a student, on a subject offered to a mission you take "
        "part in (or a topic of it), a teaching session of such a subject or one-to-one with "
        "you, or a mentor of yours: once a day per target, 20 a day in all (UTC days); "
        "anonymous only when at least 3 students could have given it; sent again with the "
        "same idempotency key, the first is returned. Its sentiment is scored within "
        "seconds; very negative feedback is brought to academics managers' attention (never "
        "naming its author).",
    )
    async def student_feedback_submit(
        self, info: Info, input: Annotated[StudentFeedbackSubmitInput, arg("The feedback.")]
    ) -> StudentFeedbackPayload:
        viewer = info.context.viewer
        given = feedback.FeedbackFields(
            target=str(input.target.value), rating=input.rating, comment=input.comment,
            anonymous=input.anonymous, subject_id=optional_pk(input.subject_id, "Subject"),
            topic_id=optional_pk(input.topic_id, "Topic"),
            session_id=optional_pk(input.session_id, "FacultyTimeEntry"),
            mentor_id=optional_pk(input.mentor_id, "User"),
            idempotency_key=input.idempotency_key,
        )  # fmt: skip

        async def change(uow: Any) -> Any:
            row, _ = await feedback.submit(uow, viewer, given)
            return row

        found, problems = await run_in_transaction(info, change)
        return StudentFeedbackPayload(
            feedback=StudentFeedback.from_row(found, viewer) if found is not None else None,
            user_errors=user_errors(StudentFeedbackError, StudentFeedbackErrorCode, problems),
        )


# The node types this module adds to the schema (schema/__init__.py NODE_TYPES).
TYPES: list[type] = [StudentFeedback]
