"""The audit log: who changed what, which objects, when and from where."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alumnet.persistence.models import AuditEvent
from alumnet.persistence.uow import UnitOfWork

AUDIT_CHANNEL = "audit"


def record(
    uow: UnitOfWork,
    action: str,
    *,
    object_type: str | None = None,
    object_ids: Iterable[int | str] = (),
    details: dict[str, Any] | None = None,
    actor_id: int | None = None,
    summary: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        action=action,
        object_type=object_type,
        object_ids=[str(i) for i in object_ids],
        details=details or {},
        actor_id=actor_id if actor_id is not None else uow.actor_id,
        ip=uow.origin.ip,
        user_agent=(uow.origin.user_agent or "")[:256] or None,
        request_id=uow.origin.request_id,
        summary=summary,
    )
    uow.session.add(event)
    return event
