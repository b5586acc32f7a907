"""Direct messages: one-to-one conversations between people allowed to reach each other,
with read receipts (each side's read pointer), an inbox and blocking.

Who may reach whom: staff (administrators, managers, SREs) and anyone; a mentor and the
students they mentor; alumni and alumni; a student and an alumnus who offers to be
contacted by students (``open_to_students`` on their profile). The rule is checked on
every message, so a conversation ends when the relationship does. A block, either way,
stops both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, case, func, literal, or_, select, update

from alumnet.domain.communication.notifications import Event, notify
from alumnet.domain.errors import DomainError, Problems, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Role, Viewer
from alumnet.persistence.db import insert_or_ignore, inserted_id
from alumnet.persistence.mentoring import mentors_student
from alumnet.persistence.models import (
    Block,
    Conversation,
    ConversationMember,
    Message,
    Profile,
    User,
    UserRole,
)
from alumnet.persistence.uow import UnitOfWork

BODY_MAX = 5_000
CLIENT_ID_MAX = 64
STAFF = frozenset({Role.ADMIN.value, Role.MANAGER.value, Role.SRE.value})


def conversation_channel(conversation_id: int) -> str:
    return f"conversation:{conversation_id}:messages"


async def _roles(uow: UnitOfWork, user_id: int) -> set[str]:
    rows = await uow.session.execute(select(UserRole.role).where(UserRole.user_id == user_id))
    return set(rows.scalars())


async def may_reach(
    uow: UnitOfWork, me: int, other: int, my_roles: frozenset[str] | None = None
) -> bool:
    """Whether ``me`` may write to ``other`` (blocks aside); ``my_roles``: the roles ``me``
    may use now (a staff role waiting for two-factor sign-in is not one), else all held."""
    mine = set(my_roles) if my_roles is not None else await _roles(uow, me)
    theirs = await _roles(uow, other)
    if mine & STAFF or theirs & STAFF:
        return True
    if Role.ALUMNUS.value in mine and Role.ALUMNUS.value in theirs:
        return True
    student_alumnus = (Role.STUDENT.value in mine and Role.ALUMNUS.value in theirs) or (
        Role.ALUMNUS.value in mine and Role.STUDENT.value in theirs
    )
    if student_alumnus:
        alumnus = other if Role.ALUMNUS.value in theirs else me
        offered = await uow.session.execute(
            select(Profile.open_to_students).where(Profile.user_id == alumnus)
        )
        if offered.scalar():
            return True
    mentoring = await uow.session.execute(
        select(literal(1)).where(or_(mentors_student(me, other), mentors_student(other, me)))
    )
    return mentoring.first() is not None


async def blocked_between(uow: UnitOfWork, a: int, b: int) -> bool:
    found = await uow.session.execute(
        select(Block.blocker_id)
        .where(
            or_(
                and_(Block.blocker_id == a, Block.blocked_id == b),
                and_(Block.blocker_id == b, Block.blocked_id == a),
            )
        )
        .limit(1)
    )
    return found.first() is not None


async def _check_reach(uow: UnitOfWork, viewer: Viewer, other: int, field: str) -> User:
    me = viewer.require_user()
    person = await uow.session.get(User, other)
    # The same answer whether the person does not exist or may not be reached: this must
    # not tell anyone which accounts exist.
    if (
        person is None
        or person.status != "active"
        or other == me
        or not await may_reach(uow, me, other, frozenset(r.value for r in viewer.roles))
    ):
        raise DomainError.of(
            "NOT_REACHABLE",
            "You may write to your mentors and mentees, to staff, and alumni to alumni.",
            field,
        )
    if await blocked_between(uow, me, other):
        raise DomainError.of("BLOCKED", "One of you has blocked the other.", field)
    return person


async def start(uow: UnitOfWork, viewer: Viewer, other: int) -> Conversation:
    """The conversation between the viewer and ``other``, created if new; idempotent."""
    me = viewer.require_user()
    await _check_reach(uow, viewer, other, "userId")
    low, high = sorted((me, other))
    await insert_or_ignore(
        uow.session, Conversation,
        {"user_low_id": low, "user_high_id": high, "created_at": datetime.now(UTC)},
        ["user_low_id", "user_high_id"],
    )  # fmt: skip
    conversation = (
        await uow.session.execute(
            select(Conversation).where(
                Conversation.user_low_id == low, Conversation.user_high_id == high
            )
        )
    ).scalar_one()
    for uid in (low, high):
        await insert_or_ignore(
            uow.session, ConversationMember,
            {"conversation_id": conversation.id, "user_id": uid, "last_read_message_id": 0,
             "last_message_at": conversation.created_at},
            ["conversation_id", "user_id"],
        )  # fmt: skip
    return conversation


async def _conversation_of(uow: UnitOfWork, me: int, conversation_id: int) -> Conversation:
    conversation = await uow.session.get(Conversation, conversation_id)
    if conversation is None or me not in (conversation.user_low_id, conversation.user_high_id):
        raise DomainError.of("NOT_FOUND", "No such conversation.", "conversationId")
    return conversation


@dataclass(frozen=True)
class Sent:
    message: Message
    created: bool


async def send(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    conversation_id: int | None,
    recipient_id: int | None,
    body: str,
    client_id: str | None,
) -> Sent:
    """Send a message into a conversation (or to a person, starting it). A retry with the
    same ``client_id`` returns the first message instead of sending it twice."""
    me = viewer.require_user()
    problems = Problems()
    text = check_text(
        problems, body.replace("\r\n", "\n"), field="body", max_length=BODY_MAX, min_length=1,
        label="The message",
    )  # fmt: skip
    if client_id is not None and not (0 < len(client_id) <= CLIENT_ID_MAX):
        problems.add("INVALID", f"clientId must be 1 to {CLIENT_ID_MAX} characters.", "clientId")
    if (conversation_id is None) == (recipient_id is None):
        problems.add("INVALID", "Name a conversation or a recipient.", "conversationId")
    problems.raise_if_any()
    if client_id is not None:
        earlier = (
            await uow.session.execute(
                select(Message).where(Message.sender_id == me, Message.client_id == client_id)
            )
        ).scalar_one_or_none()
        if earlier is not None:
            return Sent(earlier, created=False)
    if conversation_id is not None:
        conversation = await _conversation_of(uow, me, conversation_id)
        other = (
            conversation.user_high_id
            if conversation.user_low_id == me
            else conversation.user_low_id
        )
        await _check_reach(uow, viewer, other, "conversationId")
    else:
        assert recipient_id is not None
        conversation = await start(uow, viewer, recipient_id)
        other = recipient_id
    sender = await uow.session.get(User, me)
    sender_name = sender.name if sender is not None else "someone"
    now = datetime.now(UTC)
    # ON CONFLICT DO NOTHING on (sender, clientId): of two identical sends at once, one
    # records the message and the other returns it.
    new_id = await inserted_id(
        uow.session, Message,
        {"conversation_id": conversation.id, "sender_id": me, "body": text or "",
         "client_id": client_id, "created_at": now},
        ["sender_id", "client_id"],
    )  # fmt: skip
    if new_id is None:
        found = select(Message).where(Message.sender_id == me, Message.client_id == client_id)
        return Sent((await uow.session.execute(found)).scalar_one(), created=False)
    message = await uow.session.get(Message, new_id)
    assert message is not None
    await uow.session.execute(
        update(Conversation)
        .where(Conversation.id == conversation.id)
        .values(last_message_id=func.coalesce(
            case((Conversation.last_message_id > message.id, Conversation.last_message_id)),
            message.id,
        ))
    )  # fmt: skip
    await uow.session.execute(
        update(ConversationMember)
        .where(ConversationMember.conversation_id == conversation.id)
        .values(last_message_at=now)
    )
    uow.publish(conversation_channel(conversation.id), {"id": message.id})
    preview = " ".join((text or "").split())
    await notify(
        uow, [other],
        Event(kind="message", title=f"New message from {sender_name}"[:200],
              body=preview if len(preview) <= 140 else preview[:139] + "…",
              subject_type="Conversation", subject_id=conversation.id),
    )  # fmt: skip
    return Sent(message, created=True)


async def mark_read(
    uow: UnitOfWork, viewer: Viewer, conversation_id: int, up_to: int | None
) -> Conversation:
    """Read receipts: everything up to ``up_to`` (default: the latest message) is read.
    The pointer never moves back."""
    me = viewer.require_user()
    conversation = await _conversation_of(uow, me, conversation_id)
    newest = select(func.max(Message.id)).where(Message.conversation_id == conversation_id)
    latest = int((await uow.session.execute(newest)).scalar() or 0)
    target = latest if up_to is None else min(up_to, latest)
    await uow.session.execute(
        update(ConversationMember)
        .where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.user_id == me,
            ConversationMember.last_read_message_id < target,
        )
        .values(last_read_message_id=target, last_read_at=datetime.now(UTC))
    )
    return conversation


async def block(uow: UnitOfWork, viewer: Viewer, other: int, *, blocked: bool) -> bool:
    """Block (or unblock) a person; idempotent. Returns whether the block now stands."""
    me = viewer.require_user()
    if other == me or await uow.session.get(User, other) is None:
        raise DomainError.of("NOT_FOUND", "No such person.", "userId")
    if blocked:
        await insert_or_ignore(
            uow.session, Block,
            {"blocker_id": me, "blocked_id": other, "created_at": datetime.now(UTC)},
            ["blocker_id", "blocked_id"],
        )  # fmt: skip
    else:
        found = await uow.session.get(Block, (me, other))
        if found is not None:
            await uow.session.delete(found)
    audit.record(
        uow, "user.block" if blocked else "user.unblock", object_type="User",
        object_ids=[other], details={},
    )  # fmt: skip
    return blocked
