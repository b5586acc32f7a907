"""Giving: reports."""

from __future__ import annotations

import strawberry


@strawberry.type
class GivingReportQuery:
    pass


@strawberry.type
class GivingReportMutation:
    pass
