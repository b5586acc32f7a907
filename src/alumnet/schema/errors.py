"""GraphQL errors (authentication, permission, malformed input) and userErrors.

userErrors are the answer to a request that was understood but cannot be carried out:
validation and business rules. GraphQL ``errors`` are for malformed requests,
authentication failures and bugs; a bug's details are masked outside development.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.relay.types import GlobalIDValueError

from alumnet.domain.errors import DomainError, NotAuthenticated, PermissionDenied, Problem
from alumnet.schema.persisted import CODES as PERSISTED_CODES

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
BAD_USER_INPUT = "BAD_USER_INPUT"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
TIMEOUT = "TIMEOUT"
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
THROTTLED = "THROTTLED"
PUBLIC_CODES = frozenset(
    {
        UNAUTHENTICATED,
        FORBIDDEN,
        BAD_USER_INPUT,
        SERVICE_UNAVAILABLE,
        TIMEOUT,
        OUTCOME_UNKNOWN,
        THROTTLED,
        "QUERY_TOO_COSTLY",
        "QUERY_TOO_LARGE",
        *PERSISTED_CODES,
    }
)
# Seconds a client is asked to wait (``Retry-After``) when the service is too busy.
RETRY_AFTER_SECONDS = 2
BUSY_MESSAGE = (
    "alumnet is too busy to answer right now (the database did not answer in time). "
    f"Try again in {RETRY_AFTER_SECONDS} seconds."
)


def not_authenticated() -> GraphQLError:
    return GraphQLError(
        "Sign in first: send 'Authorization: Bearer <access token or personal access token>'.",
        extensions={"code": UNAUTHENTICATED},
    )


def forbidden() -> GraphQLError:
    return GraphQLError("You do not have permission to do this.", extensions={"code": FORBIDDEN})


def refusal(exc: DomainError) -> GraphQLError:
    """A report's DomainError as a GraphQL error: a mission or batch outside reach is
    NOT_FOUND (as one that does not exist), what the viewer may not break down
    FORBIDDEN, anything else BAD_USER_INPUT; ``extensions.field`` names the argument."""
    problem = exc.problems[0]
    code = {"NOT_FOUND": "NOT_FOUND", "FORBIDDEN": FORBIDDEN}.get(problem.code, BAD_USER_INPUT)
    return GraphQLError(
        problem.message, extensions={"code": code, "field": list(problem.field or ())}
    )


@contextmanager
def report_errors() -> Iterator[None]:
    """Around a report or a list that refuses with GraphQL errors rather than userErrors:
    its DomainError as ``refusal`` says, not signed in UNAUTHENTICATED, not allowed
    FORBIDDEN."""
    try:
        yield
    except DomainError as exc:
        raise refusal(exc) from None
    except NotAuthenticated:
        raise not_authenticated() from None
    except PermissionDenied:
        raise forbidden() from None


def bad_input(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": BAD_USER_INPUT})


def service_unavailable(error: GraphQLError | None = None) -> GraphQLError:
    """What a request that found the database too busy answers (HTTP 503 with
    ``Retry-After``), in place of ``error`` if given (its path and location are kept)."""
    return GraphQLError(
        BUSY_MESSAGE,
        nodes=error.nodes if error else None,
        path=error.path if error else None,
        extensions={"code": SERVICE_UNAVAILABLE, "retryAfter": RETRY_AFTER_SECONDS},
    )


TIMEOUT_MESSAGE = (
    "This request took too long and was stopped: ask for less (smaller pages, fewer "
    "nested lists, a narrower filter)."
)


def timed_out(error: GraphQLError | None = None) -> GraphQLError:
    """What a statement past its timeout, or a request past its deadline, answers, in
    place of ``error`` if given (its path and location are kept; never the SQL)."""
    return GraphQLError(
        TIMEOUT_MESSAGE,
        nodes=error.nodes if error else None,
        path=error.path if error else None,
        extensions={"code": TIMEOUT},
    )


OUTCOME_UNKNOWN_MESSAGE = (
    "The connection to the database broke while this change was being saved: it may or may "
    "not have been made. Check (read it back) before sending it again."
)


def outcome_unknown(error: GraphQLError | None = None) -> GraphQLError:
    """What a change whose COMMIT met a broken connection answers (``CommitOutcomeUnknown``),
    in place of ``error`` if given: no ``retryAfter``, as sending it again blindly could
    make the change twice."""
    return GraphQLError(
        OUTCOME_UNKNOWN_MESSAGE,
        nodes=error.nodes if error else None,
        path=error.path if error else None,
        extensions={"code": OUTCOME_UNKNOWN},
    )


def should_mask(error: GraphQLError) -> bool:
    """Mask everything that is not one of our deliberate, public errors."""
    original = error.original_error
    candidate = original if isinstance(original, GraphQLError) else error
    code = (candidate.extensions or {}).get("code")
    if code in PUBLIC_CODES:
        return False
    if isinstance(original, (StrawberryInputCoercionError, GlobalIDValueError, GraphQLError)):
        # A malformed input value (an id that is no id, a variable of the wrong type): its
        # message says what is wrong with what the caller sent.
        return False
    # graphql-core's own parse and validation errors carry no original error.
    return original is not None


def give_code(error: GraphQLError) -> None:
    """A code for a public error that came without one (graphql-core's and Strawberry's
    own), so that every error says what it is in ``extensions.code``."""
    if "code" in (error.extensions or {}):
        return
    original = error.original_error
    if isinstance(original, GraphQLError) and "code" in (original.extensions or {}):
        code = (original.extensions or {})["code"]
    elif original is None and error.message.startswith("Syntax Error"):
        code = "GRAPHQL_PARSE_FAILED"
    elif original is None and error.path is None:
        code = "GRAPHQL_VALIDATION_FAILED"
    else:
        code = BAD_USER_INPUT
    error.extensions = {**(error.extensions or {}), "code": code}


@strawberry.interface(
    description="A problem with the input of a mutation: nothing was changed. "
    "Each mutation has its own error type with a `code` from its own enum."
)
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field at fault, e.g. ["input", "email"]; '
        "null when the problem is with the request as a whole."
    )
    message: str = strawberry.field(
        description="A sentence for a person, in English, safe to show in a user interface."
    )


E = TypeVar("E", bound=Enum)


def code_of(enum: type[E], code: str) -> E:
    try:
        return enum[code]
    except KeyError:
        return enum["INVALID"]


def to_field(problem: Problem) -> list[str] | None:
    if problem.field is None:
        return None
    return ["input", *problem.field]


def user_errors(error_type: Any, enum: type[Enum], problems: list[Problem]) -> list[Any]:
    return [
        error_type(field=to_field(p), message=p.message, code=code_of(enum, p.code))
        for p in problems
    ]
