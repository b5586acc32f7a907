"""Sign-in, token refresh and revocation, personal access tokens, and the viewer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alumnet.domain.errors import DomainError, Problems, check_moment, check_text
from alumnet.domain.identity import audit, mail, sessions, two_factor
from alumnet.domain.identity.credential_cache import Entry
from alumnet.domain.identity.jwt_tokens import (
    InvalidAccessToken,
    issue_access_token,
    read_access_token,
)
from alumnet.domain.identity.permissions import (
    ANONYMOUS,
    Grant,
    Permission,
    Role,
    TokenScope,
    Viewer,
    permissions_from,
)
from alumnet.domain.identity.secrets import PAT_PREFIX, REFRESH_PREFIX, digest, new_secret
from alumnet.domain.identity.users import (
    ACTIVE,
    EMAIL_MAX,
    client_key,
    confirm_identity,
    hash_password,
    normalise_email,
    password_matches,
    revoke_all_personal_access_tokens,
    revoke_sessions,
    throttled,
)
from alumnet.domain.runtime import Runtime
from alumnet.persistence.db import Reader
from alumnet.persistence.loaders.identity import USER_COLUMNS
from alumnet.persistence.models import (
    CustomRole,
    CustomRoleAssignment,
    PersonalAccessToken,
    RefreshToken,
    Session,
    User,
    UserRole,
)
from alumnet.persistence.uow import UnitOfWork

PAT_LAST_USED_RESOLUTION = timedelta(minutes=1)
DEFAULT_TOKEN_LIFETIME = timedelta(days=90)
# How long an address the account signed in from counts as its owner's.
KNOWN_ADDRESS_DAYS = 30
MAX_TOKEN_LIFETIME = timedelta(days=365)


class AuthenticationFailed(Exception):
    """A presented credential is not valid; the request is refused as a whole."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IssuedTokens:
    user: User
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    # A role of the user requires two-factor sign-in, and they have not enrolled.
    two_factor_enrollment_required: bool = False


def _invalid_credentials() -> DomainError:
    return DomainError.of("INVALID_CREDENTIALS", "The e-mail address or password is incorrect.")


async def _new_refresh_token(rt: Runtime, uow: UnitOfWork, session_id: int) -> tuple[str, datetime]:
    secret = new_secret(REFRESH_PREFIX)
    expires = datetime.now(UTC) + timedelta(seconds=rt.settings.refresh_token_ttl_seconds)
    uow.session.add(
        RefreshToken(session_id=session_id, token_hash=digest(secret), expires_at=expires)
    )
    await uow.session.flush()
    return secret, expires


async def sign_in(
    rt: Runtime, uow: UnitOfWork, *, email: str, password: str
) -> IssuedTokens | two_factor.Challenge:
    """Sign in, throttled so that guessing is slow and nobody can lock anybody out.

    - A client address (an IPv6 /64) with ``signin_max_failures_per_address`` failures is
      refused for any account, and one with ``signin_max_failures`` on this account is
      refused for it: both before any hashing, so that a flood costs a counter.
    - The account itself is never locked. Past ``signin_max_failures`` failures on it (from
      anywhere), it is being guessed at: then only the addresses it signed in from lately
      (30 days) are answered at once; any other waits 1, 2, 4, … seconds (up to the window)
      after each failure, so that guessing from many addresses slows, its owner does not.
    - When the account reaches that many failures, its owner is told by e-mail (once a day).
    - With two-factor sign-in on, the right password answers a challenge, not tokens:
      ``sign_in_two_factor`` finishes with a code.
    """
    settings = rt.settings
    if not email.strip() or not password or len(email) > EMAIL_MAX or len(password) > 1024:
        raise _invalid_credentials()
    email_key = normalise_email(email)
    address = client_key(uow.origin.ip)
    account_key = f"signin:account:{email_key}"
    address_key = f"signin:address:{address}"
    pair_key = f"signin:account:{email_key}:address:{address}"
    known_key = f"signin:known:{email_key}:address:{address}"
    minutes = max(1, settings.signin_window_seconds // 60)
    limit = settings.signin_max_failures
    # Throttle before hashing, so that a flood costs us nothing but a counter.
    if (
        await rt.failures.count(address_key) >= settings.signin_max_failures_per_address
        or await rt.failures.count(pair_key) >= limit
    ):
        raise throttled(minutes)
    if await rt.failures.held(f"signin:slow:{email_key}") and not await rt.failures.held(known_key):
        raise DomainError.of(
            "THROTTLED",
            "Someone is trying passwords on this account: wait a little before trying again "
            "from here, or reset your password.",
        )
    user = (
        await uow.session.execute(select(User).where(User.email_lower == email_key))
    ).scalar_one_or_none()
    ok = await password_matches(rt, user.password_hash if user else None, password)
    if not ok or user is None:
        await rt.failures.add(address_key)
        await rt.failures.add(pair_key)
        failures = await rt.failures.add(account_key)
        if failures >= limit:
            pause = min(2 ** (failures - limit), settings.signin_window_seconds)
            await rt.failures.hold(f"signin:slow:{email_key}", pause)
        if failures == limit and user is not None:
            await _warn_owner(rt, user)
        raise _invalid_credentials()
    if user.status != ACTIVE:
        raise DomainError.of("ACCOUNT_SUSPENDED", "This account is suspended.")
    await rt.failures.clear(pair_key)
    await rt.failures.hold(known_key, KNOWN_ADDRESS_DAYS * 24 * 3600)
    if rt.hasher.check_needs_rehash(user.password_hash or ""):
        user.password_hash = await hash_password(rt, password)
    if user.two_factor_enabled_at is not None:
        audit.record(
            uow, "session.challenge", object_type="User", object_ids=[user.id], actor_id=user.id
        )
        return two_factor.challenge_for(rt, user)
    return await _start_session(rt, uow, user)


async def sign_in_two_factor(
    rt: Runtime, uow: UnitOfWork, *, challenge: str, code: str
) -> IssuedTokens:
    """Sign-in's second step: the challenge ``sign_in`` answered, and a code from the
    authenticator app (or a recovery code)."""
    if len(code) > 64:
        raise DomainError.of("INVALID_CODE", "The code is wrong.", "code")
    user = await two_factor.answer_challenge(rt, uow, challenge, code)
    return await _start_session(rt, uow, user, second_factor=True)


async def _start_session(
    rt: Runtime, uow: UnitOfWork, user: User, *, second_factor: bool = False
) -> IssuedTokens:
    now = datetime.now(UTC)
    user.last_sign_in_at = now
    device = sessions.describe_device(uow.origin.user_agent)
    # A device is new if the account has signed in from others, and never from it (sessions
    # older than device names count as none: the first sign-in since sets the baseline).
    mine = Session.user_id == user.id
    seen, here = (
        await uow.session.execute(
            select(
                exists().where(mine, Session.device.is_not(None)),
                exists().where(mine, Session.device == device),
            )
        )
    ).one()
    known = here or not seen
    session = Session(
        user_id=user.id,
        ip=uow.origin.ip,
        user_agent=(uow.origin.user_agent or "")[:256] or None,
        device=device,
        last_used_at=now,
        two_factor=second_factor,
    )
    uow.session.add(session)
    await uow.session.flush()
    refresh, refresh_expires = await _new_refresh_token(rt, uow, session.id)
    access, access_expires = issue_access_token(rt.settings, user.id, session.id)
    audit.record(
        uow,
        "session.create",
        object_type="Session",
        object_ids=[session.id],
        actor_id=user.id,
        details={"device": device, "newDevice": not known},
    )
    if not known:
        await sessions.tell_new_device(uow, user, session)
    required = rt.settings.two_factor_required_roles
    must_enrol = False
    if required and user.two_factor_enabled_at is None:
        held = await uow.session.execute(
            select(UserRole.role).where(UserRole.user_id == user.id, UserRole.role.in_(required))
        )
        must_enrol = held.first() is not None
    return IssuedTokens(user, access, access_expires, refresh, refresh_expires, must_enrol)


async def _warn_owner(rt: Runtime, user: User) -> None:
    """Tell the owner someone is guessing their password: once a day, in a transaction of
    its own (the failed sign-in's is rolled back)."""
    told = f"signin:warned:{user.id}"
    if await rt.failures.held(told):
        return
    await rt.failures.hold(told, 24 * 3600)
    async with rt.transaction() as uow:
        await mail.queue_email(
            uow,
            user=user,
            template="signin_failures",
            subject="Someone is trying to sign in to your alumnet account",
            body=mail.signin_failures_body(user, rt.settings.signin_max_failures),
        )


def _invalid_refresh() -> DomainError:
    return DomainError.of(
        "INVALID_TOKEN", "This refresh token is not valid. Sign in again.", "refreshToken"
    )


async def refresh(rt: Runtime, uow: UnitOfWork, refresh_token: str) -> IssuedTokens:
    token = refresh_token.strip()
    if not token.startswith(REFRESH_PREFIX) or len(token) > 200:
        raise _invalid_refresh()
    row = (
        await uow.session.execute(
            select(RefreshToken, Session, User)
            .join(Session, Session.id == RefreshToken.session_id)
            .join(User, User.id == Session.user_id)
            .where(RefreshToken.token_hash == digest(token))
        )
    ).one_or_none()
    if row is None:
        raise _invalid_refresh()
    stored, session, user = row
    now = datetime.now(UTC)
    if session.revoked_at is not None or user.status != ACTIVE or stored.expires_at <= now:
        raise _invalid_refresh()
    claimed = await uow.session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == stored.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        # A used refresh token came back: it was stolen or replayed. End the whole family.
        session.revoked_at = now
        session.revoked_reason = "refresh_token_reuse"
        audit.record(
            uow,
            "session.revoke",
            object_type="Session",
            object_ids=[session.id],
            actor_id=user.id,
            details={"reason": "refresh_token_reuse"},
        )
        await uow.session.commit()
        raise _invalid_refresh()
    session.refreshed_at = now
    new_refresh, refresh_expires = await _new_refresh_token(rt, uow, session.id)
    audit.record(
        uow, "session.refresh", object_type="Session", object_ids=[session.id], actor_id=user.id
    )
    access, access_expires = issue_access_token(rt.settings, user.id, session.id)
    return IssuedTokens(user, access, access_expires, new_refresh, refresh_expires)


async def revoke(
    uow: UnitOfWork, viewer: Viewer, refresh_token: str | None, *, everywhere: bool = False
) -> None:
    """Signs out: ends the session of the given refresh token, or the viewer's own; or,
    ``everywhere``, every session of the viewer and every personal access token."""
    session: Session | None = None
    if everywhere:
        me = viewer.require_user()
        user = await uow.session.get(User, me)
        assert user is not None
        await revoke_sessions(uow, me, "signed_out_everywhere")
        await revoke_all_personal_access_tokens(uow, user, "signed_out_everywhere")
        audit.record(uow, "session.revoke_all", object_type="User", object_ids=[me], actor_id=me)
        return
    if refresh_token:
        session = (
            await uow.session.execute(
                select(Session)
                .join(RefreshToken, RefreshToken.session_id == Session.id)
                .where(RefreshToken.token_hash == digest(refresh_token.strip()))
            )
        ).scalar_one_or_none()
        if session is None:
            raise _invalid_refresh()
    elif viewer.session_id is not None:
        session = await uow.session.get(Session, viewer.session_id)
    else:
        raise DomainError.of(
            "NOTHING_TO_REVOKE",
            "Give the refresh token to revoke, or sign in with a token.",
            "refreshToken",
        )
    if session is not None and session.revoked_at is None:
        session.revoked_at = datetime.now(UTC)
        session.revoked_reason = "signed_out"
        audit.record(
            uow,
            "session.revoke",
            object_type="Session",
            object_ids=[session.id],
            actor_id=session.user_id,
            details={"reason": "signed_out"},
        )


# --- personal access tokens ---------------------------------------------------------------


@dataclass(frozen=True)
class CreatedPersonalAccessToken:
    token: PersonalAccessToken
    secret: str


async def create_personal_access_token(
    rt: Runtime,
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    name: str,
    scope: TokenScope,
    expires_at: datetime | None,
    password: str | None = None,
    user_id: int | None = None,
) -> CreatedPersonalAccessToken:
    """A token for scripts: ``scope`` of the owner's permissions, until ``expires_at``
    (90 days by default, a year at most). Only the account's owner (by password, or a
    recent sign-in) makes one; an operator at the command line (``via="cli"``) too."""
    actor = viewer.require(Permission.TOKENS_CREATE)
    owner = user_id if user_id is not None else actor
    problems = Problems()
    if owner != actor:
        viewer.require(Permission.USERS_MANAGE)
        if scope is TokenScope.ADMIN:
            # Whoever manages users must not hand out their power, nor take someone else's.
            problems.add(
                "INVALID", "A token made for someone else is READ or WRITE, not ADMIN.", "scope"
            )
    clean = check_text(problems, name, field="name", max_length=100, min_length=1, label="Name")
    now = datetime.now(UTC)
    if expires_at is None:
        expires_at = now + DEFAULT_TOKEN_LIFETIME
    else:
        expires_at = check_moment(problems, expires_at, field="expiresAt", label="The expiry")
        if expires_at is not None and expires_at <= now:
            problems.add("EXPIRY_IN_PAST", "The expiry must be in the future.", "expiresAt")
        elif expires_at is not None and expires_at > now + MAX_TOKEN_LIFETIME:
            problems.add("INVALID", "The expiry must be within a year.", "expiresAt")
    problems.raise_if_any()
    if viewer.via != "cli":
        await confirm_identity(rt, uow, viewer, password)
    target = await uow.session.get(User, owner)
    if target is None or target.status != ACTIVE:
        raise DomainError.of("NOT_FOUND", "No such user.", "userId")
    secret = new_secret(PAT_PREFIX)
    pat = PersonalAccessToken(
        user_id=owner,
        name=clean or "",
        token_hash=digest(secret),
        token_prefix=secret[: len(PAT_PREFIX) + 4],
        scope=scope.value,
        expires_at=expires_at,
        created_by_id=actor,
        # Staff roles that require two-factor sign-in work through it only if the
        # credential that made it had passed the second factor (or it is the operator's).
        two_factor=viewer.second_factor or viewer.via == "cli",
    )
    uow.session.add(pat)
    await uow.session.flush()
    if owner != actor:
        await mail.queue_email(
            uow,
            user=target,
            template="token_made_for_you",
            subject="A personal access token was made for your alumnet account",
            body=mail.token_made_for_you_body(target, viewer.name or "an administrator", pat),
        )
    audit.record(
        uow,
        "personal_access_token.create",
        object_type="PersonalAccessToken",
        object_ids=[pat.id],
        details={"owner": owner, "name": pat.name, "scope": scope.value},
    )
    return CreatedPersonalAccessToken(pat, secret)


async def revoke_personal_access_token(
    uow: UnitOfWork, viewer: Viewer, token_id: int
) -> PersonalAccessToken:
    actor = viewer.require_user()
    pat = await uow.session.get(PersonalAccessToken, token_id)
    if pat is None or (pat.user_id != actor and not viewer.can(Permission.USERS_MANAGE)):
        raise DomainError.of("NOT_FOUND", "No such personal access token.", "id")
    if pat.revoked_at is None:
        pat.revoked_at = datetime.now(UTC)
        audit.record(
            uow,
            "personal_access_token.revoke",
            object_type="PersonalAccessToken",
            object_ids=[pat.id],
        )
    return pat


# --- the viewer ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Authenticated:
    """The viewer, and the user's row and roles as read to authenticate them (so that a
    request asking for `viewer { … }` needs no further statement)."""

    viewer: Viewer
    user_row: Any = None
    role_names: tuple[str, ...] = ()


ANONYMOUS_CALLER = Authenticated(ANONYMOUS)
# The user's custom roles ride along (one row per role and custom role held, a handful).
_VIEWER_COLUMNS = (
    *USER_COLUMNS,
    UserRole.role,
    CustomRoleAssignment.id.label("grant_id"),
    CustomRoleAssignment.role_id.label("grant_role_id"),
    CustomRoleAssignment.batch_id.label("grant_batch_id"),
    CustomRoleAssignment.mission_id.label("grant_mission_id"),
    CustomRole.name.label("grant_role_name"),
    CustomRole.permissions.label("grant_permissions"),
)
# Built once: constructing the statement cost more than running it, on every request.
_VIEWER_BY_SESSION = (
    select(
        *_VIEWER_COLUMNS,
        Session.last_used_at.label("session_last_used_at"),
        Session.two_factor.label("credential_two_factor"),
    )
    .join(Session, (Session.user_id == User.id) & (Session.id == bindparam("session_id")))
    .outerjoin(UserRole, UserRole.user_id == User.id)
    .outerjoin(CustomRoleAssignment, CustomRoleAssignment.user_id == User.id)
    .outerjoin(CustomRole, CustomRole.id == CustomRoleAssignment.role_id)
    .where(User.id == bindparam("user_id"), Session.revoked_at.is_(None))
)


def _grants(rows: Sequence[Any]) -> tuple[Grant, ...]:
    seen: dict[int, Grant] = {}
    for r in rows:
        if r.grant_id is None or r.grant_id in seen:
            continue
        seen[r.grant_id] = Grant(
            assignment_id=int(r.grant_id),
            role_id=int(r.grant_role_id),
            role_name=str(r.grant_role_name),
            permissions=permissions_from(r.grant_permissions),
            batch_id=r.grant_batch_id,
            mission_id=r.grant_mission_id,
        )
    return tuple(sorted(seen.values(), key=lambda g: g.assignment_id))


def _authenticated(
    rows: Sequence[Any],
    required: frozenset[Role] = frozenset(),
    second_factor: bool = False,
    **extra: Any,
) -> Authenticated | None:
    """The viewer of these rows. ``required``: the roles that need two-factor sign-in,
    withheld (left out of ``roles``, and so of every check) unless the user has enrolled
    and the credential passed the second factor (``second_factor``); custom roles too,
    while any role requires it."""
    if not rows or rows[0].status != ACTIVE:
        return None
    first = rows[0]
    names = tuple(sorted({r.role for r in rows if r.role is not None}))
    roles = frozenset(Role(n) for n in names if n in Role.__members__)
    enrolled = first.two_factor_enabled_at is not None
    withheld = roles & required if not (enrolled and second_factor) else frozenset[Role]()
    viewer = Viewer(
        user_id=int(first.id),
        email=str(first.email),
        name=str(first.name),
        roles=roles - withheld,
        withheld=withheld,
        second_factor=enrolled and second_factor,
        # Custom roles carry staff powers: where two-factor sign-in is required of any role,
        # they too work only through a credential that passed it.
        grants=_grants(rows) if not required or (enrolled and second_factor) else (),
        email_verified=first.email_verified_at is not None,
        **extra,
    )
    return Authenticated(viewer, first, names)


async def authenticate(rt: Runtime, reader: Reader, bearer: str | None) -> Authenticated:
    """Resolve the ``Authorization`` bearer to the viewer: from the process's cache of
    checked credentials (no SQL), or in one SQL statement on a connection of ``reader``.

    No credential means anonymous; a credential that is presented but not valid (expired,
    forged, revoked, its user suspended) raises ``AuthenticationFailed``.
    """
    if not bearer:
        return ANONYMOUS_CALLER
    token = bearer.strip()
    cache = rt.credentials
    now = datetime.now(UTC)
    generation = 0
    if cache is not None and cache.enabled:
        entry = cache.get(token, now)
        if entry is not None:
            if (
                entry.last_used_at is not None
                and now - entry.last_used_at > PAT_LAST_USED_RESOLUTION
            ):
                entry.last_used_at = now
                async with reader.connect() as conn:
                    await _record_use(conn, entry.found.viewer, now)
            return entry.found
        generation = cache.generation
    required = two_factor.required_roles(rt.settings)
    if token.startswith(PAT_PREFIX):
        async with reader.connect() as conn:
            found, last_used, expires_at = await _authenticate_pat(conn, token, now, required)
    else:
        try:
            claims = read_access_token(rt.settings, token)
        except InvalidAccessToken as exc:
            raise AuthenticationFailed(exc.reason) from exc
        async with reader.connect() as conn:
            rows = (
                await conn.execute(
                    _VIEWER_BY_SESSION,
                    {"session_id": claims.session_id, "user_id": claims.user_id},
                )
            ).all()
            authenticated = _authenticated(
                rows,
                required,
                bool(rows and rows[0].credential_two_factor),
                session_id=claims.session_id,
                via="jwt",
            )
            if authenticated is None:
                raise AuthenticationFailed("revoked")
            # The session's last use, shown to its owner: written at minute resolution.
            last_used = rows[0].session_last_used_at
            if last_used is None or now - last_used > PAT_LAST_USED_RESOLUTION:
                await _record_use(conn, authenticated.viewer, now)
                last_used = now
        found, expires_at = authenticated, claims.expires_at
    if cache is not None and cache.enabled:
        user_id = found.viewer.user_id
        assert user_id is not None
        cache.put(
            token,
            Entry(found, user_id, time.monotonic(), expires_at=expires_at, last_used_at=last_used),
            generation,
        )
    return found


def scope_of(viewer: Viewer) -> str | None:
    """What a job asked for by ``viewer`` records, to act within the same scope."""
    return viewer.scope.value if viewer.scope is not None else None


async def viewer_of(
    conn: AsyncConnection,
    user_id: int,
    scope: str | None = None,
    *,
    required: frozenset[Role],
) -> Viewer | None:
    """The viewer a background job acts as on a user's behalf (an export, a bulk query):
    their roles as they are now, within the scope of the token that asked (``scope_of``),
    less those that need two-factor sign-in (``required``) if they have not enrolled;
    None once the user is no longer active."""
    rows = (
        await conn.execute(
            select(*_VIEWER_COLUMNS)
            .outerjoin(UserRole, UserRole.user_id == User.id)
            .outerjoin(CustomRoleAssignment, CustomRoleAssignment.user_id == User.id)
            .outerjoin(CustomRole, CustomRole.id == CustomRoleAssignment.role_id)
            .where(User.id == user_id)
        )
    ).all()
    # A job or a link was started by a request that was allowed; the user must still
    # have enrolled (the credential that started it is not known here).
    found = _authenticated(
        rows, required, True, via="job", scope=TokenScope(scope) if scope else None
    )
    return None if found is None else found.viewer


async def _authenticate_pat(
    conn: AsyncConnection, token: str, now: datetime, required: frozenset[Role]
) -> tuple[Authenticated, datetime, datetime | None]:
    """The personal access token's viewer, when its use was last recorded (now, if it
    was more than a minute ago: written at minute resolution, so that a busy script does
    not write on every call), and when it expires."""
    if len(token) > 200:
        raise AuthenticationFailed("invalid")
    rows = (
        await conn.execute(
            select(
                *_VIEWER_COLUMNS,
                PersonalAccessToken.id.label("token_id"),
                PersonalAccessToken.scope.label("token_scope"),
                PersonalAccessToken.last_used_at.label("token_last_used_at"),
                PersonalAccessToken.expires_at.label("token_expires_at"),
                PersonalAccessToken.two_factor.label("credential_two_factor"),
            )
            .join(PersonalAccessToken, PersonalAccessToken.user_id == User.id)
            .outerjoin(UserRole, UserRole.user_id == User.id)
            .outerjoin(CustomRoleAssignment, CustomRoleAssignment.user_id == User.id)
            .outerjoin(CustomRole, CustomRole.id == CustomRoleAssignment.role_id)
            .where(
                PersonalAccessToken.token_hash == digest(token),
                PersonalAccessToken.revoked_at.is_(None),
                (PersonalAccessToken.expires_at.is_(None)) | (PersonalAccessToken.expires_at > now),
            )
        )
    ).all()
    found = _authenticated(
        rows,
        required,
        bool(rows and rows[0].credential_two_factor),
        token_id=rows[0].token_id if rows else None,
        scope=TokenScope(rows[0].token_scope) if rows else None,
        via="pat",
    )
    if found is None:
        raise AuthenticationFailed("invalid")
    # UTCDateTime columns come back aware, in UTC.
    last_used = rows[0].token_last_used_at
    if last_used is None or now - last_used > PAT_LAST_USED_RESOLUTION:
        await _record_use(conn, found.viewer, now)
        last_used = now
    return found, last_used, rows[0].token_expires_at


async def _record_use(conn: AsyncConnection, viewer: Viewer, now: datetime) -> None:
    """When a personal access token or a session was last used (on a connection of its
    own, not the ORM's: a last use changes no credential)."""
    if viewer.token_id is not None:
        await conn.execute(
            update(PersonalAccessToken)
            .where(PersonalAccessToken.id == viewer.token_id)
            .values(last_used_at=now)
        )
    elif viewer.session_id is not None:
        await conn.execute(
            update(Session).where(Session.id == viewer.session_id).values(last_used_at=now)
        )
    else:
        return
    await conn.commit()
