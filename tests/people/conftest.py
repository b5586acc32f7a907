"""The cohorts programme, for people tests, plus a programme of study."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cohorts.conftest import Programme, programme  # noqa: F401  (the fixture)
from tests.engagement.conftest import ok

PROFILE = """mutation($i: ProfileUpdateInput!) { profileUpdate(input: $i) {
  profile { id name headline jobTitle company country city email skills { name proficiency }
    completeness { score missing } }
  userErrors { field code message } } }"""
PROGRAMME = """mutation($i: ProgrammeCreateInput!) { programmeCreate(input: $i) {
  programme { id } userErrors { code } } }"""
DEGREE = """mutation($i: DegreeAddInput!) { degreeAdd(input: $i) {
  profile { degrees { id programmeName graduationYear verification } }
  userErrors { field code message } } }"""


async def profile(p: Programme, who: str, **fields: Any) -> Any:
    return await ok(p, who, PROFILE, {"i": fields}, "profileUpdate")


@pytest.fixture
async def people(programme: Programme) -> Programme:  # noqa: F811
    """The programme, with a programme of study (CS, graduates 2000 to now)."""
    made = await ok(
        programme, "admin", PROGRAMME,
        {"i": {"code": "CS", "name": "Computer Science", "firstGraduationYear": 2000}},
        "programmeCreate",
    )  # fmt: skip
    programme.ids["cs"] = made["programme"]["id"]
    return programme
