"""Notifications: the list, unread counts, read state, preferences per kind and channel,
and the live `notificationReceived` subscription."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Self

import strawberry
from sqlalchemy import and_, func, select
from strawberry import relay

from alumnet.domain.communication import notifications
from alumnet.persistence.models import Notification as NotificationModel
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, run_in_transaction
from alumnet.schema.nodes import global_id, global_pk, int_ids, readable_rows
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey

ev = strawberry.enum_value


@strawberry.enum(description="What a notification is about; preferences are per kind.")
class NotificationKind(Enum):
    NOTICE = ev("notice", description="A new notice to one of your missions or batches.")
    NOTICE_REMINDER = ev("notice_reminder", description="A reminder to acknowledge a notice.")
    ANNOUNCEMENT = ev("announcement", description="An announcement addressed to you.")
    MESSAGE = ev("message", description="A direct message to you.")
    TICKET = ev("ticket", description="A ticket opened to you, a reply, or a ticket closed.")
    INTEGRITY = ev("integrity", description="An integrity decision or an appeal's outcome.")
    VERIFICATION = ev(
        "verification", description="A degree or academic record verified or rejected."
    )
    GRADE = ev("grade", description="Your work was graded, or returned for revision.")
    POINTS = ev("points", description="Points awarded to you, or deducted, by hand.")
    REVIEW = ev(
        "review",
        description="For those who decide integrity cases: an appeal or a flag to decide.",
    )
    ASSIGNMENT = ev("assignment", description="A new assignment in one of your missions.")
    DEADLINE = ev(
        "deadline", description="Work due within 24 hours that you have not handed in yet."
    )
    ATTENDANCE = ev(
        "attendance", description="No attendance recorded for you for several days in a row."
    )
    AT_RISK = ev("at_risk", description="For mentors and SREs: a student entered the at-risk list.")
    FOLLOW_UP = ev("follow_up", description="For SREs: follow-up calls due today.")
    CERTIFICATE = ev(
        "certificate", description="Your certificate of completion (the PDF by e-mail)."
    )
    JOB_POSTING = ev(
        "job_posting", description="Your job posting was approved, rejected or closed."
    )
    APPLICATION = ev(
        "application",
        description="A job application's news: its status moved (for the applicant), or a "
        "new applicant or a withdrawal (for the poster).",
    )
    REFERRAL = ev("referral", description="Someone referred you to a job posting.")
    JOB_MATCH = ev("job_match", description="New job postings that match a search you saved.")
    EVENT = ev(
        "event",
        description="An event you registered for changed or was cancelled; a place came "
        "free for you, or staff registered you. (New events are announcements.)",
    )
    MENTORSHIP = ev(
        "mentorship",
        description="A request to mentor you made to you, its answer, a request expired, or a "
        "mentorship completed or ended.",
    )
    EVENT_REMINDER = ev(
        "event_reminder", description="A reminder a day and an hour before an event of yours."
    )
    SECURITY = ev(
        "security",
        description="Your account was signed in to from a new device (also sent by e-mail).",
    )
    MENTION = ev("mention", description="Someone mentioned you (@name) in a post or a comment.")
    COMMENT = ev("comment", description="A comment on your post, or a reply to your comment.")
    MODERATION = ev(
        "moderation",
        description="Moderation news: your post or comment hidden or restored, a warning to "
        "you, or (for moderators) a new report in the queue.",
    )
    REFERENCE = ev(
        "reference",
        description="A reference request to you, its answer, a reference shared with you, or "
        "a reminder of a deadline.",
    )
    VOLUNTEERING = ev(
        "volunteering",
        description="Volunteering you offered was confirmed or declined, or staff recorded "
        "some for you.",
    )
    GIVING = ev(
        "giving",
        description="Your gift was confirmed or declined, its receipt is ready, or a pledge "
        "instalment is coming due; for giving staff, a gift to confirm or a lapsed pledge.",
    )
    ACADEMICS = ev(
        "academics",
        description="For academics staff: very negative feedback from a student; for faculty, "
        "a subject offering you lead.",
    )
    ADMISSIONS = ev(
        "admissions",
        description="An inquiry assigned to you, or a follow-up task of yours falling due.",
    )
    WEBHOOKS = ev(
        "webhooks",
        description="A webhook endpoint you registered was disabled after a day of failed "
        "deliveries.",
    )


@strawberry.type(description="Something that concerns you.")
class Notification(relay.Node):
    id: relay.NodeID[int]
    kind: NotificationKind = strawberry.field(description="What it is about.")
    title: str = strawberry.field(description="One line.")
    body: str = strawberry.field(description="A short plain-text summary (may be empty).")
    created_at: datetime = strawberry.field(description="When (UTC).")
    read_at: datetime | None = strawberry.field(description="When you marked it read (UTC).")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, kind=NotificationKind(row.kind), title=row.title, body=row.body,
            created_at=row.created_at, read_at=row.read_at, _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        mine = and_(
            NotificationModel.user_id == (info.context.viewer.user_id or -1),
            NotificationModel.in_app.is_(True),
        )
        found = await readable_rows(info, NotificationModel.__table__, ids, mine)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Whether you have read it.")
    def read(self) -> bool:
        return self.read_at is not None

    @strawberry.field(
        description="The global id of what it is about (a Notice, Announcement, Conversation, "
        "Ticket, IntegrityDecision or Appeal); fetch it with `node`."
    )
    def subject_id(self) -> strawberry.ID | None:
        row = self._row
        if row.subject_type is None or row.subject_id is None:
            return None
        return strawberry.ID(global_id(row.subject_type, row.subject_id))


@strawberry.type(description="Notifications, a page at a time.")
class NotificationConnection(CountedConnection[Notification]):
    pass


@strawberry.type(description="How you are told about one kind of notification.")
class NotificationPreference:
    kind: NotificationKind = strawberry.field(description="The kind.")
    in_app: bool = strawberry.field(description="Listed in the app (and pushed live).")
    email: bool = strawberry.field(description="An e-mail for each one.")
    digest: bool = strawberry.field(description="Gathered in a daily digest e-mail.")
    is_default: bool = strawberry.field(description="True until you choose yourself.")


@strawberry.input(description="Your choice of channels for one kind.")
class NotificationPreferenceInput:
    kind: NotificationKind = strawberry.field(description="The kind.")
    in_app: bool = strawberry.field(description="Listed in the app.")
    email: bool = strawberry.field(description="An e-mail for each one.")
    digest: bool = strawberry.field(description="In the daily digest.")


@strawberry.input(description="Channels for some kinds; kinds left out keep their settings.")
class NotificationPreferencesUpdateInput:
    preferences: list[NotificationPreferenceInput] = strawberry.field(
        description="One entry per kind to change."
    )


@strawberry.input(description="Which notifications to mark read.")
class NotificationMarkReadInput:
    ids: list[relay.GlobalID] | None = strawberry.field(
        default=None,
        description="These (at most 1,000), all yours; if one is not, nothing is marked and "
        'the userError points at it, e.g. ["input", "ids", "2"].',
    )
    all: bool = strawberry.field(default=False, description="Or all of yours.")


@strawberry.enum(description="Why a notification mutation failed.")
class NotificationErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="An id names none of your notifications.")
    REQUIRED = ev("REQUIRED", description="A required value is missing.")
    TOO_MANY = ev("TOO_MANY", description="Too many ids at once.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a notification mutation's input.")
class NotificationError(UserError):
    code: NotificationErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="How many of your notifications are still unread.")
class NotificationMarkReadPayload:
    unread_count: int | None = strawberry.field(description="Unread after the change.")
    user_errors: list[NotificationError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="Your preferences after the change.")
class NotificationPreferencesPayload:
    preferences: list[NotificationPreference] | None = strawberry.field(
        description="Every kind's channels."
    )
    user_errors: list[NotificationError] = strawberry.field(description="Empty on success.")


async def _preferences(info: Info) -> list[NotificationPreference]:
    me = info.context.viewer.require_user()
    async with info.context.reads.connect() as conn:
        found = await notifications.preferences(conn, me)
    return [
        NotificationPreference(
            kind=NotificationKind(kind), in_app=chosen.in_app, email=chosen.email,
            digest=chosen.digest, is_default=default,
        )
        for kind, (chosen, default) in found.items()
    ]  # fmt: skip


@strawberry.type
class NotificationQuery:
    @relay.connection(
        NotificationConnection, description="Your notifications, newest first.", max_results=1000
    )
    def notifications(
        self,
        info: Info,
        unread_only: Annotated[
            bool, strawberry.argument(description="Only those not read yet.")
        ] = False,
        kinds: Annotated[
            list[NotificationKind] | None,
            strawberry.argument(description="Only these kinds (default: every kind)."),
        ] = None,
    ) -> Iterable[Notification]:
        me = info.context.viewer.user_id or -1
        query = select(NotificationModel.__table__).where(
            NotificationModel.user_id == me, NotificationModel.in_app.is_(True)
        )
        if unread_only:
            query = query.where(NotificationModel.read_at.is_(None))
        if kinds is not None:
            query = query.where(NotificationModel.kind.in_({k.value for k in kinds}))
        sort = [SortKey(NotificationModel.id, descending=True)]
        return KeysetQuery(query, sort, Notification.from_row, info.context.reads)

    @strawberry.field(description="How many of your notifications are unread.")
    async def notification_unread_count(self, info: Info) -> int:
        me = info.context.viewer.user_id
        if me is None:
            return 0
        async with info.context.reads.connect() as conn:
            found = await conn.execute(select(func.count()).where(notifications.unread_of(me)))
            return int(found.scalar_one())

    @strawberry.field(description="Your channels for every kind of notification.")
    async def notification_preferences(self, info: Info) -> list[NotificationPreference]:
        if info.context.viewer.user_id is None:
            return []
        return await _preferences(info)


@strawberry.type
class NotificationMutation:
    @strawberry.mutation(description="Mark some of your notifications read, or all of them.")
    async def notification_mark_read(
        self, info: Info, input: Annotated[NotificationMarkReadInput, arg("Which.")]
    ) -> NotificationMarkReadPayload:
        viewer = info.context.viewer
        ids = None if input.ids is None else [global_pk(i, "Notification") or -1 for i in input.ids]
        found, problems = await run_in_transaction(
            info, lambda uow: notifications.mark_read(uow, viewer, ids, everything=input.all)
        )
        return NotificationMarkReadPayload(
            unread_count=found,
            user_errors=user_errors(NotificationError, NotificationErrorCode, problems),
        )

    @strawberry.mutation(
        description="Choose how you are told about some kinds of notification (in the app, "
        "by e-mail, in the daily digest)."
    )
    async def notification_preferences_update(
        self,
        info: Info,
        input: Annotated[NotificationPreferencesUpdateInput, arg("Your choices.")],
    ) -> NotificationPreferencesPayload:
        viewer = info.context.viewer
        choices = [
            (str(p.kind.value), notifications.Channels(p.in_app, p.email, p.digest))
            for p in input.preferences
        ]
        _, problems = await run_in_transaction(
            info, lambda uow: notifications.set_preferences(uow, viewer, choices)
        )
        return NotificationPreferencesPayload(
            preferences=None if problems else await _preferences(info),
            user_errors=user_errors(NotificationError, NotificationErrorCode, problems),
        )


@strawberry.type
class NotificationSubscription:
    @strawberry.subscription(
        description="Each new in-app notification for you, as it happens. Ends at once for an "
        "anonymous connection."
    )
    async def notification_received(self, info: Info) -> AsyncGenerator[Notification, None]:
        me = info.context.viewer.user_id
        if me is None:
            return
        async with info.context.runtime.bus.subscription(notifications.channel(me)) as events:
            async for event in events:
                if not await info.context.still_signed_in():
                    return
                info.context.reset_loaders()
                [found] = await Notification.resolve_nodes(info=info, node_ids=[str(event["id"])])
                if found is not None:
                    yield found
