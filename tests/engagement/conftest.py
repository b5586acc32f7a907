"""The cohorts programme, plus helpers for engagement tests."""

from __future__ import annotations

from typing import Any

from tests.cohorts.conftest import Programme, programme  # noqa: F401  (the fixture)

SUBMIT = """mutation($i: AttendanceSubmitInput!) { attendanceSubmit(input: $i) {
  attendance { id day kind status } created userErrors { field code message } } }"""
CORRECT = """mutation($i: AttendanceCorrectInput!) { attendanceCorrect(input: $i) {
  attendance { id day status } created userErrors { field code message } } }"""
RULES = """mutation($i: EngagementRulesUpdateInput!) { engagementRulesUpdate(input: $i) {
  rules { timeZone attendancePoints } recalculation { id status }
  userErrors { field code message } } }"""
POINTS = """query($e: ID!) { node(id: $e) { ... on Enrollment { points
  progress { daysPresent daysElapsed attendanceRate submissionsOnTime submissionsLate
    submissionsMissing points rank }
  pointEntries { totalCount edges { node { points reason note } } } } } }"""


async def call(p: Programme, who: str, query: str, variables: dict[str, Any], key: str) -> Any:
    body = await p.gql(who, query, variables)
    assert "errors" not in body, body
    return body["data"][key]


async def ok(p: Programme, who: str, query: str, variables: dict[str, Any], key: str) -> Any:
    payload = await call(p, who, query, variables, key)
    assert payload["userErrors"] == [], payload
    return payload


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def points_of(p: Programme, who: str, enrollment: str) -> Any:
    body = await p.gql(who, POINTS, {"e": enrollment})
    assert "errors" not in body, body
    standing = body["data"]["node"]
    # The ledger as a plain list, latest first (the whole of it: the tests' are short).
    ledger = standing["pointEntries"]
    standing["pointEntries"] = [e["node"] for e in ledger["edges"]]
    assert ledger["totalCount"] == len(standing["pointEntries"])
    return standing
