"""The feed: the posts of one's circle first (the people one follows, the people of one's
batches, and oneself), newest first, then every other post newest first.

A page is one statement whatever the numbers: the circle's posts come from the index on
(author, time) for the few authors of the circle, the others from the index on time,
walked newest first and stopped at the page's end, each part limited before they are put
together. No tier is ever computed over every post. Hidden posts are never in the feed
(not even for moderators, who find them in the moderation queue).

The circle is one statement, kept in the aggregates cache (`domain/analytics/cache.py`)
until follows, enrolments, missions or mentors change. The page's statement is built once
per kind of viewer (their roles and permissions) and kept: the viewer's id, circle and
position are its parameters, so that a request does not build the audience rules again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    any_,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Dialect, Row
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import UserDefinedType

from alumnet.domain.analytics.cache import cached
from alumnet.domain.communication.announcements import batch_people
from alumnet.domain.community.posts import readable
from alumnet.domain.identity.permissions import Viewer
from alumnet.domain.runtime import Runtime
from alumnet.persistence.mentoring import mentored_missions
from alumnet.persistence.models import (
    Enrollment,
    Follow,
    Mission,
    Post,
    PostImage,
    PostLike,
    PostTarget,
)

CIRCLE, OTHERS = 0, 1
_DIALECTS: dict[bool, Dialect] = {True: postgresql.dialect(), False: sqlite.dialect()}  # type: ignore[no-untyped-call]
# What the circle is made of: a change to any of these tables recomputes it.
CIRCLE_TABLES = ("follows", "enrollments", "missions", "mentor_assignments", "mission_mentors")
# Stands for the viewer's id while a kept statement is built, then becomes its parameter.
_ME = -(2**62) - 20_251_205


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


def circle(user_id: int) -> Any:
    """The authors whose posts come first for this person, as a SELECT of ids: themselves,
    the people they follow, and the people of their batches."""
    # One flat UNION: SQLite refuses a parenthesised UNION inside another.
    return union(
        select(literal(user_id, Post.author_id.type)),
        select(Follow.followee_id).where(Follow.follower_id == user_id),
        *batch_people(my_batches(user_id)).selects,
    )


async def circle_of(rt: Runtime, conn: AsyncConnection, user_id: int) -> list[int]:
    """The ids of ``circle(user_id)``, sorted (cached until a table of it changes)."""

    async def compute() -> list[int]:
        return sorted((await conn.execute(circle(user_id))).scalars())

    found = await cached(rt, "community.feed_circle", (user_id,), CIRCLE_TABLES, compute)
    return [int(i) for i in found]


async def read_page(
    conn: AsyncConnection,
    viewer: Viewer,
    after: Position | None,
    size: int,
    authors: list[int],
) -> list[Row[Any]]:
    """The next ``size`` posts of the viewer's feed (``authors``: their circle)."""
    query = page(viewer, after, size, conn.dialect)
    # The kept statement reads a few sizes only (SIZES): the rest of its rows are dropped.
    values: dict[str, Any] = {"feed_me": viewer.user_id if viewer.user_id is not None else -1,
                              "circle": authors}  # fmt: skip
    if after is not None:
        values.update(after_at=after.created_at, after_id=after.id)
    if conn.dialect.name != "postgresql":
        return list((await conn.execute(query, values)).all())[:size]
    # The page's estimate counts the audience check for every post passed over (it runs
    # for the few limited ones only): high enough for PostgreSQL to compile the query
    # (JIT), which takes longer (~70 ms at a million posts) than running it (~5 ms). Reads
    # run outside transactions (no SET LOCAL): the setting is put back at once.
    await conn.execute(text("SET jit = off"))
    try:
        return list((await conn.execute(query, values)).all())[:size]
    finally:
        await conn.execute(text("RESET jit"))


class _IdArray(UserDefinedType[list[int]]):
    """A list of ids written into the statement as one PostgreSQL array constant (which
    the planner estimates per id, as it does a list, and which renders in one go)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "BIGINT[]"

    def literal_processor(self, dialect: Dialect) -> Any:
        def process(value: list[int]) -> str:
            return "'{" + ",".join(map(str, map(int, value))) + "}'::bigint[]"

        return process


def viewer_shape(viewer: Viewer) -> Viewer:
    """The viewer without what names their credential (e-mail, name, session, token):
    what the rules of who reads what depend on, as a key for statements built once."""
    return dataclasses.replace(viewer, email=None, name=None, session_id=None, token_id=None)


def page(viewer: Viewer, after: Position | None, size: int, dialect: Dialect) -> Select[Any]:
    """The statement of the next ``size`` posts (or a few more: ``SIZES``) of the viewer's
    feed after ``after`` (each row with its ``tier``), newest first within each tier. Its
    parameters: ``feed_me`` (the viewer's id), ``circle`` (``circle``'s ids) and, after a
    position, ``after_at`` and ``after_id``."""
    # The statement depends on the viewer's id only through `feed_me`: it is kept for
    # every viewer alike but for their id (roles, permissions, grants, token scope).
    me = _ME if viewer.user_id is not None else None
    shape = viewer_shape(dataclasses.replace(viewer, user_id=me))
    tier = None if after is None else after.tier
    # A few sizes, so that a client asking for every page size from 1 to 100 cannot crowd
    # the kept statements of other kinds of viewer out.
    kept = next((s for s in SIZES if s >= size), int(size))
    return _page(shape, tier, kept, dialect.name == "postgresql")


# The sizes a kept statement reads (a page of `first` posts reads first + 1).
SIZES = (11, 21, 51, 101)


@lru_cache(maxsize=1024)
def _page(shape: Viewer, after_tier: int | None, size: int, postgres: bool) -> Select[Any]:
    rest = _part(shape, OTHERS, after_tier, size, postgres).subquery()
    if after_tier == OTHERS:
        query = select(rest).order_by(rest.c.created_at.desc(), rest.c.id.desc())
    else:
        mine = _part(shape, CIRCLE, after_tier, size, postgres).subquery()
        both = union_all(select(mine), select(rest)).subquery()
        query = (
            select(both)
            .order_by(both.c.tier, both.c.created_at.desc(), both.c.id.desc())
            .limit(literal_column(str(size), Integer))
        )
    if postgres:
        query = _with_extras(query.subquery("feed_page"))
    return _with_viewer_parameter(query, _DIALECTS[postgres])


def _with_extras(found: Any) -> Select[Any]:
    """The page's posts with what a feed screen shows of each besides its columns, found
    for these few posts only: ``feed_viewer_liked``, ``feed_image_ids`` (in order) and
    ``feed_targets`` (a limited post's audience as [role, batch id, graduation year]s)."""
    me = bindparam("feed_me", type_=BigInteger)
    liked = exists().where(PostLike.post_id == found.c.id, PostLike.user_id == me)
    images = (
        select(func.array_agg(aggregate_order_by(PostImage.photo_id, PostImage.position)))
        .where(PostImage.post_id == found.c.id)
        .scalar_subquery()
    )
    values = func.json_build_array(PostTarget.role, PostTarget.batch_id, PostTarget.graduation_year)
    targets = (
        select(func.json_agg(aggregate_order_by(values, PostTarget.id)))
        .where(PostTarget.post_id == found.c.id, found.c.limited)
        .scalar_subquery()
    )
    return select(
        found,
        liked.label("feed_viewer_liked"),
        images.label("feed_image_ids"),
        targets.label("feed_targets"),
    ).order_by(found.c.tier, found.c.created_at.desc(), found.c.id.desc())


def _with_viewer_parameter(query: Select[Any], dialect: Dialect) -> Select[Any]:
    """The statement with every value that stood for the viewer's id as `feed_me`."""

    def swap(element: Any, **kw: Any) -> Any:
        if (
            isinstance(element, BindParameter)
            and not element.expanding
            and isinstance(element.value, int)
            and element.value == _ME
        ):
            return bindparam("feed_me", type_=element.type)
        return None

    swapped = cast(Select[Any], visitors.replacement_traverse(query, {}, swap))
    # A rule that used the id otherwise than as one value (in a list, in a text) would mix
    # viewers up: refuse to keep such a statement.
    compiled = swapped.compile(dialect=dialect)
    values = list(compiled.params.values())
    listed = [v for value in values if isinstance(value, list | tuple) for v in value]
    if str(_ME) in str(compiled) or _ME in values or _ME in listed:
        raise RuntimeError("the feed's statement holds the viewer's id outside `feed_me`")
    return swapped


def _part(shape: Viewer, tier: int, after_tier: int | None, size: int, postgres: bool) -> Any:
    if postgres:
        # The circle's ids as one array constant: PostgreSQL then checks each post's author
        # against a hash of them while it walks the index on time, newest first, or reads
        # the circle's own posts by author, as its estimate of them says. The others'
        # part only leaves them out: a hashed subquery, which it does not estimate per id.
        ids: Any = bindparam("circle", type_=_IdArray(), literal_execute=True)
        mine = (
            Post.author_id == any_(ids)
            if tier == CIRCLE
            else Post.author_id.not_in(select(func.unnest(ids)))
        )
    else:
        ids = bindparam("circle", expanding=True, literal_execute=True, type_=BigInteger)
        mine = Post.author_id.in_(ids) if tier == CIRCLE else Post.author_id.not_in(ids)
    query = select(*Post.__table__.c, literal_column(str(tier), Integer).label("tier")).where(
        readable(shape), Post.hidden_at.is_(None), mine
    )
    if after_tier == tier:
        moment = bindparam("after_at", type_=Post.__table__.c.created_at.type)
        last = bindparam("after_id", type_=Post.id.type)
        query = query.where(tuple_(Post.created_at, Post.id) < tuple_(moment, last))
    # Written into the statement: a bound limit gets PostgreSQL's generic plan a full sort.
    limit = literal_column(str(size), Integer)
    return query.order_by(Post.created_at.desc(), Post.id.desc()).limit(limit)
