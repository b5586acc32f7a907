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

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return bool(info.context.viewer.can(self.permission))


def requires(*permissions: Permission) -> list[FieldExtension]:
    """Field extensions: the viewer must be signed in and hold every permission given."""
    checks: list[BasePermission] = [IsAuthenticated()]
    checks.extend(HasPermission(p) for p in permissions)
    return [PermissionExtension(permissions=checks, use_directives=False)]
