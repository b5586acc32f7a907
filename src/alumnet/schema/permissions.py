"""Strawberry permission classes; the rules themselves live in the domain's Viewer."""

from __future__ import annotations

from typing import Any

from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension

from alumnet.domain.identity.permissions import Permission
from alumnet.schema.errors import FORBIDDEN, UNAUTHENTICATED


class IsAuthenticated(BasePermission):
    message = "Sign in first: send 'Authorization: Bearer <access token or personal access token>'."
    error_extensions = {"code": UNAUTHENTICATED}

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return bool(info.context.viewer.is_authenticated)


class HasPermission(BasePermission):
    message = "You do not have permission to do this."
    error_extensions = {"code": FORBIDDEN}

    def __init__(self, permission: Permission, *, scoped: bool = False) -> None:
        self.permission = permission
        self.scoped = scoped

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        viewer = info.context.viewer
        if self.scoped:
            return bool(viewer.holds_somewhere(self.permission))
        return bool(viewer.can(self.permission))


def requires(*permissions: Permission, scoped: bool = False) -> list[FieldExtension]:
    """Field extensions: the viewer must be signed in and hold every permission given;
    with ``scoped``, held within some batch or mission is enough (the resolver then shows
    only what is there: see ``Context.missions_within``)."""
    checks: list[BasePermission] = [IsAuthenticated()]
    checks.extend(HasPermission(p, scoped=scoped) for p in permissions)
    return [PermissionExtension(permissions=checks, use_directives=False)]


class HasAnyPermission(BasePermission):
    message = "You do not have permission to do this."
    error_extensions = {"code": FORBIDDEN}

    def __init__(self, permissions: tuple[Permission, ...]) -> None:
        self.permissions = permissions

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return any(info.context.viewer.can(p) for p in self.permissions)


def requires_any(*permissions: Permission) -> list[FieldExtension]:
    """Field extensions: the viewer must be signed in and hold one of the permissions."""
    checks: list[BasePermission] = [IsAuthenticated(), HasAnyPermission(permissions)]
    return [PermissionExtension(permissions=checks, use_directives=False)]


async def may_in_mission(info: Any, permission: Permission, mission_id: int) -> bool:
    """Whether the viewer holds ``permission`` for something of this mission: everywhere
    (no SQL), or within it or its batch."""
    viewer = info.context.viewer
    if viewer.can(permission):
        return True
    if not viewer.holds_somewhere(permission):
        return False
    return mission_id in (await info.context.missions_within(permission) or ())
