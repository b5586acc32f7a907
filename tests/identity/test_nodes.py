"""node/nodes: an object the viewer may not see is null, exactly like a missing one."""

from __future__ import annotations

from strawberry.relay import to_base64

from tests.conftest import Api

NODE = "query($id: ID!) { node(id: $id) { __typename id ... on User { email } } }"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"


async def test_users_see_themselves_and_staff_see_users(api: Api) -> None:
    student_id, student = await api.create_user("stu@example.org", ["STUDENT"])
    other_id, other = await api.create_user("other@example.org", ["ALUMNUS"])
    _, manager = await api.create_user("manager@example.org", ["MANAGER"])
    _, mentor = await api.create_user("mentor@example.org", ["MENTOR"])
    missing_id = to_base64("User", 999999)

    own = await api.gql(NODE, {"id": student_id}, token=student)
    assert own["data"]["node"]["email"] == "stu@example.org"
    for token in (other, mentor):
        assert (await api.gql(NODE, {"id": student_id}, token=token))["data"]["node"] is None
    assert (await api.gql(NODE, {"id": student_id}))["data"]["node"] is None
    assert (await api.gql(NODE, {"id": student_id}, token=manager))["data"]["node"]["email"]

    # Not visible and not existing answer identically.
    hidden = await api.gql(NODES, {"ids": [other_id, missing_id]}, token=student)
    assert hidden["data"]["nodes"] == [None, None]
    seen = await api.gql(NODES, {"ids": [student_id, other_id, missing_id]}, token=manager)
    assert seen["data"]["nodes"] == [{"id": student_id}, {"id": other_id}, None]


async def test_account_details_are_for_the_owner_and_user_managers(api: Api) -> None:
    student_id, student = await api.create_user("stu@example.org", ["STUDENT"])
    _, manager = await api.create_user("manager@example.org", ["MANAGER"])
    query = "query($id: ID!) { node(id: $id) { ... on User { status lastSignInAt } } }"
    own = (await api.gql(query, {"id": student_id}, token=student))["data"]["node"]
    assert own["status"] == "ACTIVE" and own["lastSignInAt"] is not None
    managed = (await api.gql(query, {"id": student_id}, token=manager))["data"]["node"]
    assert managed == {"status": None, "lastSignInAt": None}


async def test_malformed_and_foreign_ids(api: Api) -> None:
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    body = await api.gql(NODE, {"id": to_base64("User", "not-a-number")}, token=admin)
    assert body["data"]["node"] is None
    body = await api.gql(NODE, {"id": "%%%not base64"}, token=admin)
    assert body["errors"]
