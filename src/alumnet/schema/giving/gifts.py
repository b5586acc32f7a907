"""Giving: gifts."""

from __future__ import annotations

import strawberry


@strawberry.type
class GiftQuery:
    pass


@strawberry.type
class GiftMutation:
    pass
