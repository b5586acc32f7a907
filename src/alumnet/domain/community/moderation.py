"""Moderation: anyone who may read a post or a comment reports it; holders of
`community:moderate` work through the queue of reported items and hide, restore, warn
(the author) or dismiss; every decision closes the item's open reports with it.

A queue item is a post or a comment with reports, named by one key: a post's id times
two, a comment's id times two plus one, so that posts and comments share one sort order.
Moderators hear of an item once, when its first open report arrives (not once per report):
later reports of the same item add to the queue item they already know of. Only those who
hold `community:moderate` everywhere hear of it (they alone see the queue). A person files
at most ``REPORTS_PER_DAY`` reports in any 24 hours (TOO_MANY), so that one account cannot
flood the queue. Warning an author again for an item they were already warned about
returns the first warning and tells nobody (safe to retry).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, or_, select, update

from alumnet.domain.communication.notifications import Event, notify
from alumnet.domain.community import posts
from alumnet.domain.errors import DomainError, Problems, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.domain.identity.users import holders_of
from alumnet.persistence.models import (
    Comment,
    ContentReport,
    Post,
)
from alumnet.persistence.models.community import CommunityWarning
from alumnet.persistence.uow import UnitOfWork

REASONS = ("spam", "harassment", "inappropriate", "other")
ACTIONS = ("hide", "restore", "warn", "dismiss")
OPEN = "open"
RESOLVED = "resolved"
NOTE_MAX = 1000
EXCERPT = 200
REPORTS_PER_DAY = 50


@dataclass(frozen=True)
class Target:
    """What a report or a decision is about: a post or a comment (exactly one)."""

    post_id: int | None = None
    comment_id: int | None = None

    @property
    def key(self) -> int:
        """The queue item's key (see the module's docstring)."""
        if self.post_id is not None:
            return self.post_id * 2
        assert self.comment_id is not None
        return self.comment_id * 2 + 1

    @property
    def kind(self) -> str:
        return "Post" if self.post_id is not None else "Comment"

    @property
    def id(self) -> int:
        return self.post_id if self.post_id is not None else self.comment_id  # type: ignore[return-value]

    def of_reports(self) -> ColumnElement[bool]:
        if self.post_id is not None:
            return ContentReport.post_id == self.post_id
        return ContentReport.comment_id == self.comment_id


def target_of_key(key: int) -> Target:
    return Target(post_id=key // 2) if key % 2 == 0 else Target(comment_id=key // 2)


def is_moderator(viewer: Viewer) -> bool:
    return viewer.can(Permission.COMMUNITY_MODERATE)


def _target(problems: Problems, post_id: int | None, comment_id: int | None) -> Target | None:
    if (post_id is None) == (comment_id is None):
        problems.add("REQUIRED", "Name either a post or a comment.", "postId")
        return None
    return Target(post_id=post_id, comment_id=comment_id)


def _note(problems: Problems, note: str | None) -> str | None:
    cleaned = check_text(problems, note, field="note", max_length=NOTE_MAX, label="The note")
    return cleaned or None


def _excerpt(markdown: str) -> str:
    text = " ".join(markdown.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


async def _readable(uow: UnitOfWork, viewer: Viewer, target: Target) -> Any:
    """The post or comment if the viewer may read it, else None."""
    if target.post_id is not None:
        query: Any = select(Post).where(Post.id == target.post_id, posts.readable(viewer))
    else:
        query = select(Comment).where(
            Comment.id == target.comment_id, posts.comment_readable(viewer)
        )
    return (await uow.session.execute(query)).scalar_one_or_none()


async def report(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    post_id: int | None,
    comment_id: int | None,
    reason: str,
    note: str | None,
) -> ContentReport:
    """Report a post or a comment the viewer may read. Reporting it again while the first
    report is open returns the first. Moderators are notified of the item's first open
    report only. At most ``REPORTS_PER_DAY`` new reports a person in 24 hours."""
    me = viewer.require_user()
    problems = Problems()
    target = _target(problems, post_id, comment_id)
    if reason not in REASONS:
        problems.add("INVALID", "Unknown reason.", "reason")
    cleaned = _note(problems, note)
    problems.raise_if_any()
    assert target is not None
    item = await _readable(uow, viewer, target)
    if item is None:
        field = "postId" if target.post_id is not None else "commentId"
        raise DomainError.of("NOT_FOUND", f"No such {target.kind.lower()}.", field)
    if item.author_id == me:
        raise DomainError.of("OWN_CONTENT", "You cannot report what you wrote yourself.")
    mine = await uow.session.execute(
        select(ContentReport).where(
            target.of_reports(), ContentReport.reporter_id == me, ContentReport.status == OPEN
        )
    )
    earlier = mine.scalar_one_or_none()
    if earlier is not None:
        return earlier
    since = datetime.now(UTC) - timedelta(days=1)
    recent = await uow.session.execute(
        select(func.count())
        .select_from(ContentReport)
        .where(ContentReport.reporter_id == me, ContentReport.created_at > since)
    )
    if recent.scalar_one() >= REPORTS_PER_DAY:
        raise DomainError.of(
            "TOO_MANY",
            f"You have made {REPORTS_PER_DAY} reports in the last 24 hours: moderators will "
            "go through them; try again later.",
        )
    others_open = (
        await uow.session.execute(
            select(ContentReport.id).where(target.of_reports(), ContentReport.status == OPEN)
            .limit(1)
        )
    ).first()  # fmt: skip
    filed = ContentReport(
        post_id=target.post_id, comment_id=target.comment_id, reporter_id=me, reason=reason,
        note=cleaned, status=OPEN, created_at=datetime.now(UTC),
    )  # fmt: skip
    uow.session.add(filed)
    await uow.session.flush()
    notified = 0
    if others_open is None:
        what = "A post" if target.post_id is not None else "A comment"
        notified = await notify(
            uow, await holders_of(uow, Permission.COMMUNITY_MODERATE, everywhere=True),
            Event(kind="moderation", title=f"{what} was reported for moderation ({reason})",
                  body=_excerpt(item.body_markdown), subject_type=target.kind,
                  subject_id=target.id),
        )  # fmt: skip
    audit.record(
        uow, "content.report", object_type=target.kind, object_ids=[target.id],
        details={"report": filed.id, "reason": reason, "notified": notified},
    )  # fmt: skip
    return filed


@dataclass(frozen=True)
class Resolution:
    target: Target
    action: str
    reports_closed: int
    changed: bool
    warning: CommunityWarning | None


ACTION_NEWS = {
    "hide": "was hidden by a moderator",
    "restore": "was restored by a moderator",
    "warn": "brought you a warning from a moderator",
}


async def resolve(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    post_id: int | None,
    comment_id: int | None,
    action: str,
    note: str | None,
) -> Resolution:
    """A moderator's decision on a post or a comment: hide it (it leaves every list; its
    author still sees it, marked hidden), restore it, warn its author, or dismiss the
    reports. Each closes the item's open reports with the action and is audited; the author
    is told of a hide, a restore and a warning. Hiding what is hidden, restoring what is
    shown and warning again for an item whose author was warned for it change nothing but
    the reports (safe to retry; the warning is the first one)."""
    me = viewer.require(Permission.COMMUNITY_MODERATE)
    problems = Problems()
    target = _target(problems, post_id, comment_id)
    if action not in ACTIONS:
        problems.add("INVALID", "Unknown action.", "action")
    cleaned = _note(problems, note)
    problems.raise_if_any()
    assert target is not None
    model: Any = Post if target.post_id is not None else Comment
    item = await uow.session.get(model, target.id, with_for_update=True)
    if item is None or item.deleted_at is not None:
        field = "postId" if target.post_id is not None else "commentId"
        raise DomainError.of("NOT_FOUND", f"No such {target.kind.lower()}.", field)
    now = datetime.now(UTC)
    changed = False
    warning = None
    if action == "hide" and item.hidden_at is None:
        item.hidden_at, item.hidden_by_id, changed = now, me, True
    elif action == "restore" and item.hidden_at is not None:
        item.hidden_at, item.hidden_by_id, changed = None, None, True
    elif action == "warn":
        warning = (
            await uow.session.execute(
                select(CommunityWarning)
                .where(
                    CommunityWarning.user_id == item.author_id,
                    (CommunityWarning.post_id == target.post_id)
                    if target.post_id is not None
                    else (CommunityWarning.comment_id == target.comment_id),
                )
                .order_by(CommunityWarning.id)
                .limit(1)
            )
        ).scalar_one_or_none()
    if action == "warn" and warning is None:
        warning = CommunityWarning(
            user_id=item.author_id, post_id=target.post_id, comment_id=target.comment_id,
            note=cleaned, issued_by_id=me, created_at=now,
        )  # fmt: skip
        uow.session.add(warning)
        changed = True
    closed = await uow.session.execute(
        update(ContentReport)
        .where(target.of_reports(), ContentReport.status == OPEN)
        .values(status=RESOLVED, action=action, resolution_note=cleaned, resolved_by_id=me,
                resolved_at=now)
    )  # fmt: skip
    await uow.session.flush()
    if changed and action in ACTION_NEWS:
        what = "Your post" if target.post_id is not None else "Your comment"
        body = _excerpt(item.body_markdown)
        if cleaned:
            body = f"{cleaned}\n\n— {body}"
        await notify(
            uow, [item.author_id],
            Event(kind="moderation", title=f"{what} {ACTION_NEWS[action]}", body=body,
                  subject_type=target.kind, subject_id=target.id),
        )  # fmt: skip
    reports_closed = int(closed.rowcount or 0)  # type: ignore[attr-defined]
    audit.record(
        uow, f"moderation.{action}", object_type=target.kind, object_ids=[target.id],
        details={"reportsClosed": reports_closed, "changed": changed, "note": cleaned,
                 "author": item.author_id},
    )  # fmt: skip
    return Resolution(target, action, reports_closed, changed, warning)


# -- the queue -------------------------------------------------------------------------------


def item_key(post_id: Any, comment_id: Any) -> Any:
    return case((post_id.is_not(None), post_id * 2), else_=comment_id * 2 + 1)


def queue(status: str, keys: list[int] | None = None) -> tuple[Any, Any]:
    """SQL: the queue's items (posts and comments with reports of this status, each once,
    with its counts per reason), for the schema to sort and page. Open items of deleted
    posts and comments are left out. With ``keys``, only those items. Returns the query
    and its grouped subquery (whose columns are the sort keys)."""
    r = ContentReport
    conditions: list[Any] = [r.status == status]
    if status == OPEN:
        conditions.append(
            or_(
                r.post_id.in_(select(Post.id).where(Post.deleted_at.is_(None))),
                r.comment_id.in_(select(Comment.id).where(Comment.deleted_at.is_(None))),
            )
        )
    if keys is not None:
        targets = [target_of_key(k) for k in keys]
        conditions.append(
            or_(
                r.post_id.in_([t.post_id for t in targets if t.post_id is not None] or [-1]),
                r.comment_id.in_(
                    [t.comment_id for t in targets if t.comment_id is not None] or [-1]
                ),
            )
        )
    per_reason = [
        func.sum(case((r.reason == reason, 1), else_=0)).label(f"n_{reason}") for reason in REASONS
    ]
    grouped = (
        select(
            item_key(r.post_id, r.comment_id).label("id"),
            r.post_id,
            r.comment_id,
            func.count().label("report_count"),
            func.min(r.created_at).label("first_reported_at"),
            func.max(r.created_at).label("last_reported_at"),
            func.max(r.resolved_at).label("last_resolved_at"),
            *per_reason,
        )
        .where(*conditions)
        .group_by(r.post_id, r.comment_id)
        .subquery("items")
    )
    return (
        select(
            grouped,
            literal(status).label("status"),
            func.coalesce(Post.author_id, Comment.author_id).label("author_id"),
            func.coalesce(Post.hidden_at, Comment.hidden_at).label("hidden_at"),
            func.coalesce(grouped.c.post_id, Comment.post_id).label("on_post_id"),
        )
        .select_from(grouped)
        .outerjoin(Post, Post.id == grouped.c.post_id)
        .outerjoin(Comment, Comment.id == grouped.c.comment_id)
    ), grouped


def reports_of(status: str | None) -> Any:
    """SQL: reports with their item's key as ``item_key`` (to list each item's reports)."""
    r = ContentReport
    query = select(r.__table__, item_key(r.post_id, r.comment_id).label("item_key"))
    if status is not None:
        query = query.where(r.status == status)
    return query.subquery("reports")


def reports_readable(viewer: Viewer) -> ColumnElement[bool] | None:
    """Reports a viewer may see: moderators all, others their own (None: all)."""
    if is_moderator(viewer):
        return None
    me = viewer.user_id if viewer.user_id is not None else -1
    return ContentReport.reporter_id == me


def warnings_readable(viewer: Viewer) -> ColumnElement[bool] | None:
    """Warnings a viewer may see: moderators all, others those to them (None: all)."""
    if is_moderator(viewer):
        return None
    me = viewer.user_id if viewer.user_id is not None else -1
    return CommunityWarning.user_id == me
