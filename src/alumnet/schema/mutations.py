"""Running a mutation: one transaction, domain problems turned into userErrors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from sqlalchemy.exc import IntegrityError
from strawberry import relay

from alumnet.domain.errors import DomainError, NotAuthenticated, PermissionDenied, Problem, Sent
from alumnet.persistence.uow import UnitOfWork
from alumnet.schema.context import Info
from alumnet.schema.errors import forbidden, not_authenticated
from alumnet.schema.nodes import global_pk

T = TypeVar("T")

CODE_DESCRIPTION = "What went wrong, for programs to act on."
INVALID = "The input is not valid; see the message."
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
    except IntegrityError:
        # A concurrent change won a race for a unique value: nothing was written.
        return None, [
            Problem(code="CONFLICT", message="Someone changed this at the same time; try again.",
                    field=None)
        ]  # fmt: skip
    except NotAuthenticated:
        raise not_authenticated() from None
    except PermissionDenied:
        raise forbidden() from None


def arg(description: str) -> Any:
    """A mutation argument's description (every mutation takes one `input`)."""
    return strawberry.argument(description=description)


def pk_of(gid: relay.GlobalID | None, type_name: str, field: str) -> int:
    """The primary key behind a global id of this type; NOT_FOUND (a userError) if not."""
    pk = global_pk(gid, type_name)
    if pk is None:
        raise DomainError.of("NOT_FOUND", f"No such {type_name.lower()}.", field)
    return pk


def sent_ids(gids: list[relay.GlobalID], type_name: str) -> list[Sent]:
    """A list input of global ids, element by element: the key each names (None when it
    names no object of this type) and the id as sent (cut at 100 characters), for messages."""
    return [Sent(global_pk(g, type_name), str(g)[:100]) for g in gids]


def uploaded(value: Any, field: str = "file") -> tuple[str, Callable[[int], Awaitable[bytes]]]:
    """A file sent as a part of the GraphQL multipart request: its name and a way to read
    it; INVALID (a userError) when the variable holds anything else (a string in JSON)."""
    read = getattr(value, "read", None)
    if not callable(read):
        raise DomainError.of(
            "INVALID", "Send the file as a part of a GraphQL multipart request.", field
        )
    return getattr(value, "filename", None) or "upload", read
