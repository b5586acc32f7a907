"""Volunteering: alumni's engagements (speaking, training, judging, mentoring at events,
hosting visits) and the hours reports."""

from __future__ import annotations

import strawberry


@strawberry.type
class VolunteeringQuery:
    pass


@strawberry.type
class VolunteeringMutation:
    pass
