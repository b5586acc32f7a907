"""Giving: payments."""

from __future__ import annotations

import strawberry


@strawberry.type
class PaymentQuery:
    pass


@strawberry.type
class PaymentMutation:
    pass
