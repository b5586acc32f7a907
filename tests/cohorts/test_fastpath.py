"""The dashboard fast path answers exactly as normal execution does."""

from __future__ import annotations

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


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("who", ["sre", "m2", "s1"])
async def test_fast_and_normal_execution_agree(programme: Programme, query: str, who: str) -> None:
    variables = {"id": programme.ids["ma"], "yes": True}
    try:
        fastpath.ENABLED = False
        normal = await programme.gql(who, query, variables)
        fastpath.ENABLED = True
        before = fastpath.pages_served
        fast = await programme.gql(who, query, variables)
    finally:
        fastpath.ENABLED = True
    assert "errors" not in normal, normal
    assert fast["data"] == normal["data"]
    took_fast_path = fastpath.pages_served > before
    assert took_fast_path == (QUERIES.index(query) < 2)


async def test_viewer_mentees_agree(programme: Programme) -> None:
    query = """{ viewer { mentees(first: 10) { totalCount edges { node { id status
      student { name } mentors { name } } } } } }"""
    try:
        fastpath.ENABLED = False
        normal = await programme.gql("m2", query)
        fastpath.ENABLED = True
        fast = await programme.gql("m2", query)
    finally:
        fastpath.ENABLED = True
    assert normal["data"]["viewer"]["mentees"]["totalCount"] == 2
    assert fast["data"] == normal["data"]
