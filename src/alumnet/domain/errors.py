"""Failures a caller can act on: they become userErrors, never GraphQL errors."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    field: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Sent:
    """An id as the caller sent it (``said``, e.g. a global id) and the primary key it
    names (None: nothing of the expected type), so that a message about it quotes what
    the caller sent and never an internal key."""

    pk: int | None
    said: str


class DomainError(Exception):
    """One or more problems with the request; the transaction is rolled back."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)

    @classmethod
    def of(cls, code: str, message: str, field: str | tuple[str, ...] | None = None) -> DomainError:
        path = (field,) if isinstance(field, str) else field
        return cls(Problem(code=code, message=message, field=path))


class NotAuthenticated(Exception):
    """The operation needs a signed-in viewer."""


class PermissionDenied(Exception):
    """The viewer may not do this; callers present it as not found where it matters."""


class Problems:
    """Collects validation problems so that all of them are reported at once."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, code: str, message: str, field: str | tuple[str, ...] | None = None) -> None:
        path = (field,) if isinstance(field, str) else field
        self.items.append(Problem(code=code, message=message, field=path))

    def raise_if_any(self) -> None:
        if self.items:
            raise DomainError(*self.items)


def check_text(
    problems: Problems,
    value: str | None,
    *,
    field: str | tuple[str, ...],
    max_length: int,
    min_length: int = 0,
    label: str,
) -> str | None:
    """Trim and bound a free-text value; control characters are refused."""
    if value is None:
        return None
    cleaned = value.strip()
    if len(cleaned) > max_length:
        problems.add("TOO_LONG", f"{label} must be at most {max_length} characters.", field)
    elif len(cleaned) < min_length:
        if min_length == 1:
            problems.add("REQUIRED", f"{label} is required.", field)
        else:
            problems.add("TOO_SHORT", f"{label} must be at least {min_length} characters.", field)
    if any(ord(ch) < 32 and ch not in "\t\n" for ch in cleaned):
        problems.add("INVALID", f"{label} contains control characters.", field)
    return cleaned


# Characters that reorder or hide text: a one-line label must read as it is.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def check_label(
    problems: Problems,
    given: str,
    *,
    field: str | tuple[str, ...],
    max_length: int,
    label: str,
    min_length: int = 0,
) -> str:
    """A one-line label (a title, a name): runs of white space made one space, control
    and bidirectional-override characters refused."""
    text = " ".join(given.split())
    if len(text) > max_length:
        problems.add("TOO_LONG", f"{label} is at most {max_length} characters.", field)
    elif len(text) < min_length:
        problems.add("REQUIRED", f"{label} is required.", field)
    elif any(unicodedata.category(c) == "Cc" or c in BIDI_CONTROLS for c in text):
        problems.add("INVALID", f"{label} contains control characters.", field)
    return text


def check_moment(
    problems: Problems, value: datetime | None, *, field: str, label: str
) -> datetime | None:
    """An input timestamp in UTC (a naive one is taken as UTC); one out of range is a
    problem, not an error."""
    if value is None:
        return None
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:
        problems.add("INVALID", f"{label} is out of range.", field)
        return None
