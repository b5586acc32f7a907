"""Academics: students' feedback on subjects, topics, sessions and mentors, its sentiment,
and the feedback summaries."""

from __future__ import annotations

import strawberry

# The node types this module adds to the schema (schema/__init__.py NODE_TYPES).
TYPES: list[type] = []


@strawberry.type
class StudentFeedbackQuery:
    pass


@strawberry.type
class StudentFeedbackMutation:
    pass
