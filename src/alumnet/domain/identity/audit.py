"""The audit log: who changed what, which objects, when and from where."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from alumnet.persistence.models import AuditEvent
from alumnet.persistence.uow import UnitOfWork

if TYPE_CHECKING:
    from alumnet.domain.runtime import Runtime

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


async def record_apart(rt: Runtime, uow: UnitOfWork, action: str, **given: Any) -> None:
    """Like ``record``, in a transaction of its own, for a refusal that concerns access:
    ``uow``'s transaction is rolled back with the error that follows. Write it before
    ``uow`` has written anything (SQLite's one writer would keep it waiting)."""
    async with rt.transaction(actor_id=uow.actor_id, origin=uow.origin) as own:
        record(own, action, **given)
