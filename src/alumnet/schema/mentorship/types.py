"""Mentorship types: mentor offers, requests, mentorships, suggestions and the matching
weights."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.events import calendar
from alumnet.domain.identity.permissions import Permission
from alumnet.domain.mentorship import figures as mentorship_figures
from alumnet.domain.mentorship import offers, requests, sessions
from alumnet.persistence.loaders.common import grouped
from alumnet.persistence.models import MentorOffer as OfferModel
from alumnet.persistence.models import Mentorship as MentorshipModel
from alumnet.persistence.models import MentorshipFeedback as FeedbackModel
from alumnet.persistence.models import MentorshipGoal as GoalModel
from alumnet.persistence.models import MentorshipNote as NoteModel
from alumnet.persistence.models import MentorshipRequest as RequestModel
from alumnet.persistence.models import MentorshipSession as SessionModel
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID
from alumnet.schema.nodes import int_ids, readable_rows
from alumnet.schema.pagination import (
    MAX_PAGE,
    ORDER_DIRECTION_DESCRIPTION,
    CountedConnection,
    KeysetQuery,
    SortDirection,
    SortKey,
    descending,
    reads_loader,
)

if TYPE_CHECKING:
    from alumnet.schema.people.types import Profile

ev = strawberry.enum_value
PEOPLE = "alumnet.schema.people.types"
MENTORSHIP = "alumnet.schema.mentorship.types"


@strawberry.enum(description="A kind of help a mentor offers.")
class MentorHelpKind(Enum):
    CAREER_ADVICE = ev("career_advice", description="Career advice.")
    CV_REVIEW = ev("cv_review", description="Reviewing CVs and cover letters.")
    MOCK_INTERVIEWS = ev("mock_interviews", description="Mock interviews.")
    NETWORKING = ev("networking", description="Introductions to people in their field.")
    ENTREPRENEURSHIP = ev("entrepreneurship", description="Starting a business.")
    FURTHER_STUDY = ev("further_study", description="Applying for further study.")


@strawberry.enum(description="Whom a mentor takes.")
class MenteeKind(Enum):
    STUDENTS = ev("students", description="Students only.")
    ALUMNI = ev("alumni", description="Alumni only.")
    BOTH = ev("both", description="Students and alumni.")


@strawberry.enum(description="Where a mentorship request stands.")
class MentorshipRequestStatus(Enum):
    PENDING = ev("pending", description="Waiting for the mentor's answer.")
    ACCEPTED = ev("accepted", description="Accepted: a mentorship began.")
    DECLINED = ev("declined", description="Declined, with a reason.")
    WITHDRAWN = ev("withdrawn", description="Withdrawn by the mentee.")
    EXPIRED = ev("expired", description="Not answered in time.")


@strawberry.enum(description="Where a mentorship stands.")
class MentorshipStatus(Enum):
    ACTIVE = ev("active", description="Going on.")
    COMPLETED = ev("completed", description="Completed.")
    ENDED = ev("ended", description="Ended early (see `endReason`).")


@strawberry.type(description="A weekly window when a mentor is available, in their time zone.")
class AvailabilityWindow:
    weekday: int = strawberry.field(description="0 (Monday) to 6 (Sunday).")
    start: str = strawberry.field(description="Start, HH:MM.")
    end: str = strawberry.field(description="End, HH:MM.")


@strawberry.type(
    description="Someone's offer to mentor. Its id is the mentor's; seen by everyone signed "
    "in while it is not paused."
)
class MentorOffer(relay.Node):
    id: relay.NodeID[int]
    headline: str | None = strawberry.field(description="What they offer, in a line.")
    offers: list[MentorHelpKind] = strawberry.field(description="The kinds of help.")
    industries: list[str] = strawberry.field(description="Industries they know.")
    languages: list[str] = strawberry.field(description="Languages (ISO 639-1).")
    availability: list[AvailabilityWindow] = strawberry.field(
        description="When they are available each week, in `timeZone`."
    )
    time_zone: str = strawberry.field(description="Their time zone (IANA).")
    capacity: int = strawberry.field(description="How many mentees they take at once.")
    preferred_mentee: MenteeKind = strawberry.field(description="Whom they take.")
    paused: bool = strawberry.field(description="Not taking mentees now.")
    has_room: bool = strawberry.field(description="Whether they can take another mentee now.")
    updated_at: datetime = strawberry.field(description="Last changed (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.user_id, headline=row.headline,
            offers=[MentorHelpKind(o) for o in row.offers or [] if o in offers.OFFER_KINDS],
            industries=list(row.industries or []), languages=list(row.languages or []),
            availability=[AvailabilityWindow(weekday=w["weekday"], start=w["start"],
                                             end=w["end"]) for w in row.availability or []],
            time_zone=row.time_zone, capacity=row.capacity,
            preferred_mentee=MenteeKind(row.preferred_mentee), paused=row.paused,
            has_room=not row.paused and row.active_mentees < row.capacity,
            updated_at=row.updated_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        wanted = [i for i in ids if i]
        if not wanted or not info.context.viewer.is_authenticated:
            return [None for _ in ids]
        query = select(OfferModel.__table__).where(
            OfferModel.user_id.in_(wanted), offers.listed(info.context.viewer)
        )
        async with info.context.reads.connect() as conn:
            found = {row.user_id: row for row in (await conn.execute(query)).all()}
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(
        description="Their active mentees now (themselves and staff; null for anyone else)."
    )
    def active_mentees(self, info: Info) -> int | None:
        viewer = info.context.viewer
        mine = viewer.user_id == self.id or viewer.can(Permission.MENTORSHIP_MANAGE)
        return int(self._row.active_mentees) if mine else None

    @strawberry.field(
        description="For the mentor themselves: their figures (requests, answers, "
        "mentorships, sessions and the average of their mentees' ratings). Null for anyone "
        "else; staff read every mentor's with `mentorFigures`."
    )
    async def figures(self, info: Info) -> MentorshipFigures | None:
        if info.context.viewer.user_id != self.id:
            return None
        async with info.context.reads.connect() as conn:
            found = await mentorship_figures.overall(conn, conn.dialect.name, self.id)
        return figures_of(found)

    @strawberry.field(description="Topics they mentor in (the profiles' skills), by name.")
    async def topics(self, info: Info) -> list[str]:
        return await reads_loader(info, ("mentorship", "topics"), _topics).load(self.id)  # type: ignore[no-any-return]

    @strawberry.field(description="The mentor's profile, as the directory shows it to you.")
    async def profile(self, info: Info) -> Annotated[Profile, strawberry.lazy(PEOPLE)] | None:
        from alumnet.schema.people.types import Profile as ProfileNode

        [found] = await ProfileNode.resolve_nodes(info=info, node_ids=[str(self.id)])
        return found


def _offers(info: Info) -> Any:
    async def load(reads: Any, ids: Sequence[int]) -> list[MentorOffer | None]:
        return await MentorOffer.resolve_nodes(info=info, node_ids=[str(i) for i in ids])

    return load


async def _topics(reads: Any, ids: Sequence[int]) -> list[list[str]]:
    rows = await grouped(reads, offers.topics_of(list(ids)), "user_id", ids)
    return [[str(r.name) for r in group] for group in rows]


@strawberry.type(description="Mentor offers, a page at a time.")
class MentorOfferConnection(CountedConnection[MentorOffer]):
    pass


async def _profile(info: Info, user_id: int) -> Any:
    from alumnet.schema.people.types import Profile as ProfileNode

    [found] = await ProfileNode.resolve_nodes(info=info, node_ids=[str(user_id)])
    return found


@strawberry.type(description="A request to a mentor, seen by the mentee and the mentor.")
class MentorshipRequest(relay.Node):
    id: relay.NodeID[int]
    status: MentorshipRequestStatus = strawberry.field(description="Where it stands.")
    goals: str = strawberry.field(description="What the mentee wants to achieve.")
    message: str | None = strawberry.field(description="The mentee's message.")
    reason: str | None = strawberry.field(description="Why it was declined.")
    expires_at: datetime = strawberry.field(description="When it expires unanswered (UTC).")
    answered_at: datetime | None = strawberry.field(description="When it was answered (UTC).")
    created_at: datetime = strawberry.field(description="When it was made (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, status=MentorshipRequestStatus(row.status), goals=row.goals,
            message=row.message, reason=row.reason, expires_at=row.expires_at,
            answered_at=row.answered_at, created_at=row.created_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        viewer = info.context.viewer
        if not viewer.is_authenticated:
            return [None for _ in ids]
        condition = requests.readable(viewer)
        found = await readable_rows(info, RequestModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="The mentee, as the directory shows them to you.")
    async def mentee(self, info: Info) -> Annotated[Profile, strawberry.lazy(PEOPLE)] | None:
        return await _profile(info, self._row.mentee_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The mentor's offer.")
    async def mentor(self, info: Info) -> MentorOffer | None:
        loader = reads_loader(info, ("mentorship", "offers"), _offers(info))
        return await loader.load(self._row.mentor_id)  # type: ignore[no-any-return]


@strawberry.type(description="Requests, a page at a time.")
class MentorshipRequestConnection(CountedConnection[MentorshipRequest]):
    pass


@strawberry.enum(description="What a mentorship's sessions can be sorted by.")
class MentorshipSessionOrderField(Enum):
    STARTS_AT = ev("starts_at", description="When it starts (natural: earliest first).")


@strawberry.input(description="How to sort sessions; ties are broken by session.")
class MentorshipSessionOrder:
    field: MentorshipSessionOrderField = strawberry.field(
        default=MentorshipSessionOrderField.STARTS_AT, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


@strawberry.enum(description="What a mentorship's notes can be sorted by.")
class MentorshipNoteOrderField(Enum):
    CREATED_AT = ev("created_at", description="When it was written (natural: newest first).")


@strawberry.input(description="How to sort notes; ties are broken by the order they were written.")
class MentorshipNoteOrder:
    field: MentorshipNoteOrderField = strawberry.field(
        default=MentorshipNoteOrderField.CREATED_AT, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


@strawberry.type(description="A mentorship, seen by its mentor and mentee (and staff).")
class Mentorship(relay.Node):
    id: relay.NodeID[int]
    status: MentorshipStatus = strawberry.field(description="Active, completed or ended.")
    started_at: datetime = strawberry.field(description="When it began (UTC).")
    ended_at: datetime | None = strawberry.field(description="When it ended (UTC).")
    end_reason: str | None = strawberry.field(description="Why it ended early (or a note).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(id=row.id, status=MentorshipStatus(row.status), started_at=row.started_at,
                   ended_at=row.ended_at, end_reason=row.end_reason, _row=row)  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        viewer = info.context.viewer
        if not viewer.is_authenticated:
            return [None for _ in ids]
        condition = requests.readable_mentorships(viewer)
        found = await readable_rows(info, MentorshipModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Whether the mentor ended it (false: the mentee; null: open).")
    def ended_by_mentor(self) -> bool | None:
        if self._row.ended_by_id is None:
            return None
        return bool(self._row.ended_by_id == self._row.mentor_id)

    @strawberry.field(description="The mentee, as the directory shows them to you.")
    async def mentee(self, info: Info) -> Annotated[Profile, strawberry.lazy(PEOPLE)] | None:
        return await _profile(info, self._row.mentee_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The mentor, as the directory shows them to you.")
    async def mentor(self, info: Info) -> Annotated[Profile, strawberry.lazy(PEOPLE)] | None:
        return await _profile(info, self._row.mentor_id)  # type: ignore[no-any-return]

    @relay.connection(
        Annotated["MentorshipSessionConnection", strawberry.lazy(MENTORSHIP)],
        description="Its sessions, earliest first unless `orderBy` says otherwise.",
        max_results=MAX_PAGE,
    )
    def sessions(
        self,
        info: Info,
        order_by: Annotated[
            MentorshipSessionOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[MentorshipSession]:
        order = order_by or MentorshipSessionOrder()
        down = descending(order.direction, SortDirection.ASC)
        return KeysetQuery(
            select(SessionModel.__table__),
            [SortKey(SessionModel.starts_at, down), SortKey(SessionModel.id, down)],
            MentorshipSession.from_row,
            info.context.reads,
            partition=(SessionModel.mentorship_id, self.id),
            batch_key=("Mentorship.sessions", order.field, down),
        )

    @strawberry.field(description="Its goals, in the order they were set (100 at most).")
    async def goals(self, info: Info) -> list[MentorshipGoal]:
        rows = await reads_loader(info, ("mentorship", "goals"), _goals).load(self.id)
        return [MentorshipGoal.from_row(r) for r in rows[:100]]

    @relay.connection(
        Annotated["MentorshipNoteConnection", strawberry.lazy(MENTORSHIP)],
        description="Notes you may read: yours, and those the other side shared; newest "
        "first unless `orderBy` says otherwise. Nobody else's, staff included.",
        max_results=MAX_PAGE,
    )
    def notes(
        self,
        info: Info,
        order_by: Annotated[
            MentorshipNoteOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[MentorshipNote]:
        viewer = info.context.viewer
        me = viewer.user_id if viewer.user_id is not None else -1
        order = order_by or MentorshipNoteOrder()
        down = descending(order.direction, SortDirection.DESC)
        query = select(NoteModel.__table__, (NoteModel.author_id == me).label("mine")).where(
            sessions.readable_notes(viewer)
        )
        return KeysetQuery(  # type: ignore[type-var]
            query,
            [SortKey(NoteModel.created_at, down), SortKey(NoteModel.id, down)],
            MentorshipNote.from_row,
            info.context.reads,
            partition=(NoteModel.mentorship_id, self.id),
            batch_key=("Mentorship.notes", order.field, down, viewer.user_id),
        )

    @strawberry.field(description="Your own ratings in it (of sessions, and at the end).")
    async def viewer_feedback(self, info: Info) -> list[MentorshipFeedback]:
        rows = await reads_loader(info, ("mentorship", "feedback"), _feedback(info)).load(self.id)
        return [MentorshipFeedback.from_row(r) for r in rows[:201]]


@strawberry.type(description="Mentorships, a page at a time.")
class MentorshipConnection(CountedConnection[Mentorship]):
    pass


@strawberry.enum(description="Where a session stands.")
class MentorshipSessionStatus(Enum):
    SCHEDULED = ev("scheduled", description="Booked.")
    CANCELLED = ev("cancelled", description="Cancelled.")


@strawberry.type(description="A mentorship session, seen by its two sides.")
class MentorshipSession(relay.Node):
    id: relay.NodeID[int]
    starts_at: datetime = strawberry.field(description="When it starts (UTC).")
    ends_at: datetime = strawberry.field(description="When it ends (UTC).")
    join_url: str | None = strawberry.field(description="The link to join (https).")
    place: str | None = strawberry.field(description="Where, in person.")
    agenda: str | None = strawberry.field(description="What it is for.")
    status: MentorshipSessionStatus = strawberry.field(description="Booked or cancelled.")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(id=row.id, starts_at=row.starts_at, ends_at=row.ends_at,
                   join_url=row.join_url, place=row.place, agenda=row.agenda,
                   status=MentorshipSessionStatus(row.status), _row=row)  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        me = info.context.viewer.user_id if info.context.viewer.user_id is not None else -1
        condition = (SessionModel.mentor_id == me) | (SessionModel.mentee_id == me)
        found = await readable_rows(info, SessionModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Its length in minutes.")
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)

    @strawberry.field(description="A link to it as an iCalendar (.ics) file for you (30 days).")
    def calendar_url(self, info: Info) -> str | None:
        me = info.context.viewer.user_id
        if me is None:
            return None
        settings = info.context.runtime.settings
        token = calendar.event_token(settings, me, self.id, calendar.SESSION_AUDIENCE)
        return f"{settings.public_url}/calendar/session.ics?token={token}"


@strawberry.enum(description="How far a goal got.")
class MentorshipGoalStatus(Enum):
    NOT_STARTED = ev("not_started", description="Not started.")
    IN_PROGRESS = ev("in_progress", description="In progress.")
    DONE = ev("done", description="Done.")


@strawberry.type(description="A goal of a mentorship.")
class MentorshipGoal(relay.Node):
    id: relay.NodeID[int]
    title: str = strawberry.field(description="The goal.")
    status: MentorshipGoalStatus = strawberry.field(description="How far it got.")
    updated_at: datetime = strawberry.field(description="Last changed (UTC).")

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(id=row.id, title=row.title, status=MentorshipGoalStatus(row.status),
                   updated_at=row.updated_at)  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        me = info.context.viewer.user_id if info.context.viewer.user_id is not None else -1
        sides = select(MentorshipModel.id).where(
            (MentorshipModel.mentor_id == me) | (MentorshipModel.mentee_id == me)
        )
        condition = GoalModel.mentorship_id.in_(sides)
        found = await readable_rows(info, GoalModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]


@strawberry.type(description="A note in a mentorship.")
class MentorshipNote:
    body: str = strawberry.field(description="The note.")
    shared: bool = strawberry.field(description="Shared with the other side.")
    mine: bool = strawberry.field(description="Whether you wrote it.")
    session_id: relay.GlobalID | None = strawberry.field(description="The session it is about.")
    created_at: datetime = strawberry.field(description="When (UTC).")

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            body=row.body, shared=row.shared, mine=bool(getattr(row, "mine", False)),
            session_id=relay.GlobalID("MentorshipSession", str(row.session_id))
            if row.session_id is not None else None,
            created_at=row.created_at,
        )  # fmt: skip


@strawberry.type(description="Sessions, a page at a time.")
class MentorshipSessionConnection(CountedConnection[MentorshipSession]):
    pass


@strawberry.type(description="Notes, a page at a time.")
class MentorshipNoteConnection(CountedConnection[MentorshipNote]):  # type: ignore[type-var]
    pass


@strawberry.type(description="One of your ratings in a mentorship.")
class MentorshipFeedback:
    rating: int = strawberry.field(description="1 to 5.")
    comment: str | None = strawberry.field(description="What you wrote.")
    session_id: relay.GlobalID | None = strawberry.field(
        description="The session it rates; null: the mentorship as a whole, at its end."
    )
    created_at: datetime = strawberry.field(description="When (UTC).")

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            rating=row.rating, comment=row.comment, created_at=row.created_at,
            session_id=relay.GlobalID("MentorshipSession", str(row.session_id))
            if row.session_id is not None else None,
        )  # fmt: skip


async def _goals(reads: Any, ids: Sequence[int]) -> list[list[Any]]:
    query = (
        select(GoalModel.__table__)
        .where(GoalModel.mentorship_id.in_(list(ids)))
        .order_by(GoalModel.id)
    )
    return await grouped(reads, query, "mentorship_id", ids)


def _feedback(info: Info) -> Any:
    me = info.context.viewer.user_id if info.context.viewer.user_id is not None else -1

    async def load(reads: Any, ids: Sequence[int]) -> list[list[Any]]:
        query = (
            select(FeedbackModel.__table__)
            .where(FeedbackModel.mentorship_id.in_(list(ids)), FeedbackModel.author_id == me)
            .order_by(FeedbackModel.created_at)
        )
        return await grouped(reads, query, "mentorship_id", ids)

    return load


@strawberry.type(description="A mentor's or the programme's mentorship in figures.")
class MentorshipFigures:
    requests: int = strawberry.field(description="Requests made.")
    accepted: int = strawberry.field(description="Accepted.")
    declined: int = strawberry.field(description="Declined.")
    expired: int = strawberry.field(description="Expired unanswered.")
    withdrawn: int = strawberry.field(description="Withdrawn by the mentee.")
    pending: int = strawberry.field(description="Waiting for an answer.")
    acceptance_rate: float | None = strawberry.field(
        description="The request success rate: accepted over answered or expired (0 to 1)."
    )
    average_hours_to_answer: float | None = strawberry.field(
        description="Hours from a request to its answer, on average."
    )
    active: int = strawberry.field(description="Mentorships going on.")
    completed: int = strawberry.field(description="Completed.")
    ended_early: int = strawberry.field(description="Ended early.")
    completion_rate: float | None = strawberry.field(
        description="Completed over ended one way or the other (0 to 1)."
    )
    sessions_per_mentorship: float | None = strawberry.field(
        description="Sessions held (booked and started) per mentorship."
    )
    average_rating_of_mentors: float | None = strawberry.field(
        description="Mentees' ratings of their mentors (1 to 5)."
    )
    average_rating_of_mentees: float | None = strawberry.field(
        description="Mentors' ratings of their mentees (1 to 5)."
    )
    ratings: int = strawberry.field(description="Ratings given.")


def figures_of(found: Any) -> MentorshipFigures:
    return MentorshipFigures(
        requests=found.requests, accepted=found.accepted, declined=found.declined,
        expired=found.expired, withdrawn=found.withdrawn, pending=found.pending,
        acceptance_rate=found.acceptance_rate,
        average_hours_to_answer=found.average_hours_to_answer, active=found.active,
        completed=found.completed, ended_early=found.ended_early,
        completion_rate=found.completion_rate,
        sessions_per_mentorship=found.sessions_per_mentorship,
        average_rating_of_mentors=found.rating_of_mentors,
        average_rating_of_mentees=found.rating_of_mentees, ratings=found.ratings,
    )  # fmt: skip


@strawberry.type(description="One mentor's figures, for staff.")
class MentorFigures:
    mentor: MentorOffer | None = strawberry.field(description="The mentor's offer.")
    name: str = strawberry.field(description="The mentor's name.")
    requests: int = strawberry.field(description="Requests made to them.")
    accepted: int = strawberry.field(description="Accepted.")
    acceptance_rate: float | None = strawberry.field(
        description="Accepted over answered or expired (0 to 1), as the programme's."
    )
    active: int = strawberry.field(description="Mentorships going on.")
    completed: int = strawberry.field(description="Completed.")
    sessions: int = strawberry.field(description="Sessions held (booked and started).")
    average_rating: float | None = strawberry.field(description="Their mentees' ratings (1-5).")
    ratings: int = strawberry.field(description="How many.")
    _mentor_id: strawberry.Private[int] = 0
    _row: strawberry.Private[Any] = None

    @classmethod
    def from_row(cls, row: Any) -> Self:
        """The figures ``requests_by_mentor`` counts; the page's prefetch fills the rest."""
        return cls(
            mentor=None, name=str(row.name), requests=int(row.requests),
            accepted=int(row.accepted), acceptance_rate=None, active=0, completed=0,
            sessions=0, average_rating=None, ratings=0, _mentor_id=int(row.mentor_id), _row=row,
        )  # fmt: skip


@strawberry.type(description="Mentors' figures, a page at a time.")
class MentorFiguresConnection(CountedConnection[MentorFigures]):  # type: ignore[type-var]
    pass


@strawberry.enum(description="What mentors' figures can be sorted by.")
class MentorFiguresOrderField(Enum):
    REQUESTS = ev("requests", description="Requests made to them (natural: most first).")
    NAME = ev("name", description="The mentor's name (natural: A first).")


@strawberry.input(description="How to sort mentors' figures; ties are broken by mentor.")
class MentorFiguresOrder:
    field: MentorFiguresOrderField = strawberry.field(
        default=MentorFiguresOrderField.REQUESTS, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


@strawberry.type(
    description="The parts of a match score: each part (0 to 1) times its weight. See "
    "`matchingWeights` for what each part measures."
)
class MatchScoreParts:
    skills: float = strawberry.field(description="Shared topics (skills, and words of goals).")
    industry: float = strawberry.field(description="The mentor knows the mentee's industry.")
    programme: float = strawberry.field(description="The same programme.")
    location: float = strawberry.field(description="The same country (half) or city.")
    time_zone: float = strawberry.field(description="Available in the mentee's daytime.")
    language: float = strawberry.field(description="Speaks one of the mentee's languages.")
    load: float = strawberry.field(description="Places still free.")


@strawberry.type(description="A mentor suggested for you, and why.")
class MentorSuggestion:
    mentor: MentorOffer = strawberry.field(description="The mentor's offer.")
    score: float = strawberry.field(description="The sum of the parts.")
    parts: MatchScoreParts = strawberry.field(description="The score, part by part.")
    why: str = strawberry.field(description="The reasons, in a line.")


@strawberry.type(
    description="The weights of the mentor matching (0 to 100 each): a part of the score is "
    "its measure (0 to 1) times its weight."
)
class MatchingWeights:
    skills: float = strawberry.field(description="Topics the mentee has or names (3 = all).")
    industry: float = strawberry.field(description="An industry of the mentee's work.")
    programme: float = strawberry.field(description="The same programme.")
    location: float = strawberry.field(description="Country (half), city (all).")
    time_zone: float = strawberry.field(
        description="Share of the mentor's availability between 08:00 and 22:00 for the mentee."
    )
    language: float = strawberry.field(description="A shared language.")
    load: float = strawberry.field(description="Share of the mentor's places still free.")


@strawberry.enum(description="Why a mentorship mutation failed.")
class MentorshipErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such mentor, request or mentorship.")
    NOT_A_MENTOR = ev("NOT_A_MENTOR", description="The user named is not an active mentor.")
    NOT_ALLOWED = ev("NOT_ALLOWED", description="You may not do this.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    TOO_MANY = ev("TOO_MANY", description="Too many values.")
    OUT_OF_RANGE = ev("OUT_OF_RANGE", description="A number is out of range.")
    INVALID_TIME_ZONE = ev("INVALID_TIME_ZONE", description="Not an IANA time zone name.")
    UNKNOWN_SKILL = ev("UNKNOWN_SKILL", description="A topic is not in the skills vocabulary.")
    SELF = ev("SELF", description="You cannot ask yourself.")
    PAUSED = ev("PAUSED", description="The mentor is not taking mentees now.")
    FULL = ev("FULL", description="The mentor has as many mentees as they can take.")
    NOT_FOR_YOU = ev("NOT_FOR_YOU", description="The mentor takes other kinds of mentees.")
    DUPLICATE = ev("DUPLICATE", description="You asked this mentor already.")
    ALREADY_MENTORED = ev("ALREADY_MENTORED", description="This mentor mentors you already.")
    NOT_PENDING = ev("NOT_PENDING", description="The request was answered, withdrawn or expired.")
    NOT_ACTIVE = ev("NOT_ACTIVE", description="The mentorship has ended.")
    ALL_ZERO = ev("ALL_ZERO", description="Every weight would be 0.")
    DATE_IN_PAST = ev("DATE_IN_PAST", description="The session would start in the past.")
    OVERLAP = ev("OVERLAP", description="Another session of either side is booked then.")
    INVALID_URL = ev("INVALID_URL", description="A link is not an https:// address.")
    NOT_OPEN = ev("NOT_OPEN", description="The session is over or cancelled.")
    NOT_STARTED = ev("NOT_STARTED", description="The session has not taken place yet.")
    NOT_ENDED = ev("NOT_ENDED", description="The mentorship has not ended yet.")
    CONFLICT = ev("CONFLICT", description="Someone changed this at the same time; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a mentorship mutation's input.")
class MentorshipError(UserError):
    code: MentorshipErrorCode = strawberry.field(description=CODE_DESCRIPTION)
