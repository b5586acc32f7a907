"""Admissions: inquiries (the public form and staff), the pipeline, the timeline, lead
scores and converting an inquiry into a student."""

from __future__ import annotations

import strawberry

# The node types this module adds to the schema (schema/__init__.py NODE_TYPES).
TYPES: list[type] = []


@strawberry.type
class InquiryQuery:
    pass


@strawberry.type
class InquiryMutation:
    pass
