"""Subscriptions over graphql-transport-ws against a real server process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from alumnet.config import Settings
from tests.conftest import PASSWORD, Api, post_to


async def _connect(base: str, token: str | None) -> Any:
    ws = await websockets.connect(f"ws://{base}/graphql", subprotocols=["graphql-transport-ws"])
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return ws


async def test_connection_init_authenticates(api: Api, server: str) -> None:
    ws = await _connect(server, "not-a-valid-token")
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd.code == 4403


async def test_job_updates_stream_across_processes(
    api: Api, server: str, settings: Settings
) -> None:
    await api.create_user("admin@example.org", ["ADMIN"])
    await api.create_user("stu@example.org", ["STUDENT"])
    signed = await post_to(
        server,
        'mutation($p: String!) { tokenCreate(input: {email: "admin@example.org", '
        "password: $p}) { accessToken } }",
        {"p": PASSWORD},
    )
    token = signed["data"]["tokenCreate"]["accessToken"]
    await post_to(
        server, 'mutation { passwordResetRequest(input: {email: "stu@example.org"}) { accepted } }'
    )
    jobs = await post_to(server, "{ jobs(first: 1) { edges { node { id } } } }", token=token)
    job_id = jobs["data"]["jobs"]["edges"][0]["node"]["id"]

    ws = await _connect(server, token)
    raw = await asyncio.wait_for(ws.recv(), 10)
    assert isinstance(raw, str), "browser clients need text frames"
    ack = json.loads(raw)
    assert ack["type"] == "connection_ack"
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {
                    "query": "subscription($id: ID!) { jobUpdated(id: $id) { status attempts } }",
                    "variables": {"id": job_id},
                },
            }
        )
    )
    statuses: list[str] = []
    worker = None
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if message["type"] == "complete":
            break
        assert message["type"] == "next", message
        status = message["payload"]["data"]["jobUpdated"]["status"]
        statuses.append(status)
        if status == "PENDING" and worker is None:
            # The job waits in Redis: a worker in another process runs it, and its
            # updates reach this server's subscriber through Redis pub/sub.
            worker = asyncio.create_task(api.run_jobs())
    if worker is not None:
        await worker
    await ws.close()
    assert statuses[-1] == "SUCCEEDED"
    if settings.redis_url:
        assert statuses[0] == "PENDING"
        assert "RUNNING" in statuses


async def test_anonymous_subscribers_see_nothing(api: Api, server: str) -> None:
    await api.create_user("stu@example.org", ["STUDENT"])
    await post_to(
        server, 'mutation { passwordResetRequest(input: {email: "stu@example.org"}) { accepted } }'
    )
    ws = await _connect(server, None)
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    from strawberry.relay import to_base64

    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {
                    "query": "subscription($id: ID!) { jobUpdated(id: $id) { status } }",
                    "variables": {"id": to_base64("Job", 1)},
                },
            }
        )
    )
    first = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert first["payload"]["data"] == {"jobUpdated": None}
    await ws.close()


async def test_a_token_revoked_meanwhile_stops_working_on_an_open_socket(
    api: Api, server: str
) -> None:
    """Signing out everywhere over HTTP ends what the same token may do over a WebSocket
    that was already open: no query, mutation or new subscription runs there."""
    await api.create_user("stu@example.org", ["STUDENT"])
    signed = await post_to(
        server,
        'mutation($p: String!) { tokenCreate(input: {email: "stu@example.org", '
        "password: $p}) { accessToken } }",
        {"p": PASSWORD},
    )
    token = signed["data"]["tokenCreate"]["accessToken"]
    ws = await _connect(server, token)
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    update = 'mutation { profileUpdate(input: {headline: "Mine"}) { userErrors { code } } }'
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": update}}))
    first = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert first["payload"]["data"]["profileUpdate"]["userErrors"] == []
    await asyncio.wait_for(ws.recv(), 10)  # complete
    await post_to(server, "mutation { tokenRevoke(input: {everywhere: true}) { revoked } }",
                  token=token)  # fmt: skip
    await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": update}}))
    refused = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert refused["type"] in ("error", "next"), refused
    errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    await ws.close()
