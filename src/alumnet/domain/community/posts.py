"""Posts, comments and likes: who may read them, writing and changing them, and the
counts kept in the same transaction as the likes and comments that change them."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_

from alumnet.domain.communication.announcements import addressed_to
from alumnet.domain.identity.permissions import Permission, Viewer
from alumnet.persistence.models import Post, PostTarget


def readable(viewer: Viewer) -> ColumnElement[bool]:
    """SQL: the posts the viewer may read. Signed-in people read posts to everyone and
    those whose audience includes them; authors read their own; hidden posts only their
    author and moderators; deleted posts nobody (through the API)."""
    if not viewer.is_authenticated:
        return Post.id < 0
    me = viewer.user_id if viewer.user_id is not None else -1
    alive = Post.deleted_at.is_(None)
    if viewer.can(Permission.COMMUNITY_MODERATE):
        return alive
    t = PostTarget
    in_audience = or_(~Post.limited, addressed_to(viewer, t, t.post_id, Post.id))
    shown = and_(Post.hidden_at.is_(None), in_audience)
    return and_(alive, or_(Post.author_id == me, shown))
