"""Admissions: follow-up tasks on inquiries and their reminders."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import and_, false, not_, select
from strawberry import relay

from alumnet.domain.admissions import tasks
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.persistence.models import Inquiry as InquiryModel
from alumnet.persistence.models import InquiryTask as TaskModel
from alumnet.schema.admissions.people import office_user
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import int_ids, optional_pk, readable_rows
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey, reads_loader
from alumnet.schema.permissions import requires

if TYPE_CHECKING:
    from alumnet.schema.identity.types import User

ev = strawberry.enum_value
TYPE = "InquiryTask"
IDENTITY = "alumnet.schema.identity.types"


def readable(viewer: Viewer) -> Any:
    """SQL: the tasks the viewer may see: all for holders of ``admissions``, else none."""
    return None if viewer.can(Permission.ADMISSIONS) else false()


async def _inquiry_names(reads: Any, ids: Sequence[int]) -> list[str | None]:
    async with reads.connect() as conn:
        rows = await conn.execute(
            select(InquiryModel.id, InquiryModel.name).where(InquiryModel.id.in_(list(ids)))
        )
        found = {int(i): str(n) for i, n in rows.all()}
    return [found.get(i) for i in ids]


@strawberry.type(
    description="A follow-up to do on an inquiry by a time (call back, send the brochure), "
    "assigned to someone who works on admissions; its assignee is reminded once, an hour "
    "before it falls due (or when it is overdue). Seen by holders of `admissions` only."
)
class InquiryTask(relay.Node):
    id: relay.NodeID[int]
    inquiry_id: relay.GlobalID = strawberry.field(description="The `Inquiry` it is about.")
    title: str = strawberry.field(description="What to do (at most 200 characters).")
    due_at: datetime = strawberry.field(description="When it is to be done by (UTC).")
    done_at: datetime | None = strawberry.field(
        description="When it was marked done (UTC); null while open."
    )
    reminded_at: datetime | None = strawberry.field(
        description="When its assignee was reminded of it (UTC); null until then, and again "
        "after its due time or assignee changes."
    )
    created_at: datetime = strawberry.field(description="When it was added (UTC).")
    assignee_id: relay.GlobalID | None = strawberry.field(
        description="The `User` it is assigned to; null if their account was deleted."
    )
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, inquiry_id=relay.GlobalID("Inquiry", str(row.inquiry_id)),
            title=row.title, due_at=row.due_at, done_at=row.done_at,
            reminded_at=row.reminded_at, created_at=row.created_at,
            assignee_id=(relay.GlobalID("User", str(row.assignee_id))
                         if row.assignee_id is not None else None),
            _row=row,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        where = readable(info.context.viewer)
        if where is not None:
            return [None for _ in ids]
        found = await readable_rows(info, TaskModel.__table__, ids)
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Whether it is open and its due time has passed.")
    def overdue(self) -> bool:
        return self._row.done_at is None and self._row.due_at < datetime.now(UTC)

    @strawberry.field(description="The inquirer's name.")
    async def inquiry_name(self, info: Info) -> str | None:
        loader = reads_loader(info, ("InquiryTask", "inquiries"), _inquiry_names)
        return await loader.load(self._row.inquiry_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="The user it is assigned to (a fellow member of the office); null if "
        "their account was deleted."
    )
    async def assignee(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await office_user(info, self._row.assignee_id)  # type: ignore[no-any-return]


@strawberry.type(description="Follow-up tasks, a page at a time.")
class InquiryTaskConnection(CountedConnection[InquiryTask]):
    pass


@strawberry.enum(description="Why a follow-up task mutation failed.")
class InquiryTaskErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such task or inquiry.")
    NOT_COUNSELLOR = ev(
        "NOT_COUNSELLOR",
        description="The assignee is not an active user who holds `admissions`.",
    )
    OUT_OF_RANGE = ev(
        "OUT_OF_RANGE", description="The due time is more than a day ago or two years ahead."
    )
    WRONG_STATUS = ev("WRONG_STATUS", description="The task is done: reopen it to change it.")
    TOO_LONG = ev("TOO_LONG", description="The title is longer than 200 characters.")
    REQUIRED = ev("REQUIRED", description="A required value is missing or blank.")
    CONFLICT = ev("CONFLICT", description="A concurrent change won; try again.")
    IDEMPOTENCY_CONFLICT = ev(
        "IDEMPOTENCY_CONFLICT",
        description="You made a different task with this idempotency key (another inquiry, "
        "title, due time or assignee).",
    )
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a follow-up task mutation's input.")
class InquiryTaskError(UserError):
    code: InquiryTaskErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.type(description="The task, or why there is none.")
class InquiryTaskPayload:
    inquiry_task: InquiryTask | None = strawberry.field(description="The task as it is now.")
    user_errors: list[InquiryTaskError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="What was deleted, or why nothing was.")
class InquiryTaskDeletePayload:
    deleted_id: relay.GlobalID | None = strawberry.field(
        description="The id the task had; null if nothing was deleted."
    )
    user_errors: list[InquiryTaskError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A new follow-up task.")
class InquiryTaskCreateInput:
    inquiry_id: relay.GlobalID = strawberry.field(description="The `Inquiry` it is about.")
    title: str = strawberry.field(description="What to do: 1 to 200 characters.")
    due_at: datetime = strawberry.field(
        description="When it is to be done by (UTC unless an offset is given): at most a day "
        "ago, at most two years ahead."
    )
    assignee_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="The `User` to do it: an active holder of `admissions`. By default the "
        "inquiry's counsellor, or else you.",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Your key (1 to 200 characters): sending again with it returns the task "
        "you first made with it and writes nothing; with different content (inquiry, "
        "title, due time, an assignee given): IDEMPOTENCY_CONFLICT. Keys are yours alone.",
    )


@strawberry.input(description="Changes to an open follow-up task; what is not given stays.")
class InquiryTaskUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The open task.")
    title: str | None = strawberry.field(default=None, description="A new title (1 to 200).")
    due_at: datetime | None = strawberry.field(
        default=None,
        description="A new due time (at most a day ago, two years ahead); its assignee is "
        "reminded of it again.",
    )
    assignee_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="A new assignee (an active holder of `admissions`), who is told at once "
        "and reminded again.",
    )


@strawberry.input(description="A follow-up task.")
class InquiryTaskIdInput:
    id: relay.GlobalID = strawberry.field(description="The task.")


@strawberry.input(description="Which follow-up tasks to list.")
class InquiryTaskFilter:
    inquiry_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only those about this `Inquiry`."
    )
    assignee_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only those assigned to this `User`."
    )
    open: bool | None = strawberry.field(
        default=None, description="true: only open tasks; false: only done ones."
    )
    overdue: bool | None = strawberry.field(
        default=None,
        description="true: only open tasks past their due time; false: all others.",
    )
    due_before: datetime | None = strawberry.field(
        default=None, description="Only those due before this moment (UTC)."
    )


def _due_first(query: Any, info: Info) -> KeysetQuery[InquiryTask]:
    sort = [SortKey(TaskModel.due_at), SortKey(TaskModel.id)]
    return KeysetQuery(query, sort, InquiryTask.from_row, info.context.reads)


def _open(value: bool) -> Any:
    return TaskModel.done_at.is_(None) if value else TaskModel.done_at.is_not(None)


def _payload(found: Any, problems: Any) -> InquiryTaskPayload:
    return InquiryTaskPayload(
        inquiry_task=InquiryTask.from_row(found) if found is not None else None,
        user_errors=user_errors(InquiryTaskError, InquiryTaskErrorCode, problems),
    )


@strawberry.type
class InquiryTaskQuery:
    @relay.connection(
        InquiryTaskConnection,
        description="Follow-up tasks on inquiries, those due first (`admissions`).",
        max_results=1000,
        extensions=requires(Permission.ADMISSIONS),
    )
    def inquiry_tasks(
        self,
        info: Info,
        filter: Annotated[
            InquiryTaskFilter | None, strawberry.argument(description="Which tasks.")
        ] = None,
    ) -> Iterable[InquiryTask]:
        query = select(TaskModel.__table__)
        if filter is not None:
            if filter.inquiry_id is not None:
                query = query.where(TaskModel.inquiry_id == optional_pk(filter.inquiry_id,
                                                                       "Inquiry"))  # fmt: skip
            if filter.assignee_id is not None:
                query = query.where(TaskModel.assignee_id == optional_pk(filter.assignee_id,
                                                                        "User"))  # fmt: skip
            if filter.open is not None:
                query = query.where(_open(filter.open))
            if filter.overdue is not None:
                late = and_(TaskModel.done_at.is_(None), TaskModel.due_at < datetime.now(UTC))
                query = query.where(late if filter.overdue else not_(late))
            if filter.due_before is not None:
                moment = filter.due_before
                moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
                query = query.where(TaskModel.due_at < moment)
        return _due_first(query, info)

    @relay.connection(
        InquiryTaskConnection,
        description="The follow-up tasks assigned to you, those due first (`admissions`).",
        max_results=1000,
        extensions=requires(Permission.ADMISSIONS),
    )
    def my_inquiry_tasks(
        self,
        info: Info,
        open: Annotated[
            bool | None,
            strawberry.argument(description="true: open ones; false: done ones; null: all."),
        ] = True,
    ) -> Iterable[InquiryTask]:
        me = info.context.viewer.user_id or -1
        query = select(TaskModel.__table__).where(TaskModel.assignee_id == me)
        if open is not None:
            query = query.where(_open(open))
        return _due_first(query, info)


@strawberry.type
class InquiryTaskMutation:
    @strawberry.mutation(
        extensions=requires(Permission.ADMISSIONS),
        description="Add a follow-up task to an inquiry (`admissions`): its assignee (by "
        "default the inquiry's counsellor, else you) is told if it is someone else, and "
        "reminded once an hour before it falls due (unless deactivated or no longer in "
        "admissions by then); the inquiry's timeline records it. An idempotency key "
        "makes sending again safe.",
    )
    async def inquiry_task_create(
        self, info: Info, input: Annotated[InquiryTaskCreateInput, arg("The task.")]
    ) -> InquiryTaskPayload:
        viewer = info.context.viewer
        fields = tasks.TaskFields(
            inquiry_id=optional_pk(input.inquiry_id, "Inquiry") or -1, title=input.title,
            due_at=input.due_at, assignee_id=optional_pk(input.assignee_id, "User"),
            idempotency_key=input.idempotency_key,
        )  # fmt: skip
        found, problems = await run_in_transaction(
            info, lambda uow: tasks.create(uow, viewer, fields)
        )
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(Permission.ADMISSIONS),
        description="Change an open follow-up task's title, due time or assignee "
        "(`admissions`). A new due time or assignee makes it due a reminder again.",
    )
    async def inquiry_task_update(
        self, info: Info, input: Annotated[InquiryTaskUpdateInput, arg("The changes.")]
    ) -> InquiryTaskPayload:
        viewer = info.context.viewer
        changes: dict[str, Any] = {}
        if input.title is not None:
            changes["title"] = input.title
        if input.due_at is not None:
            changes["due_at"] = input.due_at
        if input.assignee_id is not None:
            changes["assignee_id"] = optional_pk(input.assignee_id, "User")

        async def change(uow: Any) -> Any:
            return await tasks.update_task(uow, viewer, pk_of(input.id, TYPE, "id"), **changes)

        found, problems = await run_in_transaction(info, change)
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(Permission.ADMISSIONS),
        description="Mark a follow-up task done (`admissions`); the inquiry's timeline records "
        "it. A task already done is returned as it is.",
    )
    async def inquiry_task_complete(
        self, info: Info, input: Annotated[InquiryTaskIdInput, arg("The task.")]
    ) -> InquiryTaskPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info, lambda uow: tasks.complete(uow, viewer, pk_of(input.id, TYPE, "id"), True)
        )
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(Permission.ADMISSIONS),
        description="Open a done follow-up task again (`admissions`); the inquiry's timeline "
        "records it. An open task is returned as it is.",
    )
    async def inquiry_task_reopen(
        self, info: Info, input: Annotated[InquiryTaskIdInput, arg("The task.")]
    ) -> InquiryTaskPayload:
        viewer = info.context.viewer
        found, problems = await run_in_transaction(
            info, lambda uow: tasks.complete(uow, viewer, pk_of(input.id, TYPE, "id"), False)
        )
        return _payload(found, problems)

    @strawberry.mutation(
        extensions=requires(Permission.ADMISSIONS),
        description="Delete a follow-up task (`admissions`).",
    )
    async def inquiry_task_delete(
        self, info: Info, input: Annotated[InquiryTaskIdInput, arg("The task.")]
    ) -> InquiryTaskDeletePayload:
        viewer = info.context.viewer
        gone, problems = await run_in_transaction(
            info, lambda uow: tasks.delete(uow, viewer, pk_of(input.id, TYPE, "id"))
        )
        return InquiryTaskDeletePayload(
            deleted_id=relay.GlobalID(TYPE, str(gone)) if gone is not None else None,
            user_errors=user_errors(InquiryTaskError, InquiryTaskErrorCode, problems),
        )


# The node types this module adds to the schema (schema/__init__.py NODE_TYPES).
TYPES: list[type] = [InquiryTask]
