"""A user's sessions as they see them: the device each signed in from, where and when,
and ending one or all of them. A sign-in from a device the account has not used before
is told to its owner by e-mail and in the app."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy import select

from alumnet.domain.errors import DomainError
from alumnet.domain.identity import audit, mail
from alumnet.domain.identity.permissions import Viewer
from alumnet.domain.runtime import Runtime
from alumnet.persistence.models import Session, User
from alumnet.persistence.uow import UnitOfWork

UNKNOWN_DEVICE = "Unknown device"


@lru_cache(maxsize=1024)
def describe_device(user_agent: str | None) -> str:
    """ "Firefox on Windows", "Mobile Safari on iOS (iPhone)": the browser and system
    families without versions, so that an update is not a new device."""
    if not user_agent:
        return UNKNOWN_DEVICE
    from ua_parser import parse

    found = parse(user_agent[:512])
    browser = found.user_agent.family if found.user_agent else None
    system = found.os.family if found.os else None
    hardware = found.device.family if found.device else None
    if browser in (None, "Other") and system in (None, "Other"):
        # Scripts and tools (curl, python-httpx): their name, without the version.
        name = user_agent.split("/", 1)[0].split()[0][:40] if user_agent.strip() else ""
        return name or UNKNOWN_DEVICE
    text = browser or "A browser"
    if system and system != "Other":
        text += f" on {system}"
    if hardware and hardware not in ("Other", "Mac", "Spider") and hardware != system:
        text += f" ({hardware})"
    return text[:128]


async def tell_new_device(uow: UnitOfWork, user: User, session: Session) -> None:
    """E-mail (always: it is about the account's safety) and an in-app notification."""
    from alumnet.domain.communication.notifications import Event, notify

    device = session.device or UNKNOWN_DEVICE
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    await mail.queue_email(
        uow,
        user=user,
        template="new_device",
        subject="New sign-in to your alumnet account",
        body=mail.new_device_body(user, device, session.ip, when),
    )
    await notify(
        uow,
        [user.id],
        Event(
            kind="security",
            title=f"New sign-in: {device}",
            body=f"From {session.ip or 'an unknown address'} at {when} UTC. If it was not "
            "you, end that session and change your password.",
            subject_type="Session",
            subject_id=session.id,
        ),
    )


async def revoke_one(rt: Runtime, uow: UnitOfWork, viewer: Viewer, session_id: int) -> Session:
    """Ends one of the viewer's own sessions; another's is not found (and the attempt is
    audited)."""
    me = viewer.require_user()
    session = await uow.session.get(Session, session_id)
    if session is None or session.user_id != me:
        if session is not None:
            await audit.record_apart(
                rt,
                uow,
                "session.revoke_refused",
                object_type="Session",
                object_ids=[session_id],
                actor_id=me,
                details={"reason": "not_owner"},
            )
        raise DomainError.of("NOT_FOUND", "No such session of yours.", "id")
    if session.revoked_at is None:
        session.revoked_at = datetime.now(UTC)
        session.revoked_reason = "revoked_by_owner"
        audit.record(
            uow,
            "session.revoke",
            object_type="Session",
            object_ids=[session.id],
            actor_id=me,
            details={"reason": "revoked_by_owner", "current": session.id == viewer.session_id},
        )
    return session


async def revoke_all(uow: UnitOfWork, viewer: Viewer, *, except_current: bool) -> int:
    """Ends every session of the viewer's (but the one asking, ``except_current``);
    answers how many ended."""
    me = viewer.require_user()
    conditions = [Session.user_id == me, Session.revoked_at.is_(None)]
    if except_current and viewer.session_id is not None:
        conditions.append(Session.id != viewer.session_id)
    # Through the ORM, so that only this user's cached credentials are forgotten.
    ended = (await uow.session.execute(select(Session).where(*conditions))).scalars().all()
    now = datetime.now(UTC)
    for session in ended:
        session.revoked_at = now
        session.revoked_reason = "revoked_by_owner"
    audit.record(
        uow,
        "session.revoke_all",
        object_type="User",
        object_ids=[me],
        actor_id=me,
        details={"ended": len(ended), "exceptCurrent": except_current},
    )
    return len(ended)
