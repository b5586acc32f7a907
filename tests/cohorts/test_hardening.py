"""Hostile and unusual input gets a clear error, never a 500; cursors of every key type."""

from __future__ import annotations

import base64

import orjson
import pytest

from tests.cohorts.conftest import BATCH, Programme
from tests.conftest import Api

USERS = """query($first: Int, $after: String, $last: Int, $before: String) {
  users(first: $first, after: $after, last: $last, before: $before) {
    edges { node { email } } pageInfo { endCursor startCursor } } }"""


def cursor(values: object) -> str:
    return base64.urlsafe_b64encode(b"k1:" + orjson.dumps(values)).decode()


async def test_mixed_cursor_arguments_are_refused(api: Api) -> None:
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    page = (await api.gql(USERS, {"first": 1}, token=admin))["data"]["users"]
    end = page["pageInfo"]["endCursor"]
    for variables in (
        {"last": 1, "after": end},
        {"first": 1, "before": end},
        {"first": 1, "after": end, "before": end},
    ):
        body = await api.gql(USERS, variables, token=admin)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", variables


@pytest.mark.parametrize(
    "values",
    [
        [[1], 1],
        [{"a": 1}, 1],
        [None, 1],
        [True, 1],
        ["2026-01-01T00:00:00", "x"],
        [1, 2, 3],
        ["not a date", 1],
        "string",
        [2**64 - 1, 1],
    ],
)
async def test_hand_made_cursors_are_bad_input(programme: Programme, values: object) -> None:
    bad = cursor(values)
    top = await programme.gql("admin", USERS, {"first": 2, "after": bad})
    assert top["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    nested = await programme.gql(
        "admin",
        "query($c: String) { batches { edges { node { missions(after: $c) { totalCount } } } } }",
        {"c": bad},
    )
    assert nested["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_failed_statement_does_not_break_the_requests_other_reads(api: Api) -> None:
    from sqlalchemy import text

    from alumnet.persistence.db import SharedConnection

    shared = SharedConnection(api.app.state.runtime.database)
    with pytest.raises(Exception):
        async with shared.connect() as conn:
            await conn.execute(text("SELECT * FROM no_such_table"))
    async with shared.connect() as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    await shared.close()


async def test_date_and_text_keyed_pages_follow_their_cursors(programme: Programme) -> None:
    for i in range(3):
        await programme.gql(
            "admin",
            BATCH,
            {
                "i": {
                    "name": f"Extra {i}",
                    "code": f"X{i}",
                    "startsOn": f"202{i}-01-01",
                    "endsOn": f"202{i}-12-31",
                }
            },
        )
    seen = []
    after = None
    while True:
        body = await programme.gql(
            "admin",
            "query($a: String) { batches(first: 2, after: $a) { edges { node { code } } "
            "pageInfo { hasNextPage endCursor } } }",
            {"a": after},
        )
        page = body["data"]["batches"]
        seen += [e["node"]["code"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["B2", "B1", "X2", "X1", "X0"]  # newest start date first
    body = await programme.gql(
        "admin",
        "query($id: ID!) { node(id: $id) { ... on Batch { missions(first: 1) { "
        "pageInfo { endCursor } } } } }",
        {"id": programme.ids["b1"]},
    )
    end = body["data"]["node"]["missions"]["pageInfo"]["endCursor"]
    second = await programme.gql(
        "admin",
        "query($id: ID!, $a: String) { node(id: $id) { ... on Batch { missions(first: 1, "
        "after: $a) { edges { node { code } } } } } }",
        {"id": programme.ids["b1"], "a": end},
    )
    assert [e["node"]["code"] for e in second["data"]["node"]["missions"]["edges"]] == ["B1-B"]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (
            'mutation($e: String!) { tokenCreate(input: {email: $e, password: "x"}) '
            "{ userErrors { code } } }",
            {"e": "a\u0000b@example.org"},
        ),
        (
            "mutation($e: String!) { passwordResetRequest(input: {email: $e}) { accepted } }",
            {"e": "a\u0000@example.org"},
        ),
        ("query($s: String) { users(filter: {search: $s}) { totalCount } }", {"s": "x\u0000"}),
    ],
)
async def test_nul_characters_are_refused_everywhere(api: Api, query: str, variables: dict) -> None:
    response = await api.post(query, variables)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    get = await api.client.get(
        "/graphql", params={"query": "{ viewer { id } }", "variables": '{"x": "\\u0000"}'}
    )
    assert get.status_code == 400


async def test_timestamps_out_of_range_are_clear_errors(api: Api) -> None:
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    body = await api.gql(
        'mutation { personalAccessTokenCreate(input: {name: "x", expiresAt: '
        '"9999-12-31T23:00:00-10:00"}) { secret userErrors { field code } } }',
        token=admin,
    )
    assert body["data"]["personalAccessTokenCreate"]["userErrors"] == [
        {"field": ["input", "expiresAt"], "code": "INVALID"}
    ]
    far = await api.gql(
        'mutation { personalAccessTokenCreate(input: {name: "x", expiresAt: '
        '"2199-01-01T00:00:00Z"}) { secret userErrors { code } } }',
        token=admin,
    )
    assert far["data"]["personalAccessTokenCreate"]["userErrors"] == [{"code": "INVALID"}]
    audit = await api.gql(
        '{ auditEvents(filter: {occurredAfter: "0001-01-01T00:00:00+05:00"}) { totalCount } }',
        token=admin,
    )
    assert audit["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_sres_see_students_and_mentors_but_not_every_user(programme: Programme) -> None:
    listed = await programme.gql("sre", "{ users { totalCount } }")
    assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    node = "query($id: ID!) { node(id: $id) { ... on User { email } } }"
    for who in ("s1", "s3", "m1"):
        body = await programme.gql("sre", node, {"id": programme.ids[who]})
        assert body["data"]["node"] == {"email": f"{who}@example.org"}
    for who in ("admin", "manager", "alumnus"):
        body = await programme.gql("sre", node, {"id": programme.ids[who]})
        assert body["data"]["node"] is None, who
