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
