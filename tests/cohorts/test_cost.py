"""Query cost: every list counts as long as it can be, so that no query is cheaper than the
work it asks for; and no single request holds the server while it runs."""

from __future__ import annotations

import asyncio
import time

from graphql import GraphQLInterfaceType, GraphQLObjectType, get_named_type, is_list_type
from graphql import get_nullable_type as nullable
from strawberry.relay import to_base64

from alumnet.config import load_settings
from alumnet.schema import build_schema
from alumnet.schema.cost import LIST_CAPS, NODES_MAX_IDS
from tests.cohorts.conftest import Programme
from tests.conftest import Api

MISSIONS_WITH_ROSTERS = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Mission {
  enrollments(first: 1000) { edges { node { id status points student { id name email } } } }
} } }"""
PROFILES = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Profile { id headline } } }"


def test_every_list_of_the_schema_has_a_known_length() -> None:
    """A new list field must say how long it can be (a `first` argument, or LIST_CAPS)."""
    schema = build_schema(load_settings({"ALUMNET_ENV": "test"}))._schema
    unbounded, seen = [], set()
    for type_name, graphql_type in schema.type_map.items():
        if type_name.startswith("__") or not isinstance(
            graphql_type, GraphQLObjectType | GraphQLInterfaceType
        ):
            continue
        for field_name, field in graphql_type.fields.items():
            key = f"{type_name}.{field_name}"
            named = get_named_type(field.type)
            if not is_list_type(nullable(field.type)) or not hasattr(named, "fields"):
                continue  # scalars cost nothing below them
            seen.add(key)
            if type_name.endswith("Connection") or "ids" in field.args:
                continue
            if key not in LIST_CAPS and field_name != "userErrors":
                unbounded.append(key)
    assert unbounded == []
    assert set(LIST_CAPS) <= seen, set(LIST_CAPS) - seen  # no entry for a field now gone


async def test_a_plain_list_multiplies_what_is_under_it(programme: Programme) -> None:
    mission = programme.ids["ma"]
    body = await programme.gql(
        "manager",
        "query($m: ID!) { node(id: $m) { ... on Mission { "
        "leaderboard(first: 30) { rank enrollment { id } } } } }",
        {"m": mission},
    )
    # node 1 + leaderboard (1 + 30 * (rank 1 + enrollment 1 + id 1))
    assert body["extensions"]["cost"]["requested"] == 1 + 1 + 30 * 3
    three = await programme.gql(
        "manager", MISSIONS_WITH_ROSTERS.replace("1000", "10"), {"ids": [mission] * 3}
    )
    assert "errors" not in three, three
    # nodes 1 + 3 * (enrollments 1 + 10 * (edges 1 + node 1 + 3 + student (1 + 3)))
    assert three["extensions"]["cost"]["requested"] == 1 + 3 * (1 + 10 * 9)


async def test_the_attacks_on_nodes_are_refused_before_they_run(programme: Programme) -> None:
    """A manager's 200 missions with their rosters, and a student's 40,000 profiles."""
    refused = await programme.gql(
        "manager", MISSIONS_WITH_ROSTERS, {"ids": [programme.ids["ma"]] * 200}
    )
    [error] = refused["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert f"at most {NODES_MAX_IDS} ids" in error["message"]
    assert refused["data"] is None
    # Nothing ran but signing the viewer in.
    assert refused["extensions"]["timing"]["sqlStatements"] <= 1
    profiles = [to_base64("Profile", i) for i in range(1, 40_001)]
    refused = await programme.gql("s1", PROFILES, {"ids": profiles})
    assert refused["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert refused["extensions"]["timing"]["sqlStatements"] <= 1
    # Within the limits, the same shapes are answered.
    fine = await programme.gql("s1", PROFILES, {"ids": profiles[:NODES_MAX_IDS]})
    assert "errors" not in fine
    nested = """query($m: ID!) { node(id: $m) { ... on Mission {
      meetings(first: 1000) { edges { node { attendees(first: 1000) { edges { node {
        id student { name } } } } } } } } } }"""
    refused = await programme.gql("manager", nested, {"m": programme.ids["ma"]})
    assert refused["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


async def test_a_long_answer_lets_other_requests_through(api: Api) -> None:
    """Twenty copies of a 1,000-student roster are built while health checks keep being
    answered: the request pauses between slices of its lists instead of holding the
    event loop until it is done."""
    from alumnet.domain.demo import seed_programme
    from alumnet.persistence.uow import Origin

    runtime = api.app.state.runtime
    async with runtime.transaction(origin=Origin(via="cli")) as uow:
        await seed_programme(runtime, uow, scale=1 / 3)  # 1,000 students in B2026A-FND
    _, manager = await api.create_user("manager@example.org", ["MANAGER"])
    missions = await api.gql(
        "{ batches { edges { node { missions { edges { node { id code } } } } } } }",
        token=manager,
    )
    [mission] = [
        m["node"]["id"]
        for b in missions["data"]["batches"]["edges"]
        for m in b["node"]["missions"]["edges"]
        if m["node"]["code"] == "B2026A-FND"
    ]
    # `mentors` keeps the pages on the ordinary path (no SQL-built pages).
    query = MISSIONS_WITH_ROSTERS.replace("email }", "email } mentors { name }")
    heavy = asyncio.create_task(api.gql(query, {"ids": [mission] * 20}, token=manager))
    gaps, last = [], time.perf_counter()
    while not heavy.done():
        await asyncio.sleep(0.01)  # a client's pause between checks: the loop may turn
        assert (await api.client.get("/healthz")).status_code == 200
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    body = await heavy
    assert "errors" not in body, body
    edges = [e for n in body["data"]["nodes"] for e in n["enrollments"]["edges"]]
    assert len(edges) == 20_000
    took = body["extensions"]["timing"]["totalMs"] / 1000
    # Without the pauses, one gap lasted about as long as the whole request. (A loaded
    # machine stalls now and then for reasons of its own: half the request still tells.)
    assert len(gaps) > 5 and max(gaps) < max(1.0, took / 2), (max(gaps), took)
