"""Notices: types, queries, mutations and the acknowledgement subscription."""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Iterable, Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import and_, func, select
from strawberry import relay

from alumnet.domain.cohorts import access
from alumnet.domain.communication import notices
from alumnet.domain.identity.permissions import Permission, Reach
from alumnet.persistence.loaders.common import rows_by_id
from alumnet.persistence.models import Notice as NoticeModel
from alumnet.persistence.models import NoticeAck
from alumnet.persistence.models import User as UserModel
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import global_pk, int_ids, readable_rows, visible_user
from alumnet.schema.pagination import (
    ORDER_DIRECTION_DESCRIPTION,
    CountedConnection,
    KeysetQuery,
    SortDirection,
    SortKey,
    descending,
    reads_loader,
)
from alumnet.schema.permissions import may_in_mission

if TYPE_CHECKING:
    from alumnet.schema.identity.types import User, UserConnection

ev = strawberry.enum_value
IDENTITY = "alumnet.schema.identity.types"
LIST_MAX = 1000


@strawberry.enum(description="How prominent a notice is.")
class NoticePriority(Enum):
    LOW = ev("low", description="For information.")
    NORMAL = ev("normal", description="Normal.")
    HIGH = ev("high", description="Important.")
    URGENT = ev("urgent", description="Act now.")


@strawberry.enum(description="A notice or a standing guideline.")
class NoticeKind(Enum):
    NOTICE = ev("notice", description="A notice.")
    GUIDELINE = ev("guideline", description="A guideline that stays relevant.")


@strawberry.enum(description="The small fixed set of reactions to a notice.")
class NoticeReaction(Enum):
    THUMBS_UP = ev("thumbs_up", description="👍")
    THANKS = ev("thanks", description="Thank you.")
    QUESTION = ev("question", description="I have a question.")
    DONE = ev("done", description="Done.")


@strawberry.type(description="A student's acknowledgement of a notice.")
class NoticeAcknowledgement:
    acknowledged_at: datetime = strawberry.field(description="When (UTC).")
    reaction: NoticeReaction | None = strawberry.field(description="Their reaction, if any.")
    _user_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            acknowledged_at=row.acknowledged_at,
            reaction=NoticeReaction(row.reaction) if row.reaction else None,
            _user_id=row.user_id,
        )

    @strawberry.field(description="The student (if you may see them).")
    async def student(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._user_id)  # type: ignore[no-any-return]


@strawberry.type(description="Acknowledgements, a page at a time.")
class NoticeAcknowledgementConnection(CountedConnection[NoticeAcknowledgement]):  # type: ignore[type-var]
    pass


@strawberry.enum(description="What a notice's acknowledgements can be sorted by.")
class NoticeAcknowledgementOrderField(Enum):
    ACKNOWLEDGED_AT = ev(
        "acknowledged_at", description="When it was acknowledged (natural: latest first)."
    )


@strawberry.input(description="How to sort acknowledgements; ties are broken by the order they "
                  "were made.")  # fmt: skip
class NoticeAcknowledgementOrder:
    field: NoticeAcknowledgementOrderField = strawberry.field(
        default=NoticeAcknowledgementOrderField.ACKNOWLEDGED_AT, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


@strawberry.enum(description="What the students yet to acknowledge a notice can be sorted by.")
class NoticePendingOrderField(Enum):
    NAME = ev("name", description="The student's name (natural: A first).")


@strawberry.input(description="How to sort the students yet to acknowledge; ties are broken by "
                  "student.")  # fmt: skip
class NoticePendingOrder:
    field: NoticePendingOrderField = strawberry.field(
        default=NoticePendingOrderField.NAME, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


async def _ack_counts(reads: Any, notice_ids: Sequence[int]) -> list[tuple[int, int]]:
    """(audience, acknowledged) of each notice, in one statement."""
    audience = notices.audiences()
    query = (
        select(audience.c.notice_id, func.count(), func.count(NoticeAck.id))
        .outerjoin(
            NoticeAck,
            and_(NoticeAck.notice_id == audience.c.notice_id,
                 NoticeAck.user_id == audience.c.student_id),
        )
        .where(audience.c.notice_id.in_(list(notice_ids)))
        .group_by(audience.c.notice_id)
    )  # fmt: skip
    async with reads.connect() as conn:
        found = {int(n): (int(a), int(d)) for n, a, d in (await conn.execute(query)).all()}
    return [found.get(n, (0, 0)) for n in notice_ids]


@strawberry.type(description="Who has acknowledged a notice, for staff and its author.")
class NoticeAcknowledgements:
    _notice: strawberry.Private[Any]

    async def _counts(self, info: Info) -> tuple[int, int]:
        loader = reads_loader(info, ("notice", "ack_counts"), _ack_counts)
        return await loader.load(self._notice.id)  # type: ignore[no-any-return]

    @strawberry.field(description="Students it is addressed to (now).")
    async def audience(self, info: Info) -> int:
        return (await self._counts(info))[0]

    @strawberry.field(description="Of those, how many acknowledged it.")
    async def acknowledged(self, info: Info) -> int:
        return (await self._counts(info))[1]

    @strawberry.field(description="How many have not.")
    async def pending(self, info: Info) -> int:
        audience, done = await self._counts(info)
        return audience - done

    @relay.connection(
        NoticeAcknowledgementConnection,
        description="Who acknowledged, latest first unless `orderBy` says otherwise.",
        max_results=LIST_MAX,
    )
    def acknowledged_by(
        self,
        info: Info,
        order_by: Annotated[
            NoticeAcknowledgementOrder | None,
            strawberry.argument(description="How to sort them."),
        ] = None,
    ) -> Iterable[NoticeAcknowledgement]:
        order = order_by or NoticeAcknowledgementOrder()
        down = descending(order.direction, SortDirection.DESC)
        return KeysetQuery(  # type: ignore[type-var]
            select(NoticeAck.id, NoticeAck.notice_id, NoticeAck.user_id,
                   NoticeAck.acknowledged_at, NoticeAck.reaction),
            [SortKey(NoticeAck.acknowledged_at, down), SortKey(NoticeAck.id, down)],
            NoticeAcknowledgement.from_row, info.context.reads,
            partition=(NoticeAck.notice_id, self._notice.id),
            batch_key=("NoticeAcknowledgements.acknowledgedBy", order.field, down),
        )  # fmt: skip

    @relay.connection(
        Annotated["UserConnection", strawberry.lazy(IDENTITY)],
        description="Students who have not acknowledged yet (those you may see), by name "
        "unless `orderBy` says otherwise.",
        max_results=LIST_MAX,
    )
    def not_acknowledged(
        self,
        info: Info,
        order_by: Annotated[
            NoticePendingOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[Any]:
        from alumnet.persistence.loaders.identity import USER_COLUMNS
        from alumnet.schema.identity.types import User

        audience = notices.audiences()
        acked = (
            select(NoticeAck.id)
            .where(NoticeAck.notice_id == audience.c.notice_id,
                   NoticeAck.user_id == audience.c.student_id)
            .exists()
        )  # fmt: skip
        query = (
            select(*USER_COLUMNS, audience.c.notice_id)
            .join(audience, audience.c.student_id == UserModel.id)
            .where(~acked)
        )
        visible = access.visible_students(info.context.viewer)
        if visible is not None:
            query = query.where(visible)
        order = order_by or NoticePendingOrder()
        down = descending(order.direction, SortDirection.ASC)
        return KeysetQuery(
            query, [SortKey(UserModel.name, down), SortKey(UserModel.id, down)],
            User.from_row, info.context.reads,
            partition=(audience.c.notice_id, self._notice.id),
            batch_key=("NoticeAcknowledgements.notAcknowledged", order.field, down,
                       info.context.viewer.user_id),
        )  # fmt: skip


async def _acks_of(reads: Any, notice_ids: Any, *, user_id: int) -> list[Any]:
    """One user's acknowledgements of these notices (None where there is none)."""
    query = select(
        NoticeAck.notice_id.label("id"), NoticeAck.acknowledged_at, NoticeAck.reaction
    ).where(NoticeAck.user_id == user_id, NoticeAck.notice_id.in_(list(notice_ids)))
    return await rows_by_id(reads, query, notice_ids)


@strawberry.type(description="A notice or guideline to the students of a batch or mission.")
class Notice(relay.Node):
    id: relay.NodeID[int]
    kind: NoticeKind = strawberry.field(description="Notice or guideline.")
    title: str = strawberry.field(description="The title.")
    body_markdown: str = strawberry.field(description="The body as written (Markdown).")
    body_html: str = strawberry.field(
        description="The body rendered to HTML, safe to insert (raw HTML escaped)."
    )
    priority: NoticePriority = strawberry.field(description="How prominent.")
    ack_deadline: datetime | None = strawberry.field(description="Acknowledge by (UTC).")
    posted_at: datetime = strawberry.field(description="When (UTC).")
    edited_at: datetime | None = strawberry.field(
        description="When it was last corrected (UTC); null if never: show it as edited."
    )
    withdrawn_at: datetime | None = strawberry.field(
        description="When it was withdrawn (UTC): its audience no longer sees it; its author "
        "and staff do, for the record."
    )
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, kind=NoticeKind(row.kind), title=row.title,
            body_markdown=row.body_markdown, body_html=row.body_html,
            priority=NoticePriority(row.priority), ack_deadline=row.ack_deadline,
            posted_at=row.created_at, edited_at=row.edited_at, withdrawn_at=row.withdrawn_at,
            _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        condition = notices.readable(info.context.viewer)
        found = await readable_rows(info, NoticeModel.__table__, ids, condition)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Who posted it (if you may see them).")
    async def author(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._row.author_id)  # type: ignore[no-any-return]

    @strawberry.field(description="Your own acknowledgement, if you acknowledged it.")
    async def my_acknowledgement(self, info: Info) -> NoticeAcknowledgement | None:
        me = info.context.viewer.user_id
        if me is None:
            return None
        load = functools.partial(_acks_of, user_id=me)
        row = await reads_loader(info, ("notice", "mine"), load).load(self.id)
        if row is None:
            return None
        return NoticeAcknowledgement(
            acknowledged_at=row.acknowledged_at,
            reaction=NoticeReaction(row.reaction) if row.reaction else None,
            _user_id=me,
        )

    @strawberry.field(
        description="Acknowledgement counts and lists: staff who may post notices, and the "
        "author; null for others."
    )
    async def acknowledgements(self, info: Info) -> NoticeAcknowledgements | None:
        viewer = info.context.viewer
        if viewer.user_id != self._row.author_id and not await posts_there(info, self._row):
            return None
        return NoticeAcknowledgements(_notice=self._row)


async def posts_there(info: Info, row: Any) -> bool:
    """Whether the viewer posts notices where this one was posted (everywhere, or within
    its batch or mission)."""
    if row.mission_id is not None:
        return await may_in_mission(info, Permission.NOTICES_POST, row.mission_id)
    return info.context.viewer.can(Permission.NOTICES_POST, within=Reach(batch_id=row.batch_id))


@strawberry.type(description="Notices, a page at a time.")
class NoticeConnection(CountedConnection[Notice]):
    pass


@strawberry.enum(description="What notices can be sorted by.")
class NoticeOrderField(Enum):
    POSTED_AT = ev("posted_at", description="When it was posted (natural: newest first).")
    TITLE = ev("title", description="Its title (natural: A first).")


@strawberry.input(description="How to sort notices; ties are broken by id.")
class NoticeOrder:
    field: NoticeOrderField = strawberry.field(
        default=NoticeOrderField.POSTED_AT, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


def notices_for(
    info: Info,
    *,
    mission_id: int | None,
    batch_id: int | None,
    order_by: NoticeOrder | None,
) -> KeysetQuery[Notice]:
    """The notices the viewer may read (of one mission or batch: a nested list, whose pages
    for every parent in the response are fetched together)."""
    query = select(NoticeModel.__table__)
    condition = notices.readable(info.context.viewer)
    if condition is not None:
        query = query.where(condition)
    order = order_by or NoticeOrder()
    if order.field == NoticeOrderField.TITLE:
        down = descending(order.direction, SortDirection.ASC)
        sort = [SortKey(NoticeModel.title, down)]
    else:
        down = descending(order.direction, SortDirection.DESC)
        sort = [SortKey(NoticeModel.created_at, down)]
    sort.append(SortKey(NoticeModel.id, down))
    partition: tuple[Any, int] | None = None
    if mission_id is not None:
        partition = (NoticeModel.mission_id, mission_id)
    elif batch_id is not None:
        partition = (NoticeModel.batch_id, batch_id)
    key = (
        ("notices", "mission" if mission_id is not None else "batch", order.field, down,
         info.context.viewer.user_id)
        if partition is not None else None
    )  # fmt: skip
    return KeysetQuery(
        query, sort, Notice.from_row, info.context.reads, partition=partition, batch_key=key
    )


@strawberry.enum(description="Why a notice mutation failed.")
class NoticeErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such mission, batch or notice (for you).")
    DATE_IN_PAST = ev("DATE_IN_PAST", description="The deadline has passed.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="A text is longer than allowed.")
    WITHDRAWN = ev("WITHDRAWN", description="The notice was withdrawn.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a notice mutation's input.")
class NoticeError(UserError):
    code: NoticeErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A notice to a mission or a batch.")
class NoticePostInput:
    mission_id: relay.GlobalID | None = strawberry.field(default=None, description="A mission.")
    batch_id: relay.GlobalID | None = strawberry.field(default=None, description="Or a batch.")
    title: str = strawberry.field(description="Title (at most 200 characters).")
    body: str = strawberry.field(description="Markdown (at most 20,000 characters).")
    priority: NoticePriority = strawberry.field(
        default=NoticePriority.NORMAL, description="Priority."
    )
    kind: NoticeKind = strawberry.field(default=NoticeKind.NOTICE, description="Kind.")
    ack_deadline: datetime | None = strawberry.field(
        default=None, description="Acknowledge by; omit for no deadline."
    )


@strawberry.type(description="The notice, or why there is none.")
class NoticePayload:
    notice: Notice | None = strawberry.field(description="The notice.")
    user_errors: list[NoticeError] = strawberry.field(description="Empty on success.")


@strawberry.input(
    description="A correction of a notice (its author, or staff who post notices); omitted "
    "fields stay as they are."
)
class NoticeUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The notice.")
    title: str | None = strawberry.field(default=None, description="New title.")
    body: str | None = strawberry.field(default=None, description="New Markdown body.")
    priority: NoticePriority | None = strawberry.field(default=None, description="New priority.")
    ack_deadline: datetime | None = strawberry.field(
        default=None, description="A new acknowledgement deadline (in the future)."
    )
    significant: bool = strawberry.field(
        default=False,
        description="A change everyone must see: their acknowledgements go, they are told, "
        "and asked to acknowledge again. Otherwise acknowledgements stay.",
    )


@strawberry.input(description="A notice to withdraw (its author, or staff who post notices).")
class NoticeWithdrawInput:
    id: relay.GlobalID = strawberry.field(description="The notice.")


@strawberry.input(description="Acknowledge a notice addressed to you, with an optional reaction.")
class NoticeAcknowledgeInput:
    notice_id: relay.GlobalID = strawberry.field(description="The notice.")
    reaction: NoticeReaction | None = strawberry.field(default=None, description="A reaction.")


@strawberry.type(description="Whether the acknowledgement is new.")
class NoticeAcknowledgePayload:
    notice: Notice | None = strawberry.field(description="The notice.")
    created: bool = strawberry.field(description="False if you had acknowledged it already.")
    user_errors: list[NoticeError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Remind everyone who has not acknowledged a notice.")
class NoticeRemindInput:
    notice_id: relay.GlobalID = strawberry.field(description="The notice.")


@strawberry.type(description="How many students were reminded by e-mail.")
class NoticeRemindPayload:
    reminded: int = strawberry.field(description="E-mails queued.")
    user_errors: list[NoticeError] = strawberry.field(description="Empty on success.")


def _optional(gid: relay.GlobalID | None, type_name: str) -> int | None:
    return None if gid is None else (global_pk(gid, type_name) or -1)


@strawberry.type
class CommunicationQuery:
    @relay.connection(
        NoticeConnection,
        description="Notices you may read, newest first unless `orderBy` says otherwise.",
        max_results=1000,
    )
    def notices(
        self,
        info: Info,
        order_by: Annotated[
            NoticeOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[Notice]:
        return notices_for(info, mission_id=None, batch_id=None, order_by=order_by)


@strawberry.type
class CommunicationMutation:
    @strawberry.mutation(
        description="Post a notice or guideline to a mission (its mentors, SREs, managers) or "
        "a batch (SREs, managers)."
    )
    async def notice_post(
        self, info: Info, input: Annotated[NoticePostInput, arg("The notice.")]
    ) -> NoticePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: notices.post(
                uow, viewer, mission_id=_optional(input.mission_id, "Mission"),
                batch_id=_optional(input.batch_id, "Batch"), title=input.title, body=input.body,
                priority=str(input.priority.value), kind=str(input.kind.value),
                ack_deadline=input.ack_deadline,
            ),
        )  # fmt: skip
        return NoticePayload(
            notice=Notice.from_row(found) if found is not None else None,
            user_errors=user_errors(NoticeError, NoticeErrorCode, problems),
        )

    @strawberry.mutation(
        description="Correct a notice: shown as edited; a significant change asks everyone "
        "to acknowledge again."
    )
    async def notice_update(
        self, info: Info, input: Annotated[NoticeUpdateInput, arg("The correction.")]
    ) -> NoticePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: notices.update(
                uow, viewer, pk_of(input.id, "Notice", "id"), title=input.title, body=input.body,
                priority=str(input.priority.value) if input.priority else None,
                ack_deadline=input.ack_deadline, significant=input.significant,
            ),
        )  # fmt: skip
        return NoticePayload(
            notice=Notice.from_row(found) if found is not None else None,
            user_errors=user_errors(NoticeError, NoticeErrorCode, problems),
        )

    @strawberry.mutation(
        description="Withdraw a notice: hidden from its audience, kept for the record."
    )
    async def notice_withdraw(
        self, info: Info, input: Annotated[NoticeWithdrawInput, arg("The notice.")]
    ) -> NoticePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info, lambda uow: notices.withdraw(uow, viewer, pk_of(input.id, "Notice", "id"))
        )
        return NoticePayload(
            notice=Notice.from_row(found) if found is not None else None,
            user_errors=user_errors(NoticeError, NoticeErrorCode, problems),
        )

    @strawberry.mutation(description="Acknowledge a notice addressed to you; idempotent.")
    async def notice_acknowledge(
        self, info: Info, input: Annotated[NoticeAcknowledgeInput, arg("The notice.")]
    ) -> NoticeAcknowledgePayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: notices.acknowledge(
                uow, viewer, pk_of(input.notice_id, "Notice", "noticeId"),
                reaction=str(input.reaction.value) if input.reaction else None,
            ),
        )  # fmt: skip
        return NoticeAcknowledgePayload(
            notice=Notice.from_row(found[0]) if found is not None else None,
            created=bool(found and found[1]),
            user_errors=user_errors(NoticeError, NoticeErrorCode, problems),
        )

    @strawberry.mutation(
        description="E-mail a reminder to every student who has not acknowledged a notice "
        "(staff who post notices, or its author)."
    )
    async def notice_remind(
        self, info: Info, input: Annotated[NoticeRemindInput, arg("The notice.")]
    ) -> NoticeRemindPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info,
            lambda uow: notices.remind(uow, viewer, pk_of(input.notice_id, "Notice", "noticeId")),
        )
        return NoticeRemindPayload(
            reminded=found or 0, user_errors=user_errors(NoticeError, NoticeErrorCode, problems)
        )


@strawberry.type
class CommunicationSubscription:
    @strawberry.subscription(
        description="Each new acknowledgement of a notice, for staff dashboards (staff who "
        "post notices, or its author). Ends at once for anyone else."
    )
    async def notice_acknowledged(
        self,
        info: Info,
        notice_id: Annotated[relay.GlobalID, strawberry.argument(description="The notice.")],
    ) -> AsyncGenerator[NoticeAcknowledgement, None]:
        pk = global_pk(notice_id, "Notice")
        if pk is None:
            return
        [notice] = await Notice.resolve_nodes(info=info, node_ids=[str(pk)])
        viewer = info.context.viewer
        if notice is None or (
            viewer.user_id != notice._row.author_id and not await posts_there(info, notice._row)
        ):
            return
        async with info.context.runtime.bus.subscription(notices.notice_channel(pk)) as events:
            async for event in events:
                if not await info.context.still_signed_in():
                    return
                info.context.reset_loaders()
                yield NoticeAcknowledgement(
                    acknowledged_at=datetime.fromisoformat(event["at"]),
                    reaction=None,
                    _user_id=int(event["userId"]),
                )
