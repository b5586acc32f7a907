"""Admissions: follow-up tasks on inquiries and their reminders."""

from __future__ import annotations

import strawberry

# The node types this module adds to the schema (schema/__init__.py NODE_TYPES).
TYPES: list[type] = []


@strawberry.type
class InquiryTaskQuery:
    pass


@strawberry.type
class InquiryTaskMutation:
    pass
