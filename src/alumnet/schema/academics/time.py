"""Academics: faculty time entries (logged or timed), weekly targets and utilisation."""

from __future__ import annotations

import strawberry

# The node types this module adds to the schema (schema/__init__.py NODE_TYPES).
TYPES: list[type] = []


@strawberry.type
class FacultyTimeQuery:
    pass


@strawberry.type
class FacultyTimeMutation:
    pass
