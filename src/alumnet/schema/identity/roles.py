"""Custom roles: sets of permissions admins make and give to users everywhere or within
one batch or mission; and why someone can or cannot do something."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from sqlalchemy import false, select
from strawberry import relay

from alumnet.domain.errors import DomainError
from alumnet.domain.identity import roles
from alumnet.domain.identity.permissions import Permission as DomainPermission
from alumnet.domain.identity.permissions import permissions_from
from alumnet.domain.identity.two_factor import required_roles
from alumnet.persistence.db import Reader
from alumnet.persistence.models import CustomRole as CustomRoleModel
from alumnet.persistence.models import CustomRoleAssignment as AssignmentModel
from alumnet.schema.context import Info
from alumnet.schema.errors import UserError, user_errors
from alumnet.schema.identity.types import Permission
from alumnet.schema.mutations import CODE_DESCRIPTION, INVALID, arg, pk_of, run_in_transaction
from alumnet.schema.nodes import global_pk, int_ids, visible_user
from alumnet.schema.pagination import CountedConnection, KeysetQuery, SortKey, reads_loader
from alumnet.schema.permissions import requires_any

if TYPE_CHECKING:
    from alumnet.schema.cohorts.types import Batch, Mission
    from alumnet.schema.identity.types import User

ev = strawberry.enum_value
IDENTITY = "alumnet.schema.identity.types"
COHORTS = "alumnet.schema.cohorts.types"

_ROLE_COLUMNS = (
    CustomRoleModel.id,
    CustomRoleModel.name,
    CustomRoleModel.name_lower,
    CustomRoleModel.description,
    CustomRoleModel.permissions,
    CustomRoleModel.created_at,
    CustomRoleModel.created_by_id,
    CustomRoleModel.updated_at,
)
_ASSIGNMENT_COLUMNS = (
    AssignmentModel.id,
    AssignmentModel.user_id,
    AssignmentModel.role_id,
    AssignmentModel.batch_id,
    AssignmentModel.mission_id,
    AssignmentModel.assigned_by_id,
    AssignmentModel.assigned_at,
)


def _permissions(values: Iterable[str]) -> list[Permission]:
    return [Permission(p.value) for p in sorted(permissions_from(values))]


async def _roles_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    async with db.connect() as conn:
        query = select(*_ROLE_COLUMNS).where(CustomRoleModel.id.in_(ids))
        found = {r.id: r for r in (await conn.execute(query)).all()}
    return [found.get(i) for i in ids]


@strawberry.type(
    description="A custom role held by a user: everywhere, or only for what belongs to one "
    "batch (its missions included) or one mission."
)
class CustomRoleAssignment(relay.Node):
    id: relay.NodeID[int]
    assigned_at: datetime = strawberry.field(description="When it was given (UTC).")
    _user_id: strawberry.Private[int]
    _role_id: strawberry.Private[int]
    _batch_id: strawberry.Private[int | None]
    _mission_id: strawberry.Private[int | None]
    _assigned_by_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, assigned_at=row.assigned_at, _user_id=row.user_id, _role_id=row.role_id,
            _batch_id=row.batch_id, _mission_id=row.mission_id,
            _assigned_by_id=row.assigned_by_id,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        viewer = info.context.viewer
        found: dict[int, Any] = {}
        if viewer.is_authenticated:
            query = select(*_ASSIGNMENT_COLUMNS).where(
                AssignmentModel.id.in_([i for i in ids if i]), _readable(info)
            )
            async with info.context.reads.connect() as conn:
                found = {r.id: r for r in (await conn.execute(query)).all()}
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Who holds it (if you may see them).")
    async def user(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._user_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The role held.")
    async def role(self, info: Info) -> CustomRole | None:
        return (await CustomRole.resolve_nodes(info=info, node_ids=[str(self._role_id)]))[0]

    @strawberry.field(
        description="The batch it is held within (null when held everywhere or within a "
        "mission, or when you may not see the batch)."
    )
    async def batch(self, info: Info) -> Annotated[Batch, strawberry.lazy(COHORTS)] | None:
        from alumnet.schema.cohorts.types import Batch

        if self._batch_id is None:
            return None
        return (await Batch.resolve_nodes(info=info, node_ids=[str(self._batch_id)]))[0]

    @strawberry.field(
        description="The mission it is held within (null when held everywhere or within a "
        "batch, or when you may not see the mission)."
    )
    async def mission(self, info: Info) -> Annotated[Mission, strawberry.lazy(COHORTS)] | None:
        from alumnet.schema.cohorts.types import Mission

        if self._mission_id is None:
            return None
        return (await Mission.resolve_nodes(info=info, node_ids=[str(self._mission_id)]))[0]

    @strawberry.field(description="Whether it is held everywhere (no batch or mission).")
    def everywhere(self) -> bool:
        return self._batch_id is None and self._mission_id is None

    @strawberry.field(description="Who gave it (if you may see them).")
    async def assigned_by(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._assigned_by_id)  # type: ignore[no-any-return]


@strawberry.type(description="Custom role assignments, a page at a time.")
class CustomRoleAssignmentConnection(CountedConnection[CustomRoleAssignment]):
    pass


@strawberry.type(
    description="A role made by an admin: a named set of permissions, given to users "
    "everywhere or within one batch or mission (a coordinator for one batch)."
)
class CustomRole(relay.Node):
    id: relay.NodeID[int]
    name: str = strawberry.field(description="Its name, unique regardless of letter case.")
    description: str = strawberry.field(description="What it is for (plain text).")
    permissions: list[Permission] = strawberry.field(
        description="The permissions it grants, in alphabetical order."
    )
    created_at: datetime = strawberry.field(description="When it was made (UTC).")
    updated_at: datetime = strawberry.field(description="When it was last changed (UTC).")
    _created_by_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            id=row.id, name=row.name, description=row.description,
            permissions=_permissions(row.permissions or ()), created_at=row.created_at,
            updated_at=row.updated_at, _created_by_id=row.created_by_id,
        )  # fmt: skip

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = int_ids(node_ids)
        viewer = info.context.viewer
        found: dict[int, Any] = {}
        # Role readers see every role; anyone else the roles they hold.
        wanted = [i for i in ids if i]
        if not roles.may_read_roles(viewer):
            held = {g.role_id for g in viewer.grants}
            wanted = [i for i in wanted if i in held]
        if wanted:
            rows = await reads_loader(info, "custom_role_by_id", _roles_by_id).load_many(wanted)
            found = {r.id: r for r in rows if r is not None}
        return [cls.from_row(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Who made it (if you may see them).")
    async def created_by(self, info: Info) -> Annotated[User, strawberry.lazy(IDENTITY)] | None:
        return await visible_user(info, self._created_by_id)  # type: ignore[no-any-return]

    @relay.connection(
        CustomRoleAssignmentConnection,
        description="Who holds this role, and where; oldest first.",
        max_results=1000,
    )
    def assignments(self, info: Info) -> Iterable[CustomRoleAssignment]:
        return assignments_list(info, partition=(AssignmentModel.role_id, self.id))


@strawberry.type(description="Custom roles, a page at a time.")
class CustomRoleConnection(CountedConnection[CustomRole]):
    pass


def _readable(info: Info) -> Any:
    """Assignments the viewer may read: all of them for role and user readers, else their
    own."""
    viewer = info.context.viewer
    if roles.may_read_roles(viewer):
        return AssignmentModel.id.is_not(None)
    if viewer.user_id is None:
        return false()
    return AssignmentModel.user_id == viewer.user_id


def assignments_list(info: Info, *, partition: tuple[Any, int]) -> KeysetQuery[Any]:
    """A user's or a role's assignments (a nested list, batched across parents)."""
    condition = _readable(info)
    return KeysetQuery(
        select(*_ASSIGNMENT_COLUMNS).where(condition),
        [SortKey(AssignmentModel.assigned_at), SortKey(AssignmentModel.id)],
        CustomRoleAssignment.from_row,
        info.context.reads,
        partition=partition,
        batch_key=(
            f"CustomRoleAssignment.{partition[0].key}",
            roles.may_read_roles(info.context.viewer),
            info.context.viewer.user_id,
        ),
    )


@strawberry.input(
    description="Where a custom role is held, or a permission is asked about: a batch (its "
    "missions included) or a mission; neither means everywhere."
)
class RoleScopeInput:
    batch_id: relay.GlobalID | None = strawberry.field(default=None, description="A batch.")
    mission_id: relay.GlobalID | None = strawberry.field(default=None, description="A mission.")


def _scope(scope: RoleScopeInput | None) -> tuple[int | None, int | None]:
    if scope is None:
        return None, None
    batch = None if scope.batch_id is None else pk_of(scope.batch_id, "Batch", "batchId")
    mission = None if scope.mission_id is None else pk_of(scope.mission_id, "Mission", "missionId")
    return batch, mission


@strawberry.type(description="Whether a user may use a permission, and why, in plain words.")
class PermissionCheck:
    allowed: bool = strawberry.field(
        description="Whether they may, signed in (see `reasons` for their tokens)."
    )
    reasons: list[str] = strawberry.field(
        description="Which built-in or custom role grants it and where, or why not: e.g. "
        "held only within another batch, or the user is suspended."
    )


# --- queries --------------------------------------------------------------------------------


@strawberry.type
class RolesQuery:
    @relay.connection(
        CustomRoleConnection,
        description="Custom roles, by name (for those with `roles:assign` or `users:read`).",
        max_results=1000,
        extensions=requires_any(DomainPermission.ROLES_ASSIGN, DomainPermission.USERS_READ),
    )
    def custom_roles(self, info: Info) -> Iterable[CustomRole]:
        return KeysetQuery(
            select(*_ROLE_COLUMNS),
            [SortKey(CustomRoleModel.name_lower), SortKey(CustomRoleModel.id)],
            CustomRole.from_row,
            info.context.reads,
        )

    @strawberry.field(
        description="Whether a user may use a permission (everywhere, or for what belongs to "
        "a batch or mission), and why: for those with `roles:assign` or `users:read`; null "
        "for a user that does not exist.",
        extensions=requires_any(DomainPermission.ROLES_ASSIGN, DomainPermission.USERS_READ),
    )
    async def permission_check(
        self,
        info: Info,
        user_id: Annotated[relay.GlobalID, arg("The user.")],
        permission: Annotated[Permission, arg("The permission.")],
        scope: Annotated[
            RoleScopeInput | None, arg("Where (omit it to ask about everywhere).")
        ] = None,
    ) -> PermissionCheck | None:
        user = global_pk(user_id, "User")
        try:
            batch, mission = _scope(scope)
            if batch is not None and mission is not None:
                raise DomainError.of("INVALID_SCOPE", "Give a batch or a mission, not both.")
            if user is None:
                return None
            found = await roles.permission_check(
                info.context.reads, info.context.viewer, user_id=user,
                permission=DomainPermission[permission.name], batch_id=batch,
                mission_id=mission,
                two_factor_roles=required_roles(info.context.runtime.settings),
            )  # fmt: skip
        except DomainError as exc:
            from alumnet.schema.errors import bad_input

            raise bad_input(exc.problems[0].message) from None
        return (
            None if found is None else PermissionCheck(allowed=found.allowed, reasons=found.reasons)
        )


# --- mutations ------------------------------------------------------------------------------


@strawberry.enum(description="Why a custom role mutation failed.")
class RoleErrorCode(Enum):
    NOT_FOUND = ev("NOT_FOUND", description="No such role, user, batch, mission or assignment.")
    REQUIRED = ev("REQUIRED", description="A required value is empty.")
    TOO_LONG = ev("TOO_LONG", description="A value is longer than allowed.")
    NAME_TAKEN = ev("NAME_TAKEN", description="Another custom role has this name.")
    UNKNOWN_PERMISSION = ev("UNKNOWN_PERMISSION", description="No such permission.")
    PERMISSION_NOT_HELD = ev(
        "PERMISSION_NOT_HELD",
        description="You can only grant permissions you hold yourself (the refusal is audited).",
    )
    SCOPE_NOT_HELD = ev(
        "SCOPE_NOT_HELD",
        description="You can only give a role where you hold all its permissions yourself "
        "(the refusal is audited).",
    )
    UNSCOPABLE_PERMISSION = ev(
        "UNSCOPABLE_PERMISSION",
        description="A permission of the role can only be held everywhere, not within a "
        "batch or mission.",
    )
    INVALID_SCOPE = ev("INVALID_SCOPE", description="Give a batch or a mission, not both.")
    CONFLICT = ev("CONFLICT", description="Someone changed this at the same time; try again.")
    INVALID = ev("INVALID", description=INVALID)


@strawberry.type(description="A problem with a custom role mutation's input.")
class RoleError(UserError):
    code: RoleErrorCode = strawberry.field(description=CODE_DESCRIPTION)


@strawberry.input(description="A new custom role.")
class RoleCreateInput:
    name: str = strawberry.field(description="Its name (unique regardless of case, ≤ 100).")
    permissions: list[Permission] = strawberry.field(
        description="What it grants: at least one, each one you hold yourself."
    )
    description: str | None = strawberry.field(
        default=None, description="What it is for (≤ 1,000 characters)."
    )


@strawberry.input(description="Changes to a custom role; omitted fields stay as they are.")
class RoleUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The custom role.")
    name: str | None = strawberry.field(default=None, description="A new name.")
    description: str | None = strawberry.field(default=None, description="A new description.")
    permissions: list[Permission] | None = strawberry.field(
        default=None,
        description="Every permission it should grant (for everyone who holds it, at once); "
        "those you add you must hold wherever the role is held.",
    )


@strawberry.input(description="The custom role to delete (taken from everyone who holds it).")
class RoleDeleteInput:
    id: relay.GlobalID = strawberry.field(description="The custom role.")


@strawberry.input(description="Who gets which custom role, and where.")
class RoleAssignInput:
    user_id: relay.GlobalID = strawberry.field(description="The user.")
    role_id: relay.GlobalID = strawberry.field(description="The custom role.")
    scope: RoleScopeInput | None = strawberry.field(
        default=None,
        description="Within a batch or a mission only; omit it for everywhere. Only roles "
        "whose every permission can be scoped may be given within one.",
    )


@strawberry.input(
    description="The custom role to take back: the assignment, or the user, role and scope."
)
class RoleRevokeInput:
    assignment_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The assignment."
    )
    user_id: relay.GlobalID | None = strawberry.field(default=None, description="The user.")
    role_id: relay.GlobalID | None = strawberry.field(default=None, description="The role.")
    scope: RoleScopeInput | None = strawberry.field(
        default=None, description="Where it is held (omit it for everywhere)."
    )


@strawberry.type(description="The custom role as changed, or why nothing changed.")
class RolePayload:
    role: CustomRole | None = strawberry.field(description="The role after the change.")
    user_errors: list[RoleError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The deleted custom role's id, or why nothing changed.")
class RoleDeletePayload:
    deleted_id: relay.GlobalID | None = strawberry.field(description="The role deleted.")
    user_errors: list[RoleError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The assignment given or taken back, or why nothing changed.")
class RoleAssignmentPayload:
    assignment: CustomRoleAssignment | None = strawberry.field(
        description="The assignment (after `roleRevoke`, as it was)."
    )
    user_errors: list[RoleError] = strawberry.field(description="Empty on success.")


def _role(model: Any) -> CustomRole | None:
    return CustomRole.from_row(model) if model is not None else None


def _assignment(model: Any) -> CustomRoleAssignment | None:
    return CustomRoleAssignment.from_row(model) if model is not None else None


def _role_pk(gid: relay.GlobalID, field: str) -> int:
    pk = global_pk(gid, "CustomRole")
    if pk is None:
        raise DomainError.of("NOT_FOUND", "No such custom role.", field)
    return pk


def _assignment_pk(gid: relay.GlobalID) -> int:
    pk = global_pk(gid, "CustomRoleAssignment")
    if pk is None:
        raise DomainError.of("NOT_FOUND", "No such assignment.", "assignmentId")
    return pk


def _values(permissions: list[Permission] | None) -> list[str] | None:
    return None if permissions is None else [DomainPermission[p.name].value for p in permissions]


@strawberry.type
class RolesMutation:
    @strawberry.mutation(description="Make a custom role (needs `roles:assign`; audited).")
    async def role_create(
        self, info: Info, input: Annotated[RoleCreateInput, arg("The new role.")]
    ) -> RolePayload:
        viewer, rt = info.context.viewer, info.context.runtime
        role, problems = await run_in_transaction(
            info,
            lambda uow: roles.create_role(
                rt, uow, viewer, name=input.name, description=input.description,
                permissions=_values(input.permissions) or [],
            ),
        )  # fmt: skip
        return RolePayload(
            role=_role(role), user_errors=user_errors(RoleError, RoleErrorCode, problems)
        )

    @strawberry.mutation(
        description="Rename a custom role or change its permissions, for everyone who holds it "
        "(needs `roles:assign`; audited with the permissions added and removed)."
    )
    async def role_update(
        self, info: Info, input: Annotated[RoleUpdateInput, arg("The changes.")]
    ) -> RolePayload:
        viewer, rt = info.context.viewer, info.context.runtime
        role, problems = await run_in_transaction(
            info,
            lambda uow: roles.update_role(
                rt, uow, viewer, _role_pk(input.id, "id"), name=input.name,
                description=input.description, permissions=_values(input.permissions),
            ),
        )  # fmt: skip
        return RolePayload(
            role=_role(role), user_errors=user_errors(RoleError, RoleErrorCode, problems)
        )

    @strawberry.mutation(
        description="Delete a custom role and take it from everyone who holds it (needs "
        "`roles:assign`; audited)."
    )
    async def role_delete(
        self, info: Info, input: Annotated[RoleDeleteInput, arg("Which role.")]
    ) -> RoleDeletePayload:
        viewer = info.context.viewer
        deleted, problems = await run_in_transaction(
            info,
            lambda uow: roles.delete_role(
                info.context.runtime, uow, viewer, _role_pk(input.id, "id")
            ),
        )
        return RoleDeletePayload(
            deleted_id=None if deleted is None else relay.GlobalID("CustomRole", str(deleted)),
            user_errors=user_errors(RoleError, RoleErrorCode, problems),
        )

    @strawberry.mutation(
        description="Give a user a custom role, everywhere or within one batch or mission "
        "(needs `roles:assign`, and every permission of the role where you give it; audited). "
        "Giving it again changes nothing."
    )
    async def role_assign(
        self, info: Info, input: Annotated[RoleAssignInput, arg("Who, which role, where.")]
    ) -> RoleAssignmentPayload:
        viewer, rt = info.context.viewer, info.context.runtime

        async def change(uow: Any) -> Any:
            batch, mission = _scope(input.scope)
            return await roles.assign_role(
                rt, uow, viewer, user_id=pk_of(input.user_id, "User", "userId"),
                role_id=_role_pk(input.role_id, "roleId"), batch_id=batch,
                mission_id=mission,
            )  # fmt: skip

        assignment, problems = await run_in_transaction(info, change)
        return RoleAssignmentPayload(
            assignment=_assignment(assignment),
            user_errors=user_errors(RoleError, RoleErrorCode, problems),
        )

    @strawberry.mutation(
        description="Take a custom role back from a user (needs `roles:assign`; audited)."
    )
    async def role_revoke(
        self, info: Info, input: Annotated[RoleRevokeInput, arg("Which assignment.")]
    ) -> RoleAssignmentPayload:
        viewer = info.context.viewer

        async def change(uow: Any) -> Any:
            batch, mission = _scope(input.scope)
            return await roles.revoke_role(
                info.context.runtime, uow, viewer,
                assignment_id=None if input.assignment_id is None
                else _assignment_pk(input.assignment_id),
                user_id=None if input.user_id is None else pk_of(input.user_id, "User", "userId"),
                role_id=None if input.role_id is None
                else _role_pk(input.role_id, "roleId"),
                batch_id=batch, mission_id=mission,
            )  # fmt: skip

        assignment, problems = await run_in_transaction(info, change)
        return RoleAssignmentPayload(
            assignment=_assignment(assignment),
            user_errors=user_errors(RoleError, RoleErrorCode, problems),
        )
