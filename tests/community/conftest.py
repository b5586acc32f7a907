"""Shared by the community tests: the small programme of tests/cohorts (two batches, three
missions, mentors, students and every staff role), and a way to read userError codes."""

from __future__ import annotations

from typing import Any

from tests.cohorts.conftest import Programme, programme  # noqa: F401  (the fixture)


def codes(payload: dict[str, Any]) -> list[str]:
    """The codes of a mutation payload's userErrors, in order."""
    return [e["code"] for e in payload["userErrors"]]


async def payload(p: Programme, who: str, query: str, variables: dict[str, Any], key: str) -> Any:
    """A mutation's payload as ``who`` (any GraphQL error fails the test)."""
    body = await p.gql(who, query, variables)
    assert "errors" not in body, body
    return body["data"][key]
