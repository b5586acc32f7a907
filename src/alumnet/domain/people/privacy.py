"""Who sees which group of a profile's fields.

Each group (contact, work, education, location) has a level chosen by its owner:
``everyone`` signed in, ``alumni`` (alumni and staff), ``staff`` (administrators,
managers, SREs) or ``only_me``. The owner, and administrators who manage users (to
moderate and correct profiles), always see everything.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, or_

from alumnet.domain.identity.permissions import Permission, Role, Viewer

LEVELS = ("everyone", "alumni", "staff", "only_me")
GROUPS = ("contact", "work", "education", "location")
STAFF = frozenset({Role.ADMIN, Role.MANAGER, Role.SRE})


def levels_for(viewer: Viewer) -> tuple[str, ...]:
    """The levels of other people's groups this viewer may see."""
    if not viewer.is_authenticated:
        return ()
    if viewer.can(Permission.USERS_MANAGE):
        return LEVELS
    staff = bool(viewer.roles & STAFF)
    levels = ["everyone"]
    if staff or Role.ALUMNUS in viewer.roles:
        levels.append("alumni")
    if staff:
        levels.append("staff")
    return tuple(levels)


def may_see(viewer: Viewer, owner_id: int, level: str) -> bool:
    return viewer.is_authenticated and (viewer.user_id == owner_id or level in levels_for(viewer))


def visible(viewer: Viewer, owner: Any, level: Any) -> ColumnElement[bool]:
    """SQL: the group whose level is in ``level`` is visible to the viewer (owner is the
    profile's user id column)."""
    if not viewer.is_authenticated:
        return false()
    return or_(owner == viewer.user_id, level.in_(levels_for(viewer)))
