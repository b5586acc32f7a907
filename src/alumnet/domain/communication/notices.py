"""Notices and guidelines to the students of a batch or a mission, acknowledged by them.

The audience is the students actively enrolled (not banned, not delisted) in the mission,
or in any mission of the batch; a student who loses access loses the notices with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from markdown_it import MarkdownIt
from sqlalchemy import ColumnElement, and_, delete, exists, or_, select, union

from alumnet.domain.cohorts import access
from alumnet.domain.cohorts.access import taking_part
from alumnet.domain.communication.notifications import Event, notify
from alumnet.domain.engagement.common import mentors_mission
from alumnet.domain.errors import DomainError, Problems, check_moment, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Reach, Viewer
from alumnet.persistence.db import insert_or_ignore
from alumnet.persistence.mentoring import mentored_missions
from alumnet.persistence.models import (
    Batch,
    Enrollment,
    Mission,
    Notice,
    NoticeAck,
)
from alumnet.persistence.uow import UnitOfWork

PRIORITIES = ("low", "normal", "high", "urgent")
KINDS = ("notice", "guideline")
REACTIONS = ("thumbs_up", "thanks", "question", "done")
TITLE_MAX = 200
BODY_MAX = 20_000
# Raw HTML in the Markdown is escaped, and markdown-it refuses javascript:, vbscript:,
# file: and data: links; nothing a reader's browser would run survives rendering.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def render(markdown: str) -> str:
    return str(_MARKDOWN.render(markdown))


@dataclass(frozen=True)
class Posting:
    title: str
    markdown: str
    html: str


def check_posting(problems: Problems, *, title: str, body: str, priority: str) -> Posting:
    """The title, the Markdown body (and its safe HTML) and the priority of a notice or an
    announcement, with what is wrong with them added to ``problems``."""
    text = check_text(
        problems, title, field="title", max_length=TITLE_MAX, min_length=1, label="The title"
    )
    markdown = check_text(
        problems, body, field="body", max_length=BODY_MAX, min_length=1, label="The body"
    )
    if priority not in PRIORITIES:
        problems.add("INVALID", "Unknown priority.", "priority")
    return Posting(title=text or "", markdown=markdown or "", html=render(markdown or ""))


def _preview(markdown: str) -> str:
    text = " ".join(markdown.split())
    return text if len(text) <= 280 else text[:279] + "…"


def notice_channel(notice_id: int) -> str:
    return f"notice:{notice_id}:acks"


def audience(mission_id: int | None, batch_id: int | None) -> ColumnElement[bool]:
    """Enrolments whose students receive a notice: taking part, in its mission or batch."""
    if mission_id is not None:
        where = Enrollment.mission_id == mission_id
    else:
        where = Enrollment.mission_id.in_(select(Mission.id).where(Mission.batch_id == batch_id))
    return and_(where, taking_part())


def audience_students(notice: Notice) -> Any:
    """The distinct student ids of a notice's audience, as a subquery."""
    return select(Enrollment.student_id).where(audience(notice.mission_id, notice.batch_id))


def audiences() -> Any:
    """Every notice's audience as distinct (notice_id, student_id) pairs, a subquery to be
    filtered by notice: the pages and counts of many notices in one statement each."""
    mission = (
        select(Notice.id.label("notice_id"), Enrollment.student_id)
        .join(Enrollment, Enrollment.mission_id == Notice.mission_id)
        .where(taking_part())
    )
    batch = (
        select(Notice.id.label("notice_id"), Enrollment.student_id)
        .join(Mission, Mission.batch_id == Notice.batch_id)
        .join(Enrollment, Enrollment.mission_id == Mission.id)
        .where(taking_part())
    )
    return union(mission, batch).subquery("audience")


def readable(viewer: Viewer) -> ColumnElement[bool] | None:
    """Notices the viewer may read (None: all). Staff who read cohorts see all; a mentor
    those of the missions (and their batches) they mentor in; a student those addressed
    to them while they are actively enrolled."""
    if viewer.can(Permission.COHORTS_READ):
        return None
    me = viewer.user_id if viewer.user_id is not None else -1
    mentored = mentored_missions(me)
    active = select(Enrollment.mission_id).where(Enrollment.student_id == me, taking_part())
    coordinated = access.coordinated_mission_ids(viewer)
    addressed = or_(
        Notice.mission_id.in_(mentored),
        Notice.batch_id.in_(select(Mission.batch_id).where(Mission.id.in_(mentored))),
        Notice.mission_id.in_(active),
        Notice.batch_id.in_(select(Mission.batch_id).where(Mission.id.in_(active))),
        *(
            [
                Notice.mission_id.in_(coordinated),
                Notice.batch_id.in_(select(Mission.batch_id).where(Mission.id.in_(coordinated))),
                Notice.batch_id.in_(sorted(access.coordinated(viewer)[0])),
            ]
            if coordinated is not None
            else []
        ),
    )
    # A withdrawn notice is gone for its audience; its author keeps it, for the record.
    return or_(and_(addressed, Notice.withdrawn_at.is_(None)), Notice.author_id == me)


async def post(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    mission_id: int | None,
    batch_id: int | None,
    title: str,
    body: str,
    priority: str,
    kind: str,
    ack_deadline: datetime | None,
) -> Notice:
    me = viewer.require_user()
    problems = Problems()
    if (mission_id is None) == (batch_id is None):
        raise DomainError.of("INVALID", "Post to a mission or to a batch.", "missionId")
    if mission_id is not None:
        if await uow.session.get(Mission, mission_id) is None:
            raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
        if not await access.can_in_mission(
            uow.session, viewer, Permission.NOTICES_POST, mission_id
        ) and not await mentors_mission(uow, viewer, mission_id):
            raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
    else:
        viewer.require_somewhere(Permission.NOTICES_POST)
        if await uow.session.get(Batch, batch_id) is None:
            raise DomainError.of("NOT_FOUND", "No such batch.", "batchId")
        viewer.require(Permission.NOTICES_POST, within=Reach(batch_id=batch_id))
    posting = check_posting(problems, title=title, body=body, priority=priority)
    if kind not in KINDS:
        problems.add("INVALID", "Unknown kind.", "kind")
    now = datetime.now(UTC)
    deadline = check_moment(problems, ack_deadline, field="ackDeadline", label="The deadline")
    if deadline is not None and deadline <= now:
        problems.add("DATE_IN_PAST", "The acknowledgement deadline has passed.", "ackDeadline")
    problems.raise_if_any()
    notice = Notice(
        mission_id=mission_id, batch_id=batch_id, kind=kind, title=posting.title,
        body_markdown=posting.markdown, body_html=posting.html, priority=priority,
        ack_deadline=deadline, author_id=me, created_at=now,
    )  # fmt: skip
    uow.session.add(notice)
    await uow.session.flush()
    notified = await notify(
        uow, audience_students(notice),
        Event(kind="notice", title=notice.title, body=_preview(notice.body_markdown),
              subject_type="Notice", subject_id=notice.id, email_text=notice.body_markdown,
              email_html=notice.body_html),
    )  # fmt: skip
    audit.record(
        uow,
        "notice.post",
        object_type="Notice",
        object_ids=[notice.id],
        details={"mission": mission_id, "batch": batch_id, "notified": notified},
    )
    return notice


async def acknowledge(
    uow: UnitOfWork, viewer: Viewer, notice_id: int, *, reaction: str | None
) -> tuple[Notice, bool]:
    """A student of the audience acknowledges (and may react); idempotent, and a later
    call may change the reaction."""
    me = viewer.require_user()
    notice = await uow.session.get(Notice, notice_id)
    in_audience = False
    if notice is not None:
        found = await uow.session.execute(
            select(
                exists().where(
                    Enrollment.student_id == me,
                    audience(notice.mission_id, notice.batch_id),
                )
            )
        )
        in_audience = bool(found.scalar())
    if notice is None or not in_audience or notice.withdrawn_at is not None:
        raise DomainError.of("NOT_FOUND", "No such notice.", "noticeId")
    if reaction is not None and reaction not in REACTIONS:
        raise DomainError.of("INVALID", "Unknown reaction.", "reaction")
    now = datetime.now(UTC)
    added = await insert_or_ignore(
        uow.session, NoticeAck,
        {"notice_id": notice_id, "user_id": me, "reaction": reaction, "acknowledged_at": now},
        ["notice_id", "user_id"],
    )  # fmt: skip
    if not added and reaction is not None:
        ack = (
            await uow.session.execute(
                select(NoticeAck).where(NoticeAck.notice_id == notice_id, NoticeAck.user_id == me)
            )
        ).scalar_one()
        ack.reaction = reaction
    if added:
        uow.publish(
            notice_channel(notice_id), {"noticeId": notice_id, "userId": me, "at": now.isoformat()}
        )
    return notice, added


async def _posts_there(uow: UnitOfWork, viewer: Viewer, notice: Notice) -> bool:
    """Whether the viewer posts notices where this one was posted (everywhere, or within
    its batch or mission)."""
    if notice.mission_id is not None:
        return await access.can_in_mission(
            uow.session, viewer, Permission.NOTICES_POST, notice.mission_id
        )
    return viewer.can(Permission.NOTICES_POST, within=Reach(batch_id=notice.batch_id))


async def remind(uow: UnitOfWork, viewer: Viewer, notice_id: int) -> int:
    """Remind every student of the audience who has not acknowledged (in the app and by
    e-mail, as each prefers): a few statements whatever their number, and the e-mails go
    out through the e-mail job after commit."""
    viewer.require_user()
    notice = await uow.session.get(Notice, notice_id)
    if notice is None:
        raise DomainError.of("NOT_FOUND", "No such notice.", "noticeId")
    may = await _posts_there(uow, viewer, notice) or (
        notice.mission_id is not None and notice.author_id == viewer.user_id
    )
    if not may:
        raise DomainError.of("NOT_FOUND", "No such notice.", "noticeId")
    if notice.withdrawn_at is not None:
        raise DomainError.of("WITHDRAWN", "This notice was withdrawn.", "noticeId")
    pending = select(Enrollment.student_id).where(
        audience(notice.mission_id, notice.batch_id),
        Enrollment.student_id.not_in(
            select(NoticeAck.user_id).where(NoticeAck.notice_id == notice_id)
        ),
    )
    sent = await notify(
        uow, pending,
        Event(kind="notice_reminder", title=f"Reminder: {notice.title}",
              body="Please read and acknowledge this notice.", subject_type="Notice",
              subject_id=notice.id,
              email_text=f"Please read and acknowledge this notice.\n\n{notice.body_markdown}",
              email_html=f"<p>Please read and acknowledge this notice.</p>\n{notice.body_html}"),
    )  # fmt: skip
    audit.record(
        uow,
        "notice.remind",
        object_type="Notice",
        object_ids=[notice_id],
        details={"reminded": sent},
    )
    return sent


async def _editable(uow: UnitOfWork, viewer: Viewer, notice_id: int) -> Notice:
    """A notice its author, or staff who post notices, may correct or withdraw."""
    viewer.require_user()
    notice = await uow.session.get(Notice, notice_id, with_for_update=True)
    if notice is None or not (
        notice.author_id == viewer.user_id or await _posts_there(uow, viewer, notice)
    ):
        raise DomainError.of("NOT_FOUND", "No such notice.", "id")
    if notice.withdrawn_at is not None:
        raise DomainError.of("WITHDRAWN", "This notice was withdrawn.", "id")
    return notice


async def update(
    uow: UnitOfWork,
    viewer: Viewer,
    notice_id: int,
    *,
    title: str | None,
    body: str | None,
    priority: str | None,
    ack_deadline: datetime | None,
    significant: bool,
) -> Notice:
    """Correct a notice (its author, or staff who post notices): its audience sees it marked
    edited. Acknowledgements stay, unless the change is ``significant``: then everyone is
    asked again (their acknowledgements go) and told."""
    notice = await _editable(uow, viewer, notice_id)
    problems = Problems()
    posting = check_posting(
        problems, title=notice.title if title is None else title,
        body=notice.body_markdown if body is None else body,
        priority=notice.priority if priority is None else priority,
    )  # fmt: skip
    deadline = check_moment(problems, ack_deadline, field="ackDeadline", label="The deadline")
    if deadline is not None and deadline <= datetime.now(UTC):
        problems.add("DATE_IN_PAST", "The acknowledgement deadline has passed.", "ackDeadline")
    problems.raise_if_any()
    before = (notice.title, notice.body_markdown, notice.priority, notice.ack_deadline)
    notice.title, notice.body_markdown, notice.body_html = (
        posting.title,
        posting.markdown,
        posting.html,
    )
    if priority is not None:
        notice.priority = priority
    if deadline is not None:
        notice.ack_deadline = deadline
    after = (notice.title, notice.body_markdown, notice.priority, notice.ack_deadline)
    if after == before:
        return notice
    notice.edited_at = datetime.now(UTC)
    asked_again = 0
    if significant:
        await uow.session.execute(delete(NoticeAck).where(NoticeAck.notice_id == notice.id))
        asked_again = await notify(
            uow, audience_students(notice),
            Event(kind="notice", title=f"Updated: {notice.title}",
                  body=_preview(notice.body_markdown), subject_type="Notice",
                  subject_id=notice.id, email_text=notice.body_markdown,
                  email_html=notice.body_html),
        )  # fmt: skip
    audit.record(
        uow, "notice.update", object_type="Notice", object_ids=[notice.id],
        details={"significant": significant, "notified": asked_again},
    )  # fmt: skip
    await uow.session.flush()
    return notice


async def withdraw(uow: UnitOfWork, viewer: Viewer, notice_id: int) -> Notice:
    """Withdraw a notice (its author, or staff who post notices): hidden from its audience,
    kept (with its acknowledgements) for the record."""
    notice = await _editable(uow, viewer, notice_id)
    notice.withdrawn_at = datetime.now(UTC)
    audit.record(uow, "notice.withdraw", object_type="Notice", object_ids=[notice.id])
    await uow.session.flush()
    return notice
