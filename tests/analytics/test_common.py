"""Date ranges, checked once for every dashboard and report."""

from __future__ import annotations

from datetime import date

import pytest

from alumnet.domain.analytics.common import DateRange, small
from alumnet.domain.errors import DomainError

TODAY = date(2026, 12, 5)


def refused(since: date | None, until: date | None) -> tuple[str, str | None]:
    with pytest.raises(DomainError) as caught:
        DateRange.of(since, until, today=TODAY)
    [problem] = caught.value.problems
    return problem.code, (problem.field or (None,))[0]


def test_defaults_and_the_period_before() -> None:
    got = DateRange.of(None, None, today=TODAY)
    assert (got.since, got.until, got.days) == (date(2026, 11, 8), TODAY, 28)
    before = got.previous()
    assert (before.since, before.until) == (date(2026, 10, 11), date(2026, 11, 7))
    assert DateRange.of(date(2026, 12, 5), None, today=TODAY).days == 1


def test_upside_down_too_long_and_out_of_the_calendar_are_refused() -> None:
    assert refused(date(2026, 12, 6), date(2026, 12, 5)) == ("INVALID", "to")
    assert refused(date(2020, 1, 1), date(2026, 1, 1)) == ("INVALID", "to")
    # The first and last days a calendar has: the period before (or the day after) would
    # not exist, so they are refused as input, never an unexpected error.
    assert refused(date(1, 1, 1), date(1, 1, 5)) == ("INVALID", "from")
    assert refused(date(9999, 12, 28), date(9999, 12, 31)) == ("INVALID", "from")
    assert refused(date(2026, 1, 1), date(9999, 12, 31)) == ("INVALID", "to")
    five_years = DateRange.of(date(2021, 12, 6), date(2026, 12, 5), today=TODAY)
    assert five_years.days == 1826


def test_small_groups() -> None:
    assert [small(n) for n in (None, 0, 1, 4, 5, 40)] == [False, False, True, True, False, False]
