"""Every list: the number of SQL statements does not grow with the number of items."""

from __future__ import annotations

import pytest

from tests.conftest import Api

LISTS = {
    "users": "{ users(first: 1000) { totalCount edges { node { id email roles permissions "
    "personalAccessTokens(first: 5) { totalCount } } } } }",
    "auditEvents": "{ auditEvents(first: 1000) { totalCount edges { node { id action "
    "objectIds actor { email roles } } } } }",
    "jobs": "{ jobs(first: 1000) { totalCount edges { node { id name status createdBy { email } "
    "} } } }",
    "personalAccessTokens": "{ viewer { personalAccessTokens(first: 1000) { totalCount "
    "edges { node { id name user { email roles } } } } } }",
}


async def _grow(api: Api, admin: str, n: int, offset: int) -> None:
    for i in range(offset, offset + n):
        await api.create_user(f"user{i}@example.org", ["STUDENT"])
        await api.gql(
            f'mutation {{ personalAccessTokenCreate(input: {{name: "t{i}"}}) {{ secret }} }}',
            token=admin,
        )
        await api.gql(
            f'mutation {{ passwordResetRequest(input: {{email: "user{i}@example.org"}})'
            " { accepted } }"
        )
    await api.run_jobs()


@pytest.mark.parametrize("name", sorted(LISTS))
async def test_list_statements_are_constant(api: Api, name: str) -> None:
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    await _grow(api, admin, 2, 0)
    few, small = await api.sql_count(LISTS[name], token=admin)
    await _grow(api, admin, 12, 2)
    many, large = await api.sql_count(LISTS[name], token=admin)
    assert "errors" not in large, large
    assert str(large) != str(small)
    assert many == few, f"{name}: {few} statements for a few items, {many} for many"


async def test_cursors_page_through_lists_sorted_by_time(api: Api) -> None:
    """Every event once, in order, two at a time: a timestamp in a cursor parses back."""
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    await _grow(api, admin, 3, 0)
    query = """query($a: String) { auditEvents(first: 2, after: $a) {
      edges { cursor node { id } } pageInfo { hasNextPage } } }"""
    everything = await api.gql(
        "{ auditEvents(first: 1000) { edges { node { id } } } }", token=admin
    )
    expected = [e["node"]["id"] for e in everything["data"]["auditEvents"]["edges"]]
    seen: list[str] = []
    after = None
    while True:
        body = await api.gql(query, {"a": after}, token=admin)
        assert "errors" not in body, body
        page = body["data"]["auditEvents"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["edges"][-1]["cursor"]
    assert len(expected) > 4 and seen == expected
