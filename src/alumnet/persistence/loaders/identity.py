"""Identity batch loaders."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from alumnet.persistence.db import Reader
from alumnet.persistence.models import (
    AuditEvent,
    PersonalAccessToken,
    RecoveryCode,
    Session,
    TwoFactor,
    User,
    UserRole,
)

USER_COLUMNS = (
    User.id,
    User.email,
    User.name,
    User.status,
    User.email_verified_at,
    User.created_at,
    User.last_sign_in_at,
    User.phone,
    User.graduation_year,
    User.two_factor_enabled_at,
)


async def users_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    async with db.connect() as conn:
        rows = (await conn.execute(select(*USER_COLUMNS).where(User.id.in_(ids)))).all()
    found = {row.id: row for row in rows}
    return [found.get(i) for i in ids]


async def roles_by_user_id(db: Reader, ids: Sequence[int]) -> list[list[str]]:
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                select(UserRole.user_id, UserRole.role)
                .where(UserRole.user_id.in_(ids))
                .order_by(UserRole.user_id, UserRole.role)
            )
        ).all()
    found: dict[int, list[str]] = defaultdict(list)
    for user_id, role in rows:
        found[user_id].append(role)
    return [found.get(i, []) for i in ids]


PAT_COLUMNS = (
    PersonalAccessToken.id,
    PersonalAccessToken.user_id,
    PersonalAccessToken.name,
    PersonalAccessToken.token_prefix,
    PersonalAccessToken.scope,
    PersonalAccessToken.created_at,
    PersonalAccessToken.expires_at,
    PersonalAccessToken.last_used_at,
    PersonalAccessToken.revoked_at,
)

AUDIT_COLUMNS = (
    AuditEvent.id,
    AuditEvent.occurred_at,
    AuditEvent.actor_id,
    AuditEvent.action,
    AuditEvent.object_type,
    AuditEvent.object_ids,
    AuditEvent.details,
    AuditEvent.ip,
    AuditEvent.user_agent,
    AuditEvent.request_id,
    AuditEvent.summary,
)


async def two_factor_by_user_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    """Each user's authenticator (when confirmed) and unused recovery codes, or None."""
    left = (
        select(func.count())
        .where(RecoveryCode.user_id == TwoFactor.user_id, RecoveryCode.used_at.is_(None))
        .scalar_subquery()
    )
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                select(TwoFactor.user_id, TwoFactor.confirmed_at, left.label("codes_left")).where(
                    TwoFactor.user_id.in_(ids)
                )
            )
        ).all()
    found = {row.user_id: row for row in rows}
    return [found.get(i) for i in ids]


SESSION_COLUMNS = (
    Session.id,
    Session.user_id,
    Session.device,
    Session.user_agent,
    Session.ip,
    Session.created_at,
    Session.last_used_at,
    Session.refreshed_at,
    Session.revoked_at,
)


async def sessions_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    async with db.connect() as conn:
        rows = (await conn.execute(select(*SESSION_COLUMNS).where(Session.id.in_(ids)))).all()
    found = {row.id: row for row in rows}
    return [found.get(i) for i in ids]


async def tokens_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    async with db.connect() as conn:
        rows = (
            await conn.execute(select(*PAT_COLUMNS).where(PersonalAccessToken.id.in_(ids)))
        ).all()
    found = {row.id: row for row in rows}
    return [found.get(i) for i in ids]


async def audit_events_by_id(db: Reader, ids: Sequence[int]) -> list[Any]:
    async with db.connect() as conn:
        rows = (await conn.execute(select(*AUDIT_COLUMNS).where(AuditEvent.id.in_(ids)))).all()
    found = {row.id: row for row in rows}
    return [found.get(i) for i in ids]
