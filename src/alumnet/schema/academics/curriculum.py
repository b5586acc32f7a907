"""Academics: programmes' subjects, subjects and their ordered topics with prerequisites,
and the offerings of subjects to missions and batches."""

from __future__ import annotations

import strawberry

# The node types this module adds to the schema (schema/__init__.py NODE_TYPES).
TYPES: list[type] = []


@strawberry.type
class CurriculumQuery:
    pass


@strawberry.type
class CurriculumMutation:
    pass
