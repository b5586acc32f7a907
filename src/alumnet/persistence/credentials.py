"""Which users' credentials a committed transaction changed.

API processes keep the sessions and tokens they have checked for a while (see
``domain/identity/credential_cache.py``). Whatever can end or narrow a credential is a
change to one of six tables: a session revoked (sign-out, refresh-token reuse), a
personal access token revoked, a role or custom role given or taken, a custom role's
permissions changed, a user suspended, merged or changed. Every ORM session of a
``Database`` notes such changes as they are flushed or executed, and once its
transaction has committed hands them to the database's ``on_credentials`` callback (set
by the composition root), which ends the local cache's entries at once and announces the
change on the event bus for the other processes.

What is noted errs on the side of more: an UPDATE or DELETE statement on those tables
(whose rows are not known here) counts as a change for everyone; a savepoint rolled back
still counts. A change is never reported before it has committed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.orm import Session as OrmSession

from alumnet.persistence.db import CREDENTIALS_CALLBACK as CALLBACK
from alumnet.persistence.models import (
    CustomRole,
    CustomRoleAssignment,
    PersonalAccessToken,
    Session,
    User,
    UserRole,
)

# The bus channel the changes go out on.
CHANNEL = "credentials"
# Tables whose rows decide whether a credential works and what it may do. A new row of
# `users`, `sessions` or `personal_access_tokens` cannot change a credential checked
# before; a new role can, and so can a custom role given (a custom role changed or deleted
# changes whoever holds it: everyone's, as the holders are not known here).
TABLES = frozenset(
    {
        "users",
        "user_roles",
        "sessions",
        "personal_access_tokens",
        "custom_roles",
        "custom_role_assignments",
    }
)
INSERTS_THAT_MATTER = frozenset({"user_roles", "custom_role_assignments"})

Changed = frozenset[int] | None  # the users whose credentials changed; None: anyone's
Callback = Callable[[Changed], None]

_PENDING = "alumnet.credentials.pending"


def _note(session: OrmSession, users: set[int] | None) -> None:
    pending = session.info.get(_PENDING, set())
    if users is None or pending is None:
        session.info[_PENDING] = None
    else:
        session.info[_PENDING] = pending | users


@event.listens_for(OrmSession, "after_flush")
def _flushed(session: OrmSession, _context: Any) -> None:
    if CALLBACK not in session.info:
        return
    users: set[int] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, CustomRole):
            if obj not in session.new:
                _note(session, None)
        elif isinstance(obj, User):
            if obj.id is not None and obj not in session.new:
                users.add(obj.id)
        elif isinstance(obj, UserRole | Session | PersonalAccessToken | CustomRoleAssignment):
            if obj in session.new and not isinstance(obj, UserRole | CustomRoleAssignment):
                continue
            if obj.user_id is not None:
                users.add(obj.user_id)
    if users:
        _note(session, users)


@event.listens_for(OrmSession, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if CALLBACK not in state.session.info:
        return
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    name = getattr(getattr(state.statement, "table", None), "name", None)
    if name not in TABLES or (state.is_insert and name not in INSERTS_THAT_MATTER):
        return
    _note(state.session, None)


@event.listens_for(OrmSession, "after_commit")
def _committed(session: OrmSession) -> None:
    if _PENDING not in session.info:
        return
    users = session.info.pop(_PENDING)
    callback: Callback | None = session.info.get(CALLBACK)
    if callback is not None:
        callback(None if users is None else frozenset(users))


def payload(users: Changed) -> dict[str, Any]:
    """The bus message for a change."""
    return {"all": True} if users is None else {"users": sorted(users)}


def read_payload(message: dict[str, Any]) -> Changed:
    """The change a bus message announces (anything unexpected counts as everyone's)."""
    users = message.get("users")
    if isinstance(users, list) and all(isinstance(u, int) for u in users):
        return frozenset(users)
    return None
