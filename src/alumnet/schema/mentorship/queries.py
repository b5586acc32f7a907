"""Mentorship queries: finding mentors, suggestions for the viewer, the matching weights,
the viewer's offer, requests and mentorships (through `User`), and
`mentorshipRequestUpdated`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from enum import Enum
from typing import Annotated, Any

import strawberry
from sqlalchemy import or_, select
from strawberry import relay

from alumnet.domain.errors import DomainError
from alumnet.domain.identity.permissions import Permission
from alumnet.domain.mentorship import figures as mentorship_figures
from alumnet.domain.mentorship import matching, offers, requests, sessions
from alumnet.persistence.models import MentorOffer as OfferModel
from alumnet.persistence.models import MentorOfferSkill, Skill, User
from alumnet.persistence.models import Mentorship as MentorshipModel
from alumnet.persistence.models import MentorshipRequest as RequestModel
from alumnet.schema.context import Info
from alumnet.schema.errors import bad_input, not_authenticated
from alumnet.schema.mentorship.types import (
    MatchingWeights,
    MatchScoreParts,
    MenteeKind,
    MentorFigures,
    MentorFiguresConnection,
    MentorFiguresOrder,
    MentorFiguresOrderField,
    MentorHelpKind,
    MentorOffer,
    MentorOfferConnection,
    Mentorship,
    MentorshipFigures,
    MentorshipRequest,
    MentorshipRequestStatus,
    MentorshipSession,
    MentorshipStatus,
    MentorSuggestion,
    figures_of,
)
from alumnet.schema.pagination import KeysetQuery, SortDirection, SortKey, descending
from alumnet.schema.permissions import requires

ev = strawberry.enum_value
SUGGESTIONS_MAX = 50


@strawberry.input(description="Narrow the mentors; every filter given must match.")
class MentorFilter:
    topics: list[str] | None = strawberry.field(
        default=None, description="Mentoring in all of these topics (skill names, any case)."
    )
    offers: list[MentorHelpKind] | None = strawberry.field(
        default=None, description="Offering any of these kinds of help."
    )
    industry: str | None = strawberry.field(default=None, description="Knowing this industry.")
    language: str | None = strawberry.field(default=None, description="Speaking this (ISO 639-1).")
    has_room: bool | None = strawberry.field(
        default=None, description="True: only those who can take a mentee now."
    )
    for_me: bool | None = strawberry.field(
        default=None, description="True: only those who take mentees like you."
    )
    preferred_mentee: MenteeKind | None = strawberry.field(
        default=None, description="Taking this kind of mentee (or both)."
    )


def mentors_query(info: Info, query: str | None, given: MentorFilter | None) -> Any:
    viewer = info.context.viewer
    base = select(OfferModel.__table__).join(User, User.id == OfferModel.user_id)
    base = base.where(offers.listed(viewer), OfferModel.paused.is_(False))
    f = given or MentorFilter()
    for name in list(dict.fromkeys(" ".join(t.split()).lower() for t in f.topics or []))[:20]:
        base = base.where(
            OfferModel.user_id.in_(
                select(MentorOfferSkill.user_id)
                .join(Skill, Skill.id == MentorOfferSkill.skill_id)
                .where(Skill.name_key == name)
            )
        )
    if f.has_room:
        base = base.where(offers.has_room())
    if f.for_me:
        base = base.where(OfferModel.preferred_mentee.in_(offers.mentee_kind(viewer)))
    if f.preferred_mentee is not None:
        base = base.where(OfferModel.preferred_mentee.in_(("both", str(f.preferred_mentee.value))))
    if f.offers:
        base = base.where(
            or_(*(OfferModel.tags.contains(offers.tag("offer", str(o.value)), autoescape=True)
                  for o in f.offers))
        )  # fmt: skip
    if f.industry:
        base = base.where(
            OfferModel.tags.contains(offers.tag("industry", f.industry[:100]), autoescape=True)
        )
    if f.language:
        base = base.where(
            OfferModel.tags.contains(offers.tag("language", f.language[:8]), autoescape=True)
        )
    for word in offers.matching(offers.search_words(query)):
        base = base.where(word)
    return base


async def _complete_figures(info: Info, page: list[MentorFigures]) -> None:
    """The rest of a page's figures, and the mentors' offers: the same few statements for
    any number of mentors."""
    async with info.context.reads.connect() as conn:
        lines = await mentorship_figures.mentor_lines(conn, [f._row for f in page])
    offers = await MentorOffer.resolve_nodes(info=info, node_ids=[str(f._mentor_id) for f in page])
    for figures, line, offer in zip(page, lines, offers, strict=True):
        figures.mentor = offer
        figures.acceptance_rate = line.acceptance_rate
        figures.active, figures.completed, figures.sessions = (
            line.active, line.completed, line.sessions
        )  # fmt: skip
        figures.average_rating, figures.ratings = line.average_rating, line.ratings


@strawberry.type
class MentorshipQuery:
    @relay.connection(
        MentorOfferConnection,
        description="Mentors taking mentees (not paused), by when they last updated their "
        "offer; `query` matches words of their name, headline or topics. Each mentor's "
        "profile shows as the directory shows it to you.",
        max_results=1000,
    )
    def mentors(
        self,
        info: Info,
        query: Annotated[str | None, strawberry.argument(description="Words to look for.")] = None,
        filter: Annotated[
            MentorFilter | None, strawberry.argument(description="Narrow the mentors.")
        ] = None,
    ) -> Iterable[MentorOffer]:
        base = mentors_query(info, query, filter)
        sort = [SortKey(OfferModel.updated_at, descending=True),
                SortKey(OfferModel.user_id, descending=True)]  # fmt: skip
        return KeysetQuery(base, sort, MentorOffer.from_row, info.context.reads)

    @strawberry.field(
        description="Mentors suggested for you (students and alumni), best first: each score "
        "broken down into its parts, with why. Never a mentor who is paused or full, one you "
        "blocked (or who blocked you), or one you have or asked already."
    )
    async def mentor_suggestions(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="How many (1 to 50).")] = 10,
        goals: Annotated[
            str | None,
            strawberry.argument(description="What you want to achieve; words naming topics count."),
        ] = None,
        time_zone: Annotated[
            str | None, strawberry.argument(description="Your time zone (IANA), for overlap.")
        ] = None,
        languages: Annotated[
            list[str] | None, strawberry.argument(description="Languages you speak (ISO 639-1).")
        ] = None,
    ) -> list[MentorSuggestion]:
        viewer = info.context.viewer
        if not viewer.is_authenticated:
            raise not_authenticated()
        if not 0 < first <= SUGGESTIONS_MAX:
            raise bad_input(f"first must be between 1 and {SUGGESTIONS_MAX}.")
        if languages is not None and len(languages) > 10:
            raise bad_input("At most 10 languages.")
        if not offers.may_be_mentored(viewer):
            return []
        async with info.context.reads.connect() as conn:
            try:
                found = await matching.suggest(
                    conn, viewer, first, goals=(goals or "")[:2000], time_zone=time_zone,
                    languages=tuple(languages or ()),
                )  # fmt: skip
            except DomainError as exc:
                raise bad_input(exc.problems[0].message) from None
            rows = (
                await conn.execute(
                    select(OfferModel.__table__).where(
                        OfferModel.user_id.in_([s.mentor_id for s in found])
                    )
                )
            ).all()
        by_id = {r.user_id: r for r in rows}
        return [
            MentorSuggestion(
                mentor=MentorOffer.from_row(by_id[s.mentor_id]),
                score=s.score,
                parts=MatchScoreParts(**s.parts),
                why=s.why,
            )
            for s in found
            if s.mentor_id in by_id
        ]

    @strawberry.field(
        description="The mentorship programme in figures (`mentorship:manage`): requests and "
        "their success rate, hours to answer, mentorships and how they ended, sessions per "
        "mentorship, ratings.",
        extensions=requires(Permission.MENTORSHIP_MANAGE),
    )
    async def mentorship_figures(self, info: Info) -> MentorshipFigures:
        async with info.context.reads.connect() as conn:
            return figures_of(await mentorship_figures.overall(conn, conn.dialect.name))

    @relay.connection(
        MentorFiguresConnection,
        description="Each mentor asked at least once, with their figures, those asked most "
        "first unless `orderBy` says otherwise (`mentorship:manage`).",
        max_results=1000,
        extensions=requires(Permission.MENTORSHIP_MANAGE),
    )
    def mentor_figures(
        self,
        info: Info,
        order_by: Annotated[
            MentorFiguresOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[MentorFigures]:
        query = mentorship_figures.requests_by_mentor()
        counts = query.selected_columns
        order = order_by or MentorFiguresOrder()
        if order.field == MentorFiguresOrderField.NAME:
            down = descending(order.direction, SortDirection.ASC)
            key = SortKey(User.name, down)
        else:
            down = descending(order.direction, SortDirection.DESC)
            key = SortKey(counts.requests, down, attr="requests")
        sort = [key, SortKey(counts.mentor_id, down, attr="mentor_id")]
        return KeysetQuery(  # type: ignore[type-var]
            query, sort, MentorFigures.from_row, info.context.reads, prefetch=_complete_figures
        )

    @strawberry.field(
        description="The mentor matching's weights (`mentorship:manage`).",
        extensions=requires(Permission.MENTORSHIP_MANAGE),
    )
    async def matching_weights(self, info: Info) -> MatchingWeights:
        async with info.context.reads.connect() as conn:
            return MatchingWeights(**await matching.weights_of(conn))


@strawberry.type
class MentorshipSubscription:
    @strawberry.subscription(
        description="Your mentorship requests as they change, as mentee or mentor: each one "
        "when it is made, answered, withdrawn or expires. Ends at once for an anonymous "
        "connection."
    )
    async def mentorship_request_updated(
        self, info: Info
    ) -> AsyncGenerator[MentorshipRequest, None]:
        me = info.context.viewer.user_id
        if me is None:
            return
        async with info.context.runtime.bus.subscription(requests.channel(me)) as events:
            async for event in events:
                if not await info.context.still_signed_in():
                    return
                info.context.reset_loaders()
                [found] = await MentorshipRequest.resolve_nodes(
                    info=info, node_ids=[str(event["id"])]
                )
                if found is not None:
                    yield found

    @strawberry.subscription(
        description="Your mentorship sessions as they are booked (either side). Ends at once "
        "for an anonymous connection."
    )
    async def mentorship_session_scheduled(
        self, info: Info
    ) -> AsyncGenerator[MentorshipSession, None]:
        me = info.context.viewer.user_id
        if me is None:
            return
        async with info.context.runtime.bus.subscription(sessions.channel(me)) as events:
            async for event in events:
                if not await info.context.still_signed_in():
                    return
                info.context.reset_loaders()
                [found] = await MentorshipSession.resolve_nodes(
                    info=info, node_ids=[str(event["id"])]
                )
                if found is not None:
                    yield found


# The viewer's own, served as fields of `User` (empty for anyone but the user).


@strawberry.enum(description="Which side of requests to list.")
class MentorshipSide(Enum):
    AS_MENTEE = ev("mentee", description="Requests you made.")
    AS_MENTOR = ev("mentor", description="Requests made to you.")


async def own_offer(info: Info, user_id: int) -> MentorOffer | None:
    [found] = await MentorOffer.resolve_nodes(info=info, node_ids=[str(user_id)])
    return found


def own_requests(
    info: Info,
    user_id: int,
    side: MentorshipSide | None,
    status: list[MentorshipRequestStatus] | None,
) -> KeysetQuery[MentorshipRequest]:
    side = side or MentorshipSide.AS_MENTEE
    mine = info.context.viewer.user_id == user_id
    column = RequestModel.mentor_id if side is MentorshipSide.AS_MENTOR else RequestModel.mentee_id
    query = select(RequestModel.__table__)
    if not mine:
        query = query.where(RequestModel.id.is_(None))
    chosen = tuple(sorted({str(s.value) for s in status or ()}))
    if chosen:
        query = query.where(RequestModel.status.in_(chosen))
    sort = [SortKey(RequestModel.created_at, descending=True),
            SortKey(RequestModel.id, descending=True)]  # fmt: skip
    return KeysetQuery(
        query, sort, MentorshipRequest.from_row, info.context.reads,
        partition=(column, user_id),
        batch_key=("User.mentorshipRequests", mine, side.value, chosen),
    )  # fmt: skip


def own_mentorships(
    info: Info, user_id: int, side: MentorshipSide | None, status: list[MentorshipStatus] | None
) -> KeysetQuery[Mentorship]:
    side = side or MentorshipSide.AS_MENTEE
    viewer = info.context.viewer
    mine = viewer.user_id == user_id or viewer.can(Permission.MENTORSHIP_MANAGE)
    m = MentorshipModel
    column = m.mentor_id if side is MentorshipSide.AS_MENTOR else m.mentee_id
    query = select(m.__table__)
    if not mine:
        query = query.where(m.id.is_(None))
    chosen = tuple(sorted({str(s.value) for s in status or ()}))
    if chosen:
        query = query.where(m.status.in_(chosen))
    sort = [SortKey(m.started_at, descending=True), SortKey(m.id, descending=True)]
    return KeysetQuery(
        query, sort, Mentorship.from_row, info.context.reads, partition=(column, user_id),
        batch_key=("User.mentorships", mine, side.value, chosen),
    )  # fmt: skip
