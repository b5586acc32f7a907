"""Giving: donors."""

from __future__ import annotations

import strawberry


@strawberry.type
class DonorQuery:
    pass


@strawberry.type
class DonorMutation:
    pass
