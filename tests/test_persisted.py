"""Persisted operations: automatic persisted queries (Apollo's protocol) over POST and GET,
registered operations (`alumnet operations register`) and the registered-only mode."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, _serve, app_api

VIEWER = "query Me { viewer { email } }"
HEALTH = "query Hello { __typename }"
BULK = """mutation Bulk($i: BulkQueryRunInput!) { bulkQueryRun(input: $i) {
  userErrors { field code } } }"""


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(text: str, **version: Any) -> dict[str, Any]:
    return {"persistedQuery": {"version": version.get("version", 1), "sha256Hash": sha(text)}}


async def send(api: Api, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await api.client.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def code(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"])


def operations(api: Api, *args: str) -> subprocess.CompletedProcess[str]:
    """`alumnet operations ARGS…`, as an operator runs it."""
    from tests.test_cli import alumnet

    return alumnet(api.settings, "operations", *args)


async def register(api: Api, tmp_path: Path, *documents: str) -> subprocess.CompletedProcess[str]:
    files = []
    for i, document in enumerate(documents):
        path = tmp_path / f"op{i}.graphql"
        path.write_text(document)
        files.append(str(path))
    return await asyncio.to_thread(operations, api, "register", *files)


async def test_automatic_persisted_queries(api: Api) -> None:
    _, token = await api.create_user("ada@example.org", ["STUDENT"])
    # The hash alone, first: not known yet; the client sends it again with the text.
    first = await send(api, {"extensions": persisted(VIEWER)}, token)
    assert first["errors"][0]["message"] == "PersistedQueryNotFound"
    assert code(first) == "PERSISTED_QUERY_NOT_FOUND" and first["data"] is None
    both = await send(api, {"query": VIEWER, "extensions": persisted(VIEWER)}, token)
    assert both["data"] == {"viewer": {"email": "ada@example.org"}}
    # From now on the hash is enough, with any variables, for anyone (each sees their own).
    again = await send(api, {"extensions": persisted(VIEWER)}, token)
    assert again["data"] == {"viewer": {"email": "ada@example.org"}}
    assert (await send(api, {"extensions": persisted(VIEWER)}))["data"] == {"viewer": None}
    # A hash that is not the document's, a malformed hash, another protocol version.
    wrong = await send(api, {"query": HEALTH, "extensions": persisted(VIEWER)}, token)
    assert code(wrong) == "PERSISTED_QUERY_HASH_MISMATCH" and wrong["data"] is None
    bad = {"persistedQuery": {"version": 1, "sha256Hash": "xyz"}}
    assert code(await send(api, {"extensions": bad})) == "BAD_REQUEST"
    assert code(await send(api, {"extensions": persisted(VIEWER, version=2)})) == "BAD_REQUEST"
    odd = {"persistedQuery": "yes"}
    assert code(await send(api, {"query": VIEWER, "extensions": odd})) == "BAD_REQUEST"
    # Apollo's clients send the operation's name with the hash: the same answers (200).
    named = await send(
        api, {"operationName": "Other", "extensions": persisted("query Other { __typename }")}
    )
    assert code(named) == "PERSISTED_QUERY_NOT_FOUND"
    # Only a document that parses and validates is kept, and only a short one.
    broken = "query Broken { viewer { nope } }"
    await send(api, {"query": broken, "extensions": persisted(broken)}, token)
    assert code(await send(api, {"extensions": persisted(broken)})) == "PERSISTED_QUERY_NOT_FOUND"
    padded = "{ __typename }" + " " * 40_000
    assert (await send(api, {"query": padded, "extensions": persisted(padded)}))["data"]
    assert code(await send(api, {"extensions": persisted(padded)})) == "PERSISTED_QUERY_NOT_FOUND"
    metrics = await api.metrics()
    assert 'alumnet_persisted_operations_total{outcome="automatic"}' in metrics
    assert 'alumnet_graphql_cache_lookups_total{cache="parse",outcome="hit"}' in metrics


async def test_get_reads_are_cacheable_only_when_signed_out(api: Api) -> None:
    _, token = await api.create_user("ada@example.org", ["STUDENT"])
    await send(api, {"query": VIEWER, "extensions": persisted(VIEWER)})
    params = {"extensions": json.dumps(persisted(VIEWER))}
    # `Accept: */*` (curl's, fetch's): an operation, not GraphiQL.
    signed_out = await api.client.get("/graphql", params=params, headers={"Accept": "*/*"})
    assert signed_out.json()["data"] == {"viewer": None}
    assert signed_out.headers["cache-control"] == "public, max-age=10"
    assert "Authorization" in signed_out.headers["vary"]
    # A shared cache would show one address's query budget to everyone.
    assert "throttleStatus" not in signed_out.json()["extensions"].get("cost", {})
    mine = await api.client.get(
        "/graphql", params=params, headers={"Authorization": f"Bearer {token}"}
    )
    assert mine.json()["data"] == {"viewer": {"email": "ada@example.org"}}
    assert mine.headers["cache-control"] == "private, no-store"
    assert "throttleStatus" in mine.json()["extensions"]["cost"]
    # A mutation is never run by GET, persisted or not.
    mutation = "mutation Out { tokenRevoke(input: {}) { userErrors { code } } }"
    await send(api, {"query": mutation, "extensions": persisted(mutation)})  # signed out
    refused = await api.client.get(
        "/graphql",
        params={"extensions": json.dumps(persisted(mutation))},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert (await api.post(VIEWER, token=token)).status_code == 200  # still signed in
    # An unknown hash by GET: the protocol's answer, never GraphiQL's page.
    unknown = await api.client.get(
        "/graphql", params={"extensions": json.dumps(persisted("{ __typename }"))}
    )
    assert code(unknown.json()) == "PERSISTED_QUERY_NOT_FOUND"


async def test_registered_operations_and_registered_only_mode(api: Api, tmp_path: Path) -> None:
    _, token = await api.create_user("ada@example.org", ["STUDENT"])
    _, admin = await api.create_user("admin@example.org", ["ADMIN"])
    # An operation that does not validate: nothing at all is registered.
    refused = await register(api, tmp_path, VIEWER, "query Broken { viewer { nope } }")
    assert refused.returncode == 1
    assert "Broken" in refused.stderr and "nope" in refused.stderr
    done = await register(api, tmp_path, VIEWER)
    assert done.returncode == 0, done.stderr
    assert f"{sha(VIEWER)}  Me" in done.stdout and "1 registered." in done.stdout
    # Again, with a persisted-query manifest and the mutation of a bulk query below.
    manifest = tmp_path / "manifest.json"
    operation = {"id": sha(HEALTH), "name": "Hello", "type": "query", "body": HEALTH}
    manifest.write_text(
        json.dumps({"format": "apollo-persisted-query-manifest", "version": 1,
                    "operations": [operation]})
    )  # fmt: skip
    again = await asyncio.to_thread(
        operations, api, "register", str(tmp_path / "op0.graphql"), str(manifest),
        str(_written(tmp_path / "bulk.graphql", BULK)),
    )  # fmt: skip
    assert "2 registered, 1 already registered." in again.stdout, again.stderr
    listed = await asyncio.to_thread(operations, api, "list")
    assert sha(VIEWER) in listed.stdout and sha(HEALTH) in listed.stdout

    # Any server finds a registered operation by its hash, without the text first.
    body = await send(api, {"extensions": persisted(VIEWER)}, token)
    assert body["data"] == {"viewer": {"email": "ada@example.org"}}

    async for only in app_api(api, persisted_only=True):
        # Registered: by hash, or by its exact text.
        assert (await send(only, {"extensions": persisted(VIEWER)}, token))["data"]
        assert (await send(only, {"query": VIEWER}, token))["data"]
        assert (await send(only, {"extensions": persisted(HEALTH)}))["data"] == {
            "__typename": "Query"
        }
        # Anything else is refused before it is parsed: a new text, a hash of one, and
        # a client trying to persist one.
        other = "{ viewer { email } }"
        for request in (
            {"query": other},
            {"extensions": persisted(other)},
            {"query": other, "extensions": persisted(other)},
        ):
            answer = await send(only, request, token)
            assert code(answer) == "OPERATION_NOT_REGISTERED" and answer["data"] is None
        # A stored document that no longer validates (the schema changed): its errors.
        from alumnet.persistence.models import PersistedOperation

        stale = "query Old { viewer { retiredField } }"
        async with api.app.state.runtime.transaction() as uow:
            uow.session.add(PersistedOperation(sha256=sha(stale), document=stale, names="Old"))
        answer = await send(only, {"extensions": persisted(stale)}, token)
        assert code(answer) == "GRAPHQL_VALIDATION_FAILED" and answer["data"] is None
        assert "retiredField" in answer["errors"][0]["message"]
        # A bulk query runs only if its text is registered.
        asked = await send(only, {"query": BULK, "variables": {
            "i": {"query": "{ users { edges { node { id } } } }"}}}, admin)  # fmt: skip
        assert asked["data"]["bulkQueryRun"]["userErrors"] == [
            {"field": ["input", "query"], "code": "OPERATION_NOT_REGISTERED"}
        ]


def _written(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("accept", ["text/html"])
async def test_graphiql_still_served_without_a_query(api: Api, accept: str) -> None:
    page = await api.client.get("/graphql", headers={"Accept": accept})
    assert page.status_code == 200 and "<html" in page.text.lower()


async def test_subscriptions_over_websocket_honour_registered_only(api: Api) -> None:
    """The WebSocket path runs the same check: an unregistered subscription is refused."""
    import websockets

    await api.create_user("ada@example.org", ["STUDENT"])
    process, base = _serve(api, subprocess.DEVNULL, {"ALUMNET_PERSISTED_ONLY": "true"})
    try:
        async with websockets.connect(
            f"ws://{base}/graphql", subprotocols=["graphql-transport-ws"]
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            query = "subscription { notificationReceived { id } }"
            await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": query}}))  # fmt: skip
            answer = json.loads(await ws.recv())
            assert answer["type"] == "error", answer
            assert answer["payload"][0]["extensions"]["code"] == "OPERATION_NOT_REGISTERED"
    finally:
        process.terminate()
        process.wait(timeout=10)
