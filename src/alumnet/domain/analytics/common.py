"""What every dashboard and report shares: a date range checked once, the smallest group
broken down, and the table a report answers (for GraphQL, exports and scheduled e-mails)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from alumnet.domain.errors import DomainError

# A report covers at most five years (a programme's history, never an accident's century).
MAX_RANGE_DAYS = 5 * 366
# The days a range may name at all (the comparison period before it must exist too).
EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)
# Groups smaller than this are not broken down where a figure would identify a person
# (a mission's average of three students is nearly each student's own figure).
MIN_GROUP = 5


@dataclass(frozen=True)
class DateRange:
    """Whole days, both ends included."""

    since: date
    until: date

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    def previous(self) -> DateRange:
        """The period of the same length just before, to compare with."""
        return DateRange(self.since - timedelta(days=self.days), self.since - timedelta(days=1))

    @classmethod
    def of(
        cls,
        since: date | None,
        until: date | None,
        *,
        today: date,
        default_days: int = 28,
        fields: tuple[str, str] = ("from", "to"),
    ) -> DateRange:
        """The range asked for: ``until`` defaults to today, ``since`` to ``default_days``
        before it. Upside down or over five years is refused, naming the field."""
        end = until or today
        start = since or end - timedelta(days=default_days - 1)
        for day, name in ((start, fields[0]), (end, fields[1])):
            if not EARLIEST <= day <= LATEST:
                raise DomainError.of(
                    "INVALID", f"`{name}` must be a day from {EARLIEST} to {LATEST}.", name
                )
        if start > end:
            raise DomainError.of("INVALID", "`to` must be on or after `from`.", fields[1])
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            raise DomainError.of("INVALID", "A range covers at most five years.", fields[1])
        return cls(start, end)


def small(count: int | None) -> bool:
    """A group too small to break down without identifying someone."""
    return count is not None and 0 < count < MIN_GROUP


ColumnKind = Literal["text", "integer", "decimal", "percent", "date"]


@dataclass(frozen=True)
class Column:
    name: str  # a stable key, also the CSV header
    label: str  # what a person reads
    kind: ColumnKind = "text"


@dataclass(frozen=True)
class Chart:
    """A chart of some of a table's columns, drawn natively in a spreadsheet."""

    kind: Literal["line", "bar"]
    title: str
    x: str  # the column along the x axis
    series: tuple[str, ...]  # the columns drawn


@dataclass
class Table:
    """A report as rows: what an export writes and a scheduled report e-mails."""

    title: str
    columns: list[Column]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    # Lines a reader needs (the range, comparisons, what was left out for privacy).
    notes: list[str] = field(default_factory=list)
