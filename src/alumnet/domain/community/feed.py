"""The feed: the posts of one's circle first (the people one follows, the people of one's
batches, and oneself), newest first, then every other post newest first.

A page is one statement whatever the numbers: the circle's posts come from the index on
(author, time) for the few authors of the circle, the others from the index on time,
walked newest first and stopped at the page's end, each part limited before they are put
together. No tier is ever computed over every post. Hidden posts are never in the feed
(not even for moderators, who find them in the moderation queue).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    bindparam,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from alumnet.domain.communication.announcements import batch_people
from alumnet.domain.community.posts import readable
from alumnet.domain.identity.permissions import Viewer
from alumnet.persistence.mentoring import mentored_missions
from alumnet.persistence.models import Enrollment, Follow, Mission, Post

CIRCLE, OTHERS = 0, 1


@dataclass(frozen=True)
class Position:
    """Where a page starts after: the tier, time and id of the last post seen."""

    tier: int
    created_at: datetime
    id: int


def my_batches(user_id: int) -> Any:
    """The batches a person is in: as an active student, or a mentor of one of its missions."""
    return select(Mission.batch_id).where(
        or_(
            Mission.id.in_(
                select(Enrollment.mission_id).where(
                    Enrollment.student_id == user_id, Enrollment.status == "active"
                )
            ),
            Mission.id.in_(mentored_missions(user_id)),
        )
    )


def circle(user_id: int, batch_ids: list[int]) -> Any:
    """The authors whose posts come first for this person (of these batches: theirs), as
    a SELECT of ids."""
    # One flat UNION: SQLite refuses a parenthesised UNION inside another.
    return union(
        select(literal(user_id, Post.author_id.type)),
        select(Follow.followee_id).where(Follow.follower_id == user_id),
        *batch_people(sorted(set(batch_ids))).selects,
    )


async def read_page(
    conn: AsyncConnection, viewer: Viewer, after: Position | None, size: int
) -> list[Row[Any]]:
    """The next ``size`` posts of the viewer's feed: their batches, then their circle,
    then the page, each found by its indexes (given the one before as constants, which
    PostgreSQL estimates well, where a subquery made it expect a thousandfold more)."""
    me = viewer.user_id if viewer.user_id is not None else -1
    batches = list((await conn.execute(my_batches(me))).scalars())
    authors = list((await conn.execute(circle(me, batches))).scalars())
    query = page(viewer, after, size, authors)
    if conn.dialect.name != "postgresql":
        return list((await conn.execute(query)).all())
    # The page's estimate counts the audience check for every post passed over (it runs
    # for the few limited ones only): high enough for PostgreSQL to compile the query
    # (JIT), which takes longer (~70 ms at a million posts) than running it (~5 ms). Reads
    # run outside transactions (no SET LOCAL): the setting is put back at once.
    await conn.execute(text("SET jit = off"))
    try:
        return list((await conn.execute(query)).all())
    finally:
        await conn.execute(text("RESET jit"))


def _part(
    viewer: Viewer, tier: int, after: Position | None, size: int, members: list[int]
) -> Select[Any]:
    # Written into the statement as constants: PostgreSQL then checks each post's author
    # against a hash of them while it walks the index on time, newest first.
    authors: Any = bindparam("circle", sorted(set(members)), expanding=True, literal_execute=True)
    mine = Post.author_id.in_(authors) if tier == CIRCLE else Post.author_id.not_in(authors)
    query = select(*Post.__table__.c, literal(tier, Integer).label("tier")).where(
        readable(viewer), Post.hidden_at.is_(None), mine
    )
    if after is not None and after.tier == tier:
        moment = literal(after.created_at, Post.__table__.c.created_at.type)
        query = query.where(
            tuple_(Post.created_at, Post.id) < tuple_(moment, literal(after.id, Post.id.type))
        )
    # Written into the statement: a bound limit gets PostgreSQL's generic plan a full sort.
    limit = literal_column(str(int(size)), Integer)
    return query.order_by(Post.created_at.desc(), Post.id.desc()).limit(limit)


def page(viewer: Viewer, after: Position | None, size: int, authors: list[int]) -> Select[Any]:
    """The next ``size`` posts of the viewer's feed after ``after`` (each row with its
    ``tier``), in one SELECT, newest first within each tier; ``authors`` is the viewer's
    circle (``circle``'s ids, fetched first: a few hundred to a few thousand)."""
    rest = _part(viewer, OTHERS, after, size, authors).subquery()
    if after is not None and after.tier == OTHERS:
        return select(rest).order_by(rest.c.created_at.desc(), rest.c.id.desc())
    mine = _part(viewer, CIRCLE, after, size, authors).subquery()
    both = union_all(select(mine), select(rest)).subquery()
    return (
        select(both)
        .order_by(both.c.tier, both.c.created_at.desc(), both.c.id.desc())
        .limit(literal_column(str(int(size)), Integer))
    )
