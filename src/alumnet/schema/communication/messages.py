"""Direct messages: conversations, messages with read receipts, the inbox, blocking, and
the live `messageReceived` subscription."""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Iterable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import and_, func, select
from strawberry import relay

from alumnet.domain.communication import messages
from alumnet.persistence.loaders.common import by_id, grouped, rows_by_id
from alumnet.persistence.models import Block, ConversationMember
from alumnet.persistence.models import Conversation as ConversationModel
from alumnet.persistence.models import Message as MessageModel
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import global_id, global_pk, int_ids
from alumnet.schema.pagination import (
    ORDER_DIRECTION_DESCRIPTION,
    CountedConnection,
    KeysetQuery,
    SortDirection,
    SortKey,
    descending,
    reads_loader,
)

if TYPE_CHECKING:
    pass

ev = strawberry.enum_value
IDENTITY = "alumnet.schema.identity.types"
MESSAGE_COLUMNS = [
    MessageModel.id, MessageModel.conversation_id, MessageModel.sender_id, MessageModel.body,
    MessageModel.created_at,
]  # fmt: skip


async def _conversations_by_id(reads: Any, ids: Any) -> list[Any]:
    return await by_id(reads, [ConversationModel.__table__], ConversationModel.id, ids)


async def _messages_by_id(reads: Any, ids: Any) -> list[Any]:
    return await by_id(reads, MESSAGE_COLUMNS, MessageModel.id, ids)


async def _members_of(reads: Any, ids: Any) -> list[list[Any]]:
    query = select(ConversationMember.__table__).where(
        ConversationMember.conversation_id.in_(list(ids))
    )
    return await grouped(reads, query, "conversation_id", ids)


async def _unread_of(reads: Any, ids: Any, *, user_id: int) -> list[Any]:
    """Per conversation, messages from the other side after the user's read pointer."""
    member = ConversationMember
    query = (
        select(MessageModel.conversation_id.label("id"), func.count().label("unread"))
        .join(
            member,
            and_(member.conversation_id == MessageModel.conversation_id, member.user_id == user_id),
        )
        .where(
            MessageModel.conversation_id.in_(list(ids)),
            MessageModel.id > member.last_read_message_id,
            MessageModel.sender_id != user_id,
        )
        .group_by(MessageModel.conversation_id)
    )
    return await rows_by_id(reads, query, ids)


@strawberry.type(
    description="Someone you write with: their name only (their user node, profile and "
    "contact details follow their own visibility rules)."
)
class Participant:
    user_id: strawberry.ID = strawberry.field(description="Their global user id.")
    name: str = strawberry.field(description="Their name.")


async def participant(info: Info, user_id: int) -> Participant | None:
    row = await info.context.loaders.user_by_id.load(user_id)
    if row is None:
        return None
    return Participant(user_id=strawberry.ID(global_id("User", user_id)), name=row.name)


async def _blocked_by(reads: Any, ids: Any, *, me: int) -> list[bool]:
    query = select(Block.blocked_id).where(Block.blocker_id == me, Block.blocked_id.in_(list(ids)))
    async with reads.connect() as conn:
        found = {int(i) for i in (await conn.execute(query)).scalars()}
    return [i in found for i in ids]


async def readable_conversations(info: Info, ids: list[int]) -> dict[int, Any]:
    """The conversations among ``ids`` the viewer takes part in, by id."""
    me = info.context.viewer.user_id
    if me is None:
        return {}
    rows = await reads_loader(info, ("conversation", "by_id"), _conversations_by_id).load_many(ids)
    return {r.id: r for r in rows if r is not None and me in (r.user_low_id, r.user_high_id)}


@strawberry.type(description="A direct message.")
class Message(relay.Node):
    id: relay.NodeID[int]
    body: str = strawberry.field(description="The text (plain text, not Markdown).")
    sent_at: datetime = strawberry.field(description="When it was sent (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(id=row.id, body=row.body, sent_at=row.created_at, _row=row)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        loader = reads_loader(info, ("message", "by_id"), _messages_by_id)
        rows = [r for r in await loader.load_many([i for i in ids if i]) if r is not None]
        allowed = await readable_conversations(info, list({r.conversation_id for r in rows}))
        found = {r.id: r for r in rows if r.conversation_id in allowed}
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Whether you sent it.")
    def mine(self, info: Info) -> bool:
        return bool(self._row.sender_id == info.context.viewer.user_id)

    @strawberry.field(description="Who sent it.")
    async def sender(self, info: Info) -> Participant | None:
        return await participant(info, self._row.sender_id)

    @strawberry.field(
        description="Read receipt: whether the recipient has read it (as far as they have "
        "marked the conversation read)."
    )
    async def read(self, info: Info) -> bool:
        members = await reads_loader(info, ("conversation", "members"), _members_of).load(
            self._row.conversation_id
        )
        return any(
            m.user_id != self._row.sender_id and m.last_read_message_id >= self.id for m in members
        )

    @strawberry.field(description="The conversation it belongs to.")
    async def conversation(self, info: Info) -> Conversation | None:
        found = await readable_conversations(info, [self._row.conversation_id])
        row = found.get(self._row.conversation_id)
        return Conversation.from_row(row) if row is not None else None


@strawberry.type(description="Messages, a page at a time.")
class MessageConnection(CountedConnection[Message]):
    pass


@strawberry.type(description="A one-to-one conversation you take part in.")
class Conversation(relay.Node):
    id: relay.NodeID[int]
    started_at: datetime = strawberry.field(description="When it was started (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(id=row.id, started_at=row.created_at, _row=row)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        found = await readable_conversations(info, [i for i in ids if i])
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    def _other_id(self, info: Info) -> int:
        me = info.context.viewer.user_id
        row = self._row
        return int(row.user_high_id if row.user_low_id == me else row.user_low_id)

    @strawberry.field(description="The other person.")
    async def other_participant(self, info: Info) -> Participant | None:
        return await participant(info, self._other_id(info))

    @strawberry.field(description="The latest message, if any.")
    async def last_message(self, info: Info) -> Message | None:
        if self._row.last_message_id is None:
            return None
        loader = reads_loader(info, ("message", "by_id"), _messages_by_id)
        row = await loader.load(self._row.last_message_id)
        return Message.from_row(row) if row is not None else None

    @strawberry.field(description="Messages from the other person you have not read yet.")
    async def unread_count(self, info: Info) -> int:
        me = info.context.viewer.user_id or -1
        load = functools.partial(_unread_of, user_id=me)
        row = await reads_loader(info, ("conversation", "unread", me), load).load(self.id)
        return int(row.unread) if row is not None else 0

    @strawberry.field(description="When the other person last marked the conversation read (UTC).")
    async def other_read_at(self, info: Info) -> datetime | None:
        other = self._other_id(info)
        members = await reads_loader(info, ("conversation", "members"), _members_of).load(self.id)
        return next((m.last_read_at for m in members if m.user_id == other), None)

    @strawberry.field(description="Whether you have blocked the other person.")
    async def blocked_by_me(self, info: Info) -> bool:
        me = info.context.viewer.user_id or -1
        load = functools.partial(_blocked_by, me=me)
        return bool(await reads_loader(info, ("blocked", me), load).load(self._other_id(info)))

    @relay.connection(MessageConnection, description="Messages, newest first.", max_results=1000)
    def messages(self, info: Info) -> Iterable[Message]:
        return KeysetQuery(
            select(*MESSAGE_COLUMNS),
            [SortKey(MessageModel.id, descending=True)],
            Message.from_row,
            info.context.reads,
            partition=(MessageModel.conversation_id, self.id),
            batch_key="Conversation.messages",
        )


@strawberry.type(description="Conversations, a page at a time.")
class ConversationConnection(CountedConnection[Conversation]):
    pass


@strawberry.type(description="Someone you have blocked.")
class BlockedUser:
    blocked_at: datetime = strawberry.field(description="When (UTC).")
    user_id: strawberry.ID = strawberry.field(description="Their global id (to unblock).")
    _user_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            blocked_at=row.created_at,
            user_id=strawberry.ID(global_id("User", row.blocked_id)),
            _user_id=row.blocked_id,
        )

    @strawberry.field(description="The person.")
    async def user(self, info: Info) -> Participant | None:
        return await participant(info, self._user_id)


@strawberry.type(description="People you blocked, a page at a time.")
class BlockedUserConnection(CountedConnection[BlockedUser]):  # type: ignore[type-var]
    pass


@strawberry.enum(description="What the people you blocked can be sorted by.")
class BlockedUserOrderField(Enum):
    BLOCKED_AT = ev("blocked_at", description="When you blocked them (natural: latest first).")


@strawberry.input(description="How to sort the people you blocked; ties are broken by person.")
class BlockedUserOrder:
    field: BlockedUserOrderField = strawberry.field(
        default=BlockedUserOrderField.BLOCKED_AT, description="The key to sort by."
    )
    direction: SortDirection | None = strawberry.field(
        default=None, description=ORDER_DIRECTION_DESCRIPTION
    )


@strawberry.enum(description="Why a messaging mutation failed.")
class MessageErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such person or conversation (for you).")
    BLOCKED = ev("BLOCKED", description="One of you has blocked the other.")
    NOT_REACHABLE = ev(
        "NOT_REACHABLE",
        description="You may not write to this person (mentors and their mentees, staff and "
        "anyone, alumni and alumni).",
    )
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_LONG = ev("TOO_LONG", description="The message is longer than 5,000 characters.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a messaging mutation's input.")
class MessageError(UserError):
    code: MessageErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="Start (or find) your conversation with someone.")
class ConversationStartInput:
    user_id: relay.GlobalID = strawberry.field(description="The other person.")


@strawberry.input(description="A message into a conversation, or to a person.")
class MessageSendInput:
    conversation_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The conversation."
    )
    recipient_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Or the person (the conversation is started if new)."
    )
    body: str = strawberry.field(description="Plain text, at most 5,000 characters.")
    client_id: str | None = strawberry.field(
        default=None,
        description="An idempotency key of yours (at most 64 characters): sending again with "
        "the same key returns the first message instead of a second one.",
    )


@strawberry.input(description="Mark a conversation read.")
class ConversationMarkReadInput:
    conversation_id: relay.GlobalID = strawberry.field(description="The conversation.")
    up_to_message_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Read up to this message; omit for all of it."
    )


@strawberry.input(description="Block or unblock a person.")
class UserBlockInput:
    user_id: relay.GlobalID = strawberry.field(description="The person.")


@strawberry.type(description="The conversation, or why there is none.")
class ConversationPayload:
    conversation: Conversation | None = strawberry.field(description="The conversation.")
    user_errors: list[MessageError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The message sent, or why it was not.")
class MessageSendPayload:
    message: Message | None = strawberry.field(description="The message.")
    created: bool = strawberry.field(description="False if `clientId` matched an earlier send.")
    user_errors: list[MessageError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="Whether the block stands now.")
class UserBlockPayload:
    blocked: bool | None = strawberry.field(description="True after userBlock, false after "
                                            "userUnblock; null on error.")  # fmt: skip
    user_errors: list[MessageError] = strawberry.field(description="Empty on success.")


def _conversation_payload(found: Any, problems: Any) -> ConversationPayload:
    return ConversationPayload(
        conversation=Conversation.from_row(found) if found is not None else None,
        user_errors=user_errors(MessageError, MessageErrorCode, problems),
    )


@strawberry.type
class MessageQuery:
    @relay.connection(
        ConversationConnection,
        description="Your inbox: your conversations, latest activity first.",
        max_results=1000,
    )
    def conversations(self, info: Info) -> Iterable[Conversation]:
        me = info.context.viewer.user_id or -1
        member = ConversationMember
        query = (
            select(ConversationModel.__table__, member.last_message_at.label("activity"))
            .join(member, and_(member.conversation_id == ConversationModel.id,
                               member.user_id == me))
            # A conversation shows in the inbox once it has a message.
            .where(ConversationModel.last_message_id.is_not(None))
        )  # fmt: skip
        sort = [
            SortKey(member.last_message_at, descending=True, attr="activity"),
            SortKey(ConversationModel.id, descending=True),
        ]
        return KeysetQuery(query, sort, Conversation.from_row, info.context.reads)

    @strawberry.field(description="Messages to you that you have not read, in all conversations.")
    async def unread_message_count(self, info: Info) -> int:
        me = info.context.viewer.user_id
        if me is None:
            return 0
        member = ConversationMember
        query = (
            select(func.count())
            .select_from(MessageModel)
            .join(
                member,
                and_(member.conversation_id == MessageModel.conversation_id, member.user_id == me),
            )
            .where(MessageModel.id > member.last_read_message_id, MessageModel.sender_id != me)
        )
        async with info.context.reads.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    @relay.connection(
        BlockedUserConnection,
        description="People you have blocked, latest first unless `orderBy` says otherwise.",
        max_results=1000,
    )
    def blocked_users(
        self,
        info: Info,
        order_by: Annotated[
            BlockedUserOrder | None, strawberry.argument(description="How to sort them.")
        ] = None,
    ) -> Iterable[BlockedUser]:
        me = info.context.viewer.user_id or -1
        query = select(Block.blocked_id, Block.created_at).where(Block.blocker_id == me)
        order = order_by or BlockedUserOrder()
        down = descending(order.direction, SortDirection.DESC)
        sort = [SortKey(Block.created_at, down), SortKey(Block.blocked_id, down)]
        return KeysetQuery(query, sort, BlockedUser.from_row, info.context.reads)  # type: ignore[type-var]


@strawberry.type
class MessageMutation:
    @strawberry.mutation(
        description="Start your conversation with someone you may reach, or find it; idempotent."
    )
    async def conversation_start(
        self, info: Info, input: Annotated[ConversationStartInput, arg("The other person.")]
    ) -> ConversationPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info, lambda uow: messages.start(uow, viewer, pk_of(input.user_id, "User", "userId"))
        )
        return _conversation_payload(found, problems)

    @strawberry.mutation(
        description="Send a direct message; the recipient is notified as they prefer."
    )
    async def message_send(
        self, info: Info, input: Annotated[MessageSendInput, arg("The message.")]
    ) -> MessageSendPayload:
        viewer = info.context.viewer

        def pk(gid: relay.GlobalID | None, type_name: str, field: str) -> int | None:
            return None if gid is None else pk_of(gid, type_name, field)

        found, problems = await run_in_transaction(
            info,
            lambda uow: messages.send(
                uow, viewer,
                conversation_id=pk(input.conversation_id, "Conversation", "conversationId"),
                recipient_id=pk(input.recipient_id, "User", "recipientId"), body=input.body,
                client_id=input.client_id,
            ),
        )  # fmt: skip
        return MessageSendPayload(
            message=Message.from_row(found.message) if found is not None else None,
            created=bool(found and found.created),
            user_errors=user_errors(MessageError, MessageErrorCode, problems),
        )

    @strawberry.mutation(description="Mark a conversation read (up to a message, or all).")
    async def conversation_mark_read(
        self, info: Info, input: Annotated[ConversationMarkReadInput, arg("How far.")]
    ) -> ConversationPayload:
        viewer = info.context.viewer
        up_to = input.up_to_message_id
        found, problems = await run_in_transaction(
            info,
            lambda uow: messages.mark_read(
                uow, viewer, pk_of(input.conversation_id, "Conversation", "conversationId"),
                None if up_to is None else pk_of(up_to, "Message", "upToMessageId"),
            ),
        )  # fmt: skip
        return _conversation_payload(found, problems)

    @strawberry.mutation(
        description="Block a person: neither of you can write to the other until you unblock."
    )
    async def user_block(
        self, info: Info, input: Annotated[UserBlockInput, arg("The person.")]
    ) -> UserBlockPayload:
        return await _block(info, input, blocked=True)

    @strawberry.mutation(description="Unblock a person you blocked.")
    async def user_unblock(
        self, info: Info, input: Annotated[UserBlockInput, arg("The person.")]
    ) -> UserBlockPayload:
        return await _block(info, input, blocked=False)


async def _block(info: Info, input: UserBlockInput, *, blocked: bool) -> UserBlockPayload:
    viewer = info.context.viewer
    found, problems = await run_in_transaction(
        info,
        lambda uow: messages.block(
            uow, viewer, pk_of(input.user_id, "User", "userId"), blocked=blocked
        ),
    )
    return UserBlockPayload(
        blocked=found, user_errors=user_errors(MessageError, MessageErrorCode, problems)
    )


@strawberry.type
class MessageSubscription:
    @strawberry.subscription(
        description="Each new message in one of your conversations (either side's). Ends at "
        "once if it is not yours."
    )
    async def message_received(
        self,
        info: Info,
        conversation_id: Annotated[
            relay.GlobalID, strawberry.argument(description="The conversation.")
        ],
    ) -> AsyncGenerator[Message, None]:
        pk = global_pk(conversation_id, "Conversation")
        if pk is None or not await readable_conversations(info, [pk]):
            return
        channel = messages.conversation_channel(pk)
        async with info.context.runtime.bus.subscription(channel) as events:
            async for event in events:
                if not await info.context.still_signed_in():
                    return
                info.context.reset_loaders()
                [message] = await Message.resolve_nodes(info=info, node_ids=[str(event["id"])])
                if message is not None:
                    yield message
