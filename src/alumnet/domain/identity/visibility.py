"""Who may see which identity objects. A node the viewer may not see does not exist."""

from __future__ import annotations

from alumnet.domain.identity.permissions import Permission, Viewer


def may_see_user(viewer: Viewer, user_id: int) -> bool:
    return viewer.is_authenticated and (
        viewer.user_id == user_id or viewer.can(Permission.USERS_READ)
    )


def may_see_account_details(viewer: Viewer, user_id: int) -> bool:
    """Status, sign-in times, tokens: the owner and user managers."""
    return viewer.is_authenticated and (
        viewer.user_id == user_id or viewer.can(Permission.USERS_MANAGE)
    )


def may_see_token(viewer: Viewer, owner_id: int) -> bool:
    return may_see_account_details(viewer, owner_id)


def may_see_job(viewer: Viewer, created_by_id: int | None) -> bool:
    return viewer.is_authenticated and (
        viewer.can(Permission.JOBS_READ)
        or (created_by_id is not None and viewer.user_id == created_by_id)
    )


def may_read_job_error(viewer: Viewer, created_by_id: int | None) -> bool:
    """A failed job's message may quote what it worked on (an address, a query's
    variables): whoever asked for the job, and those who read the audit log, see it;
    other job readers see the error's type."""
    return viewer.is_authenticated and (
        viewer.can(Permission.AUDIT_READ)
        or (created_by_id is not None and viewer.user_id == created_by_id)
    )
