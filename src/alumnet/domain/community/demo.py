"""The demo community: a lively feed of a few weeks (posts from alumni, students and
staff, some to an audience, with links, mentions, comments, replies and likes), a report
waiting in the moderation queue and a post already hidden, reference requests in every
state, volunteering history, and the public pages. Deterministic; bulk inserts; dates
relative to now; no job, e-mail or notification is sent."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from alumnet.domain.careers.demo import ids_of_role
from alumnet.domain.community import pages, references, volunteering
from alumnet.domain.community.posts import render
from alumnet.domain.identity.permissions import Role, Viewer
from alumnet.persistence.models import (
    Comment,
    CommentLike,
    ContentReport,
    Post,
    PostLike,
    PostTarget,
    User,
)
from alumnet.persistence.uow import UnitOfWork

POSTS = 240
UPDATES = [
    "Just started a new role as a **data analyst** — thank you to everyone who helped "
    "with interview practice!",
    "Our chapter meets on the last Friday of the month. Newcomers very welcome.",
    "Sharing my notes from this week's talk on building a portfolio: keep it small, "
    "finished and explained.",
    "Three years since graduation today. Best decision I made was joining the mentorship "
    "programme.",
    "Looking for two students to help test a volunteering app we are building. DM me.",
    "Passed my certification exam! Study group, you were the best.",
    "Any alumni in logistics? I would love a 20-minute chat about the industry.",
    "Reminder: the library's quiet rooms can be booked by alumni too.",
    "We are hiring interns for the summer — see the careers board.",
    "Proud to have judged the hackathon finals this weekend. The ideas were brilliant.",
]
LINKS = [
    ("https://blog.demo.alumnet.dev/portfolio-tips", "Five portfolio tips that work",
     "What the hiring managers we asked look for first.", "Demo alumni blog"),
    ("https://news.demo.alumnet.dev/hackathon-2026", "Hackathon 2026: the winners",
     "Forty teams, one weekend, and a solar irrigation sensor.", "Demo campus news"),
]  # fmt: skip
COMMENTS = ["Congratulations!", "Well deserved.", "Count me in.", "Thanks for sharing this.",
            "Very helpful, thank you.", "Where can I find the slides?", "Great news!",
            "I would love to join.", "Same here!", "This made my day."]  # fmt: skip


def _gid(user_id: int) -> str:
    return base64.b64encode(f"User:{user_id}".encode()).decode()


async def _user(uow: UnitOfWork, email: str) -> tuple[int, str] | None:
    found = await uow.session.execute(select(User.id, User.name).where(User.email_lower == email))
    row = found.first()
    return (int(row.id), str(row.name)) if row is not None else None


async def seed_community(uow: UnitOfWork, domain: str) -> int:
    """The demo's community; each part skipped when it already has data. Returns how many
    posts it made."""
    made = await _seed_feed(uow, domain)
    await references.seed_demo(uow, domain)
    await volunteering.seed_volunteering(uow, domain)
    manager = await _user(uow, f"manager@{domain}")
    if manager is not None:
        editor = Viewer(user_id=manager[0], roles=frozenset({Role.MANAGER}))
        await pages.seed_default_pages(uow, editor)
    return made


async def _seed_feed(uow: UnitOfWork, domain: str) -> int:
    session = uow.session
    if (await session.execute(select(func.count()).select_from(Post))).scalar_one():
        return 0
    named = {role: await _user(uow, f"{role}@{domain}")
             for role in ("alumnus", "student", "manager", "mentor", "sre")}  # fmt: skip
    alumni = await ids_of_role(uow, "ALUMNUS", 120)
    students = await ids_of_role(uow, "STUDENT", 120)
    people = [p[0] for p in named.values() if p is not None] + alumni + students
    if len(people) < 3:
        return 0
    rng = random.Random(25)  # noqa: S311  (demo data, not secrets)
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for n in range(POSTS):
        author = rng.choice(people)
        body = rng.choice(UPDATES)
        link: tuple[str, str, str, str] | None = None
        if n % 17 == 0:
            link = LINKS[n % len(LINKS)]
            body = f"{body}\n\n{link[0]}"
        if n % 23 == 0 and named["alumnus"] is not None and author != named["alumnus"][0]:
            thanked, name = named["alumnus"]
            body = f"{body} Thanks @[{name}]({'user:' + _gid(thanked)}) for the advice."
        created = now - timedelta(minutes=rng.randint(5, 60 * 24 * 40))
        rows.append({
            "author_id": author, "body_markdown": body, "body_html": render(body),
            "limited": n % 11 == 0, "created_at": created,
            "edited_at": created + timedelta(minutes=7) if n % 19 == 0 else None,
            "link_url": link[0] if link else None, "link_status": "ready" if link else None,
            "link_preview": {"url": link[0], "title": link[1], "description": link[2],
                             "image": None, "siteName": link[3]} if link else None,
        })  # fmt: skip
    # A post of alumnus@ and one of student@ first in their feeds.
    for who, body in (("alumnus", UPDATES[0]), ("student", UPDATES[5])):
        if (found := named[who]) is not None:
            rows.append({"author_id": found[0], "body_markdown": body,
                         "body_html": render(body), "limited": False,
                         "created_at": now - timedelta(hours=2), "edited_at": None,
                         "link_url": None, "link_status": None, "link_preview": None})  # fmt: skip
    ids = [int(i) for i in (await session.execute(insert(Post).returning(Post.id), rows)).scalars()]
    # Limited posts: to alumni only, or to students only.
    limited = [pid for pid, row in zip(ids, rows, strict=True) if row["limited"]]
    targets = [{"post_id": pid, "role": "ALUMNUS" if k % 2 else "STUDENT", "batch_id": None,
                "graduation_year": None} for k, pid in enumerate(limited)]  # fmt: skip
    if targets:
        await session.execute(insert(PostTarget), targets)
    created_of = {pid: row["created_at"] for pid, row in zip(ids, rows, strict=True)}
    # Comments (a reply to some), and likes on posts and comments.
    comments: list[dict[str, Any]] = []
    for pid in ids:
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3, 5))):
            body = rng.choice(COMMENTS)
            when = created_of[pid] + timedelta(minutes=rng.randint(1, 600))
            comments.append({"post_id": pid, "parent_id": None, "author_id": rng.choice(people),
                             "body_markdown": body, "body_html": render(body),
                             "created_at": min(when, now)})  # fmt: skip
    comment_ids = [
        int(i)
        for i in (await session.execute(insert(Comment).returning(Comment.id), comments)).scalars()
    ] if comments else []  # fmt: skip
    replies = []
    for cid, parent in zip(comment_ids, comments, strict=True):
        if rng.random() < 0.2:
            body = rng.choice(COMMENTS)
            replies.append({"post_id": parent["post_id"], "parent_id": cid,
                            "author_id": rng.choice(people), "body_markdown": body,
                            "body_html": render(body),
                            "created_at": min(parent["created_at"] + timedelta(minutes=30),
                                              now)})  # fmt: skip
    if replies:
        await session.execute(insert(Comment), replies)
    crowd = sorted(set(people))
    post_likes = {(pid, u) for pid in ids
                  for u in rng.sample(crowd, min(len(crowd), rng.randint(0, 12)))}  # fmt: skip
    if post_likes:
        await session.execute(insert(PostLike), [
            {"post_id": pid, "user_id": u, "created_at": now}
            for pid, u in sorted(post_likes)])  # fmt: skip
    comment_likes = {(cid, u) for cid in comment_ids if rng.random() < 0.4
                     for u in rng.sample(crowd, min(len(crowd), rng.randint(1, 4)))}  # fmt: skip
    if comment_likes:
        await session.execute(insert(CommentLike), [
            {"comment_id": cid, "user_id": u, "created_at": now}
            for cid, u in sorted(comment_likes)])  # fmt: skip
    await _recount(uow, ids)
    await _moderation(uow, ids, people, named, now)
    return len(ids)


async def _recount(uow: UnitOfWork, ids: list[int]) -> None:
    """The counts the demo's rows add up to, as the mutations keep them."""
    session = uow.session
    likes = select(func.count()).where(PostLike.post_id == Post.id).scalar_subquery()
    top = (
        select(func.count())
        .where(
            Comment.post_id == Post.id, Comment.deleted_at.is_(None), Comment.hidden_at.is_(None)
        )
        .scalar_subquery()
    )
    await session.execute(
        update(Post).where(Post.id.in_(ids)).values(like_count=likes, comment_count=top)
    )
    reply = Comment.__table__.alias("reply")
    replies = select(func.count()).where(reply.c.parent_id == Comment.id).scalar_subquery()
    comment_likes = (
        select(func.count()).where(CommentLike.comment_id == Comment.id).scalar_subquery()
    )
    await session.execute(
        update(Comment)
        .where(Comment.post_id.in_(ids))
        .values(like_count=comment_likes, reply_count=replies)
    )


async def _moderation(
    uow: UnitOfWork,
    ids: list[int],
    people: list[int],
    named: dict[str, tuple[int, str] | None],
    now: datetime,
) -> None:
    """One post reported twice and waiting in the queue; one hidden after a report."""
    session = uow.session
    waiting, hidden = ids[3], ids[7]
    reporters = list(people[-2:])
    await session.execute(insert(ContentReport), [
        {"post_id": waiting, "comment_id": None, "reporter_id": reporters[0], "reason": "spam",
         "note": "Posted the same thing three times.", "status": "open",
         "created_at": now - timedelta(hours=5)},
        {"post_id": waiting, "comment_id": None, "reporter_id": reporters[1], "reason": "other",
         "note": None, "status": "open", "created_at": now - timedelta(hours=3)},
    ])  # fmt: skip
    moderator = named["manager"][0] if named["manager"] is not None else None
    await session.execute(
        update(Post).where(Post.id == hidden).values(hidden_at=now - timedelta(days=1),
                                                     hidden_by_id=moderator)
    )  # fmt: skip
    await session.execute(insert(ContentReport), [
        {"post_id": hidden, "comment_id": None, "reporter_id": reporters[0],
         "reason": "inappropriate", "note": None, "status": "resolved", "action": "hide",
         "resolution_note": "Personal details of someone else.", "resolved_by_id": moderator,
         "created_at": now - timedelta(days=2), "resolved_at": now - timedelta(days=1)},
    ])  # fmt: skip
