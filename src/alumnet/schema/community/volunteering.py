"""Volunteering: alumni's engagements (speaking, training, judging, mentoring at events,
hosting visits) and the hours reports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import func, select
from strawberry import relay

from alumnet.domain.community import volunteering
from alumnet.domain.identity.permissions import Permission
from alumnet.persistence.loaders.common import grouped
from alumnet.persistence.models import VolunteerEngagement as EngagementModel
from alumnet.schema.context import Info
from alumnet.schema.errors import (
    UserError,
    report_errors,
    user_errors,
)
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import global_pk, int_ids, optional_pk, readable_rows, visible_user
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey, reads_loader
from alumnet.schema.permissions import requires

if TYPE_CHECKING:
    from alumnet.schema.cohorts.types import Mission
    from alumnet.schema.events.types import Event
    from alumnet.schema.identity.types import User
    from alumnet.schema.people.types import Profile

ev = strawberry.enum_value
IDENTITY = "alumnet.schema.identity.types"
PEOPLE = "alumnet.schema.people.types"
EVENTS = "alumnet.schema.events.types"
COHORTS = "alumnet.schema.cohorts.types"


@strawberry.enum(description="What kind of volunteering.")
class VolunteeringKind(Enum):
    SPEAKING = ev("speaking", description="A talk, a panel, a guest lecture.")
    TRAINING = ev("training", description="Teaching a workshop or a training session.")
    JUDGING = ev("judging", description="Judging a competition, a hackathon, projects.")
    EVENT_MENTORING = ev("event_mentoring", description="Mentoring people at an event.")
    HOSTING_VISIT = ev("hosting_visit", description="Hosting a visit at one's workplace.")
    OTHER = ev("other", description="Anything else; the title says what.")


@strawberry.enum(description="Where an engagement stands.")
class VolunteeringStatus(Enum):
    OFFERED = ev("offered", description="Offered by the alumnus; waiting for staff.")
    CONFIRMED = ev("confirmed", description="Confirmed by staff (or recorded by them): it counts.")
    DECLINED = ev("declined", description="Declined by staff; see the review note.")


@strawberry.type(description="An alumnus's volunteering on one day: what, when, how long.")
class VolunteerEngagement(relay.Node):
    id: relay.NodeID[int]
    kind: VolunteeringKind = strawberry.field(description="What kind of volunteering.")
    title: str = strawberry.field(description="What it was, in a line.")
    description: str | None = strawberry.field(description="More about it (plain text).")
    occurred_on: date = strawberry.field(description="The day it happens or happened.")
    hours: Decimal = strawberry.field(
        description="How long, in hours, to the hundredth (more than 0, at most 24)."
    )
    status: VolunteeringStatus = strawberry.field(description="Where it stands.")
    created_at: datetime = strawberry.field(description="When it was entered (UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, kind=VolunteeringKind(row.kind), title=row.title,
            description=row.description, occurred_on=row.occurred_on,
            hours=volunteering.hours_of(row.hours_hundredths),
            status=VolunteeringStatus(row.status), created_at=row.created_at,
            updated_at=row.updated_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        condition = volunteering.readable(info.context.viewer)
        found = await readable_rows(info, EngagementModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    def _sees_review(self, info: Info) -> bool:
        return volunteering.sees_review(info.context.viewer, self._row.user_id)

    @strawberry.field(
        description="Staff's note on confirming or declining it: for the alumnus and staff "
        "who manage volunteering; null for others."
    )
    def review_note(self, info: Info) -> str | None:
        return self._row.review_note if self._sees_review(info) else None

    @strawberry.field(
        description="When staff confirmed or declined it (UTC): for the alumnus and staff "
        "who manage volunteering; null for others, and while offered."
    )
    def reviewed_at(self, info: Info) -> datetime | None:
        return self._row.reviewed_at if self._sees_review(info) else None

    @strawberry.field(description="The alumnus's profile, as the directory shows it to you.")
    async def profile(self, info: Info) -> Annotated[Profile, strawberry.lazy(PEOPLE)] | None:
        from alumnet.schema.people.types import Profile as ProfileNode

        [found] = await ProfileNode.resolve_nodes(info=info, node_ids=[str(self._row.user_id)])
        return found

    @strawberry.field(description="The alumnus, as a user (if you may see users).")
    async def user(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.user_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="Who entered it: the alumnus (an offer) or staff (a record), if you may "
        "see them."
    )
    async def recorded_by(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.recorded_by_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="Who confirmed or declined it, if you may see them (and its review)."
    )
    async def reviewed_by(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        if not self._sees_review(info):
            return None
        return await visible_user(info, self._row.reviewed_by_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The event it was at, if any and if you may see it.")
    async def event(self, info: Info) -> Annotated[Event, strawberry.lazy(EVENTS)] | None:
        if self._row.event_id is None:
            return None
        loader = reads_loader(info, ("volunteering", "event"), _events(info))
        return await loader.load(self._row.event_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The mission it was for, if any and if you may see it.")
    async def mission(self, info: Info) -> Annotated[Mission, strawberry.lazy(COHORTS)] | None:
        if self._row.mission_id is None:
            return None
        loader = reads_loader(info, ("volunteering", "mission"), _missions(info))
        return await loader.load(self._row.mission_id)  # type: ignore[no-any-return]


# The nodes of other contexts, each kind checked once for the whole response (their own
# checks load what they need once per call, not once per engagement).


def _events(info: Info) -> Any:
    async def load(reads: Any, ids: Sequence[int]) -> list[Any]:
        from alumnet.schema.events.types import Event as EventNode

        return await EventNode.resolve_nodes(info=info, node_ids=[str(i) for i in ids])

    return load


def _missions(info: Info) -> Any:
    async def load(reads: Any, ids: Sequence[int]) -> list[Any]:
        from alumnet.schema.cohorts.types import Mission as MissionNode

        return await MissionNode.resolve_nodes(info=info, node_ids=[str(i) for i in ids])

    return load


@strawberry.type(description="Volunteering, a page at a time.")
class VolunteerEngagementConnection(CountedConnection[VolunteerEngagement]):
    pass


# -- the report -------------------------------------------------------------------------------


@strawberry.enum(description="How a volunteering report's rows are grouped.")
class VolunteeringReportGroup(Enum):
    KIND = ev("kind", description="One row per kind of volunteering.")
    YEAR = ev("year", description="One row per calendar year of the engagements' days.")
    GRADUATION_YEAR = ev(
        "graduation_year",
        description="One row per graduation year on record of the volunteers (staff-set or "
        "verified); those without one in a last row whose year is null.",
    )


@strawberry.type(description="Confirmed volunteering of a group (or of the whole report).")
class VolunteeringFigures:
    kind: VolunteeringKind | None = strawberry.field(
        description="The kind (grouped by KIND); null otherwise."
    )
    year: int | None = strawberry.field(
        description="The calendar year (by YEAR), or the graduation year (by "
        "GRADUATION_YEAR; null for volunteers without one on record); null for the total."
    )
    hours: Decimal = strawberry.field(description="Hours volunteered, summed exactly.")
    engagements: int = strawberry.field(description="How many engagements.")
    volunteers: int = strawberry.field(description="How many different alumni.")


@strawberry.type(description="Volunteer hours of confirmed engagements over a range of days.")
class VolunteeringReport:
    since: date = strawberry.field(name="from", description="The first day counted.")
    until: date = strawberry.field(name="to", description="The last day counted.")
    group_by: VolunteeringReportGroup = strawberry.field(description="How rows are grouped.")
    rows: list[VolunteeringFigures] = strawberry.field(
        description="One per group with any engagement: kinds in the order of the enum, "
        "years oldest first."
    )
    total: VolunteeringFigures = strawberry.field(
        description="The whole range (volunteers counted once however many groups they are in)."
    )


def _figures(found: volunteering.Figures, group: str) -> VolunteeringFigures:
    key = found.key
    return VolunteeringFigures(
        kind=VolunteeringKind(key) if group == "kind" and isinstance(key, str) else None,
        year=key if group != "kind" and isinstance(key, int) else None,
        hours=found.hours, engagements=found.engagements, volunteers=found.volunteers,
    )  # fmt: skip


# -- mutations --------------------------------------------------------------------------------


@strawberry.enum(description="Why a volunteering mutation failed.")
class VolunteeringErrorCode(Enum):
    NOT_FOUND = ev(
        "NOT_FOUND",
        description="No such engagement (that you may change), alumnus, published event or "
        "mission.",
    )
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    OUT_OF_RANGE = ev(
        "OUT_OF_RANGE",
        description="Hours not more than 0 and at most 24 to the hundredth, or a day before "
        "1900 or more than a year ahead.",
    )
    ALREADY_REVIEWED = ev(
        "ALREADY_REVIEWED",
        description="Staff have confirmed or declined it already (the alumnus can no longer "
        "change it; it cannot be reviewed again).",
    )
    NOT_ALLOWED = ev(
        "NOT_ALLOWED", description="Staff cannot record or review their own volunteering."
    )
    TOO_MANY = ev(
        "TOO_MANY", description="You have 50 offers waiting for review already: wait for staff."
    )
    CONFLICT = ev("CONFLICT", description="Someone changed it at the same time; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a volunteering mutation's input.")
class VolunteeringError(UserError):
    code: VolunteeringErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="An engagement you offer; staff confirm or decline it.")
class VolunteeringOfferInput:
    kind: VolunteeringKind = strawberry.field(description="What kind of volunteering.")
    title: str = strawberry.field(description="What it is, in a line (at most 200 characters).")
    description: str | None = strawberry.field(
        default=None, description="More about it (plain text, at most 4,000 characters)."
    )
    occurred_on: date = strawberry.field(
        description="The day (from 1900 to a year ahead: one may offer a planned engagement)."
    )
    hours: Decimal = strawberry.field(
        description="How long, in hours, to the hundredth: more than 0, at most 24."
    )
    event_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The event it is at: a published one you may see."
    )
    mission_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The mission it is for: one you may see."
    )
    client_id: str | None = strawberry.field(
        default=None,
        description="Your idempotency key (at most 64 characters): sending again with it "
        "returns the first engagement.",
    )


@strawberry.input(description="An alumnus's engagement, recorded by staff (confirmed).")
class VolunteeringRecordInput:
    user_id: relay.GlobalID = strawberry.field(
        description="The alumnus (their `User` or `Profile` id): an active alumnus."
    )
    kind: VolunteeringKind = strawberry.field(description="What kind of volunteering.")
    title: str = strawberry.field(description="What it is, in a line (at most 200 characters).")
    description: str | None = strawberry.field(
        default=None, description="More about it (plain text, at most 4,000 characters)."
    )
    occurred_on: date = strawberry.field(description="The day (from 1900 to a year ahead).")
    hours: Decimal = strawberry.field(
        description="How long, in hours, to the hundredth: more than 0, at most 24."
    )
    event_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The event it is at: a published one."
    )
    mission_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The mission it is for."
    )
    client_id: str | None = strawberry.field(
        default=None,
        description="Your idempotency key (at most 64 characters): recording again with it "
        "returns the first engagement and notifies nobody twice.",
    )


@strawberry.input(description="Confirm or decline an offered engagement.")
class VolunteeringReviewInput:
    id: relay.GlobalID = strawberry.field(description="The engagement (offered).")
    confirm: bool = strawberry.field(description="True to confirm it, false to decline it.")
    reason: str | None = strawberry.field(
        default=None,
        description="Why (at most 1,000 characters): required to decline; the alumnus reads it.",
    )


@strawberry.input(description="Changes to an engagement; omitted fields stay as they are.")
class VolunteeringUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The engagement.")
    kind: VolunteeringKind | None = strawberry.field(default=None, description="New kind.")
    title: str | None = strawberry.field(default=None, description="New title.")
    description: str | None = strawberry.field(
        default=None, description="New description; an empty one clears it."
    )
    occurred_on: date | None = strawberry.field(default=None, description="New day.")
    hours: Decimal | None = strawberry.field(default=None, description="New hours.")
    event_id: relay.GlobalID | None = strawberry.field(
        default=None, description="New event (published)."
    )
    clear_event: bool = strawberry.field(default=False, description="Remove the event.")
    mission_id: relay.GlobalID | None = strawberry.field(default=None, description="New mission.")
    clear_mission: bool = strawberry.field(default=False, description="Remove the mission.")


@strawberry.input(description="The engagement to delete (or, your own offer, to withdraw).")
class VolunteeringDeleteInput:
    id: relay.GlobalID = strawberry.field(description="The engagement.")


@strawberry.type(description="The engagement, or why there is none.")
class VolunteeringPayload:
    engagement: VolunteerEngagement | None = strawberry.field(description="The engagement.")
    user_errors: list[VolunteeringError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="What was deleted, or why nothing was.")
class VolunteeringDeletePayload:
    deleted_id: strawberry.ID | None = strawberry.field(
        description="The id the engagement had; null if nothing was deleted."
    )
    user_errors: list[VolunteeringError] = strawberry.field(description="Empty on success.")


def _person(gid: relay.GlobalID | None) -> int | None:
    """A person named by their `User` or their `Profile` id (the same key)."""
    if gid is None:
        return None
    return global_pk(gid, "User") or global_pk(gid, "Profile")


def _fields(given: Any) -> volunteering.Fields:
    kind = getattr(given, "kind", None)
    description = getattr(given, "description", None)
    return volunteering.Fields(
        kind=str(kind.value) if kind is not None else None, title=given.title,
        description=description or None,
        clear_description=description is not None and not description.strip(),
        occurred_on=given.occurred_on, hours=given.hours,
        event_id=optional_pk(given.event_id, "Event"),
        mission_id=optional_pk(given.mission_id, "Mission"),
        clear_event=getattr(given, "clear_event", False),
        clear_mission=getattr(given, "clear_mission", False),
    )  # fmt: skip


def _payload(found: Any, problems: list[Any]) -> VolunteeringPayload:
    return VolunteeringPayload(
        engagement=VolunteerEngagement.from_row(found) if found is not None else None,
        user_errors=user_errors(VolunteeringError, VolunteeringErrorCode, problems),
    )


PROFILE_HISTORY = 20


async def history_of_profile(info: Info, user_id: int) -> list[VolunteerEngagement]:
    """A person's latest volunteering as the viewer may see it (``readable``), for their
    profile: at most PROFILE_HISTORY, one statement for every profile of the answer."""
    condition = volunteering.readable(info.context.viewer)

    async def load(reads: Any, ids: Sequence[int]) -> list[list[Any]]:
        e = EngagementModel
        rank = (
            func.row_number()
            .over(partition_by=e.user_id, order_by=(e.occurred_on.desc(), e.id.desc()))
            .label("rank")
        )
        inner = select(*e.__table__.c, rank).where(e.user_id.in_(list(ids)))
        if condition is not None:
            inner = inner.where(condition)
        ranked = inner.subquery()
        query = (
            select(*[ranked.c[c.name] for c in e.__table__.c])
            .where(ranked.c.rank <= PROFILE_HISTORY)
            .order_by(ranked.c.occurred_on.desc(), ranked.c.id.desc())
        )
        return await grouped(reads, query, "user_id", ids)

    rows = await reads_loader(info, ("community", "profile_volunteering"), load).load(user_id)
    return [VolunteerEngagement.from_row(r) for r in rows]


@strawberry.type
class VolunteeringQuery:
    @relay.connection(
        VolunteerEngagementConnection,
        description="Volunteering, latest day first. With `userId`, that person's history as "
        "you may see it: all of it for the person and staff who manage volunteering; for "
        "anyone else, the confirmed engagements of someone whose work you may see (their "
        "profile's work privacy). Without it: yours, or, for staff who manage "
        "volunteering, everyone's (`status: [OFFERED]` is the review queue).",
        max_results=1000,
        extensions=requires(),
    )
    def volunteering(
        self,
        info: Info,
        user_id: Annotated[
            relay.GlobalID | None,
            strawberry.argument(description="The person: their `User` or `Profile` id."),
        ] = None,
        status: Annotated[
            list[VolunteeringStatus] | None,
            strawberry.argument(description="Only these statuses (all by default)."),
        ] = None,
        kind: Annotated[
            list[VolunteeringKind] | None,
            strawberry.argument(description="Only these kinds (all by default)."),
        ] = None,
    ) -> Iterable[VolunteerEngagement]:
        viewer = info.context.viewer
        e = EngagementModel
        query = select(e.__table__)
        condition = volunteering.readable(viewer)
        if condition is not None:
            query = query.where(condition)
        if user_id is not None:
            query = query.where(e.user_id == (_person(user_id) or -1))
        elif not viewer.can(Permission.VOLUNTEERING_MANAGE):
            query = query.where(e.user_id == (viewer.user_id or -1))
        if status:
            query = query.where(e.status.in_([str(s.value) for s in status][:3]))
        if kind:
            query = query.where(e.kind.in_([str(k.value) for k in kind][:6]))
        sort = [SortKey(e.occurred_on, descending=True), SortKey(e.id, descending=True)]
        return KeysetQuery(query, sort, VolunteerEngagement.from_row, info.context.reads)

    @strawberry.field(
        description="Volunteer hours of confirmed engagements whose day is in a range (from "
        "and to, days, both included; by default the year up to today; at most five "
        "years), grouped by kind, calendar year or graduation year on record, with the "
        "total: for staff who manage volunteering (`volunteering:manage`).",
        extensions=requires(Permission.VOLUNTEERING_MANAGE),
    )
    async def volunteering_report(
        self,
        info: Info,
        group_by: Annotated[
            VolunteeringReportGroup, strawberry.argument(description="How rows are grouped.")
        ],
        since: Annotated[
            date | None, strawberry.argument(name="from", description="The first day.")
        ] = None,
        until: Annotated[
            date | None, strawberry.argument(name="to", description="The last day.")
        ] = None,
    ) -> VolunteeringReport:
        group = str(group_by.value)
        with report_errors():
            span = volunteering.period(since, until, datetime.now(UTC).date())
            async with info.context.reads.connect() as conn:
                rows, total = await volunteering.report(conn, info.context.viewer, span, group)
        return VolunteeringReport(
            since=span.since, until=span.until, group_by=group_by,
            rows=[_figures(r, group) for r in rows], total=_figures(total, group),
        )  # fmt: skip


@strawberry.type
class VolunteeringMutation:
    @strawberry.mutation(
        description="Offer your own volunteering (active alumni): it waits, OFFERED, until "
        "staff confirm or decline it; you may change or withdraw it meanwhile.",
        extensions=requires(),
    )
    async def volunteering_offer(
        self, info: Info, input: Annotated[VolunteeringOfferInput, arg("The engagement.")]
    ) -> VolunteeringPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: volunteering.offer(uow, viewer, _fields(input), client_id=input.client_id),
        )
        return _payload(found, problems)

    @strawberry.mutation(
        description="Record an alumnus's volunteering (`volunteering:manage`): confirmed at "
        "once; the alumnus is notified.",
        extensions=requires(Permission.VOLUNTEERING_MANAGE),
    )
    async def volunteering_record(
        self, info: Info, input: Annotated[VolunteeringRecordInput, arg("The engagement.")]
    ) -> VolunteeringPayload:
        viewer = info.context.viewer
        person = _person(input.user_id) or -1
        found, problems = await run_in_transaction(
            info,
            lambda uow: volunteering.record(
                uow, viewer, person, _fields(input), client_id=input.client_id
            ),
        )
        return _payload(found, problems)

    @strawberry.mutation(
        description="Confirm or decline an offered engagement (`volunteering:manage`); the "
        "alumnus is notified, with the reason.",
        extensions=requires(Permission.VOLUNTEERING_MANAGE),
    )
    async def volunteering_review(
        self, info: Info, input: Annotated[VolunteeringReviewInput, arg("The decision.")]
    ) -> VolunteeringPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: volunteering.review(
                uow, viewer, pk_of(input.id, "VolunteerEngagement", "id"),
                confirm=input.confirm, reason=input.reason,
            ),
        )  # fmt: skip
        return _payload(found, problems)

    @strawberry.mutation(
        description="Correct an engagement: staff (`volunteering:manage`) any, the alumnus "
        "their own while it is offered. Nobody is notified.",
        extensions=requires(),
    )
    async def volunteering_update(
        self, info: Info, input: Annotated[VolunteeringUpdateInput, arg("The changes.")]
    ) -> VolunteeringPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: volunteering.change(
                uow, viewer, pk_of(input.id, "VolunteerEngagement", "id"), _fields(input)
            ),
        )
        return _payload(found, problems)

    @strawberry.mutation(
        description="Delete an engagement: staff (`volunteering:manage`) any; the alumnus "
        "withdraws their own while it is offered.",
        extensions=requires(),
    )
    async def volunteering_delete(
        self, info: Info, input: Annotated[VolunteeringDeleteInput, arg("The engagement.")]
    ) -> VolunteeringDeletePayload:
        viewer = info.context.viewer
        gone, problems = await run_in_transaction(
            info,
            lambda uow: volunteering.remove(
                uow, viewer, pk_of(input.id, "VolunteerEngagement", "id")
            ),
        )
        return VolunteeringDeletePayload(
            deleted_id=strawberry.ID(str(input.id)) if gone is not None else None,
            user_errors=user_errors(VolunteeringError, VolunteeringErrorCode, problems),
        )
