"""Short-lived access tokens: JWT with a pinned algorithm and required claims."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from alumnet.config import Settings

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti", "iss", "aud", "sid"]


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    session_id: int
    jti: str
    expires_at: datetime


class InvalidAccessToken(Exception):
    """Expired, forged, wrongly signed or malformed; never says which to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def issue_access_token(settings: Settings, user_id: int, session_id: int) -> tuple[str, datetime]:
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=settings.access_token_ttl_seconds)
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "sub": str(user_id),
        "sid": str(session_id),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM), expires


def read_access_token(settings: Settings, token: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": REQUIRED_CLAIMS},
            leeway=5,
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidAccessToken("expired") from exc
    except jwt.PyJWTError as exc:
        raise InvalidAccessToken("invalid") from exc
    try:
        return AccessClaims(
            user_id=int(claims["sub"]),
            session_id=int(claims["sid"]),
            jti=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidAccessToken("invalid") from exc


# --- two-factor challenges ------------------------------------------------------------------

CHALLENGE_AUDIENCE = "alumnet-two-factor"
CHALLENGE_TTL = timedelta(minutes=5)


@dataclass(frozen=True)
class ChallengeClaims:
    user_id: int
    jti: str
    expires_at: datetime
    # Which password it was issued for (a digest of its hash): a change ends it.
    password: str = ""


def issue_challenge(
    settings: Settings, user_id: int, password: str = ""
) -> tuple[str, ChallengeClaims]:
    """What ``tokenCreate`` answers when the password was right and a code is still due:
    short-lived, for one account, used once (its ``jti`` is remembered), and of another
    audience than access tokens, so that it never works as one."""
    now = datetime.now(UTC)
    claims = ChallengeClaims(user_id, uuid.uuid4().hex, now + CHALLENGE_TTL, password)
    token = jwt.encode(
        {
            "iss": settings.jwt_issuer,
            "aud": CHALLENGE_AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
            "sub": str(user_id),
            "jti": claims.jti,
            "pwd": password,
        },
        settings.secret_key,
        algorithm=ALGORITHM,
    )
    return token, claims


def read_challenge(settings: Settings, token: str, *, expired: bool = False) -> ChallengeClaims:
    """The challenge's claims; ``expired``: also of one that has expired (to say whose it
    was in the audit log)."""
    if len(token) > 1000:
        raise InvalidAccessToken("invalid")
    try:
        claims = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[ALGORITHM],
            audience=CHALLENGE_AUDIENCE,
            issuer=settings.jwt_issuer,
            options={
                "require": ["exp", "iat", "sub", "jti", "iss", "aud"],
                "verify_exp": not expired,
            },
        )
        return ChallengeClaims(
            int(claims["sub"]),
            str(claims["jti"]),
            datetime.fromtimestamp(int(claims["exp"]), UTC),
            str(claims.get("pwd", "")),
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidAccessToken("expired") from exc
    except (jwt.PyJWTError, TypeError, ValueError) as exc:
        raise InvalidAccessToken("invalid") from exc
