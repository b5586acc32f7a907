"""Two-factor sign-in: an authenticator app's codes (TOTP, RFC 6238) after the password.

- Enrolment: ``enrol`` makes a secret (kept encrypted with a key from the settings) and
  answers the otpauth URI a QR code carries; ``confirm`` takes a first code, turns the
  second factor on and answers ten one-time recovery codes (kept hashed, each good once).
- A code is good for its 30-second step and the one before; a step once accepted is
  stored, so that no code (nor an older one) is accepted twice.
- Five wrong codes within 15 minutes lock the second factor for 15 minutes; the lock is
  audited, and a right code does not open it early.
- Roles that require it (``Settings.two_factor_required_roles``), and custom roles, are
  withheld from a credential that has not passed the second factor (auth._authenticated):
  the user keeps everything else, and tokenCreate says enrolment is due.
- Turning it off takes the password and a code; a user manager can reset it for
  someone who lost their authenticator and their recovery codes (audited; the user is
  told by e-mail).
"""

from __future__ import annotations

import base64
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, func, or_, select, update

from alumnet.config import Settings
from alumnet.domain.errors import DomainError, NotAuthenticated
from alumnet.domain.identity import audit, mail
from alumnet.domain.identity.jwt_tokens import (
    InvalidAccessToken,
    issue_challenge,
    read_challenge,
)
from alumnet.domain.identity.permissions import Permission, Role, Viewer
from alumnet.domain.identity.secrets import digest
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import (
    PersonalAccessToken,
    RecoveryCode,
    Session,
    TwoFactor,
    User,
)
from alumnet.persistence.uow import UnitOfWork

STEP_SECONDS = 30
DIGITS = 6
ISSUER = "alumnet"
RECOVERY_CODES = 10
MAX_FAILURES = 5
LOCK_SECONDS = 15 * 60
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


# --- secrets at rest ------------------------------------------------------------------------


def _keys(settings: Settings) -> list[str]:
    """The first key encrypts, every key decrypts (rotation); without keys in the
    settings, one derived from the secret key (HKDF), so that the embedded default works."""
    if settings.two_factor_keys:
        return list(settings.two_factor_keys)
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"alumnet two-factor secrets"
    ).derive(settings.secret_key.encode("utf-8"))
    return [base64.urlsafe_b64encode(derived).decode("ascii")]


def _cipher(settings: Settings) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in _keys(settings)])


def _encrypt(settings: Settings, secret: str) -> str:
    return _cipher(settings).encrypt(secret.encode("ascii")).decode("ascii")


def _decrypt(settings: Settings, stored: str) -> str:
    try:
        return _cipher(settings).decrypt(stored.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        # The keys changed without keeping the old one: nobody can use this authenticator.
        raise DomainError.of(
            "TWO_FACTOR_UNAVAILABLE",
            "Your authenticator cannot be checked right now; ask an administrator to reset "
            "your two-factor sign-in.",
        ) from exc


def seal(settings: Settings, secret: str) -> str:
    """Another secret kept at rest the way authenticator secrets are (a webhook's signing
    secret): encrypted with the first of the same keys."""
    return _encrypt(settings, secret)


def unseal(settings: Settings, stored: str) -> str | None:
    """What ``seal`` kept, or None when no key in the settings opens it any more."""
    try:
        return _cipher(settings).decrypt(stored.encode("ascii")).decode("ascii")
    except InvalidToken:
        return None


def _current(settings: Settings, stored: str) -> str:
    """``stored`` encrypted with the first key: as it is if it is already, else again
    (a rotated key takes over as codes are checked; `alumnet user two-factor-rekey`
    re-encrypts everyone at once)."""
    try:
        Fernet(_keys(settings)[0]).decrypt(stored.encode("ascii"))
        return stored
    except InvalidToken:
        return _cipher(settings).rotate(stored.encode("ascii")).decode("ascii")


async def rekey(rt: Runtime, uow: UnitOfWork) -> tuple[int, int]:
    """Re-encrypts every authenticator secret with the first key; answers how many were,
    and how many no key reads (those users need a reset)."""
    rows = (await uow.session.execute(select(TwoFactor))).scalars().all()
    changed = unreadable = 0
    for row in rows:
        try:
            again = _current(rt.settings, row.secret_encrypted)
        except InvalidToken:
            unreadable += 1
            continue
        if again != row.secret_encrypted:
            row.secret_encrypted = again
            changed += 1
    return changed, unreadable


# --- codes --------------------------------------------------------------------------------

# The clock codes are read against (tests set it).
clock = time.time


def current_step() -> int:
    return int(clock()) // STEP_SECONDS


def _clean(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _recovery_hash(user_id: int, code: str) -> str:
    # Bound to the user, so that equal codes of two users never share a row's hash.
    return digest(f"{user_id}:{_clean(code)}")


def _new_recovery_code() -> str:
    # 16 characters of 31: 79 bits, beyond guessing from a stolen hash.
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _failures_key(user_id: int) -> str:
    return f"2fa:failures:{user_id}"


def _lock_key(user_id: int) -> str:
    return f"2fa:locked:{user_id}"


def _locked() -> DomainError:
    return DomainError.of(
        "TWO_FACTOR_LOCKED",
        f"Too many wrong codes: two-factor sign-in is locked for {LOCK_SECONDS // 60} "
        "minutes. Try again later.",
        "code",
    )


def _wrong_code() -> DomainError:
    return DomainError.of(
        "INVALID_CODE",
        "The code is wrong, or was used already. Enter the current code from your "
        "authenticator app, or one of your recovery codes.",
        "code",
    )


async def _audit_apart(
    rt: Runtime, uow: UnitOfWork, action: str, user_id: int, **details: Any
) -> None:
    await audit.record_apart(
        rt, uow, action, object_type="User", object_ids=[user_id], actor_id=user_id,
        details=details,
    )  # fmt: skip


async def _attempt(rt: Runtime, user_id: int) -> int:
    """Counts an attempt before the code is looked at (a success clears the count), so
    that guesses sent at once cannot pass the lock together: answers the attempt's number,
    or raises TWO_FACTOR_LOCKED."""
    if await rt.failures.held(_lock_key(user_id)):
        raise _locked()
    attempts = await rt.failures.add(_failures_key(user_id), LOCK_SECONDS)
    if attempts > MAX_FAILURES:
        raise _locked()
    return attempts


async def _failed(
    rt: Runtime, uow: UnitOfWork, user_id: int, reason: str, attempts: int
) -> DomainError:
    if attempts >= MAX_FAILURES:
        await rt.failures.hold(_lock_key(user_id), LOCK_SECONDS)
        await rt.failures.clear(_failures_key(user_id))
        await _audit_apart(rt, uow, "two_factor.locked", user_id, failures=attempts)
        return _locked()
    await _audit_apart(rt, uow, "two_factor.failed", user_id, reason=reason)
    return _wrong_code()


def _matching_step(secret: str, code: str) -> int | None:
    """The step (the current one or the one before) whose code ``code`` is."""
    if not (code.isdigit() and len(code) == DIGITS):
        return None
    totp = pyotp.TOTP(secret)
    now_step = current_step()
    return next(
        (s for s in (now_step, now_step - 1) if hmac.compare_digest(totp.generate_otp(s), code)),
        None,
    )


async def verify_code(
    rt: Runtime, uow: UnitOfWork, user_id: int, code: str, *, recovery: bool = True
) -> str:
    """Checks ``code`` for ``user_id``'s confirmed authenticator: a TOTP code of this step
    or the one before, never one of an accepted step again; or (``recovery``) an unused
    recovery code, used up. Answers which ("totp" or "recovery"); raises INVALID_CODE
    (counted towards the lock) or TWO_FACTOR_LOCKED.

    Every refusal is decided before anything is written: the failure is audited in a
    transaction of its own, which must not wait for this one's write lock (SQLite)."""
    row = await uow.session.get(TwoFactor, user_id)
    if row is None or row.confirmed_at is None:
        raise DomainError.of("TWO_FACTOR_NOT_ENABLED", "Two-factor sign-in is not on.", "code")
    attempts = await _attempt(rt, user_id)
    cleaned = _clean(code)
    if len(cleaned) > 32:
        raise await _failed(rt, uow, user_id, "malformed", attempts)
    if cleaned.isdigit() and len(cleaned) == DIGITS:
        step = _matching_step(_decrypt(rt.settings, row.secret_encrypted), cleaned)
        if step is None:
            raise await _failed(rt, uow, user_id, "wrong_code", attempts)
        if row.last_step is not None and row.last_step >= step:
            raise await _failed(rt, uow, user_id, "replayed", attempts)
        # Claimed atomically: of two requests with the same code, one wins.
        claimed = await uow.session.execute(
            update(TwoFactor)
            .where(
                TwoFactor.user_id == user_id,
                or_(TwoFactor.last_step.is_(None), TwoFactor.last_step < step),
            )
            .values(last_step=step, secret_encrypted=_current(rt.settings, row.secret_encrypted))
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise _wrong_code()
        await rt.failures.clear(_failures_key(user_id))
        return "totp"
    code_hash = _recovery_hash(user_id, cleaned)
    unused = (
        RecoveryCode.user_id == user_id,
        RecoveryCode.code_hash == code_hash,
        RecoveryCode.used_at.is_(None),
    )
    if (
        not recovery
        or (await uow.session.execute(select(RecoveryCode.id).where(*unused))).first() is None
    ):
        raise await _failed(rt, uow, user_id, "wrong_code", attempts)
    used = await uow.session.execute(
        update(RecoveryCode)
        .where(*unused)
        .values(used_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise _wrong_code()
    await rt.failures.clear(_failures_key(user_id))
    audit.record(
        uow,
        "two_factor.recovery_code_used",
        object_type="User",
        object_ids=[user_id],
        actor_id=user_id,
        details={"left": await recovery_codes_left(uow, user_id)},
    )
    return "recovery"


async def recovery_codes_left(uow: UnitOfWork, user_id: int) -> int:
    left = await uow.session.execute(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    return int(left.scalar_one())


# --- challenges (sign-in's second step) ---------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    token: str
    expires_at: datetime


def _password_mark(user: User) -> str:
    return digest(f"challenge:{user.password_hash or ''}")[:16]


def challenge_for(rt: Runtime, user: User) -> Challenge:
    token, claims = issue_challenge(rt.settings, user.id, _password_mark(user))
    return Challenge(token, claims.expires_at)


def _invalid_challenge() -> DomainError:
    return DomainError.of(
        "INVALID_CHALLENGE",
        "This sign-in challenge is not valid, has expired (after 5 minutes) or was used: "
        "sign in again with tokenCreate.",
        "challenge",
    )


async def answer_challenge(rt: Runtime, uow: UnitOfWork, challenge: str, code: str) -> User:
    """The user whose challenge ``code`` answers. The challenge is claimed before the code
    is checked (two answers at once: one is refused), used up by a right code and given
    back after a wrong one (the user may try again, towards the lock). One client address
    gets as many wrong second steps as it gets wrong passwords."""
    from alumnet.domain.identity.users import client_key

    address_key = f"2fa:address:{client_key(uow.origin.ip)}"
    if await rt.failures.count(address_key) >= rt.settings.signin_max_failures_per_address:
        raise DomainError.of(
            "THROTTLED", "Too many wrong codes from your network: try again later.", "code"
        )
    try:
        claims = read_challenge(rt.settings, challenge.strip())
    except InvalidAccessToken as exc:
        if exc.reason == "expired":
            owner = read_challenge(rt.settings, challenge.strip(), expired=True).user_id
            await _audit_apart(rt, uow, "two_factor.challenge_refused", owner, reason="expired")
        raise _invalid_challenge() from exc
    used_key = f"2fa:challenge:{claims.jti}"
    ttl = max(int((claims.expires_at - datetime.now(UTC)).total_seconds()) + 60, 60)
    if await rt.failures.add(used_key, ttl) != 1:
        await _audit_apart(rt, uow, "two_factor.challenge_refused", claims.user_id, reason="used")
        raise _invalid_challenge()
    user = await uow.session.get(User, claims.user_id)
    if user is None or user.status != "active" or claims.password != _password_mark(user):
        raise _invalid_challenge()
    try:
        await verify_code(rt, uow, user.id, code)
    except DomainError:
        await rt.failures.clear(used_key)
        await rt.failures.add(address_key)
        raise
    return user


# --- enrolment, turning off, reset ----------------------------------------------------------


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str  # a data: URI of an SVG image of the QR code


async def enrol(rt: Runtime, uow: UnitOfWork, viewer: Viewer, password: str | None) -> Enrolment:
    """Starts enrolment (or starts it again, replacing an unconfirmed secret); the owner
    proves who they are with their password or a sign-in of the last ten minutes."""
    from alumnet.domain.identity.users import confirm_identity

    me = viewer.require_user()
    await confirm_identity(rt, uow, viewer, password)
    user = await uow.session.get(User, me)
    if user is None:
        raise NotAuthenticated
    row = await uow.session.get(TwoFactor, me)
    if row is not None and row.confirmed_at is not None:
        raise DomainError.of(
            "ALREADY_ENABLED",
            "Two-factor sign-in is on already: turn it off first to enrol another authenticator.",
        )
    secret = pyotp.random_base32()
    stored = _encrypt(rt.settings, secret)
    if row is None:
        uow.session.add(TwoFactor(user_id=me, secret_encrypted=stored))
    else:
        row.secret_encrypted = stored
        row.created_at = datetime.now(UTC)
        row.last_step = None
    audit.record(uow, "two_factor.enrol", object_type="User", object_ids=[me], actor_id=me)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    qr = segno.make(uri, error="m").svg_data_uri(scale=4)
    return Enrolment(secret, uri, qr)


async def _new_recovery_codes(uow: UnitOfWork, user_id: int) -> list[str]:
    await uow.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    uow.session.add_all(
        RecoveryCode(user_id=user_id, code_hash=_recovery_hash(user_id, c)) for c in codes
    )
    await uow.session.flush()
    return codes


async def confirm(rt: Runtime, uow: UnitOfWork, viewer: Viewer, code: str) -> list[str]:
    """Turns two-factor sign-in on with a first code; answers the recovery codes (shown
    once)."""
    me = viewer.require_user()
    row = await uow.session.get(TwoFactor, me)
    if row is None:
        raise DomainError.of(
            "NOT_ENROLLING", "Start with twoFactorEnroll, then confirm with a code.", "code"
        )
    if row.confirmed_at is not None:
        raise DomainError.of("ALREADY_ENABLED", "Two-factor sign-in is on already.", "code")
    attempts = await _attempt(rt, me)
    step = _matching_step(_decrypt(rt.settings, row.secret_encrypted), _clean(code))
    if step is None:
        raise await _failed(rt, uow, me, "wrong_confirmation_code", attempts)
    await rt.failures.clear(_failures_key(me))
    now = datetime.now(UTC)
    row.confirmed_at = now
    row.last_step = step
    user = await uow.session.get(User, me)
    assert user is not None
    user.two_factor_enabled_at = now
    # Other sessions and tokens were made without the second factor; the one asking has
    # just shown the authenticator, and now counts as having passed it.
    await _forget_second_factor(uow, me)
    if viewer.session_id is not None:
        current = await uow.session.get(Session, viewer.session_id)
        if current is not None:
            current.two_factor = True
    codes = await _new_recovery_codes(uow, me)
    audit.record(uow, "two_factor.enable", object_type="User", object_ids=[me], actor_id=me)
    await mail.queue_email(
        uow,
        user=user,
        template="two_factor_enabled",
        subject="Two-factor sign-in is on for your alumnet account",
        body=mail.two_factor_body(user, enabled=True),
    )
    return codes


async def regenerate_recovery_codes(
    rt: Runtime, uow: UnitOfWork, viewer: Viewer, code: str
) -> list[str]:
    """New recovery codes (the old ones stop working), for a current authenticator code."""
    me = viewer.require_user()
    await verify_code(rt, uow, me, code, recovery=False)
    codes = await _new_recovery_codes(uow, me)
    audit.record(uow, "two_factor.recovery_codes", object_type="User", object_ids=[me], actor_id=me)
    return codes


async def _forget_second_factor(uow: UnitOfWork, user_id: int) -> None:
    """No session or token of the user's counts as having passed the second factor."""
    for model in (Session, PersonalAccessToken):
        await uow.session.execute(
            update(model)
            .where(model.user_id == user_id, model.two_factor.is_(True))
            .values(two_factor=False)
            .execution_options(synchronize_session=False)
        )


async def _turn_off(uow: UnitOfWork, user: User) -> None:
    """Off, and forgotten by every session and token: enrolling again does not give back
    what they could do."""
    await uow.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await uow.session.execute(delete(TwoFactor).where(TwoFactor.user_id == user.id))
    await _forget_second_factor(uow, user.id)
    user.two_factor_enabled_at = None


async def disable(rt: Runtime, uow: UnitOfWork, viewer: Viewer, password: str, code: str) -> User:
    """Turns it off: the password and a code (or a recovery code), both."""
    from alumnet.domain.identity.users import confirm_identity

    me = viewer.require_user()
    if not password:
        raise DomainError.of("PASSWORD_REQUIRED", "Give your password.", "password")
    await confirm_identity(rt, uow, viewer, password)
    await verify_code(rt, uow, me, code)
    user = await uow.session.get(User, me)
    assert user is not None
    await _turn_off(uow, user)
    audit.record(uow, "two_factor.disable", object_type="User", object_ids=[me], actor_id=me)
    await mail.queue_email(
        uow,
        user=user,
        template="two_factor_disabled",
        subject="Two-factor sign-in is off for your alumnet account",
        body=mail.two_factor_body(user, enabled=False),
    )
    return user


async def reset(
    rt: Runtime,
    uow: UnitOfWork,
    viewer: Viewer,
    user_id: int,
    reason: str,
    password: str | None = None,
) -> User:
    """A user manager turns someone's second factor off (a lost phone and lost recovery
    codes), saying why, with their own password (or a sign-in of the last ten minutes):
    audited, the user's sessions end, and they are told. Not one's own: that is
    ``disable``, with a code. The operator at the command line (``via="cli"``) may."""
    from alumnet.domain.identity.users import confirm_identity, revoke_sessions

    actor = viewer.require(Permission.USERS_MANAGE)
    operator = viewer.via == "cli"
    if not operator:
        if user_id == actor:
            raise DomainError.of(
                "FORBIDDEN",
                "Turn your own two-factor sign-in off with twoFactorDisable (your password "
                "and a code), or ask another administrator.",
                "userId",
            )
        await confirm_identity(rt, uow, viewer, password)
    reason = " ".join(reason.split())
    if not reason or len(reason) > 500:
        raise DomainError.of(
            "INVALID", "Say why (up to 500 characters): it is kept in the audit log.", "reason"
        )
    user = await uow.session.get(User, user_id)
    if user is None:
        raise DomainError.of("NOT_FOUND", "No such user.", "userId")
    row = await uow.session.get(TwoFactor, user_id)
    if row is None:
        raise DomainError.of(
            "TWO_FACTOR_NOT_ENABLED", "This user has no two-factor sign-in to reset.", "userId"
        )
    await _turn_off(uow, user)
    await revoke_sessions(uow, user_id, "two_factor_reset")
    await rt.failures.clear(_lock_key(user_id))
    audit.record(
        uow,
        "two_factor.reset",
        object_type="User",
        object_ids=[user_id],
        actor_id=None if operator else actor,
        details={"reason": reason, "via": "cli"} if operator else {"reason": reason},
    )
    await mail.queue_email(
        uow,
        user=user,
        template="two_factor_reset",
        subject="Your alumnet two-factor sign-in was reset",
        body=mail.two_factor_reset_body(user),
    )
    return user


async def locked(rt: Runtime, user_id: int) -> bool:
    """Whether too many wrong codes have locked the user's second factor for now."""
    return await rt.failures.held(_lock_key(user_id))


def required_roles(settings: Settings) -> frozenset[Role]:
    return frozenset(Role(r) for r in settings.two_factor_required_roles)
