"""Giving: campaigns."""

from __future__ import annotations

import strawberry


@strawberry.type
class CampaignQuery:
    pass


@strawberry.type
class CampaignMutation:
    pass


@strawberry.type
class CampaignSubscription:
    pass
