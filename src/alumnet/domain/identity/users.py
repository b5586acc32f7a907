"""Users: creation, profile changes, suspension, roles; registration and recovery."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2.exceptions import HashingError, InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, delete, func, insert, select, union, update
from sqlalchemy.exc import IntegrityError

from alumnet.config import Settings
from alumnet.domain.errors import (
    DomainError,
    NotAuthenticated,
    PermissionDenied,
    Problems,
    check_text,
)
from alumnet.domain.identity import audit, mail
from alumnet.domain.identity.permissions import (
    ROLE_PERMISSIONS,
    SELF_REGISTERABLE_ROLES,
    Permission,
    Role,
    Viewer,
)
from alumnet.domain.identity.secrets import digest, new_secret
from alumnet.domain.ops import webhooks
from alumnet.domain.people.profiles import refresh_years_of_record
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import (
    CustomRole,
    CustomRoleAssignment,
    Mission,
    OneTimeToken,
    OutboundEmail,
    PersonalAccessToken,
    Session,
    User,
    UserRole,
)
from alumnet.persistence.uow import UnitOfWork

EMAIL_MAX = 254
NAME_MAX = 200
PASSWORD_MIN = 10
PASSWORD_MAX = 256
_EMAIL_RE = re.compile(
    r"^[^@\s\"'<>(),;:\\\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)

PURPOSE_VERIFY = "email_verify"
PURPOSE_RESET = "password_reset"
PURPOSE_EMAIL_CHANGE = "email_change"

ACTIVE = "active"
SUSPENDED = "suspended"
DELETED = "deleted"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_email(problems: Problems, email: str, field: str = "email") -> str:
    cleaned = email.strip()
    if not cleaned:
        problems.add("REQUIRED", "E-mail address is required.", field)
    elif len(cleaned) > EMAIL_MAX:
        problems.add("TOO_LONG", f"E-mail address must be at most {EMAIL_MAX} characters.", field)
    elif not _EMAIL_RE.match(cleaned):
        problems.add("INVALID_EMAIL", "This is not a valid e-mail address.", field)
    return cleaned


def check_password(
    problems: Problems, password: str, *, email: str | None = None, field: str = "password"
) -> None:
    if len(password) < PASSWORD_MIN:
        problems.add(
            "PASSWORD_TOO_SHORT", f"Password must be at least {PASSWORD_MIN} characters.", field
        )
    elif len(password) > PASSWORD_MAX:
        problems.add("TOO_LONG", f"Password must be at most {PASSWORD_MAX} characters.", field)
    elif password.strip() == "" or (email and password.strip().lower() == email.strip().lower()):
        problems.add(
            "PASSWORD_TOO_WEAK", "Choose a password that is not your e-mail address.", field
        )


async def hash_password(rt: Runtime, password: str) -> str:
    """The password's argon2 hash, computed off the event loop (it takes tens of
    milliseconds of CPU on purpose: other requests go on meanwhile)."""
    try:
        return await asyncio.to_thread(rt.hasher.hash, password)
    except HashingError as exc:  # pragma: no cover - argon2 fails only on bad parameters
        raise DomainError.of("INVALID", "The password could not be stored.", "password") from exc


async def password_matches(rt: Runtime, hashed: str | None, password: str) -> bool:
    """Whether ``password`` is the one behind ``hashed``, checked off the event loop. With
    no hash, a hash is still checked, so that the answer takes as long either way."""

    def verify() -> bool:
        try:
            return bool(rt.hasher.verify(hashed or dummy_hash(rt), password)) and bool(hashed)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


# A real argon2id hash of a random string, checked where there is no account, so that a
# wrong address costs as much time as a wrong password.
_DUMMY_PASSWORD = "alumnet-no-such-account"
_dummy_cache: dict[tuple[int, int], str] = {}


def dummy_hash(rt: Runtime) -> str:
    key = (rt.settings.argon2_memory_kib, rt.settings.argon2_time_cost)
    if key not in _dummy_cache:
        _dummy_cache[key] = rt.hasher.hash(_DUMMY_PASSWORD)
    return _dummy_cache[key]


async def holders_of(
    uow: UnitOfWork,
    permission: Permission,
    *,
    mission_id: int | None = None,
    everywhere: bool = False,
) -> Any:
    """The ids of users who hold ``permission``, as a SELECT: through a built-in role, or
    a custom role held everywhere; and with ``mission_id``, a custom role held within that
    mission or its batch (without: within anywhere, unless ``everywhere``: only those
    held everywhere, for what no scope narrows, such as the moderation queue)."""
    roles = [r.value for r, granted in ROLE_PERMISSIONS.items() if permission in granted]
    built_in = select(UserRole.user_id).where(UserRole.role.in_(roles))
    # Custom roles are few: those that carry it are found here, not in JSON by SQL.
    carrying = [
        role_id
        for role_id, granted in (
            await uow.session.execute(select(CustomRole.id, CustomRole.permissions))
        ).all()
        if permission.value in (granted or ())
    ]
    if not carrying:
        return built_in
    held: ColumnElement[bool] = CustomRoleAssignment.role_id.in_(carrying)
    if everywhere:
        held &= CustomRoleAssignment.scope_key == ""
    elif mission_id is not None:
        batch = select(Mission.batch_id).where(Mission.id == mission_id).scalar_subquery()
        held &= (
            (CustomRoleAssignment.scope_key == "")
            | (CustomRoleAssignment.mission_id == mission_id)
            | (CustomRoleAssignment.batch_id == batch)
        )
    return union(built_in, select(CustomRoleAssignment.user_id).where(held))


async def get_user(uow: UnitOfWork, user_id: int) -> User | None:
    return await uow.session.get(User, user_id)


async def user_by_email(uow: UnitOfWork, email: str) -> User | None:
    result = await uow.session.execute(
        select(User).where(User.email_lower == normalise_email(email))
    )
    return result.scalar_one_or_none()


async def roles_of(uow: UnitOfWork, user_id: int) -> list[Role]:
    result = await uow.session.execute(select(UserRole.role).where(UserRole.user_id == user_id))
    return sorted(Role(r) for r in result.scalars())


async def _email_taken(uow: UnitOfWork, email: str, *, except_id: int | None = None) -> bool:
    query = select(func.count()).select_from(User).where(User.email_lower == normalise_email(email))
    if except_id is not None:
        query = query.where(User.id != except_id)
    return bool((await uow.session.execute(query)).scalar_one())


async def _new_one_time_token(
    uow: UnitOfWork, user: User, purpose: str, ttl_seconds: int, new_email: str | None = None
) -> str:
    token = new_secret()
    uow.session.add(
        OneTimeToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=digest(token),
            expires_at=datetime.now(UTC) + timedelta(seconds=ttl_seconds),
            new_email=new_email,
        )
    )
    return token


INVITATION_TTL = timedelta(days=7)


async def invite(
    uow: UnitOfWork, settings: Settings, people: Sequence[tuple[int, str, str]]
) -> None:
    """Invitation e-mails to people created without a password (by an admin, or by an
    import), each with a one-time link to choose one (valid a week): a few statements
    and one e-mail job per hundred people, however many."""
    if not people:
        return
    now = datetime.now(UTC)
    tokens = [new_secret() for _ in people]
    await uow.session.execute(insert(OneTimeToken), [
        {"user_id": user_id, "purpose": PURPOSE_RESET, "token_hash": digest(token),
         "created_at": now, "expires_at": now + INVITATION_TTL}
        for (user_id, _, _), token in zip(people, tokens, strict=True)
    ])  # fmt: skip
    made = await uow.session.execute(
        insert(OutboundEmail).returning(OutboundEmail.id, sort_by_parameter_order=True), [
            {"user_id": user_id, "to_address": email, "subject": "Your alumnet account",
             "text_body": mail.invitation_body(settings, name, token), "template": "invitation",
             "created_at": now}
            for (user_id, email, name), token in zip(people, tokens, strict=True)
        ],
    )  # fmt: skip
    await mail.queue_sending(uow, [int(i) for i in made.scalars()])


async def revoke_sessions(uow: UnitOfWork, user_id: int, reason: str) -> None:
    await uow.session.execute(
        update(Session)
        .where(Session.user_id == user_id, Session.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC), revoked_reason=reason)
    )


# --- admin -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewUser:
    email: str
    name: str
    roles: list[Role]
    password: str | None = None
    email_verified: bool = False


async def create_user(rt: Runtime, uow: UnitOfWork, viewer: Viewer, data: NewUser) -> User:
    """A user of any roles, made by a user manager (``userCreate``)."""
    viewer.require(Permission.USERS_MANAGE)
    return await _add_person(rt, uow, data)


async def create_student(
    rt: Runtime, uow: UnitOfWork, actor: Viewer, email: str, name: str, *, via: str
) -> User:
    """A STUDENT account, made the way ``create_user`` makes one (checks, the account, its
    invitation e-mail, the audit row as ``actor``) but without ``users:manage``: for a
    caller that has checked its own permission first (admissions' conversion checks
    ``admissions``; ``via`` names it in the audit row). Only ever a STUDENT, never with a
    password; a read-only token is refused."""
    actor.require_user()
    if not actor.may_write:
        raise PermissionDenied("write")
    data = NewUser(email=email, name=name, roles=[Role.STUDENT])
    return await _add_person(rt, uow, data, via=via)


async def _add_person(
    rt: Runtime, uow: UnitOfWork, data: NewUser, *, via: str | None = None
) -> User:
    """The one way staff make a user: checked, inserted, invited (without a password),
    audited. Callers check who may."""
    problems = Problems()
    email = check_email(problems, data.email)
    name = check_text(
        problems, data.name, field="name", max_length=NAME_MAX, min_length=1, label="Name"
    )
    if not data.roles:
        problems.add("REQUIRED", "Give the user at least one role.", "roles")
    if data.password is not None:
        check_password(problems, data.password, email=email)
    problems.raise_if_any()
    if await _email_taken(uow, email):
        raise DomainError.of("EMAIL_TAKEN", "A user with this e-mail address exists.", "email")
    user = await _insert_user(
        uow,
        email=email,
        name=name or "",
        roles=data.roles,
        password_hash=await hash_password(rt, data.password) if data.password else None,
        verified=data.email_verified,
    )
    if data.password is None:
        await invite(uow, rt.settings, [(user.id, user.email, user.name)])
    audit.record(
        uow,
        "user.create",
        object_type="User",
        object_ids=[user.id],
        details={"roles": sorted(r.value for r in data.roles), **({"via": via} if via else {})},
    )
    return user


async def _insert_user(
    uow: UnitOfWork,
    *,
    email: str,
    name: str,
    roles: list[Role],
    password_hash: str | None,
    verified: bool,
) -> User:
    now = datetime.now(UTC)
    user = User(
        email=email,
        email_lower=normalise_email(email),
        name=name,
        status=ACTIVE,
        password_hash=password_hash,
        email_verified_at=now if verified else None,
    )
    uow.session.add(user)
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        raise DomainError.of(
            "EMAIL_TAKEN", "A user with this e-mail address exists.", "email"
        ) from exc
    for role in sorted(set(roles)):
        uow.session.add(UserRole(user_id=user.id, role=role.value))
    await uow.session.flush()
    await webhooks.emit(uow, webhooks.EventType.USER_CREATED, {
        "id": webhooks.gid("User", user.id), "roles": sorted(r.value for r in set(roles)),
    })  # fmt: skip
    return user


async def _target(uow: UnitOfWork, user_id: int) -> User:
    user = await uow.session.get(User, user_id)
    if user is None or user.status == DELETED:
        raise DomainError.of("NOT_FOUND", "No such user.", "id")
    return user


GRADUATION_YEARS = range(1900, 2201)
PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{5,30}$")


def check_phone(problems: Problems, phone: str, field: str = "phone") -> str:
    """A phone number trimmed; empty (none) is allowed, else it must look like one."""
    cleaned = phone.strip()
    if cleaned and not PHONE.match(cleaned):
        problems.add(
            "INVALID_PHONE", "A phone number is digits, spaces, ()- and a leading +.", field
        )
    return cleaned


async def update_user(
    uow: UnitOfWork,
    viewer: Viewer,
    user_id: int,
    *,
    name: str | None,
    email: str | None,
    phone: str | None = None,
    graduation_year: int | None = None,
) -> User:
    viewer.require(Permission.USERS_MANAGE)
    user = await _target(uow, user_id)
    problems = Problems()
    new_name = check_text(
        problems, name, field="name", max_length=NAME_MAX, min_length=1, label="Name"
    )
    new_email = check_email(problems, email) if email is not None else None
    new_phone = check_phone(problems, phone) if phone is not None else None
    if (
        graduation_year is not None
        and graduation_year != 0
        and not (GRADUATION_YEARS[0] <= graduation_year <= GRADUATION_YEARS[-1])
    ):
        problems.add(
            "INVALID", "A graduation year runs from 1900 to 2200 (0 removes it).", "graduationYear"
        )
    problems.raise_if_any()
    changes: dict[str, str] = {}
    if graduation_year is not None and (graduation_year or None) != user.staff_graduation_year:
        # Set by staff: the year on record, which announcements go by.
        changes["graduationYear"] = str(graduation_year or "")
        user.graduation_year = user.staff_graduation_year = graduation_year or None
        await refresh_years_of_record(uow, [user.id])
    if new_phone is not None and (new_phone or None) != user.phone:
        changes["phone"] = "changed"
        user.phone = new_phone or None
    if new_name is not None and new_name != user.name:
        changes["name"] = new_name
        user.name = new_name
    if new_email is not None and new_email != user.email:
        if await _email_taken(uow, new_email, except_id=user.id):
            raise DomainError.of("EMAIL_TAKEN", "A user with this e-mail address exists.", "email")
        changes["email"] = new_email
        user.email = new_email
        user.email_lower = normalise_email(new_email)
        user.email_verified_at = None
    if changes:
        user.updated_at = datetime.now(UTC)
        audit.record(
            uow,
            "user.update",
            object_type="User",
            object_ids=[user.id],
            details={"changed": sorted(changes)},
        )
        await webhooks.emit(uow, webhooks.EventType.USER_UPDATED, {
            "id": webhooks.gid("User", user.id), "changed": sorted(changes),
        })  # fmt: skip
    return user


async def set_status(
    uow: UnitOfWork, viewer: Viewer, user_id: int, status: str, reason: str | None = None
) -> User:
    actor = viewer.require(Permission.USERS_MANAGE)
    problems = Problems()
    reason = check_text(problems, reason, field="reason", max_length=500, label="Reason")
    problems.raise_if_any()
    user = await _target(uow, user_id)
    if user.id == actor and status != ACTIVE:
        raise DomainError.of("CANNOT_SUSPEND_SELF", "You cannot suspend your own account.", "id")
    if user.status == status:
        return user
    previous = user.status
    user.status = status
    user.updated_at = datetime.now(UTC)
    if status != ACTIVE:
        await revoke_sessions(uow, user.id, "suspended")
    audit.record(
        uow,
        "user.suspend" if status == SUSPENDED else "user.reactivate",
        object_type="User",
        object_ids=[user.id],
        details={"from": previous, "to": status, "reason": reason},
    )
    return user


async def set_roles(uow: UnitOfWork, viewer: Viewer, user_id: int, roles: list[Role]) -> User:
    actor = viewer.require(Permission.ROLES_ASSIGN)
    if not roles:
        raise DomainError.of("REQUIRED", "Give the user at least one role.", "roles")
    user = await _target(uow, user_id)
    wanted = set(roles)
    current = set(await roles_of(uow, user.id))
    if user.id == actor and Role.ADMIN in current and Role.ADMIN not in wanted:
        raise DomainError.of(
            "CANNOT_DEMOTE_SELF", "You cannot remove the ADMIN role from yourself.", "roles"
        )
    if current == wanted:
        return user
    # Since custom roles, roles:assign is not only the ADMIN's: a built-in role carries
    # powers beyond its permissions (staff privacy levels, messaging, budgets), so only
    # an ADMIN, or someone who holds the role themselves, gives or takes it.
    beyond = {r for r in wanted ^ current if r not in viewer.roles}
    if Role.ADMIN not in viewer.roles and beyond:
        raise PermissionDenied(Permission.ROLES_ASSIGN.value)
    await uow.session.execute(
        delete(UserRole).where(
            UserRole.user_id == user.id, UserRole.role.in_([r.value for r in current - wanted])
        )
    )
    for role in sorted(wanted - current):
        uow.session.add(UserRole(user_id=user.id, role=role.value))
    user.updated_at = datetime.now(UTC)
    audit.record(
        uow,
        "user.roles_set",
        object_type="User",
        object_ids=[user.id],
        details={"from": sorted(r.value for r in current), "to": sorted(r.value for r in wanted)},
    )
    return user


# --- self-service -----------------------------------------------------------------------


async def register(
    rt: Runtime, uow: UnitOfWork, *, email: str, name: str, password: str, role: Role
) -> None:
    """Creates the account and e-mails a verification link.

    An address that already has an account gets an e-mail saying so instead (one a day at
    most), and the caller sees the same answer, after the same work (the password is hashed
    either way), so registration cannot probe for accounts. A client address may register
    ``registrations_per_address`` times an hour.
    """
    address_key = f"register:address:{client_key(uow.origin.ip)}"
    if await rt.failures.count(address_key) >= rt.settings.registrations_per_address:
        raise DomainError.of(
            "THROTTLED", "Too many registrations from your network: try again in an hour."
        )
    problems = Problems()
    email = check_email(problems, email)
    clean_name = check_text(
        problems, name, field="name", max_length=NAME_MAX, min_length=1, label="Name"
    )
    check_password(problems, password, email=email)
    if role not in SELF_REGISTERABLE_ROLES:
        problems.add("ROLE_NOT_ALLOWED", "You can register as a STUDENT or an ALUMNUS.", "role")
    problems.raise_if_any()
    await rt.failures.add(address_key, window=3600)
    password_hash = await hash_password(rt, password)
    existing = await user_by_email(uow, email)
    if existing is not None:
        told = f"register:told:{existing.id}"
        if not await rt.failures.held(told):
            await rt.failures.hold(told, 24 * 3600)
            await mail.queue_email(
                uow,
                user=existing,
                template="already_registered",
                subject="You already have an alumnet account",
                body=mail.already_registered_body(rt.settings, existing),
            )
        audit.record(
            uow,
            "user.register_existing",
            object_type="User",
            object_ids=[existing.id],
            actor_id=None,
        )
        return
    user = await _insert_user(
        uow,
        email=email,
        name=clean_name or "",
        roles=[role],
        password_hash=password_hash,
        verified=False,
    )
    token = await _new_one_time_token(
        uow, user, PURPOSE_VERIFY, rt.settings.email_token_ttl_seconds
    )
    await mail.queue_email(
        uow,
        user=user,
        template="email_verify",
        subject="Confirm your e-mail address",
        body=mail.verification_body(rt.settings, user, token),
    )
    audit.record(
        uow,
        "user.register",
        object_type="User",
        object_ids=[user.id],
        actor_id=user.id,
        details={"role": role.value},
    )


LINK_PURPOSES = {
    "verify-email": PURPOSE_VERIFY,
    "reset-password": PURPOSE_RESET,
    "confirm-email": PURPOSE_EMAIL_CHANGE,
}


async def link_state(executor: Any, token: str, purpose: str) -> str:
    """What an e-mailed link's token is worth, without using it: ``valid``, ``used``, or
    ``invalid`` (expired, unknown or forged: one answer, so that a forged link learns
    nothing more than an expired one)."""
    if not token or len(token) > 200:
        return "invalid"
    row = (
        await executor.execute(
            select(OneTimeToken.used_at, OneTimeToken.expires_at).where(
                OneTimeToken.token_hash == digest(token.strip()), OneTimeToken.purpose == purpose
            )
        )
    ).first()
    if row is None:
        return "invalid"
    if row.used_at is not None:
        return "used"
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    return "valid" if expires > datetime.now(UTC) else "invalid"


async def _consume(uow: UnitOfWork, token: str, purpose: str) -> OneTimeToken:
    if not token or len(token) > 200:
        raise DomainError.of("INVALID_TOKEN", "This link is invalid or has expired.", "token")
    row = (
        await uow.session.execute(
            select(OneTimeToken).where(
                OneTimeToken.token_hash == digest(token.strip()), OneTimeToken.purpose == purpose
            )
        )
    ).scalar_one_or_none()
    now = datetime.now(UTC)
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise DomainError.of("INVALID_TOKEN", "This link is invalid or has expired.", "token")
    claimed = await uow.session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == row.id, OneTimeToken.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError.of("INVALID_TOKEN", "This link is invalid or has expired.", "token")
    return row


async def verify_email(uow: UnitOfWork, token: str) -> User:
    row = await _consume(uow, token, PURPOSE_VERIFY)
    user = await _target(uow, row.user_id)
    if user.email_verified_at is None:
        user.email_verified_at = datetime.now(UTC)
    audit.record(
        uow, "user.email_verify", object_type="User", object_ids=[user.id], actor_id=user.id
    )
    return user


async def request_password_reset(rt: Runtime, uow: UnitOfWork, email: str) -> None:
    """Always looks the same to the caller, whether or not the address exists."""
    problems = Problems()
    email = check_email(problems, email)
    problems.raise_if_any()
    user = await user_by_email(uow, email)
    if user is None or user.status != ACTIVE:
        return
    key = f"reset:{user.id}"
    if await rt.failures.count(key) >= 3:
        return
    await rt.failures.add(key)
    token = await _new_one_time_token(
        uow, user, PURPOSE_RESET, rt.settings.password_reset_ttl_seconds
    )
    await mail.queue_email(
        uow,
        user=user,
        template="password_reset",
        subject="Reset your alumnet password",
        body=mail.password_reset_body(rt.settings, user, token),
    )
    audit.record(
        uow, "user.password_reset_request", object_type="User", object_ids=[user.id], actor_id=None
    )


async def reset_password(rt: Runtime, uow: UnitOfWork, token: str, password: str) -> User:
    problems = Problems()
    check_password(problems, password)
    problems.raise_if_any()
    row = await _consume(uow, token, PURPOSE_RESET)
    user = await _target(uow, row.user_id)
    if user.status != ACTIVE:
        raise DomainError.of("INVALID_TOKEN", "This link is invalid or has expired.", "token")
    problems = Problems()
    check_password(problems, password, email=user.email)
    problems.raise_if_any()
    user.password_hash = await hash_password(rt, password)
    user.updated_at = datetime.now(UTC)
    # Whoever could read the e-mail can now sign in: the address is proven.
    if user.email_verified_at is None:
        user.email_verified_at = datetime.now(UTC)
    await uow.session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user.id,
            OneTimeToken.purpose == PURPOSE_RESET,
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=datetime.now(UTC))
    )
    await revoke_sessions(uow, user.id, "password_reset")
    await revoke_all_personal_access_tokens(uow, user, "password_reset")
    await rt.failures.clear(f"signin:account:{user.email_lower}")
    await rt.failures.clear(f"signin:slow:{user.email_lower}")
    audit.record(
        uow, "user.password_reset", object_type="User", object_ids=[user.id], actor_id=user.id
    )
    return user


def client_key(ip: str | None) -> str:
    """A client address as throttles count it: an IPv6 address by its /64 (one household or
    host has the whole /64, and may use a fresh address for every request), IPv4 as is."""
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


# A sign-in this recent stands in for the password where it is asked again.
RECENT_SIGN_IN = timedelta(minutes=10)


def throttled(minutes: int) -> DomainError:
    return DomainError.of(
        "THROTTLED",
        f"Too many failed sign-in attempts. Try again in {minutes} minutes or reset your password.",
    )


async def confirm_identity(
    rt: Runtime, uow: UnitOfWork, viewer: Viewer, password: str | None, field: str = "password"
) -> None:
    """That the person asking is the account's owner, not someone holding a stolen access
    token: their password, or a sign-in within RECENT_SIGN_IN. Wrong passwords count
    towards the account's sign-in throttle."""
    me = viewer.require_user()
    user = await uow.session.get(User, me)
    if user is None:
        raise NotAuthenticated
    if password:
        # Counted for this credential alone: the caller is signed in already, and strangers'
        # failed sign-ins must not stop the owner confirming who they are.
        credential = viewer.session_id or f"token{viewer.token_id}"
        confirm_key = f"confirm:{me}:{credential}"
        if await rt.failures.count(confirm_key) >= rt.settings.signin_max_failures:
            raise throttled(max(1, rt.settings.signin_window_seconds // 60))
        if not await password_matches(rt, user.password_hash, password):
            await rt.failures.add(confirm_key)
            raise DomainError.of("INVALID_PASSWORD", "The password is incorrect.", field)
        return
    if viewer.session_id is not None:
        session = await uow.session.get(Session, viewer.session_id)
        if session is not None and datetime.now(UTC) - session.created_at <= RECENT_SIGN_IN:
            return
    raise DomainError.of(
        "PASSWORD_REQUIRED",
        f"Give your password: without it, this needs a sign-in of the last "
        f"{int(RECENT_SIGN_IN.total_seconds() // 60)} minutes.",
        field,
    )


async def revoke_all_personal_access_tokens(uow: UnitOfWork, user: User, reason: str) -> int:
    """Revoke every working token of ``user``, and every token ``user`` made for others
    (their password changed, or they signed out everywhere: whoever held their account may
    have made them), and tell each owner by e-mail; returns how many."""
    now = datetime.now(UTC)
    revoked = await uow.session.execute(
        update(PersonalAccessToken)
        .where(
            (PersonalAccessToken.user_id == user.id)
            | (PersonalAccessToken.created_by_id == user.id),
            PersonalAccessToken.revoked_at.is_(None),
            (PersonalAccessToken.expires_at.is_(None)) | (PersonalAccessToken.expires_at > now),
        )
        .values(revoked_at=now)
        .returning(PersonalAccessToken.id, PersonalAccessToken.user_id)
    )
    by_owner: dict[int, int] = {}
    ids = []
    for token_id, owner_id in revoked.all():
        ids.append(int(token_id))
        by_owner[int(owner_id)] = by_owner.get(int(owner_id), 0) + 1
    if not ids:
        return 0
    audit.record(
        uow, "personal_access_token.revoke", object_type="PersonalAccessToken",
        object_ids=ids, details={"reason": reason},
    )  # fmt: skip
    owners = {u.id: u for u in (await uow.session.execute(
        select(User).where(User.id.in_(list(by_owner)))
    )).scalars()}  # fmt: skip
    for owner_id, count in sorted(by_owner.items()):
        owner = owners.get(owner_id)
        if owner is None or owner.status != ACTIVE:
            continue
        why = reason if owner_id == user.id else f"made_by:{user.name}"
        await mail.queue_email(
            uow,
            user=owner,
            template="tokens_revoked",
            subject="Your alumnet access tokens were revoked",
            body=mail.tokens_revoked_body(owner, count, why),
        )
    return len(ids)


async def change_password(
    rt: Runtime, uow: UnitOfWork, viewer: Viewer, current: str, new: str
) -> User:
    """Change one's own password (the current one is asked): every other session ends and
    every personal access token is revoked, since whoever knew the old password may have
    made them; the owner is told."""
    me = viewer.require_user()
    if viewer.session_id is None:
        raise DomainError.of(
            "SIGN_IN_REQUIRED", "Change your password while signed in, not with a token."
        )
    user = await _target(uow, me)
    await confirm_identity(rt, uow, viewer, current or "-", "currentPassword")
    problems = Problems()
    check_password(problems, new, email=user.email, field="newPassword")
    problems.raise_if_any()
    user.password_hash = await hash_password(rt, new)
    user.updated_at = datetime.now(UTC)
    await uow.session.execute(
        update(Session)
        .where(Session.user_id == me, Session.id != viewer.session_id, Session.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC), revoked_reason="password_change")
    )
    await revoke_all_personal_access_tokens(uow, user, "password_change")
    await mail.queue_email(
        uow, user=user, template="password_changed",
        subject="Your alumnet password was changed", body=mail.password_changed_body(user),
    )  # fmt: skip
    # Guesses at the old password no longer matter.
    await rt.failures.clear(f"signin:account:{user.email_lower}")
    await rt.failures.clear(f"signin:slow:{user.email_lower}")
    audit.record(uow, "user.password_change", object_type="User", object_ids=[me], actor_id=me)
    return user


async def request_email_change(
    rt: Runtime, uow: UnitOfWork, viewer: Viewer, new_email: str, password: str
) -> None:
    """Ask to change one's e-mail address (the password is asked): a link goes to the new
    address, and the change happens when it is followed (``confirm_email_change``)."""
    me = viewer.require_user()
    if viewer.session_id is None:
        raise DomainError.of(
            "SIGN_IN_REQUIRED", "Change your address while signed in, not with a token."
        )
    await confirm_identity(rt, uow, viewer, password or "-")
    problems = Problems()
    email = check_email(problems, new_email, field="newEmail")
    problems.raise_if_any()
    user = await _target(uow, me)
    if normalise_email(email) == user.email_lower:
        raise DomainError.of("SAME_ADDRESS", "That is your address already.", "newEmail")
    if await _email_taken(uow, email, except_id=me):
        raise DomainError.of("EMAIL_TAKEN", "Another account has this address.", "newEmail")
    token = await _new_one_time_token(
        uow, user, PURPOSE_EMAIL_CHANGE, rt.settings.email_token_ttl_seconds, new_email=email
    )
    await mail.queue_email(
        uow, user=user, to=email, template="email_change",
        subject="Confirm your new alumnet e-mail address",
        body=mail.email_change_body(rt.settings, user, email, token),
    )  # fmt: skip
    audit.record(uow, "user.email_change_request", object_type="User", object_ids=[me],
                 actor_id=me)  # fmt: skip


async def confirm_email_change(uow: UnitOfWork, token: str) -> User:
    """Follow the link sent to the new address: the account takes it (confirmed), and the
    old address is told."""
    row = await _consume(uow, token, PURPOSE_EMAIL_CHANGE)
    user = await _target(uow, row.user_id)
    if user.status != ACTIVE or not row.new_email:
        raise DomainError.of("INVALID_TOKEN", "This link is invalid or has expired.", "token")
    if await _email_taken(uow, row.new_email, except_id=user.id):
        raise DomainError.of("EMAIL_TAKEN", "Another account has this address now.", "token")
    old = user.email
    await mail.queue_email(
        uow, user=user, template="email_changed",
        subject="Your alumnet e-mail address was changed",
        body=mail.email_changed_body(user, row.new_email),
    )  # fmt: skip
    user.email, user.email_lower = row.new_email, normalise_email(row.new_email)
    user.email_verified_at = user.updated_at = datetime.now(UTC)
    audit.record(uow, "user.email_change", object_type="User", object_ids=[user.id],
                 actor_id=user.id, details={"from": old, "to": user.email})  # fmt: skip
    return user


# --- trusted callers (the CLI, the demo seed) ---------------------------------------------


async def ensure_user(
    rt: Runtime,
    uow: UnitOfWork,
    *,
    email: str,
    name: str,
    roles: list[Role],
    password: str,
    verified: bool = True,
) -> tuple[User, bool]:
    """Create the user unless the address exists; for operators with database access."""
    problems = Problems()
    email = check_email(problems, email)
    clean = check_text(
        problems, name, field="name", max_length=NAME_MAX, min_length=1, label="Name"
    )
    check_password(problems, password, email=email)
    problems.raise_if_any()
    existing = await user_by_email(uow, email)
    if existing is not None:
        return existing, False
    user = await _insert_user(
        uow,
        email=email,
        name=clean or "",
        roles=roles,
        password_hash=await hash_password(rt, password),
        verified=verified,
    )
    audit.record(
        uow,
        "user.create",
        object_type="User",
        object_ids=[user.id],
        details={"roles": sorted(r.value for r in roles), "via": uow.origin.via},
    )
    return user, True
