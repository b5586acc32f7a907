"""Follow-up tasks on inquiries: something a counsellor is to do by a time (call back, send
the brochure), assigned to a holder of ``admissions``, done or reopened, and reminded once
when it falls due.

Every holder of ``admissions`` (counsellors, managers, admins) sees and changes every task:
the admissions office works as one team, and a task is handed over by reassigning it. A
task added or done writes a ``task`` entry on its inquiry's timeline.

Reminders (``remind``, the job ``REMINDERS_JOB`` every 15 minutes): each open task due
within the next hour, or overdue, and not reminded yet, notifies its assignee once (kind
``admissions``) and records ``reminded_at``. Moving a task's due time or its assignee makes
it due a reminder again. A task whose assignee was deactivated or no longer holds
``admissions`` is skipped (no reminder; it waits to be reassigned, or for them to be back).

Creating with an idempotency key: the same creator and key return the first task (same
content) or IDEMPOTENCY_CONFLICT, and nothing is written; the unique (creator, key) makes
it safe when two requests race.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import select, update

from alumnet.domain.admissions.inquiries import counsellors, is_counsellor
from alumnet.domain.admissions.timeline import add_activity
from alumnet.domain.communication.notifications import Item, notify_each
from alumnet.domain.errors import DomainError, Problems, check_label, check_moment
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.runtime import Runtime
from alumnet.persistence.db import inserted_id
from alumnet.persistence.models import Inquiry, InquiryTask
from alumnet.persistence.uow import UnitOfWork

REMINDERS_JOB = "admissions.task_reminders"
KIND = "admissions"
TITLE_MAX = 200
KEY_MAX = 200
# A due time may lie at most this far in the past (a task noted after the fact) or ahead.
PAST_MAX = timedelta(days=1)
AHEAD_MAX = relativedelta(years=2)
# A task is reminded this long before it falls due (or as soon as the job runs, if later).
REMIND_BEFORE = timedelta(hours=1)
# Tasks reminded per transaction.
BATCH = 500
# Changes of an update that are not given: leave as they are.
UNCHANGED: Any = object()


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TaskFields:
    """A new task. Ids are primary keys (-1: an id that names nothing); ``assignee_id``
    None: the inquiry's counsellor, else the one who adds it; ``idempotency_key``: the
    creator's key, which returns the first task made with it."""

    inquiry_id: int
    title: str
    due_at: datetime
    assignee_id: int | None = None
    idempotency_key: str | None = None


def _check_due(problems: Problems, given: datetime, at: datetime) -> datetime | None:
    due = check_moment(problems, given, field="dueAt", label="The due time")
    if due is None:
        return None
    if due < at - PAST_MAX:
        problems.add("OUT_OF_RANGE", "A task is due at most a day ago.", "dueAt")
    elif due > at + AHEAD_MAX:
        problems.add("OUT_OF_RANGE", "A task is due within two years.", "dueAt")
    return due


async def _check_assignee(uow: UnitOfWork, problems: Problems, user_id: int) -> None:
    if not await is_counsellor(uow, user_id):
        problems.add("NOT_COUNSELLOR", "Assign the task to someone who works on admissions.",
                     "assigneeId")  # fmt: skip


async def _task(uow: UnitOfWork, task_id: int, *, lock: bool = False) -> InquiryTask:
    query = select(InquiryTask).where(InquiryTask.id == task_id)
    if lock:
        query = query.with_for_update()
    found = (await uow.session.execute(query)).scalar_one_or_none()
    if found is None:
        raise DomainError.of("NOT_FOUND", "No such task.", "id")
    return found


async def _inquiry(uow: UnitOfWork, inquiry_id: int) -> Inquiry:
    inquiry = await uow.session.get(Inquiry, inquiry_id) if inquiry_id > 0 else None
    if inquiry is None:
        raise DomainError.of("NOT_FOUND", "No such inquiry.", "inquiryId")
    return inquiry


def _details(task: InquiryTask) -> dict[str, Any]:
    return {
        "inquiry": task.inquiry_id, "title": task.title, "due_at": task.due_at.isoformat(),
        "assignee": task.assignee_id, "done": task.done_at is not None,
    }  # fmt: skip


async def _tell_assignee(uow: UnitOfWork, viewer: Viewer, task: InquiryTask, name: str) -> None:
    """A task given to someone else: they are told at once."""
    if task.assignee_id is None or task.assignee_id == viewer.user_id:
        return
    who = viewer.name or "A colleague"
    await notify_each(uow, KIND, [
        Item(task.assignee_id, f"A follow-up for you: {task.title}",
             f"{who} gave you a follow-up on {name}'s inquiry, due "
             f"{task.due_at.strftime('%Y-%m-%d %H:%M')} UTC.", "InquiryTask", task.id)
    ])  # fmt: skip


async def _by_key(uow: UnitOfWork, creator: int, key: str) -> InquiryTask | None:
    found = await uow.session.execute(
        select(InquiryTask).where(InquiryTask.created_by_id == creator,
                                  InquiryTask.idempotency_key == key)
    )  # fmt: skip
    return found.scalar_one_or_none()


def _same_or_conflict(
    earlier: InquiryTask | None, given: TaskFields, title: str, due: datetime
) -> InquiryTask:
    """The task the key made before, if it was made with the same content (an assignee
    not given matches whoever it went to)."""
    if earlier is None:
        raise DomainError.of("CONFLICT", "A concurrent change won; try again.", "idempotencyKey")
    was = earlier.due_at if earlier.due_at.tzinfo else earlier.due_at.replace(tzinfo=UTC)
    same = (
        earlier.inquiry_id == given.inquiry_id
        and earlier.title == title
        and was == due
        and given.assignee_id in (None, earlier.assignee_id)
    )
    if not same:
        raise DomainError.of("IDEMPOTENCY_CONFLICT", "That idempotency key made a different "
                             "task.", "idempotencyKey")  # fmt: skip
    return earlier


async def create(uow: UnitOfWork, viewer: Viewer, given: TaskFields) -> InquiryTask:
    """Add a follow-up task to an inquiry (``admissions``); with an idempotency key, the
    task the same creator made with it before (same content, else
    IDEMPOTENCY_CONFLICT), nothing written."""
    me = viewer.require(Permission.ADMISSIONS)
    at = now()
    problems = Problems()
    title = check_label(problems, given.title, field="title", max_length=TITLE_MAX,
                        label="A task's title", min_length=1)  # fmt: skip
    due = _check_due(problems, given.due_at, at)
    inquiry = await uow.session.get(Inquiry, given.inquiry_id) if given.inquiry_id > 0 else None
    if inquiry is None:
        problems.add("NOT_FOUND", "No such inquiry.", "inquiryId")
    assignee = given.assignee_id
    if assignee is not None:
        await _check_assignee(uow, problems, assignee)
    key = given.idempotency_key
    if key is not None and not 0 < len(key) <= KEY_MAX:
        problems.add("INVALID", f"An idempotency key has 1 to {KEY_MAX} characters.",
                     "idempotencyKey")  # fmt: skip
    problems.raise_if_any()
    assert inquiry is not None
    assert due is not None
    if key is not None:
        earlier = await _by_key(uow, me, key)
        if earlier is not None:
            return _same_or_conflict(earlier, given, title, due)
    if assignee is None:
        counsellor = inquiry.counsellor_id
        assignee = counsellor if counsellor and await is_counsellor(uow, counsellor) else me
    values = {"inquiry_id": inquiry.id, "assignee_id": assignee, "title": title, "due_at": due,
              "created_by_id": me, "created_at": at, "idempotency_key": key}  # fmt: skip
    if key is None:
        task = InquiryTask(**values)
        uow.session.add(task)
        await uow.session.flush()
    else:
        made = await inserted_id(uow.session, InquiryTask, values,
                                 ["created_by_id", "idempotency_key"])  # fmt: skip
        if made is None:  # another request with the key made it meanwhile
            return _same_or_conflict(await _by_key(uow, me, key), given, title, due)
        found = await uow.session.get(InquiryTask, made)
        assert found is not None
        task = found
    await add_activity(uow, inquiry, "task", f"Task added: {title} (due "
                       f"{due.strftime('%Y-%m-%d %H:%M')} UTC)", actor_id=me)  # fmt: skip
    await _tell_assignee(uow, viewer, task, inquiry.name)
    audit.record(uow, "inquiry_task.create", object_type="InquiryTask", object_ids=[task.id],
                 details=_details(task))  # fmt: skip
    return task


async def update_task(
    uow: UnitOfWork,
    viewer: Viewer,
    task_id: int,
    *,
    title: Any = UNCHANGED,
    due_at: Any = UNCHANGED,
    assignee_id: Any = UNCHANGED,
) -> InquiryTask:
    """Change an open task's title, due time or assignee (``admissions``); what is not
    given stays. A new due time or assignee makes it due a reminder again."""
    viewer.require(Permission.ADMISSIONS)
    task = await _task(uow, task_id, lock=True)
    if task.done_at is not None:
        raise DomainError.of("WRONG_STATUS", "This task is done: reopen it to change it.", "id")
    problems = Problems()
    new_title = new_due = None
    if title is not UNCHANGED:
        new_title = check_label(problems, title or "", field="title", max_length=TITLE_MAX,
                                label="A task's title", min_length=1)  # fmt: skip
    if due_at is not UNCHANGED:
        if due_at is None:
            problems.add("REQUIRED", "A task has a due time.", "dueAt")
        else:
            new_due = _check_due(problems, due_at, now())
    if assignee_id is not UNCHANGED:
        if assignee_id is None:
            problems.add("REQUIRED", "A task has an assignee.", "assigneeId")
        else:
            await _check_assignee(uow, problems, int(assignee_id))
    problems.raise_if_any()
    before = _details(task)
    if new_title is not None:
        task.title = new_title
    if new_due is not None and new_due != task.due_at:
        task.due_at, task.reminded_at = new_due, None
    handed_over = assignee_id is not UNCHANGED and assignee_id != task.assignee_id
    if handed_over:
        task.assignee_id, task.reminded_at = int(assignee_id), None
    await uow.session.flush()
    if handed_over:
        inquiry = await uow.session.get(Inquiry, task.inquiry_id)
        await _tell_assignee(uow, viewer, task, inquiry.name if inquiry else "an")
    audit.record(uow, "inquiry_task.update", object_type="InquiryTask", object_ids=[task.id],
                 details={"before": before, "after": _details(task)})  # fmt: skip
    return task


async def complete(uow: UnitOfWork, viewer: Viewer, task_id: int, done: bool = True) -> InquiryTask:
    """Mark a task done (``done``) or open again (``admissions``). Doing it again changes
    nothing: a task already done stays done as it was (and so for reopening)."""
    me = viewer.require(Permission.ADMISSIONS)
    task = await _task(uow, task_id, lock=True)
    if (task.done_at is not None) == done:
        return task
    task.done_at = now() if done else None
    inquiry = await _inquiry(uow, task.inquiry_id)
    summary = f"Task done: {task.title}" if done else f"Task reopened: {task.title}"
    await add_activity(uow, inquiry, "task", summary, actor_id=me)
    action = "inquiry_task.complete" if done else "inquiry_task.reopen"
    audit.record(uow, action, object_type="InquiryTask", object_ids=[task.id],
                 details=_details(task))  # fmt: skip
    return task


async def delete(uow: UnitOfWork, viewer: Viewer, task_id: int) -> int:
    """Delete a task (``admissions``); its id."""
    viewer.require(Permission.ADMISSIONS)
    task = await _task(uow, task_id, lock=True)
    details = _details(task)
    await uow.session.delete(task)
    await uow.session.flush()
    audit.record(uow, "inquiry_task.delete", object_type="InquiryTask", object_ids=[task_id],
                 details=details)  # fmt: skip
    return task_id


async def remind(rt: Runtime, at: datetime | None = None) -> dict[str, int]:
    """The job every 15 minutes: each open task due within the next hour (from ``at``, now
    by default) or overdue, and not reminded yet, notifies its assignee once;
    ``BATCH`` tasks per transaction. Running it again sends nothing more. Tasks whose
    assignee is deactivated, deleted or no longer holds ``admissions`` are skipped (and
    stay unreminded)."""
    moment = at or now()
    reminded = tasks = 0
    after = 0
    while True:
        async with rt.transaction() as uow:
            staff = await counsellors(uow)
            found = (
                await uow.session.execute(
                    select(InquiryTask.id, InquiryTask.assignee_id, InquiryTask.title,
                           InquiryTask.due_at, Inquiry.name)
                    .join(Inquiry, Inquiry.id == InquiryTask.inquiry_id)
                    .where(InquiryTask.done_at.is_(None), InquiryTask.reminded_at.is_(None),
                           InquiryTask.due_at <= moment + REMIND_BEFORE,
                           InquiryTask.assignee_id.in_(staff), InquiryTask.id > after)
                    .order_by(InquiryTask.id)
                    .limit(BATCH)
                    .with_for_update(of=InquiryTask, skip_locked=True)
                )
            ).all()  # fmt: skip
            if found:
                await uow.session.execute(
                    update(InquiryTask)
                    .where(InquiryTask.id.in_([r.id for r in found]),
                           InquiryTask.reminded_at.is_(None))
                    .values(reminded_at=moment)
                )  # fmt: skip
                items = [
                    Item(int(r.assignee_id),
                         f"{'Overdue' if r.due_at < moment else 'Due soon'}: {r.title}",
                         f"Follow-up on {r.name}'s inquiry, due "
                         f"{r.due_at.strftime('%Y-%m-%d %H:%M')} UTC.", "InquiryTask", int(r.id))
                    for r in found
                ]  # fmt: skip
                reminded += await notify_each(uow, KIND, items)
                tasks += len(found)
        if len(found) < BATCH:
            return {"tasks": tasks, "reminded": reminded}
        after = int(found[-1].id)
