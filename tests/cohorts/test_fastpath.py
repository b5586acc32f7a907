"""The dashboard fast path answers exactly as normal execution does."""

from __future__ import annotations

from typing import Any

import pytest

from alumnet.schema import fastpath
from tests.cohorts.conftest import Programme

QUERIES = [
    # The dashboard roster, with totalCount and cursors.
    """query($id: ID!) { node(id: $id) { ... on Mission { enrollments(first: 1000) {
      totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { id status enrolledAt student { id name email emailVerified
      createdAt } mentors { id name } } } } } } }""",
    # Aliases, fragments, __typename and a repeated field.
    """query($id: ID!) { node(id: $id) { ... on Mission { list: enrollments {
      __typename edges { node { ...E student { who: name } student { email } } } } } } }
      fragment E on Enrollment { __typename key: id status mentors { __typename id } }""",
    # Fields the fast path does not know (mission, roles): normal execution throughout.
    """query($id: ID!) { node(id: $id) { ... on Mission { enrollments { edges { node {
      id mission { code } student { name roles } } } } } } }""",
    # A directive: normal execution.
    """query($id: ID!, $yes: Boolean!) { node(id: $id) { ... on Mission { enrollments {
      edges { node { id student @include(if: $yes) { name } } } } } } }""",
]


async def both_ways(
    programme: Programme, who: str, query: str, variables: dict[str, Any] | None = None
) -> tuple[Any, Any, bool]:
    """The answer by normal execution, by the fast path, and whether it was taken."""
    try:
        fastpath.ENABLED = False
        normal = await programme.gql(who, query, variables)
        fastpath.ENABLED = True
        before = fastpath.pages_served
        fast = await programme.gql(who, query, variables)
    finally:
        fastpath.ENABLED = True
    assert "errors" not in normal, normal
    return normal, fast, fastpath.pages_served > before


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("who", ["sre", "m2", "s1"])
async def test_fast_and_normal_execution_agree(programme: Programme, query: str, who: str) -> None:
    variables = {"id": programme.ids["ma"], "yes": True}
    normal, fast, took_fast_path = await both_ways(programme, who, query, variables)
    assert fast["data"] == normal["data"]
    on_postgresql = programme.api.settings.database_url.startswith("postgresql")
    assert took_fast_path == (QUERIES.index(query) < 2 and on_postgresql)


async def test_viewer_mentees_agree(programme: Programme) -> None:
    query = """{ viewer { mentees(first: 10) { totalCount edges { node { id status
      student { name } mentors { name } } } } } }"""
    normal, fast, _ = await both_ways(programme, "m2", query)
    assert normal["data"]["viewer"]["mentees"]["totalCount"] == 2
    assert fast["data"] == normal["data"]


async def test_nested_pages_of_several_missions_agree(programme: Programme) -> None:
    # One statement for the pages of every mission (a window per parent), JSON included.
    query = """{ batches { edges { node { missions { edges { node { code
      enrollments(first: 2, orderBy: {field: ENROLLED_AT, direction: DESC}) { totalCount
        pageInfo { endCursor hasNextPage } edges { cursor node { id enrolledAt
        student { name emailVerified } mentors { id } } } } } } } } } } }"""
    normal, fast, _ = await both_ways(programme, "sre", query)
    missions = [
        m["node"]
        for b in normal["data"]["batches"]["edges"]
        for m in b["node"]["missions"]["edges"]
    ]
    assert len(missions) > 1 and any(m["enrollments"]["edges"] for m in missions)
    assert fast["data"] == normal["data"]
