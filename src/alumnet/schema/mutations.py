"""Running a mutation: one transaction, domain problems turned into userErrors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from alumnet.domain.errors import DomainError, NotAuthenticated, PermissionDenied, Problem
from alumnet.persistence.uow import UnitOfWork
from alumnet.schema.context import Info
from alumnet.schema.errors import forbidden, not_authenticated

T = TypeVar("T")

CODE_DESCRIPTION = "What went wrong, for programs to act on."
CLIENT_MUTATION_ID = (
    "Any string of yours (at most 64 characters), echoed back in the payload so that a script "
    "can match answers to requests."
)


async def run_in_transaction(
    info: Info, change: Callable[[UnitOfWork], Awaitable[T]]
) -> tuple[T | None, list[Problem]]:
    """Run ``change`` in one transaction; problems roll it back and are returned."""
    try:
        async with info.context.transaction() as uow:
            return await change(uow), []
    except DomainError as exc:
        return None, exc.problems
    except NotAuthenticated:
        raise not_authenticated() from None
    except PermissionDenied:
        raise forbidden() from None
