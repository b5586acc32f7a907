"""Opaque tokens: random secrets shown once and stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets

PAT_PREFIX = "alm_pat_"
REFRESH_PREFIX = "alm_rt_"


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """Tokens carry 256 bits of entropy, so a fast hash suffices; it is never reversible."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
