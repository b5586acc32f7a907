"""Shapes every part of giving shares: an amount of money."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from alumnet.domain import money


@strawberry.type(description="An exact amount of money in one currency.")
class Money:
    amount: Decimal = strawberry.field(
        description="The amount in major units (dollars, not cents), exact, with the "
        "currency's own number of decimal places (USD 2, JPY 0, KWD 3)."
    )
    currency: str = strawberry.field(description="The currency (ISO 4217 code, e.g. USD).")

    @classmethod
    def of(cls, minor: int, currency: str) -> Money:
        """From an integer of minor units (as kept in the database)."""
        amount = money.major_units(minor, currency)
        assert amount is not None
        return cls(amount=amount, currency=currency)
