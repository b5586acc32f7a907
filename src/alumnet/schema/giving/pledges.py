"""Giving: pledges."""

from __future__ import annotations

import strawberry


@strawberry.type
class PledgeQuery:
    pass


@strawberry.type
class PledgeMutation:
    pass
