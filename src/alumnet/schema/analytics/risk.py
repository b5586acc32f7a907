"""(filled in by its part of the analytics context)"""

from __future__ import annotations

import strawberry


@strawberry.type
class RiskQuery:
    pass


@strawberry.type
class RiskMutation:
    pass
