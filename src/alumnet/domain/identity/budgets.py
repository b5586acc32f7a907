"""Query-cost budgets: what each viewer may spend on queries, as Shopify's API does.

Every operation costs its computed query cost (schema/cost.py), bulk-query pages and
export rows included. Each viewer has a leaky bucket of points: it holds at most the
budget's size and fills again at its rate (points a second). A signed-in person's bucket
is theirs, of the most generous of their roles' budgets (ALUMNET_QUERY_BUDGETS); an
anonymous caller's is their client address's, of the ANONYMOUS budget.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from alumnet.config import QueryBudget, Settings
from alumnet.domain.identity.permissions import Viewer
from alumnet.domain.identity.users import client_key
from alumnet.domain.runtime import Runtime

ANONYMOUS_BUDGET = "ANONYMOUS"


@dataclass(frozen=True)
class Spent:
    """What a draw on a budget found."""

    allowed: bool
    budget: QueryBudget
    # Points left once this cost was taken (or, if refused, before it).
    available: float
    # Whole seconds until the refused cost would fit (0 when allowed).
    retry_after: int = 0


def budget_of(settings: Settings, viewer: Viewer) -> QueryBudget:
    """The viewer's budget: the most generous of their roles' (by rate, then size). A
    signed-in person whose roles have none of their own gets the least of the roles'."""
    budgets = dict(settings.query_budgets)
    if viewer.user_id is None:
        return budgets[ANONYMOUS_BUDGET]
    mine = [budgets[r.value] for r in viewer.roles if r.value in budgets]
    if not mine:
        mine = [min((b for w, b in budgets.items() if w != ANONYMOUS_BUDGET),
                    key=lambda b: (b.rate, b.size))]  # fmt: skip
    return max(mine, key=lambda b: (b.rate, b.size))


def bucket_key(viewer: Viewer, ip: str | None) -> str:
    if viewer.user_id is not None:
        return f"user:{viewer.user_id}"
    return f"address:{client_key(ip)}"


async def spend(rt: Runtime, viewer: Viewer, ip: str | None, cost: int) -> Spent | None:
    """Take ``cost`` points from the viewer's budget if it holds them; None where no
    budgets are kept, or they cannot be reached."""
    if rt.budgets is None:
        return None
    budget = budget_of(rt.settings, viewer)
    drawn = await rt.budgets.draw(bucket_key(viewer, ip), max(0, cost), budget.size, budget.rate)
    if drawn is None:
        return None
    allowed, available = drawn
    wait = 0 if allowed else max(1, math.ceil((cost - available) / budget.rate))
    return Spent(allowed, budget, available, wait)


async def spend_patiently(rt: Runtime, viewer: Viewer, cost: int) -> None:
    """For background work on a person's behalf (an export): take ``cost`` points from
    their budget, waiting for the bucket to fill as often as needed, in parts no larger
    than the bucket."""
    budget = budget_of(rt.settings, viewer)
    left = cost
    while left > 0:
        part = min(left, budget.size)
        spent = await spend(rt, viewer, None, part)
        if spent is None:
            return
        if spent.allowed:
            left -= part
        else:
            await asyncio.sleep(spent.retry_after)
