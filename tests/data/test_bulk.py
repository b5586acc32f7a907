"""Bulk queries: an admin's query run in the background over every page of a connection,
as JSON Lines behind a signed link."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

import pytest
from sqlalchemy import select
from strawberry import relay

from alumnet.domain.data import bulk
from alumnet.persistence.models import Job as JobModel
from alumnet.schema.nodes import global_pk
from tests.data.conftest import Programme
from tests.engagement.conftest import call, codes, ok

BULK = """mutation($i: BulkQueryRunInput!) { bulkQueryRun(input: $i) {
  job { id status } connection pageSize userErrors { field code message } } }"""
JOB = """query($j: ID!) { node(id: $j) { ... on Job { status lastError progress result
  file { name downloadUrl } } } }"""


async def run(p: Programme, who: str, query: str, **given: Any) -> tuple[Any, Any]:
    """Submit, run the jobs, and return (payload, the job as its owner sees it)."""
    payload = await ok(p, who, BULK, {"i": {"query": query, **given}}, "bulkQueryRun")
    await p.api.run_jobs()
    job = (await p.gql(who, JOB, {"j": payload["job"]["id"]}))["data"]["node"]
    return payload, job


async def lines(p: Programme, job: Any) -> list[Any]:
    url = urlparse(job["file"]["downloadUrl"])
    response = await p.api.client.get(f"{url.path}?{url.query}")
    assert response.status_code == 200
    return [json.loads(line) for line in response.content.splitlines()]


async def test_every_page_of_a_connection_becomes_json_lines(programme: Programme) -> None:
    p = programme
    payload, job = await run(p, "admin", "{ users(first: 2) { edges { node { id email } } } }")
    assert payload["connection"] == ["users"] and payload["pageSize"] == 2
    assert job["status"] == "SUCCEEDED", job
    everyone = await p.gql("admin", "{ users(first: 100) { totalCount edges { node { email } } } }")
    expected = [e["node"]["email"] for e in everyone["data"]["users"]["edges"]]
    got = await lines(p, job)
    assert [row["email"] for row in got] == expected  # every page, in the list's order
    assert len(expected) > 4 and job["result"]["pages"] >= len(expected) // 2
    assert set(got[0]) == {"id", "email"}  # the nodes as selected, nothing of the paging


async def test_a_connection_inside_an_object_with_its_filters_and_variables(
    programme: Programme,
) -> None:
    p = programme
    query = """query Roster($m: ID!, $s: [EnrollmentStatus!]) { node(id: $m) { ... on Mission {
      code enrollments(filter: {status: $s}, after: "ignored") { edges { node {
        status student { email } } } } } } }"""
    variables = {"m": p.ids["ma"], "s": ["ACTIVE"], "unused": 1}
    payload, job = await run(p, "admin", query, variables=variables, operationName="Roster")
    assert payload["connection"] == ["node", "enrollments"]
    assert payload["pageSize"] == 1000  # as large as the cost limit allows
    got = await lines(p, job)
    assert sorted(row["student"]["email"] for row in got) == ["s1@example.org", "s2@example.org"]
    assert job["file"]["name"] == "bulk-query.jsonl" and job["progress"] == 1.0


async def test_queries_that_cannot_run_in_bulk_are_refused(programme: Programme) -> None:
    p = programme
    refused = {
        "mutation { tokenRevoke { __typename } }": "INVALID",
        "query {": "INVALID",
        'mutation { userSuspend(input: {id: "x"}) { userErrors { code } } }': "NOT_A_QUERY",
        "{ viewer { id } }": "NO_CONNECTION",
        "{ users { totalCount } jobs { totalCount } }": "NO_CONNECTION",
        "{ users(last: 5) { totalCount } }": "INVALID",
        "{ users(first: 5000) { totalCount } }": "INVALID",
        "{ users { edges { node { enrollments(first: 1000) { edges { node { attendance(first: "
        "1000) { edges { node { id } } } } } } } } } }": "TOO_COSTLY",
    }
    for query, code in refused.items():
        payload = await call(p, "admin", BULK, {"i": {"query": query}}, "bulkQueryRun")
        assert codes(payload) == [code], (query, payload)
        assert payload["job"] is None
    two = "query A { users { totalCount } } query B { jobs { totalCount } }"
    payload = await call(p, "admin", BULK, {"i": {"query": two}}, "bulkQueryRun")
    assert payload["userErrors"][0]["field"] == ["input", "operationName"]
    # A page size that the cost limit allows for nested lists.
    nested = "{ users { edges { node { enrollments(first: 1000) { edges { node { id } } } } } } }"
    payload = await ok(p, "admin", BULK, {"i": {"query": nested}}, "bulkQueryRun")
    assert 0 < payload["pageSize"] < 1000
    # Each node is a line: `edges { node }` once, directly on the connection, and nothing
    # that could make the connection vanish between pages.
    shapeless = {
        "{ users { totalCount } }": "INVALID",
        "{ users { edges { cursor } } }": "INVALID",
        "{ users { edges { node { id } } e: edges { node { id } } } }": "INVALID",
        "{ users { edges @include(if: true) { node { id } } } }": "INVALID",
        "query($on: Boolean!) { users @include(if: $on) { edges { node { id } } } }": "INVALID",
        "{ ... on Query @skip(if: false) { users { edges { node { id } } } } }": "INVALID",
        "{ users { ...E } } fragment E on UserConnection { edges { node { id } } }": "INVALID",
        "query($n: Int = 5000) { users(first: $n) { edges { node { id } } } }": "INVALID",
        "query($n: Int!) { users(first: $n) { edges { node { id } } } }": "INVALID",
    }
    for query, code in shapeless.items():
        payload = await call(p, "admin", BULK, {"i": {"query": query}}, "bulkQueryRun")
        assert codes(payload) == [code], (query, payload)
    # The same limits as a request: depth, aliases, fragments expanded.
    deep = "{ users { edges { node { " + "profile { user { " * 8 + "id" + " } }" * 8 + " } } } }"
    many = "{ users { edges { node { " + " ".join(f"a{i}: id" for i in range(20)) + " } } } }"
    chain = "".join(f"fragment F{i} on User {{ ...F{i + 1} ...F{i + 1} }} " for i in range(30))
    exploding = (
        f"{{ users {{ edges {{ node {{ ...F0 }} }} }} }} {chain} fragment F30 on User {{ id }}"
    )
    for query, words in ((deep, "depth"), (many, "aliases"), (exploding, "fragments")):
        payload = await call(p, "admin", BULK, {"i": {"query": query}}, "bulkQueryRun")
        assert codes(payload) == ["INVALID"] and words in payload["userErrors"][0]["message"]


async def test_aliases_defaults_and_a_total_counted_once(programme: Programme) -> None:
    p = programme
    query = """query($n: Int = 2) { people: users(first: $n) { rows: edges { item: node {
      email } } } }"""
    payload, job = await run(p, "admin", query)
    assert payload["connection"] == ["people"] and payload["pageSize"] == 2  # the default
    got = await lines(p, job)
    assert got and all(set(row) == {"email"} for row in got)
    assert job["progress"] == 1.0 and job["result"]["rows"] == len(got)
    # The total is asked for on the first page only.
    runtime = p.api.app.state.runtime
    async with runtime.database.connect() as conn:
        job_id = global_pk(relay.GlobalID.from_id(payload["job"]["id"]), "Job")
        args = (await conn.execute(select(JobModel.args).where(JobModel.id == job_id))).scalar()
    answered: list[dict[str, Any]] = []
    queries = runtime.queries

    async def recording(*given: Any) -> Any:
        outcome = await queries(*given)
        answered.append(outcome.data["people"])
        return outcome

    async def progress(fraction: float) -> None:
        return None

    runtime.queries = recording
    try:
        await bulk.run(runtime, dict(args), progress)
    finally:
        runtime.queries = queries
    assert len(answered) > 1
    assert bulk.TOTAL_ALIAS in answered[0]
    assert all(bulk.TOTAL_ALIAS not in page for page in answered[1:])


async def test_only_admins_and_only_as_themselves(programme: Programme) -> None:
    p = programme
    query = "{ users { edges { node { email } } } }"
    for who in ("manager", "sre", "s1"):
        body = await p.gql(who, BULK, {"i": {"query": query}})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", who
    # A second admin's query runs with their permissions as they are at each page: once
    # suspended, the query stops.
    _, token = await p.api.create_user("admin2@example.org", ["ADMIN"], "Admin Two")
    p.tokens["admin2"] = token
    payload = await ok(p, "admin2", BULK, {"i": {"query": query}}, "bulkQueryRun")
    suspend = """mutation($i: UserSuspendInput!) { userSuspend(input: $i) {
      userErrors { code } } }"""
    admin2 = (await p.gql("admin2", "{ viewer { id } }"))["data"]["viewer"]["id"]
    await ok(p, "admin", suspend, {"i": {"id": admin2}}, "userSuspend")
    runtime = p.api.app.state.runtime
    async with runtime.database.connect() as conn:
        job_id = global_pk(relay.GlobalID.from_id(payload["job"]["id"]), "Job")
        args = (await conn.execute(select(JobModel.args).where(JobModel.id == job_id))).scalar()

    async def progress(fraction: float) -> None:
        return None

    with pytest.raises(bulk.BulkQueryFailed, match="may no longer run it"):
        await bulk.run(runtime, dict(args), progress)
    # The admin's own file is theirs alone.
    mine, done = await run(p, "admin", query)
    assert done["file"] is not None
    theirs = await p.gql("manager", JOB, {"j": mine["job"]["id"]})
    assert theirs["data"]["node"] is None or theirs["data"]["node"]["file"] is None
