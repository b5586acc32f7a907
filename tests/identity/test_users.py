"""User administration, the users list, the audit log, and who may do what."""

from __future__ import annotations

import pytest

from tests.conftest import Api

CREATE = """mutation($i: UserCreateInput!) {
  userCreate(input: $i) { user { id email name roles status } userErrors { field code message } }
}"""
ROLES_SET = """mutation($id: ID!, $roles: [Role!]!) {
  userRolesSet(input: {id: $id, roles: $roles}) { user { roles } userErrors { code } }
}"""
USERS = """query($first: Int, $after: String, $last: Int, $before: String,
               $filter: UserFilter, $order: UserOrder) {
  users(first: $first, after: $after, last: $last, before: $before,
        filter: $filter, orderBy: $order) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id email name roles } }
  }
}"""


async def test_admin_creates_updates_suspends_and_sets_roles(api: Api) -> None:
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    body = await api.gql(
        CREATE,
        {"i": {"email": "New.Mentor@Example.org", "name": "  Nuru Mentor ", "roles": ["MENTOR"]}},
        token=admin,
    )
    created = body["data"]["userCreate"]
    assert created["userErrors"] == []
    user = created["user"]
    assert user["email"] == "New.Mentor@Example.org"
    assert user["name"] == "Nuru Mentor"
    assert user["roles"] == ["MENTOR"]
    # Without a password the person is invited by e-mail to choose one.
    await api.run_jobs()
    assert "Choose your password" in api.mailbox.to("new.mentor@example.org")[0]

    again = await api.gql(
        CREATE,
        {"i": {"email": "new.mentor@EXAMPLE.org", "name": "Dup", "roles": ["MENTOR"]}},
        token=admin,
    )
    assert again["data"]["userCreate"]["userErrors"][0]["code"] == "EMAIL_TAKEN"

    roles = await api.gql(ROLES_SET, {"id": user["id"], "roles": ["MENTOR", "SRE"]}, token=admin)
    assert roles["data"]["userRolesSet"] == {"user": {"roles": ["MENTOR", "SRE"]}, "userErrors": []}
    update = await api.gql(
        'mutation($id: ID!) { userUpdate(input: {id: $id, name: "Nuru K."}) '
        "{ user { name } userErrors { code } } }",
        {"id": user["id"]},
        token=admin,
    )
    assert update["data"]["userUpdate"]["user"]["name"] == "Nuru K."
    events = await api.gql(
        "query($id: ID!) { auditEvents(filter: {objectId: $id}) "
        "{ totalCount edges { node { action objectType objectIds actor { email } ip "
        "requestId details } } } }",
        {"id": user["id"]},
        token=admin,
    )
    edges = events["data"]["auditEvents"]["edges"]
    assert [e["node"]["action"] for e in edges] == ["user.update", "user.roles_set", "user.create"]
    assert all(e["node"]["actor"]["email"] == "admin@example.org" for e in edges)
    assert all(e["node"]["objectIds"] == [user["id"]] for e in edges)
    assert edges[0]["node"]["ip"] == "203.0.113.7"
    assert edges[1]["node"]["details"] == {"from": ["MENTOR"], "to": ["MENTOR", "SRE"]}


async def test_admin_cannot_lock_themselves_out(api: Api) -> None:
    admin_id, admin = await api.create_user("admin@example.org", ["ADMIN"])
    body = await api.gql(ROLES_SET, {"id": admin_id, "roles": ["MENTOR"]}, token=admin)
    assert body["data"]["userRolesSet"]["userErrors"] == [{"code": "CANNOT_DEMOTE_SELF"}]
    body = await api.gql(
        "mutation($id: ID!) { userSuspend(input: {id: $id}) { userErrors { code } } }",
        {"id": admin_id},
        token=admin,
    )
    assert body["data"]["userSuspend"]["userErrors"] == [{"code": "CANNOT_SUSPEND_SELF"}]


@pytest.mark.parametrize("role", ["MANAGER", "SRE", "MENTOR", "STUDENT", "ALUMNUS", "DEVELOPER"])
async def test_only_admins_administer_users(api: Api, role: str) -> None:
    _, token = await api.create_user(f"{role.lower()}@example.org", [role])
    body = await api.gql(
        CREATE, {"i": {"email": "x@example.org", "name": "X", "roles": ["ADMIN"]}}, token=token
    )
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    audit = await api.gql("{ auditEvents { totalCount } }", token=token)
    assert audit["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_anonymous_callers_must_sign_in(api: Api) -> None:
    body = await api.gql("{ users { totalCount } }")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    body = await api.gql(CREATE, {"i": {"email": "x@example.org", "name": "X", "roles": ["ADMIN"]}})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_managers_read_users_but_students_do_not(api: Api) -> None:
    _, manager = await api.create_user("manager@example.org", ["MANAGER"])
    _, student = await api.create_user("student@example.org", ["STUDENT"])
    listed = await api.gql("{ users { totalCount } }", token=manager)
    assert listed["data"]["users"]["totalCount"] == 2
    refused = await api.gql("{ users { totalCount } }", token=student)
    assert refused["data"] == {"users": None}
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_keyset_pagination_both_ways_with_filters(api: Api) -> None:
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    for i in range(12):
        await api.create_user(f"s{i:02d}@example.org", ["STUDENT"], name=f"Student {i:02d}")
    order = {"field": "EMAIL", "direction": "ASC"}
    flt = {"roles": ["STUDENT"]}
    seen: list[str] = []
    after = None
    while True:
        page = (
            await api.gql(
                USERS, {"first": 5, "after": after, "filter": flt, "order": order}, token=admin
            )
        )["data"]["users"]
        assert page["totalCount"] == 12
        seen += [e["node"]["email"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [f"s{i:02d}@example.org" for i in range(12)]

    last = (await api.gql(USERS, {"last": 5, "filter": flt, "order": order}, token=admin))["data"][
        "users"
    ]
    assert [e["node"]["email"] for e in last["edges"]] == seen[-5:]
    assert last["pageInfo"]["hasPreviousPage"] is True
    before = (
        await api.gql(
            USERS,
            {"last": 5, "before": last["pageInfo"]["startCursor"], "filter": flt, "order": order},
            token=admin,
        )
    )["data"]["users"]
    assert [e["node"]["email"] for e in before["edges"]] == seen[2:7]

    desc = (
        await api.gql(
            USERS,
            {"first": 3, "filter": flt, "order": {"field": "NAME", "direction": "DESC"}},
            token=admin,
        )
    )["data"]["users"]
    assert [e["node"]["name"] for e in desc["edges"]] == ["Student 11", "Student 10", "Student 09"]

    search = (await api.gql(USERS, {"filter": {"search": "S0_%"}}, token=admin))["data"]["users"]
    assert search["totalCount"] == 0  # wildcards are literal
    search = await api.gql(USERS, {"filter": {"search": "STUDENT 1"}}, token=admin)
    assert search["data"]["users"]["totalCount"] == 2


async def test_page_limits_and_bad_cursors(api: Api) -> None:
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    too_many = await api.gql(USERS, {"first": 1001}, token=admin)
    assert too_many["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "1000" in too_many["errors"][0]["message"]
    bad = await api.gql(USERS, {"after": "not-a-cursor"}, token=admin)
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    both = await api.gql(USERS, {"first": 1, "last": 1}, token=admin)
    assert both["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_user_list_sql_does_not_grow_with_the_page(api: Api) -> None:
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    await api.create_user("first@example.org", ["STUDENT"])
    query = "{ users(first: 1000) { totalCount edges { node { id email roles permissions } } } }"
    few, _ = await api.sql_count(query, token=admin)
    for i in range(40):
        await api.create_user(f"u{i}@example.org", ["STUDENT", "ALUMNUS"])
    many, body = await api.sql_count(query, token=admin)
    assert body["data"]["users"]["totalCount"] == 42
    assert many == few


HOSTILE = [
    "Robert'); DROP TABLE users;--",
    '<script>alert("x")</script>',
    "Zoë 🎓 \u202e evil",
    '" OR ""="',
]


@pytest.mark.parametrize("name", HOSTILE)
async def test_hostile_strings_are_stored_verbatim_and_harmless(api: Api, name: str) -> None:
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    body = await api.gql(
        CREATE,
        {"i": {"email": "h@example.org", "name": name, "roles": ["STUDENT"]}},
        token=admin,
    )
    assert body["data"]["userCreate"]["user"]["name"] == name.strip()
    listed = await api.gql(USERS, {"filter": {"search": name[:20]}}, token=admin)
    assert listed["data"]["users"]["totalCount"] == 1


async def test_control_characters_and_long_values_are_user_errors(api: Api) -> None:
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    body = await api.gql(
        CREATE,
        {"i": {"email": "a" * 250 + "@x.org", "name": "bad\x07name", "roles": []}},
        token=admin,
    )
    errors = body["data"]["userCreate"]["userErrors"]
    assert {e["code"] for e in errors} == {"TOO_LONG", "INVALID", "REQUIRED"}
    listed = await api.gql("{ users { totalCount } }", token=admin)
    assert listed["data"]["users"]["totalCount"] == 1
