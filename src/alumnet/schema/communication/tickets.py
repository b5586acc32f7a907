"""Tickets: students' private questions to a mentor or the SRE team, and SLA figures."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.communication import tickets
from alumnet.domain.errors import Problems, check_moment
from alumnet.persistence.models import Ticket as TicketModel
from alumnet.persistence.models import TicketMessage as TicketMessageModel
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, bad_input, user_errors
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import int_ids, readable_rows, visible_user
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey

if TYPE_CHECKING:
    from alumnet.schema.identity.types import User

ev = strawberry.enum_value
IDENTITY = "alumnet.schema.identity.types"


@strawberry.enum(description="Who a ticket is for.")
class TicketQueue(Enum):
    MENTOR = ev("mentor", description="One of the student's mentors.")
    SRE = ev("sre", description="The student relationship executives (SREs) as a team.")


@strawberry.enum(description="Where a ticket stands.")
class TicketStatus(Enum):
    OPEN = ev("open", description="Waiting for an answer.")
    ANSWERED = ev("answered", description="Answered; waiting for the student, if anything.")
    CLOSED = ev("closed", description="Closed; no more replies.")


@strawberry.type(description="One post in a ticket's thread.")
class TicketMessage(relay.Node):
    id: relay.NodeID[int]
    body: str = strawberry.field(description="The text (plain text).")
    posted_at: datetime = strawberry.field(description="When (UTC).")
    by_student: bool = strawberry.field(description="Whether the student wrote it.")
    _author_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, body=row.body, posted_at=row.created_at,
            by_student=row.author_id == row.student_id, _author_id=row.author_id,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        viewer = info.context.viewer
        found: dict[int, Any] = {}
        if viewer.is_authenticated:
            query = (
                select(*_message_columns())
                .join(TicketModel, TicketModel.id == TicketMessageModel.ticket_id)
                .where(TicketMessageModel.id.in_([i for i in ids if i]), tickets.readable(viewer))
            )
            async with info.context.reads.connect() as conn:
                found = {r.id: r for r in (await conn.execute(query)).all()}
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Who wrote it (if you may see them).")
    async def author(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._author_id)  # type: ignore[no-any-return]


def _message_columns() -> list[Any]:
    return [
        TicketMessageModel.id, TicketMessageModel.ticket_id, TicketMessageModel.author_id,
        TicketMessageModel.body, TicketMessageModel.created_at, TicketModel.student_id,
    ]  # fmt: skip


@strawberry.type(description="Posts of a ticket, a page at a time.")
class TicketMessageConnection(CountedConnection[TicketMessage]):
    pass


@strawberry.type(
    description="A student's private ticket to one of their mentors or to the SRE team."
)
class Ticket(relay.Node):
    id: relay.NodeID[int]
    subject: str = strawberry.field(description="What it is about.")
    queue: TicketQueue = strawberry.field(description="Mentor or SRE team.")
    status: TicketStatus = strawberry.field(description="Open, answered or closed.")
    opened_at: datetime = strawberry.field(description="When it was opened (UTC).")
    first_reply_at: datetime | None = strawberry.field(
        description="When someone other than the student first replied (UTC)."
    )
    first_reply_seconds: int | None = strawberry.field(
        description="Seconds from opening to that first reply (the SLA measure)."
    )
    last_activity_at: datetime = strawberry.field(description="Latest post or change (UTC).")
    closed_at: datetime | None = strawberry.field(description="When it was closed (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, subject=row.subject, queue=TicketQueue(row.queue),
            status=TicketStatus(row.status), opened_at=row.created_at,
            first_reply_at=row.first_reply_at, first_reply_seconds=row.first_reply_seconds,
            last_activity_at=row.last_activity_at, closed_at=row.closed_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        viewer = info.context.viewer
        found = await readable_rows(info, TicketModel.__table__, ids, tickets.readable(viewer))
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="The student who opened it.")
    async def student(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.student_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The mentor, for a mentor ticket.")
    async def mentor(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.mentor_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The SRE who first answered, for an SRE ticket.")
    async def handler(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.handler_id)  # type: ignore[no-any-return]

    @relay.connection(
        TicketMessageConnection, description="The thread, oldest first.", max_results=1000
    )
    def messages(self, info: Info) -> Iterable[TicketMessage]:
        query = select(*_message_columns()).join(
            TicketModel, TicketModel.id == TicketMessageModel.ticket_id
        )
        return KeysetQuery(
            query,
            [SortKey(TicketMessageModel.id)],
            TicketMessage.from_row,
            info.context.reads,
            partition=(TicketMessageModel.ticket_id, self.id),
            batch_key="Ticket.messages",
        )


@strawberry.type(description="Tickets, a page at a time.")
class TicketConnection(CountedConnection[Ticket]):
    pass


@strawberry.type(description="Time to first reply over a set of tickets.")
class TicketSla:
    opened: int = strawberry.field(description="Tickets opened in the period.")
    replied: int = strawberry.field(description="Of those, how many have had a reply.")
    awaiting_first_reply: int = strawberry.field(
        description="Open tickets nobody has replied to yet."
    )
    open_now: int = strawberry.field(description="Of those opened, how many are not closed.")
    average_first_reply_seconds: float | None = strawberry.field(
        description="Mean seconds to the first reply; null without replies."
    )
    median_first_reply_seconds: int | None = strawberry.field(
        description="Median seconds to the first reply."
    )
    p90_first_reply_seconds: int | None = strawberry.field(
        description="90th percentile of seconds to the first reply."
    )
    oldest_awaiting_since: datetime | None = strawberry.field(
        description="When the longest-waiting unanswered ticket was opened (UTC)."
    )


@strawberry.input(description="Which tickets to list.")
class TicketFilter:
    status: list[TicketStatus] | None = strawberry.field(
        default=None, description="Only these statuses."
    )
    queue: TicketQueue | None = strawberry.field(default=None, description="Only this queue.")
    mine: bool = strawberry.field(
        default=False, description="Only tickets you opened or are the mentor of."
    )


@strawberry.enum(description="Why a ticket mutation failed.")
class TicketErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such ticket or mentor (for you).")
    NOT_A_STUDENT = ev("NOT_A_STUDENT", description="Only enrolled students open tickets.")
    CLOSED = ev("CLOSED", description="The ticket is closed.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a ticket mutation's input.")
class TicketError(UserError):
    code: TicketErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A new ticket.")
class TicketOpenInput:
    queue: TicketQueue = strawberry.field(description="To a mentor or to the SRE team.")
    mentor_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Which of your mentors (mentor tickets only)."
    )
    subject: str = strawberry.field(description="At most 200 characters.")
    body: str = strawberry.field(description="Your question; at most 10,000 characters.")
    client_id: str | None = strawberry.field(
        default=None,
        description="Your idempotency key (at most 64 characters): opening again with it "
        "returns the first ticket.",
    )


@strawberry.input(description="A reply in a ticket's thread.")
class TicketReplyInput:
    ticket_id: relay.GlobalID = strawberry.field(description="The ticket.")
    body: str = strawberry.field(description="At most 10,000 characters.")


@strawberry.input(description="Close a ticket.")
class TicketCloseInput:
    ticket_id: relay.GlobalID = strawberry.field(description="The ticket.")


@strawberry.type(description="The ticket, or why there is none.")
class TicketPayload:
    ticket: Ticket | None = strawberry.field(description="The ticket.")
    user_errors: list[TicketError] = strawberry.field(description="Empty on success.")


async def _ticket_payload(info: Info, ticket_id: int | None, problems: Any) -> TicketPayload:
    ticket = None
    if ticket_id is not None:
        [ticket] = await Ticket.resolve_nodes(info=info, node_ids=[str(ticket_id)])
    return TicketPayload(
        ticket=ticket, user_errors=user_errors(TicketError, TicketErrorCode, problems)
    )


@strawberry.type
class TicketQuery:
    @relay.connection(
        TicketConnection,
        description="Tickets you may read (yours, your mentees' to you, and the SRE team's "
        "for those who handle them), latest activity first.",
        max_results=1000,
    )
    def tickets(
        self,
        info: Info,
        filter: Annotated[
            TicketFilter | None, strawberry.argument(description="Which tickets.")
        ] = None,
    ) -> Iterable[Ticket]:
        viewer = info.context.viewer
        query = select(TicketModel.__table__).where(tickets.readable(viewer))
        if not viewer.is_authenticated:
            query = query.where(TicketModel.id < 0)
        if filter is not None:
            if filter.status:
                query = query.where(TicketModel.status.in_([s.value for s in filter.status]))
            if filter.queue is not None:
                query = query.where(TicketModel.queue == filter.queue.value)
            if filter.mine:
                me = viewer.user_id or -1
                query = query.where((TicketModel.student_id == me) | (TicketModel.mentor_id == me))
        sort = [
            SortKey(TicketModel.last_activity_at, descending=True),
            SortKey(TicketModel.id, descending=True),
        ]
        return KeysetQuery(query, sort, Ticket.from_row, info.context.reads)

    @strawberry.field(
        description="Time to first reply over tickets opened in [since, until): all tickets "
        "for holders of `tickets:handle`, a mentor's own tickets otherwise."
    )
    async def ticket_sla(
        self,
        info: Info,
        queue: Annotated[
            TicketQueue | None, strawberry.argument(description="Only this queue.")
        ] = None,
        since: Annotated[
            datetime | None, strawberry.argument(description="Opened at or after (UTC).")
        ] = None,
        until: Annotated[
            datetime | None, strawberry.argument(description="Opened before (UTC).")
        ] = None,
    ) -> TicketSla | None:
        viewer = info.context.viewer
        if not viewer.is_authenticated:
            return None
        problems = Problems()
        start = check_moment(problems, since, field="since", label="since")
        end = check_moment(problems, until, field="until", label="until")
        if problems.items:
            raise bad_input(problems.items[0].message)
        figures = await tickets.sla(
            info.context.reads, viewer, queue=str(queue.value) if queue else None, since=start,
            until=end,
        )  # fmt: skip
        return TicketSla(**figures.__dict__)


@strawberry.type
class TicketMutation:
    @strawberry.mutation(
        description="Open a private ticket to one of your mentors or to the SRE team."
    )
    async def ticket_open(
        self, info: Info, input: Annotated[TicketOpenInput, arg("The ticket.")]
    ) -> TicketPayload:
        viewer = info.context.viewer
        mentor = input.mentor_id
        found, problems = await run_in_transaction(
            info,
            lambda uow: tickets.open_ticket(
                uow, viewer, queue=str(input.queue.value),
                mentor_id=None if mentor is None else pk_of(mentor, "User", "mentorId"),
                subject=input.subject, body=input.body, client_id=input.client_id,
            ),
        )  # fmt: skip
        return await _ticket_payload(info, found.id if found else None, problems)

    @strawberry.mutation(
        description="Reply in a ticket: the student, its mentor, or (SRE tickets) the team. "
        "A staff reply marks it answered; the student's reopens it."
    )
    async def ticket_reply(
        self, info: Info, input: Annotated[TicketReplyInput, arg("The reply.")]
    ) -> TicketPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: tickets.reply(
                uow, viewer, pk_of(input.ticket_id, "Ticket", "ticketId"), input.body
            ),
        )
        return await _ticket_payload(info, found.ticket_id if found else None, problems)

    @strawberry.mutation(description="Close a ticket (the student, or whoever answers it).")
    async def ticket_close(
        self, info: Info, input: Annotated[TicketCloseInput, arg("The ticket.")]
    ) -> TicketPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: tickets.close(uow, viewer, pk_of(input.ticket_id, "Ticket", "ticketId")),
        )
        return await _ticket_payload(info, found.id if found else None, problems)
