"""Academics: topic progress per student, assessments and marks, a subject's progress table
(velocity, forecast, behind the plan), and a student's progress."""

from __future__ import annotations

import strawberry

# The node types this module adds to the schema (schema/__init__.py NODE_TYPES).
TYPES: list[type] = []


@strawberry.type
class TopicProgressQuery:
    pass


@strawberry.type
class TopicProgressMutation:
    pass
