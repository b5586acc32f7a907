"""Admissions: the conversion figures (by source, counsellor, programme and month), time in
each stage, and the funnel."""

from __future__ import annotations

import strawberry

# The node types this module adds to the schema (schema/__init__.py NODE_TYPES).
TYPES: list[type] = []


@strawberry.type
class AdmissionsReportQuery:
    pass
