"""(filled in by its part of the analytics context)"""

from __future__ import annotations

import strawberry


@strawberry.type
class ReportSubscriptionQuery:
    pass


@strawberry.type
class ReportSubscriptionMutation:
    pass
