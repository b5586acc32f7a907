"""Custom roles: sets of the built-in permissions that admins make, give to users
everywhere or within one batch or mission, and take back; and why someone can or cannot
do something.

Nobody grants more than they hold: a role holds only permissions its maker holds, and is
given only within scopes where the giver holds every one of its permissions. Refusals of
that kind are audited (in a transaction of their own, as the change itself is rolled
back).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from alumnet.domain.cohorts.access import reach_of_mission
from alumnet.domain.errors import DomainError, Problems, check_text
from alumnet.domain.identity import audit
from alumnet.domain.identity.permissions import (
    ADMIN_PERMISSIONS,
    ROLE_PERMISSIONS,
    SCOPABLE_PERMISSIONS,
    Permission,
    Reach,
    Role,
    Viewer,
    permission_named,
    permissions_from,
)
from alumnet.domain.runtime import Runtime
from alumnet.persistence.db import Reader
from alumnet.persistence.models import (
    Batch,
    CustomRole,
    CustomRoleAssignment,
    Mission,
    User,
    UserRole,
)
from alumnet.persistence.uow import UnitOfWork

NAME_MAX = 100
DESCRIPTION_MAX = 1000


@dataclass(frozen=True)
class Scope:
    """Where an assignment holds: everywhere (both None), a batch or a mission."""

    batch_id: int | None = None
    mission_id: int | None = None

    @property
    def key(self) -> str:
        if self.batch_id is not None:
            return f"b{self.batch_id}"
        if self.mission_id is not None:
            return f"m{self.mission_id}"
        return ""

    @property
    def everywhere(self) -> bool:
        return self.batch_id is None and self.mission_id is None


async def _refuse(
    rt: Runtime, uow: UnitOfWork, action: str, details: dict[str, Any], error: DomainError
) -> DomainError:
    """Audit a refused access change in a transaction of its own; the error to raise."""
    await audit.record_apart(
        rt,
        uow,
        "custom_role.refused",
        object_type="CustomRole",
        object_ids=[details["role"]] if details.get("role") is not None else [],
        details={"attempt": action, **details, "codes": [p.code for p in error.problems]},
    )
    return error


def _parse_permissions(problems: Problems, values: list[str]) -> frozenset[Permission]:
    found: set[Permission] = set()
    for i, value in enumerate(values):
        permission = permission_named(value)
        if permission is None:
            problems.add(
                "UNKNOWN_PERMISSION",
                f"There is no permission called {value[:50]!r}.",
                ("permissions", str(i)),
            )
        else:
            found.add(permission)
    if not values:
        problems.add("REQUIRED", "Give the role at least one permission.", "permissions")
    return frozenset(found)


def _not_held(viewer: Viewer, wanted: frozenset[Permission]) -> list[str]:
    """Permissions the viewer could not grant anywhere."""
    return sorted(p.value for p in wanted if not viewer.holds_somewhere(p))


async def _by_name(uow: UnitOfWork, name: str, exclude: int | None = None) -> bool:
    query = select(CustomRole.id).where(CustomRole.name_lower == name.lower())
    if exclude is not None:
        query = query.where(CustomRole.id != exclude)
    return (await uow.session.execute(query)).first() is not None


async def create_role(
    rt: Runtime,
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    name: str,
    description: str | None,
    permissions: list[str],
) -> CustomRole:
    viewer.require(Permission.ROLES_ASSIGN)
    problems = Problems()
    clean = check_text(
        problems, name, field="name", max_length=NAME_MAX, min_length=1, label="Name"
    )
    text = check_text(
        problems, description or "", field="description", max_length=DESCRIPTION_MAX,
        label="The description",
    )  # fmt: skip
    wanted = _parse_permissions(problems, permissions)
    if clean and not problems.items and await _by_name(uow, clean):
        problems.add("NAME_TAKEN", "A custom role of that name exists already.", "name")
    problems.raise_if_any()
    not_held = _not_held(viewer, wanted)
    if not_held:
        raise await _refuse(
            rt, uow, "create", {"role": None, "name": clean, "not_held": not_held},
            DomainError.of(
                "PERMISSION_NOT_HELD",
                "You can only put into a role permissions you hold yourself: "
                + ", ".join(not_held) + ".",
                "permissions",
            ),
        )  # fmt: skip
    role = CustomRole(
        name=clean or "",
        name_lower=(clean or "").lower(),
        description=text or "",
        permissions=sorted(p.value for p in wanted),
        created_by_id=viewer.user_id,
    )
    uow.session.add(role)
    await uow.session.flush()
    audit.record(
        uow,
        "custom_role.create",
        object_type="CustomRole",
        object_ids=[role.id],
        details={"name": role.name, "permissions": {"added": role.permissions, "removed": []}},
    )
    return role


async def _role(uow: UnitOfWork, role_id: int, *, lock: bool = False) -> CustomRole:
    # Locked by those who change it or give it: two admins at once must not combine into
    # a grant neither could make alone. PostgreSQL only: SQLite's single writer refuses a
    # transaction whose reads went stale before it writes (and a lock taken here would
    # keep a refusal's audit, written apart, waiting).
    postgres = uow.session.get_bind().dialect.name == "postgresql"
    role = await uow.session.get(CustomRole, role_id, with_for_update=lock and postgres)
    if role is None:
        raise DomainError.of("NOT_FOUND", "No such custom role.", "roleId")
    return role


async def _assignments(uow: UnitOfWork, role_id: int) -> list[CustomRoleAssignment]:
    return list(
        (
            await uow.session.execute(
                select(CustomRoleAssignment).where(CustomRoleAssignment.role_id == role_id)
            )
        ).scalars()
    )


async def _reach(uow: UnitOfWork, scope: Scope) -> Reach:
    """The reach of a scope (a mission's batch included); NOT_FOUND if it names nothing."""
    if scope.batch_id is not None:
        if await uow.session.get(Batch, scope.batch_id) is None:
            raise DomainError.of("NOT_FOUND", "No such batch.", "batchId")
        return Reach(batch_id=scope.batch_id)
    if scope.mission_id is not None:
        reach = await reach_of_mission(uow.session, scope.mission_id)
        if reach.mission_id is None:
            raise DomainError.of("NOT_FOUND", "No such mission.", "missionId")
        return reach
    return Reach()


def _held_within(viewer: Viewer, wanted: frozenset[Permission], reach: Reach) -> list[str]:
    """Permissions the viewer does not hold there (everywhere, for ``Reach()``)."""
    return sorted(p.value for p in wanted if not viewer.can(p, within=reach))


async def _not_held_where_given(
    uow: UnitOfWork,
    viewer: Viewer,
    wanted: frozenset[Permission],
    assignments: list[CustomRoleAssignment],
    *,
    everywhere: bool,
) -> list[str]:
    """Of ``wanted``, what the viewer does not hold wherever the role is given (and
    everywhere, if ``everywhere``)."""
    if all(viewer.can(p) for p in wanted):
        return []  # held everywhere: held wherever the role is
    not_held = set(_not_held(viewer, wanted)) if everywhere else set()
    for a in assignments:
        scope = Scope(a.batch_id, a.mission_id)
        not_held |= set(_held_within(viewer, wanted, await _reach(uow, scope)))
    return sorted(not_held)


async def update_role(
    rt: Runtime,
    uow: UnitOfWork,
    viewer: Viewer,
    role_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    permissions: list[str] | None = None,
) -> CustomRole:
    """Rename, describe or change the permissions of a role (for every holder at once)."""
    viewer.require(Permission.ROLES_ASSIGN)
    role = await _role(uow, role_id, lock=True)
    problems = Problems()
    clean = check_text(
        problems, name, field="name", max_length=NAME_MAX, min_length=1, label="Name"
    )
    text = check_text(
        problems, description, field="description", max_length=DESCRIPTION_MAX,
        label="The description",
    )  # fmt: skip
    wanted = None if permissions is None else _parse_permissions(problems, permissions)
    if clean and not problems.items and await _by_name(uow, clean, exclude=role.id):
        problems.add("NAME_TAKEN", "A custom role of that name exists already.", "name")
    before = permissions_from(role.permissions)
    added = frozenset() if wanted is None else wanted - before
    removed = frozenset() if wanted is None else before - wanted
    # Adding or taking away: only what the viewer holds themselves, wherever it is held.
    changed = added | removed
    assignments = await _assignments(uow, role.id) if changed else []
    unscopable = sorted(p.value for p in added if p not in SCOPABLE_PERMISSIONS)
    if unscopable and any(a.scope_key for a in assignments):
        problems.add(
            "UNSCOPABLE_PERMISSION",
            "This role is held within batches or missions, and these permissions can only "
            "be held everywhere: " + ", ".join(unscopable) + ".",
            "permissions",
        )
    problems.raise_if_any()
    not_held = await _not_held_where_given(uow, viewer, changed, assignments, everywhere=True)
    if not_held:
        raise await _refuse(
            rt, uow, "update",
            {"role": role.id, "name": role.name, "not_held": not_held},
            DomainError.of(
                "PERMISSION_NOT_HELD",
                "You can only add or remove permissions you hold yourself, wherever the role "
                "is held: "
                + ", ".join(not_held) + ".",
                "permissions",
            ),
        )  # fmt: skip
    details: dict[str, Any] = {}
    if clean is not None and clean != role.name:
        details["name"] = {"from": role.name, "to": clean}
        role.name, role.name_lower = clean, clean.lower()
    if text is not None and text != role.description:
        details["description"] = True
        role.description = text
    if wanted is not None and wanted != before:
        details["permissions"] = {
            "added": sorted(p.value for p in added),
            "removed": sorted(p.value for p in removed),
        }
        role.permissions = sorted(p.value for p in wanted)
    if details:
        role.updated_at = datetime.now(UTC)
        audit.record(
            uow, "custom_role.update", object_type="CustomRole", object_ids=[role.id],
            details=details,
        )  # fmt: skip
    return role


async def delete_role(rt: Runtime, uow: UnitOfWork, viewer: Viewer, role_id: int) -> int:
    """Delete a role and take it from everyone who holds it: only someone who holds all of
    its permissions wherever it is held."""
    viewer.require(Permission.ROLES_ASSIGN)
    role = await _role(uow, role_id, lock=True)
    holders = await _assignments(uow, role.id)
    granted = permissions_from(role.permissions)
    not_held = await _not_held_where_given(uow, viewer, granted, holders, everywhere=not holders)
    if not_held:
        raise await _refuse(
            rt, uow, "delete",
            {"role": role.id, "name": role.name, "not_held": not_held},
            DomainError.of(
                "PERMISSION_NOT_HELD",
                "You can only delete a role whose permissions you hold yourself, wherever it "
                "is held: " + ", ".join(not_held) + ".",
                "id",
            ),
        )  # fmt: skip
    details = {
        "name": role.name,
        "permissions": {"added": [], "removed": list(role.permissions)},
        "assignments": [
            {"user": a.user_id, "batch": a.batch_id, "mission": a.mission_id} for a in holders
        ],
    }
    await uow.session.execute(
        delete(CustomRoleAssignment).where(CustomRoleAssignment.role_id == role.id)
    )
    await uow.session.delete(role)
    audit.record(
        uow, "custom_role.delete", object_type="CustomRole", object_ids=[role_id], details=details
    )
    return role_id


def _scope_of(problems: Problems, batch_id: int | None, mission_id: int | None) -> Scope:
    if batch_id is not None and mission_id is not None:
        problems.add(
            "INVALID_SCOPE", "Give a batch or a mission, not both.", ("scope", "missionId")
        )
    return Scope(batch_id, mission_id if batch_id is None else None)


async def assign_role(
    rt: Runtime,
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    user_id: int,
    role_id: int,
    batch_id: int | None = None,
    mission_id: int | None = None,
) -> CustomRoleAssignment:
    """Give a user a custom role, everywhere or within one batch or mission (giving it
    again changes nothing)."""
    viewer.require(Permission.ROLES_ASSIGN)
    problems = Problems()
    scope = _scope_of(problems, batch_id, mission_id)
    problems.raise_if_any()
    role = await _role(uow, role_id, lock=True)
    if await uow.session.get(User, user_id) is None:
        raise DomainError.of("NOT_FOUND", "No such user.", "userId")
    reach = await _reach(uow, scope)
    granted = permissions_from(role.permissions)
    unscopable = sorted(p.value for p in granted if p not in SCOPABLE_PERMISSIONS)
    if unscopable and not scope.everywhere:
        raise DomainError.of(
            "UNSCOPABLE_PERMISSION",
            "This role has permissions that can only be held everywhere, not within a batch "
            "or mission: " + ", ".join(unscopable) + ".",
            "scope",
        )
    not_held = _held_within(viewer, granted, reach)
    where = {"batch": scope.batch_id, "mission": scope.mission_id}
    if not_held:
        raise await _refuse(
            rt, uow, "assign",
            {"role": role.id, "user": user_id, **where, "not_held": not_held},
            DomainError.of(
                "SCOPE_NOT_HELD",
                "You can only give a role where you hold all of its permissions yourself; "
                "there you do not hold " + ", ".join(not_held) + ".",
                "scope",
            ),
        )  # fmt: skip
    existing = (
        await uow.session.execute(
            select(CustomRoleAssignment).where(
                CustomRoleAssignment.user_id == user_id,
                CustomRoleAssignment.role_id == role.id,
                CustomRoleAssignment.scope_key == scope.key,
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    assignment = CustomRoleAssignment(
        user_id=user_id,
        role_id=role.id,
        batch_id=scope.batch_id,
        mission_id=scope.mission_id,
        scope_key=scope.key,
        assigned_by_id=viewer.user_id,
    )
    uow.session.add(assignment)
    await uow.session.flush()
    audit.record(
        uow,
        "custom_role.assign",
        object_type="User",
        object_ids=[user_id],
        details={
            "role": role.id,
            "name": role.name,
            "assignment": assignment.id,
            **where,
            "permissions": {"added": list(role.permissions), "removed": []},
        },
    )
    return assignment


async def revoke_role(
    rt: Runtime,
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    assignment_id: int | None = None,
    user_id: int | None = None,
    role_id: int | None = None,
    batch_id: int | None = None,
    mission_id: int | None = None,
) -> CustomRoleAssignment:
    """Take a custom role back: by its assignment, or by user, role and scope."""
    viewer.require(Permission.ROLES_ASSIGN)
    problems = Problems()
    scope = _scope_of(problems, batch_id, mission_id)
    if assignment_id is None and (user_id is None or role_id is None):
        problems.add(
            "REQUIRED", "Give the assignment, or the user and the role (and its scope).",
            "assignmentId",
        )  # fmt: skip
    problems.raise_if_any()
    query = select(CustomRoleAssignment)
    if assignment_id is not None:
        query = query.where(CustomRoleAssignment.id == assignment_id)
    else:
        query = query.where(
            CustomRoleAssignment.user_id == user_id,
            CustomRoleAssignment.role_id == role_id,
            CustomRoleAssignment.scope_key == scope.key,
        )
    assignment = (await uow.session.execute(query)).scalar_one_or_none()
    if assignment is None:
        raise DomainError.of(
            "NOT_FOUND", "That user does not hold that role there.",
            "assignmentId" if assignment_id is not None else "roleId",
        )  # fmt: skip
    role = await _role(uow, assignment.role_id)
    scope = Scope(assignment.batch_id, assignment.mission_id)
    granted = permissions_from(role.permissions)
    not_held = _held_within(viewer, granted, await _reach(uow, scope))
    if not_held:
        raise await _refuse(
            rt, uow, "revoke",
            {"role": role.id, "user": assignment.user_id, "batch": assignment.batch_id,
             "mission": assignment.mission_id, "not_held": not_held},
            DomainError.of(
                "SCOPE_NOT_HELD",
                "You can only take back a role where you hold all of its permissions "
                "yourself; there you do not hold " + ", ".join(not_held) + ".",
                "assignmentId" if assignment_id is not None else "roleId",
            ),
        )  # fmt: skip
    # Deleted as an object, so that only its holder's cached credentials are forgotten.
    await uow.session.delete(assignment)
    await uow.session.flush()
    audit.record(
        uow,
        "custom_role.revoke",
        object_type="User",
        object_ids=[assignment.user_id],
        details={
            "role": role.id,
            "name": role.name,
            "assignment": assignment.id,
            "batch": assignment.batch_id,
            "mission": assignment.mission_id,
            "permissions": {"added": [], "removed": list(role.permissions)},
        },
    )
    return assignment


# --- reading ------------------------------------------------------------------------------


def may_read_roles(viewer: Viewer) -> bool:
    return viewer.can(Permission.ROLES_ASSIGN) or viewer.can(Permission.USERS_READ)


@dataclass(frozen=True)
class PermissionCheck:
    allowed: bool
    reasons: list[str]


async def _place_names(
    db: Reader, batches: set[int], missions: set[int]
) -> tuple[dict[int, str], dict[int, tuple[str, int]]]:
    async with db.connect() as conn:
        b = (
            {i: str(c) for i, c in (await conn.execute(
                select(Batch.id, Batch.code).where(Batch.id.in_(batches)))).all()}
            if batches else {}
        )  # fmt: skip
        m = (
            {i: (str(c), int(bi)) for i, c, bi in (await conn.execute(
                select(Mission.id, Mission.code, Mission.batch_id)
                .where(Mission.id.in_(missions)))).all()}
            if missions else {}
        )  # fmt: skip
    return b, m


async def permission_check(
    db: Reader,
    viewer: Viewer,
    *,
    user_id: int,
    permission: Permission,
    batch_id: int | None = None,
    mission_id: int | None = None,
    two_factor_roles: frozenset[Role] = frozenset(),
) -> PermissionCheck | None:
    """Whether the user may use ``permission`` (everywhere, or for an object of the batch
    or mission given), and why, in plain words. None if the viewer may not ask or the
    user does not exist. ``two_factor_roles``: the roles that need two-factor sign-in
    (``two_factor.required_roles``): those, and custom roles, work only through a
    credential that passed it, and not at all before the user has enrolled."""
    if not may_read_roles(viewer):
        return None
    async with db.connect() as conn:
        user = (
            await conn.execute(
                select(User.id, User.status, User.two_factor_enabled_at).where(User.id == user_id)
            )
        ).one_or_none()
        if user is None:
            return None
        roles = sorted(
            Role(r)
            for r in (
                await conn.execute(select(UserRole.role).where(UserRole.user_id == user_id))
            ).scalars()
            if r in Role.__members__
        )
        grants = (
            await conn.execute(
                select(
                    CustomRoleAssignment.batch_id,
                    CustomRoleAssignment.mission_id,
                    CustomRole.name,
                    CustomRole.permissions,
                )
                .join(CustomRole, CustomRole.id == CustomRoleAssignment.role_id)
                .where(CustomRoleAssignment.user_id == user_id)
                .order_by(CustomRoleAssignment.id)
            )
        ).all()
    batch_names, mission_names = await _place_names(
        db,
        {g.batch_id for g in grants if g.batch_id} | ({batch_id} if batch_id else set()),
        {g.mission_id for g in grants if g.mission_id} | ({mission_id} if mission_id else set()),
    )
    if batch_id is not None and batch_id not in batch_names:
        raise DomainError.of("NOT_FOUND", "No such batch.", ("scope", "batchId"))
    if mission_id is not None and mission_id not in mission_names:
        raise DomainError.of("NOT_FOUND", "No such mission.", ("scope", "missionId"))
    if mission_id is not None:
        reach = Reach(batch_id=mission_names[mission_id][1], mission_id=mission_id)
    else:
        reach = Reach(batch_id=batch_id)
    here = (
        f"in mission {mission_names[mission_id][0]}" if mission_id is not None
        else f"in batch {batch_names[batch_id]}" if batch_id is not None
        else "everywhere"
    )  # fmt: skip

    def place(b: int | None, m: int | None) -> str:
        if b is not None:
            return f"batch {batch_names.get(b, b)}"
        return f"mission {mission_names[m][0] if m in mission_names else m}"

    reasons: list[str] = []
    allowed = False
    # Through a role that needs the second factor (or a custom role, while any does): only
    # from a sign-in that passed it, and not at all before enrolling.
    enrolled = user.two_factor_enabled_at is not None
    needs_second_factor = False
    for role in roles:
        if permission in ROLE_PERMISSIONS.get(role, frozenset()):
            reasons.append(f"The built-in role {role.value} grants {permission.value} everywhere.")
            if role in two_factor_roles:
                needs_second_factor = True
            else:
                allowed = True
    by_built_in = allowed
    for assignment in grants:
        name, values = assignment.name, assignment.permissions
        if permission.value not in (values or ()):
            continue
        if assignment.batch_id is None and assignment.mission_id is None:
            allowed = True
            reasons.append(f"The custom role {name!r} grants {permission.value} everywhere.")
            continue
        where = place(assignment.batch_id, assignment.mission_id)
        covers = (
            reach.batch_id == assignment.batch_id
            if assignment.batch_id is not None
            else reach.mission_id == assignment.mission_id
        )
        if covers:
            allowed = True
            reasons.append(f"The custom role {name!r} grants {permission.value} within {where}.")
        else:
            reasons.append(
                f"The custom role {name!r} grants {permission.value} only within {where}, "
                f"not {here}."
            )
    if two_factor_roles and not by_built_in and (allowed or needs_second_factor):
        if enrolled:
            allowed = True
            reasons.append(
                "Only from a sign-in with their second factor (or a token made by one): the "
                "role that grants it requires two-factor sign-in."
            )
        else:
            allowed = False
            reasons.append(
                "Not until they turn two-factor sign-in on: the role that grants it "
                "requires it (twoFactorEnroll)."
            )
    if not reasons:
        reasons.append(f"None of their roles, built-in or custom, grants {permission.value}.")
    if user.status != "active":
        allowed = False
        reasons.insert(0, f"The user is {user.status}: they can do nothing until reactivated.")
    if allowed and permission in ADMIN_PERMISSIONS:
        reasons.append(
            "Their personal access tokens of scope READ or WRITE do not carry it "
            "(only a sign-in or an ADMIN token does)."
        )
    elif allowed:
        reasons.append("Their personal access tokens of scope READ do not carry it for changes.")
    return PermissionCheck(allowed, reasons)
